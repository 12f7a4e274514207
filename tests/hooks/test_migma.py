"""MigmaHook over real HTTP against the sandbox's Migma emulator."""

from __future__ import annotations

import asyncio
import json
import time

import msgspec
import numpy as np
import pandas as pd
import pytest

from airflow_contacts_provider.exceptions import (
    BatchTooLargeError,
    ConfigurationError,
    MappingError,
    ProviderAuthError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldType
from airflow_contacts_provider.hooks.migma import MigmaHook, build_subscribers, reconcile_counts, row_errors
from airflow_contacts_provider.import_job import ImportJob, ImportStatus
from airflow_contacts_provider.json_rows import json_array
from airflow_contacts_provider.sandbox.server import Sandbox


def _hook(conn_id: str | None = None) -> MigmaHook:
    return MigmaHook(conn_id, backoff_base=0.01)


def _connection(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, conn_id: str, **changes: object) -> None:
    conn = sandbox.connections()["migma_default"]
    extra = {**conn["extra"], **changes.pop("extra", {})}  # type: ignore[dict-item]
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, **changes, "extra": extra}))


def _frame(n: int, first_name: str = "Ada") -> pd.DataFrame:
    return pd.DataFrame({
        "email": [f"user{i}@example.com" for i in range(n)],
        "firstName": [f"{first_name}{i}" for i in range(n)],
        "customFields.plan": ["pro"] * n,
    })


def _adds_up(job: ImportJob) -> bool:
    return (job.created or 0) + (job.updated or 0) + (job.rejected or 0) + job.over_limit == job.submitted


def _wait(hook: MigmaHook, job: ImportJob) -> ImportJob:
    deadline = time.monotonic() + 10
    while not job.is_terminal and time.monotonic() < deadline:
        time.sleep(0.05)
        job = hook.get_import(job.job_id)
    return job


def test_field_specs_declare_migma_subscriber_keys() -> None:
    specs = MigmaHook().get_field_specs()
    assert specs["email"].required
    assert specs["phone"].max_length == 30
    assert specs["status"].choices == ("subscribed", "unsubscribed", "bounced", "non-subscribed")
    assert specs["tags"].type is FieldType.TAGS
    assert specs["customFields.*"].type is FieldType.JSON


def test_import_creates_then_updates(contacts_sandbox: Sandbox) -> None:
    hook = _hook()
    first = hook.submit_import(_frame(3))
    assert first.status is ImportStatus.SUCCEEDED and first.job_id.startswith("migma-")
    assert (first.submitted, first.created, first.updated, first.rejected) == (3, 3, 0, 0)
    assert len(contacts_sandbox.contacts("migma")) == 3

    second = hook.submit_import(_frame(3, first_name="Grace"))
    assert (second.created, second.updated, second.rejected) == (0, 3, 0)
    stored = {c["email"]: c for c in contacts_sandbox.contacts("migma")}
    assert stored["user1@example.com"]["firstName"] == "Grace1"
    assert stored["user1@example.com"]["customFields"] == {"plan": "pro"}
    assert stored["user1@example.com"]["_submissions"] == 2


def test_a_batch_streamed_as_frames(contacts_sandbox: Sandbox) -> None:
    frame = _frame(5)
    job = _hook().submit_import(iter([frame.iloc[:2], frame.iloc[2:]]))
    assert (job.submitted, job.created) == (5, 5)
    assert len(contacts_sandbox.contacts("migma")) == 5


def test_an_empty_batch_sends_nothing(contacts_sandbox: Sandbox) -> None:
    job = _hook().submit_import([])
    assert (job.status, job.submitted, job.created, job.updated, job.rejected) == (ImportStatus.SUCCEEDED, 0, 0,
                                                                                   0, 0)
    assert contacts_sandbox.state.extras.get("migma", {}).get("bulk_requests", 0) == 0


def test_missing_values_are_left_out(contacts_sandbox: Sandbox) -> None:
    frame = pd.DataFrame({
        "email": ["a@example.com", "b@example.com"],
        "firstName": ["Ada", None],
        "lastName": [np.nan, "Lovelace"],
        "customFields.score": [np.nan, 7.5],
        "tags": [["vip"], None],
    })
    job = _hook().submit_import(frame)
    assert (job.created, job.rejected) == (2, 0)
    sent = contacts_sandbox.state.extras["migma"]["last_subscribers"]
    assert sent == [
        {"email": "a@example.com", "firstName": "Ada", "tags": ["vip"]},
        {"email": "b@example.com", "lastName": "Lovelace", "customFields": {"score": 7.5}},
    ]


def test_list_ids_become_tags(contacts_sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"email": ["a@example.com", "b@example.com"], "tags": [["vip", "news"], None]})
    _hook().submit_import(frame, list_ids=["news", 42])
    stored = {c["email"]: c["tags"] for c in contacts_sandbox.contacts("migma")}
    assert stored == {"a@example.com": ["vip", "news", "42"], "b@example.com": ["news", "42"]}


def test_prepared_chunk_sends_what_plain_batches_send(contacts_sandbox: Sandbox) -> None:
    """A chunk encoded at once (prepare_contacts), cut into batches, gets the batch's tags as plain frames do."""
    frame = pd.DataFrame({
        "email": [f"p{i}@example.com" for i in range(6)],
        "firstName": pd.Series(["Zoë", None, 'say "hi"', "Ann", None, "Bo"], dtype="str"),
        "customFields.seats": pd.Series([3, None, 5, None, 1, 2], dtype="Int64"),
    })
    hook = _hook()
    prepared = hook.prepare_contacts(frame)
    assert list(prepared.index) == list(frame.index)
    for start in (0, 4):  # a batch spanning both halves of the chunk, then the rest
        hook.submit_import([prepared.iloc[start:start + 2], prepared.iloc[start + 2:start + 4]], list_ids=["news", 7])
    by_prepared = contacts_sandbox.state.extras["migma"]["last_subscribers"]
    hook.submit_import(frame.iloc[4:], list_ids=["news", 7])
    assert by_prepared == contacts_sandbox.state.extras["migma"]["last_subscribers"]
    stored = {c["email"]: (c.get("firstName"), c["tags"]) for c in contacts_sandbox.contacts("migma")}
    assert stored["p2@example.com"] == ('say "hi"', ["news", "7"])
    assert all(tags == ["news", "7"] for _, tags in stored.values()) and len(stored) == 6
    hook.submit_import(hook.prepare_contacts(frame.iloc[:1]))
    assert contacts_sandbox.state.extras["migma"]["last_subscribers"] == [{"email": "p0@example.com",
                                                                            "firstName": "Zoë",
                                                                            "customFields": {"seats": 3}}]


def test_frames_with_tags_of_their_own_are_left_to_each_batch() -> None:
    frame = pd.DataFrame({"email": ["a@example.com"], "tags": [["vip"]]})
    assert _hook().prepare_contacts(frame) is frame


def test_exclude_list_ids_refused_before_sending(contacts_sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError, match="exclude_list_ids"):
        _hook().submit_import(_frame(1), exclude_list_ids=["old"])
    assert contacts_sandbox.state.extras.get("migma", {}).get("bulk_requests", 0) == 0


def test_unknown_column_refused(contacts_sandbox: Sandbox) -> None:
    with pytest.raises(MappingError, match="plan"):
        _hook().submit_import(pd.DataFrame({"email": ["a@example.com"], "plan": ["pro"]}))


def test_project_id_required(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(monkeypatch, contacts_sandbox, "migma_noproject", extra={"project_id": None})
    with pytest.raises(ConfigurationError, match="migma_noproject.*project_id"):
        _hook("migma_noproject").submit_import(_frame(1))


def test_unknown_project_is_a_request_error(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(monkeypatch, contacts_sandbox, "migma_otherproject", extra={"project_id": "proj_missing"})
    with pytest.raises(ProviderRequestError, match="404.*Project not found"):
        _hook("migma_otherproject").submit_import(_frame(1))


def test_rejected_rows_become_row_errors(contacts_sandbox: Sandbox) -> None:
    frame = pd.DataFrame({
        "email": ["ok@example.com", "not-an-email", "Long@Example.com", "bad-status@example.com"],
        "phone": [None, None, "+1 " + "5" * 30, None],
        "status": ["subscribed", None, None, "vip"],
    })
    job = _hook().submit_import(frame)
    assert (job.created, job.updated, job.rejected) == (1, 0, 3)
    assert _adds_up(job)
    assert [error.index for error in job.row_errors] == [1, 2, 3]
    errors = {error.index: error for error in job.row_errors}
    assert errors[1].email == "not-an-email" and "invalid email" in errors[1].reason
    assert errors[2].email == "Long@Example.com" and "phone" in errors[2].reason
    assert errors[3].email == "bad-status@example.com" and "status" in errors[3].reason
    assert [c["email"] for c in contacts_sandbox.contacts("migma")] == ["ok@example.com"]


def test_batch_over_limit_refused_before_sending(contacts_sandbox: Sandbox) -> None:
    with pytest.raises(BatchTooLargeError, match="5000"):
        _hook().submit_import(_frame(MigmaHook.max_batch_size + 1))
    assert contacts_sandbox.state.extras.get("migma", {}).get("bulk_requests", 0) == 0


def test_429_waits_for_retry_after(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="migma", kind="429", retry_after=1, count=1)
    started = time.monotonic()
    job = _hook().submit_import(_frame(2))
    assert time.monotonic() - started >= 0.95
    assert job.created == 2
    assert contacts_sandbox.state.faults.fired["migma:429"] == 1


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
def test_server_errors_and_dropped_connections_are_retried(contacts_sandbox: Sandbox, kind: str) -> None:
    contacts_sandbox.add_fault(provider="migma", kind=kind, count=2)
    job = _hook().submit_import(_frame(2))
    assert job.created == 2
    assert contacts_sandbox.state.faults.fired[f"migma:{kind}"] == 2


def test_dropped_answer_after_landing_counts_as_updates(contacts_sandbox: Sandbox) -> None:
    """A retried POST whose first answer was lost: upsert by email keeps every row accounted for."""
    contacts_sandbox.add_fault(provider="migma", kind="drop", after=True, count=1)
    job = _hook().submit_import(_frame(2))
    assert (job.created, job.updated) == (0, 2)
    assert contacts_sandbox.submissions("migma")["user0@example.com"] == 2


def test_wrong_key_fails_fast_without_leaking_it(contacts_sandbox: Sandbox,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "wrong-migma-key-123456"
    _connection(monkeypatch, contacts_sandbox, "migma_badkey", password=secret)
    started = time.monotonic()
    with pytest.raises(ProviderAuthError) as raised:
        _hook("migma_badkey").submit_import(_frame(1))
    assert time.monotonic() - started < 2
    assert "migma_badkey" in str(raised.value) and secret not in str(raised.value)
    assert contacts_sandbox.state.extras["migma"]["bulk_requests"] == 1


def test_key_without_audience_write_is_an_auth_error(contacts_sandbox: Sandbox,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    contacts_sandbox.state.extras.setdefault("migma", {})["permissions"] = {"read-only-key": ["audience:read"]}
    _connection(monkeypatch, contacts_sandbox, "migma_readonly", password="read-only-key")
    with pytest.raises(ProviderAuthError, match="audience:write"):
        _hook("migma_readonly").submit_import(_frame(1))


def test_test_connection(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = _hook().test_connection()
    assert ok and "proj_sandbox" in message
    _connection(monkeypatch, contacts_sandbox, "migma_badkey", password="nope-nope")
    ok, message = _hook("migma_badkey").test_connection()
    assert not ok and "migma_badkey" in message and "nope-nope" not in message
    _connection(monkeypatch, contacts_sandbox, "migma_noproject", extra={"project_id": ""})
    ok, message = _hook("migma_noproject").test_connection()
    assert not ok and "project_id" in message


def test_large_batch_runs_as_a_job(contacts_sandbox: Sandbox) -> None:
    """Above Migma's synchronous limit (lowered here) the answer is a job to poll."""
    contacts_sandbox.state.extras.setdefault("migma", {})["sync_limit"] = 3
    hook = _hook()
    hook.submit_import(_frame(2))
    frame = pd.concat([_frame(4), pd.DataFrame({"email": ["broken@"]})], ignore_index=True)
    job = hook.submit_import(frame)
    assert job.status is ImportStatus.RUNNING and not job.job_id.startswith("migma-")
    assert job.submitted == 5 and job.created is None

    done = _wait(hook, job)
    assert done.status is ImportStatus.SUCCEEDED
    assert (done.submitted, done.created, done.updated, done.rejected) == (5, 2, 2, 1)
    assert [(e.email, e.index) for e in done.row_errors] == [("broken@", None)]
    assert len(contacts_sandbox.contacts("migma")) == 4


def test_aget_import_polls_the_job(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.extras.setdefault("migma", {})["sync_limit"] = 1
    hook = _hook()
    job = hook.submit_import(_frame(2))
    first = asyncio.run(hook.aget_import(job.job_id))
    assert first.status in (ImportStatus.PENDING, ImportStatus.RUNNING)
    time.sleep(contacts_sandbox.state.job_delay + 0.05)
    done = asyncio.run(MigmaHook(backoff_base=0.01).aget_import(job.job_id))
    assert (done.status, done.created, done.submitted) == (ImportStatus.SUCCEEDED, 2, 2)


def test_failed_job(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.extras.setdefault("migma", {})["sync_limit"] = 1
    contacts_sandbox.add_fault(provider="migma", kind="fail_job")
    hook = _hook()
    done = _wait(hook, hook.submit_import(_frame(2)))
    assert done.status is ImportStatus.FAILED
    assert done.created is None and "failed" in (done.message or "")


def test_unknown_job_and_synchronous_ids(contacts_sandbox: Sandbox) -> None:
    hook = _hook()
    with pytest.raises(ProviderRequestError, match="404"):
        hook.get_import("0123456789abcdef01234567")
    with pytest.raises(ConfigurationError, match="synchronously"):
        hook.get_import(hook.submit_import(_frame(1)).job_id)


def test_client_limiter_keeps_a_burst_under_the_server_limit(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.extras.setdefault("migma", {})["rate_limit"] = (3, 1.0)

    class Limited(MigmaHook):
        rate_limit = (3, 1.2)  # a little under the server's, as network delays shift its window

    hook = Limited(backoff_base=0.01)
    started = time.monotonic()
    jobs = [hook.submit_import(_frame(1)) for _ in range(6)]
    assert time.monotonic() - started >= 1.15
    assert all(job.status is ImportStatus.SUCCEEDED for job in jobs)
    assert contacts_sandbox.state.extras["migma"].get("throttled", 0) == 0


def test_without_the_limiter_a_burst_is_throttled_and_still_lands(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.extras.setdefault("migma", {})["rate_limit"] = (2, 1.0)
    hook = _hook()
    jobs = [hook.submit_import(_frame(1)) for _ in range(4)]
    assert all(job.status is ImportStatus.SUCCEEDED for job in jobs)
    assert contacts_sandbox.state.extras["migma"]["throttled"] >= 1


def test_requests_per_minute_from_the_connection(contacts_sandbox: Sandbox,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    contacts_sandbox.state.extras.setdefault("migma", {})["rate_limit"] = (3, 60.0)
    _connection(monkeypatch, contacts_sandbox, "migma_free", extra={"requests_per_minute": 3})
    hook = _hook("migma_free")
    assert hook.limiter is not None and (hook.limiter.max_requests, hook.limiter.period) == (3, 60.0)
    for _ in range(3):
        hook.submit_import(_frame(1))
    assert contacts_sandbox.state.extras["migma"].get("throttled", 0) == 0
    assert hook.limiter.delay() > 50  # a fourth request would wait for the window instead of a 429


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ((10, 6, 3, 1), (6, 3, 1, None)),  # success = created only
        ((10, 9, 3, 1), (6, 3, 1, None)),  # success counting updates too
    ],
)
def test_reconcile_counts_reads_either_meaning_of_success(reported: tuple[int, ...],
                                                         expected: tuple[object, ...]) -> None:
    assert reconcile_counts(*reported) == expected


def test_reconcile_counts_flags_numbers_that_do_not_add_up() -> None:
    created, updated, rejected, note = reconcile_counts(10, 2, 2, 2)
    assert (created, updated, rejected) == (2, 2, 2) and note and "do not add up" in note


def test_subscribers_match_the_records_built_by_hand() -> None:
    frame = pd.DataFrame({
        "email": ["a@x.io", "b@x.io", "c@x.io"],
        "firstName": pd.Series(["Ann", None, "Cy"], dtype="str"),
        "tags": pd.Series([["vip", "x"], "solo", None], dtype=object),
        "customFields.plan": pd.Series(["pro", None, None], dtype=object),
        "customFields.seats": pd.Series([3, None, 5], dtype="Int64"),
    })
    assert msgspec.json.decode(json_array(build_subscribers(frame, ["x", "new"]))) == [
        {"email": "a@x.io", "firstName": "Ann", "tags": ["vip", "x", "new"],
         "customFields": {"plan": "pro", "seats": 3}},
        {"email": "b@x.io", "tags": ["solo", "x", "new"]},
        {"email": "c@x.io", "firstName": "Cy", "tags": ["x", "new"], "customFields": {"seats": 5}},
    ]
    without_tags = frame.drop(columns=["tags"])
    assert [subscriber.get("tags") for subscriber in
            msgspec.json.decode(json_array(build_subscribers(without_tags, ["t"])))] == [["t"], ["t"], ["t"]]
    assert "tags" not in msgspec.json.decode(json_array(build_subscribers(frame, [])))[2]


def test_row_errors_locate_rows_by_the_email_they_name() -> None:
    errors = row_errors(["Invalid email: B@x.io.", "something else"], ["a@x.io", "b@x.io"])
    assert [(error.email, error.index) for error in errors] == [("B@x.io", 1), (None, None)]
