"""`emctl view --print-url`: a Neuroglancer URL printed at once, no server started, whose layers read
the job's data where a browser can: the bucket itself, or `--data-url`. The printed sources are
read back by CloudVolume (an independent reader) and equal the job's own volumes."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emcore.job import load_job
from emcore.storage import open_storage
from orchestrator import engine
from orchestrator.local import LocalRunner
from orchestrator.samplestack import write_stack
from orchestrator.viewer import ViewerServer, browser_data_root

EMCTL = [sys.executable, "-m", "orchestrator.cli.main", "view"]


@pytest.fixture(scope="module")
def job_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("print-url")
    write_stack(str(root / "raw"), 96, 4)
    job = load_job({"id": "url", "source": str(root / "raw"), "maxz": 3, "dest": str(root / "out"),
                             "stages": {"pyramid": {"raw": True},
                                        "cc": {"descriptor": "<dest>/image_raw/", "ccthresh": 120,
                                               "block": [64, 64, 4]}}})
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return root / "out"


def test_the_printed_sources_read_the_job_where_data_url_says(job_root):
    store = open_storage(str(job_root))
    server = ViewerServer(store).start_background()     # stands in for any static server
    try:
        data_url = f"{server.base_url}/data/"
        done = subprocess.run(EMCTL + [str(job_root), "--print-url", "--data-url", data_url,
                                       "--client", "https://viewer.example/"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        (url,) = done.stdout.split()
        assert url.startswith("https://viewer.example/#!")
        state = json.loads(urllib.parse.unquote(url.split("#!", 1)[1]))
        sources = {layer["name"]: layer["source"] for layer in state["layers"]}
        assert set(sources) == {"image", "segmentation"}
        for name, source in sources.items():
            assert source == f"precomputed://{data_url}{name}"
            printed = CloudVolume(source[len("precomputed://"):], mip=0, progress=False, fill_missing=True)
            local = CloudVolume(f"file://{job_root}/{name}", mip=0, progress=False, fill_missing=True)
            assert np.array_equal(printed[printed.bounds], local[local.bounds]), name
            assert np.asarray(local[local.bounds]).any(), name
    finally:
        server.close()


def test_a_local_job_without_data_url_is_refused_with_what_to_do(job_root):
    done = subprocess.run(EMCTL + [str(job_root), "--print-url"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and not done.stdout
    assert "--data-url" in done.stderr and "without --print-url" in done.stderr


@pytest.mark.parametrize("root,data_url,expected", [
    ("gs://lab/fib/", None, "gs://lab/fib"),
    ("s3://lab/fib/", None, "s3://lab/fib"),
    ("gs://lab/fib/", "https://storage.googleapis.com/lab/fib/", "https://storage.googleapis.com/lab/fib"),
    ("file:///data/fib/", "http://127.0.0.1:8000/fib", "http://127.0.0.1:8000/fib"),
])
def test_buckets_are_read_in_place(root, data_url, expected):
    assert browser_data_root(root, data_url) == expected
