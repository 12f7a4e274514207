"""SendGrid Marketing: a batch goes up as one gzip CSV file, then an async job imports it.

``PUT /v3/marketing/contacts/imports`` answers with a job id, a pre-signed S3 ``upload_uri``
and the ``upload_headers`` that URL was signed with; the file is PUT there (without the API
key) and ``GET /v3/marketing/contacts/imports/{id}`` reports the job. Rejected rows are
listed in a CSV file at the job's pre-signed ``errors_url``. See docs/contracts/sendgrid.md.
"""

from __future__ import annotations

import io
import itertools
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import requests
from isal import igzip
from tenacity import RetryCallState

from airflow_contacts_provider.exceptions import (
    BatchTooLargeError,
    ConfigurationError,
    ContactsProviderError,
    MappingError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.hooks.base import ContactImportHook, Contacts, RetryPolicy, iter_frames
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, RowError
from airflow_contacts_provider.spill import SpillDirectory

IMPORTS_PATH = "/v3/marketing/contacts/imports"
FIELD_DEFINITIONS_PATH = "/v3/marketing/field_definitions"

FIELD_TYPES = {"Text": FieldType.TEXT, "Number": FieldType.FLOAT, "Date": FieldType.DATE}
RESERVED_MAX_LENGTHS = {
    "email": 254, "first_name": 50, "last_name": 50, "address_line_1": 100, "address_line_2": 100,
    "city": 60, "state_province_region": 50, "country": 50,
}
"""Lengths from the contact schema of SendGrid's own OpenAPI file (tsg_mc_contacts_v3.yaml)."""

CSV_DATE_FORMAT = "%m/%d/%Y"
"""SendGrid's CSV date format (MM/DD/YYYY); date-typed columns of Date fields are written so."""

SLICE_ROWS = 50_000
"""Rows turned into CSV at a time: bounds the memory the CSV text takes, whatever the batch size."""

GZIP_LEVEL = 1
"""ISA-L's level 1 (igzip, standard gzip output) compresses a contacts CSV about 9x, over three
times as fast as zlib's level 1: the upload goes to S3, where bandwidth is cheaper than our CPU time."""

WRITE_OPTIONS = pacsv.WriteOptions(include_header=False)
READ_EMAILS = {
    "parse_options": pacsv.ParseOptions(newlines_in_values=True),
    "convert_options": pacsv.ConvertOptions(include_columns=["email"], column_types={"email": pa.string()}),
}
"""How an import file's emails are read back: only that column, as text, values spanning lines allowed."""
REASON_COLUMNS = ("error", "errors", "error_message", "reason", "message")
S3_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)
S3_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


@dataclass
class _Submitted:
    """What this hook sent in one job, to give each rejected row its position in the batch.

    The import file itself is kept on disk until the job finishes: when SendGrid reports
    rejected rows, their emails are looked up in it, block by block. Nothing is computed per
    contact for the rows SendGrid accepts.
    """

    count: int
    import_file: Path

    def positions(self, emails: Sequence[str]) -> np.ndarray:
        """The row of the file where each email (trimmed, any case) first appears, -1 where none does."""
        keys = _normalised(pa.array(emails, pa.string()))
        wanted = pc.unique(keys)
        first = np.full(len(wanted), -1)
        offset = 0
        with pacsv.open_csv(pa.input_stream(self.import_file, compression="gzip"), **READ_EMAILS) as blocks:
            for block in blocks:
                found = pc.index_in(_normalised(block.column(0)), value_set=wanted)
                codes = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
                rows = np.flatnonzero(codes >= 0)
                new, earliest = np.unique(codes[rows], return_index=True)
                unset = first[new] < 0
                first[new[unset]] = offset + rows[earliest[unset]]
                offset += block.num_rows
        return first[pc.index_in(keys, value_set=wanted).to_numpy()]


class _UploadBody:
    """The compressed file, rewound, with a length so requests sends ``Content-Length``.

    A pre-signed S3 PUT refuses chunked transfer encoding (501 NotImplemented), so the body
    must not look like a bare stream; each retry gets a new one from the file's start.
    """

    def __init__(self, file: IO[bytes], size: int) -> None:
        file.seek(0)
        self._file = file
        self._size = size

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)


class _RateLimitResetPolicy(RetryPolicy):
    """SendGrid's 429 carries no ``Retry-After``: wait until ``X-RateLimit-Reset`` (epoch seconds)."""

    def wait(self, state: RetryCallState) -> float:
        response = self._response(state)
        if response is not None and response.status_code == 429 and "Retry-After" not in response.headers:
            reset = _number(response.headers.get("X-RateLimit-Reset"))
            if reset is not None:
                seconds = max(0.0, reset - time.time())
                self.rate_limited += 1
                self.rate_limit_waited += seconds
                return seconds
        return super().wait(state)


class SendGridMarketingHook(ContactImportHook):
    """Imports contacts into SendGrid Marketing Campaigns through the CSV import API.

    Columns of a batch are SendGrid field names (reserved such as ``first_name`` or custom);
    each is mapped to its field-definition id in ``field_mappings``.

    :param conn_id: the Airflow connection (password: an API key with Marketing access).
    """

    conn_name_attr = "conn_id"
    default_conn_name = "sendgrid_marketing_default"
    conn_type = "sendgrid_marketing"
    hook_name = "SendGrid Marketing"
    provider = "sendgrid"
    default_host = "https://api.sendgrid.com"
    contacts_page = "https://mc.sendgrid.com/contacts"
    max_batch_size = 1_000_000
    max_batch_bytes = 5 * 1024**3

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._submitted: dict[str, _Submitted] = {}
        self._import_files = SpillDirectory(prefix="sendgrid-import-files-")

    # -- fields ------------------------------------------------------------------------

    @cached_property
    def field_definitions(self) -> dict[str, dict[str, Any]]:
        """Reserved and custom field definitions by name, fetched once per hook."""
        body = self.request("GET", FIELD_DEFINITIONS_PATH).json()
        fields = [*body.get("reserved_fields", []), *body.get("custom_fields", [])]
        return {field["name"]: field for field in fields if field.get("id")}

    def get_field_specs(self) -> dict[str, FieldSpec]:
        return {
            name: FieldSpec(
                name=name,
                type=FIELD_TYPES.get(field.get("field_type", ""), FieldType.TEXT),
                max_length=RESERVED_MAX_LENGTHS.get(name),
                required=name == "email",
                read_only=bool(field.get("read_only")),
            )
            for name, field in self.field_definitions.items()
        }

    def _field_mappings(self, columns: Sequence[str]) -> list[str]:
        """The field-definition id of each column, refusing names the account does not have."""
        definitions = self.field_definitions
        unknown = [name for name in columns if name not in definitions]
        if unknown:
            raise MappingError(f"{self.hook_name} has no fields named {unknown} (connection '{self.conn_id}').")
        read_only = [name for name in columns if definitions[name].get("read_only")]
        if read_only:
            raise MappingError(f"{self.hook_name} fields {read_only} are read-only and cannot be imported.")
        return [str(definitions[name]["id"]) for name in columns]

    # -- submitting ----------------------------------------------------------------------

    def submit_import(self, contacts: Contacts, *, list_ids: Sequence[str | int] | None = None,
                      exclude_list_ids: Sequence[str | int] | None = None) -> ImportJob:
        """Write the batch as gzip CSV, open an import job, upload the file; returns the pending job.

        The batch's frames are written one after the other, so a batch of a million contacts
        is never whole in memory. The file is written before the job is opened, so a batch
        over the size limit opens none.
        """
        if exclude_list_ids:
            raise ConfigurationError(f"{self.hook_name} imports can add contacts to lists but cannot "
                                     "exclude lists; leave exclude_list_ids empty.")
        frames = iter_frames(contacts)
        first = next(frames, pd.DataFrame())
        self.check_batch_size(len(first))
        if "email" not in first.columns:
            raise MappingError(f"{self.hook_name} imports need an 'email' column to identify contacts.")
        columns = ["email", *(name for name in first.columns if name != "email")]
        mappings = self._field_mappings(columns)
        date_columns = {name for name in columns
                        if self.field_definitions[name].get("field_type") == "Date"}
        payload: dict[str, Any] = {"file_type": "csv", "field_mappings": mappings}
        if list_ids:
            payload["list_ids"] = [str(list_id) for list_id in list_ids]

        import_file = self._import_files.new_path(".csv.gz")
        try:
            with open(import_file, "w+b") as file:
                count, size = self._write_gzip_csv(itertools.chain([first], frames), columns, date_columns, file)
                job = self.request("PUT", IMPORTS_PATH, json=payload).json()
                job_id = str(job["job_id"])
                self._upload(job["upload_uri"], job.get("upload_headers") or [], file, size)
        except BaseException:
            import_file.unlink(missing_ok=True)  # a batch refused or not sent leaves no file
            raise
        self._submitted[job_id] = _Submitted(count, import_file)
        self.log.info("%s: uploaded %d contacts (%d bytes gzip) as import job %s",
                      self.hook_name, count, size, job_id)
        return ImportJob(provider=self.provider, job_id=job_id, status=ImportStatus.PENDING, submitted=count)

    def _write_gzip_csv(self, frames: Iterable[pd.DataFrame], columns: list[str], date_columns: set[str],
                        file: IO[bytes]) -> tuple[int, int]:
        """Stream the frames as CSV through gzip into ``file``, slice by slice.

        Returns the row count and the file size.
        The header is written plainly (field names are letters, digits and underscores); values
        go through Arrow's CSV writer, which quotes strings and leaves missing values empty.
        """
        count = 0
        with igzip.GzipFile(fileobj=file, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as compressed:
            compressed.write((",".join(columns) + "\n").encode())
            for frame in frames:
                count += len(frame)
                self.check_batch_size(count)
                if sorted(frame.columns) != sorted(columns):
                    raise MappingError(f"{self.hook_name}: every frame of a batch needs the columns {columns}; "
                                       f"one has {list(frame.columns)}.")
                ordered = frame[columns]
                for start in range(0, len(frame), SLICE_ROWS):
                    pacsv.write_csv(_arrow_slice(ordered.iloc[start:start + SLICE_ROWS], date_columns),
                                    compressed, WRITE_OPTIONS)
                    self._check_file_size(file.tell())
        size = file.tell()
        self._check_file_size(size)
        return count, size

    def _check_file_size(self, size: int) -> None:
        if self.max_batch_bytes is not None and size > self.max_batch_bytes:
            raise BatchTooLargeError(
                f"{self.hook_name} accepts import files up to {self.max_batch_bytes} bytes; this batch "
                f"compresses to more than that ({size} bytes so far). Nothing was sent."
            )

    def _upload(self, uri: str, headers: Sequence[Mapping[str, str]], file: IO[bytes], size: int) -> None:
        """PUT the file to the pre-signed URL with exactly the signed headers and no API key."""
        response = self.request(
            "PUT", uri,
            data=lambda: _UploadBody(file, size),
            headers={header["header"]: header["value"] for header in headers},
            authenticated=False,
            accept=(400, 403, 404, 411, 501),
        )
        if response.status_code >= 300:
            raise ProviderRequestError(
                f"{self.hook_name}'s upload URL refused the import file (HTTP {response.status_code}): "
                f"{_s3_error(response.text)}"
            )

    def _should_retry(self, response: Any) -> bool:
        # S3's 501 NotImplemented names a header it will never accept: retrying cannot help.
        return response.status_code != 501 and super()._should_retry(response)

    def _retry_policy(self) -> RetryPolicy:
        return _RateLimitResetPolicy(self.max_retries, self.max_rate_limit_wait, self.backoff_base)

    # -- job status ----------------------------------------------------------------------

    def get_import(self, job_id: str) -> ImportJob:
        body = self.request("GET", f"{IMPORTS_PATH}/{quote(job_id, safe='')}").json()
        errors_url = _errors_url(body)
        errors_csv = None
        if errors_url:
            # A pre-signed S3 link: it carries its own signature, and S3 refuses a second
            # credential (the API key) on the same request.
            response = self.request("GET", errors_url, authenticated=False, accept=(403, 404))
            errors_csv = response.text if response.status_code == 200 else None
        return self._job(job_id, body, errors_url, errors_csv)

    async def aget_import(self, job_id: str) -> ImportJob:
        body = (await self.arequest("GET", f"{IMPORTS_PATH}/{quote(job_id, safe='')}")).json()
        errors_url = _errors_url(body)
        errors_csv = None
        if errors_url:
            response = await self.arequest("GET", errors_url, authenticated=False, accept=(403, 404))
            errors_csv = response.text if response.status_code == 200 else None
        return self._job(job_id, body, errors_url, errors_csv)

    def _job(self, job_id: str, body: Mapping[str, Any], errors_url: str | None,
             errors_csv: str | None) -> ImportJob:
        """Turn SendGrid's job status (and its errors file) into an :class:`ImportJob`."""
        status = body.get("status")
        results = body.get("results") or {}
        submitted = self._submitted.get(job_id)
        count = submitted.count if submitted else int(results.get("requested_count") or 0)
        if status not in ("completed", "errored", "failed"):
            return ImportJob(provider=self.provider, job_id=job_id, status=ImportStatus.PENDING, submitted=count)

        self._submitted.pop(job_id, None)
        row_errors, job_reasons = _read_errors(errors_csv, submitted)
        if submitted is not None:
            submitted.import_file.unlink(missing_ok=True)
        notes = [] if errors_url is None or errors_csv is not None else [
            "the errors file at errors_url could not be read (expired link?)"]
        if status == "failed":
            reasons = job_reasons or sorted({error.reason for error in row_errors})[:3] or ["no reason given"]
            return ImportJob(provider=self.provider, job_id=job_id, status=ImportStatus.FAILED,
                             submitted=count, created=0, updated=0, rejected=count, row_errors=row_errors,
                             message="; ".join([f"import job failed: {', '.join(reasons)}", *notes]))

        notes.extend(job_reasons)
        created = int(results.get("created_count") or 0)
        updated = int(results.get("updated_count") or 0)
        rejected = int(results.get("errored_count") or 0)
        repeated = count - created - updated - rejected
        if repeated > 0:
            # SendGrid counts a contact once however often its email appears in the file: the
            # later rows updated the contact the first one created or updated.
            updated += repeated
            notes.append(f"{repeated} rows repeated an email of the same file and are counted as updated")
        return ImportJob(provider=self.provider, job_id=job_id, status=ImportStatus.SUCCEEDED,
                         submitted=count, created=created, updated=updated, rejected=rejected,
                         row_errors=row_errors, message="; ".join(notes) or None)

    def test_connection(self) -> tuple[bool, str]:
        try:
            body = self.request("GET", FIELD_DEFINITIONS_PATH).json()
        except (ContactsProviderError, requests.RequestException) as error:
            return False, str(error)
        return True, (f"Connected to {self.hook_name}: {len(body.get('custom_fields', []))} custom "
                      f"and {len(body.get('reserved_fields', []))} reserved fields.")


def _arrow_slice(frame: pd.DataFrame, date_columns: set[str]) -> pa.Table:
    """A slice as an Arrow table ready for the CSV writer: dates as MM/DD/YYYY, lists comma-joined."""
    arrays = []
    for name in frame.columns:
        column = frame[name]
        try:
            array = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            array = pa.array(column.astype("string"), from_pandas=True)  # mixed types: write their text
        if name in date_columns and (pa.types.is_date(array.type) or pa.types.is_timestamp(array.type)):
            array = pc.strftime(array, format=CSV_DATE_FORMAT)
        elif pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            array = pc.binary_join(array.cast(pa.list_(pa.string())), ",")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=[str(name) for name in frame.columns])


def _errors_url(body: Mapping[str, Any]) -> str | None:
    url = (body.get("results") or {}).get("errors_url")
    return str(url) if url else None


def _normalised(emails: pa.Array) -> pa.Array:
    """Emails trimmed and lower-cased (missing ones empty), as SendGrid tells contacts apart."""
    return pc.fill_null(pc.utf8_lower(pc.utf8_trim_whitespace(emails)), "")


def _read_errors(text: str | None, submitted: _Submitted | None) -> tuple[list[RowError], list[str]]:
    """Row errors of an errors file, and the reasons given for the job as a whole (no email).

    Rows are matched to their position in the batch by email (case-insensitive, first
    occurrence) when this hook submitted the batch.
    """
    if not text or not text.strip():
        return [], []
    errors = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if errors.empty:
        return [], []
    by_lower = {str(column).strip().lower(): column for column in errors.columns}
    reason_column = next((by_lower[name] for name in REASON_COLUMNS if name in by_lower), errors.columns[-1])
    reasons = errors[reason_column].astype(str)
    email_column = by_lower.get("email")
    found = errors[email_column].astype(str) if email_column is not None else pd.Series("", index=errors.index)
    for_job = found.str.strip() == ""
    job_reasons = list(dict.fromkeys(reasons[for_job]))
    found, reasons = found[~for_job], reasons[~for_job]

    positions = submitted.positions(found.tolist()) if submitted is not None and len(found) else np.full(len(found), -1)
    row_errors = [
        RowError(email=email, index=int(position) if position >= 0 else None, reason=reason)
        for email, position, reason in zip(found.tolist(), positions.tolist(), reasons.tolist(), strict=True)
    ]
    return row_errors, job_reasons


def _s3_error(text: str) -> str:
    code, message = S3_CODE.search(text), S3_MESSAGE.search(text)
    if code is None:
        return text[:500]
    return f"{code.group(1)}: {message.group(1) if message else ''}".strip()


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
