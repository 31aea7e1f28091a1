"""The Pulumi program deploys a stage added as every stage is (one package, one registry line:
emtest/toystage.py) with no edit of its own: its service, account, topics and subscriptions."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from mocked import REPO

sys.path.insert(0, str(REPO))
from emtest.toystage import NAME, environment, repository_with_toy  # noqa: E402

PROGRAM = """
import json, sys
sys.path.insert(0, "infra/tests")
from mocked import PROJECT, deploy
stack = deploy({"emctl:project": PROJECT})
print(json.dumps({"services": sorted(stack.named("cloudrunv2/service:Service")),
                  "topics": sorted(stack.named("pubsub/topic:Topic")),
                  "subscriptions": sorted(stack.named("pubsub/subscription:Subscription")),
                  "accounts": sorted(r.inputs["accountId"] for r in stack.of("serviceaccount/account:Account")),
                  "images": sorted(c["image"] for s in stack.of("cloudrunv2/service:Service")
                                   for c in s.inputs["template"]["containers"])}))
"""


def test_a_stage_added_to_the_registry_is_deployed(tmp_path, names):
    repo = repository_with_toy(tmp_path)
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=repo, capture_output=True, text=True,
                          env=environment(repo, os.environ), timeout=300)
    assert done.returncode == 0, done.stderr
    stack = json.loads(done.stdout.strip().splitlines()[-1])
    assert names.service(NAME) in stack["services"]
    assert {names.task_topic(NAME), names.dead_letter_topic(NAME)} <= set(stack["topics"])
    assert {names.push_subscription(NAME), names.dead_letter_subscription(NAME)} <= set(stack["subscriptions"])
    assert names.service_account(NAME) in stack["accounts"]
    assert any(image.endswith(f"/{NAME}:latest") for image in stack["images"])
