"""The entry point of every stage's function image (docker/function.Dockerfile): it serves the
stage named by EMCTL_FUNCTION, which the image sets to the stage it was built for.

`handle` for Pub/Sub push and `handle_event` for Eventarc on Cloud Run (functions-framework),
`lambda_handler` for SQS on AWS (emcore/handlers.py). A delivery for any other stage is refused
(400, or a batch item failure), so a subscription wired to the wrong service never runs a task."""
import os

from emcore import registry
from emcore.handlers import entry_points

handle, handle_event, lambda_handler = entry_points(registry.stage(os.environ["EMCTL_FUNCTION"]))
