"""The Migma emulator answers raw HTTP as Migma documents: seed 003, the docs' envelope, the Node SDK's modes."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from airflow_contacts_provider.sandbox.server import Sandbox

KEY = "sandbox-migma-key"
PROJECT = "proj_sandbox"


def _post(sandbox: Sandbox, body: Any, *, key: str | None = KEY, prefix: str = "/v1",
          headers: dict[str, str] | None = None) -> requests.Response:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(f"{sandbox.base_url('migma')}{prefix}/contacts/bulk", json=body,
                         headers={**auth, **(headers or {})}, timeout=30)


def _get(sandbox: Sandbox, path: str, *, key: str = KEY, **params: Any) -> requests.Response:
    return requests.get(f"{sandbox.base_url('migma')}/v1{path}", params=params,
                        headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _assert_error(response: requests.Response, status: int, code: str, text: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and body["code"] == code and text in body["error"]
    assert set(body["metadata"]) == {"timestamp", "requestId"}


def _settings(sandbox: Sandbox) -> dict[str, Any]:
    return sandbox.state.extras.setdefault("migma", {})


def test_seed_example_bulk_import(contacts_sandbox: Sandbox) -> None:
    """Seed 003's Node SDK sample, as the HTTP request it sends."""
    response = _post(contacts_sandbox, {
        "subscribers": [{"email": "john@example.com", "firstName": "John"},
                        {"email": "jane@example.com", "firstName": "Jane"}],
        "projectId": PROJECT,
    })
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {"success": 2, "failed": 0, "updated": 0, "errors": []}
    assert body["metadata"]["requestId"].startswith("req_") and body["metadata"]["timestamp"].endswith("Z")
    assert [(c["email"], c["firstName"]) for c in contacts_sandbox.contacts("migma")] == [
        ("jane@example.com", "Jane"), ("john@example.com", "John")]


def test_all_documented_subscriber_fields_are_stored(contacts_sandbox: Sandbox) -> None:
    subscriber = {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "phone": "+44 20 1234",
                  "country": "GB", "language": "en", "tags": ["vip"], "customFields": {"plan": "pro", "seats": 3},
                  "status": "non-subscribed"}
    assert _post(contacts_sandbox, {"subscribers": [subscriber], "projectId": PROJECT}).json()["data"]["success"] == 1
    stored = contacts_sandbox.contacts("migma")[0]
    assert {k: stored[k] for k in subscriber} == subscriber


def test_upsert_by_email_counts_updates_and_merges(contacts_sandbox: Sandbox) -> None:
    first = {"email": "Ada@Example.com", "firstName": "Ada", "tags": ["a"], "customFields": {"x": 1}}
    _post(contacts_sandbox, {"subscribers": [first], "projectId": PROJECT})
    again = {"email": "ada@example.com", "lastName": "L", "tags": ["b"], "customFields": {"y": 2}}
    data = _post(contacts_sandbox, {"subscribers": [again, {"email": "new@example.com"}],
                                    "projectId": PROJECT}).json()["data"]
    assert data == {"success": 1, "failed": 0, "updated": 1, "errors": []}
    stored = {c["email"]: c for c in contacts_sandbox.contacts("migma")}
    ada = stored["ada@example.com"]
    assert (ada["firstName"], ada["lastName"], ada["tags"], ada["customFields"]) == ("Ada", "L", ["a", "b"],
                                                                                    {"x": 1, "y": 2})
    assert stored["new@example.com"]["status"] == "subscribed"


@pytest.mark.parametrize(
    ("subscriber", "reason"),
    [
        ({"email": "nope"}, "nope: invalid email address"),
        ({"email": "p@example.com", "phone": "1" * 31}, "p@example.com: phone must be a string of at most 30"),
        ({"email": "s@example.com", "status": "active"}, "s@example.com: status must be one of subscribed"),
        ({"email": "t@example.com", "tags": "vip"}, "t@example.com: tags must be an array of strings"),
        ({"email": "t@example.com", "tags": [1]}, "t@example.com: tags must be an array of strings"),
        ({"email": "c@example.com", "customFields": [1]}, "c@example.com: customFields must be an object"),
        ({"email": "f@example.com", "firstName": 5}, "f@example.com: firstName must be a string"),
        ({"firstName": "No email"}, "Subscriber at position 1: email is required"),
        ("just-a-string", "Subscriber at position 1: must be an object"),
    ],
)
def test_invalid_subscribers_are_counted_as_failed(contacts_sandbox: Sandbox, subscriber: Any, reason: str) -> None:
    response = _post(contacts_sandbox, {"subscribers": [{"email": "ok@example.com"}, subscriber],
                                        "projectId": PROJECT})
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["success"], data["failed"], data["updated"]) == (1, 1, 0)
    assert len(data["errors"]) == 1 and data["errors"][0].startswith(reason)
    assert [c["email"] for c in contacts_sandbox.contacts("migma")] == ["ok@example.com"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"subscribers": [{"email": "a@example.com"}]}, "projectId is required"),
        ({"projectId": PROJECT}, "subscribers must be a non-empty array"),
        ({"subscribers": [], "projectId": PROJECT}, "subscribers must be a non-empty array"),
        ({"subscribers": {"email": "a@example.com"}, "projectId": PROJECT}, "subscribers must be a non-empty array"),
        ([1, 2], "Request body must be a JSON object"),
    ],
)
def test_malformed_requests_are_400(contacts_sandbox: Sandbox, body: Any, message: str) -> None:
    _assert_error(_post(contacts_sandbox, body), 400, "VALIDATION_ERROR", message)


def test_invalid_json_is_400(contacts_sandbox: Sandbox) -> None:
    response = requests.post(f"{contacts_sandbox.base_url('migma')}/v1/contacts/bulk", data=b"{nope",
                             headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
                             timeout=10)
    _assert_error(response, 400, "VALIDATION_ERROR", "Invalid JSON body")


def test_unknown_project_is_404(contacts_sandbox: Sandbox) -> None:
    body = {"subscribers": [{"email": "a@example.com"}], "projectId": "proj_other"}
    _assert_error(_post(contacts_sandbox, body), 404, "NOT_FOUND", "Project not found")
    _settings(contacts_sandbox)["projects"] = ["proj_other"]
    assert _post(contacts_sandbox, body).json()["data"]["success"] == 1
    assert [c["email"] for c in contacts_sandbox.contacts("migma", "proj_other")] == ["a@example.com"]
    assert contacts_sandbox.contacts("migma") == []


def test_authentication(contacts_sandbox: Sandbox) -> None:
    body = {"subscribers": [{"email": "a@example.com"}], "projectId": PROJECT}
    _assert_error(_post(contacts_sandbox, body, key=None), 401, "UNAUTHORIZED", "API key is required")
    _assert_error(_post(contacts_sandbox, body, key="wrong"), 401, "UNAUTHORIZED", "Invalid API key")
    # The header forms Migma's backend also reads.
    assert _post(contacts_sandbox, body, key=None, headers={"Authorization": f"ApiKey {KEY}"}).status_code == 200
    assert _post(contacts_sandbox, body, key=None, headers={"X-API-Key": KEY}).json()["data"]["updated"] == 1


def test_permissions(contacts_sandbox: Sandbox) -> None:
    _settings(contacts_sandbox)["permissions"] = {"reader": ["audience:read"], "writer": ["audience:write"]}
    body = {"subscribers": [{"email": "a@example.com"}], "projectId": PROJECT}
    _assert_error(_post(contacts_sandbox, body, key="reader"), 403, "FORBIDDEN", "audience:write")
    assert _post(contacts_sandbox, body, key="writer").status_code == 200
    _assert_error(_get(contacts_sandbox, "/contacts", key="writer", projectId=PROJECT), 403, "FORBIDDEN",
                  "audience:read")
    assert _get(contacts_sandbox, "/contacts", key="reader", projectId=PROJECT).json()["count"] == 1


def test_api_v1_prefix_serves_the_same_routes(contacts_sandbox: Sandbox) -> None:
    body = {"subscribers": [{"email": "a@example.com"}], "projectId": PROJECT}
    assert _post(contacts_sandbox, body, prefix="/api/v1").json()["data"]["success"] == 1


def test_above_sync_limit_the_answer_is_a_job(contacts_sandbox: Sandbox) -> None:
    """The Node SDK: synchronous up to 5,000 contacts, a job for more."""
    contacts_sandbox.state.job_delay = 0.4
    subscribers = [{"email": f"u{i}@example.com"} for i in range(5_001)]
    started = time.monotonic()
    data = _post(contacts_sandbox, {"subscribers": subscribers, "projectId": PROJECT}).json()["data"]
    assert set(data) == {"jobId", "status", "totalContacts", "message"}
    assert (data["status"], data["totalContacts"]) == ("processing", 5_001)

    status = _get(contacts_sandbox, f"/contacts/bulk/{data['jobId']}").json()
    assert status["success"] is True
    job = status["data"]
    assert set(job) == {"jobId", "status", "totalContacts", "processed", "result", "error", "createdAt",
                        "completedAt"}
    if time.monotonic() - started < 0.2:
        assert (job["status"], job["processed"], job["result"], job["completedAt"]) == ("pending", 0, None, None)

    time.sleep(0.45)
    job = _get(contacts_sandbox, f"/contacts/bulk/{data['jobId']}").json()["data"]
    assert (job["status"], job["processed"], job["error"]) == ("completed", 5_001, None)
    assert job["result"] == {"success": 5_001, "failed": 0, "updated": 0, "errors": []}
    assert job["completedAt"] > job["createdAt"]


def test_exactly_5000_is_answered_at_once(contacts_sandbox: Sandbox) -> None:
    subscribers = [{"email": f"u{i}@example.com"} for i in range(5_000)]
    data = _post(contacts_sandbox, {"subscribers": subscribers, "projectId": PROJECT}).json()["data"]
    assert data == {"success": 5_000, "failed": 0, "updated": 0, "errors": []}


def test_job_phases_and_failure(contacts_sandbox: Sandbox) -> None:
    _settings(contacts_sandbox)["sync_limit"] = 1
    contacts_sandbox.state.job_delay = 0.3
    contacts_sandbox.add_fault(provider="migma", kind="fail_job")
    subscribers = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    job_id = _post(contacts_sandbox, {"subscribers": subscribers, "projectId": PROJECT}).json()["data"]["jobId"]
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        job = _get(contacts_sandbox, f"/contacts/bulk/{job_id}").json()["data"]
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in ("completed", "failed"):
            break
        time.sleep(0.03)
    assert seen[-1] == "failed" and set(seen) <= {"pending", "processing", "failed"}
    assert job["result"] is None and job["error"]
    assert contacts_sandbox.contacts("migma") == []


def test_unknown_job_is_404(contacts_sandbox: Sandbox) -> None:
    _assert_error(_get(contacts_sandbox, "/contacts/bulk/0123456789abcdef01234567"), 404, "NOT_FOUND",
                  "not found")


def test_list_contacts(contacts_sandbox: Sandbox) -> None:
    subscribers = [{"email": f"u{i}@example.com", "tags": ["even" if i % 2 == 0 else "odd"]} for i in range(5)]
    _post(contacts_sandbox, {"subscribers": subscribers, "projectId": PROJECT})
    body = _get(contacts_sandbox, "/contacts", projectId=PROJECT, limit=2, page=2).json()
    assert body["success"] is True and body["count"] == 5
    assert [c["email"] for c in body["data"]] == ["u2@example.com", "u3@example.com"]
    contact = body["data"][0]
    assert {"id", "email", "tags", "customFields", "status", "createdAt", "updatedAt"} <= set(contact)
    assert contact["status"] == "active"
    assert _get(contacts_sandbox, "/contacts", projectId=PROJECT, tags="odd").json()["count"] == 2
    assert _get(contacts_sandbox, "/contacts", projectId=PROJECT, search="u4").json()["count"] == 1
    _assert_error(_get(contacts_sandbox, "/contacts", projectId=PROJECT, limit=101), 400, "VALIDATION_ERROR",
                  "limit")
    _assert_error(_get(contacts_sandbox, "/contacts"), 400, "VALIDATION_ERROR", "projectId is required")
    _assert_error(_get(contacts_sandbox, "/contacts", projectId="nope"), 404, "NOT_FOUND", "Project not found")


def test_rate_limit_per_key_with_retry_after(contacts_sandbox: Sandbox) -> None:
    _settings(contacts_sandbox)["rate_limit"] = (2, 1.0)
    body = {"subscribers": [{"email": "a@example.com"}], "projectId": PROJECT}
    assert [_post(contacts_sandbox, body).status_code for _ in range(2)] == [200, 200]
    response = _post(contacts_sandbox, body)
    _assert_error(response, 429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded")
    assert response.headers["Retry-After"] == "1"
    time.sleep(1.05)
    assert _post(contacts_sandbox, body).status_code == 200
    assert _settings(contacts_sandbox)["throttled"] == 1


def test_injected_faults_use_migma_error_shape(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.add_fault(provider="migma", kind="503")
    contacts_sandbox.add_fault(provider="migma", kind="429", retry_after=2)
    body = {"subscribers": [{"email": "a@example.com"}], "projectId": PROJECT}
    _assert_error(_post(contacts_sandbox, body), 503, "SERVICE_UNAVAILABLE", "Service unavailable")
    response = _post(contacts_sandbox, body)
    _assert_error(response, 429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded")
    assert response.headers["Retry-After"] == "2"


def test_sink_mode_counts_without_storing(contacts_sandbox: Sandbox) -> None:
    contacts_sandbox.state.sink = True
    _settings(contacts_sandbox)["rate_limit"] = (1, 60.0)
    body = {"subscribers": [{"email": "not-even-valid"}, {"email": "b@example.com"}], "projectId": PROJECT}
    for _ in range(3):
        response = _post(contacts_sandbox, body)
        assert response.json()["data"] == {"success": 2, "failed": 0, "updated": 0, "errors": []}
    counts = contacts_sandbox.admin("GET", "migma/sink")
    assert (counts["requests"], counts["contacts"]) == (3, 6) and counts["bytes"] > 0
    assert contacts_sandbox.contacts("migma") == []
    _assert_error(_post(contacts_sandbox, body, key="wrong"), 401, "UNAUTHORIZED", "Invalid API key")
