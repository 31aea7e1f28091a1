"""Cloud entry points of the align stage: `handle` (Pub/Sub push over HTTP) and `handle_event`
(Eventarc CloudEvent) for functions-framework on Cloud Run; `lambda_handler` for SQS on AWS."""
import functions_framework

from emcore.handlers import handlers
from functions.align.stage import STAGE

_http, _cloud_event, lambda_handler = handlers(STAGE)


@functions_framework.http
def handle(request):
    return _http(request)


@functions_framework.cloud_event
def handle_event(event):
    _cloud_event(event)
