"""The GKE batch Job of a GPU wave: the manifest checked against the Kubernetes batch/v1 schema
(the kubernetes client's own models: types, required fields, and no key the schema does not
know), what the GPU node pool needs (GPU requests, tolerations, spot), and its creation through
the kubernetes client against a small stand-in of the Kubernetes API server."""
from __future__ import annotations

import json
import re
import threading
from http.server import ThreadingHTTPServer

import pytest


kubernetes = pytest.importorskip("kubernetes")
from kubernetes.client import ApiClient, Configuration, V1Job  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from emcore import jobroot  # noqa: E402
from emcore.protocol import TaskMessage  # noqa: E402
from emcore.storage import open_storage  # noqa: E402
from emtest.kube import NAMES, SETTINGS, FakeKubernetes  # noqa: E402
from seamless import kube  # noqa: E402

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def as_v1job(manifest: dict) -> V1Job:
    job = V1Job.from_dict(manifest)
    # Keys the schema does not know are dropped by the models: a lossless round trip means none.
    assert ApiClient().sanitize_for_serialization(job) == manifest
    return job


def test_gpu_wave_manifest_is_a_batch_v1_job_the_gpu_pool_accepts():
    manifest = kube.job_manifest("fib-sample", "gs://lab/fib/", "seamless", "pairs", 37, True, SETTINGS, NAMES)
    job = as_v1job(manifest)
    assert (job.api_version, job.kind) == ("batch/v1", "Job")
    assert DNS_LABEL.match(job.metadata.generate_name.rstrip("-")) and len(job.metadata.generate_name) <= 58
    assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in job.metadata.labels.values())
    spec = job.spec
    assert spec.parallelism == 8 and spec.completions is None        # work queue: sized to the wave, capped
    assert spec.pod_failure_policy.rules[0].action == "Ignore"        # spot preemptions do not count
    pod = spec.template.spec
    assert pod.restart_policy == "Never" and pod.service_account_name == "emctl-gpu"
    assert job.metadata.namespace == "emctl"
    assert pod.node_selector == {"cloud.google.com/gke-spot": "true", "cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    tolerations = {(t.key, t.operator, t.value, t.effect) for t in pod.tolerations}
    assert ("nvidia.com/gpu", "Exists", None, "NoSchedule") in tolerations
    assert ("cloud.google.com/gke-spot", "Equal", "true", "NoSchedule") in tolerations
    (container,) = pod.containers
    assert container.resources.limits["nvidia.com/gpu"] == "1" == container.resources.requests["nvidia.com/gpu"]
    assert container.image == SETTINGS.image
    # infra/ creates the stage's task subscription under the usual name, without a push endpoint
    assert container.command == ["python", "-m", "seamless", "worker", "--subscription", "emctl-seamless-push",
                                 "--idle", "120", "--max-idle", "900"]
    assert {e.name: e.value for e in container.env}["EMCTL_PREFIX"] == "emctl"


def test_settings_follow_the_environment_infra_gives_the_orchestrator(monkeypatch):
    for name, value in {"EMCTL_PROJECT": "lab", "EMCTL_PREFIX": "emx", "EMCTL_GPU_IMAGE": "r/seamless:t",
                        "EMCTL_GPU_NAMESPACE": "emx", "EMCTL_GPU_SERVICE_ACCOUNT": "emx-gpu",
                        "EMCTL_GPU_CLUSTER": "emx-gpu", "EMCTL_GPU_LOCATION": "us-central1-a"}.items():
        monkeypatch.setenv(name, value)
    settings = kube.Settings.from_env()
    assert (settings.image, settings.project, settings.namespace, settings.service_account) == \
        ("r/seamless:t", "lab", "emx", "emx-gpu")
    unspotted = kube.Settings(image="i", project="p", spot=False)
    job = as_v1job(kube.job_manifest("fib", "gs://lab/fib/", "seamless", "pairs", 2, True, unspotted, NAMES))
    assert job.spec.template.spec.node_selector == {}


def test_cpu_waves_ask_for_no_gpu_and_small_waves_for_few_pods():
    job = as_v1job(kube.job_manifest("fib", "gs://lab/fib/", "seamless", "vote", 3, False, SETTINGS, NAMES))
    container = job.spec.template.spec.containers[0]
    assert "nvidia.com/gpu" not in container.resources.limits and job.spec.parallelism == 3
    assert "cloud.google.com/gke-accelerator" not in job.spec.template.spec.node_selector
    assert kube.needs_gpu({"estimator": "onnx"}, "pairs") and not kube.needs_gpu({"estimator": "flow"}, "pairs")
    assert not kube.needs_gpu({"estimator": "onnx"}, "images")


def test_the_schema_check_catches_what_the_api_server_would_refuse():
    manifest = kube.job_manifest("fib", "gs://lab/fib/", "seamless", "pairs", 4, True, SETTINGS, NAMES)
    nameless = json.loads(json.dumps(manifest))
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(ValidationError, match="name"):
        V1Job.from_dict(nameless)
    typo = json.loads(json.dumps(manifest))
    typo["spec"]["paralelism"] = 3
    with pytest.raises(AssertionError):
        as_v1job(typo)
    wrong_type = json.loads(json.dumps(manifest))
    wrong_type["spec"]["parallelism"] = "3"
    with pytest.raises(ValidationError, match="parallelism"):
        V1Job.from_dict(wrong_type)


@pytest.fixture
def fake_kubernetes():
    FakeKubernetes.jobs, FakeKubernetes.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKubernetes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configuration = Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    yield ApiClient(configuration), FakeKubernetes
    server.shutdown()


class RecordingQueue:
    def __init__(self):
        self.published = []

    def publish(self, messages):
        self.published.extend(messages)

    def publish_event(self, event):
        pass


def test_publishing_a_gpu_wave_starts_one_job_and_scales_it(fake_kubernetes, tmp_path):
    """The orchestrator's queue wrapper: the wave's first batch creates the Job, later batches of
    the same wave raise its parallelism (up to the pool's size), a finished Job is replaced, and
    other stages' messages start nothing."""
    api, server = fake_kubernetes
    root = open_storage(str(tmp_path / "job"))
    jobroot.create_job(root, json.dumps({"stages": {"seamless": {"estimator": "onnx", "model": "gs://m/x.onnx"}}}).encode())
    launch = lambda *args: kube.launch_wave(*args, settings=SETTINGS, api=api, resource_names=NAMES)  # noqa: E731
    queue = kube.LaunchingQueue(RecordingQueue(), launch=launch)
    batch = lambda wave, tasks, stage="seamless": [TaskMessage("fib", root.url, stage, wave, t, {}) for t in tasks]  # noqa: E731

    queue.publish(batch("pairs", range(3)))
    queue.publish(batch("pairs", range(3, 10)))
    queue.publish(batch("render", range(5), stage="align"))
    assert len(queue.inner.published) == 15
    posts = [r for r in server.requests if r[0] == "POST"]
    patches = [r for r in server.requests if r[0] == "PATCH"]
    assert len(posts) == 1 and posts[0][1] == "/apis/batch/v1/namespaces/emctl/jobs"
    created = as_v1job(posts[0][2])
    assert created.spec.parallelism == 3
    assert created.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert [p[2] for p in patches] == [{"spec": {"parallelism": 8}}]       # 3 + 7 tasks, capped at 8 pods

    (job,) = server.jobs.values()
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    queue.publish(batch("pairs", [4]))                                      # a retry after the Job ended
    assert len([r for r in server.requests if r[0] == "POST"]) == 2
