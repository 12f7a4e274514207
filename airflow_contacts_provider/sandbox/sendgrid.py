"""SendGrid Marketing contacts emulator: field definitions, lists, CSV import jobs and the S3 they upload to.

An import is two calls, as on the real service: ``PUT /v3/marketing/contacts/imports``
answers with a pre-signed ``upload_uri`` (served here under ``/upload/{job_id}``, answering
like S3: XML errors, signed headers, no second credential, no chunked bodies), and the job
runs once the file has arrived. Rejected rows go to a CSV file behind a pre-signed
``errors_url``. The API answers with SendGrid's ``X-RateLimit-*`` headers and its error shape.
State lives in ``state.extras["sendgrid"]`` (:class:`SendGridAccount`); tests may change its
limits there. See docs/contracts/sendgrid.md for what is confirmed and what was chosen.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import json
import re
import secrets
import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import pandas as pd
from fastapi import APIRouter, Request, Response
from isal import igzip, isal_zlib
from starlette.background import BackgroundTask

from airflow_contacts_provider.sandbox.auth import bearer_token
from airflow_contacts_provider.sandbox.jobs import EmulatedJob
from airflow_contacts_provider.sandbox.state import SandboxState

PROVIDER = "sendgrid"

RESERVED_FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    # (id, name, field_type, read_only), as listed by the spec's field-definitions example.
    ("_rf0_T", "first_name", "Text", False), ("_rf1_T", "last_name", "Text", False),
    ("_rf2_T", "email", "Text", False), ("_rf3_T", "alternate_emails", "Text", False),
    ("_rf4_T", "address_line_1", "Text", False), ("_rf5_T", "address_line_2", "Text", False),
    ("_rf6_T", "city", "Text", False), ("_rf7_T", "state_province_region", "Text", False),
    ("_rf8_T", "postal_code", "Text", False), ("_rf9_T", "country", "Text", False),
    ("_rf10_T", "phone_number", "Text", False), ("_rf11_T", "whatsapp", "Text", False),
    ("_rf12_T", "line", "Text", False), ("_rf13_T", "facebook", "Text", False),
    ("_rf14_T", "unique_name", "Text", False), ("_rf15_T", "email_domains", "Text", True),
    ("_rf16_D", "last_clicked", "Date", True), ("_rf17_D", "last_opened", "Date", True),
    ("_rf18_D", "last_emailed", "Date", True), ("_rf19_T", "singlesend_id", "Text", True),
    ("_rf20_T", "automation_id", "Text", True), ("_rf21_D", "created_at", "Date", True),
    ("_rf22_D", "updated_at", "Date", True), ("_rf23_T", "contact_id", "Text", True),
)
DEFAULT_CUSTOM_FIELDS = (("e1_T", "favorite_color", "Text"), ("w1", "num_orders", "Number"),
                         ("w2", "dob", "Date"))
"""A fresh sandbox account's custom fields: ``e1_T`` answers the seed's example, ``w1``/``w2`` the spec's."""

MAX_LENGTHS = {"email": 254, "first_name": 50, "last_name": 50, "address_line_1": 100,
               "address_line_2": 100, "city": 60, "state_province_region": 50, "country": 50}
TEXT_MAX_BYTES = 32_766
MAX_CUSTOM_FIELDS = 500
FIELD_TYPE_SUFFIX = {"Text": "T", "Number": "N", "Date": "D"}

EMAIL = re.compile(r"^[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$")
CSV_DATE = r"^\d{1,2}/\d{1,2}/\d{4}$"
HEADER = re.compile(r"^[A-Za-z0-9_]+$")
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

UPLOAD_HEADERS = (("x-amz-server-side-encryption", "aws:kms"),)
URL_EXPIRES = 3600
ERRORS_FILE_COLUMNS = ("email", "error")


@dataclass
class Outcome:
    """What an import job did, shown once its emulated run is over."""

    status: str
    requested: int = 0
    created: int = 0
    updated: int = 0
    errored: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    """``(email as written, reason)`` per rejected row; email empty for a reason about the whole file."""


@dataclass
class ImportRecord:
    id: str
    field_mappings: list[str | None]
    list_ids: list[str]
    created_at: datetime
    job: EmulatedJob | None = None
    uploaded_at: float = 0.0
    outcome: Outcome | None = None


@dataclass
class SendGridAccount:
    """The emulated account. Tests may change the limits and ``restricted_tokens`` (answered 403).

    :param max_file_bytes: the largest import file (SendGrid: 5 GB); bigger files fail the job.
    :param max_rows: the most contacts an import file may hold.
    :param rate_limit: requests per endpoint and refresh period in seconds.
    """

    max_file_bytes: int = 5 * 1024**3
    max_rows: int = 1_000_000
    rate_limit: tuple[int, float] = (600, 60.0)
    restricted_tokens: set[str] = field(default_factory=set)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    custom_fields: dict[str, dict[str, str]] = field(default_factory=lambda: {
        field_id: {"id": field_id, "name": name, "field_type": field_type}
        for field_id, name, field_type in DEFAULT_CUSTOM_FIELDS})
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    imports: dict[str, ImportRecord] = field(default_factory=dict)
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def definitions(self) -> dict[str, dict[str, Any]]:
        """Every field definition by id, reserved first."""
        reserved = {field_id: {"id": field_id, "name": name, "field_type": field_type,
                               **({"read_only": True} if read_only else {})}
                    for field_id, name, field_type, read_only in RESERVED_FIELDS}
        return {**reserved, **self.custom_fields}


def account(state: SandboxState) -> SendGridAccount:
    """The emulator's state, created on first use (and again after a sandbox reset)."""
    with state.lock:
        return state.extras.setdefault(PROVIDER, SendGridAccount())  # type: ignore[no-any-return]


def error_body(status: int, message: str) -> dict[str, Any]:
    text = "too many requests" if status == 429 else message.lower()
    return {"errors": [{"field": None, "message": text}]}


def _errors(*items: tuple[str | None, str]) -> dict[str, Any]:
    return {"errors": [{"field": field_name, "message": message} for field_name, message in items]}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _s3_error(status: int, code: str, message: str, **extra: str) -> Response:
    details = "".join(f"<{key}>{value}</{key}>" for key, value in extra.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
            f"</Message>{details}<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>")
    return Response(body, status_code=status, media_type="application/xml")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the API's front door: auth, rate limits ---------------------------------------------------


def _gate(state: SandboxState, request: Request, endpoint: str) -> tuple[SendGridAccount, dict[str, str]] | Response:
    """Check the API key and the endpoint's rate limit; the headers every answer carries."""
    sg = account(state)
    sg.calls[endpoint] += 1
    token = bearer_token(request)
    if token != state.tokens[PROVIDER] and token not in sg.restricted_tokens:
        return _json(401, error_body(401, "authorization required"))
    if token in sg.restricted_tokens:
        return _json(403, error_body(403, "access forbidden"))
    limit, period = sg.rate_limit
    now = time.time()
    with sg.lock:
        started, used = sg.windows.get(endpoint, (now, 0))
        if now - started >= period:
            started, used = now, 0
        used += 1
        sg.windows[endpoint] = (started, used)
    headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - used)),
               "X-RateLimit-Reset": str(int(started + period + 0.999))}
    if used > limit:
        return _json(429, error_body(429, "too many requests"), headers)
    return sg, headers


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None


# -- pre-signed URLs ---------------------------------------------------------------------------


def _signature(sg: SendGridAccount, method: str, path: str, host: str, amz_date: str,
               signed: dict[str, str]) -> str:
    text = "\n".join([method, path, host, amz_date, str(URL_EXPIRES), *signed.values()])
    return hmac.new(sg.secret, text.encode(), hashlib.sha256).hexdigest()


def _presign(sg: SendGridAccount, method: str, url: str, signed: dict[str, str]) -> str:
    parts = urlsplit(url)
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"SANDBOXKEY/{amz_date[:8]}/us-east-1/s3/aws4_request",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(URL_EXPIRES),
        "X-Amz-SignedHeaders": ";".join(["host", *signed]),
        "X-Amz-Signature": _signature(sg, method, parts.path, parts.netloc, amz_date, signed),
    }
    return f"{url}?{urlencode(query)}"


def _check_presigned(sg: SendGridAccount, request: Request, signed_names: tuple[str, ...]) -> Response | None:
    """S3's answer to a request that its query-string signature does not allow, else ``None``."""
    if "authorization" in request.headers:
        return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm "
                         "query parameter, Signature query string parameter or the Authorization header "
                         "should be specified", ArgumentName="Authorization",
                         ArgumentValue=request.headers["authorization"][:20] + "...")
    query = request.query_params
    amz_date, signature = query.get("X-Amz-Date", ""), query.get("X-Amz-Signature", "")
    if not amz_date or not signature:
        return _s3_error(403, "AccessDenied", "Query-string authentication requires the X-Amz-Signature "
                         "and X-Amz-Date parameters")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return _s3_error(403, "AccessDenied", "X-Amz-Date must be in the ISO8601 Long Format")
    if time.time() > signed_at + URL_EXPIRES:
        return _s3_error(403, "AccessDenied", "Request has expired")
    signed = {name: request.headers.get(name, "") for name in signed_names}
    expected = _signature(sg, request.method, request.url.path, request.headers.get("host", ""), amz_date, signed)
    if not hmac.compare_digest(expected, signature):
        return _s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                         "the signature you provided. Check your key and signing method.")
    return None


# -- running an import -------------------------------------------------------------------------


def _fail(requested: int, reason: str) -> Outcome:
    return Outcome("failed", requested=requested, errored=requested, errors=[("", reason)])


def run_import(state: SandboxState, sg: SendGridAccount, record: ImportRecord, body: bytes) -> Outcome:
    """Read the uploaded file and upsert its contacts, as SendGrid's job does."""
    if len(body) > sg.max_file_bytes:
        return _fail(0, f"the file is larger than the import limit of {sg.max_file_bytes} bytes")
    try:
        data = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8").fillna("")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError):
        return _fail(0, "the file could not be read as CSV (plain or gzip-compressed)")
    requested = len(frame)
    if len(frame.columns) != len(record.field_mappings):
        return _fail(requested, "the field mapping doesn't match the CSV")
    if not all(HEADER.match(str(name)) for name in frame.columns):
        return _fail(requested, "CSV headers may only use letters, numbers and underscores")
    if requested > sg.max_rows:
        return _fail(requested, f"the file has more than {sg.max_rows} contacts")
    definitions = sg.definitions()
    mapped = {str(column): definitions[field_id]
              for column, field_id in zip(frame.columns, record.field_mappings, strict=True) if field_id}
    email_column = next((column for column, definition in mapped.items() if definition["name"] == "email"), None)
    if email_column is None:
        return _fail(requested, "at least one identifier (email, phone_number_id, external_id or "
                                "anonymous_id) must be mapped")

    emails = frame[email_column].str.strip()
    reasons = pd.Series("", index=frame.index)
    reasons[emails == ""] = "email is required"
    reasons[(reasons == "") & ~emails.str.match(EMAIL.pattern)] = "email is invalid"
    values: dict[str, pd.Series] = {}
    for column, definition in mapped.items():
        name, kind = definition["name"], definition["field_type"]
        if name == "email":
            continue
        text = frame[column]
        present = text != ""
        converted, bad, problem = _check_column(name, kind, text, present)
        reasons[(reasons == "") & bad] = problem
        values[name] = converted.where(present)

    good = reasons == ""
    outcome = Outcome("completed", requested=requested, errored=int((~good).sum()),
                      errors=list(zip(frame.loc[~good, email_column].tolist(), reasons[~good].tolist(), strict=True)))
    store = state.store(PROVIDER)
    records = pd.DataFrame(values).loc[good].astype(object).to_dict("records") if values else [{}] * int(good.sum())
    good_emails = emails[good].str.lower().tolist()
    for email, row in zip(good_emails, records, strict=True):
        kept = {key: _plain(value) for key, value in row.items() if not pd.isna(value)}
        if store.upsert(email, kept) == "created":
            outcome.created += 1
        else:
            outcome.updated += 1
    with sg.lock:
        for list_id in record.list_ids:
            sg.lists[list_id]["members"].update(good_emails)
    if outcome.errors:
        outcome.status = "failed" if not good.any() else "errored"
    return outcome


def _check_column(name: str, kind: str, text: pd.Series, present: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    """A column's values as stored, which present cells its field type refuses, and why."""
    if kind == "Number":
        number = pd.to_numeric(text.where(present), errors="coerce")
        return number, present & number.isna(), f"{name} must be a number"
    if kind == "Date":
        date = pd.to_datetime(text.where(present & text.str.match(CSV_DATE)), format="%m/%d/%Y", errors="coerce")
        return date.dt.strftime("%Y-%m-%d"), present & date.isna(), f"{name} must be a date formatted MM/DD/YYYY"
    limit = MAX_LENGTHS.get(name)
    if limit:
        return text, present & (text.str.len() > limit), f"{name} is longer than {limit} characters"
    too_long = text.str.encode("utf-8").str.len() > TEXT_MAX_BYTES
    return text, present & too_long, f"{name} is longer than {TEXT_MAX_BYTES} bytes"


def _plain(value: Any) -> Any:
    """Numbers as JSON would hold them: integers without a fraction."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_GZIP_ERRORS = (OSError, EOFError, cast("type[Exception]", isal_zlib.error))
"""What reading a bad gzip file raises (ISA-L's own error is no OSError; its stubs call it an instance)."""


def _count_sink(state: SandboxState, body: bytes) -> int:
    """Sink mode: count the file's data lines without parsing it.

    Decompressed a megabyte at a time by ISA-L (3x zlib's speed, no whole copy of the file): the
    job is done only once counted, and a client waiting on it should not wait on the sink. A file
    that cannot be read counts as none.
    """
    lines, last = 0, b"\n"
    try:
        with igzip.GzipFile(fileobj=io.BytesIO(body)) if body[:2] == b"\x1f\x8b" else io.BytesIO(body) as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                lines += block.count(b"\n")
                last = block[-1:]
    except _GZIP_ERRORS:
        lines, last = 0, b"\n"
    rows = max(0, lines - 1 + (last != b"\n"))  # the header is no row; a last line may lack its newline
    state.count_sink(PROVIDER, rows, body)
    return rows


def _finish_upload(state: SandboxState, sg: SendGridAccount, record: ImportRecord, body: bytes) -> None:
    if record.job is not None and record.job.fails:
        outcome = _fail(0, "the import could not be processed; try again")
    elif state.sink:
        rows = _count_sink(state, body)
        outcome = Outcome("completed", requested=rows, created=rows)
    else:
        outcome = run_import(state, sg, record, body)
    with sg.lock:
        record.outcome = outcome


def _status_body(request: Request, sg: SendGridAccount, record: ImportRecord) -> dict[str, Any]:
    body: dict[str, Any] = {"id": record.id, "status": "pending", "job_type": "upsert",
                            "started_at": _iso(record.created_at)}
    job, outcome = record.job, record.outcome
    if job is None or outcome is None or job.phase() != "done":
        return body
    results: dict[str, Any] = {"requested_count": outcome.requested, "created_count": outcome.created,
                               "updated_count": outcome.updated, "deleted_count": 0,
                               "errored_count": outcome.errored}
    if outcome.errors:
        url = str(request.url_for("sendgrid_errors_file", job_id=record.id))
        results["errors_url"] = _presign(sg, "GET", url, {})
    finished = datetime.fromtimestamp(record.uploaded_at + job.delay, tz=timezone.utc)
    return {**body, "status": outcome.status, "results": results, "finished_at": _iso(finished)}


def _errors_file(outcome: Outcome) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ERRORS_FILE_COLUMNS)
    writer.writerows(outcome.errors)
    return out.getvalue()


# -- routes ------------------------------------------------------------------------------------


def _validate_import(sg: SendGridAccount, body: Any) -> Response | None:
    """SendGrid's 400/404 for an import request it refuses outright, else ``None``."""
    if not isinstance(body, dict):
        return _json(400, _errors((None, "request body must be a JSON object")))
    problems: list[tuple[str | None, str]] = []
    if "file_type" not in body:
        problems.append(("file_type", "file_type is required"))
    elif body["file_type"] != "csv":
        problems.append(("file_type", "file_type must be csv"))
    mappings = body.get("field_mappings")
    definitions = sg.definitions()
    if not isinstance(mappings, list) or not mappings:
        problems.append(("field_mappings", "field_mappings must be a list of at least one field id or null"))
    else:
        for position, field_id in enumerate(mappings):
            where = f"field_mappings[{position}]"
            if field_id is None:
                continue
            if not isinstance(field_id, str) or field_id not in definitions:
                problems.append((where, f"field definition id {field_id!r} does not exist"))
            elif definitions[field_id].get("read_only"):
                problems.append((where, f"field {definitions[field_id]['name']} is read only"))
        repeated = sorted({f for f in mappings if f is not None and mappings.count(f) > 1}, key=str)
        if repeated:
            problems.append(("field_mappings", f"each field can only be mapped to one column: {repeated}"))
    list_ids = body.get("list_ids", [])
    if not isinstance(list_ids, list) or not all(isinstance(item, str) for item in list_ids):
        problems.append(("list_ids", "list_ids must be a list of list id strings"))
    if problems:
        return _json(400, _errors(*problems))
    missing = [list_id for list_id in list_ids if list_id not in sg.lists]
    if missing:
        return _json(404, _errors(("list_ids", f"lists not found: {', '.join(missing)}")))
    return None


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.get("/v3/marketing/field_definitions")
    def get_field_definitions(request: Request) -> Response:
        gate = _gate(state, request, "GET field_definitions")
        if isinstance(gate, Response):
            return gate
        sg, headers = gate
        definitions = sg.definitions()
        body = {
            "custom_fields": [d for d in definitions.values() if d["id"] in sg.custom_fields],
            "reserved_fields": [d for d in definitions.values() if d["id"] not in sg.custom_fields],
            "_metadata": {"self": str(request.url)},
        }
        return _json(200, body, headers)

    @router.post("/v3/marketing/field_definitions")
    async def create_field_definition(request: Request) -> Response:
        gate = _gate(state, request, "POST field_definitions")
        if isinstance(gate, Response):
            return gate
        sg, headers = gate
        body = await _json_body(request)
        name = body.get("name") if isinstance(body, dict) else None
        field_type = body.get("field_type") if isinstance(body, dict) else None
        taken = {d["name"].lower() for d in sg.definitions().values()}
        problems: list[tuple[str | None, str]] = []
        if not isinstance(name, str) or not 1 <= len(name) <= 100 or not FIELD_NAME.match(name):
            problems.append(("name", "name must be 1-100 letters, digits or underscores, not starting with a digit"))
        elif name.lower() in taken:
            problems.append(("name", f"a field named {name} already exists"))
        if field_type not in FIELD_TYPE_SUFFIX:
            problems.append(("field_type", "field_type must be Text, Number or Date"))
        if len(sg.custom_fields) >= MAX_CUSTOM_FIELDS:
            problems.append((None, f"you can have up to {MAX_CUSTOM_FIELDS} custom fields"))
        if problems:
            return _json(400, _errors(*problems), headers)
        assert isinstance(name, str) and isinstance(field_type, str)
        with sg.lock:
            field_id = f"e{len(sg.custom_fields) + 1}_{FIELD_TYPE_SUFFIX[field_type]}"
            while field_id in sg.custom_fields:
                field_id = f"e{secrets.randbelow(10**6)}_{FIELD_TYPE_SUFFIX[field_type]}"
            sg.custom_fields[field_id] = {"id": field_id, "name": name, "field_type": field_type}
        self_url = f"{str(request.url).split('?')[0]}/{field_id}"
        return _json(200, {**sg.custom_fields[field_id], "_metadata": {"self": self_url}}, headers)

    @router.post("/v3/marketing/lists")
    async def create_list(request: Request) -> Response:
        gate = _gate(state, request, "POST lists")
        if isinstance(gate, Response):
            return gate
        sg, headers = gate
        body = await _json_body(request)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            return _json(400, _errors(("name", "name must be 1-100 characters")), headers)
        list_id = str(uuid.uuid4())
        with sg.lock:
            sg.lists[list_id] = {"id": list_id, "name": name, "members": set()}
        return _json(201, _list_body(request, sg.lists[list_id]), headers)

    @router.get("/v3/marketing/lists")
    def get_lists(request: Request) -> Response:
        gate = _gate(state, request, "GET lists")
        if isinstance(gate, Response):
            return gate
        sg, headers = gate
        result = [_list_body(request, item) for item in sg.lists.values()]
        return _json(200, {"result": result, "_metadata": {"self": str(request.url)}}, headers)

    @router.get("/v3/marketing/lists/{list_id}", name="sendgrid_get_list")
    def get_list(list_id: str, request: Request) -> Response:
        gate = _gate(state, request, "GET lists/{id}")
        if isinstance(gate, Response):
            return gate
        sg, headers = gate
        if list_id not in sg.lists:
            return _json(404, _errors(("id", "list not found")), headers)
        return _json(200, _list_body(request, sg.lists[list_id]), headers)

    @router.put("/v3/marketing/contacts/imports")
    async def create_import(request: Request) -> Response:
        gate = _gate(state, request, "PUT contacts/imports")
        if isinstance(gate, Response):
            return gate
        sg, headers = gate
        body = await _json_body(request)
        if not state.sink:
            refused = _validate_import(sg, body)
            if refused is not None:
                refused.headers.update(headers)
                return refused
        body = body if isinstance(body, dict) else {}
        record = ImportRecord(id=str(uuid.uuid4()), field_mappings=list(body.get("field_mappings") or []),
                              list_ids=list(body.get("list_ids") or []), created_at=datetime.now(timezone.utc))
        with sg.lock:
            sg.imports[record.id] = record
        upload_url = str(request.url_for("sendgrid_upload", job_id=record.id))
        signed = dict(UPLOAD_HEADERS)
        return _json(200, {
            "job_id": record.id,
            "upload_uri": _presign(sg, "PUT", upload_url, signed),
            "upload_headers": [{"header": name, "value": value} for name, value in UPLOAD_HEADERS],
        }, headers)

    @router.get("/v3/marketing/contacts/imports/{job_id}")
    def get_import(job_id: str, request: Request) -> Response:
        gate = _gate(state, request, "GET contacts/imports/{id}")
        if isinstance(gate, Response):
            return gate
        sg, headers = gate
        record = sg.imports.get(job_id)
        if record is None:
            return _json(404, _errors((None, "job not found")), headers)
        return _json(200, _status_body(request, sg, record), headers)

    @router.put("/upload/{job_id}", name="sendgrid_upload")
    async def upload(job_id: str, request: Request) -> Response:
        """The pre-signed S3 PUT: S3's checks, then the job starts (after the answer is sent)."""
        sg = account(state)
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            return _s3_error(501, "NotImplemented", "A header you provided implies functionality that is "
                             "not implemented", Header="Transfer-Encoding")
        if "content-length" not in request.headers:
            return _s3_error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        refused = _check_presigned(sg, request, tuple(name for name, _ in UPLOAD_HEADERS))
        if refused is not None:
            return refused
        body = await request.body()
        etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
        with sg.lock:
            record = sg.imports.get(job_id)
            first = record is not None and record.job is None
            if record is not None and first:
                record.uploaded_at = time.time()
                record.job = EmulatedJob(id=job_id, account=state.accounts[PROVIDER], delay=state.job_delay,
                                         fails=state.faults.take_job_failure(PROVIDER))
        if record is None or not first:
            # S3 stores any object the URL was signed for; only the first file starts the job.
            return Response(status_code=200, headers={"ETag": etag})
        return Response(status_code=200, headers={"ETag": etag},
                        background=BackgroundTask(_finish_upload, state, sg, record, body))

    @router.get("/errors/{job_id}.csv", name="sendgrid_errors_file")
    def errors_file(job_id: str, request: Request) -> Response:
        sg = account(state)
        refused = _check_presigned(sg, request, ())
        if refused is not None:
            return refused
        record = sg.imports.get(job_id)
        if record is None or record.outcome is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(_errors_file(record.outcome), media_type="text/csv")

    return router


def _list_body(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    self_url = str(request.url_for("sendgrid_get_list", list_id=item["id"]))
    return {"id": item["id"], "name": item["name"], "contact_count": len(item["members"]),
            "_metadata": {"self": self_url}}
