"""The SendGrid Marketing emulator answers as SendGrid (and its S3 upload URLs) do, over raw HTTP."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from airflow_contacts_provider.sandbox.sendgrid import account
from airflow_contacts_provider.sandbox.server import Sandbox

SPECS = Path(__file__).resolve().parents[3] / "shared" / "contracts" / "specs"
SSE = {"x-amz-server-side-encryption": "aws:kms"}


def api(sandbox: Sandbox, method: str, path: str, *, token: str | None = "default", **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {sandbox.state.tokens['sendgrid'] if token == 'default' else token}"
    return requests.request(method, f"{sandbox.base_url('sendgrid')}{path}", headers=headers, timeout=10, **kwargs)


def start_import(sandbox: Sandbox, mappings: list[str | None], **body: Any) -> dict[str, Any]:
    response = api(sandbox, "PUT", "/v3/marketing/contacts/imports",
                   json={"file_type": "csv", "field_mappings": mappings, **body})
    assert response.status_code == 200, response.text
    return response.json()


def upload(job: dict[str, Any], data: bytes | Any, headers: dict[str, str] | None = None) -> requests.Response:
    sent = {h["header"]: h["value"] for h in job["upload_headers"]} if headers is None else headers
    return requests.put(job["upload_uri"], data=data, headers=sent, timeout=10)


def finished(sandbox: Sandbox, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        body = api(sandbox, "GET", f"/v3/marketing/contacts/imports/{job_id}").json()
        if body["status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def csv_gz(text: str) -> bytes:
    return gzip.compress(text.encode())


# -- the documented examples -------------------------------------------------------------------


def test_seed_example_import_request_is_answered_as_documented(contacts_sandbox: Sandbox) -> None:
    response = api(contacts_sandbox, "PUT", "/v3/marketing/contacts/imports",
                   json={"file_type": "csv", "field_mappings": ["e1_T"]},
                   headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"job_id", "upload_uri", "upload_headers"}
    assert body["upload_uri"].startswith(f"{contacts_sandbox.url}/sendgrid/upload/{body['job_id']}?")
    assert "X-Amz-Signature=" in body["upload_uri"]
    assert body["upload_headers"] == [{"header": "x-amz-server-side-encryption", "value": "aws:kms"}]
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert response.headers[header].isdigit()


def test_seed_example_job_fails_without_an_identifier_column(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["e1_T"])
    assert upload(job, b"favorite_color\nblue\n").status_code == 200
    status = finished(contacts_sandbox, job["job_id"])
    assert status["status"] == "failed"
    errors = requests.get(status["results"]["errors_url"], timeout=10).text
    assert "at least one identifier" in errors


@pytest.mark.skipif(not SPECS.exists(), reason="shared/contracts/specs is not beside the repository")
def test_field_definitions_match_the_spec_example(contacts_sandbox: Sandbox) -> None:
    spec = yaml.safe_load((SPECS / "tsg_mc_custom_fields_v3.yaml").read_text())
    example = spec["paths"]["/v3/marketing/field_definitions"]["get"]["responses"]["200"]["content"][
        "application/json"]["examples"]["response"]["value"]
    response = api(contacts_sandbox, "GET", "/v3/marketing/field_definitions")
    assert response.status_code == 200
    body = response.json()
    assert body["reserved_fields"] == example["reserved_fields"]
    for custom in example["custom_fields"]:
        assert custom in body["custom_fields"]
    assert {"id": "e1_T", "name": "favorite_color", "field_type": "Text"} in body["custom_fields"]
    assert "self" in body["_metadata"]


def test_create_custom_field_and_list_as_the_spec_examples(contacts_sandbox: Sandbox) -> None:
    created = api(contacts_sandbox, "POST", "/v3/marketing/field_definitions",
                  json={"name": "custom_field_name", "field_type": "Text"})
    assert created.status_code == 200
    assert created.json()["name"] == "custom_field_name" and created.json()["id"].endswith("_T")
    again = api(contacts_sandbox, "POST", "/v3/marketing/field_definitions",
                json={"name": "Custom_Field_Name", "field_type": "Text"})
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "name"
    listed = api(contacts_sandbox, "POST", "/v3/marketing/lists", json={"name": "list-name"})
    assert listed.status_code == 201
    assert {k: listed.json()[k] for k in ("name", "contact_count")} == {"name": "list-name", "contact_count": 0}
    assert listed.json()["_metadata"]["self"].endswith(f"/v3/marketing/lists/{listed.json()['id']}")


# -- a whole import --------------------------------------------------------------------------


def test_import_upserts_contacts_and_reports_the_spec_status_shape(contacts_sandbox: Sandbox) -> None:
    list_id = api(contacts_sandbox, "POST", "/v3/marketing/lists", json={"name": "vip"}).json()["id"]
    job = start_import(contacts_sandbox, ["_rf2_T", "_rf0_T", "w1", "w2", None], list_ids=[list_id])
    data = csv_gz('email,first_name,num_orders,dob,ignored\n'
                  'Ann@Example.com,"Ann, Jr.",3,01/31/1990,x\nbob@example.com,,4.5,,y\n')
    response = upload(job, data)
    assert response.status_code == 200 and response.headers["ETag"]
    status = finished(contacts_sandbox, job["job_id"])
    assert set(status) == {"id", "status", "job_type", "results", "started_at", "finished_at"}
    assert status["id"] == job["job_id"] and status["status"] == "completed" and status["job_type"] == "upsert"
    assert status["results"] == {"requested_count": 2, "created_count": 2, "updated_count": 0,
                                 "deleted_count": 0, "errored_count": 0}
    stored = {c["email"]: c for c in contacts_sandbox.contacts("sendgrid")}
    assert stored["ann@example.com"]["first_name"] == "Ann, Jr."
    assert stored["ann@example.com"]["num_orders"] == 3 and stored["ann@example.com"]["dob"] == "1990-01-31"
    assert "first_name" not in stored["bob@example.com"] and stored["bob@example.com"]["num_orders"] == 4.5
    assert api(contacts_sandbox, "GET", f"/v3/marketing/lists/{list_id}").json()["contact_count"] == 2

    again = start_import(contacts_sandbox, ["_rf2_T", "_rf1_T"])
    assert upload(again, b"email,last_name\nann@example.com,Smith\n").status_code == 200  # plain CSV
    results = finished(contacts_sandbox, again["job_id"])["results"]
    assert (results["created_count"], results["updated_count"]) == (0, 1)
    ann = next(c for c in contacts_sandbox.contacts("sendgrid") if c["email"] == "ann@example.com")
    assert ann["last_name"] == "Smith" and ann["first_name"] == "Ann, Jr."


def test_pending_until_the_file_arrives(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T"])
    time.sleep(0.3)
    status = api(contacts_sandbox, "GET", f"/v3/marketing/contacts/imports/{job['job_id']}").json()
    assert status["status"] == "pending" and "finished_at" not in status and "started_at" in status


def test_row_errors_are_listed_in_the_presigned_errors_file(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T", "w1", "w2"])
    upload(job, csv_gz("email,num_orders,dob\nok@example.com,1,02/03/2001\nnot-an-email,1,\n"
                       "x@example.com,many,\ny@example.com,,2001-02-03\n"))
    status = finished(contacts_sandbox, job["job_id"])
    assert status["status"] == "errored"
    assert status["results"]["errored_count"] == 3 and status["results"]["created_count"] == 1
    url = status["results"]["errors_url"]
    assert "X-Amz-Signature=" in url
    errors = requests.get(url, timeout=10)
    assert errors.status_code == 200 and errors.headers["content-type"].startswith("text/csv")
    assert errors.text.splitlines() == [
        "email,error", "not-an-email,email is invalid", "x@example.com,num_orders must be a number",
        "y@example.com,dob must be a date formatted MM/DD/YYYY"]
    with_key = requests.get(url, headers={"Authorization": "Bearer x"}, timeout=10)
    assert with_key.status_code == 400 and "<Code>InvalidArgument</Code>" in with_key.text


def test_all_rows_rejected_fails_the_job(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T"])
    upload(job, b"email\nnope\n")
    status = finished(contacts_sandbox, job["job_id"])
    assert status["status"] == "failed" and status["results"]["errored_count"] == 1


def test_a_field_mapping_that_does_not_match_the_csv_fails_the_job(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T", "_rf0_T"])
    assert upload(job, b"email\na@example.com\n").status_code == 200
    status = finished(contacts_sandbox, job["job_id"])
    assert status["status"] == "failed"
    assert "the field mapping doesn't match the CSV" in requests.get(status["results"]["errors_url"],
                                                                      timeout=10).text


def test_an_unreadable_file_fails_the_job(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T"])
    upload(job, b"\x1f\x8bnot really gzip")
    assert finished(contacts_sandbox, job["job_id"])["status"] == "failed"


def test_an_injected_job_failure(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="sendgrid", kind="fail_job")
    job = start_import(contacts_sandbox, ["_rf2_T"])
    upload(job, b"email\na@example.com\n")
    assert finished(contacts_sandbox, job["job_id"])["status"] == "failed"
    assert contacts_sandbox.contacts("sendgrid") == []


# -- the upload URL answers like S3 ------------------------------------------------------------


def test_upload_with_the_api_key_is_refused_like_s3(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T"])
    response = upload(job, b"email\na@example.com\n",
                      {**SSE, "Authorization": f"Bearer {contacts_sandbox.state.tokens['sendgrid']}"})
    assert response.status_code == 400
    assert "<Code>InvalidArgument</Code>" in response.text and "Only one auth mechanism allowed" in response.text
    assert response.headers["content-type"].startswith("application/xml")


@pytest.mark.parametrize("headers", [{}, {"x-amz-server-side-encryption": "AES256"}])
def test_upload_without_the_signed_headers_is_refused(contacts_sandbox: Sandbox, headers: dict[str, str]) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T"])
    response = upload(job, b"email\na@example.com\n", headers)
    assert response.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in response.text


def test_upload_with_a_tampered_signature_is_refused(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T"])
    job["upload_uri"] = job["upload_uri"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert upload(job, b"email\na@example.com\n").status_code == 403


def test_chunked_upload_is_refused_like_s3(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T"])
    response = upload(job, iter([b"email\n", b"a@example.com\n"]))
    assert response.status_code == 501
    assert "<Code>NotImplemented</Code>" in response.text and "Transfer-Encoding" in response.text


def test_a_second_upload_does_not_run_the_job_twice(contacts_sandbox: Sandbox) -> None:
    job = start_import(contacts_sandbox, ["_rf2_T"])
    assert upload(job, b"email\na@example.com\n").status_code == 200
    assert upload(job, b"email\na@example.com\n").status_code == 200
    assert finished(contacts_sandbox, job["job_id"])["results"]["created_count"] == 1
    assert contacts_sandbox.submissions("sendgrid")["a@example.com"] == 1


# -- auth, validation, limits -------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "SG.wrong"])
def test_bad_api_key_gets_sendgrids_401(contacts_sandbox: Sandbox, token: str | None) -> None:
    response = api(contacts_sandbox, "GET", "/v3/marketing/field_definitions", token=token)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"field": None, "message": "authorization required"}]}


def test_key_without_marketing_scope_gets_403(contacts_sandbox: Sandbox) -> None:
    account(contacts_sandbox.state).restricted_tokens.add("SG.mail-only")
    response = api(contacts_sandbox, "PUT", "/v3/marketing/contacts/imports", token="SG.mail-only",
                   json={"file_type": "csv", "field_mappings": ["_rf2_T"]})
    assert response.status_code == 403
    assert response.json() == {"errors": [{"field": None, "message": "access forbidden"}]}


@pytest.mark.parametrize(("body", "field"), [
    ({"field_mappings": ["_rf2_T"]}, "file_type"),
    ({"file_type": "json", "field_mappings": ["_rf2_T"]}, "file_type"),
    ({"file_type": "csv"}, "field_mappings"),
    ({"file_type": "csv", "field_mappings": []}, "field_mappings"),
    ({"file_type": "csv", "field_mappings": ["_rf2_T", "zz9_T"]}, "field_mappings[1]"),
    ({"file_type": "csv", "field_mappings": ["_rf2_T", "_rf21_D"]}, "field_mappings[1]"),
    ({"file_type": "csv", "field_mappings": ["_rf2_T", "_rf2_T"]}, "field_mappings"),
])
def test_invalid_import_requests_get_400_with_the_field(contacts_sandbox: Sandbox, body: dict[str, Any],
                                                        field: str) -> None:
    response = api(contacts_sandbox, "PUT", "/v3/marketing/contacts/imports", json=body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == [field] and errors[0]["message"]


def test_unknown_list_gets_404(contacts_sandbox: Sandbox) -> None:
    response = api(contacts_sandbox, "PUT", "/v3/marketing/contacts/imports",
                   json={"file_type": "csv", "field_mappings": ["_rf2_T"],
                         "list_ids": ["ca7a3796-e8a8-4029-9ccb-df8937940562"]})
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "list_ids"


def test_unknown_job_gets_404(contacts_sandbox: Sandbox) -> None:
    response = api(contacts_sandbox, "GET", "/v3/marketing/contacts/imports/nope")
    assert response.status_code == 404 and response.json()["errors"][0]["message"]


def test_rate_limit_headers_and_429(contacts_sandbox: Sandbox) -> None:
    account(contacts_sandbox.state).rate_limit = (2, 60.0)
    first = api(contacts_sandbox, "GET", "/v3/marketing/field_definitions")
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("2", "1")
    api(contacts_sandbox, "GET", "/v3/marketing/field_definitions")
    limited = api(contacts_sandbox, "GET", "/v3/marketing/field_definitions")
    assert limited.status_code == 429
    assert limited.json() == {"errors": [{"field": None, "message": "too many requests"}]}
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) >= time.time()
    assert api(contacts_sandbox, "GET", "/v3/marketing/lists").status_code == 200  # counted per endpoint


def test_injected_429_uses_sendgrids_body(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="sendgrid", kind="429", retry_after=1)
    response = api(contacts_sandbox, "GET", "/v3/marketing/field_definitions")
    assert response.status_code == 429
    assert response.json() == {"errors": [{"field": None, "message": "too many requests"}]}


def test_files_over_the_limits_fail_the_job(contacts_sandbox: Sandbox) -> None:
    sg = account(contacts_sandbox.state)
    sg.max_rows = 2
    job = start_import(contacts_sandbox, ["_rf2_T"])
    upload(job, b"email\na@example.com\nb@example.com\nc@example.com\n")
    assert finished(contacts_sandbox, job["job_id"])["status"] == "failed"
    sg.max_rows, sg.max_file_bytes = 1_000_000, 10
    job = start_import(contacts_sandbox, ["_rf2_T"])
    upload(job, b"email\na@example.com\n")
    status = finished(contacts_sandbox, job["job_id"])
    assert status["status"] == "failed"
    assert "larger than the import limit" in requests.get(status["results"]["errors_url"], timeout=10).text
    assert contacts_sandbox.contacts("sendgrid") == []


def test_sink_mode_counts_without_validating(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    job = start_import(contacts_sandbox, ["whatever"])
    body = csv_gz("email\nnot-an-email\nb@example.com\n")
    assert upload(job, body).status_code == 200
    status = finished(contacts_sandbox, job["job_id"])
    assert status["status"] == "completed" and status["results"]["created_count"] == 2
    assert contacts_sandbox.admin("GET", "sendgrid/sink") == {"requests": 1, "contacts": 2, "bytes": len(body)}
    assert contacts_sandbox.contacts("sendgrid") == []


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        pytest.param(csv_gz("email\na@example.com\n") + csv_gz("b@example.com\nc@example.com"), 3,
                     id="two-gzip-members-no-final-newline"),
        pytest.param(b"email\na@example.com\nb@example.com", 2, id="plain-csv"),
        pytest.param(csv_gz("email\n" + "".join(f"user{i}@example.com\n" for i in range(300_000))), 300_000,
                     id="several-megabytes"),
        pytest.param(b"\x1f\x8b\x08not gzip after all", 0, id="truncated"),
        pytest.param(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage, not deflate", 0, id="corrupt"),
    ],
)
def test_sink_mode_counts_every_data_line(contacts_sandbox: Sandbox, body: bytes, rows: int) -> None:
    contacts_sandbox.state.sink = True
    job = start_import(contacts_sandbox, ["whatever"])
    upload(job, body)
    assert finished(contacts_sandbox, job["job_id"])["results"]["created_count"] == rows
