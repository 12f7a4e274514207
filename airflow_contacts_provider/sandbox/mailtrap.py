"""Mailtrap contacts emulator: bulk imports, contact fields and lists, answered as Mailtrap answers them.

Both path forms in use are served: ``/api/accounts/{account_id}/contacts/...`` (the SDKs)
and ``/api/contacts/...`` (the current spec; the account is the token's). Choices made
where Mailtrap's contract is silent are listed in ``docs/contracts/mailtrap.md``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_contacts_provider.sandbox.auth import bearer_token
from airflow_contacts_provider.sandbox.jobs import EmulatedJob
from airflow_contacts_provider.sandbox.state import SandboxState, sink_count

PROVIDER = "mailtrap"
MAX_CONTACTS = 50_000
MAX_FIELDS = 40
MAX_NAME_LENGTH = 80
DATA_TYPES = ("text", "integer", "float", "boolean", "date")

DEFAULT_FIELDS = (
    ("First name", "text", "first_name"),
    ("Last name", "text", "last_name"),
    ("Company", "text", "company"),
    ("Country", "text", "country"),
    ("Language", "text", "language"),
    ("Plan", "text", "plan"),
    ("Phone", "text", "phone"),
    ("Zip code", "integer", "zip_code"),
    ("Signup date", "date", "signup_date"),
    ("Score", "float", "score"),
    ("Age", "integer", "age"),
    ("VIP", "boolean", "vip"),
)
"""The sandbox account's contact fields: name, data type, merge tag."""

DEFAULT_LISTS = ("Customers", "Newsletter", "Trial users", "Old Contacts", "Churned", "Beta testers")
"""The sandbox account's lists, ids 1 to 6 (the spec's own import example uses 1-6)."""

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
JOB_STATUS = {"queued": "created", "running": "started"}

INCORRECT_TOKEN = {"error": "Incorrect API token"}
FORBIDDEN = {"errors": "Account access forbidden"}
NOT_FOUND = {"error": "Not Found"}
RATE_LIMITED = {"errors": "Rate limit exceeded"}


def error_body(status: int, message: str) -> dict[str, Any]:
    if status in (401, 404):
        return {"error": message}
    return {"errors": message}


@dataclass
class MailtrapSandbox:
    """The emulator's own state and settings, kept in ``SandboxState.extras["mailtrap"]``.

    :param account_rate_limit: (requests, seconds) per account over the Contacts API.
    :param token_rate_limit: (requests, seconds) per token over all endpoints.
    :param contact_limit: the account's contact quota; new contacts past it are counted
        as ``contacts_over_limit_count`` and not stored. ``None`` for no quota.
    """

    account_rate_limit: tuple[int, float] = (200, 60.0)
    token_rate_limit: tuple[int, float] = (150, 10.0)
    contact_limit: int | None = None
    fields: list[dict[str, Any]] = field(default_factory=lambda: [
        {"id": 6730 + i, "name": name, "data_type": data_type, "merge_tag": tag}
        for i, (name, data_type, tag) in enumerate(DEFAULT_FIELDS)
    ])
    lists: list[dict[str, Any]] = field(default_factory=lambda: [
        {"id": i, "name": name} for i, name in enumerate(DEFAULT_LISTS, start=1)
    ])
    jobs: dict[int, EmulatedJob] = field(default_factory=dict)
    requests: int = 0
    rate_limited: int = 0
    _windows: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, account: str, token: str) -> bool:
        """Whether a request fits both sliding windows; an admitted request is counted in both."""
        now = time.monotonic()
        limits = ((f"account:{account}", self.account_rate_limit), (f"token:{token}", self.token_rate_limit))
        with self._lock:
            windows = []
            for key, (max_requests, period) in limits:
                window = self._windows.setdefault(key, deque())
                while window and now - window[0] >= period:
                    window.popleft()
                if len(window) >= max_requests:
                    self.rate_limited += 1
                    return False
                windows.append(window)
            for window in windows:
                window.append(now)
            return True

    def add_job(self, account: str, delay: float, fails: bool, result: dict[str, int]) -> int:
        with self._lock:
            job_id = len(self.jobs) + 1
            self.jobs[job_id] = EmulatedJob(id=str(job_id), account=account, delay=delay, fails=fails,
                                            result=result)
            return job_id

    def add_field(self, name: str, data_type: str, merge_tag: str) -> dict[str, Any]:
        with self._lock:
            record = {"id": max((f["id"] for f in self.fields), default=6729) + 1, "name": name,
                      "data_type": data_type, "merge_tag": merge_tag}
            self.fields.append(record)
            return record

    def add_list(self, name: str) -> dict[str, Any]:
        with self._lock:
            record = {"id": max((item["id"] for item in self.lists), default=0) + 1, "name": name}
            self.lists.append(record)
            return record

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1


def mailtrap_state(state: SandboxState) -> MailtrapSandbox:
    """This emulator's state inside the sandbox (created on first use, dropped by ``reset``)."""
    with state.lock:
        sandbox = state.extras.get(PROVIDER)
        if sandbox is None:
            sandbox = state.extras[PROVIDER] = MailtrapSandbox()
        return sandbox


def _json(status: int, body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def job_body(job_id: int, job: EmulatedJob) -> dict[str, Any]:
    """A ContactImport: the three counts appear only once the job is finished."""
    phase = job.phase()
    if phase != "done":
        return {"id": job_id, "status": JOB_STATUS[phase]}
    if job.fails:
        return {"id": job_id, "status": "failed"}
    return {"id": job_id, "status": "finished", **job.result}


# -- validating an import --------------------------------------------------------------


def _value_fits(data_type: str, value: Any) -> bool:
    if value is None:
        return True
    if data_type == "text":
        return isinstance(value, str)
    if data_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if data_type == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if data_type == "boolean":
        return isinstance(value, bool)
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _email_errors(email: Any) -> list[str]:
    if not isinstance(email, str) or not email.strip():
        return ["can't be blank"]
    if not EMAIL_PATTERN.match(email.strip()):
        return ["is invalid"]
    if len(email.strip().rsplit(".", 1)[1]) < 2:
        return ["top level domain is too short"]
    return []


def _list_ids(value: Any) -> list[int] | None:
    """The ids of a ``list_ids_*`` value, or ``None`` when it is not an array of integers."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        return None
    return value


def contact_errors(contact: Any, data_types: dict[str, str], list_ids: set[int]) -> dict[str, list[str]]:
    """What Mailtrap would say about one contact of an import; empty when it is fine."""
    if not isinstance(contact, dict):
        return {"base": ["contact must be an object"]}
    errors: dict[str, list[str]] = {}
    if messages := _email_errors(contact.get("email")):
        errors["email"] = messages
    fields = contact.get("fields") or {}
    if not isinstance(fields, dict):
        errors["fields"] = ["must be an object"]
        fields = {}
    if any(tag not in data_types for tag in fields):
        errors["field_merge_tag"] = ["is invalid"]
    invalid = [tag for tag, value in fields.items()
               if tag in data_types and not _value_fits(data_types[tag], value)]
    if invalid:
        errors["fields"] = [f"contains invalid values: {', '.join(invalid)}"]
    base = []
    included = _list_ids(contact.get("list_ids_included"))
    excluded = _list_ids(contact.get("list_ids_excluded"))
    if included is None or excluded is None:
        base.append("list_ids must be an array of integers")
    else:
        if both := sorted(set(included) & set(excluded)):
            ids = ", ".join(map(str, both))
            base.append(f"same list_ids {ids} are specified both as included and excluded")
        if unknown := sorted((set(included) | set(excluded)) - list_ids):
            base.append(f"list_ids {', '.join(map(str, unknown))} do not exist")
    if base:
        errors["base"] = base
    return errors


def import_errors(payload: Any, sandbox: MailtrapSandbox) -> list[dict[str, Any]]:
    """The 422 ``errors`` array for an import request; empty when it may run."""
    contacts = payload.get("contacts") if isinstance(payload, dict) else None
    if not isinstance(contacts, list) or not contacts:
        return [{"errors": {"base": ["contacts must be a non-empty array"]}}]
    if len(contacts) > MAX_CONTACTS:
        return [{"errors": {"base": [f"cannot import more than {MAX_CONTACTS} contacts at once"]}}]
    data_types = {f["merge_tag"]: f["data_type"] for f in sandbox.fields}
    list_ids = {item["id"] for item in sandbox.lists}
    found = []
    for contact in contacts:
        errors = contact_errors(contact, data_types, list_ids)
        if errors:
            email = contact.get("email") if isinstance(contact, dict) else None
            found.append({"email": email, "errors": errors})
    return found


# -- running an import -------------------------------------------------------------------


def run_import(state: SandboxState, sandbox: MailtrapSandbox, account: str,
               contacts: list[dict[str, Any]]) -> dict[str, int]:
    """Upsert a valid import into the account's store now; the counts are shown when the job is done."""
    store = state.store(PROVIDER, account)
    counts = {"created_contacts_count": 0, "updated_contacts_count": 0, "contacts_over_limit_count": 0}
    for contact in contacts:
        email = contact["email"].strip().lower()
        if (sandbox.contact_limit is not None and not store.exists(email)
                and len(store.contacts) >= sandbox.contact_limit):
            with store.lock:
                store.submissions[email] += 1
            counts["contacts_over_limit_count"] += 1
            continue
        values = dict(contact.get("fields") or {})
        included = contact.get("list_ids_included") or []
        excluded = contact.get("list_ids_excluded") or []
        current = store.contacts.get(email, {}).get("list_ids", [])
        values["list_ids"] = sorted((set(current) | set(included)) - set(excluded))
        action = store.upsert(email, values, overwrite_nulls=True)
        counts[f"{action}_contacts_count"] += 1
    return counts


# -- the router -------------------------------------------------------------------------------

Handler = Callable[[Request, str], Coroutine[Any, Any, Response]]


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    def guarded(handler: Handler) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Check the token, the account in the path and the rate limits, then run ``handler``."""

        async def endpoint(request: Request) -> Response:
            sandbox = mailtrap_state(state)
            sandbox.count_request()
            token = bearer_token(request) or request.headers.get("api-token", "").strip()
            if token != state.tokens[PROVIDER]:
                return _json(401, INCORRECT_TOKEN)
            account = state.accounts[PROVIDER]
            path_account = request.path_params.get("account_id")
            if path_account is not None and path_account != account:
                return _json(403, FORBIDDEN)
            if not state.sink and not sandbox.admit(account, token):
                return _json(429, RATE_LIMITED)
            return await handler(request, account)

        return endpoint

    async def create_import(request: Request, account: str) -> Response:
        sandbox = mailtrap_state(state)
        body = await request.body()
        if state.sink:
            count = sink_count(body, "contacts")
            state.count_sink(PROVIDER, count, body)
            result = {"created_contacts_count": count, "updated_contacts_count": 0,
                      "contacts_over_limit_count": 0}
            job_id = sandbox.add_job(account, state.job_delay, False, result)
            return _json(201, job_body(job_id, sandbox.jobs[job_id]))
        try:
            payload = json.loads(body)
        except ValueError:
            return _json(400, {"errors": "Invalid JSON in request body"})
        errors = await run_in_threadpool(import_errors, payload, sandbox)
        if errors:
            return _json(422, {"errors": errors})
        fails = state.faults.take_job_failure(PROVIDER)
        result = {} if fails else await run_in_threadpool(run_import, state, sandbox, account,
                                                           payload["contacts"])
        job_id = sandbox.add_job(account, state.job_delay, fails, result)
        return _json(201, job_body(job_id, sandbox.jobs[job_id]))

    async def get_import(request: Request, account: str) -> Response:
        job_id = request.path_params["import_id"]
        job = mailtrap_state(state).jobs.get(job_id)
        if job is None or job.account != account:
            return _json(404, NOT_FOUND)
        return _json(200, job_body(job_id, job))

    async def list_fields(request: Request, account: str) -> Response:
        return _json(200, mailtrap_state(state).fields)

    async def get_field(request: Request, account: str) -> Response:
        wanted = request.path_params["field_id"]
        found = [f for f in mailtrap_state(state).fields if f["id"] == wanted]
        return _json(200, found[0]) if found else _json(404, NOT_FOUND)

    async def create_field(request: Request, account: str) -> Response:
        sandbox = mailtrap_state(state)
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return _json(400, {"errors": "Invalid JSON in request body"})
        if not isinstance(payload, dict):
            payload = {}
        errors: dict[str, list[str]] = {}
        for key in ("name", "merge_tag"):
            value = payload.get(key)
            if not isinstance(value, str) or not value.strip():
                errors[key] = ["can't be blank"]
            elif len(value) > MAX_NAME_LENGTH:
                errors[key] = [f"is too long (maximum is {MAX_NAME_LENGTH} characters)"]
            elif any(f[key].lower() == value.lower() for f in sandbox.fields):
                errors[key] = ["has already been taken"]
        if payload.get("data_type") not in DATA_TYPES:
            errors["data_type"] = ["is not included in the list"]
        if len(sandbox.fields) >= MAX_FIELDS:
            errors["base"] = [f"cannot have more than {MAX_FIELDS} fields"]
        if errors:
            return _json(422, {"errors": errors})
        record = sandbox.add_field(payload["name"], payload["data_type"], payload["merge_tag"])
        return _json(201, record)

    async def list_lists(request: Request, account: str) -> Response:
        return _json(200, mailtrap_state(state).lists)

    async def get_list(request: Request, account: str) -> Response:
        wanted = request.path_params["list_id"]
        found = [item for item in mailtrap_state(state).lists if item["id"] == wanted]
        return _json(200, found[0]) if found else _json(404, NOT_FOUND)

    async def create_list(request: Request, account: str) -> Response:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return _json(400, {"errors": "Invalid JSON in request body"})
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name.strip():
            return _json(422, {"errors": {"name": ["can't be blank"]}})
        if len(name) > 255:
            return _json(422, {"errors": {"name": ["is too long (maximum is 255 characters)"]}})
        return _json(200, mailtrap_state(state).add_list(name))

    routes: tuple[tuple[str, str, Handler], ...] = (
        ("POST", "/imports", create_import),
        ("GET", "/imports/{import_id:int}", get_import),
        ("GET", "/fields", list_fields),
        ("POST", "/fields", create_field),
        ("GET", "/fields/{field_id:int}", get_field),
        ("GET", "/lists", list_lists),
        ("POST", "/lists", create_list),
        ("GET", "/lists/{list_id:int}", get_list),
    )
    for prefix in ("/api/accounts/{account_id}/contacts", "/api/contacts"):
        for method, path, handler in routes:
            router.add_api_route(prefix + path, guarded(handler), methods=[method],
                                 name=f"{handler.__name__}{'_scoped' if 'account_id' in prefix else ''}")

    async def not_found(path: str) -> Response:
        return _json(404, NOT_FOUND)

    router.add_api_route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                         include_in_schema=False)
    return router
