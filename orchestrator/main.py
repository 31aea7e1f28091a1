"""Cloud entry points of the orchestrator: `handle` (Pub/Sub push over HTTP: bucket
notifications, wave completions, dead letters) for functions-framework on Cloud Run, and
`lambda_handler` (SQS records from the events queue and the dead-letter queues) for AWS Lambda."""
from __future__ import annotations

import logging

import functions_framework

from emcore import registry
from emcore.names import names
from orchestrator.cloud import handle_push, handle_sqs

log = logging.getLogger("emctl")


@functions_framework.http
def handle(request):
    envelope = request.get_json(silent=True)
    if not isinstance(envelope, dict):
        return "expected a Pub/Sub push envelope", 400
    try:
        log.info(handle_push(envelope))
    except Exception:
        log.exception("orchestrator event failed")
        return "event failed", 500
    return "", 204


def _dead_letter_stage(arn: str) -> str | None:
    queue = arn.rsplit(":", 1)[-1]
    n = names()
    return next((s for s in registry.stage_names() if n.dead_letter_queue(s) == queue), None)


def lambda_handler(event, context=None):
    failures = []
    for record in event.get("Records", []):
        try:
            log.info(handle_sqs(record, _dead_letter_stage(record.get("eventSourceARN", ""))))
        except Exception:
            log.exception("orchestrator record failed")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
