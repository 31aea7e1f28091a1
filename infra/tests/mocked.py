"""The real Pulumi program (infra/__main__.py) deployed under Pulumi's mocks, for the tests: every
resource it would create, with its inputs, and its exports."""
from __future__ import annotations

import json
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

INFRA = Path(__file__).resolve().parents[1]
REPO = INFRA.parent
sys.path.insert(0, str(INFRA))

import emctl_infra  # noqa: E402,F401  (puts the repository root on sys.path for emcore)

PROJECT = "emctl-test-project"
NUMBER = "123456789012"
PUBSUB_AGENT = f"service-{NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
STORAGE_AGENT = f"service-{NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
PUBLIC = ("allUsers", "allAuthenticatedUsers")


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict
    outputs: dict


@dataclass
class Deployment:
    resources: list[Resource] = field(default_factory=list)
    exports: dict = field(default_factory=dict)

    def of(self, type_suffix: str) -> list[Resource]:
        return [r for r in self.resources if r.type.endswith(type_suffix)]

    def one(self, type_suffix: str, name: str) -> Resource:
        found = [r for r in self.of(type_suffix) if r.inputs.get("name", r.name) == name or r.name == name]
        assert len(found) == 1, f"expected one {type_suffix} named {name}, found {len(found)}"
        return found[0]

    def named(self, type_suffix: str) -> dict[str, Resource]:
        return {r.inputs["name"]: r for r in self.of(type_suffix)}


class Mocks(pulumi.runtime.Mocks):
    """Gives each resource the outputs the real provider computes and the program uses."""

    def __init__(self, deployment: Deployment):
        self.deployment = deployment

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        outputs = dict(inputs)
        rid = f"{args.name}-id"
        t = args.typ
        if t.endswith("serviceaccount/account:Account"):
            email = f"{inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com"
            outputs.update(email=email, name=f"projects/{PROJECT}/serviceAccounts/{email}")
            rid = outputs["name"]
        elif t.endswith("cloudrunv2/service:Service"):
            outputs["uri"] = f"https://{inputs['name']}-q7x2k4mlaa-uc.a.run.app"
            rid = f"projects/{PROJECT}/locations/{inputs['location']}/services/{inputs['name']}"
        elif t.endswith("pubsub/topic:Topic"):
            rid = f"projects/{PROJECT}/topics/{inputs['name']}"
        elif t.endswith("pubsub/subscription:Subscription"):
            rid = f"projects/{PROJECT}/subscriptions/{inputs['name']}"
        elif t.endswith("storage/bucket:Bucket"):
            outputs["url"] = f"gs://{inputs['name']}"
            rid = inputs["name"]
        elif t.endswith("artifactregistry/repository:Repository"):
            outputs["name"] = inputs["repositoryId"]
        elif t.endswith("container/cluster:Cluster"):
            outputs.update(endpoint="203.0.113.7", masterAuth={"clusterCaCertificate": "Q0E="})
        self.deployment.resources.append(Resource(t, args.name, inputs, outputs))
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": NUMBER, "projectId": PROJECT, "name": PROJECT}
        if args.token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            return {"emailAddress": STORAGE_AGENT, "member": f"serviceAccount:{STORAGE_AGENT}",
                    "project": PROJECT}
        raise AssertionError(f"unexpected invoke {args.token}")


def _config_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def deploy(config: dict) -> Deployment:
    """Run infra/__main__.py under the mocks with `config` as the stack configuration."""
    deployment = Deployment()
    pulumi.runtime.set_mocks(Mocks(deployment), project="emctl", stack="test", preview=False)
    pulumi.runtime.set_all_config({k: _config_value(v) for k, v in config.items()})
    exported = {}
    real_export = pulumi.export

    def export(name, value):
        exported[name] = value

    @pulumi.runtime.test
    def run():
        pulumi.export = export
        try:
            runpy.run_path(str(INFRA / "__main__.py"), run_name="__main__")
        finally:
            pulumi.export = real_export
        return pulumi.Output.all(**exported).apply(deployment.exports.update)

    run()
    return deployment


def email(account_id: str) -> str:
    return f"{account_id}@{PROJECT}.iam.gserviceaccount.com"
