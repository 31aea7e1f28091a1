"""The job.json reference in docs/ is generated from the schema; it must not drift from it."""
import os

from emcore.job import job_section
from emcore.registry import option_sections

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_job_reference_is_current():
    with open(os.path.join(ROOT, "docs", "job.md")) as f:
        committed = f.read()
    generated = job_section(option_sections()).document(level=2) + "\n"
    assert committed == generated, "docs/job.md is stale: run `.venv/bin/emctl validate --doc > docs/job.md`"
