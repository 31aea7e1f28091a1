"""Entry points for a stage, built once for every stage: a Pub/Sub push HTTP handler and an
Eventarc CloudEvent handler for functions-framework (Cloud Run), and an SQS handler for Lambda.

A success status is returned only after the task's marker exists; any failure is a 5xx (or a
reported batch item failure on SQS), so the message is redelivered with the subscription's backoff
and, after its attempts, dead-lettered.
"""
from __future__ import annotations

import logging

from emcore.entry import run_delivery, task_from_cloudevent, task_from_push, task_from_sqs
from emcore.queues import carrier
from emcore.stage import Stage

log = logging.getLogger("emctl")


def handlers(stage: Stage):
    def check(message):
        if message.stage != stage.name:
            raise ValueError(f"message for stage {message.stage!r} delivered to {stage.name!r}")

    def http(request):
        try:
            message = task_from_push(request.get_json(silent=True))
            check(message)
        except ValueError as e:
            return str(e), 400
        try:
            run_delivery(message, stage, lambda: carrier(message.root))
        except Exception:
            return "task failed; see .emctl/errors/ under the job root", 500
        return "", 204

    def cloud_event(event):
        message = task_from_cloudevent(event)
        check(message)
        run_delivery(message, stage, lambda: carrier(message.root))

    def lambda_handler(event, context=None):
        """SQS batch: failures are reported per record (ReportBatchItemFailures), so one bad task
        does not make its batch-mates run again."""
        failures = []
        for record in event.get("Records", []):
            try:
                message = task_from_sqs(record)
                check(message)
                run_delivery(message, stage, lambda: carrier(message.root))
            except Exception as exc:
                log.error("record %s failed: %s", record.get("messageId"), exc)
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return http, cloud_event, lambda_handler


def entry_points(stage: Stage):
    """(handle, handle_event, lambda_handler) for a stage's main module. functions-framework finds
    a target's signature type by the function's __name__, so the functions carry their targets'
    names (an unregistered name falls back to whatever type the process last used)."""
    import functions_framework
    http, cloud_event, lambda_handler = handlers(stage)
    http.__name__, cloud_event.__name__ = "handle", "handle_event"
    return functions_framework.http(http), functions_framework.cloud_event(cloud_event), lambda_handler
