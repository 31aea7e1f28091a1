"""Cloud entry points of the pyramid stage (emcore/handlers.py): `handle` for Pub/Sub push and
`handle_event` for Eventarc on Cloud Run (functions-framework), `lambda_handler` for SQS on AWS."""
from emcore.handlers import entry_points
from functions.pyramid.stage import STAGE

handle, handle_event, lambda_handler = entry_points(STAGE)
