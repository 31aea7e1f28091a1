"""An emulated Google Cloud deployment of emctl, built from the real parts: Google's Pub/Sub
emulator, fake-gcs-server publishing object notifications to it, and every function (the four
stages and the orchestrator) as a real functions-framework HTTP server fed by push subscriptions
with dead-letter topics. Resource names come from `emcore.names`, as in infra/.

What the emulators cannot do, and this harness therefore does not test: OIDC tokens on push
(the emulator sends none), and subscription filters.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import emulators
from emcore import registry
from emcore.names import Names
from emcore.registry import ORCHESTRATOR

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "emctl-test"
BUCKET = "emctl-data"
MAX_DELIVERY_ATTEMPTS = 5  # Pub/Sub's minimum for dead-lettering


@dataclass
class FunctionServer:
    name: str
    source: Path
    port: int
    env: dict
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "FunctionServer":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "functions_framework", "--target", "handle",
                 "--source", str(self.source), "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen on {self.port}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            import signal
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@dataclass
class EmulatedGCP:
    names: Names
    env: dict
    servers: dict[str, FunctionServer] = field(default_factory=dict)

    def storage_client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        return storage.Client(project=PROJECT, credentials=AnonymousCredentials())

    def bucket(self):
        return self.storage_client().bucket(BUCKET)


def _function_sources(faults: bool, extra_stages: tuple[str, ...]) -> dict[str, tuple[Path, dict]]:
    """Each function's source and its own environment. With `faults`, every function runs inside
    tests/faults/ (the real handler, wrapped to fail where a test arms it)."""
    if faults:
        worker = ROOT / "tests" / "faults" / "worker_main.py"
        sources = {stage: (worker, {"EMCTL_FUNCTION": stage}) for stage in registry.function_stages() + extra_stages}
        sources[ORCHESTRATOR] = (ROOT / "tests" / "faults" / "orchestrator_main.py", {})
        return sources
    sources = {name: (ROOT / source, {"EMCTL_FUNCTION": function})
               for name, _, function, source in registry.images() if function != "-"}
    return sources


def _provision(env: dict, names: Names, servers: dict[str, FunctionServer]) -> None:
    """Topics and push subscriptions as infra/ declares them, pointed at the local servers."""
    from google.cloud import pubsub_v1
    from google.cloud.pubsub_v1.types import DeadLetterPolicy, PushConfig, RetryPolicy
    from google.protobuf import duration_pb2
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = lambda name: publisher.topic_path(PROJECT, name)  # noqa: E731
    sub = lambda name: subscriber.subscription_path(PROJECT, name)  # noqa: E731
    retry = RetryPolicy(minimum_backoff=duration_pb2.Duration(seconds=0, nanos=200_000_000),
                        maximum_backoff=duration_pb2.Duration(seconds=2))
    orchestrator_push = PushConfig(push_endpoint=servers[ORCHESTRATOR].url)
    subscriber.create_subscription(request={
        "name": sub(names.events_subscription), "topic": topic(names.events_topic),
        "push_config": orchestrator_push, "ack_deadline_seconds": 60, "retry_policy": retry})
    for stage in (name for name in servers if name != ORCHESTRATOR):
        for name in (names.task_topic(stage), names.dead_letter_topic(stage)):
            publisher.create_topic(request={"name": topic(name)})
        subscriber.create_subscription(request={
            "name": sub(names.push_subscription(stage)), "topic": topic(names.task_topic(stage)),
            "push_config": PushConfig(push_endpoint=servers[stage].url), "ack_deadline_seconds": 60,
            "retry_policy": retry,
            "dead_letter_policy": DeadLetterPolicy(dead_letter_topic=topic(names.dead_letter_topic(stage)),
                                                   max_delivery_attempts=MAX_DELIVERY_ATTEMPTS)})
        subscriber.create_subscription(request={
            "name": sub(names.dead_letter_subscription(stage)), "topic": topic(names.dead_letter_topic(stage)),
            "push_config": orchestrator_push, "ack_deadline_seconds": 60, "retry_policy": retry})


@contextlib.contextmanager
def emulated_gcp(prefix: str = "emctl", faults: bool = False, extra_stages: tuple[str, ...] = (),
                 extra_env: dict | None = None):
    """`faults`: run the functions inside tests/faults/ (see there), with `extra_stages` (stages
    the tests register themselves) and `extra_env` for every function."""
    names = Names(prefix)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="emctl-gcp-") as tmp:
        pubsub = stack.enter_context(emulators.pubsub_emulator(PROJECT))
        os.environ.update(pubsub.env)
        from google.cloud import pubsub_v1
        publisher = pubsub_v1.PublisherClient()
        publisher.create_topic(request={"name": publisher.topic_path(PROJECT, names.events_topic)})
        gcs = stack.enter_context(emulators.fake_gcs_server(
            pubsub_project=PROJECT, pubsub_topic=names.events_topic, pubsub_emulator_host=pubsub.host))
        env = {**os.environ, **pubsub.env, **gcs.env, "EMCTL_PROJECT": PROJECT, "EMCTL_PREFIX": prefix,
               "GOOGLE_CLOUD_PROJECT": PROJECT, "TENSORSTORE_GCS_HTTP_URL": gcs.endpoint,
               "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gpu-jobs'}", **(extra_env or {})}
        servers = {name: FunctionServer(name, source, emulators.free_port(), {**env, **own},
                                        Path(tmp) / f"{name}.log")
                   for name, (source, own) in _function_sources(faults, extra_stages).items()}
        for server in servers.values():
            server.start()
            stack.callback(server.kill)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
        stack.callback(lambda: [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                                for k, v in saved.items()])
        _provision(env, names, servers)
        cloud = EmulatedGCP(names, env, servers)
        cloud.storage_client().create_bucket(BUCKET)
        yield cloud
