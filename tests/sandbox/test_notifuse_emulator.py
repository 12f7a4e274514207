"""The Notifuse emulator answers as Notifuse's Go source does, including where its OpenAPI examples differ."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_contacts_provider.sandbox.notifuse import (
    CONTACTS_ONLY_TOKEN,
    EXAMPLE_WORKSPACE,
    READ_ONLY_TOKEN,
    list_members,
)
from airflow_contacts_provider.sandbox.server import Sandbox

TOKEN = "sandbox-notifuse-token"
WORKSPACE = "ws_sandbox"
PARSE_ERROR = "invalid contact at index {}: email is required"


def post(sandbox: Sandbox, body: Any, *, token: str | None = TOKEN, raw: bytes | None = None,
         authorization: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{sandbox.base_url('notifuse')}/api/contacts.import"
    if raw is not None:
        return requests.post(url, data=raw, headers=headers, timeout=10)
    return requests.post(url, json=body, headers=headers, timeout=10)


def count(sandbox: Sandbox, workspace: str | None, token: str = TOKEN) -> requests.Response:
    params = {"workspace_id": workspace} if workspace is not None else {}
    return requests.get(f"{sandbox.base_url('notifuse')}/api/contacts.count", params=params,
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def stored(sandbox: Sandbox, workspace: str = WORKSPACE) -> dict[str, dict[str, Any]]:
    return {contact["email"]: contact for contact in sandbox.contacts("notifuse", workspace)}


# -- the OpenAPI example, as documented ---------------------------------------------------------

SEED_EXAMPLE = {
    "workspace_id": EXAMPLE_WORKSPACE,
    "contacts": [
        {"email": "user1@example.com", "first_name": "John", "last_name": "Doe"},
        {"email": "user2@example.com", "first_name": "Jane", "last_name": "Smith"},
    ],
    "subscribe_to_lists": ["newsletter", "product_updates"],
}


def test_seed_example_creates_both_contacts_and_subscribes_them(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, SEED_EXAMPLE)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"operations": [{"email": "user1@example.com", "action": "create"},
                                              {"email": "user2@example.com", "action": "create"}]}
    contacts = stored(contacts_sandbox, EXAMPLE_WORKSPACE)
    assert contacts["user2@example.com"]["first_name"] == "Jane"
    for list_id in ("newsletter", "product_updates"):
        assert list_members(contacts_sandbox.state, list_id, EXAMPLE_WORKSPACE) == {
            "user1@example.com", "user2@example.com"}


def test_seed_example_sent_again_reports_updates(contacts_sandbox: Sandbox) -> None:
    post(contacts_sandbox, SEED_EXAMPLE)

    response = post(contacts_sandbox, SEED_EXAMPLE)

    assert response.json()["operations"] == [{"email": "user1@example.com", "action": "update"},
                                             {"email": "user2@example.com", "action": "update"}]


def test_seed_example_missing_workspace_id(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, {"contacts": SEED_EXAMPLE["contacts"]})

    assert response.status_code == 400
    assert response.json() == {"error": "workspace_id is required"}


def test_missing_contacts_uses_the_go_text_not_the_openapi_example(contacts_sandbox: Sandbox) -> None:
    # OpenAPI example: "contacts is required"; Notifuse's handler says this.
    response = post(contacts_sandbox, {"workspace_id": WORKSPACE})

    assert response.status_code == 400
    assert response.json() == {"error": "contacts must be an array"}


def test_empty_contacts_uses_the_go_text_not_the_openapi_example(contacts_sandbox: Sandbox) -> None:
    # OpenAPI example: "contacts array cannot be empty".
    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": []})

    assert response.status_code == 400
    assert response.json() == {"error": "contacts array is empty"}


def test_lists_permission_is_a_500_not_the_openapi_400(contacts_sandbox: Sandbox) -> None:
    # OpenAPI example: 400 "write access to lists required when subscribe_to_lists is provided".
    body = {**SEED_EXAMPLE, "workspace_id": WORKSPACE}

    response = post(contacts_sandbox, body, token=CONTACTS_ONLY_TOKEN)
    without_lists = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": SEED_EXAMPLE["contacts"]},
                         token=CONTACTS_ONLY_TOKEN)

    assert response.status_code == 500
    assert response.json() == {"error": "Insufficient permissions: write access to lists required"}
    assert without_lists.status_code == 200


# -- request validation -----------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"',
                                 b'{"workspace_id": 42, "contacts": [{"email": "a@example.com"}]}',
                                 b'{"workspace_id": "ws_sandbox", "contacts": [{"email": "a@example.com"}], '
                                 b'"subscribe_to_lists": [1]}',
                                 b'{"workspace_id": "ws_sandbox", "contacts": [{"email": "a@example.com", '
                                 b'"custom_number_1": NaN}]}'])
def test_bodies_go_cannot_decode_are_invalid(contacts_sandbox: Sandbox, raw: bytes) -> None:
    response = post(contacts_sandbox, None, raw=raw)

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid request body"}


def test_a_null_body_decodes_to_nothing(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, None, raw=b"null")

    assert (response.status_code, response.json()) == (400, {"error": "workspace_id is required"})


def test_top_level_keys_match_case_insensitively_as_in_go(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, {"Workspace_ID": WORKSPACE, "CONTACTS": [{"email": "a@example.com"}]})

    assert response.json() == {"operations": [{"email": "a@example.com", "action": "create"}]}


def test_contacts_that_are_not_an_array(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": {"email": "a@example.com"}})

    assert (response.status_code, response.json()) == (400, {"error": "contacts must be an array"})


def test_wrong_method(contacts_sandbox: Sandbox) -> None:
    response = requests.get(f"{contacts_sandbox.base_url('notifuse')}/api/contacts.import",
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    assert (response.status_code, response.json()) == (405, {"error": "Method not allowed"})


# -- auth ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("authorization", "message"), [
    (None, "Authorization header is required"),
    (f"Token {TOKEN}", "Invalid authorization header format"),
    (f"bearer {TOKEN}", "Invalid authorization header format"),
    (f"Bearer  {TOKEN}", "Invalid authorization header format"),
    ("Bearer not-a-jwt", "Invalid token: token is malformed: token contains an invalid number of segments"),
    ("Bearer aaa.bbb.ccc", "Invalid token: token signature is invalid: signature is invalid"),
])
def test_auth_middleware_answers(contacts_sandbox: Sandbox, authorization: str | None, message: str) -> None:
    response = post(contacts_sandbox, SEED_EXAMPLE, token=None, authorization=authorization)

    assert response.status_code == 401
    assert response.json() == {"error": message}
    assert stored(contacts_sandbox, EXAMPLE_WORKSPACE) == {}


def test_unknown_workspace_is_a_500_authentication_failure(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, {"workspace_id": "ws_other", "contacts": [{"email": "a@example.com"}]})

    assert response.status_code == 500
    assert response.json() == {"error": "failed to authenticate user: workspace not found: ws_other"}


def test_read_only_key_may_not_import(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": [{"email": "a@example.com"}]},
                    token=READ_ONLY_TOKEN)

    assert response.status_code == 500
    assert response.json() == {"error": "Insufficient permissions: write access to contacts required"}
    assert stored(contacts_sandbox) == {}


# -- per-contact results ------------------------------------------------------------------------

@pytest.mark.parametrize("contact", [
    {"first_name": "No email"},
    {"email": None},
    {"email": "not-an-email"},
    {"email": "a@localhost"},
    {"email": "a@example.123"},
    {"email": 42},
    {"email": "a@example.com", "first_name": 7},
    {"email": "a@example.com", "custom_number_1": "12"},
    {"email": "a@example.com", "custom_number_1": True},
    {"email": "a@example.com", "custom_datetime_1": "2024-01-01"},
    {"email": "a@example.com", "custom_datetime_1": "2024-01-01 10:00:00Z"},
    {"email": "a@example.com", "custom_datetime_1": "2024-02-30T10:00:00Z"},
    {"email": "a@example.com", "custom_datetime_1": 1704067200},
    {"email": "a@example.com", "custom_json_1": "{\"a\": 1}"},
    {"email": "a@example.com", "custom_json_1": 3},
    "a@example.com",
])
def test_any_contact_that_fails_to_parse_reads_email_is_required(contacts_sandbox: Sandbox,
                                                                contact: Any) -> None:
    response = post(contacts_sandbox, {"workspace_id": WORKSPACE,
                                       "contacts": [{"email": "ok@example.com"}, contact]})

    assert response.status_code == 200
    assert response.json() == {"operations": [
        {"email": "", "action": "error", "error": PARSE_ERROR.format(1)},
        {"email": "ok@example.com", "action": "create"},
    ]}
    assert list(stored(contacts_sandbox)) == ["ok@example.com"]


def test_values_notifuse_accepts(contacts_sandbox: Sandbox) -> None:
    contact = {
        "email": "  Mixed.Case+tag@Example.COM\u00a0", "first_name": " Ann ", "custom_number_1": 3,
        "custom_number_2": 2.5, "custom_datetime_1": "2024-01-01T10:00:00.123456+02:00",
        "custom_datetime_2": "2024-01-01T10:00:00Z", "custom_json_1": {"plan": "pro"}, "custom_json_2": [1, 2],
        "unknown_key": "ignored", "custom_string_1": None,
    }

    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": [contact]})

    assert response.json() == {"operations": [{"email": "mixed.case+tag@example.com", "action": "create"}]}
    saved = stored(contacts_sandbox)["mixed.case+tag@example.com"]
    assert saved["first_name"] == "Ann"
    assert saved["custom_number_1"] == 3.0
    assert saved["custom_json_2"] == [1, 2]
    assert "unknown_key" not in saved
    assert "custom_string_1" not in saved


def test_upsert_keeps_absent_and_null_fields(contacts_sandbox: Sandbox) -> None:
    post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": [
        {"email": "a@example.com", "first_name": "Ann", "last_name": "Lee", "custom_number_1": 1}]})

    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": [
        {"email": "A@EXAMPLE.com", "first_name": "Anna", "last_name": None}]})

    assert response.json() == {"operations": [{"email": "a@example.com", "action": "update"}]}
    saved = stored(contacts_sandbox)["a@example.com"]
    assert (saved["first_name"], saved["last_name"], saved["custom_number_1"]) == ("Anna", "Lee", 1.0)


def test_repeated_emails_last_wins_and_earlier_get_no_operation(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": [
        {"email": "dup@example.com", "first_name": "First"},
        {"email": "other@example.com"},
        {"email": "DUP@example.com ", "first_name": "Last"},
    ]})

    assert response.json() == {"operations": [{"email": "other@example.com", "action": "create"},
                                              {"email": "dup@example.com", "action": "create"}]}
    assert stored(contacts_sandbox)["dup@example.com"]["first_name"] == "Last"
    assert contacts_sandbox.submissions("notifuse")["dup@example.com"] == 1


def test_parse_errors_come_first_then_results_in_request_order(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": [
        {"email": "a@example.com"}, {"email": "bad"}, {"email": "b@example.com"}, {"email": ""},
    ]})

    assert response.json()["operations"] == [
        {"email": "", "action": "error", "error": PARSE_ERROR.format(1)},
        {"email": "", "action": "error", "error": PARSE_ERROR.format(3)},
        {"email": "a@example.com", "action": "create"},
        {"email": "b@example.com", "action": "create"},
    ]


def test_an_overlong_value_fails_its_whole_500_contact_chunk(contacts_sandbox: Sandbox) -> None:
    contacts = [{"email": f"c{i}@example.com"} for i in range(600)]
    contacts[10]["first_name"] = "x" * 256

    operations = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": contacts}).json()["operations"]

    failed = [op for op in operations if op["action"] == "error"]
    assert len(failed) == 500
    assert failed[0] == {"email": "c0@example.com", "action": "error",
                         "error": "failed to upsert contact at index 0: failed to execute bulk upsert: "
                                  "pq: value too long for type character varying(255)"}
    assert [op["action"] for op in operations[500:]] == ["create"] * 100
    assert len(stored(contacts_sandbox)) == 100


def test_no_batch_limit(contacts_sandbox: Sandbox) -> None:
    contacts = [{"email": f"c{i}@example.com"} for i in range(5_000)]

    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": contacts})

    assert response.status_code == 200
    assert len(response.json()["operations"]) == 5_000


def test_overlong_list_ids_are_only_logged(contacts_sandbox: Sandbox) -> None:
    response = post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": [{"email": "a@example.com"}],
                                       "subscribe_to_lists": ["x" * 33]})

    assert response.json() == {"operations": [{"email": "a@example.com", "action": "create"}]}
    assert list_members(contacts_sandbox.state, "x" * 33) == set()


# -- contacts.count (the hook's connection test) ---------------------------------------------

def test_count(contacts_sandbox: Sandbox) -> None:
    post(contacts_sandbox, {"workspace_id": WORKSPACE, "contacts": [{"email": "a@example.com"}]})

    assert (count(contacts_sandbox, WORKSPACE).status_code, count(contacts_sandbox, WORKSPACE).json()) == (
        200, {"total_contacts": 1})
    assert count(contacts_sandbox, WORKSPACE, READ_ONLY_TOKEN).json() == {"total_contacts": 1}


@pytest.mark.parametrize(("workspace", "status", "message"), [
    (None, 400, "Missing workspace ID"),
    ("", 400, "Missing workspace ID"),
    ("ws_other", 500, "Failed to count contacts"),
])
def test_count_errors(contacts_sandbox: Sandbox, workspace: str | None, status: int, message: str) -> None:
    response = count(contacts_sandbox, workspace)

    assert (response.status_code, response.json()) == (status, {"error": message})


def test_count_needs_a_valid_token(contacts_sandbox: Sandbox) -> None:
    response = count(contacts_sandbox, WORKSPACE, "wrong")

    assert response.status_code == 401
    assert response.json()["error"].startswith("Invalid token: ")


# -- faults and sink mode --------------------------------------------------------------------------

def test_injected_429_in_notifuse_shape(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="notifuse", kind="429", retry_after=2)

    response = post(contacts_sandbox, SEED_EXAMPLE)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"error": "Rate limit exceeded"}


def test_a_proxy_body_cap_refuses_larger_bodies_in_html_and_stores_nothing(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="notifuse", kind="413", max_body=1_000, count=None)
    small = {"workspace_id": WORKSPACE, "contacts": [{"email": "small@example.com"}]}
    large = {"workspace_id": WORKSPACE, "contacts": [{"email": f"c{i}@example.com"} for i in range(100)]}

    refused = post(contacts_sandbox, large)
    accepted = post(contacts_sandbox, small)

    assert refused.status_code == 413
    assert refused.headers["Content-Type"] == "text/html"
    assert "413 Request Entity Too Large" in refused.text
    assert accepted.status_code == 200
    assert list(stored(contacts_sandbox)) == ["small@example.com"]
    assert contacts_sandbox.state.faults.fired["notifuse:413"] == 1


def test_sink_mode_counts_and_acknowledges_without_storing(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    raw = json.dumps({"workspace_id": WORKSPACE, "contacts": [{"email": " A@Example.com"}, {"email": "bad"}]})

    response = post(contacts_sandbox, None, raw=raw.encode())

    assert response.json() == {"operations": [{"email": "a@example.com", "action": "create"},
                                              {"email": "bad", "action": "create"}]}
    counter = contacts_sandbox.state.sink_counter("notifuse")
    assert (counter.requests, counter.contacts) == (1, 2)
    assert counter.bytes == len(raw.encode())
    assert stored(contacts_sandbox) == {}


def test_sink_mode_answers_an_empty_email_for_a_contact_without_one(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    body = {"workspace_id": WORKSPACE, "contacts": [{"email": " A@Example.COM ", "first_name": 7}, {"phone": "1"}]}
    response = post(contacts_sandbox, body)
    assert response.status_code == 200
    assert response.json() == {"operations": [{"email": "a@example.com", "action": "create"},
                                              {"email": "", "action": "create"}]}
    assert contacts_sandbox.admin("GET", "notifuse/sink")["contacts"] == 2


def test_sink_mode_echoes_any_email_as_json_would(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    emails = ['"q","uoted"@example.com', "", "", 'back\\slash"@x.io', "tab\there@x.io", "ünï@x.io", '","']
    body = {"workspace_id": WORKSPACE, "contacts": [{"email": email} for email in emails]}

    response = post(contacts_sandbox, body)

    assert response.json() == {"operations": [{"email": email.strip().lower(), "action": "create"}
                                              for email in emails]}


def test_sink_mode_lower_cases_plain_emails_and_keeps_a_line_break_within_one(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    plain = ["Ann@Example.COM", "", "b.c+tag@x.io", "QUOTE'S@X.IO"]
    for emails in (plain, [*plain, "line\nbreak@x.io"]):
        body = {"workspace_id": WORKSPACE, "contacts": [{"email": email} for email in emails]}

        response = post(contacts_sandbox, body)

        assert response.json() == {"operations": [{"email": email.lower(), "action": "create"} for email in emails]}


def test_sink_mode_answers_no_contacts_with_no_operations(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True

    response = post(contacts_sandbox, None, raw=b'{"workspace_id": "ws_sandbox", "contacts": []}')

    assert response.json() == {"operations": []}
