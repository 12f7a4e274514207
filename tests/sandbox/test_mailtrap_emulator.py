"""The Mailtrap emulator answers as Mailtrap's spec documents, over real HTTP with plain requests."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from airflow_contacts_provider.sandbox.mailtrap import mailtrap_state
from airflow_contacts_provider.sandbox.server import Sandbox

ACCOUNT = "1001"
TOKEN = "sandbox-mailtrap-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SCOPED = f"/api/accounts/{ACCOUNT}/contacts"
UNSCOPED = "/api/contacts"


def call(sandbox: Sandbox, method: str, path: str, headers: dict[str, str] | None = None,
         **kwargs: Any) -> requests.Response:
    return requests.request(method, sandbox.base_url("mailtrap") + path,
                            headers=BEARER if headers is None else headers, timeout=30, **kwargs)


def finished(sandbox: Sandbox, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        body = call(sandbox, "GET", path).json()
        if body["status"] in ("finished", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


# -- the spec's documented examples ---------------------------------------------------------


def test_documented_curl_import_then_get(contacts_sandbox: Sandbox) -> None:
    """The spec's cURL sample (unscoped path, Bearer) and the Get Contact Import examples."""
    response = call(contacts_sandbox, "POST", "/api/contacts/imports", json={
        "contacts": [{"email": "user1@example.com", "fields": {"first_name": "John"}, "list_ids_included": [1, 2]}]
    })
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": 1, "status": body["status"]}
    assert body["status"] in ("created", "started")

    started = call(contacts_sandbox, "GET", "/api/contacts/imports/1")
    assert started.status_code == 200
    assert set(started.json()) == {"id", "status"}

    assert finished(contacts_sandbox, "/api/contacts/imports/1") == {
        "id": 1, "status": "finished", "created_contacts_count": 1, "updated_contacts_count": 0,
        "contacts_over_limit_count": 0,
    }
    stored = contacts_sandbox.contacts("mailtrap")
    assert stored == [{"email": "user1@example.com", "first_name": "John", "list_ids": [1, 2], "_submissions": 1}]


def test_documented_request_example_scoped_with_api_token_header(contacts_sandbox: Sandbox) -> None:
    """The ContactImportRequest example (two contacts, zip_code, lists 1-6) on the SDKs' scoped path."""
    example = {"contacts": [
        {"email": "customer1@example.com", "fields": {"first_name": "John", "last_name": "Smith", "zip_code": 11111},
         "list_ids_included": [1, 2, 3], "list_ids_excluded": [4, 5, 6]},
        {"email": "customer2@example.com", "fields": {"first_name": "Joe", "last_name": "Doe", "zip_code": 22222},
         "list_ids_included": [1], "list_ids_excluded": [4]},
    ]}
    response = call(contacts_sandbox, "POST", f"{SCOPED}/imports", headers={"Api-Token": TOKEN}, json=example)
    assert response.status_code == 201
    job_id = response.json()["id"]
    result = finished(contacts_sandbox, f"{SCOPED}/imports/{job_id}")
    assert (result["created_contacts_count"], result["updated_contacts_count"]) == (2, 0)
    stored = {c["email"]: c for c in contacts_sandbox.contacts("mailtrap")}
    assert stored["customer1@example.com"]["zip_code"] == 11111
    assert stored["customer1@example.com"]["list_ids"] == [1, 2, 3]


def test_documented_seed_004_example_counts_updates(contacts_sandbox: Sandbox) -> None:
    """Seed 004's bulk import example, sent twice: the second run updates both contacts."""
    example = {"contacts": [
        {"email": "user1@example.com", "fields": {"first_name": "John"}, "list_ids_included": [1, 2]},
        {"email": "user2@example.com", "fields": {"first_name": "Jane"}, "list_ids_included": [1]},
    ]}
    for expected in ((2, 0), (0, 2)):
        response = call(contacts_sandbox, "POST", f"{SCOPED}/imports", json=example)
        assert response.status_code == 201
        result = finished(contacts_sandbox, f"{SCOPED}/imports/{response.json()['id']}")
        assert (result["created_contacts_count"], result["updated_contacts_count"]) == expected
    assert contacts_sandbox.submissions("mailtrap") == {"user1@example.com": 2, "user2@example.com": 2}


def test_documented_fields_and_lists_shapes(contacts_sandbox: Sandbox) -> None:
    for prefix in (SCOPED, UNSCOPED):
        fields = call(contacts_sandbox, "GET", f"{prefix}/fields")
        assert fields.status_code == 200
        assert all(set(f) == {"id", "name", "data_type", "merge_tag"} for f in fields.json())
        by_tag = {f["merge_tag"]: f["data_type"] for f in fields.json()}
        assert by_tag["first_name"] == "text" and by_tag["signup_date"] == "date"
        assert by_tag["age"] == "integer" and by_tag["score"] == "float" and by_tag["vip"] == "boolean"
        lists = call(contacts_sandbox, "GET", f"{prefix}/lists")
        assert lists.status_code == 200
        assert [item["id"] for item in lists.json()] == [1, 2, 3, 4, 5, 6]
        assert all(set(item) == {"id", "name"} for item in lists.json())


def test_documented_create_field_and_list(contacts_sandbox: Sandbox) -> None:
    created = call(contacts_sandbox, "POST", f"{UNSCOPED}/fields",
                   json={"name": "My Contact Field", "data_type": "text", "merge_tag": "my_contact_field"})
    assert created.status_code == 201
    assert created.json() == {"id": created.json()["id"], "name": "My Contact Field", "data_type": "text",
                              "merge_tag": "my_contact_field"}
    again = call(contacts_sandbox, "POST", f"{UNSCOPED}/fields",
                 json={"name": "My Contact Field", "data_type": "colour", "merge_tag": "x" * 81})
    assert again.status_code == 422
    assert again.json() == {"errors": {"name": ["has already been taken"],
                                       "merge_tag": ["is too long (maximum is 80 characters)"],
                                       "data_type": ["is not included in the list"]}}

    contact_list = call(contacts_sandbox, "POST", f"{SCOPED}/lists", json={"name": "Customers 2026"})
    assert contact_list.status_code == 200
    assert contact_list.json() == {"id": 7, "name": "Customers 2026"}
    assert call(contacts_sandbox, "GET", f"{SCOPED}/lists/7").json() == {"id": 7, "name": "Customers 2026"}


# -- auth and routing ------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Api-Token": "wrong"},
                                     {"Authorization": TOKEN}])
def test_unauthenticated(contacts_sandbox: Sandbox, headers: dict[str, str]) -> None:
    response = call(contacts_sandbox, "POST", f"{UNSCOPED}/imports", headers=headers,
                    json={"contacts": [{"email": "a@example.com"}]})
    assert response.status_code == 401
    assert response.json() == {"error": "Incorrect API token"}
    assert contacts_sandbox.contacts("mailtrap") == []


def test_other_account_is_forbidden(contacts_sandbox: Sandbox) -> None:
    response = call(contacts_sandbox, "GET", "/api/accounts/999/contacts/fields")
    assert response.status_code == 403
    assert response.json() == {"errors": "Account access forbidden"}


@pytest.mark.parametrize("path", [f"{SCOPED}/imports/42", f"{UNSCOPED}/imports/42", f"{UNSCOPED}/imports/abc",
                                  "/api/nothing/here", f"{SCOPED}/lists/99"])
def test_not_found(contacts_sandbox: Sandbox, path: str) -> None:
    response = call(contacts_sandbox, "GET", path)
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}


def test_injected_server_error_has_mailtrap_shape(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="mailtrap", kind="500")
    response = call(contacts_sandbox, "GET", f"{UNSCOPED}/fields")
    assert response.status_code == 500
    assert response.json() == {"errors": "Unexpected error"}


# -- validation (422) --------------------------------------------------------------------------


def import_errors(sandbox: Sandbox, contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = call(sandbox, "POST", f"{SCOPED}/imports", json={"contacts": contacts})
    assert response.status_code == 422
    assert sandbox.contacts("mailtrap") == [], "a 422 refuses the whole request"
    assert mailtrap_state(sandbox.state).jobs == {}
    return response.json()["errors"]


@pytest.mark.parametrize(("contact", "errors"), [
    ({"email": "not-an-email"}, {"email": ["is invalid"]}),
    ({"email": "someone@example.c"}, {"email": ["top level domain is too short"]}),
    ({"email": "a@example.com", "fields": {"nickname": "Al"}}, {"field_merge_tag": ["is invalid"]}),
    ({"email": "a@example.com", "fields": {"age": "forty", "vip": 1}},
     {"fields": ["contains invalid values: age, vip"]}),
    ({"email": "a@example.com", "fields": {"signup_date": "2024-02-30"}},
     {"fields": ["contains invalid values: signup_date"]}),
    ({"email": "a@example.com", "list_ids_included": [1, 2], "list_ids_excluded": [2]},
     {"base": ["same list_ids 2 are specified both as included and excluded"]}),
    ({"email": "a@example.com", "list_ids_included": [99]}, {"base": ["list_ids 99 do not exist"]}),
])
def test_contact_errors(contacts_sandbox: Sandbox, contact: dict[str, Any], errors: dict[str, list[str]]) -> None:
    good = {"email": "good@example.com", "fields": {"first_name": "Good"}}
    assert import_errors(contacts_sandbox, [good, contact]) == [{"email": contact["email"], "errors": errors}]


def test_valid_values_of_every_type_are_accepted(contacts_sandbox: Sandbox) -> None:
    fields = {"first_name": "Ann", "age": 41, "score": 7, "vip": True, "signup_date": "2024-02-29"}
    response = call(contacts_sandbox, "POST", f"{SCOPED}/imports",
                    json={"contacts": [{"email": "ann@example.com", "fields": fields}]})
    assert response.status_code == 201
    assert contacts_sandbox.contacts("mailtrap")[0]["score"] == 7


def test_more_than_50000_contacts(contacts_sandbox: Sandbox) -> None:
    contacts = [{"email": f"u{i}@example.com"} for i in range(50_001)]
    assert import_errors(contacts_sandbox, contacts) == [
        {"errors": {"base": ["cannot import more than 50000 contacts at once"]}}
    ]


def test_malformed_bodies(contacts_sandbox: Sandbox) -> None:
    response = call(contacts_sandbox, "POST", f"{SCOPED}/imports", data=b"{not json",
                    headers={**BEARER, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert import_errors(contacts_sandbox, []) == [{"errors": {"base": ["contacts must be a non-empty array"]}}]


# -- limits, jobs, sink -------------------------------------------------------------------------


def test_account_rate_limit(contacts_sandbox: Sandbox) -> None:
    mailtrap_state(contacts_sandbox.state).account_rate_limit = (3, 60.0)
    statuses = [call(contacts_sandbox, "GET", path).status_code
                for path in (f"{SCOPED}/fields", f"{UNSCOPED}/lists", f"{SCOPED}/lists")]
    assert statuses == [200, 200, 200]
    limited = call(contacts_sandbox, "GET", f"{UNSCOPED}/fields")
    assert limited.status_code == 429
    assert limited.json() == {"errors": "Rate limit exceeded"}
    assert "Retry-After" not in limited.headers


def test_rate_limit_window_slides(contacts_sandbox: Sandbox) -> None:
    mailtrap_state(contacts_sandbox.state).account_rate_limit = (2, 0.5)
    assert [call(contacts_sandbox, "GET", f"{SCOPED}/fields").status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(0.55)
    assert call(contacts_sandbox, "GET", f"{SCOPED}/fields").status_code == 200


def test_failed_job_has_no_counts(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="mailtrap", kind="fail_job")
    response = call(contacts_sandbox, "POST", f"{SCOPED}/imports", json={"contacts": [{"email": "a@example.com"}]})
    assert response.status_code == 201
    assert finished(contacts_sandbox, f"{SCOPED}/imports/{response.json()['id']}") == {
        "id": response.json()["id"], "status": "failed"}
    assert contacts_sandbox.contacts("mailtrap") == []


def test_contact_limit_counts_over_limit(contacts_sandbox: Sandbox) -> None:
    mailtrap_state(contacts_sandbox.state).contact_limit = 2
    contacts = [{"email": f"u{i}@example.com"} for i in range(3)]
    response = call(contacts_sandbox, "POST", f"{SCOPED}/imports", json={"contacts": contacts})
    result = finished(contacts_sandbox, f"{SCOPED}/imports/{response.json()['id']}")
    assert result["created_contacts_count"] == 2 and result["contacts_over_limit_count"] == 1
    assert len(contacts_sandbox.contacts("mailtrap")) == 2
    assert contacts_sandbox.submissions("mailtrap")["u2@example.com"] == 1


def test_list_membership_is_added_and_removed(contacts_sandbox: Sandbox) -> None:
    for change in ({"list_ids_included": [1, 2]}, {"list_ids_included": [3], "list_ids_excluded": [1]}):
        response = call(contacts_sandbox, "POST", f"{SCOPED}/imports",
                        json={"contacts": [{"email": "a@example.com", **change}]})
        assert response.status_code == 201
    assert contacts_sandbox.contacts("mailtrap")[0]["list_ids"] == [2, 3]


def test_sink_mode_counts_without_validating(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    payload = {"contacts": [{"email": "not-an-email"}, {"email": "b@example.com", "fields": {"nope": 1}}]}
    response = call(contacts_sandbox, "POST", f"{SCOPED}/imports", json=payload)
    assert response.status_code == 201
    counter = contacts_sandbox.state.sink_counter("mailtrap")
    assert (counter.requests, counter.contacts) == (1, 2) and counter.bytes > 0
    assert contacts_sandbox.contacts("mailtrap") == []
    result = finished(contacts_sandbox, f"{SCOPED}/imports/{response.json()['id']}")
    assert result["created_contacts_count"] == 2
