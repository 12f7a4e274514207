"""Pytest fixtures for DAG tests against the sandbox (registered through the ``pytest11`` entry point).

``contacts_sandbox`` gives a fresh sandbox state for each test, with the four
``*_default`` Airflow connections pointing at it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_contacts_provider.sandbox.server import Sandbox


@pytest.fixture(scope="session")
def contacts_sandbox_server() -> Iterator[Sandbox]:
    with Sandbox(job_delay=0.2) as sandbox:
        yield sandbox


@pytest.fixture
def contacts_sandbox(contacts_sandbox_server: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    sandbox = contacts_sandbox_server
    sandbox.reset()
    sandbox.state.job_delay = 0.2
    sandbox.state.sink = False
    for name, value in sandbox.connection_env().items():
        monkeypatch.setenv(name, value)
    yield sandbox
    sandbox.reset()
