"""The import rules of the test code, read from the sources' syntax trees: tests and bench never
import each other, no test module imports another, and emtest (what both share) imports neither.
And one of the product's: listing a job's waves loads no stage's heavy science."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def offences(folder: str, forbidden) -> list[str]:
    return sorted(f"{path.relative_to(ROOT)} imports {name}"
                  for path in (ROOT / folder).rglob("*.py") for name in imported(path) if forbidden(name))


def test_tests_bench_and_emtest_import_only_what_they_may():
    def test_module(name):
        return name.startswith("tests.test_")
    assert offences("tests", lambda n: n == "bench" or n.startswith("bench.") or test_module(n)) == []
    assert offences("bench", lambda n: n == "tests" or n.startswith("tests.")) == []
    assert offences("emtest", lambda n: n.split(".")[0] in ("tests", "bench")) == []


def test_listing_a_jobs_waves_loads_no_heavy_science():
    """The orchestrator (and emctl plan, status) loads every stage module to list a job's waves;
    kimimaro and scipy under it took ~0.55 s of each cold start, so only the tasks load them."""
    import subprocess
    import sys
    code = ("import sys\nfrom emcore import registry\nfor name in registry.stage_names(): registry.stage(name)\n"
            "print(sorted(m for m in ('kimimaro', 'scipy', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
