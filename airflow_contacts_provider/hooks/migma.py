"""Migma: ``POST /v1/contacts/bulk``, answered at once up to 5,000 subscribers, as a job above that.

Contract notes and sources: ``docs/contracts/migma.md``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from airflow_contacts_provider.arrow_text import string_array
from airflow_contacts_provider.exceptions import (
    ConfigurationError,
    ContactsProviderError,
    MappingError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.hooks.base import ContactImportHook, Contacts, JsonBody, as_frame
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, RowError
from airflow_contacts_provider.json_rows import Constant, Member, Nested, json_objects

BULK_PATH = "/v1/contacts/bulk"
CUSTOM_FIELDS = "customFields"
CUSTOM_PREFIX = f"{CUSTOM_FIELDS}."
STATUSES = ("subscribed", "unsubscribed", "bounced", "non-subscribed")

JOB_STATUSES = {
    "pending": ImportStatus.PENDING,
    "processing": ImportStatus.RUNNING,
    "completed": ImportStatus.SUCCEEDED,
    "failed": ImportStatus.FAILED,
}

_FIELD_SPECS = (
    FieldSpec(name="email", type=FieldType.TEXT, required=True),
    FieldSpec(name="firstName", type=FieldType.TEXT),
    FieldSpec(name="lastName", type=FieldType.TEXT),
    FieldSpec(name="phone", type=FieldType.TEXT, max_length=30),
    FieldSpec(name="country", type=FieldType.TEXT),
    FieldSpec(name="language", type=FieldType.TEXT),
    FieldSpec(name="status", type=FieldType.TEXT, choices=STATUSES),
    FieldSpec(name="tags", type=FieldType.TAGS),
    FieldSpec(name=f"{CUSTOM_PREFIX}*", type=FieldType.JSON),
)
_TOP_LEVEL = frozenset(spec.name for spec in _FIELD_SPECS if not spec.name.startswith(CUSTOM_PREFIX))

_SUBSCRIBER = "__migma_subscriber__"
"""Column of a prepared frame (:meth:`MigmaHook.prepare_contacts`): each subscriber's JSON object, a comma after it."""

_TOKEN = re.compile(r"[^\s:;,'\"<>()\[\]{}]+")


class MigmaHook(ContactImportHook):
    """Bulk-imports subscribers into one Migma project (brand).

    Connection: password = API key (needs ``audience:write``; ``test_connection`` also
    needs ``audience:read``), extra ``project_id`` (required) and optionally
    ``requests_per_minute`` for the account's plan.

    Migma has no contact lists in this endpoint: ``list_ids`` become tags added to
    every subscriber of the batch. No client-side rate limit by default: the published plan
    limits disagree (10 to 1,000 requests a minute), so set ``requests_per_minute`` for the
    plan; 429s are waited out either way.
    """

    default_conn_name = "migma_default"
    conn_type = "migma"
    hook_name = "Migma"
    provider = "migma"
    default_host = "https://api.migma.ai"
    max_batch_size = 5_000
    """Up to here Migma answers synchronously with counts and per-row errors."""
    default_concurrent_requests = 2
    """Requests at once: a synchronous import of up to 5,000 is mostly server time; two stay gentle
    on plans with low rate limits (``requests_per_minute`` caps them in any case)."""
    default_chunk_size = 20_000
    """Four batches. A chunk is encoded whole (:meth:`prepare_contacts`) and held while its batches
    are in flight: 25,000 peaked 3-13 MiB higher (1M and 5M contacts), for 2-5 % more speed."""

    # -- connection ------------------------------------------------------------------

    @property
    def project_id(self) -> str:
        return self.require_extra("project_id")

    def rate_limit_key(self) -> str:
        """Migma counts requests per API key; key the limiter by a digest, never the key itself."""
        return "#" + hashlib.sha256(self.token.encode()).hexdigest()[:16]

    def get_field_specs(self) -> dict[str, FieldSpec]:
        return {spec.name: spec for spec in _FIELD_SPECS}

    # -- submitting ------------------------------------------------------------------

    def prepare_contacts(self, contacts: pd.DataFrame, email_hashes: np.ndarray | None = None) -> pd.DataFrame:
        """Encode a chunk's subscribers at once: one :func:`build_subscribers` a chunk rather than
        one a batch of 5,000 (each call has a fixed cost). The batch's tags (``list_ids``) are
        added as it is sent; subscribers with tags of their own are left to be encoded a batch at
        a time, which merges the two.
        """
        if "tags" in contacts.columns:
            return contacts
        subscribers = build_subscribers(contacts, [])
        return pd.DataFrame({"email": contacts["email"], _SUBSCRIBER: pd.arrays.ArrowStringArray(subscribers)},
                            index=contacts.index)

    def submit_import(self, contacts: Contacts, *, list_ids: Sequence[str | int] | None = None,
                      exclude_list_ids: Sequence[str | int] | None = None) -> ImportJob:
        """Send one batch; a batch Migma answers at once returns a terminal job.

        :param contacts: flat records keyed by field name (``customFields.<key>`` for custom fields).
        :param list_ids: tags to add to every subscriber (Migma's stand-in for lists).
        :param exclude_list_ids: not supported by Migma; raises :class:`ConfigurationError`.
        """
        if exclude_list_ids:
            raise ConfigurationError(
                "Migma's bulk import cannot remove contacts from lists or tags; drop exclude_list_ids."
            )
        frame = as_frame(contacts)
        self.check_batch_size(len(frame))
        if frame.empty:  # Migma refuses an empty array; nothing to send is nothing imported
            return ImportJob(provider=self.provider, job_id=f"migma-{uuid.uuid4().hex}",
                             status=ImportStatus.SUCCEEDED, submitted=0, created=0, updated=0, rejected=0)
        tags = [str(tag) for tag in list_ids or ()]
        if _SUBSCRIBER in frame.columns:
            subscribers = _with_tags(string_array(frame[_SUBSCRIBER]), tags)
        else:
            subscribers = build_subscribers(frame, tags)
        body = JsonBody({"projectId": self.project_id}, "subscribers", subscribers)
        response = self.request("POST", BULK_PATH, data=body, headers={"Content-Type": "application/json"})
        data = _data(response.json())
        if "jobId" in data:
            return ImportJob(provider=self.provider, job_id=str(data["jobId"]),
                             status=JOB_STATUSES.get(str(data.get("status")), ImportStatus.RUNNING),
                             submitted=len(frame), message=data.get("message"))
        return self._result_job(f"migma-{uuid.uuid4().hex}", ImportStatus.SUCCEEDED, len(frame), data,
                                frame["email"])

    # -- job status ------------------------------------------------------------------

    def get_import(self, job_id: str) -> ImportJob:
        self._check_job_id(job_id)
        return self._job_from_status(job_id, _data(self.request("GET", f"{BULK_PATH}/{job_id}").json()))

    async def aget_import(self, job_id: str) -> ImportJob:
        self._check_job_id(job_id)
        response = await self.arequest("GET", f"{BULK_PATH}/{job_id}")
        return self._job_from_status(job_id, _data(response.json()))

    @staticmethod
    def _check_job_id(job_id: str) -> None:
        if job_id.startswith("migma-"):
            raise ConfigurationError(
                f"'{job_id}' was answered synchronously and finished when submitted; Migma keeps no status "
                "for it."
            )

    def _job_from_status(self, job_id: str, data: Mapping[str, Any]) -> ImportJob:
        status = JOB_STATUSES.get(str(data.get("status")))
        if status is None:
            raise ProviderRequestError(f"Migma job {job_id} has an unknown status {data.get('status')!r}.")
        total = int(data.get("totalContacts") or 0)
        result = data.get("result")
        if status.is_terminal() and isinstance(result, Mapping):
            job = self._result_job(job_id, status, total, result, None)
            return job.model_copy(update={"message": data.get("error") or job.message})
        # A failed job without a result: Migma does not say what landed, so no counts are made up.
        return ImportJob(provider=self.provider, job_id=job_id, status=status, submitted=total,
                         message=data.get("error"))

    def _result_job(self, job_id: str, status: ImportStatus, submitted: int, result: Mapping[str, Any],
                    emails: pd.Series | None) -> ImportJob:
        created, updated, rejected, note = reconcile_counts(
            submitted, int(result.get("success") or 0), int(result.get("updated") or 0),
            int(result.get("failed") or 0))
        errors = [str(error) for error in result.get("errors") or ()]
        batch_emails = emails.tolist() if errors and emails is not None else None
        return ImportJob(provider=self.provider, job_id=job_id, status=status, submitted=submitted,
                         created=created, updated=updated, rejected=rejected,
                         row_errors=row_errors(errors, batch_emails), message=note)

    # -- connection test -------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """List one contact of the project: proves the key, its audience:read permission and the project."""
        try:
            params = {"projectId": self.project_id, "limit": 1}
            body = self.request("GET", "/v1/contacts", params=params).json()
        except ContactsProviderError as error:
            return False, str(error)
        return True, f"Connected to Migma project '{self.project_id}' ({body.get('count', 0)} contacts)."


def build_subscribers(frame: pd.DataFrame, extra_tags: list[str]) -> pa.StringArray:
    """The ``subscribers`` array's objects as JSON: missing values left out, ``customFields.<key>`` nested.

    ``extra_tags`` are added to every subscriber's tags (after its own, without repeating them).
    """
    unknown = [c for c in frame.columns if c not in _TOP_LEVEL and not _is_custom(str(c))]
    if unknown:
        raise MappingError(f"Migma has no subscriber field {', '.join(map(str, unknown))}; custom fields "
                           f"are named '{CUSTOM_PREFIX}<key>'.")
    if "email" not in frame.columns:
        raise MappingError("Migma needs an 'email' column.")
    members: dict[str, Member] = {str(column): column for column in frame.columns if not _is_custom(str(column))}
    custom = {str(column)[len(CUSTOM_PREFIX):]: column for column in frame.columns if _is_custom(str(column))}
    if custom:
        members[CUSTOM_FIELDS] = Nested(custom)
    if "tags" in frame.columns:
        frame = frame.assign(tags=[_tags(value, extra_tags) for value in frame["tags"].tolist()])
    elif extra_tags:
        members["tags"] = Constant(extra_tags)
    return json_objects(frame, members, comma_after=True)


def _with_tags(subscribers: pa.StringArray, tags: list[str]) -> pa.StringArray:
    """Encoded subscribers (each ``{...},``) with a ``tags`` member added, as :func:`build_subscribers` adds it."""
    if not tags:
        return subscribers
    closing = ',"tags":' + msgspec.json.encode(tags).decode() + "},"
    return pc.binary_join_element_wise(pc.utf8_slice_codeunits(subscribers, 0, -2), closing, "")


def _tags(value: Any, extra_tags: list[str]) -> Any:
    """A subscriber's tags (one tag may come as a string), then the extra tags it lacks; ``None`` for none."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return extra_tags or None
    tags = [value] if isinstance(value, str) else value
    return [*tags, *(tag for tag in extra_tags if tag not in tags)] if extra_tags else tags


def reconcile_counts(submitted: int, success: int, updated: int, failed: int
                     ) -> tuple[int, int, int, str | None]:
    """(created, updated, rejected, note) from Migma's ``success``/``updated``/``failed``.

    Read as disjoint counts (``success`` = newly created), which Migma's emulator and its
    CSV import's created/updated split follow. If instead they only add up with ``success``
    counting updates too, ``created = success - updated``. Otherwise the numbers are kept as
    reported and the note says they do not add up.
    """
    if success + updated + failed == submitted:
        return success, updated, failed, None
    if success + failed == submitted and updated <= success:
        return success - updated, updated, failed, None
    return success, updated, failed, (
        f"Migma reported success={success}, updated={updated}, failed={failed} for {submitted} contacts; "
        "these do not add up."
    )


def row_errors(errors: list[str], emails: Sequence[Any] | None) -> list[RowError]:
    """One RowError per error string; the email it names locates the row when the batch's emails are at hand."""
    positions: dict[str, list[int]] = {}
    for position, address in enumerate(emails or ()):
        if isinstance(address, str):
            positions.setdefault(address.strip().lower(), []).append(position)
    taken: set[int] = set()
    found = []
    for reason in errors:
        tokens = [token.strip(".") for token in _TOKEN.findall(reason)]
        tokens.sort(key=lambda token: "@" not in token)
        email = next((token for token in tokens if token.lower() in positions), None)
        index: int | None = None
        if email is not None:
            rows = positions[email.lower()]
            index = next((row for row in rows if row not in taken), rows[-1])
            taken.add(index)
        else:
            email = next((token for token in tokens if "@" in token), None)
        found.append(RowError(email=email, index=index, reason=reason))
    return found


def _data(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
        raise ProviderRequestError(f"Migma answered without a data object: {str(body)[:300]}")
    return body["data"]


def _is_custom(name: str) -> bool:
    return name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX)
