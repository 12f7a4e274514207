"""Notifuse contacts emulator: ``POST /api/contacts.import`` and ``GET /api/contacts.count``.

It answers as Notifuse's Go source does (``internal/http/contact_handler.go``,
``internal/domain/contact.go``, ``internal/service/contact_service.go``), which differs
from Notifuse's OpenAPI examples in places; ``docs/contracts/notifuse.md`` lists what
comes from where. Workspaces are the sandbox's own (``ws_sandbox``) and the OpenAPI
example's ``ws_1234567890``; each has its own contact store.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_contacts_provider.sandbox.state import SandboxState, sink_contacts

PROVIDER = "notifuse"
EXAMPLE_WORKSPACE = "ws_1234567890"
"""The workspace of the OpenAPI examples; it exists here so they can be replayed as written."""

READ_ONLY_TOKEN = "sandbox-notifuse-read-only-token"
"""An API key of a workspace member who may only read contacts and lists."""
CONTACTS_ONLY_TOKEN = "sandbox-notifuse-contacts-only-token"
"""An API key that may write contacts but only read lists."""

CHUNK_SIZE = 500
"""Notifuse's ``BulkImportChunkSize``: contacts per INSERT; a failing INSERT fails its whole chunk."""

EMAIL_MAX_LENGTH = 255
STRING_FIELDS = {
    "external_id": 255, "timezone": 50, "language": 50, "first_name": 255, "last_name": 255,
    "full_name": 255, "phone": 50, "address_line_1": 255, "address_line_2": 255, "country": 100,
    "postcode": 20, "state": 100, "job_title": 255,
    **{f"custom_string_{i}": 255 for i in range(1, 6)},
}
"""``ContactInput`` string fields and their VARCHAR lengths in Notifuse's ``contacts`` table."""
NUMBER_FIELDS = tuple(f"custom_number_{i}" for i in range(1, 6))
DATETIME_FIELDS = tuple(f"custom_datetime_{i}" for i in range(1, 6))
JSON_FIELDS = tuple(f"custom_json_{i}" for i in range(1, 6))
LIST_ID_MAX_LENGTH = 32

GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000"
"""What Go's ``unicode.IsSpace`` trims (Notifuse trims emails and strings with it)."""

# govalidator.IsEmail's grammar, restated: a dot-atom or quoted local part; a domain whose
# labels may hold - . _ ~ inside, with a last label that starts and ends with a letter.
_WIDE = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
_LOCAL = re.compile(
    rf"[a-zA-Z0-9!#$%&'*+\-/=?^_`{{|}}~{_WIDE}]+(?:\.[a-zA-Z0-9!#$%&'*+\-/=?^_`{{|}}~{_WIDE}]+)*"
    rf'|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\x20\x09\x21\x23-\x5b\x5d-\x7e{_WIDE}]|\\[\x01-\x7f])*"'
)
_DOMAIN_CHARS = re.compile(rf"[a-zA-Z0-9\-._~{_WIDE}]+")
_LABEL_END = rf"[a-zA-Z0-9{_WIDE}]"
_LETTER = rf"[a-zA-Z{_WIDE}]"
_LAST_LABEL_START = re.compile(rf"{_LABEL_END}\.{_LETTER}")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?(?:Z|[+-](\d{2}):(\d{2}))"
)
_PERMISSIONS = {
    READ_ONLY_TOKEN: {"contacts": {"read"}, "lists": {"read"}},
    CONTACTS_ONLY_TOKEN: {"contacts": {"read", "write"}, "lists": {"read"}},
}
_FULL_ACCESS = {"contacts": {"read", "write"}, "lists": {"read", "write"}}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": message}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


def _created(emails: list[str]) -> bytes:
    """``{"operations": [{"email": ..., "action": "create"}, ...]}`` for these emails, normalised.

    The usual emails (printable ASCII, no space, quote or backslash) are normalised and written
    all at once: joined by newlines, lower-cased, and the newlines replaced by what lies between
    two of them. Others go one by one through :func:`normalise_email` and msgspec, whose compact
    JSON escapes a quote within a string, so ``","`` is only ever the comma between two of them.
    """
    if not emails:
        return b'{"operations":[]}'
    joined = "\n".join(emails).encode()
    if not joined.translate(None, _PLAIN_EMAIL_BYTES) and joined.count(b"\n") == len(emails) - 1:
        inside = b'"' + joined.lower().replace(b"\n", b'","action":"create"},{"email":"') + b'"'
    else:
        inside = msgspec.json.encode([normalise_email(email) for email in emails])[1:-1].replace(
            b'","', b'","action":"create"},{"email":"')
    return b'{"operations":[{"email":' + inside + b',"action":"create"}]}'


_PLAIN_EMAIL_BYTES = bytes(byte for byte in range(0x21, 0x7F) if byte not in b'"\\') + b"\n"
"""Bytes of the usual emails, and the newline :func:`_created` joins them by."""


def normalise_email(email: str) -> str:
    """Notifuse's ``NormalizeEmail``: trim Unicode spaces, lower-case."""
    return email.strip(GO_SPACE).lower()


def is_email(email: str) -> bool:
    """What ``govalidator.IsEmail`` accepts (checked in linear time)."""
    local, at, domain = email.rpartition("@")
    if not at or not _LOCAL.fullmatch(local):
        return False
    domain = domain.removesuffix(".")
    return (
        _DOMAIN_CHARS.fullmatch(domain) is not None
        and re.match(_LABEL_END, domain) is not None
        and re.fullmatch(_LETTER, domain[-1]) is not None
        and _LAST_LABEL_START.search(domain) is not None
    )


def is_rfc3339(value: str) -> bool:
    """What Go's ``time.Parse(time.RFC3339, value)`` accepts."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        datetime(year or 2000, month, day, hour, minute, second)  # Go has a year 0; it is a leap year
    except ValueError:
        return False
    offset_hours, offset_minutes = match.group(7), match.group(8)
    return offset_hours is None or (int(offset_hours) < 24 and int(offset_minutes) < 60)


def parse_contact(item: Any) -> tuple[str, dict[str, Any]] | None:
    """Notifuse's ``FromJSON``: the normalised email and field values, or ``None`` when it fails.

    Notifuse replaces a contact that fails to parse with an empty one, so every such
    failure is later reported as "email is required", whatever the real cause.
    """
    if not isinstance(item, dict) or not isinstance(item.get("email"), str):
        return None
    email = normalise_email(item["email"])
    if not email or not is_email(email):
        return None
    values: dict[str, Any] = {}
    for name in STRING_FIELDS:
        if name in item:
            value = item[name]
            if value is not None and not isinstance(value, str):
                return None
            values[name] = None if value is None else value.strip(GO_SPACE)
    for name in NUMBER_FIELDS:
        if name in item:
            value = item[name]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                return None
            values[name] = None if value is None else float(value)
    for name in DATETIME_FIELDS:
        if name in item:
            value = item[name]
            if value is not None and not (isinstance(value, str) and is_rfc3339(value)):
                return None
            values[name] = value
    for name in JSON_FIELDS:
        if name in item:
            value = item[name]
            if value is not None and not isinstance(value, dict | list):
                return None
            values[name] = value
    return email, values


def _too_long(email: str, values: dict[str, Any]) -> int | None:
    """The VARCHAR length a value overflows (PostgreSQL then refuses the whole INSERT)."""
    if len(email) > EMAIL_MAX_LENGTH:
        return EMAIL_MAX_LENGTH
    for name, limit in STRING_FIELDS.items():
        value = values.get(name)
        if value is not None and len(value) > limit:
            return limit
    return None


def _go_field(body: dict[str, Any], name: str) -> Any:
    """A struct field as Go's encoding/json fills it: keys match case-insensitively, the last one wins."""
    found = None
    for key, value in body.items():
        if key == name or key.lower() == name:
            found = value
    return found


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class NotifuseEmulator:
    """The state-holding half of the emulator; the router only adapts HTTP to it."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # -- who is calling ------------------------------------------------------------------

    def permissions(self, request: Request) -> dict[str, set[str]] | JSONResponse:
        """The auth middleware (``internal/http/middleware/auth.go``): 401s in its words."""
        header = request.headers.get("authorization", "")
        if not header:
            return _error(401, "Authorization header is required")
        parts = header.split(" ")
        if len(parts) != 2 or parts[0] != "Bearer":
            return _error(401, "Invalid authorization header format")
        token = parts[1]
        if token == self.state.tokens[PROVIDER]:
            return _FULL_ACCESS
        if token in _PERMISSIONS:
            return _PERMISSIONS[token]
        if token.count(".") != 2:
            return _error(401, "Invalid token: token is malformed: token contains an invalid number of segments")
        return _error(401, "Invalid token: token signature is invalid: signature is invalid")

    def workspaces(self) -> set[str]:
        return {self.state.accounts[PROVIDER], EXAMPLE_WORKSPACE}

    # -- contacts.import -------------------------------------------------------------------

    def import_contacts(self, raw: bytes, permissions: dict[str, set[str]]) -> Response:
        if self.state.sink:
            return self._sink(raw)
        try:
            body = json.loads(raw, parse_constant=_reject_constant)
        except ValueError:
            return _error(400, "Invalid request body")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            return _error(400, "Invalid request body")
        workspace = _go_field(body, "workspace_id")
        lists = _go_field(body, "subscribe_to_lists")
        if workspace is not None and not isinstance(workspace, str):
            return _error(400, "Invalid request body")
        if lists is not None and not (isinstance(lists, list)
                                      and all(item is None or isinstance(item, str) for item in lists)):
            return _error(400, "Invalid request body")
        contacts = _go_field(body, "contacts")
        if not workspace:
            return _error(400, "workspace_id is required")
        if not isinstance(contacts, list):
            return _error(400, "contacts must be an array")
        if not contacts:
            return _error(400, "contacts array is empty")
        if workspace not in self.workspaces():
            return _error(500, f"failed to authenticate user: workspace not found: {workspace}")
        if "write" not in permissions["contacts"]:
            return _error(500, "Insufficient permissions: write access to contacts required")
        list_ids = [item or "" for item in lists or ()]
        if list_ids and "write" not in permissions["lists"]:
            return _error(500, "Insufficient permissions: write access to lists required")
        return JSONResponse({"operations": self._upsert(workspace, contacts, list_ids)})

    def _upsert(self, workspace: str, contacts: list[Any], list_ids: list[str]) -> list[dict[str, Any]]:
        """``BatchImportContacts``: parse errors first, then the last of each email, 500 an INSERT."""
        operations: list[dict[str, Any]] = []
        valid: list[tuple[int, str, dict[str, Any]]] = []
        for index, item in enumerate(contacts):
            parsed = parse_contact(item)
            if parsed is None:
                operations.append({"email": "", "action": "error",
                                   "error": f"invalid contact at index {index}: email is required"})
            else:
                valid.append((index, *parsed))
        last = {email: position for position, (_, email, _) in enumerate(valid)}
        kept = [contact for position, contact in enumerate(valid) if last[contact[1]] == position]
        store = self.state.store(PROVIDER, workspace)
        landed: list[str] = []
        for start in range(0, len(kept), CHUNK_SIZE):
            chunk = kept[start:start + CHUNK_SIZE]
            limit = next((n for _, email, values in chunk if (n := _too_long(email, values))), None)
            if limit is not None:
                cause = f"failed to execute bulk upsert: pq: value too long for type character varying({limit})"
                operations.extend({"email": email, "action": "error",
                                   "error": f"failed to upsert contact at index {index}: {cause}"}
                                  for index, email, _ in chunk)
                continue
            for _, email, values in chunk:
                outcome = store.upsert(email, values)
                operations.append({"email": email, "action": "create" if outcome == "created" else "update"})
                landed.append(email)
        if list_ids and landed and all(len(list_id) <= LIST_ID_MAX_LENGTH for list_id in list_ids):
            # An overlong list id fails the subscription INSERT, which Notifuse only logs.
            members = self.memberships(workspace)
            with self.state.lock:
                for list_id in list_ids:
                    members.setdefault(list_id, set()).update(landed)
        return operations

    def memberships(self, workspace: str) -> dict[str, set[str]]:
        """Active list subscriptions of a workspace: list id -> emails."""
        with self.state.lock:
            extras = self.state.extras.setdefault(PROVIDER, {})
            return extras.setdefault("lists", {}).setdefault(workspace, {})

    def _sink(self, raw: bytes) -> Response:
        """Sink mode: count and acknowledge every contact as created, validate and store nothing.

        The answer is made from the emails' JSON array (:func:`_created`), a fraction of
        ``JSONResponse``'s cost: the sink's CPU is taken from the client it measures (two cores here).
        """
        contacts = sink_contacts(raw, "contacts")
        emails = [c.email if isinstance(c.email, str) else "" for c in contacts]
        self.state.count_sink(PROVIDER, len(emails), raw)
        return Response(_created(emails), media_type="application/json")

    # -- contacts.count --------------------------------------------------------------------

    def count(self, workspace: str | None, permissions: dict[str, set[str]]) -> JSONResponse:
        if not workspace:
            return _error(400, "Missing workspace ID")
        if workspace not in self.workspaces() or "read" not in permissions["contacts"]:
            # The service's "failed to authenticate user: ..." is logged; the client sees this.
            return _error(500, "Failed to count contacts")
        return JSONResponse({"total_contacts": len(self.state.store(PROVIDER, workspace).contacts)})


def list_members(state: SandboxState, list_id: str, workspace: str | None = None) -> set[str]:
    """Emails subscribed to a list by imports (for tests)."""
    members = NotifuseEmulator(state).memberships(workspace or state.accounts[PROVIDER])
    return set(members.get(list_id, ()))


def build_router(state: SandboxState) -> APIRouter:
    emulator = NotifuseEmulator(state)
    router = APIRouter()
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    @router.api_route("/api/contacts.import", methods=methods)
    async def contacts_import(request: Request) -> Response:
        permissions = emulator.permissions(request)
        if isinstance(permissions, JSONResponse):
            return permissions
        if request.method != "POST":
            return _error(405, "Method not allowed")
        raw = await request.body()
        return await run_in_threadpool(emulator.import_contacts, raw, permissions)

    @router.api_route("/api/contacts.count", methods=methods)
    async def contacts_count(request: Request) -> JSONResponse:
        permissions = emulator.permissions(request)
        if isinstance(permissions, JSONResponse):
            return permissions
        if request.method != "GET":
            return _error(405, "Method not allowed")
        return emulator.count(request.query_params.get("workspace_id"), permissions)

    return router
