"""The real Pulumi program (infra/__main__.py) run against Pulumi's mocks: what it would create,
checked against what the runtime expects (emcore.names, the orchestrator's dispatch) and against
docs/deploy.md. Run with infra/.venv's pytest (infra/test.sh)."""
from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from mocked import INFRA, PROJECT, PUBLIC, PUBSUB_AGENT, REPO, STORAGE_AGENT, deploy, email
from emcore import registry
from emcore.names import UPLOAD_PREFIX, Names
from emcore.registry import ORCHESTRATOR
from emctl_infra.profiles import PROFILES
from emctl_infra.settings import DEFAULT_CORS_ORIGINS, DEFAULT_MAX_INSTANCES

STAGES, GPU_STAGES = registry.function_stages(), registry.gpu_job_stages()



# --- Pub/Sub -----------------------------------------------------------------------------------

def test_every_push_subscription_targets_its_service_with_the_invokers_token(stack, names):
    services = stack.named("cloudrunv2/service:Service")
    subs = stack.named("pubsub/subscription:Subscription")
    expected = {names.push_subscription(s): names.service(s) for s in STAGES}
    expected.update({names.dead_letter_subscription(s): names.service(ORCHESTRATOR) for s in STAGES + GPU_STAGES})
    expected[names.events_subscription] = names.service(ORCHESTRATOR)
    pushing = {name: sub for name, sub in subs.items() if sub.inputs.get("pushConfig")}
    assert set(pushing) == set(expected)
    for name, sub in pushing.items():
        uri = services[expected[name]].outputs["uri"]
        push = sub.inputs["pushConfig"]
        assert push["pushEndpoint"] == uri, name
        assert push["oidcToken"] == {"serviceAccountEmail": email(names.invoker_account), "audience": uri}, name


def test_subscriptions_read_the_topics_the_runtime_publishes_to(stack, names):
    subs = stack.named("pubsub/subscription:Subscription")
    topic = lambda name: f"projects/{PROJECT}/topics/{name}"  # noqa: E731
    for stage in STAGES + GPU_STAGES:
        assert subs[names.push_subscription(stage)].inputs["topic"] == topic(names.task_topic(stage))
        assert subs[names.dead_letter_subscription(stage)].inputs["topic"] == topic(names.dead_letter_topic(stage))
    assert subs[names.events_subscription].inputs["topic"] == topic(names.events_topic)
    # the GPU stage's subscription is pulled by its GKE Jobs, not pushed
    assert not subs[names.push_subscription("seamless")].inputs.get("pushConfig")


def test_every_subscription_dead_letters_and_each_dead_letter_topic_reaches_the_orchestrator(stack, names):
    subs = stack.named("pubsub/subscription:Subscription")
    orchestrator_uri = stack.one("cloudrunv2/service:Service", names.service(ORCHESTRATOR)).outputs["uri"]
    by_topic = {}
    for sub in subs.values():
        by_topic.setdefault(sub.inputs["topic"].rsplit("/", 1)[-1], []).append(sub)
    last_resort = names.dead_letter_topic(ORCHESTRATOR)
    for name, sub in subs.items():
        assert sub.inputs["expirationPolicy"] == {"ttl": ""}, f"{name} would expire after 31 idle days"
        assert sub.inputs["retryPolicy"] == {"minimumBackoff": "10s", "maximumBackoff": "600s"}, name
        if name == last_resort:   # the terminal pull subscription a person reads
            assert "deadLetterPolicy" not in sub.inputs and not sub.inputs.get("pushConfig")
            continue
        policy = sub.inputs["deadLetterPolicy"]
        assert policy["maxDeliveryAttempts"] == 5, name
        dead_topic = policy["deadLetterTopic"].rsplit("/", 1)[-1]
        handlers = by_topic[dead_topic]
        assert handlers, f"{name}: nothing reads {dead_topic}"
        if dead_topic == last_resort:
            assert [h.inputs["name"] for h in handlers] == [last_resort]
            continue
        # a task subscription: its dead letters are pushed to the orchestrator, on the subscription
        # name the orchestrator recognises as that stage's dead letters (orchestrator/cloud.py)
        stage = next(s for s in STAGES + GPU_STAGES if name == names.push_subscription(s))
        assert dead_topic == names.dead_letter_topic(stage)
        [handler] = handlers
        assert handler.inputs["pushConfig"]["pushEndpoint"] == orchestrator_uri
        assert names.stage_of_dead_letter_subscription(f"projects/{PROJECT}/subscriptions/{handler.inputs['name']}") == stage
    # dead letters of the orchestrator's own inputs are not mistaken for a stage's
    assert names.stage_of_dead_letter_subscription(last_resort) is None
    assert names.stage_of_dead_letter_subscription(names.events_subscription) is None


def test_the_pubsub_service_agent_can_dead_letter(stack):
    subs = stack.named("pubsub/subscription:Subscription")
    agent = f"serviceAccount:{PUBSUB_AGENT}"
    publishes = {r.inputs["topic"] for r in stack.of("pubsub/topicIAMMember:TopicIAMMember")
                 if r.inputs["member"] == agent and r.inputs["role"] == "roles/pubsub.publisher"}
    subscribes = {r.inputs["subscription"] for r in stack.of("pubsub/subscriptionIAMMember:SubscriptionIAMMember")
                  if r.inputs["member"] == agent and r.inputs["role"] == "roles/pubsub.subscriber"}
    with_policy = {name: sub for name, sub in subs.items() if "deadLetterPolicy" in sub.inputs}
    assert subscribes == set(with_policy)
    assert publishes == {s.inputs["deadLetterPolicy"]["deadLetterTopic"].rsplit("/", 1)[-1] for s in with_policy.values()}


def test_ack_deadlines_and_request_timeouts_come_from_each_stages_task_time(stack, names):
    subs = stack.named("pubsub/subscription:Subscription")
    services = stack.named("cloudrunv2/service:Service")
    for stage in STAGES + GPU_STAGES:
        ack = int(subs[names.push_subscription(stage)].inputs["ackDeadlineSeconds"])
        assert ack == PROFILES[stage].ack_deadline_seconds <= 600
        assert ack >= PROFILES[stage].task_seconds
        if stage in STAGES:
            assert services[names.service(stage)].inputs["template"]["timeout"] == f"{ack}s"


def test_upload_notifications_go_to_the_events_topic_for_the_upload_prefix(stack, names):
    [notification] = stack.of("storage/notification:Notification")
    assert notification.inputs["objectNamePrefix"] == UPLOAD_PREFIX
    assert notification.inputs["topic"] == f"projects/{PROJECT}/topics/{names.events_topic}"
    assert notification.inputs["eventTypes"] == ["OBJECT_FINALIZE"]
    assert notification.inputs["payloadFormat"] == "JSON_API_V1"   # what orchestrator/cloud.py decodes
    assert notification.inputs["bucket"] == stack.exports["bucket"]
    grants = [r for r in stack.of("pubsub/topicIAMMember:TopicIAMMember")
              if r.inputs["member"] == f"serviceAccount:{STORAGE_AGENT}"]
    assert [(g.inputs["topic"], g.inputs["role"]) for g in grants] == [(names.events_topic, "roles/pubsub.publisher")]


# --- nothing public ------------------------------------------------------------------------------

def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def test_no_resource_grants_anything_to_the_public(stack):
    for r in stack.resources:
        for s in _strings(r.inputs):
            assert not any(p in s for p in PUBLIC), f"{r.type} {r.name} mentions {s!r}"
    # authoritative bindings would silently remove others' grants: members only
    assert not [r.type for r in stack.resources if re.search(r"IAM(Binding|Policy)|Iam(Binding|Policy)", r.type)]


def test_services_are_private_and_sized_per_stage(stack, names):
    services = stack.named("cloudrunv2/service:Service")
    assert set(services) == {names.service(f) for f in STAGES + (ORCHESTRATOR,)}
    invokers = {(r.inputs["name"], r.inputs["member"]) for r in stack.of("cloudrunv2/serviceIamMember:ServiceIamMember")}
    assert invokers == {(name, f"serviceAccount:{email(names.invoker_account)}") for name in services}
    registry = stack.exports["registry"]
    assert registry == f"us-central1-docker.pkg.dev/{PROJECT}/emctl"
    for function in STAGES + (ORCHESTRATOR,):
        s = services[names.service(function)].inputs
        assert s["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
        assert s.get("invokerIamDisabled") in (None, False)
        t = s["template"]
        assert t["serviceAccount"] == email(names.service_account(function))
        assert t["scaling"] == {"minInstanceCount": 0, "maxInstanceCount": DEFAULT_MAX_INSTANCES[function]}
        assert t["maxInstanceRequestConcurrency"] == PROFILES[function].concurrency
        [container] = t["containers"]
        assert container["image"] == f"{registry}/{function}:latest"   # docker/build-images.sh's names
        assert container["resources"]["limits"] == {"cpu": PROFILES[function].cpu, "memory": PROFILES[function].memory}
        env = {e["name"]: e["value"] for e in container["envs"]}
        assert env["EMCTL_PROJECT"] == PROJECT and env["EMCTL_PREFIX"] == "emctl"
        assert env["THREADS"] == str(PROFILES[function].concurrency)   # gunicorn serves what Cloud Run sends
    assert all(PROFILES[stage].concurrency == 1 for stage in STAGES), "a stage's task has its instance to itself"


def test_every_image_the_program_deploys_is_built_by_make_images(stack, names):
    import subprocess
    listed = subprocess.run([str(REPO / "docker" / "build-images.sh"), "--list"], capture_output=True, text=True,
                            check=True).stdout.split()[::4]
    images = {c["image"] for s in stack.of("cloudrunv2/service:Service") for c in s.inputs["template"]["containers"]}
    env = stack.one("cloudrunv2/service:Service", names.service(ORCHESTRATOR)).inputs["template"]["containers"][0]["envs"]
    images |= {e["value"] for e in env if e["name"] == "EMCTL_GPU_IMAGE"}
    assert {image.rsplit("/", 1)[1].split(":")[0] for image in images} == set(listed)


# --- bucket --------------------------------------------------------------------------------------

def test_the_bucket_is_private_with_cors_and_expiring_temporaries(stack):
    [bucket] = stack.of("storage/bucket:Bucket")
    b = bucket.inputs
    assert b["name"] == f"{PROJECT}-emctl-data"
    assert b["publicAccessPrevention"] == "enforced"
    assert b["uniformBucketLevelAccess"] is True
    [cors] = b["cors"]
    assert cors["origins"] == DEFAULT_CORS_ORIGINS and set(cors["methods"]) == {"GET", "HEAD"}
    assert {"Range", "Content-Range"} <= set(cors["responseHeaders"])
    assert stack.exports["bucketUrl"] == f"gs://{PROJECT}-emctl-data/"


def test_the_lifecycle_rule_can_only_ever_touch_temporaries(stack):
    """Its one condition is the custom time, which the runtime sets on temporaries alone
    (emcore/storage_cloud.py, read as source: this environment cannot import the runtime): no
    age or prefix condition that an output could match."""
    [bucket] = stack.of("storage/bucket:Bucket")
    deletes = [r for r in bucket.inputs["lifecycleRules"] if r["action"]["type"] == "Delete"]
    assert [r["condition"] for r in deletes] == [{"daysSinceCustomTime": 7}]
    storage = (REPO / "emcore" / "storage_cloud.py").read_text()
    assert storage.count("custom_time =") == 1 and "if temporary:" in storage
    writers = {path: path.read_text() for path in (REPO / "emcore" / "tiles.py", REPO / "emcore" / "failures.py")}
    assert all("temporary=" in text for text in writers.values()), "tiles and error records are temporaries"


def test_the_sweep_is_scheduled_to_the_orchestrators_topic(stack, names):
    import base64
    import json
    [job] = stack.of("cloudscheduler/job:Job")
    target = job.inputs["pubsubTarget"]
    assert target["topicName"] == f"projects/{PROJECT}/topics/{names.events_topic}"
    assert json.loads(base64.b64decode(target["data"])) == {
        "kind": "sweep", "bucket": f"gs://{PROJECT}-emctl-data/", "stall_seconds": 1800}
    assert job.inputs["schedule"] == "*/10 * * * *"


# --- GPU -----------------------------------------------------------------------------------------

def test_the_gpu_pool_scales_from_zero_on_spot_nodes(stack, names):
    [cluster] = stack.of("container/cluster:Cluster")
    assert cluster.inputs["removeDefaultNodePool"] is True
    assert cluster.inputs["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    [pool] = stack.of("container/nodePool:NodePool")
    p = pool.inputs
    assert p["autoscaling"]["minNodeCount"] == 0 and p["autoscaling"]["maxNodeCount"] >= 1
    assert p.get("initialNodeCount", 0) == 0
    node = p["nodeConfig"]
    assert node["spot"] is True
    assert node["guestAccelerators"][0]["type"] == "nvidia-tesla-t4"
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in node["taints"]
    assert node["serviceAccount"] == email(names.service_account("gke-nodes"))
    assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    [wi] = [r for r in stack.of("serviceaccount/iAMMember:IAMMember") if r.inputs["role"] == "roles/iam.workloadIdentityUser"]
    assert wi.inputs["serviceAccountId"].endswith(email(names.gpu_account))
    assert wi.inputs["member"] == f"serviceAccount:{PROJECT}.svc.id.goog[emctl/{names.gpu_account}]"


def test_the_orchestrator_may_create_jobs_in_one_namespace_and_nothing_else(stack, names):
    project_roles = {r.inputs["role"] for r in stack.of("projects/iAMMember:IAMMember")
                     if r.inputs["member"] == f"serviceAccount:{email(names.service_account(ORCHESTRATOR))}"}
    assert project_roles == {"roles/container.clusterViewer"}, "no Kubernetes object rights on the project"
    assert not stack.of("ClusterRole") and not stack.of("ClusterRoleBinding")
    [role] = stack.of("rbac.authorization.k8s.io/v1:Role")
    assert role.inputs["metadata"]["namespace"] == "emctl"
    assert role.inputs["rules"] == [{"apiGroups": ["batch"], "resources": ["jobs"],
                                     "verbs": ["create", "get", "list", "patch"]}]
    [binding] = stack.of("rbac.authorization.k8s.io/v1:RoleBinding")
    assert binding.inputs["metadata"]["namespace"] == "emctl"
    assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                         "name": role.inputs["metadata"]["name"]}
    assert binding.inputs["subjects"] == [{"kind": "User", "name": email(names.service_account(ORCHESTRATOR)),
                                           "apiGroup": "rbac.authorization.k8s.io"}]
    [account] = stack.of("core/v1:ServiceAccount")
    assert account.inputs["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": email(names.gpu_account)}


def test_the_orchestrator_is_told_where_to_run_gpu_jobs(stack, names):
    orchestrator = stack.one("cloudrunv2/service:Service", names.service(ORCHESTRATOR))
    env = {e["name"]: e["value"] for e in orchestrator.inputs["template"]["containers"][0]["envs"]}
    assert env["EMCTL_GPU_CLUSTER"] == stack.exports["gpuCluster"]
    assert env["EMCTL_GPU_LOCATION"] == "us-central1-a"
    assert env["EMCTL_GPU_SERVICE_ACCOUNT"] == names.gpu_account


# --- outputs and configuration -------------------------------------------------------------------

def test_outputs_give_emctl_what_it_needs(stack, names):
    e = stack.exports
    assert e["emctlEnv"] == {"EMCTL_PROJECT": PROJECT, "EMCTL_PREFIX": "emctl"}
    assert e["uploadUrl"] == f"gs://{PROJECT}-emctl-data/{UPLOAD_PREFIX}"
    assert e["topics"] == {s: names.task_topic(s) for s in STAGES + GPU_STAGES}
    assert e["eventsTopic"] == names.events_topic
    assert set(e["serviceUrls"]) == set(STAGES) | {ORCHESTRATOR}
    assert all(url.startswith("https://") for url in e["serviceUrls"].values())


def test_profiles_fit_the_memory_the_cost_model_assumes_and_cloud_runs_limits():
    for stage in STAGES:
        p = PROFILES[stage]
        assert p.memory_gib >= p.task_memory_gib, stage
        cpu = float(p.cpu)
        # Cloud Run: more than 4 GiB needs 2 CPUs, more than 8 GiB 4, more than 16 GiB 6, more than 24 GiB 8
        need = 8 if p.memory_gib > 24 else 6 if p.memory_gib > 16 else 4 if p.memory_gib > 8 else 2 if p.memory_gib > 4 else 1
        assert cpu >= need, f"{stage}: {p.memory} needs {need} CPUs"
        assert p.memory_gib <= 32 and cpu <= 8


def test_the_example_stack_config_is_what_the_program_reads_and_variants_follow_the_prefix():
    example = yaml.safe_load((INFRA / "Pulumi.dev.yaml.example").read_text())["config"]
    settings_src = (INFRA / "emctl_infra" / "settings.py").read_text()
    for key, value in example.items():
        assert f'"{key}"' in settings_src, f"{key} is in the example but the program never reads it"
        for sub in value if key == "emctl:gpu" else ():
            assert f'"{sub}"' in settings_src, f"{key}.{sub} is in the example but the program never reads it"
    # the example's values are the defaults: with a prefix and no GPU the names all follow
    example = {k: v for k, v in example.items() if k not in ("emctl:bucket", "gcp:project")}
    config = {**example, "emctl:project": PROJECT, "emctl:prefix": "lab", "emctl:gpu": {"enabled": False},
              "emctl:maxInstances": {"pyramid": 50}}
    variant = deploy(config)
    lab = Names("lab")
    assert not variant.of("container/cluster:Cluster") and not variant.of("container/nodePool:NodePool")
    assert set(variant.named("pubsub/topic:Topic")) == (
        {lab.task_topic(s) for s in STAGES} | {lab.dead_letter_topic(s) for s in STAGES}
        | {lab.events_topic, lab.dead_letter_topic(ORCHESTRATOR)})
    services = variant.named("cloudrunv2/service:Service")
    assert set(services) == {lab.service(f) for f in STAGES + (ORCHESTRATOR,)}
    assert services[lab.service("pyramid")].inputs["template"]["scaling"]["maxInstanceCount"] == 50
    assert services[lab.service("align")].inputs["template"]["scaling"]["maxInstanceCount"] == 20
    assert variant.exports["emctlEnv"]["EMCTL_PREFIX"] == "lab"
    assert variant.exports["bucket"] == f"{PROJECT}-lab-data"
    for r in variant.resources:
        for s in _strings(r.inputs):
            assert not re.search(r"\bemctl-", s.replace(PROJECT, "P")), f"{r.type} {r.name}: {s!r} ignores the prefix"


def test_deploy_sh_reads_the_registry_from_the_stack_config(monkeypatch, capsys):
    """deploy.sh pushes the images before the services exist, so it takes REGISTRY from
    `pulumi config --json` through the same Settings the program uses."""
    import io
    from emctl_infra import settings
    config = {"emctl:project": {"value": "p1", "secret": False}, "gcp:region": {"value": "europe-west4", "secret": False},
              "emctl:prefix": {"value": "lab", "secret": False}}

    def run(field):
        monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(config)))
        settings.main([field])
        return capsys.readouterr().out.strip()
    assert run("registry") == "europe-west4-docker.pkg.dev/p1/lab"
    config["emctl:imageRegistry"] = {"value": "ghcr.io/lab/emctl", "secret": False}
    assert run("registry") == "ghcr.io/lab/emctl"
    assert "-m emctl_infra.settings registry" in (INFRA / "deploy.sh").read_text()


def test_bad_configuration_is_refused_with_the_key_named():
    from emctl_infra.settings import Settings
    with pytest.raises(ValueError, match="maxDeliveryAttempts"):
        Settings(project="p", max_delivery_attempts=3).validate()
    with pytest.raises(ValueError, match="maxInstances"):
        Settings(project="p", max_instances={"pyramids": 3}).validate()
    with pytest.raises(ValueError, match="prefix"):
        Settings(project="p", prefix="a-very-long-prefix-x").validate()
    with pytest.raises(ValueError, match="prefix"):
        Settings(project="p", prefix="Lab").validate()
