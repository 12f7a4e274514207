"""ImportStatusTrigger polling real sandbox jobs over HTTP, run as the triggerer runs it (``run()`` in an
event loop): one event, whatever happens on the way.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pandas as pd
import pytest
from airflow.sdk._shared.module_loading import import_string
from airflow.triggers.base import TriggerEvent

from airflow_contacts_provider.hooks.base import get_contact_hook
from airflow_contacts_provider.sandbox import Sandbox
from airflow_contacts_provider.triggers.import_status import ImportStatusTrigger
from tests.operators.e2e import declare_connection

CONN_IDS = {"mailtrap": "mailtrap_default", "sendgrid": "sendgrid_marketing_default"}
CONTACTS = pd.DataFrame({"email": [f"trigger{i}@example.com" for i in range(30)],
                         "first_name": [f"Name {i}" for i in range(30)]})


def submit(provider: str, rows: pd.DataFrame = CONTACTS) -> str:
    """Start an import job in the sandbox; its id."""
    job = get_contact_hook(CONN_IDS[provider]).submit_import(rows)
    assert not job.is_terminal, "the job should still be running when the trigger starts"
    return job.job_id


def events(trigger: ImportStatusTrigger) -> list[TriggerEvent]:
    """Every event ``run()`` yields, until it returns."""
    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def trigger_for(provider: str, job_ids: list[str], seconds: float = 30.0) -> ImportStatusTrigger:
    return ImportStatusTrigger(conn_id=CONN_IDS[provider], job_ids=job_ids, poll_interval=0.05,
                               end_time=time.time() + seconds)


@pytest.mark.parametrize("provider", CONN_IDS)
def test_one_success_event_with_the_finished_jobs(provider: str, contacts_sandbox: Sandbox) -> None:
    job_ids = [submit(provider), submit(provider, CONTACTS.iloc[:10])]

    found = events(trigger_for(provider, job_ids))

    assert len(found) == 1
    event = found[0].payload
    assert event["status"] == "success"
    assert [job["job_id"] for job in event["jobs"]] == job_ids
    assert [job["status"] for job in event["jobs"]] == ["succeeded", "succeeded"]
    assert [job["created"] for job in event["jobs"]] == [30, 0]  # the second job's 10 were already there
    assert [job["updated"] for job in event["jobs"]] == [0, 10]
    assert "@" not in json.dumps(event)


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_transient_failures_are_polled_again(kind: str, contacts_sandbox: Sandbox,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    declare_connection(monkeypatch, "mailtrap_default", extra={"max_retries": 1, "backoff_base": 0.01})
    job_id = submit("mailtrap")
    # Six failures in a row: more than one poll's retries (two tries) can absorb.
    contacts_sandbox.add_fault(provider="mailtrap", kind=kind, method="GET", path="/imports/", count=6)

    found = events(trigger_for("mailtrap", [job_id]))

    assert contacts_sandbox.state.faults.fired[f"mailtrap:{kind}"] == 6
    assert [event.payload["status"] for event in found] == ["success"]
    assert found[0].payload["jobs"][0]["created"] == len(CONTACTS)


def test_a_failed_job_ends_in_an_error_event_with_the_job(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="mailtrap", kind="fail_job", count=1)
    failed, fine = submit("mailtrap"), submit("mailtrap", CONTACTS.iloc[:5])

    found = events(trigger_for("mailtrap", [failed, fine]))

    assert len(found) == 1
    event = found[0].payload
    assert event["status"] == "error" and failed in event["message"] and fine not in event["message"]
    assert [job["status"] for job in event["jobs"]] == ["failed", "succeeded"]


def test_timeout_at_end_time(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.job_delay = 30.0
    job_id = submit("mailtrap")
    started = time.monotonic()

    found = events(trigger_for("mailtrap", [job_id], seconds=0.3))

    assert 0.3 <= time.monotonic() - started < 3
    assert [event.payload["status"] for event in found] == ["timeout"]
    assert job_id in found[0].payload["message"] and found[0].payload["jobs"] == []


def test_refused_credentials_end_in_an_error_event_without_the_token(
    contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit("mailtrap")
    token = f"wrong-{uuid.uuid4().hex}"
    declare_connection(monkeypatch, "mailtrap_default", password=token)

    found = events(trigger_for("mailtrap", [job_id]))

    assert [event.payload["status"] for event in found] == ["error"]
    assert "refused the credentials" in found[0].payload["message"]
    assert token not in json.dumps(found[0].payload)


def test_serialize_round_trips() -> None:
    trigger = ImportStatusTrigger(conn_id="mailtrap_default", job_ids=["1", "2"], poll_interval=2.5,
                                  end_time=1_900_000_000.5)

    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))

    assert classpath == "airflow_contacts_provider.triggers.import_status.ImportStatusTrigger"
    assert rebuilt.serialize() == (classpath, kwargs)
