"""A copy of the repository with one stage added the way every stage is added: its package
(`functions/toy/`: spec, options, stage) and its line in the registry, nothing else. The tests
that read it (tests/test_toy_stage.py, infra/tests/test_toy_stage.py) then look for the stage
everywhere a stage must appear. Standard library only: infra's environment uses it too."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME, PACKAGE = "toy", "functions.toy"

FILES = {
    "__init__.py": "",
    "spec.py": '''"""The toy stage as the registry sees it."""
from emcore.spec import Profile, StageSpec

SPEC = StageSpec(name="toy", package=__package__, profile=Profile(task_seconds=30), after=("pyramid",))
''',
    "options.py": '''"""Options of the toy stage."""
from emcore.schema import Field, Section

OPTIONS = Section("toy", "A stage that writes a greeting per task under `<dest>/toy/`.",
                  fields=(Field("tasks", "int", 3, minimum=1, doc="Tasks of its one wave."),
                          Field("greeting", "str", "hello", doc="What each task writes.")))
''',
    "stage.py": '''"""One wave, `greet`: task i writes `toy/<i>.txt`."""
from dataclasses import dataclass

from emcore.stage import Stage, Wave


@dataclass(frozen=True)
class GreetTask:
    i: int


class Greet(Wave):
    Task = GreetTask

    def plan(self, job, store):
        return [GreetTask(i) for i in range(job.stage("toy")["tasks"])]

    def run(self, ctx, task):
        ctx.store.write(f"toy/{task.i}.txt", ctx.job.stage("toy")["greeting"].encode())
        return {"i": task.i}

    def cost(self, job, task, store):
        return {"bytes_in": 0, "reads": 0, "writes": 1}


class ToyStage(Stage):
    name = "toy"

    def waves(self, job, store):
        return ["greet"] if job.stage("toy") is not None else []

    def wave(self, name):
        return Greet()


STAGE = ToyStage()
''',
}


def repository_with_toy(dest: Path) -> Path:
    """Copy the repository's files (tracked, and untracked ones git does not ignore) to `dest`,
    add the toy package and its registry line; returns `dest`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    package = dest / Path(*PACKAGE.split("."))
    package.mkdir()
    for name, text in FILES.items():
        (package / name).write_text(text)
    registry = dest / "emcore" / "registry.py"
    text = registry.read_text()
    head, tail = text.split("PACKAGES = (\n", 1)
    registry.write_text(head + "PACKAGES = (\n" + f'    "{PACKAGE}",\n' + tail)
    return dest


def environment(copy: Path, base: dict) -> dict:
    """The environment that runs the copy's code rather than the installed repository's."""
    return {**base, "PYTHONPATH": f"{copy}:{copy / 'gpu-jobs'}"}
