"""Service accounts and their roles, checked against the table in docs/deploy.md."""
from __future__ import annotations

import re

from emcore import registry
from emcore.registry import ORCHESTRATOR
from mocked import NUMBER, PROJECT, REPO, Deployment



# --- service accounts against docs/deploy.md ----------------------------------------------------

def _doc_grants() -> set[tuple[str, str, str, str]]:
    """(principal, role, kind, resource) for every row of the roles tables in docs/deploy.md."""
    text = (REPO / "docs" / "deploy.md").read_text()
    section = text.split("## Service accounts and roles", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`roles/"):
            continue
        principal = re.findall(r"`([^`]+)`", cells[0])[0]
        role = cells[1].strip("`")
        kind = re.sub(r"`[^`]*`|,", "", cells[2]).strip()
        kind = {"topics": "topic", "subscriptions": "subscription", "services": "service"}.get(kind, kind)
        targets = re.findall(r"`([^`]+)`", cells[2]) or [PROJECT]
        for target in targets:
            rows.add((principal, role, kind, target))

    def fill(s: str) -> str:
        return s.replace("PROJECT_NUMBER", NUMBER).replace("PROJECT", PROJECT)
    return {tuple(fill(x) for x in row) for row in rows}


def _principal(member: str) -> str:
    who = member.removeprefix("serviceAccount:")
    return who.removesuffix(f"@{PROJECT}.iam.gserviceaccount.com")


def _program_grants(stack: Deployment) -> set[tuple[str, str, str, str]]:
    kinds = {
        "storage/bucketIAMMember:BucketIAMMember": ("bucket", "bucket"),
        "pubsub/topicIAMMember:TopicIAMMember": ("topic", "topic"),
        "pubsub/subscriptionIAMMember:SubscriptionIAMMember": ("subscription", "subscription"),
        "cloudrunv2/serviceIamMember:ServiceIamMember": ("service", "name"),
        "projects/iAMMember:IAMMember": ("project", "project"),
        "artifactregistry/repositoryIamMember:RepositoryIamMember": ("registry", "repository"),
        "serviceaccount/iAMMember:IAMMember": ("service account", "serviceAccountId"),
    }
    grants = set()
    for r in stack.resources:
        if not re.search(r"iam|Iam|IAM", r.type.split(":")[-1]):
            continue
        assert r.type.split(":", 1)[1] in kinds, f"{r.type} {r.name}: a kind of grant the test (and docs) do not know"
        kind, key = kinds[r.type.split(":", 1)[1]]
        target = r.inputs[key]
        if kind == "service account":
            target = _principal(target.rsplit("/", 1)[-1])
        grants.add((_principal(r.inputs["member"]), r.inputs["role"], kind, target))
    return grants


def test_each_account_has_exactly_the_roles_docs_deploy_md_lists(stack):
    documented, granted = _doc_grants(), _program_grants(stack)
    assert documented, "no roles table found in docs/deploy.md"
    assert granted - documented == set(), "granted but not documented"
    assert documented - granted == set(), "documented but not granted"


def test_one_account_per_function_and_every_account_is_documented(stack, names):
    accounts = {r.inputs["accountId"] for r in stack.of("serviceaccount/account:Account")}
    assert accounts == ({names.service_account(f) for f in registry.function_stages() + (ORCHESTRATOR,)}
                        | {names.invoker_account, names.gpu_account, names.service_account("gke-nodes")})
    documented = {p for p, *_ in _doc_grants()}
    assert accounts <= documented


def test_stage_functions_hold_only_objects_and_the_events_topic(stack, names):
    for stage in registry.function_stages():
        roles = {(role, kind, target) for p, role, kind, target in _program_grants(stack)
                 if p == names.service_account(stage)}
        assert roles == {("roles/storage.objectUser", "bucket", f"{PROJECT}-emctl-data"),
                         ("roles/pubsub.publisher", "topic", names.events_topic)}
