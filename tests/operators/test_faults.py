"""The operator under the sandbox's fault injection: rate limits, server errors, dropped connections
and failed jobs. Every contact ends imported exactly once, or reported.

Retries are made quick through the connection extra (``backoff_base``), as a user would.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from airflow_contacts_provider.exceptions import ImportJobFailedError
from airflow_contacts_provider.hooks.base import get_contact_hook
from airflow_contacts_provider.import_job import ImportStatus
from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator
from airflow_contacts_provider.sandbox import Sandbox
from tests.operators.e2e import (
    DESTINATIONS,
    POSTGRES_CONN_ID,
    MemoryStore,
    assert_adds_up,
    assert_landed,
    assert_rejects,
    fast_retries,
    run_operator,
)

pytestmark = pytest.mark.postgres

IMPORT_METHOD = {"mailtrap": "POST", "notifuse": "POST", "sendgrid": "PUT", "migma": "POST"}
"""How each provider's import request is sent (SendGrid: PUT of the import, then of the file)."""


def sync(provider: str, table: str, tmp_path: Path, **overrides: Any) -> BulkContactImportOperator:
    destination = DESTINATIONS[provider]
    return BulkContactImportOperator(
        task_id=f"sync_{provider}", destination_conn_id=destination.conn_id, source_conn_id=POSTGRES_CONN_ID,
        sql=f"SELECT * FROM {table} ORDER BY id", mapping=destination.mapping, chunk_size=100, poll_interval=0.1,
        rejects_path=str(tmp_path / "rejects"), **overrides,
    )


def test_retry_settings_come_from_the_connection_extra(contacts_sandbox: Sandbox,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fast_retries(monkeypatch, "mailtrap_default", max_retries=2)

    hook = get_contact_hook("mailtrap_default")
    given = type(hook)("mailtrap_default", max_retries=7, backoff_base=1.5)

    assert (hook.max_retries, hook.backoff_base) == (2, 0.01)
    assert (given.max_retries, given.backoff_base) == (7, 1.5)


@pytest.mark.parametrize("provider", DESTINATIONS)
def test_sync_rides_out_rate_limits_server_errors_and_dropped_connections(
    provider: str, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table, frame = contacts_table
    destination = DESTINATIONS[provider]
    fast_retries(monkeypatch, destination.conn_id)
    method = IMPORT_METHOD[provider]
    contacts_sandbox.add_fault(provider=provider, kind="429", retry_after=1, method=method, count=1)
    contacts_sandbox.add_fault(provider=provider, kind="500", method=method, count=2)
    contacts_sandbox.add_fault(provider=provider, kind="drop", method=method, count=1)  # at least one drop
    contacts_sandbox.add_fault(provider=provider, kind="drop", rate=0.2, count=None)  # then one request in five

    result = run_operator(sync(provider, table, tmp_path, batch_size=25), MemoryStore())

    fired = contacts_sandbox.state.faults.fired
    assert (fired[f"{provider}:429"], fired[f"{provider}:500"]) == (1, 2)
    assert fired[f"{provider}:drop"] >= 1, fired
    assert_adds_up(result)
    assert result["created"] == len(destination.landed_rows(frame)) and result["failed"] == 0, result
    assert_rejects(result, destination)
    assert_landed(contacts_sandbox, destination, frame)


@pytest.mark.parametrize("provider", ["mailtrap", "sendgrid"])
def test_a_failed_job_fails_the_task_naming_the_job_and_why(
    provider: str, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table, frame = contacts_table
    destination = DESTINATIONS[provider]
    fast_retries(monkeypatch, destination.conn_id)
    contacts_sandbox.add_fault(provider=provider, kind="fail_job", count=1)  # the first batch's job

    with pytest.raises(ImportJobFailedError) as failure:
        run_operator(sync(provider, table, tmp_path, batch_size=200), MemoryStore())

    found = re.search(r"1 import jobs failed \((\d+) contacts\): (\S+): (.+)", str(failure.value))
    assert found, str(failure.value)
    failed_contacts, job_id, reason = int(found[1]), found[2], found[3]
    assert get_contact_hook(destination.conn_id).get_import(job_id).status == ImportStatus.FAILED
    assert reason.strip()
    assert failed_contacts == 200
    # The failed job held the first 200 contacts sent; the other batches' contacts landed, once each.
    sent = frame.drop(index=sorted(destination.invalid | destination.duplicates))
    expected = sent.iloc[200:].drop(index=sorted(destination.provider_refused), errors="ignore")
    stored = contacts_sandbox.contacts(provider)
    assert sorted(contact["email"] for contact in stored) == sorted(expected["email"])
    assert {contact["_submissions"] for contact in stored} == {1}


def test_notifuse_behind_a_proxy_body_cap_lands_every_valid_row_once(
    contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    table, frame = contacts_table
    destination = DESTINATIONS["notifuse"]
    fast_retries(monkeypatch, destination.conn_id)
    contacts_sandbox.add_fault(provider="notifuse", kind="413", max_body=3_000, count=None)

    result = run_operator(sync("notifuse", table, tmp_path, batch_size=50), MemoryStore())

    assert contacts_sandbox.state.faults.fired["notifuse:413"] >= 1
    assert_adds_up(result)
    assert result["created"] == len(destination.landed_rows(frame)) and result["failed"] == 0, result
    assert_rejects(result, destination)
    assert_landed(contacts_sandbox, destination, frame)
