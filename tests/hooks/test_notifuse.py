"""NotifuseHook against the sandbox's Notifuse emulator, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import requests

from airflow_contacts_provider.arrow_text import text_hashes
from airflow_contacts_provider.exceptions import (
    BatchTooLargeError,
    ConfigurationError,
    MappingError,
    ProviderAuthError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldType
from airflow_contacts_provider.hooks.notifuse import (
    TOO_LARGE,
    Answer,
    NotifuseHook,
    Operation,
    _operations,
    _usual_answer,
    prepare_batch,
)
from airflow_contacts_provider.import_job import ImportJob, ImportStatus
from airflow_contacts_provider.json_rows import json_array
from airflow_contacts_provider.sandbox.notifuse import CONTACTS_ONLY_TOKEN, READ_ONLY_TOKEN, list_members
from airflow_contacts_provider.sandbox.server import Sandbox
from airflow_contacts_provider.validation import email_hashes

WORKSPACE = "ws_sandbox"


def connection(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, conn_id: str, *,
               password: str = "sandbox-notifuse-token", extra: dict[str, Any] | None = None) -> str:
    extra = {"workspace_id": WORKSPACE} if extra is None else extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({
        "conn_type": "notifuse", "host": sandbox.base_url("notifuse"), "password": password, "extra": extra}))
    return conn_id


def stored(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {contact["email"]: contact for contact in sandbox.contacts("notifuse")}


def assert_accounted(job: ImportJob) -> None:
    assert job.status is ImportStatus.SUCCEEDED and job.is_terminal
    assert job.created is not None and job.updated is not None and job.rejected is not None
    assert job.created + job.updated + job.rejected + job.over_limit == job.submitted
    assert len(job.row_errors) == job.rejected


def one_request(operations: list[Operation]) -> Answer:
    """The answer to a batch sent in one request."""
    answer = Answer()
    answer.add(0, operations)
    return answer


def sent_requests(sandbox: Sandbox) -> int:
    return sandbox.state.sink_counter("notifuse").requests


FRAME = pd.DataFrame({
    "email": ["Ann@Example.com", "bob@example.com", "cy@example.com"],
    "first_name": ["Ann", "Bob", None],
    "last_name": ["Lee", np.nan, "Cole"],
    "custom_number_1": [1.5, 2.0, np.nan],
    "custom_datetime_1": ["2024-05-01T10:00:00Z", None, "2024-05-03T10:00:00+02:00"],
    "custom_json_1": [{"plan": "pro"}, None, [1, 2]],
})


# -- importing ---------------------------------------------------------------------------------

def test_import_creates_then_updates(contacts_sandbox: Sandbox) -> None:
    hook = NotifuseHook(backoff_base=0.01)

    first = hook.submit_import(FRAME)
    second = hook.submit_import(pd.DataFrame({"email": ["ann@example.com", "BOB@example.com ", "new@example.com"],
                                              "first_name": ["Anna", None, "Nia"]}))

    assert (first.created, first.updated, first.rejected, first.submitted) == (3, 0, 0, 3)
    assert (second.created, second.updated, second.rejected) == (1, 2, 0)
    assert first.job_id.startswith("notifuse-") and first.job_id != second.job_id
    assert_accounted(first)
    assert_accounted(second)
    contacts = stored(contacts_sandbox)
    assert set(contacts) == {"ann@example.com", "bob@example.com", "cy@example.com", "new@example.com"}
    ann = contacts["ann@example.com"]
    assert (ann["first_name"], ann["last_name"], ann["custom_number_1"]) == ("Anna", "Lee", 1.5)
    assert ann["custom_datetime_1"] == "2024-05-01T10:00:00Z"
    assert ann["custom_json_1"] == {"plan": "pro"}
    assert contacts["bob@example.com"]["first_name"] == "Bob"  # a missing value keeps the stored one
    assert "last_name" not in contacts["bob@example.com"]      # missing values are never sent
    assert contacts["cy@example.com"]["custom_json_1"] == [1, 2]


def test_list_of_dicts_and_list_ids(contacts_sandbox: Sandbox) -> None:
    hook = NotifuseHook(backoff_base=0.01)

    job = hook.submit_import([{"email": "a@example.com"}, {"email": "b@example.com", "country": "FR"}],
                             list_ids=["newsletter", 42])

    assert (job.created, job.rejected) == (2, 0)
    assert list_members(contacts_sandbox.state, "newsletter") == {"a@example.com", "b@example.com"}
    assert list_members(contacts_sandbox.state, "42") == {"a@example.com", "b@example.com"}


def test_datetimes_are_sent_as_rfc3339(contacts_sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"email": ["a@example.com", "b@example.com"],
                          "custom_datetime_1": pd.to_datetime(["2024-05-01 10:00:00", None])})

    job = NotifuseHook(backoff_base=0.01).submit_import(frame)

    assert (job.created, job.rejected) == (2, 0)
    contacts = stored(contacts_sandbox)
    assert contacts["a@example.com"]["custom_datetime_1"] == "2024-05-01T10:00:00+00:00"
    assert "custom_datetime_1" not in contacts["b@example.com"]


def test_duplicates_in_a_batch_are_rejected_before_sending(contacts_sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"email": ["dup@example.com", "x@example.com", " DUP@example.com", "dup@example.com"],
                          "first_name": ["First", "X", "Second", "Last"]})

    job = NotifuseHook(backoff_base=0.01).submit_import(frame)

    assert (job.created, job.updated, job.rejected) == (2, 0, 2)
    assert_accounted(job)
    assert [(error.index, error.email) for error in job.row_errors] == [(0, "dup@example.com"),
                                                                        (2, " DUP@example.com")]
    assert all(error.reason.startswith("duplicate email in batch: row 3") for error in job.row_errors)
    assert stored(contacts_sandbox)["dup@example.com"]["first_name"] == "Last"
    assert contacts_sandbox.submissions("notifuse")["dup@example.com"] == 1


def test_contacts_notifuse_cannot_parse_become_row_errors_at_their_position(contacts_sandbox: Sandbox) -> None:
    rows = [
        {"email": "twice@example.com"},                                # 0: duplicate of 5, not sent
        {"email": "not-an-email"},                                     # 1
        {"email": "ok1@example.com"},                                  # 2
        {"email": "num@example.com", "custom_number_1": "twelve"},     # 3
        {"email": None},                                               # 4
        {"email": "twice@example.com"},                                # 5
        {"email": "when@example.com", "custom_datetime_1": "1 May"},   # 6
        {"email": "json@example.com", "custom_json_1": "scalar"},      # 7
        {"email": "ok2@example.com"},                                  # 8
    ]

    job = NotifuseHook(backoff_base=0.01).submit_import(rows)

    assert_accounted(job)
    assert (job.created, job.rejected) == (3, 6)
    errors = {error.index: error for error in job.row_errors}
    assert list(errors) == [0, 1, 3, 4, 6, 7]
    # The request skipped row 0, so Notifuse's "index N" is one less than the batch position.
    assert errors[3].reason.startswith("invalid contact at index 2: email is required (Notifuse says this")
    assert errors[3].email == "num@example.com"
    assert errors[4].email is None
    assert set(stored(contacts_sandbox)) == {"ok1@example.com", "twice@example.com", "ok2@example.com"}


def test_a_failed_insert_chunk_is_reported_per_row(contacts_sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"email": [f"c{i}@example.com" for i in range(3)],
                          "postcode": ["10001", "x" * 21, "75001"]})

    job = NotifuseHook(backoff_base=0.01).submit_import(frame)

    assert_accounted(job)
    assert (job.created, job.rejected) == (0, 3)
    assert [error.index for error in job.row_errors] == [0, 1, 2]
    assert "character varying(20)" in job.row_errors[1].reason
    assert stored(contacts_sandbox) == {}


def test_a_request_a_proxy_refuses_as_too_large_is_sent_in_halves_and_later_ones_smaller(
        contacts_sandbox: Sandbox, capfd: pytest.CaptureFixture[str]) -> None:
    def contacts(prefix: str) -> pd.DataFrame:
        return pd.DataFrame({"email": [f"{prefix}{i:04d}@example.com" for i in range(1_000)],
                             "custom_number_1": [float(i) for i in range(1_000)]})
    first = contacts("a").astype({"custom_number_1": object})
    first.loc[900, "custom_number_1"] = "twelve"  # Notifuse cannot parse it: "at index 400" of the second half
    # 1,000 of these contacts are ~48 kB, 500 ~24 kB: the cap refuses the first request only.
    contacts_sandbox.add_fault(provider="notifuse", kind="413", max_body=30_000, count=None)
    hook = NotifuseHook(backoff_base=0.01)

    refused_then_halved = hook.submit_import(first)
    sent_in_halves = hook.submit_import(contacts("b"))

    assert_accounted(refused_then_halved)
    assert (refused_then_halved.created, refused_then_halved.rejected) == (999, 1)
    [error] = refused_then_halved.row_errors
    assert (error.index, error.email) == (900, "a0900@example.com")
    assert error.reason.startswith("invalid contact at index 400: email is required")
    assert (sent_in_halves.created, sent_in_halves.rejected) == (1_000, 0)
    assert contacts_sandbox.state.faults.fired["notifuse:413"] == 1
    assert len(stored(contacts_sandbox)) == 1_999
    log = capfd.readouterr().out
    assert "refused a request of 1000 contacts" in log and "at most 500 contacts a request" in log


def test_a_contact_refused_as_too_large_alone_is_rejected_and_the_rest_imported(contacts_sandbox: Sandbox) -> None:
    frame = pd.DataFrame({"email": [f"c{i}@example.com" for i in range(5)],
                          "custom_json_1": [None, None, None, {"blob": "x" * 50_000}, None]})
    contacts_sandbox.add_fault(provider="notifuse", kind="413", max_body=10_000, count=None)

    job = NotifuseHook(backoff_base=0.01).submit_import(frame)

    assert_accounted(job)
    assert (job.created, job.rejected) == (4, 1)
    assert [(error.index, error.email, error.reason) for error in job.row_errors] == [
        (3, "c3@example.com", TOO_LARGE)]
    assert set(stored(contacts_sandbox)) == {f"c{i}@example.com" for i in (0, 1, 2, 4)}


def test_field_specs_follow_contact_input(contacts_sandbox: Sandbox) -> None:
    specs = NotifuseHook().get_field_specs()

    assert specs["email"].required and specs["email"].max_length == 255
    assert specs["postcode"].max_length == 20
    assert specs["custom_number_5"].type is FieldType.FLOAT
    assert specs["custom_datetime_1"].type is FieldType.DATETIME
    assert specs["custom_json_3"].type is FieldType.JSON
    assert len(specs) == 34


# -- refused before sending ------------------------------------------------------------------------

def test_over_limit_batch_refused_before_sending(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    hook = NotifuseHook(backoff_base=0.01)
    frame = pd.DataFrame({"email": [f"c{i}@example.com" for i in range(hook.max_batch_size + 1)]})

    with pytest.raises(BatchTooLargeError, match="at most 20000"):
        hook.submit_import(frame)
    assert sent_requests(contacts_sandbox) == 0
    hook.submit_import(frame.iloc[:-1])
    assert sent_requests(contacts_sandbox) == 1


def test_exclude_list_ids_refused_before_sending(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True

    with pytest.raises(ConfigurationError, match="exclude_list_ids"):
        NotifuseHook().submit_import([{"email": "a@example.com"}], exclude_list_ids=["old"])
    assert sent_requests(contacts_sandbox) == 0


def test_unknown_field_refused_before_sending(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True

    with pytest.raises(MappingError, match="favourite_colour"):
        NotifuseHook().submit_import([{"email": "a@example.com", "favourite_colour": "red"}])
    assert sent_requests(contacts_sandbox) == 0


def test_workspace_id_is_required(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, contacts_sandbox, "notifuse_no_ws", extra={})

    with pytest.raises(ConfigurationError, match="'notifuse_no_ws' needs 'workspace_id'"):
        NotifuseHook(conn_id).submit_import([{"email": "a@example.com"}])


def test_empty_batch_sends_nothing(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True

    job = NotifuseHook().submit_import(pd.DataFrame({"email": []}))

    assert (job.submitted, job.created, job.rejected) == (0, 0, 0)
    assert_accounted(job)
    assert sent_requests(contacts_sandbox) == 0


# -- retries ----------------------------------------------------------------------------------------

def test_429_waits_for_retry_after(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="notifuse", kind="429", retry_after=1)

    started = time.monotonic()
    job = NotifuseHook(backoff_base=0.01).submit_import(FRAME)

    assert time.monotonic() - started >= 0.9
    assert job.created == 3
    assert contacts_sandbox.state.faults.fired["notifuse:429"] == 1


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_are_retried(contacts_sandbox: Sandbox, kind: str) -> None:
    contacts_sandbox.add_fault(provider="notifuse", kind=kind, count=2)

    job = NotifuseHook(backoff_base=0.01).submit_import(FRAME)

    assert job.created == 3
    assert contacts_sandbox.state.faults.fired[f"notifuse:{kind}"] == 2


def test_dropped_connection_is_retried(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="notifuse", kind="drop")

    job = NotifuseHook(backoff_base=0.01).submit_import(FRAME)

    assert job.created == 3
    assert contacts_sandbox.state.faults.fired["notifuse:drop"] == 1


def test_a_connection_dropped_after_landing_is_retried_as_an_update(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="notifuse", kind="drop", after=True)

    job = NotifuseHook(backoff_base=0.01).submit_import(FRAME)

    # The first attempt landed unseen; the retry upserts the same contacts again.
    assert (job.created, job.updated) == (0, 3)
    assert_accounted(job)
    assert contacts_sandbox.submissions("notifuse")["ann@example.com"] == 2


# -- credentials ------------------------------------------------------------------------------------

def test_wrong_token_fails_fast_without_the_token(contacts_sandbox: Sandbox,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, contacts_sandbox, "notifuse_bad", password="wrong-secret-token")
    hook = NotifuseHook(conn_id, backoff_base=1.0)

    started = time.monotonic()
    with pytest.raises(ProviderAuthError) as raised:
        hook.submit_import(FRAME)

    assert time.monotonic() - started < 1.0
    assert "'notifuse_bad'" in str(raised.value)
    assert "HTTP 401" in str(raised.value)
    assert "wrong-secret-token" not in str(raised.value)


@pytest.mark.parametrize(("password", "workspace", "list_ids", "words"), [
    ("sandbox-notifuse-token", "ws_gone", None, "workspace not found: ws_gone"),
    (READ_ONLY_TOKEN, WORKSPACE, None, "write access to contacts required"),
    (CONTACTS_ONLY_TOKEN, WORKSPACE, ["newsletter"], "write access to lists required"),
])
def test_workspace_and_permission_500s_are_auth_failures_not_retried(
        contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, password: str, workspace: str,
        list_ids: list[str] | None, words: str) -> None:
    conn_id = connection(monkeypatch, contacts_sandbox, "notifuse_scoped", password=password,
                         extra={"workspace_id": workspace})
    hook = NotifuseHook(conn_id, backoff_base=1.0)

    started = time.monotonic()
    with pytest.raises(ProviderAuthError) as raised:
        hook.submit_import(FRAME, list_ids=list_ids)

    assert time.monotonic() - started < 1.0
    assert "'notifuse_scoped'" in str(raised.value)
    assert words in str(raised.value)
    assert password not in str(raised.value)
    assert stored(contacts_sandbox) == {}


# -- connection test and jobs ----------------------------------------------------------------------

def test_connection_ok(contacts_sandbox: Sandbox) -> None:
    NotifuseHook().submit_import(FRAME)

    ok, message = NotifuseHook().test_connection()

    assert ok, message
    assert message == "Connected to Notifuse workspace 'ws_sandbox' (3 contacts)."


def test_connection_bad_token(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, contacts_sandbox, "notifuse_bad", password="wrong-secret-token")

    ok, message = NotifuseHook(conn_id).test_connection()

    assert not ok
    assert "'notifuse_bad'" in message and "wrong-secret-token" not in message


def test_connection_wrong_workspace_answers_quickly(contacts_sandbox: Sandbox,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, contacts_sandbox, "notifuse_ws", extra={"workspace_id": "ws_gone"})

    started = time.monotonic()
    ok, message = NotifuseHook(conn_id, backoff_base=0.2).test_connection()

    assert not ok
    assert "Failed to count contacts" in message and "workspace_id" in message
    assert time.monotonic() - started < 2.0


def test_connection_without_workspace(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = connection(monkeypatch, contacts_sandbox, "notifuse_no_ws", extra={})

    ok, message = NotifuseHook(conn_id).test_connection()

    assert not ok and "workspace_id" in message


def test_get_import_returns_the_finished_job(contacts_sandbox: Sandbox) -> None:
    hook = NotifuseHook()
    job = hook.submit_import(FRAME)

    assert hook.get_import(job.job_id) == job
    assert asyncio.run(hook.aget_import(job.job_id)) == job
    with pytest.raises(ConfigurationError, match="synchronous"):
        hook.get_import("notifuse-unknown")
    with pytest.raises(ConfigurationError, match="synchronous"):
        NotifuseHook().get_import(job.job_id)


def test_get_import_keeps_only_the_latest_jobs(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NotifuseHook, "kept_jobs", 2)
    hook = NotifuseHook()
    jobs = [hook.submit_import(FRAME) for _ in range(3)]

    assert [hook.get_import(job.job_id) for job in jobs[1:]] == jobs[1:]
    with pytest.raises(ConfigurationError, match="not one of the last 2"):
        hook.get_import(jobs[0].job_id)


def test_sink_mode_round_trip(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    frame = pd.DataFrame({"email": [f"c{i}@example.com" for i in range(2_000)],
                          "custom_datetime_1": [datetime(2024, 5, 1, 10)] * 2_000})

    job = NotifuseHook().submit_import(frame)

    assert (job.created, job.rejected) == (2_000, 0)
    counter = contacts_sandbox.state.sink_counter("notifuse")
    assert (counter.requests, counter.contacts) == (1, 2_000)
    assert stored(contacts_sandbox) == {}


def test_prepared_contacts_match_the_records_built_by_hand() -> None:
    frame = pd.DataFrame({
        "email": ["a@x.io", "B@x.io ", "b@x.io", None],
        "first_name": pd.Series(["Ann\n", None, "Bob", "Cy"], dtype=object),
        "custom_number_1": [1.0, 2.5, np.nan, 4.0],
        "custom_datetime_1": pd.Series([datetime(2024, 1, 2, 3, 4, 5), None,
                                        datetime(2024, 1, 2, tzinfo=timezone(timedelta(hours=2))),
                                        "2024-05-06T07:08:09Z"], dtype=object),
        "custom_json_1": pd.Series([{"a": [1, None]}, None, [1, "x"], None], dtype=object),
    })
    batch = prepare_batch(frame)
    assert batch.positions.tolist() == [0, 2, 3]
    assert [(error.index, error.email) for error in batch.duplicates] == [(1, "B@x.io ")]
    assert msgspec.json.decode(json_array(batch.contacts)) == [
        {"email": "a@x.io", "first_name": "Ann\n", "custom_number_1": 1.0,
         "custom_datetime_1": "2024-01-02T03:04:05+00:00", "custom_json_1": {"a": [1, None]}},
        {"email": "b@x.io", "first_name": "Bob", "custom_datetime_1": "2024-01-02T00:00:00+02:00",
         "custom_json_1": [1, "x"]},
        {"first_name": "Cy", "custom_number_1": 4.0, "custom_datetime_1": "2024-05-06T07:08:09Z"},
    ]


def test_a_batch_of_chunks_encoded_ahead_is_the_batch_encoded_whole() -> None:
    """The operator encodes each chunk (prepare_contacts); the batch cut from them must send the same."""
    frame = pd.DataFrame({
        "email": ["a@x.io", "B@x.io ", "b@x.io", None, "c@x.io", "a@x.io"],
        "first_name": pd.Series(["Ann", None, "Bob", "Cy", "Di", "Al"], dtype="str"),
        "custom_number_1": [1.0, 2.5, np.nan, 4.0, 5.0, 6.0],
        "custom_datetime_1": pd.Series([datetime(2024, 1, 2, 3, 4, 5), None, None, None, None,
                                        "2024-05-06T07:08:09Z"], dtype=object),
    }, index=range(100, 106))
    whole = prepare_batch(frame)

    hook = NotifuseHook()
    chunks = pd.concat([hook.prepare_contacts(frame.iloc[:4]), hook.prepare_contacts(frame.iloc[4:])])
    ahead = prepare_batch(chunks)

    assert msgspec.json.decode(json_array(ahead.contacts)) == msgspec.json.decode(json_array(whole.contacts))
    assert ahead.positions.tolist() == whole.positions.tolist() == [2, 3, 4, 5]
    assert ahead.keys.equals(whole.keys)
    assert [(e.index, e.email, e.reason) for e in ahead.duplicates] == [(e.index, e.email, e.reason)
                                                                         for e in whole.duplicates]
    assert list(chunks.index) == list(frame.index), "row numbers stay, for the batch digest"


def test_a_chunk_reuses_the_duplicate_checks_hashes_only_where_emails_are_their_keys() -> None:
    """Hashes given with a chunk stand for its keys only when no email needed normalising."""
    given = np.array([11, 12, 13], dtype=np.uint64)  # not the emails' real hashes: seen if used
    usual = NotifuseHook().prepare_contacts(pd.DataFrame({"email": ["a@x.io", "b@x.io", "c@x.io"]}), given)
    odd = NotifuseHook().prepare_contacts(pd.DataFrame({"email": ["a@x.io", " B@x.io", "c@x.io"]}), given)

    assert usual["__notifuse_key_hash__"].tolist() == [11, 12, 13]
    assert odd["__notifuse_key_hash__"].tolist() == text_hashes(pa.array(["a@x.io", "b@x.io", "c@x.io"])).tolist()


def test_a_batch_finds_a_repeat_across_chunks_with_given_and_computed_hashes() -> None:
    first = pd.DataFrame({"email": ["a@x.io", "b@x.io"]}, index=[0, 1])
    second = pd.DataFrame({"email": [" A@x.io", "c@x.io"]}, index=[2, 3])
    hook = NotifuseHook()
    chunks = pd.concat([hook.prepare_contacts(first, email_hashes(first["email"])), hook.prepare_contacts(second)])

    batch = prepare_batch(chunks)

    assert batch.positions.tolist() == [1, 2, 3]
    assert [(error.index, error.email) for error in batch.duplicates] == [(0, "a@x.io")]


def test_repeated_emails_keep_the_last_row_and_blank_ones_are_all_sent() -> None:
    frame = pd.DataFrame({"email": ["a@x.io", None, "b@x.io", " A@X.IO", "", "  ", None, "a@x.io", "b@x.io"]})

    batch = prepare_batch(frame)

    assert batch.positions.tolist() == [1, 4, 5, 6, 7, 8]
    assert [(error.index, error.email, error.reason.split(":")[1]) for error in batch.duplicates] == [
        (0, "a@x.io", " row 7 has the same email and was sent instead"),
        (2, "b@x.io", " row 8 has the same email and was sent instead"),
        (3, " A@X.IO", " row 7 has the same email and was sent instead"),
    ]
    assert batch.keys.to_pylist() == [None, None, None, None, "a@x.io", "b@x.io"]
    assert prepare_batch(pd.DataFrame({"email": [None, " "]})).positions.tolist() == [0, 1]


@pytest.mark.parametrize(("emails", "keys", "positions"), [
    # Validated addresses: their own keys, each once.
    (["a@x.io", "b@x.io", "c@x.io"], ["a@x.io", "b@x.io", "c@x.io"], [0, 1, 2]),
    # Already keys, but one comes again: the earlier row goes.
    (["a@x.io", "b@x.io", "a@x.io"], ["b@x.io", "a@x.io"], [1, 2]),
    # Non-ASCII, upper case or edge whitespace: trimmed and lower-cased, and then found to repeat.
    (["josé@x.io", "JOSÉ@x.io", "c@x.io"], ["josé@x.io", "c@x.io"], [1, 2]),
    (["a@x.io", "A@x.io"], ["a@x.io"], [1]),
    (["a@x.io", "a@x.io\t"], ["a@x.io"], [1]),
])
def test_keys_are_normalised_only_where_needed(emails: list[str], keys: list[str], positions: list[int]) -> None:
    batch = prepare_batch(pd.DataFrame({"email": emails}))

    assert batch.keys.to_pylist() == keys
    assert batch.positions.tolist() == positions


# -- matching Notifuse's answer to the batch ---------------------------------------------------------

def answer(body: bytes) -> requests.Response:
    """A response as the session would hand it over, for decoding tests that need no server."""
    response = requests.Response()
    response.status_code, response._content = 200, body
    return response


def test_operations_are_matched_by_normalised_email_in_any_order() -> None:
    batch = prepare_batch(pd.DataFrame({"email": ["Ann@Example.com", "bob@example.com", "cy@example.com ",
                                                  "dee@example.com"]}))
    operations = [
        Operation(email="cy@example.com", action="update"),
        Operation(email="nobody@example.com", action="create"),   # not in the batch: ignored
        Operation(email=" ANN@example.com", action="create"),
        Operation(email="cy@example.com", action="create"),       # a second answer: the first one counts
        Operation(email="bob@example.com", action="error", error="failed to upsert contact: boom"),
    ]

    job = batch.tally("notifuse", "job", one_request(operations))

    assert_accounted(job)
    assert (job.created, job.updated, job.rejected) == (1, 1, 2)
    assert [(error.index, error.email, error.reason) for error in job.row_errors] == [
        (1, "bob@example.com", "failed to upsert contact: boom"),
        (3, "dee@example.com", "Notifuse returned no result for this contact; it may or may not be stored"),
    ]
    assert job.message == "Notifuse returned no result for 1 contacts."


def test_an_answer_in_request_order_is_matched_position_by_position() -> None:
    batch = prepare_batch(pd.DataFrame({"email": ["a@x.io", "B@x.io", "a@x.io"]}))

    job = batch.tally("notifuse", "job", one_request([Operation(email="b@x.io", action="create"),
                                                      Operation(email="a@x.io", action="update")]))

    assert_accounted(job)
    assert (job.created, job.updated) == (1, 1)
    assert [(error.index, error.reason.split(":")[0]) for error in job.row_errors] == [
        (0, "duplicate email in batch")]


def usual_body(emails: list[str], actions: list[str], **dumps: Any) -> bytes:
    """Notifuse's answer as its Go encoder writes it (compact, email then action), unless ``dumps`` say otherwise."""
    options = dumps or {"separators": (",", ":")}
    return json.dumps({"operations": [{"email": email, "action": action}
                                      for email, action in zip(emails, actions, strict=True)]}, **options).encode()


def test_the_usual_answer_is_read_byte_for_byte_with_each_contacts_action() -> None:
    batch = prepare_batch(pd.DataFrame({"email": ["Ann@Example.com", "bob@example.com ", "cy@example.com"]}))
    keys = batch.keys.to_pylist()

    created = _usual_answer(usual_body(keys, ["update", "create", "update"]), batch.keys)

    assert created is not None and created.tolist() == [False, True, False]


@pytest.mark.parametrize(("emails", "actions", "dumps"), [
    (["ann@example.com", "bob@example.com"], ["create", "create"], {"separators": (", ", ": ")}),  # spaced
    (["bob@example.com", "ann@example.com"], ["create", "create"], None),                # another order
    (["ann@example.com"], ["create"], None),                                              # one missing
    (["ann@example.com", "bob@example.com"], ["create", "error"], None),                  # an error
    (["ann@example.com", "bob@example.com"], ["create", "upsert"], None),                 # an action of six letters
    (["Ann@example.com", "bob@example.com"], ["create", "create"], None),                 # another key
])
def test_any_other_answer_is_left_to_the_decoder(emails: list[str], actions: list[str],
                                                  dumps: dict[str, Any] | None) -> None:
    batch = prepare_batch(pd.DataFrame({"email": ["ann@example.com", "bob@example.com"]}))
    body = usual_body(emails, actions, **(dumps or {}))

    assert _usual_answer(body, batch.keys) is None
    job = batch.tally("notifuse", "job", one_request(_operations(answer(body))))
    assert_accounted(job)


def test_a_key_json_escapes_is_left_to_the_decoder() -> None:
    batch = prepare_batch(pd.DataFrame({"email": ['"ann"@example.com']}))

    assert _usual_answer(usual_body(['"ann"@example.com'], ["create"]), batch.keys) is None


def test_the_usual_answer_and_its_decoding_count_alike() -> None:
    emails = [f"user{i}@example.com" for i in range(50)]
    actions = ["create" if i % 3 else "update" for i in range(50)]
    batch = prepare_batch(pd.DataFrame({"email": emails + [emails[7]]}))  # row 7 comes again: the last is sent
    body = usual_body(batch.keys.to_pylist(), actions)
    created = _usual_answer(body, batch.keys)
    assert created is not None
    usual = Answer()
    usual.add_usual(0, created)

    read = batch.tally("notifuse", "job", usual)
    decoded = batch.tally("notifuse", "job", one_request(_operations(answer(body))))

    assert_accounted(read)
    assert (read.created, read.updated, read.rejected) == (33, 17, 1)
    assert (read.created, read.updated, read.rejected, read.submitted) == (
        decoded.created, decoded.updated, decoded.rejected, decoded.submitted)
    assert [(error.index, error.reason) for error in read.row_errors] == [
        (error.index, error.reason) for error in decoded.row_errors]


def test_usual_and_decoded_answers_of_one_batch_add_up() -> None:
    # A proxy's 413 split the batch: the first request was answered as usual, the second with an error.
    batch = prepare_batch(pd.DataFrame({"email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io"]}))
    mixed = Answer()
    mixed.add_usual(0, np.array([True, False]))
    mixed.add(2, [Operation(email="c@x.io", action="create"),
                  Operation(email="", action="error", error="invalid contact at index 1: email is required")])

    job = batch.tally("notifuse", "job", mixed)

    assert_accounted(job)
    assert (job.created, job.updated, job.rejected) == (2, 1, 1)
    assert [error.index for error in job.row_errors] == [3]


def test_an_answer_without_an_email_says_nothing_of_a_contact_without_one() -> None:
    batch = prepare_batch(pd.DataFrame({"email": [None]}))

    job = batch.tally("notifuse", "job", one_request([Operation(email=None, action="create")]))

    assert (job.created, job.rejected) == (0, 1)
    assert job.row_errors[0].reason.startswith("Notifuse returned no result")


def test_errors_are_located_by_their_request_index_else_by_email() -> None:
    # Row 0 repeats row 3, so request index N is batch position N + 1.
    batch = prepare_batch(pd.DataFrame({"email": ["a@x.io", "bad", "b@x.io", "a@x.io", "c@x.io"]}))
    operations = [
        Operation(email="", action="error", error="invalid contact at index 0: email is required"),
        Operation(email="b@x.io", action="error", error="failed to upsert contact at index 9: out of range"),
        Operation(email="a@x.io", action="create"),
        Operation(email="c@x.io", action="skipped"),
    ]

    job = batch.tally("notifuse", "job", one_request(operations))

    assert_accounted(job)
    assert (job.created, job.updated, job.rejected) == (1, 0, 4)
    errors = {error.index: error for error in job.row_errors}
    assert errors[0].reason.startswith("duplicate email in batch: row 3")
    assert errors[1].email == "bad"  # Notifuse echoed "": the batch's email
    assert errors[1].reason.startswith("invalid contact at index 0: email is required (Notifuse says this")
    assert errors[2].reason == "failed to upsert contact at index 9: out of range"  # no index 9: found by email
    assert errors[4].reason == "Notifuse answered 'skipped'"
    assert job.message is None


def test_an_empty_answer_leaves_every_sent_contact_unanswered() -> None:
    batch = prepare_batch(pd.DataFrame({"email": ["a@x.io", "a@x.io", None]}))

    job = batch.tally("notifuse", "job", one_request([]))

    assert_accounted(job)
    assert [(error.index, error.reason.split(" ")[0]) for error in job.row_errors] == [
        (0, "duplicate"), (1, "Notifuse"), (2, "Notifuse")]
    assert job.message == "Notifuse returned no result for 2 contacts."


def test_answers_are_decoded_whatever_keys_they_carry() -> None:
    body = (b'{"operations":[{"email":"a@x.io","action":"create","error":null,"id":7},'
            b'{"action":"error"},{}],"took_ms":3}')

    assert _operations(answer(body)) == [Operation(email="a@x.io", action="create"),
                                         Operation(action="error"), Operation()]


def test_odd_operations_are_read_as_text_or_skipped() -> None:
    body = b'{"operations":[{"email":42,"action":1,"error":{"code":5}},"not an object",{"email":"a@x.io"}]}'

    assert _operations(answer(body)) == [Operation(email=None, action="1", error="{'code': 5}"),
                                         Operation(email="a@x.io")]


@pytest.mark.parametrize("body", [b'{"operations":{"email":"a@x.io"}}', b'{"error":"busy"}', b'[1, 2]',
                                  b'{"operations":null}'])
def test_an_answer_without_an_operations_array_is_a_request_error(body: bytes) -> None:
    with pytest.raises(ProviderRequestError, match="without an operations array"):
        _operations(answer(body))


def test_an_answer_that_is_not_json_raises_as_requests_does() -> None:
    with pytest.raises(requests.JSONDecodeError):
        _operations(answer(b"<html>502 Bad Gateway</html>"))
