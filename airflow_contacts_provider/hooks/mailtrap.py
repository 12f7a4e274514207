"""Mailtrap bulk contact import: ``POST .../contacts/imports`` starts an async job, polled by id.

With ``account_id`` in the connection extra the hook uses the account-scoped paths of
Mailtrap's SDKs (``/api/accounts/{account_id}/contacts/...``); without it, the unscoped
paths of the current spec (``/api/contacts/...``), where the token decides the account.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property, partial
from typing import Any, ClassVar
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import requests

from airflow_contacts_provider.exceptions import (
    ConfigurationError,
    ContactsProviderError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.hooks.base import (
    ContactImportHook,
    Contacts,
    JsonBody,
    SpooledJsonObjects,
    iter_frames,
)
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, RowError
from airflow_contacts_provider.json_rows import Constant, Member, Nested, json_objects

STATUSES = {
    "created": ImportStatus.PENDING,
    "started": ImportStatus.RUNNING,
    "finished": ImportStatus.SUCCEEDED,
    "failed": ImportStatus.FAILED,
}

FIELD_TYPES = {kind.value: kind for kind in (FieldType.TEXT, FieldType.INTEGER, FieldType.FLOAT,
                                             FieldType.BOOLEAN, FieldType.DATE)}

ROW_ERROR_KEYS = ("email", "fields", "field_merge_tag")
"""422 error keys that are about one contact; ``base`` errors are about the request."""


ENCODE_ROWS = 10_000
"""Contacts encoded to JSON at a time: bounds the memory encoding takes, whatever the batch size.
Measured on 1M contacts: 15,000 took 7 MiB more at peak, 5,000 about 0.3 s more CPU. Mailtrap's
rate limit, not CPU, sets the pace of a large sync."""


class MailtrapHook(ContactImportHook):
    """Imports contacts into a Mailtrap account, up to 50,000 a request.

    Connection: ``password`` the API token, optional ``host`` (default https://mailtrap.io),
    extra ``account_id`` (recommended) and ``requests_per_minute``.

    :param conn_id: the Airflow connection to use (default ``mailtrap_default``).
    """

    conn_name_attr = "conn_id"
    default_conn_name = "mailtrap_default"
    conn_type = "mailtrap"
    hook_name = "Mailtrap"
    provider = "mailtrap"
    default_host = "https://mailtrap.io"
    max_batch_size = 50_000
    rate_limit: ClassVar[tuple[int, float] | None] = (200, 60.0)
    """The Contacts API allows 200 requests per 60 s per account."""
    default_concurrent_requests = 2
    """One request in flight while the operator encodes the next batch (:meth:`encode_import`)."""

    @cached_property
    def account_id(self) -> str | None:
        value = self.extras.get("account_id")
        return None if value in (None, "") else str(value)

    def api_path(self, resource: str) -> str:
        """The path of a Contacts API resource, account-scoped when the connection names an account."""
        if self.account_id is None:
            return f"/api/contacts/{resource}"
        return f"/api/accounts/{quote(self.account_id, safe='')}/contacts/{resource}"

    def rate_limit_key(self) -> str:
        if self.account_id is not None:
            return f"account:{self.account_id}"
        # Without an account id the token stands for its account; never keep the token itself.
        return "token:" + hashlib.sha256(self.token.encode()).hexdigest()[:16]

    # -- fields ------------------------------------------------------------------------

    def get_field_specs(self) -> dict[str, FieldSpec]:
        """``email`` plus the account's contact fields, named by merge tag (what an import sends)."""
        specs = {"email": FieldSpec(name="email", type=FieldType.TEXT, required=True)}
        for item in self.request("GET", self.api_path("fields")).json():
            kind = FIELD_TYPES.get(item.get("data_type"))
            tag = item.get("merge_tag")
            if kind is None or not tag:
                self.log.warning("Mailtrap field %r of type %r is not importable; skipped.", tag,
                                 item.get("data_type"))
            elif tag != "email":
                specs[tag] = FieldSpec(name=tag, type=kind)
        return specs

    # -- importing ---------------------------------------------------------------------

    def submit_import(self, contacts: Contacts, *, list_ids: Sequence[str | int] | None = None,
                      exclude_list_ids: Sequence[str | int] | None = None) -> ImportJob:
        """Start an import job for one batch (:meth:`encode_import`, then its call).

        A 422 naming contacts turns them into row errors; the rest is submitted once more,
        so the good rows land. A 422 about the whole request raises ``ProviderRequestError``.

        :param contacts: records keyed by ``email`` and field merge tags.
        :param list_ids: lists every contact is added to (``list_ids_included``).
        :param exclude_list_ids: lists every contact is removed from (``list_ids_excluded``).
        """
        return self.encode_import(contacts, list_ids=list_ids, exclude_list_ids=exclude_list_ids)()

    def encode_import(self, contacts: Contacts, *, list_ids: Sequence[str | int] | None = None,
                      exclude_list_ids: Sequence[str | int] | None = None) -> Callable[[], ImportJob]:
        """The batch encoded as its request's JSON (spooled to disk past a megabyte); the call
        returned posts it. Parameters as for :meth:`submit_import`."""
        included = _list_ids(list_ids, "list_ids")
        excluded = _list_ids(exclude_list_ids, "exclude_list_ids")
        if both := sorted(set(included) & set(excluded)):
            raise ConfigurationError(f"Mailtrap list ids {both} are both included and excluded.")
        payload, row_errors, size = self._encoded(contacts, included, excluded)
        return partial(self._post_batch, payload, row_errors, size)

    def _post_batch(self, payload: ContactsPayload, row_errors: list[RowError], size: int) -> ImportJob:
        """Post an encoded batch; a 422 naming contacts is answered by posting the rest once more."""
        if size == 0:
            return self._unsent_job(0, [], "The batch was empty; nothing was sent.")
        response = self._post_import(payload) if len(payload) else None
        if response is not None and response.status_code == 422:
            refused = self._refused_rows(response, payload)
            row_errors += refused
            payload = payload.without([error.index for error in refused if error.index is not None])
            response = self._post_import(payload) if len(payload) else None
            if response is not None and response.status_code == 422:
                raise ProviderRequestError(
                    f"Mailtrap refused the import again after removing {len(refused)} invalid "
                    f"contacts: {self.error_message(response)}"
                )

        row_errors.sort(key=lambda error: error.index if error.index is not None else -1)
        if response is None:
            return self._unsent_job(size, row_errors, "Every contact of the batch was refused; "
                                                            "nothing was imported.")
        job = self._job(response.json())
        self.log.info("Mailtrap import %s: %d contacts sent, %d refused, %s", job.job_id,
                      len(payload), len(row_errors), job.status.value)
        return job.model_copy(update={"submitted": size, "rejected": len(row_errors),
                                      "row_errors": row_errors})

    def _encoded(self, contacts: Contacts, included: list[int],
                 excluded: list[int]) -> tuple[ContactsPayload, list[RowError], int]:
        """The batch's payload, its rows without an email, and its size.

        Frames are encoded a slice at a time as they arrive and then let go: the batch is held
        as JSON, in a temporary file past a megabyte.
        """
        objects = SpooledJsonObjects()
        positions: list[np.ndarray] = []
        emails: list[pd.Series] = []
        row_errors: list[RowError] = []
        size = 0
        for frame in iter_frames(contacts):
            self.check_batch_size(size + len(frame))
            if len(frame) and "email" not in frame.columns:
                raise ConfigurationError("Mailtrap contacts need an 'email' column.")
            for start in range(0, len(frame), ENCODE_ROWS):
                part, errors = build_contacts(frame.iloc[start:start + ENCODE_ROWS], included, excluded,
                                              first_index=size + start)
                objects.append(part.objects)
                positions.append(part.positions)
                emails.append(part.emails.reset_index(drop=True))
                row_errors += errors
            size += len(frame)
        payload = ContactsPayload(objects, np.concatenate(positions) if positions else np.empty(0, np.int64),
                                  pd.concat(emails, ignore_index=True) if emails else pd.Series([], dtype=object))
        return payload, row_errors, size

    def _unsent_job(self, submitted: int, row_errors: list[RowError], message: str) -> ImportJob:
        """A finished job for a batch that left nothing to send, so there is no Mailtrap job to poll."""
        return ImportJob(provider=self.provider, job_id=f"mailtrap-{uuid.uuid4().hex}",
                         status=ImportStatus.SUCCEEDED, submitted=submitted, created=0, updated=0,
                         rejected=len(row_errors), row_errors=row_errors, message=message)

    def _post_import(self, payload: ContactsPayload) -> requests.Response:
        return self.request("POST", self.api_path("imports"), data=JsonBody({}, "contacts", payload.objects),
                            headers={"Content-Type": "application/json"}, accept=(422,))

    def _refused_rows(self, response: requests.Response, payload: ContactsPayload) -> list[RowError]:
        """Row errors of a 422, each matched to its contact's index by email; else raise."""
        try:
            entries = response.json().get("errors")
        except (ValueError, AttributeError):
            entries = None
        if not isinstance(entries, list) or not entries:
            raise ProviderRequestError(f"Mailtrap refused the import: {self.error_message(response)}")
        unclaimed: dict[str, deque[int]] = defaultdict(deque)
        for position, email in zip(payload.positions.tolist(), payload.emails.tolist(), strict=True):
            unclaimed[_email_key(email)].append(position)
        refused = []
        for entry in entries:
            errors = entry.get("errors") or {}
            email = entry.get("email")
            slots = unclaimed.get(_email_key(email)) if isinstance(email, str) else None
            if not any(errors.get(key) for key in ROW_ERROR_KEYS) or not slots:
                raise ProviderRequestError(f"Mailtrap refused the import: {self.error_message(response)}")
            refused.append(RowError(email=email, index=slots.popleft(), reason=_reason(errors)))
        return refused

    # -- polling -----------------------------------------------------------------------

    def get_import(self, job_id: str) -> ImportJob:
        return self._job(self.request("GET", self.api_path(f"imports/{quote(job_id, safe='')}")).json())

    async def aget_import(self, job_id: str) -> ImportJob:
        response = await self.arequest("GET", self.api_path(f"imports/{quote(job_id, safe='')}"))
        return self._job(response.json())

    def _job(self, body: dict[str, Any]) -> ImportJob:
        """A ContactImport as an ImportJob.

        Mailtrap does not echo how many contacts a job holds: a finished job's ``submitted``
        is the sum of its counts (every contact it received is created, updated or over
        the limit, so ``rejected`` is 0); before that it is 0.
        """
        status = STATUSES.get(str(body.get("status")), ImportStatus.RUNNING)
        job = ImportJob(provider=self.provider, job_id=str(body["id"]), status=status, submitted=0)
        if status is ImportStatus.SUCCEEDED:
            created = int(body.get("created_contacts_count") or 0)
            updated = int(body.get("updated_contacts_count") or 0)
            over_limit = int(body.get("contacts_over_limit_count") or 0)
            job = job.model_copy(update={"created": created, "updated": updated, "rejected": 0,
                                         "over_limit": over_limit,
                                         "submitted": created + updated + over_limit})
        elif status is ImportStatus.FAILED:
            job = job.model_copy(update={"message": "Mailtrap reported the import job as failed."})
        return job

    def test_connection(self) -> tuple[bool, str]:
        try:
            fields = self.request("GET", self.api_path("fields")).json()
        except (ContactsProviderError, requests.RequestException) as error:
            return False, self.redact(str(error))
        where = f"account {self.account_id}" if self.account_id else "the token's account"
        return True, f"Connected to Mailtrap ({where}): {len(fields)} contact fields."


@dataclass(frozen=True)
class ContactsPayload:
    """The contacts of an import request as JSON objects, and what naming them after a 422 takes.

    :param objects: one ``{"email", "fields", "list_ids_included", "list_ids_excluded"}`` object a
        contact, each followed by a comma (the request sends their bytes as they are).
    :param positions: each contact's index in the batch.
    :param emails: each contact's email as given (read only when Mailtrap refuses contacts).
    """

    objects: pa.StringArray | SpooledJsonObjects
    positions: np.ndarray
    emails: pd.Series

    def __len__(self) -> int:
        return len(self.objects)

    def without(self, positions: Sequence[int]) -> ContactsPayload:
        """The payload without the contacts at these batch positions."""
        keep = ~np.isin(self.positions, np.asarray(positions, dtype=np.int64))
        return ContactsPayload(self.objects.filter(pa.array(keep)), self.positions[keep], self.emails[keep])


def build_contacts(frame: pd.DataFrame, included: list[int], excluded: list[int],
                   first_index: int = 0) -> tuple[ContactsPayload, list[RowError]]:
    """The import payload of a frame, built column by column; missing values are left out.

    Returns the payload and row errors for rows without an email (they cannot be sent);
    positions count from ``first_index``, the frame's first row's index in the batch.
    """
    missing_email = frame["email"].isna().to_numpy()
    sendable = frame.loc[~missing_email] if missing_email.any() else frame
    floats = [column for column, dtype in sendable.dtypes.items()
              if column != "email" and pd.api.types.is_float_dtype(dtype)]
    as_ints = {column: ints for column in floats if (ints := _whole_numbers_as_ints(sendable[column])) is not None}
    if as_ints:
        sendable = sendable.copy(deep=False)
        for column, ints in as_ints.items():
            sendable[column] = ints
    members: dict[str, Member] = {
        "email": "email",
        "fields": Nested({str(column): column for column in sendable.columns if column != "email"}),
    }
    if included:
        members["list_ids_included"] = Constant(included)
    if excluded:
        members["list_ids_excluded"] = Constant(excluded)
    objects = json_objects(sendable, members, _json_default, comma_after=True)
    payload = ContactsPayload(objects, np.flatnonzero(~missing_email) + first_index, sendable["email"])
    errors = [RowError(index=int(i) + first_index, reason="email is missing") for i in np.flatnonzero(missing_email)]
    return payload, errors


def _whole_numbers_as_ints(column: pd.Series) -> pd.Series | None:
    """A float column as nullable integers when it holds only whole numbers; else ``None``.

    pandas turns an integer column with gaps into floats; Mailtrap integer fields refuse
    ``3.0``, while float fields accept ``3``.
    """
    numbers = column.to_numpy(dtype=np.float64, na_value=np.nan)
    present = numbers[~np.isnan(numbers)]
    # np.floor keeps infinity, and infinity is not under 2**53: one pass for both.
    if not np.all((np.floor(present) == present) & (np.abs(present) < 2**53)):
        return None
    return column.astype("Int64")


def _list_ids(ids: Sequence[str | int] | None, argument: str) -> list[int]:
    """Mailtrap list ids are integers; digit strings (from templates) are accepted as such."""
    result = []
    for value in ids or ():
        if isinstance(value, bool) or not isinstance(value, int | str | np.integer):
            raise ConfigurationError(f"Mailtrap {argument} must be integers; got {value!r}.")
        if isinstance(value, str) and not value.strip().isdigit():
            raise ConfigurationError(f"Mailtrap {argument} must be integers; got {value!r}.")
        result.append(int(value))
    return result


def _email_key(email: str) -> str:
    return email.strip().lower()


def _reason(errors: dict[str, Any]) -> str:
    parts = [f"{key} {message}" for key in ROW_ERROR_KEYS for message in errors.get(key) or ()]
    parts += list(errors.get("base") or ())
    return "; ".join(parts)


def _json_default(value: Any) -> Any:
    """Numpy scalars and dates that a frame may still hold, as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"Mailtrap cannot import a {type(value).__name__} value: {value!r}")
