"""Adding a stage is one package and one registry line (emtest/toystage.py): the stage is then
in the CLI, the job.json reference, `emctl plan`, a local run, `emctl status` and the images
`make images` builds, with no other edit. (The Pulumi program: infra/tests/test_toy_stage.py.)"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from emtest.toystage import NAME, environment, repository_with_toy


@pytest.fixture(scope="module")
def toy_repo(tmp_path_factory):
    return repository_with_toy(tmp_path_factory.mktemp("repo"))


def emctl(repo, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli.main", *args], cwd=repo, capture_output=True,
                          text=True, env=environment(repo, os.environ), timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_the_toy_stage_is_everywhere_a_stage_is(toy_repo, tmp_path):
    config = tmp_path / "job.json"
    config.write_text(json.dumps({"id": "toy", "dest": str(tmp_path / "out"), "workers": 1,
                                  "stages": {NAME: {"tasks": 4, "greeting": "hi"}}}))
    assert f"### `stages.{NAME}`" in emctl(toy_repo, "validate", "--doc")
    assert f"runs {NAME}" in emctl(toy_repo, "validate", str(config))
    plan = emctl(toy_repo, "plan", "--config", str(config), "--cores", "1")
    assert any(line.split()[:2] == [f"{NAME}.greet", "4"] for line in plan.splitlines()), plan
    emctl(toy_repo, "start", "--config", str(config), "--quiet")
    assert [(tmp_path / "out" / NAME / f"{i}.txt").read_text() for i in range(4)] == ["hi"] * 4
    assert f"{NAME}.greet" in emctl(toy_repo, "status", str(tmp_path / "out"))
    images = subprocess.run([str(toy_repo / "docker" / "build-images.sh"), "--list"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert f"{NAME} docker/function.Dockerfile {NAME} functions/main.py" in images


def test_the_stage_names_are_listed_in_one_module():
    """Outside the tests and the docs, no line but the registry's quotes two stages' names:
    nothing else keeps a list of them."""
    from emcore import registry
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True,
                            text=True, check=True).stdout.split()
    code = [p for p in listed if p.endswith((".py", ".sh", "Dockerfile", ".json", ".toml"))
            and not p.startswith(("tests/", "infra/tests/", "docs/", "emtest/", "bench/"))]
    names = registry.stage_names()
    pattern = re.compile("|".join(rf"[\"']{n}[\"']" for n in names))
    for path in code:
        if path == "emcore/registry.py":
            continue
        for number, line in enumerate(open(os.path.join(root, path), encoding="utf-8"), 1):
            found = {m.group(0).strip("\"'") for m in pattern.finditer(line)}
            assert len(found) < 2, f"{path}:{number} lists stages {sorted(found)}: {line.strip()}"
