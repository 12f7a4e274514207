"""BulkContactImportOperator end to end: PostgreSQL rows in, sandbox contacts out, every row accounted for.

The operator runs its ``execute`` directly (with an in-memory task state store) against the
sandbox over HTTP and a real PostgreSQL table; ``test_dag_runs.py`` runs it inside Airflow.
"""

from __future__ import annotations

import json
import traceback
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from airflow_contacts_provider.exceptions import (
    ConfigurationError,
    ContactsProviderError,
    MappingError,
    ProviderAuthError,
)
from airflow_contacts_provider.hooks.base import get_contact_hook
from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator, _use_lean_allocators
from airflow_contacts_provider.sandbox import Sandbox
from airflow_contacts_provider.sources import ContactSource
from tests.operators.e2e import (
    DESTINATIONS,
    POSTGRES_CONN_ID,
    ROWS,
    MemoryStore,
    assert_adds_up,
    assert_landed,
    assert_rejects,
    connect,
    declare_connection,
    run_operator,
    write_requests,
)

pytestmark = pytest.mark.postgres


def sync(provider: str, table: str, tmp_path: Path, **overrides: Any) -> BulkContactImportOperator:
    destination = DESTINATIONS[provider]
    arguments: dict[str, Any] = {
        "task_id": f"sync_{provider}", "destination_conn_id": destination.conn_id, "source_conn_id": POSTGRES_CONN_ID,
        "sql": f"SELECT * FROM {table} ORDER BY id", "mapping": destination.mapping, "batch_size": 150,
        "chunk_size": 100, "poll_interval": 0.1, "rejects_path": str(tmp_path / f"rejects-{uuid.uuid4().hex[:6]}"),
        **overrides,
    }
    return BulkContactImportOperator(**arguments)


# -- what lands, what is rejected, and a second run ------------------------------------------------


@pytest.mark.parametrize("provider", DESTINATIONS)
def test_sync_lands_exactly_the_valid_rows_and_a_rerun_updates_them(
    provider: str, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path
) -> None:
    table, frame = contacts_table
    destination = DESTINATIONS[provider]
    landed = len(destination.landed_rows(frame))

    first = run_operator(sync(provider, table, tmp_path), MemoryStore())

    assert_adds_up(first)
    assert first["rows_read"] == ROWS
    assert (first["created"], first["updated"], first["failed"], first["pending"]) == (landed, 0, 0, 0), first
    assert first["batches"] == -(-(landed + len(destination.provider_refused)) // 150)
    assert_rejects(first, destination)
    assert_landed(contacts_sandbox, destination, frame)
    assert "@" not in json.dumps(first), "the reconciliation (XCom) must carry no address"

    second = run_operator(sync(provider, table, tmp_path), MemoryStore())

    assert_adds_up(second)
    assert (second["created"], second["updated"]) == (0, landed), second
    assert_rejects(second, destination)
    stored = contacts_sandbox.contacts(provider)
    assert len(stored) == landed and {contact["_submissions"] for contact in stored} == {2}


# -- bad configuration fails before anything is sent ---------------------------------------------------


BAD_SETTINGS: dict[str, tuple[dict[str, Any], type[Exception], str]] = {
    "unknown destination field": ({"mapping": {"email": "email", "plan": "no_such_field"}}, MappingError,
                                  "no_such_field"),
    "missing email column": ({"email_column": "mail"}, MappingError, "mail"),
    "neither sql nor path": ({"sql": None}, ConfigurationError, "exactly one"),
    "both sql and path": ({"path": "/tmp/contacts.csv"}, ConfigurationError, "exactly one"),
    "a database as destination": ({"destination_conn_id": POSTGRES_CONN_ID}, ConfigurationError,
                                  "not one of this provider's"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_bad_configuration_fails_before_anything_is_sent(
    case: str, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path
) -> None:
    overrides, error, words = BAD_SETTINGS[case]
    sent = write_requests(contacts_sandbox, "mailtrap")

    with pytest.raises(error, match=words):
        run_operator(sync("mailtrap", contacts_table[0], tmp_path, **overrides))

    assert sent() == 0 and contacts_sandbox.contacts("mailtrap") == []


@pytest.mark.parametrize("provider", DESTINATIONS)
def test_batch_size_above_the_provider_limit_fails_before_anything_is_sent(
    provider: str, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path
) -> None:
    limit = get_contact_hook(DESTINATIONS[provider].conn_id).max_batch_size
    sent = write_requests(contacts_sandbox, provider)

    with pytest.raises(ConfigurationError, match=f"batch_size={limit + 1} is outside 1..{limit}"):
        run_operator(sync(provider, contacts_table[0], tmp_path, batch_size=limit + 1))

    assert sent() == 0 and contacts_sandbox.contacts(provider) == []


@pytest.mark.parametrize(("provider", "chunk_size"), [("mailtrap", 25_000), ("notifuse", 20_000), ("migma", 20_000)])
def test_chunk_size_defaults_to_the_destinations(
    provider: str, chunk_size: int, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    read_chunks = ContactSource.iter_chunks

    def spied(source: ContactSource, size: int) -> Any:
        asked.append(size)
        return read_chunks(source, size)

    monkeypatch.setattr(ContactSource, "iter_chunks", spied)
    result = run_operator(sync(provider, contacts_table[0], tmp_path, chunk_size=None))

    assert asked == [chunk_size] == [get_contact_hook(DESTINATIONS[provider].conn_id).default_chunk_size]
    assert_adds_up(result)
    assert result["rows_read"] == ROWS


def test_too_many_rejects_stop_the_sync_before_sending(
    contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path
) -> None:
    sent = write_requests(contacts_sandbox, "mailtrap")

    # The first chunk (100 rows) holds 3 invalid rows: 3 % > 1 %.
    with pytest.raises(ContactsProviderError, match=r"3\.0% of rows were rejected after the first rows"):
        run_operator(sync("mailtrap", contacts_table[0], tmp_path, max_reject_ratio=0.01))

    assert sent() == 0 and contacts_sandbox.contacts("mailtrap") == []


# -- secrets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", DESTINATIONS)
def test_a_wrong_token_fails_without_showing_it(
    provider: str, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    destination = DESTINATIONS[provider]
    token = f"wrong-{uuid.uuid4().hex}"
    declare_connection(monkeypatch, destination.conn_id, password=token, extra={"backoff_base": 0.01})

    with pytest.raises(ProviderAuthError) as failure:
        run_operator(sync(provider, contacts_table[0], tmp_path))

    shown = "".join(traceback.format_exception(failure.value)) + capfd.readouterr().out + caplog.text
    assert "refused the credentials" in str(failure.value)
    assert token not in shown
    assert contacts_sandbox.contacts(provider) == []
    with connect() as database:  # the failed sync closed its source stream: no session holds the table
        held = database.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND pid <> "
                                  "pg_backend_pid()", (contacts_table[0],)).fetchone()
    assert held == (0,)


# -- a retry that finds the source in another order -----------------------------------------------------


def test_a_retry_refuses_to_skip_batches_when_the_source_order_changed(
    contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path
) -> None:
    table, _ = contacts_table
    store = MemoryStore()  # shared by both tries, as Airflow's task state store is
    run_operator(sync("mailtrap", table, tmp_path), store)
    with connect() as database:
        database.execute(f"UPDATE {table} SET id = -1 WHERE id = 250")  # row 250 now comes first
    sent = write_requests(contacts_sandbox, "mailtrap")

    with pytest.raises(ConfigurationError, match="Batch 1 differs from the one an earlier try sent .* ORDER BY"):
        run_operator(sync("mailtrap", table, tmp_path), store)

    assert sent() == 0
    assert {contact["_submissions"] for contact in contacts_sandbox.contacts("mailtrap")} == {1}


def test_a_sync_allocates_arrow_memory_with_the_c_allocator() -> None:
    # Arrow's bundled jemalloc keeps freed pages; the C allocator gives them back (and, on glibc,
    # is held to two arenas). The choice is the task process's own.
    _use_lean_allocators()
    assert pa.default_memory_pool().backend_name == "system"
