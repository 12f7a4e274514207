"""SendGridMarketingHook against the sandbox over real HTTP: upload, job polling, errors, retries, limits."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

from airflow_contacts_provider.exceptions import (
    BatchTooLargeError,
    ConfigurationError,
    MappingError,
    ProviderAuthError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldType
from airflow_contacts_provider.hooks import sendgrid
from airflow_contacts_provider.hooks.sendgrid import SendGridMarketingHook
from airflow_contacts_provider.import_job import ImportJob, ImportStatus
from airflow_contacts_provider.sandbox.sendgrid import account
from airflow_contacts_provider.sandbox.server import Sandbox


def make_hook() -> SendGridMarketingHook:
    return SendGridMarketingHook(backoff_base=0.01)


def wait(hook: SendGridMarketingHook, job: ImportJob, timeout: float = 20) -> ImportJob:
    deadline = time.monotonic() + timeout
    while not job.is_terminal:
        assert time.monotonic() < deadline, f"job {job.job_id} did not finish"
        time.sleep(0.05)
        job = hook.get_import(job.job_id)
    return job


def stored(sandbox: Sandbox) -> dict[str, dict]:
    return {contact["email"]: contact for contact in sandbox.contacts("sendgrid")}


def assert_accounted(job: ImportJob) -> None:
    assert job.created is not None and job.updated is not None and job.rejected is not None
    assert job.created + job.updated + job.rejected + job.over_limit == job.submitted


CONTACTS = pd.DataFrame({
    "email": ["ann@example.com", "bob@example.com", "cid@example.com"],
    "first_name": ["Ann", "Bob", None],
    "num_orders": [3, 4.5, None],
    "dob": ["01/31/1990", None, "12/01/2001"],
})


def test_field_specs_come_from_field_definitions(contacts_sandbox: Sandbox) -> None:
    specs = make_hook().get_field_specs()
    assert specs["email"].required and specs["email"].type is FieldType.TEXT
    assert specs["first_name"].max_length == 50
    assert specs["num_orders"].type is FieldType.FLOAT and specs["dob"].type is FieldType.DATE
    assert specs["created_at"].read_only and not specs["city"].read_only


def test_import_creates_then_updates(contacts_sandbox: Sandbox) -> None:
    hook = make_hook()
    job = hook.submit_import(CONTACTS)
    assert job.status is ImportStatus.PENDING and job.submitted == 3
    done = wait(hook, job)
    assert (done.status, done.created, done.updated, done.rejected) == (ImportStatus.SUCCEEDED, 3, 0, 0)
    contacts = stored(contacts_sandbox)
    assert contacts["ann@example.com"]["first_name"] == "Ann"
    assert contacts["ann@example.com"]["num_orders"] == 3 and contacts["bob@example.com"]["num_orders"] == 4.5
    assert contacts["cid@example.com"]["dob"] == "2001-12-01"
    assert "first_name" not in contacts["cid@example.com"]  # a missing value is an empty cell, not sent

    changed = CONTACTS.assign(first_name=["Annie", None, "Cid"])
    again = wait(hook, hook.submit_import(changed.to_dict("records")))
    assert (again.created, again.updated, again.rejected) == (0, 3, 0)
    contacts = stored(contacts_sandbox)
    assert contacts["ann@example.com"]["first_name"] == "Annie"
    assert contacts["bob@example.com"]["first_name"] == "Bob"  # left empty: kept
    assert contacts["cid@example.com"]["first_name"] == "Cid"
    assert contacts["ann@example.com"]["_submissions"] == 2


def test_a_netrc_entry_does_not_replace_the_connections_credentials(
    contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # requests sends a matching ~/.netrc entry as Basic auth unless given auth of its own: the
    # API would refuse it (401), and the upload URL refuses any Authorization header (400).
    netrc = tmp_path / "netrc"
    netrc.write_text("default login someone password not-the-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    hook = make_hook()
    done = wait(hook, hook.submit_import(CONTACTS))
    assert (done.status, done.created) == (ImportStatus.SUCCEEDED, 3)


def test_dates_and_awkward_text_are_written_as_sendgrid_reads_them(contacts_sandbox: Sandbox) -> None:
    hook = make_hook()
    frame = pd.DataFrame({
        "dob": pd.to_datetime(["1990-01-31", None]),
        "email": ["q@example.com", "r@example.com"],
        "city": ['New "York", NY', "Zürich\nline two"],
    })
    assert wait(hook, hook.submit_import(frame)).created == 2
    contacts = stored(contacts_sandbox)
    assert contacts["q@example.com"]["dob"] == "1990-01-31" and "dob" not in contacts["r@example.com"]
    assert contacts["q@example.com"]["city"] == 'New "York", NY'
    assert contacts["r@example.com"]["city"] == "Zürich\nline two"


def test_contacts_are_added_to_lists(contacts_sandbox: Sandbox) -> None:
    hook = make_hook()
    base = contacts_sandbox.base_url("sendgrid")
    headers = {"Authorization": f"Bearer {contacts_sandbox.state.tokens['sendgrid']}"}
    list_id = requests.post(f"{base}/v3/marketing/lists", json={"name": "vip"}, headers=headers,
                            timeout=10).json()["id"]
    assert wait(hook, hook.submit_import(CONTACTS, list_ids=[list_id])).created == 3
    count = requests.get(f"{base}/v3/marketing/lists/{list_id}", headers=headers, timeout=10).json()
    assert count["contact_count"] == 3


def test_unknown_list_is_refused_with_sendgrids_message(contacts_sandbox: Sandbox) -> None:
    with pytest.raises(ProviderRequestError, match="lists not found"):
        make_hook().submit_import(CONTACTS, list_ids=["no-such-list"])


def test_rejected_rows_come_back_with_their_batch_position(contacts_sandbox: Sandbox) -> None:
    hook = make_hook()
    frame = pd.DataFrame({
        "email": ["ok@example.com", "not-an-email", "n@example.com", "d@example.com", "OK2@Example.com"],
        "num_orders": ["1", None, "lots", None, "2"],
        "dob": [None, None, None, "1990-31-01", None],
    }, index=[100, 101, 102, 103, 104])  # a source chunk's index: positions still count from 0
    job = hook.submit_import(frame)
    files = hook._import_files.directory
    assert files is not None
    assert len(list(files.iterdir())) == 1, "the import file waits on disk, to place the rows SendGrid rejects"
    done = wait(hook, job)
    assert list(files.iterdir()) == [], "and goes once the job has finished"
    assert done.status is ImportStatus.SUCCEEDED
    assert (done.created, done.updated, done.rejected) == (2, 0, 3)
    assert_accounted(done)
    assert [(e.email, e.index) for e in done.row_errors] == [
        ("not-an-email", 1), ("n@example.com", 2), ("d@example.com", 3)]
    assert "number" in done.row_errors[1].reason and "MM/DD/YYYY" in done.row_errors[2].reason
    assert set(stored(contacts_sandbox)) == {"ok@example.com", "ok2@example.com"}


def test_rejected_emails_are_placed_by_reading_the_import_file_back(tmp_path: Path) -> None:
    emails = [f"user{i}@example.com" for i in range(120_000)]  # a file of several read blocks
    emails[5], emails[100_000] = "Twice@Example.com", "twice@example.com"
    cities = ["line one\nline two" if i % 7 == 0 else "Paris" for i in range(len(emails))]
    path = tmp_path / "import.csv.gz"
    with open(path, "w+b") as file:
        make_hook()._write_gzip_csv([pd.DataFrame({"email": emails, "city": cities})], ["email", "city"], set(), file)
    found = sendgrid._Submitted(len(emails), path).positions(
        [" USER119999@example.com", "twice@example.com", "nobody@example.com", "user70000@example.com"])
    assert found.tolist() == [119_999, 5, -1, 70_000]


def test_a_batch_whose_rows_all_fail_is_a_failed_job(contacts_sandbox: Sandbox) -> None:
    hook = make_hook()
    done = wait(hook, hook.submit_import([{"email": "nope"}, {"email": "nope2"}]))
    assert done.status is ImportStatus.FAILED
    assert (done.created, done.updated, done.rejected) == (0, 0, 2)
    assert [e.index for e in done.row_errors] == [0, 1]
    assert "email is invalid" in (done.message or "")


def test_an_injected_job_failure_is_reported(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="sendgrid", kind="fail_job")
    hook = make_hook()
    done = wait(hook, hook.submit_import(CONTACTS))
    assert done.status is ImportStatus.FAILED and done.rejected == 3
    assert "could not be processed" in (done.message or "")
    assert stored(contacts_sandbox) == {}


def test_429_retry_after_is_honoured(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="sendgrid", kind="429", retry_after=1, path="/contacts/imports",
                               method="PUT")
    hook = make_hook()
    started = time.monotonic()
    job = hook.submit_import(CONTACTS)
    assert time.monotonic() - started >= 0.9
    assert wait(hook, job).created == 3


def test_429_without_retry_after_waits_for_the_rate_limit_reset(contacts_sandbox: Sandbox) -> None:
    account(contacts_sandbox.state).rate_limit = (1, 1.0)
    hook = make_hook()
    assert hook.test_connection()[0]
    started = time.monotonic()
    ok, _ = hook.test_connection()  # over the limit: 429 with X-RateLimit-Reset, then retried
    assert ok
    assert time.monotonic() - started >= 0.2
    assert contacts_sandbox.state.extras["sendgrid"].calls["GET field_definitions"] == 3


def test_5xx_is_retried(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="sendgrid", kind="503", count=2, path="/contacts/imports")
    contacts_sandbox.add_fault(provider="sendgrid", kind="500", count=1, path="/upload/")
    hook = make_hook()
    assert wait(hook, hook.submit_import(CONTACTS)).created == 3


@pytest.mark.parametrize("after", [False, True])
def test_dropped_upload_is_sent_again_whole(contacts_sandbox: Sandbox, after: bool) -> None:
    contacts_sandbox.add_fault(provider="sendgrid", kind="drop", path="/upload/", after=after)
    hook = make_hook()
    done = wait(hook, hook.submit_import(CONTACTS))
    assert (done.created, done.updated) == (3, 0)
    assert contacts_sandbox.state.faults.fired["sendgrid:drop"] == 1
    assert all(count == 1 for count in contacts_sandbox.submissions("sendgrid").values())


def test_wrong_token_fails_fast_without_leaking_it(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "sendgrid_marketing", "host": contacts_sandbox.base_url("sendgrid"),
            "password": "SG.not-the-right-key"}
    monkeypatch.setenv("AIRFLOW_CONN_SENDGRID_WRONG", json.dumps(conn))
    hook = SendGridMarketingHook("sendgrid_wrong", backoff_base=0.01)
    with pytest.raises(ProviderAuthError) as raised:
        hook.submit_import(CONTACTS)
    assert "sendgrid_wrong" in str(raised.value) and "SG.not-the-right-key" not in str(raised.value)
    assert "authorization required" in str(raised.value)
    assert account(contacts_sandbox.state).calls["GET field_definitions"] == 1  # not retried
    ok, message = hook.test_connection()
    assert not ok and "sendgrid_wrong" in message and "SG.not-the-right-key" not in message


def test_test_connection(contacts_sandbox: Sandbox) -> None:
    ok, message = make_hook().test_connection()
    assert ok and "custom" in message


def test_batch_over_one_million_is_refused_before_sending(contacts_sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"email": pd.Series(["a@example.com"]).repeat(1_000_001).to_numpy()})
    with pytest.raises(BatchTooLargeError):
        make_hook().submit_import(frame)
    assert sum(account(contacts_sandbox.state).calls.values()) == 0


def test_file_over_the_byte_limit_is_refused_before_upload(contacts_sandbox: Sandbox) -> None:
    class SmallFileHook(SendGridMarketingHook):
        max_batch_bytes = 64

    frame = pd.DataFrame({"email": [f"user{i}@example.com" for i in range(200)]})
    hook = SmallFileHook(backoff_base=0.01)
    with pytest.raises(BatchTooLargeError, match="Nothing was sent"):
        hook.submit_import(frame)
    sg = account(contacts_sandbox.state)
    assert sg.calls["PUT contacts/imports"] == 0 and sg.imports == {}
    files = hook._import_files.directory
    assert files is not None and list(files.iterdir()) == [], "the refused batch left no file"


def test_a_file_the_service_finds_too_large_fails_the_job(contacts_sandbox: Sandbox) -> None:
    account(contacts_sandbox.state).max_file_bytes = 40
    hook = make_hook()
    done = wait(hook, hook.submit_import(CONTACTS))
    assert done.status is ImportStatus.FAILED and "larger than the import limit" in (done.message or "")


def test_unknown_or_read_only_fields_and_exclusions_are_refused_before_importing(contacts_sandbox: Sandbox) -> None:
    hook = make_hook()
    with pytest.raises(MappingError, match="shoe_size"):
        hook.submit_import([{"email": "a@example.com", "shoe_size": 42}])
    with pytest.raises(MappingError, match="read-only"):
        hook.submit_import([{"email": "a@example.com", "created_at": "01/01/2020"}])
    with pytest.raises(MappingError, match="email"):
        hook.submit_import([{"first_name": "A"}])
    with pytest.raises(ConfigurationError, match="exclude"):
        hook.submit_import(CONTACTS, exclude_list_ids=["x"])
    assert account(contacts_sandbox.state).calls["PUT contacts/imports"] == 0


def test_aget_import_reads_status_and_errors(contacts_sandbox: Sandbox) -> None:
    hook = make_hook()
    job = hook.submit_import([{"email": "good@example.com"}, {"email": "bad"}])
    wait(SendGridMarketingHook(), ImportJob(provider="sendgrid", job_id=job.job_id,
                                            status=ImportStatus.PENDING, submitted=2))
    done = asyncio.run(hook.aget_import(job.job_id))
    assert (done.status, done.created, done.rejected) == (ImportStatus.SUCCEEDED, 1, 1)
    assert [(e.email, e.index) for e in done.row_errors] == [("bad", 1)]
    # Another hook (a trigger's) knows the job only by id: errors come without positions.
    other = asyncio.run(SendGridMarketingHook().aget_import(job.job_id))
    assert other.submitted == 2 and [(e.email, e.index) for e in other.row_errors] == [("bad", None)]


def test_aget_import_of_a_pending_job(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.job_delay = 5
    hook = make_hook()
    job = hook.submit_import(CONTACTS)
    pending = asyncio.run(hook.aget_import(job.job_id))
    assert pending.status is ImportStatus.PENDING and pending.submitted == 3 and not pending.is_terminal
