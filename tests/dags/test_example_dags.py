"""The example DAGs, run as users run them (``dag.test()``) against the sandbox and a real PostgreSQL
warehouse (or S3 through a moto server): every valid row lands once with its mapped values, and every
other row is rejected or reported as a duplicate, with counts that add up.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG
from airflow.utils.state import DagRunState, TaskInstanceState
from moto.server import ThreadedMotoServer

from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator
from airflow_contacts_provider.sandbox import Sandbox
from airflow_contacts_provider.sensors.import_status import ImportStatusSensor
from tests.dags.conftest import DAGS_FOLDER, ROWS, Warehouse

EXAMPLE_DAGS = {
    "mailtrap_from_postgres", "notifuse_from_postgres", "sendgrid_from_postgres", "migma_from_postgres",
    "s3_file_to_mailtrap", "contacts_demo",
}
JOB_DELAY = 2.0
"""Seconds a sandbox import job takes: long enough that the sensors' first poke finds it running."""


def mailtrap_fields(row: pd.Series) -> dict[str, Any]:
    return {"first_name": row.first_name, "last_name": row.last_name, "phone": row.phone, "country": row.country,
            "language": row.language, "company": row.company, "plan": row.plan,
            "signup_date": row.signup_date.date().isoformat(), "score": float(row.score), "list_ids": [1]}


def notifuse_fields(row: pd.Series) -> dict[str, Any]:
    return {"first_name": row.first_name, "last_name": row.last_name, "phone": row.phone, "country": row.country,
            "language": row.language, "custom_string_1": row.company, "custom_string_2": row.plan,
            "custom_number_1": float(row.score), "custom_datetime_1": f"{row.signup_date.date()}T00:00:00Z"}


def sendgrid_fields(row: pd.Series) -> dict[str, Any]:
    return {"first_name": row.first_name, "last_name": row.last_name, "phone_number": row.phone,
            "country": row.country}


def migma_fields(row: pd.Series) -> dict[str, Any]:
    return {"firstName": row.first_name, "lastName": row.last_name, "phone": row.phone, "country": row.country,
            "language": row.language, "customFields": {"company": row.company, "plan": row.plan},
            "tags": ["customers"]}


@dataclass
class Destination:
    """What one provider DAG should do with the warehouse's contacts."""

    provider: str
    fields: Callable[[pd.Series], dict[str, Any]]
    refused: tuple[str, ...]
    """Columns whose spoiled values this provider's mapping refuses (bad addresses always are)."""
    is_async: bool

    def bad_rows(self, warehouse: Warehouse) -> tuple[list[int], list[int]]:
        """Rows the sync must reject, and rows it must report as duplicates."""
        duplicates = warehouse.duplicates()
        rejected = {row for column in ("email", *self.refused) for row in warehouse.spoiled(column)}
        return sorted(rejected - set(duplicates)), duplicates


DESTINATIONS = {
    "mailtrap": Destination("mailtrap", mailtrap_fields, ("score",), is_async=True),
    "notifuse": Destination("notifuse", notifuse_fields, ("score",), is_async=False),
    "sendgrid": Destination("sendgrid", sendgrid_fields, (), is_async=True),
    "migma": Destination("migma", migma_fields, ("phone",), is_async=False),
}


def load_dag(dag_id: str) -> DAG:
    bag = DagBag(dag_folder=DAGS_FOLDER / f"{dag_id}.py")
    assert not bag.import_errors
    return bag.dags[dag_id]


def run_dag(dag: DAG, **test_args: Any) -> Any:
    """``dag.test()`` with the waits polling every half second instead of every minute."""
    for task in dag.tasks:
        if isinstance(task, ImportStatusSensor):
            task.poke_interval = 0.5
        if isinstance(task, BulkContactImportOperator):
            task.poll_interval = 0.5
    run = dag.test(**test_args)
    assert run.state == DagRunState.SUCCESS, {ti.task_id: ti.state for ti in run.get_task_instances()}
    return run


def results(run: Any) -> dict[str, Any]:
    """Each task's XCom return value (and instance), by task id."""
    return {ti.task_id: (ti, ti.xcom_pull(task_ids=ti.task_id)) for ti in run.get_task_instances()}


def assert_adds_up(result: dict[str, Any]) -> None:
    accounted = sum(result[key] for key in ("created", "updated", "rejected", "duplicates", "failed", "pending"))
    assert accounted == result["rows_read"], result
    assert sum(result["rejected_by_reason"].values()) == result["rejected"], result


def assert_landed(sandbox: Sandbox, destination: Destination, expected: pd.DataFrame) -> None:
    """The provider holds exactly the expected contacts, each submitted once, with their mapped values."""
    stored = {contact["email"]: contact for contact in sandbox.contacts(destination.provider)}
    assert sorted(stored) == sorted(expected["email"])
    assert {contact["_submissions"] for contact in stored.values()} == {1}
    for _, row in expected.iloc[::7].iterrows():
        wanted = destination.fields(row)
        assert {key: stored[row.email].get(key) for key in wanted} == wanted, row.email


def read_rejects(path: str) -> pd.DataFrame:
    parts = sorted(Path(path).glob("part-*.csv"))
    assert parts, f"no reject files under {path}"
    return pd.concat([pd.read_csv(part) for part in parts], ignore_index=True)


def assert_rejects(result: dict[str, Any], rejected: list[int], duplicates: list[int], base: Path) -> None:
    """The counts name the bad rows, and the rejects files (under ``base``) list each one, once."""
    assert result["rejected"] == len(rejected) and result["duplicates"] == len(duplicates), result
    assert Path(result["rejects_path"]).is_relative_to(base)
    rejects = read_rejects(result["rejects_path"])
    assert sorted(rejects["row_number"]) == sorted(rejected + duplicates)
    assert sorted(rejects.loc[rejects["kind"] == "duplicate", "row_number"]) == duplicates


# Parsing


def test_example_dags_parse_quickly_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any) -> None:
        raise AssertionError(f"a DAG file opened a connection at parse time: {args}")

    # The operator and sensor modules are imported above, so the durations are the DAG files' own.
    monkeypatch.setattr(socket.socket, "connect", no_network)
    bag = DagBag(dag_folder=DAGS_FOLDER)

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXAMPLE_DAGS
    for stat in bag.dagbag_stats:
        assert stat.duration < timedelta(seconds=1), stat


# The provider DAGs, from PostgreSQL


@pytest.mark.postgres
@pytest.mark.parametrize("provider", ["mailtrap", "notifuse", "sendgrid", "migma"])
def test_provider_dag_syncs_the_warehouse(provider: str, warehouse: Warehouse, contacts_sandbox: Sandbox,
                                          sendgrid_list: str, rejects_base: Path) -> None:
    destination = DESTINATIONS[provider]
    contacts_sandbox.state.job_delay = JOB_DELAY
    rejected, duplicates = destination.bad_rows(warehouse)

    run = run_dag(load_dag(f"{provider}_from_postgres"), run_conf={"contacts_table": warehouse.table})

    done = results(run)
    sync = done[f"sync_to_{provider}"][1]
    assert_adds_up(sync)
    assert sync["rows_read"] == ROWS
    expected = warehouse.contacts.drop(index=rejected + duplicates)
    if destination.is_async:
        assert sync["pending"] == len(expected) and sync["created"] == 0 and sync["job_ids"], sync
        sensor, jobs = done[f"wait_for_{provider}"]
        assert sensor.trigger_id is not None, "the sensor should have deferred: its jobs were still running"
        assert jobs["submitted"] == jobs["created"] == len(expected), jobs
        assert jobs["jobs"] == len(sync["job_ids"]) and jobs["rejected"] == 0 and not jobs["failed_jobs"], jobs
    else:
        assert sync["created"] == len(expected) and sync["pending"] == 0 and not sync["job_ids"], sync
    assert_rejects(sync, rejected, duplicates, rejects_base)
    assert_landed(contacts_sandbox, destination, expected)
    if provider == "sendgrid":
        listed = requests.get(f"{contacts_sandbox.base_url('sendgrid')}/v3/marketing/lists/{sendgrid_list}",
                              headers={"Authorization": f"Bearer {contacts_sandbox.state.tokens['sendgrid']}"},
                              timeout=10)
        assert listed.json()["contact_count"] == len(expected)


# A Parquet file on S3 (a moto server) into Mailtrap, waiting in the operator itself


@pytest.fixture
def lake_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto S3 server with an empty bucket, behind ``aws_default`` and the Variable ``contacts_lake_bucket``."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }))
    monkeypatch.setenv("AIRFLOW_VAR_CONTACTS_LAKE_BUCKET", "contacts-lake")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket="contacts-lake")
    yield s3
    server.stop()


def test_s3_parquet_dag_syncs_the_day_export(lake_bucket: Any, contacts_sandbox: Sandbox,
                                             rejects_base: Path) -> None:
    from airflow_contacts_provider.sandbox.synthetic import synthetic_contacts

    contacts_sandbox.state.job_delay = JOB_DELAY
    contacts = synthetic_contacts(ROWS, bad_every=20)
    contacts["score"] = pd.to_numeric(contacts["score"], errors="coerce")  # a typed column: "n/a" is NULL
    contacts["email"] = contacts["email"].astype(object).where(contacts["email"].notna(), None)
    table = pa.Table.from_pandas(contacts, preserve_index=False)
    body = pa.BufferOutputStream()
    pq.write_table(table, body, row_group_size=64)
    lake_bucket.put_object(Bucket="contacts-lake", Key="exports/contacts/2026-03-01/contacts.parquet",
                           Body=body.getvalue().to_pybytes())

    run = run_dag(load_dag("s3_file_to_mailtrap"), logical_date=datetime(2026, 3, 1, tzinfo=timezone.utc))

    sync_ti, sync = results(run)["sync_to_mailtrap"]
    warehouse = Warehouse("s3", contacts, synthetic_contacts(ROWS))
    duplicates = warehouse.duplicates()
    rejected = sorted(set(warehouse.spoiled("email")) - set(duplicates))
    expected = contacts.drop(index=rejected + duplicates)
    assert sync_ti.trigger_id is not None, "the sync should have deferred while Mailtrap's jobs ran"
    assert_adds_up(sync)
    assert sync["rows_read"] == ROWS and sync["created"] == len(expected) and sync["pending"] == 0, sync
    assert_rejects(sync, rejected, duplicates, rejects_base)
    stored = {contact["email"]: contact for contact in contacts_sandbox.contacts("mailtrap")}
    assert sorted(stored) == sorted(expected["email"])
    for _, row in expected.iloc[::7].iterrows():
        wanted = {"first_name": row.first_name, "company": row.company, "vip": bool(row.is_active),
                  "signup_date": row.signup_date.date().isoformat(), "list_ids": [2]}
        if not pd.isna(row.score):
            wanted["score"] = row.score
        assert {key: stored[row.email].get(key) for key in wanted} == wanted, row.email


# The demo: one warehouse, four providers, one report


@pytest.mark.postgres
def test_demo_dag_syncs_all_four_and_reports(warehouse: Warehouse, contacts_sandbox: Sandbox, sendgrid_list: str,
                                             rejects_base: Path, tmp_path: Path) -> None:
    contacts_sandbox.state.job_delay = JOB_DELAY
    report_path = tmp_path / "report.json"

    run = run_dag(load_dag("contacts_demo"),
                  run_conf={"contacts_table": warehouse.table, "report_path": str(report_path)})

    done = results(run)
    report = done["report"][1]
    assert json.loads(report_path.read_text()) == report
    assert set(report) == set(DESTINATIONS)
    for provider, destination in DESTINATIONS.items():
        rejected, duplicates = destination.bad_rows(warehouse)
        expected = warehouse.contacts.drop(index=rejected + duplicates)
        final = report[provider]
        assert_adds_up(final)
        assert (final["rows_read"], final["created"], final["updated"], final["pending"], final["failed"]) == (
            ROWS, len(expected), 0, 0, 0), final
        assert_rejects(final, rejected, duplicates, rejects_base)
        sync = done[f"sync_to_{provider}"][1]
        assert_adds_up(sync)
        assert sync["pending"] == (len(expected) if destination.is_async else 0), sync
        assert done[f"wait_for_{provider}"][0].state == TaskInstanceState.SUCCESS
        assert_landed(contacts_sandbox, destination, expected)
