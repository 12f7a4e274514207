"""The operator inside Airflow (``dag.test()``): a try that crashes mid-sync and its retry, deferral to the
triggerer and back, and what a failed task leaves in its log and XCom.

The DAGs are in ``tests/dags_for_tests/contacts_sync_dags.py``. ``dag.test()`` runs retries and
triggers in this process, and gives the task a task state store that survives its tries.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_contacts_provider.sandbox import Sandbox
from airflow_contacts_provider.sandbox.mailtrap import mailtrap_state
from tests.airflow_db import use_dags_folder
from tests.dags_for_tests import contacts_sync_dags
from tests.operators.e2e import (
    BAD_SCORE,
    DUPLICATE,
    INVALID_EMAIL,
    MISSING_EMAIL,
    ROWS,
    RUSSIAN_TLD,
    assert_adds_up,
    declare_connection,
    read_rejects,
    write_requests,
)

pytestmark = pytest.mark.postgres

DAGS_FOLDER = Path(contacts_sync_dags.__file__).parent
REFUSED = [INVALID_EMAIL, MISSING_EMAIL, BAD_SCORE]
"""Rows every test DAG's mapping refuses (each maps ``score``); ``DUPLICATE`` is the duplicate."""


@pytest.fixture
def dags(airflow_db: None, contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test DAGs runnable with ``dag.test()``, against the sandbox."""
    use_dags_folder(monkeypatch, DAGS_FOLDER)


def run(dag_id: str, table: str, tmp_path: Path, **conf: Any) -> tuple[Any, dict[str, Any]]:
    """Run a test DAG; return its run and the sync task's XCom result (``None`` if it failed)."""
    conf = {"table": table, "rejects_path": str(tmp_path / "rejects"), **conf}
    dag_run = contacts_sync_dags.DAGS[dag_id].test(run_conf=conf)
    sync = dag_run.get_task_instance("sync")
    return dag_run, sync.xcom_pull(task_ids="sync")


def valid_rows(frame: Any, *also_refused: int) -> Any:
    return frame.drop(index=[*REFUSED, DUPLICATE, *also_refused])


# -- a try that crashes after some batches, and its retry --------------------------------------------


@pytest.mark.parametrize("provider", ["mailtrap", "notifuse"])
def test_a_retried_sync_sends_no_contact_twice(
    provider: str, dags: None, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    table, frame = contacts_table
    requests_sent = write_requests(contacts_sandbox, provider)

    dag_run, result = run(f"contacts_retry_{provider}", table, tmp_path, crash_at=450)

    log = capfd.readouterr().out
    assert dag_run.state == DagRunState.SUCCESS
    assert dag_run.get_task_instance("sync").try_number == 2
    assert "division by zero" in log  # the first try died streaming row 450, after batches 1-3
    for batch in (1, 2, 3):
        assert f"Batch {batch} was sent by an earlier try" in log
    assert "Batch 4 was sent by an earlier try" not in log
    valid = valid_rows(frame)
    assert_adds_up(result)
    assert (result["rows_read"], result["created"], result["batches"]) == (ROWS, len(valid), 5), result
    assert requests_sent() == 5, "each of the 5 batches was sent once, over both tries"
    stored = contacts_sandbox.contacts(provider)
    assert sorted(contact["email"] for contact in stored) == sorted(valid["email"])
    assert {contact["_submissions"] for contact in stored} == {1}
    rejects = read_rejects(result["rejects_path"])
    assert sorted(rejects["row_number"]) == sorted([*REFUSED, DUPLICATE]), "the retry rewrote the rejects"


# -- deferral --------------------------------------------------------------------------------------------


def test_a_deferred_sync_resumes_and_adds_up_with_over_limit_contacts(
    dags: None, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
) -> None:
    table, frame = contacts_table
    mailtrap_state(contacts_sandbox.state).contact_limit = 450  # Mailtrap skips new contacts past its quota

    dag_run, result = run("contacts_deferred_mailtrap", table, tmp_path)

    assert dag_run.state == DagRunState.SUCCESS
    assert dag_run.get_task_instance("sync").trigger_id is not None, "the sync should have deferred"
    valid = valid_rows(frame)
    assert_adds_up(result)
    over = len(valid) - 450
    assert (result["created"], result["pending"], result["batches"]) == (450, 0, 5), result
    assert result["rejected_by_reason"]["over the account's contact limit"] == over, result
    assert result["rejected"] == len(REFUSED) + over
    assert len(result["job_ids"]) == 5
    stored = contacts_sandbox.contacts("mailtrap")
    assert len(stored) == 450 and {contact["_submissions"] for contact in stored} == {1}
    assert "@" not in json.dumps(result)
    # Mailtrap does not say which contacts were over the limit: the rejects list the rows we refused.
    assert sorted(read_rejects(result["rejects_path"])["row_number"]) == sorted([*REFUSED, DUPLICATE])


def test_a_deferred_sync_writes_the_provider_refusals_it_learns_after_resuming(
    dags: None, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
) -> None:
    table, frame = contacts_table

    dag_run, result = run("contacts_deferred_sendgrid", table, tmp_path)

    assert dag_run.state == DagRunState.SUCCESS
    assert dag_run.get_task_instance("sync").trigger_id is not None, "the sync should have deferred"
    valid = valid_rows(frame, RUSSIAN_TLD)
    assert_adds_up(result)
    assert (result["created"], result["rejected"], result["duplicates"]) == (len(valid), len(REFUSED) + 1, 1)
    stored = contacts_sandbox.contacts("sendgrid")
    assert sorted(contact["email"] for contact in stored) == sorted(valid["email"])
    rejects = read_rejects(result["rejects_path"])
    assert len(rejects) == result["rejected"] + result["duplicates"]
    refused = rejects[rejects["kind"] == "provider"]
    assert list(refused["email"]) == [frame.at[RUSSIAN_TLD, "email"]] and refused["reason"].str.strip().all()
    assert "@" not in json.dumps(result)


# -- secrets -----------------------------------------------------------------------------------------------


def test_a_wrong_token_fails_the_task_without_showing_it(
    dags: None, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    token = f"wrong-{uuid.uuid4().hex}"
    declare_connection(monkeypatch, "mailtrap_default", password=token)

    dag_run, result = run("contacts_plain_mailtrap", contacts_table[0], tmp_path)

    log = capfd.readouterr()
    assert dag_run.get_task_instance("sync").state == TaskInstanceState.FAILED
    assert "ProviderAuthError" in log.out and "refused the credentials" in log.out
    assert token not in log.out + log.err
    assert result is None
