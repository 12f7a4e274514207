"""Migma contacts emulator: bulk import (answered at once, or as a job above 5,000), job status, contact list.

Behaviour the docs leave open is chosen here and listed in ``docs/contracts/migma.md``.
Settings a test may put in ``state.extras["migma"]``: ``sync_limit`` (default 5,000),
``rate_limit`` as (requests, seconds) per API key (default 1,000 a minute), ``projects``
(more project ids than the sandbox account) and ``permissions`` ({api key: [permission]},
extra keys with the permissions they hold).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from airflow_contacts_provider.sandbox.jobs import EmulatedJob
from airflow_contacts_provider.sandbox.state import ContactStore, SandboxState, sink_count

PROVIDER = "migma"
SYNC_LIMIT = 5_000
DEFAULT_RATE_LIMIT = (1_000, 60.0)
ALL_PERMISSIONS = ("audience:read", "audience:write")
STATUSES = ("subscribed", "unsubscribed", "bounced", "non-subscribed")
TEXT_FIELDS = ("firstName", "lastName", "country", "language")
PHONE_MAX = 30

ERROR_CODES = {400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               429: "RATE_LIMIT_EXCEEDED", 500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE"}
JOB_PHASES = {"queued": "pending", "running": "processing"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _metadata() -> dict[str, str]:
    return {"timestamp": _iso(_now()), "requestId": f"req_{secrets.token_hex(8)}"}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"success": False, "error": message, "code": ERROR_CODES.get(status, "ERROR"),
            "metadata": _metadata()}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def _ok(data: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": True, "data": data, **extra, "metadata": _metadata()})


def _api_key(request: Request) -> str | None:
    """Migma reads ``Authorization: ApiKey <key>``, ``Bearer <key>`` or ``X-API-Key``."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("apikey", "bearer") and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


class MigmaEmulator:
    """The emulator's behaviour over the shared sandbox state; its own state lives in ``extras``."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    @property
    def settings(self) -> dict[str, Any]:
        return self.state.extras.setdefault(PROVIDER, {})

    def count(self, name: str) -> None:
        self.settings[name] = self.settings.get(name, 0) + 1

    # -- checks every endpoint makes ----------------------------------------------------

    def guard(self, request: Request, permission: str) -> JSONResponse | None:
        """Authentication, then the per-key rate limit, then the key's permission."""
        key = _api_key(request)
        if key is None:
            return _error(401, "API key is required")
        extra_keys: dict[str, list[str]] = self.settings.get("permissions", {})
        if key == self.state.tokens[PROVIDER]:
            permissions: tuple[str, ...] | list[str] = ALL_PERMISSIONS
        elif key in extra_keys:
            permissions = extra_keys[key]
        else:
            return _error(401, "Invalid API key")
        if not self.state.sink:
            wait = self.throttle(key)
            if wait is not None:
                self.count("throttled")
                return _error(429, "Rate limit exceeded", {"Retry-After": str(max(1, math.ceil(wait)))})
        if permission not in permissions:
            return _error(403, f"API key lacks required permission: {permission}")
        return None

    def throttle(self, key: str) -> float | None:
        """Seconds until this key may send again, or ``None`` after counting the request."""
        limit, period = self.settings.get("rate_limit", DEFAULT_RATE_LIMIT)
        window: deque[float] = self.settings.setdefault("windows", {}).setdefault(key, deque())
        now = time.monotonic()
        while window and now - window[0] >= period:
            window.popleft()
        if len(window) >= limit:
            return window[0] + period - now
        window.append(now)
        return None

    def project_error(self, project: Any) -> JSONResponse | None:
        if not isinstance(project, str) or not project:
            return _error(400, "projectId is required")
        if project != self.state.accounts[PROVIDER] and project not in self.settings.get("projects", ()):
            return _error(404, "Project not found")
        return None

    # -- bulk import ---------------------------------------------------------------------

    async def bulk_import(self, request: Request) -> JSONResponse:
        self.count("bulk_requests")
        denied = self.guard(request, "audience:write")
        if denied is not None:
            return denied
        raw = await request.body()
        if self.state.sink:
            return self.sink(raw)
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "Invalid JSON body")
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        subscribers = body.get("subscribers")
        if not isinstance(subscribers, list) or not subscribers:
            return _error(400, "subscribers must be a non-empty array")
        denied = self.project_error(body.get("projectId"))
        if denied is not None:
            return denied
        self.settings["last_subscribers"] = subscribers
        store = self.state.store(PROVIDER, body["projectId"])
        if len(subscribers) <= self.settings.get("sync_limit", SYNC_LIMIT):
            return _ok(import_subscribers(store, subscribers))
        return _ok(self.start_job(store, subscribers))

    def sink(self, raw: bytes) -> JSONResponse:
        """Count without validating or storing; answer as a successful synchronous import."""
        count = sink_count(raw, "subscribers")
        self.state.count_sink(PROVIDER, count, raw)
        return _ok({"success": count, "failed": 0, "updated": 0, "errors": []})

    def start_job(self, store: ContactStore, subscribers: list[Any]) -> dict[str, Any]:
        """Results are decided now (contacts land at once) and shown when the job is done."""
        job_id = secrets.token_hex(12)
        fails = self.state.faults.take_job_failure(PROVIDER)
        created = _now()
        self.settings.setdefault("jobs", {})[job_id] = EmulatedJob(
            id=job_id, account=self.state.accounts[PROVIDER], delay=self.state.job_delay, fails=fails,
            result={"total": len(subscribers), "createdAt": created,
                    "result": None if fails else import_subscribers(store, subscribers)},
        )
        return {"jobId": job_id, "status": "processing", "totalContacts": len(subscribers),
                "message": f"Importing {len(subscribers)} contacts in the background; poll "
                           f"GET /v1/contacts/bulk/{job_id} for the result."}

    async def job_status(self, request: Request, job_id: str) -> JSONResponse:
        denied = self.guard(request, "audience:read")
        if denied is not None:
            return denied
        job: EmulatedJob | None = self.settings.get("jobs", {}).get(job_id)
        if job is None:
            return _error(404, "Import job not found")
        phase = job.phase()
        total = job.result["total"]
        done = phase == "done"
        status = ("failed" if job.fails else "completed") if done else JOB_PHASES[phase]
        processed = {"pending": 0, "processing": total // 2, "completed": total, "failed": 0}[status]
        return _ok({
            "jobId": job.id,
            "status": status,
            "totalContacts": total,
            "processed": processed,
            "result": job.result["result"] if status == "completed" else None,
            "error": "Bulk import failed; no contacts were imported" if status == "failed" else None,
            "createdAt": _iso(job.result["createdAt"]),
            "completedAt": _iso(job.result["createdAt"] + timedelta(seconds=job.delay)) if done else None,
        })

    # -- contact list --------------------------------------------------------------------

    async def list_contacts(self, request: Request) -> JSONResponse:
        denied = self.guard(request, "audience:read")
        if denied is not None:
            return denied
        query = request.query_params
        project = query.get("projectId")
        denied = self.project_error(project)
        if denied is not None:
            return denied
        try:
            page = int(query.get("page", 1))
            limit = int(query.get("limit", 20))
        except ValueError:
            return _error(400, "page and limit must be integers")
        if page < 1 or not 1 <= limit <= 100:
            return _error(400, "page must be at least 1 and limit between 1 and 100")
        contacts = [_contact_view(c) for c in self.state.store(PROVIDER, project).snapshot()]
        if query.get("status"):
            contacts = [c for c in contacts if c["status"] == query["status"]]
        if query.get("tags"):
            wanted = set(query["tags"].split(","))
            contacts = [c for c in contacts if wanted & set(c["tags"])]
        if query.get("search"):
            needle = query["search"].lower()
            contacts = [c for c in contacts if any(needle in str(c.get(k) or "").lower()
                                                   for k in ("email", "firstName", "lastName"))]
        return _ok(contacts[(page - 1) * limit: page * limit], count=len(contacts))


def import_subscribers(store: ContactStore, subscribers: list[Any]) -> dict[str, Any]:
    """Validate and upsert each subscriber; the ``data`` of a synchronous answer.

    ``success`` counts contacts created, ``updated`` those that existed, ``failed`` the
    refused ones, each with an error string naming its email and the reason.
    """
    counts = {"success": 0, "failed": 0, "updated": 0}
    errors: list[str] = []
    for position, subscriber in enumerate(subscribers):
        problem = _problem(position, subscriber)
        if problem is not None:
            counts["failed"] += 1
            errors.append(problem)
            continue
        email = subscriber["email"].strip().lower()
        outcome = store.upsert(email, _values(store, email, subscriber))
        counts["success" if outcome == "created" else "updated"] += 1
    return {**counts, "errors": errors}


def _problem(position: int, subscriber: Any) -> str | None:
    if not isinstance(subscriber, dict):
        return f"Subscriber at position {position}: must be an object"
    email = subscriber.get("email")
    if not isinstance(email, str) or not email.strip():
        return f"Subscriber at position {position}: email is required"
    if not EMAIL.match(email.strip()):
        return f"{email}: invalid email address"
    for field in TEXT_FIELDS:
        if subscriber.get(field) is not None and not isinstance(subscriber[field], str):
            return f"{email}: {field} must be a string"
    phone = subscriber.get("phone")
    if phone is not None and (not isinstance(phone, str) or len(phone) > PHONE_MAX):
        return f"{email}: phone must be a string of at most {PHONE_MAX} characters"
    status = subscriber.get("status")
    if status is not None and status not in STATUSES:
        return f"{email}: status must be one of {', '.join(STATUSES)}"
    tags = subscriber.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return f"{email}: tags must be an array of strings"
    custom = subscriber.get("customFields")
    if custom is not None and not isinstance(custom, dict):
        return f"{email}: customFields must be an object"
    return None


def _values(store: ContactStore, email: str, subscriber: dict[str, Any]) -> dict[str, Any]:
    """What to store: given fields overwrite, tags are added and custom fields merged."""
    values = {k: v for k, v in subscriber.items()
              if k in (*TEXT_FIELDS, "phone", "status", "tags", "customFields") and v is not None}
    existing = store.contacts.get(email)
    now = _iso(_now())
    if existing is None:
        values = {"id": secrets.token_hex(12), "status": "subscribed", "tags": [], "customFields": {},
                  "createdAt": now, **values}
    else:
        if "tags" in values:
            values["tags"] = existing.get("tags", []) + [t for t in values["tags"]
                                                        if t not in existing.get("tags", [])]
        if "customFields" in values:
            values["customFields"] = {**existing.get("customFields", {}), **values["customFields"]}
    values["updatedAt"] = now
    return values


def _contact_view(stored: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in stored.items() if not k.startswith("_")}
    if view.get("status") == "subscribed":
        view["status"] = "active"
    return view


def build_router(state: SandboxState) -> APIRouter:
    emulator = MigmaEmulator(state)
    routes = APIRouter()
    routes.add_api_route("/contacts/bulk", emulator.bulk_import, methods=["POST"])
    routes.add_api_route("/contacts/bulk/{job_id}", emulator.job_status, methods=["GET"])
    routes.add_api_route("/contacts", emulator.list_contacts, methods=["GET"])
    router = APIRouter()
    router.include_router(routes, prefix="/v1")
    router.include_router(routes, prefix="/api/v1")  # where Migma's backend mounts the same routes
    return router
