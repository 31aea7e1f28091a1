"""An emulated AWS deployment of emctl: moto's S3 and SQS over a real socket (the s3_server
fixture), S3 event notifications for the upload prefix into the events queue, a task queue per
stage with a redrive policy to its dead-letter queue, and the Lambda handlers.

moto cannot run Lambda functions (it needs Docker), so this harness is the one fake here: a small
polling loop receives SQS batches and calls each function's `lambda_handler` in this process with
the event Lambda would build, deleting the records the handler did not report as failed — which
is what Lambda's SQS event source mapping does with ReportBatchItemFailures.
"""
from __future__ import annotations

import importlib
import json
import threading
import time

import boto3

from emcore import registry
from emcore.handlers import handlers
from emcore.names import UPLOAD_PREFIX, Names

BUCKET = "emctl-aws-data"
MAX_RECEIVE_COUNT = 3
VISIBILITY_SECONDS = 1  # how soon a failed record is redelivered


class EmulatedAWS:
    def __init__(self, names: Names, stages: tuple[str, ...]):
        self.names, self.stages = names, stages
        self.s3, self.sqs = boto3.client("s3"), boto3.client("sqs")
        self.urls: dict[str, str] = {}
        self.handlers = {}
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _queue(self, name: str, dead_letter: str | None = None) -> str:
        attributes = {"VisibilityTimeout": str(VISIBILITY_SECONDS)}
        if dead_letter:
            arn = self.sqs.get_queue_attributes(QueueUrl=self.urls[dead_letter], AttributeNames=["QueueArn"])
            attributes["RedrivePolicy"] = json.dumps({
                "deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": str(MAX_RECEIVE_COUNT)})
        self.urls[name] = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return self.urls[name]

    def provision(self) -> None:
        self.s3.create_bucket(Bucket=BUCKET)
        events = self._queue(self.names.events_queue)
        events_arn = self.sqs.get_queue_attributes(QueueUrl=events, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": events_arn, "Events": ["s3:ObjectCreated:*"],
                                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOAD_PREFIX}]}}}]})
        orchestrator = importlib.import_module("orchestrator.main").lambda_handler
        self.handlers[self.names.events_queue] = orchestrator
        for stage in self.stages:
            self._queue(self.names.dead_letter_queue(stage))
            self._queue(self.names.queue(stage), dead_letter=self.names.dead_letter_queue(stage))
            self.handlers[self.names.queue(stage)] = handlers(registry.stage(stage))[2]
            self.handlers[self.names.dead_letter_queue(stage)] = orchestrator

    def _arn(self, queue: str) -> str:
        return f"arn:aws:sqs:us-east-1:123456789012:{queue}"

    def poll_once(self) -> int:
        handled = 0
        for queue, handler in self.handlers.items():
            got = self.sqs.receive_message(QueueUrl=self.urls[queue], MaxNumberOfMessages=10,
                                           AttributeNames=["All"]).get("Messages", [])
            if not got:
                continue
            records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": m.get("Attributes", {}), "eventSource": "aws:sqs",
                        "eventSourceARN": self._arn(queue)} for m in got]
            failed = {f["itemIdentifier"] for f in handler({"Records": records}, None)["batchItemFailures"]}
            for r in records:
                if r["messageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.urls[queue], ReceiptHandle=r["receiptHandle"])
            handled += len(records)
        return handled

    def start(self) -> "EmulatedAWS":
        def loop():
            while not self._stop.is_set():
                if not self.poll_once():
                    time.sleep(0.05)
        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread:
            self.thread.join(timeout=30)
