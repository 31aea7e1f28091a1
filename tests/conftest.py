"""Shared fixtures: the local cloud stand-ins (see tests/emulators.py), one per test session.

Each fixture sets the environment variables the official clients read, and restores them when
the session ends. Pub/Sub's emulator is optional (it ships with google-cloud-cli, not with any
package registry): its fixture skips, with the reason, where it is absent.
"""
from __future__ import annotations

import contextlib

import pytest

import emulators


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def gcs_server():
    """fake-gcs-server (in memory); sets STORAGE_EMULATOR_HOST."""
    with emulators.fake_gcs_server() as emu, _environment(emu.env):
        yield emu


@pytest.fixture(scope="session")
def s3_server():
    """moto server for S3 and SQS; sets dummy AWS credentials, us-east-1 and AWS_ENDPOINT_URL(_S3/_SQS)."""
    with emulators.moto_server() as emu, _environment(emu.env):
        yield emu


@pytest.fixture(scope="session")
def pubsub_emulator():
    """Google's Pub/Sub emulator; sets PUBSUB_EMULATOR_HOST and PUBSUB_PROJECT_ID."""
    with contextlib.ExitStack() as stack:
        try:
            emu = stack.enter_context(emulators.pubsub_emulator())
        except emulators.EmulatorUnavailable as e:
            pytest.skip(str(e))
        stack.enter_context(_environment(emu.env))
        yield emu


@pytest.fixture
def noop_stage():
    """The engine tests' stage (tests/noop/), registered for the test."""
    from tests import noop
    noop.register()
    yield
    noop.unregister()
