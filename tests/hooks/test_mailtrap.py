"""MailtrapHook over real HTTP against the sandbox emulator."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest

from airflow_contacts_provider.exceptions import (
    BatchTooLargeError,
    ConfigurationError,
    ProviderAuthError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldType
from airflow_contacts_provider.hooks import mailtrap
from airflow_contacts_provider.hooks.mailtrap import MailtrapHook, build_contacts
from airflow_contacts_provider.import_job import ImportJob, ImportStatus
from airflow_contacts_provider.json_rows import json_array
from airflow_contacts_provider.sandbox.mailtrap import mailtrap_state
from airflow_contacts_provider.sandbox.server import Sandbox

ACCOUNT = "1001"


def use_connection(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, conn_id: str, **changes: Any) -> None:
    connection = {**sandbox.connections()["mailtrap_default"], **changes}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def wait(hook: MailtrapHook, job: ImportJob, timeout: float = 5.0) -> ImportJob:
    deadline = time.monotonic() + timeout
    while not job.is_terminal:
        assert time.monotonic() < deadline, f"job {job.job_id} did not finish"
        time.sleep(0.05)
        job = hook.get_import(job.job_id)
    return job


def stored(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {contact["email"]: contact for contact in sandbox.contacts("mailtrap")}


def requests_seen(sandbox: Sandbox) -> int:
    return mailtrap_state(sandbox.state).requests


@pytest.fixture
def hook(contacts_sandbox: Sandbox) -> MailtrapHook:
    return MailtrapHook(backoff_base=0.01)


def test_import_creates_then_updates(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    first = pd.DataFrame([
        {"email": "ann@example.com", "first_name": "Ann", "age": 41, "vip": True, "signup_date": "2024-01-31"},
        {"email": "bob@example.com", "first_name": "Bob", "age": None, "vip": False, "signup_date": None},
    ])
    job = hook.submit_import(first, list_ids=[1, 2])
    assert (job.provider, job.submitted, job.status) == ("mailtrap", 2, ImportStatus.PENDING)
    assert job.created is None, "counts appear only once Mailtrap reports the job finished"
    done = wait(hook, job)
    assert (done.status, done.created, done.updated, done.rejected, done.over_limit) == (
        ImportStatus.SUCCEEDED, 2, 0, 0, 0)
    contacts = stored(contacts_sandbox)
    assert contacts["ann@example.com"] == {"email": "ann@example.com", "first_name": "Ann", "age": 41, "vip": True,
                                           "signup_date": "2024-01-31", "list_ids": [1, 2], "_submissions": 1}
    assert "age" not in contacts["bob@example.com"], "missing values are left out of the payload"

    second = [{"email": "bob@example.com", "age": 37, "first_name": None},
              {"email": "cid@example.com", "first_name": "Cid", "score": 2.5}]
    done = wait(hook, hook.submit_import(second, exclude_list_ids=["2"]))
    assert (done.created, done.updated, done.submitted) == (1, 1, 2)
    contacts = stored(contacts_sandbox)
    assert contacts["bob@example.com"]["age"] == 37
    assert contacts["bob@example.com"]["first_name"] == "Bob", "a missing value keeps the stored one"
    assert contacts["bob@example.com"]["list_ids"] == [1]
    assert contacts["cid@example.com"]["score"] == 2.5
    assert contacts_sandbox.submissions("mailtrap") == {"ann@example.com": 1, "bob@example.com": 2,
                                                        "cid@example.com": 1}


def test_integer_column_with_gaps_is_sent_as_integers(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    frame = pd.DataFrame({"email": ["a@example.com", "b@example.com"], "age": [30, np.nan],
                          "score": [1.0, 2.0]})
    assert frame["age"].dtype == float
    done = wait(hook, hook.submit_import(frame))
    assert done.created == 2
    assert stored(contacts_sandbox)["a@example.com"]["age"] == 30


def test_unscoped_paths_without_account_id(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, contacts_sandbox, "mailtrap_unscoped", extra={})
    hook = MailtrapHook("mailtrap_unscoped", backoff_base=0.01)
    assert hook.api_path("imports") == "/api/contacts/imports"
    assert MailtrapHook(backoff_base=0.01).api_path("imports") == f"/api/accounts/{ACCOUNT}/contacts/imports"
    done = wait(hook, hook.submit_import([{"email": "u@example.com", "first_name": "U"}]))
    assert done.created == 1
    assert stored(contacts_sandbox)["u@example.com"]["first_name"] == "U"


def test_wrong_account_is_an_auth_error(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, contacts_sandbox, "mailtrap_other", extra={"account_id": "999"})
    with pytest.raises(ProviderAuthError, match="mailtrap_other.*Account access forbidden"):
        MailtrapHook("mailtrap_other", backoff_base=0.01).get_field_specs()


def test_field_specs(hook: MailtrapHook) -> None:
    specs = hook.get_field_specs()
    assert specs["email"].required and specs["email"].type == FieldType.TEXT
    assert {name: spec.type for name, spec in specs.items() if name != "email"} == {
        "first_name": FieldType.TEXT, "last_name": FieldType.TEXT, "company": FieldType.TEXT,
        "country": FieldType.TEXT, "language": FieldType.TEXT, "plan": FieldType.TEXT, "phone": FieldType.TEXT,
        "zip_code": FieldType.INTEGER, "signup_date": FieldType.DATE, "score": FieldType.FLOAT,
        "age": FieldType.INTEGER, "vip": FieldType.BOOLEAN,
    }


def test_rate_limited_request_waits_for_retry_after(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    contacts_sandbox.add_fault(provider="mailtrap", kind="429", retry_after=1, path="/imports", method="POST")
    started = time.monotonic()
    job = hook.submit_import([{"email": "a@example.com"}])
    assert time.monotonic() - started >= 0.95
    assert wait(hook, job).created == 1
    assert contacts_sandbox.state.faults.fired["mailtrap:429"] == 1


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
def test_server_errors_and_dropped_connections_are_retried(contacts_sandbox: Sandbox, hook: MailtrapHook,
                                                           kind: str) -> None:
    contacts_sandbox.add_fault(provider="mailtrap", kind=kind, count=2, path="/imports", method="POST")
    job = hook.submit_import([{"email": "a@example.com"}, {"email": "b@example.com"}])
    assert wait(hook, job).created == 2
    assert contacts_sandbox.state.faults.fired[f"mailtrap:{kind}"] == 2
    assert contacts_sandbox.submissions("mailtrap") == {"a@example.com": 1, "b@example.com": 1}


def test_wrong_token_fails_fast_without_leaking_it(contacts_sandbox: Sandbox,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "wrong-token-0123456789"
    use_connection(monkeypatch, contacts_sandbox, "mailtrap_bad", password=secret)
    hook = MailtrapHook("mailtrap_bad", backoff_base=0.01)
    with pytest.raises(ProviderAuthError) as raised:
        hook.submit_import([{"email": "a@example.com"}])
    assert "mailtrap_bad" in str(raised.value) and "Incorrect API token" in str(raised.value)
    assert secret not in str(raised.value)
    assert requests_seen(contacts_sandbox) == 1, "a 401 is not retried"
    ok, message = hook.test_connection()
    assert not ok and "mailtrap_bad" in message and secret not in message


def test_test_connection(hook: MailtrapHook) -> None:
    ok, message = hook.test_connection()
    assert ok and "12 contact fields" in message


def test_invalid_rows_become_row_errors_and_the_rest_lands(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    batch = pd.DataFrame([
        {"email": "good1@example.com", "age": 30, "nickname": None},
        {"email": "not-an-email", "age": 31, "nickname": None},
        {"email": "good2@example.com", "age": 32, "nickname": None},
        {"email": "typed@example.com", "age": "old", "nickname": None},
        {"email": "tag@example.com", "age": None, "nickname": "T"},
        {"email": None, "age": 33, "nickname": None},
    ])
    job = hook.submit_import(batch)
    assert job.submitted == 6 and job.rejected == 4
    assert [(e.index, e.email, e.reason) for e in job.row_errors] == [
        (1, "not-an-email", "email is invalid"),
        (3, "typed@example.com", "fields contains invalid values: age"),
        (4, "tag@example.com", "field_merge_tag is invalid"),
        (5, None, "email is missing"),
    ]
    done = wait(hook, job)
    assert (job.rejected, done.created, done.updated, done.over_limit) == (4, 2, 0, 0)
    assert set(stored(contacts_sandbox)) == {"good1@example.com", "good2@example.com"}
    assert contacts_sandbox.submissions("mailtrap") == {"good1@example.com": 1, "good2@example.com": 1}


def test_refused_rows_are_found_across_encoded_slices(contacts_sandbox: Sandbox, hook: MailtrapHook,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mailtrap, "ENCODE_ROWS", 2)  # a batch of 7 is encoded in four slices
    batch = pd.DataFrame({"email": ["a@example.com", "b@example.com", "bad", "c@example.com", None,
                                    "typed@example.com", "d@example.com"],
                          "age": [1, 2, 3, 4, 5, "old", 7]})
    job = hook.submit_import(batch)
    assert [(e.index, e.reason) for e in job.row_errors] == [
        (2, "email is invalid"), (4, "email is missing"), (5, "fields contains invalid values: age")]
    assert wait(hook, job).created == 4
    assert set(stored(contacts_sandbox)) == {"a@example.com", "b@example.com", "c@example.com", "d@example.com"}


def test_duplicate_emails_map_to_their_own_rows(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    batch = [{"email": "dup@example.com", "age": "x"}, {"email": "ok@example.com"},
             {"email": "DUP@example.com", "age": "y"}]
    job = hook.submit_import(batch)
    assert [e.index for e in job.row_errors] == [0, 2]
    assert wait(hook, job).created == 1


def test_every_row_refused_is_a_terminal_job(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    job = hook.submit_import([{"email": "bad"}, {"email": "worse@"}])
    assert job.is_terminal and (job.created, job.updated, job.rejected, job.submitted) == (0, 0, 2, 2)
    assert requests_seen(contacts_sandbox) == 1


def test_request_level_422_raises(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    with pytest.raises(ProviderRequestError, match="list_ids 99 do not exist"):
        hook.submit_import([{"email": "a@example.com"}], list_ids=[99])
    assert contacts_sandbox.contacts("mailtrap") == []


@pytest.mark.parametrize(("list_ids", "exclude"), [(["news"], None), ([1.5], None), ([True], None),
                                                   ([1, 2], [2])])
def test_bad_list_ids_are_refused_before_sending(contacts_sandbox: Sandbox, hook: MailtrapHook,
                                                 list_ids: list[Any], exclude: list[Any] | None) -> None:
    with pytest.raises(ConfigurationError):
        hook.submit_import([{"email": "a@example.com"}], list_ids=list_ids, exclude_list_ids=exclude)
    assert requests_seen(contacts_sandbox) == 0


def test_over_limit_batch_is_refused_before_sending(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    batch = pd.DataFrame({"email": [f"u{i}@example.com" for i in range(50_001)]})
    with pytest.raises(BatchTooLargeError, match="50000"):
        hook.submit_import(batch)
    assert requests_seen(contacts_sandbox) == 0


def test_full_batch_of_50000(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    batch = pd.DataFrame({"email": [f"u{i}@example.com" for i in range(50_000)],
                          "first_name": ["N"] * 50_000, "age": np.arange(50_000, dtype=float)})
    batch.loc[::2, "age"] = np.nan
    started = time.monotonic()
    job = hook.submit_import(batch, list_ids=[1])
    elapsed = time.monotonic() - started
    done = wait(hook, job, timeout=30)
    assert done.created == 50_000
    assert stored(contacts_sandbox)["u1@example.com"]["age"] == 1
    assert "age" not in stored(contacts_sandbox)["u0@example.com"]
    assert elapsed < 30


def test_contact_limit_is_reported_as_over_limit(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    mailtrap_state(contacts_sandbox.state).contact_limit = 2
    job = hook.submit_import([{"email": f"u{i}@example.com"} for i in range(3)])
    done = wait(hook, job)
    assert (done.created, done.updated, done.over_limit, done.submitted) == (2, 0, 1, 3)


def test_failed_job(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    contacts_sandbox.add_fault(provider="mailtrap", kind="fail_job")
    done = wait(hook, hook.submit_import([{"email": "a@example.com"}]))
    assert done.status == ImportStatus.FAILED and done.created is None


def test_unknown_job_is_a_request_error(hook: MailtrapHook) -> None:
    with pytest.raises(ProviderRequestError, match="404"):
        hook.get_import("424242")


def test_aget_import(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    job = hook.submit_import([{"email": "a@example.com"}])
    first = asyncio.run(hook.aget_import(job.job_id))
    assert first.job_id == job.job_id and not first.is_terminal
    time.sleep(0.25)
    done = asyncio.run(MailtrapHook(backoff_base=0.01).aget_import(job.job_id))
    assert (done.status, done.created) == (ImportStatus.SUCCEEDED, 1)


class BurstHook(MailtrapHook):
    """A small client-side limit, matched against the emulator's shrunk window."""

    rate_limit = (5, 2.1)


def test_client_limiter_keeps_a_burst_under_the_account_limit(contacts_sandbox: Sandbox,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # 2.1 s on the client against 2 s on the server: loopback latency jitter stays inside the margin.
    mailtrap_state(contacts_sandbox.state).account_rate_limit = (5, 2.0)
    use_connection(monkeypatch, contacts_sandbox, "mailtrap_burst", extra={"account_id": ACCOUNT})
    hook = BurstHook("mailtrap_burst", backoff_base=0.01)
    started = time.monotonic()
    for _ in range(11):
        hook.get_field_specs()
    assert time.monotonic() - started >= 4.0
    assert mailtrap_state(contacts_sandbox.state).rate_limited == 0


def test_without_the_limiter_a_burst_is_throttled_then_recovers(contacts_sandbox: Sandbox,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    mailtrap_state(contacts_sandbox.state).account_rate_limit = (5, 1.0)
    use_connection(monkeypatch, contacts_sandbox, "mailtrap_unlimited", extra={"account_id": ACCOUNT})

    class Unlimited(MailtrapHook):
        rate_limit = None

    hook = Unlimited("mailtrap_unlimited", backoff_base=0.2)
    for _ in range(8):
        hook.get_field_specs()
    assert mailtrap_state(contacts_sandbox.state).rate_limited > 0


def test_batch_streamed_as_frames(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    # Each frame is encoded on its own: positions count across frames, an empty frame included.
    frames = [pd.DataFrame({"email": ["a@example.com", "bad"], "age": [1, 2]}),
              pd.DataFrame({"email": [], "age": []}),
              pd.DataFrame({"email": ["c@example.com", None, "worse@"], "age": [3, 4, 5]})]
    job = hook.submit_import(iter(frames))
    assert job.submitted == 5
    assert [(e.index, e.reason) for e in job.row_errors] == [
        (1, "email is invalid"), (3, "email is missing"), (4, "email is invalid")]
    assert wait(hook, job).created == 2
    assert stored(contacts_sandbox)["c@example.com"]["age"] == 3


def test_empty_batch_sends_nothing(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    job = hook.submit_import([])
    assert job.is_terminal and (job.submitted, job.created, job.updated, job.rejected) == (0, 0, 0, 0)
    assert requests_seen(contacts_sandbox) == 0


def test_payload_contacts_match_the_records_built_by_hand() -> None:
    frame = pd.DataFrame({
        "email": pd.Series(["a@x.io", None, "b@x.io", "c@x.io"], dtype=object),
        "age": [30.0, 1.0, np.nan, 41.0],  # whole numbers with a gap: integers, as Mailtrap's integer fields want
        "score": [1.0, 2.0, 2.5, np.nan],  # not all whole: floats stay floats
        "name": pd.Series(['Ann "A"', "x", None, None], dtype="str"),
        "vip": [True, False, False, True],
    }).set_axis([10, 11, 12, 13])
    payload, errors = build_contacts(frame, [1, 2], [3])
    lists = {"list_ids_included": [1, 2], "list_ids_excluded": [3]}
    contacts = msgspec.json.decode(json_array(payload.objects))
    assert contacts == [
        {"email": "a@x.io", "fields": {"age": 30, "score": 1.0, "name": 'Ann "A"', "vip": True}, **lists},
        {"email": "b@x.io", "fields": {"score": 2.5, "vip": False}, **lists},
        {"email": "c@x.io", "fields": {"age": 41, "vip": True}, **lists},
    ]
    assert [type(contact["fields"].get("age")) for contact in contacts] == [int, type(None), int]
    assert type(contacts[0]["fields"]["score"]) is float
    assert payload.positions.tolist() == [0, 2, 3] and payload.emails.tolist() == ["a@x.io", "b@x.io", "c@x.io"]
    assert [(error.index, error.reason) for error in errors] == [(1, "email is missing")]
    rest = payload.without([2])
    assert msgspec.json.decode(json_array(rest.objects)) == [contacts[0], contacts[2]]
    assert rest.positions.tolist() == [0, 3]


def test_payload_without_fields_or_lists() -> None:
    payload, _ = build_contacts(pd.DataFrame({"email": ["a@x.io"], "note": [None]}), [], [])
    assert json_array(payload.objects) == b'[{"email":"a@x.io"}]'


def test_payload_refuses_infinity() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        build_contacts(pd.DataFrame({"email": ["a@x.io"], "score": [np.inf]}), [], [])


def test_an_encoded_batch_is_sent_only_by_its_call(contacts_sandbox: Sandbox, hook: MailtrapHook) -> None:
    """The operator encodes the next batch while this one is in flight: encoding sends nothing."""
    frames = iter([pd.DataFrame({"email": ["ann@example.com"], "first_name": ["Ann"]}),
                   pd.DataFrame({"email": ["bob@example.com"], "first_name": ["Bob"]})])
    before = requests_seen(contacts_sandbox)

    send = hook.encode_import(frames, list_ids=[1])

    assert next(frames, None) is None, "the batch's frames are read while encoding"
    assert requests_seen(contacts_sandbox) == before and stored(contacts_sandbox) == {}
    done = wait(hook, send())
    assert (done.submitted, done.created) == (2, 2)
    assert {email: contact["list_ids"] for email, contact in stored(contacts_sandbox).items()} == {
        "ann@example.com": [1], "bob@example.com": [1]}
