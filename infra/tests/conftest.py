"""The mocked deployment every infra test reads: made once per session."""
from __future__ import annotations

import pytest

from mocked import PROJECT, Deployment, deploy
from emcore.names import Names


@pytest.fixture(scope="session")
def stack() -> Deployment:
    return deploy({"emctl:project": PROJECT})


@pytest.fixture(scope="session")
def names() -> Names:
    return Names("emctl")
