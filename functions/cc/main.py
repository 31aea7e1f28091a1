"""Cloud entry points of the cc stage: `handle` (Pub/Sub push over HTTP) and `handle_event`
(Eventarc CloudEvent) for functions-framework on Cloud Run; `lambda_handler` for SQS on AWS."""
import functions_framework

from emcore.handlers import handlers
from functions.cc.stage import STAGE

_http, _cloud_event, lambda_handler = handlers(STAGE)
handle = functions_framework.http(_http)
handle_event = functions_framework.cloud_event(_cloud_event)
