"""ImportStatusSensor inside Airflow (``dag.test()``), waiting on the jobs of a sync that did not wait.

Poke mode waits in the worker; deferrable mode hands the wait to the trigger, which ``dag.test()``
runs in this process. Both must return the jobs' totals, or fail with a failed job's errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_contacts_provider.sandbox import Sandbox
from tests.airflow_db import use_dags_folder
from tests.dags_for_tests import contacts_sync_dags
from tests.operators.e2e import BAD_SCORE, DUPLICATE, INVALID_EMAIL, MISSING_EMAIL

pytestmark = pytest.mark.postgres

DAGS_FOLDER = Path(contacts_sync_dags.__file__).parent
JOB_DELAY = 1.0
"""Seconds a sandbox job runs: long enough that the sensor's first poke finds it unfinished."""


@pytest.fixture
def dags(airflow_db: None, contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test DAGs runnable with ``dag.test()``, against the sandbox, with jobs that take a while."""
    use_dags_folder(monkeypatch, DAGS_FOLDER)
    contacts_sandbox.state.job_delay = JOB_DELAY


def run(mode: str, table: str, tmp_path: Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Run the sync-then-wait DAG; return the run and the two tasks' XCom results."""
    dag_run = contacts_sync_dags.DAGS[f"contacts_sensor_{mode}"].test(
        run_conf={"table": table, "rejects_path": str(tmp_path / "rejects")})
    sync, wait = (dag_run.get_task_instance(task_id) for task_id in ("sync", "wait"))
    return dag_run, sync.xcom_pull(task_ids="sync"), wait.xcom_pull(task_ids="wait")


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_the_sensor_returns_the_totals_of_finished_jobs(
    mode: str, dags: None, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
) -> None:
    table, frame = contacts_table
    valid = len(frame) - len([INVALID_EMAIL, MISSING_EMAIL, BAD_SCORE, DUPLICATE])

    dag_run, sync, totals = run(mode, table, tmp_path)

    assert dag_run.state == DagRunState.SUCCESS
    assert sync["pending"] == valid and len(sync["job_ids"]) == 5, sync
    assert totals == {"jobs": 5, "submitted": valid, "created": valid, "updated": 0, "rejected": 0,
                      "over_limit": 0, "failed_jobs": [], "rejected_by_reason": {}}
    sensor = dag_run.get_task_instance("wait")
    if mode == "deferrable":
        assert sensor.trigger_id is not None, "the first poke found the jobs running: it should have deferred"
    else:
        assert sensor.trigger_id is None
    assert len(contacts_sandbox.contacts("mailtrap")) == valid


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_the_sensor_fails_with_the_errors_of_a_failed_job(
    mode: str, dags: None, contacts_table: tuple[str, Any], contacts_sandbox: Sandbox, tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    contacts_sandbox.add_fault(provider="mailtrap", kind="fail_job", count=1)  # the first batch's job

    dag_run, sync, totals = run(mode, contacts_table[0], tmp_path)

    log = capfd.readouterr().out
    assert dag_run.get_task_instance("sync").state == TaskInstanceState.SUCCESS
    assert dag_run.get_task_instance("wait").state == TaskInstanceState.FAILED
    assert totals is None
    first_job = sync["job_ids"][0]
    assert f"ImportJobFailedError: mailtrap import {first_job} failed: Mailtrap reported the import job as " \
           "failed." in log
