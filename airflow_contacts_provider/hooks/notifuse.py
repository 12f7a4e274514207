"""Notifuse: ``POST /api/contacts.import``, answered at once with one operation per contact.

Contract notes and sources: ``docs/contracts/notifuse.md``.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import requests

from airflow_contacts_provider.arrow_text import (
    arrow_texts,
    needs_trimming,
    string_array,
    text_buffers,
    text_bytes,
    text_hashes,
    text_sizes,
)
from airflow_contacts_provider.exceptions import (
    ConfigurationError,
    ContactsProviderError,
    MappingError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.hooks.base import ContactImportHook, Contacts, JsonBody, as_frame
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, RowError
from airflow_contacts_provider.json_rows import comma_joined, json_objects

IMPORT_PATH = "/api/contacts.import"
COUNT_PATH = "/api/contacts.count"

_STRING_FIELDS = {
    "external_id": 255, "timezone": 50, "language": 50, "first_name": 255, "last_name": 255,
    "full_name": 255, "phone": 50, "address_line_1": 255, "address_line_2": 255, "country": 100,
    "postcode": 20, "state": 100, "job_title": 255,
    **{f"custom_string_{i}": 255 for i in range(1, 6)},
}
"""``ContactInput`` string fields with their VARCHAR lengths: one overlong value fails a 500-contact INSERT."""

_FIELD_SPECS = (
    FieldSpec(name="email", type=FieldType.TEXT, required=True, max_length=255),
    *(FieldSpec(name=name, type=FieldType.TEXT, max_length=length) for name, length in _STRING_FIELDS.items()),
    *(FieldSpec(name=f"custom_number_{i}", type=FieldType.FLOAT) for i in range(1, 6)),
    *(FieldSpec(name=f"custom_datetime_{i}", type=FieldType.DATETIME) for i in range(1, 6)),
    *(FieldSpec(name=f"custom_json_{i}", type=FieldType.JSON) for i in range(1, 6)),
)
_FIELD_NAMES = frozenset(spec.name for spec in _FIELD_SPECS)
_DATETIME_FIELDS = frozenset(spec.name for spec in _FIELD_SPECS if spec.type is FieldType.DATETIME)

_AT_INDEX = re.compile(r"\bat index (\d+)\b")
_PARSE_HINT = (" (Notifuse says this of any contact it cannot parse: a missing or invalid email, a text field "
               "that is not a string, a custom_number that is not a number, a custom_datetime that is not "
               "RFC 3339, a custom_json that is not an object or array)")
_AUTH_ERRORS = ("failed to authenticate user:", "Insufficient permissions")
"""Notifuse answers workspace and permission problems with HTTP 500 and these words."""


class NotifuseHook(ContactImportHook):
    """Imports contacts into one Notifuse workspace.

    Connection: host = the Notifuse instance (self-hosted or per-customer domain),
    password = an API key of the workspace, extra ``workspace_id`` (required).

    Notifuse answers synchronously: :meth:`submit_import` returns a finished job, and
    :meth:`get_import` can only return jobs this hook instance submitted.
    """

    default_conn_name = "notifuse_default"
    conn_type = "notifuse"
    hook_name = "Notifuse"
    provider = "notifuse"
    default_host = "https://demo.notifuse.com"
    max_batch_size = 20_000
    """Notifuse sets no limit; see docs/contracts/notifuse.md for why 20,000. A reverse proxy's
    smaller body cap is found on the way (:meth:`_send_contacts`)."""
    default_chunk_size = 20_000
    """One request: a chunk is encoded whole (:meth:`prepare_contacts`); 25,000 and 30,000 measured
    no faster (with requests of 10,000) and held 14-20 MiB more."""
    default_concurrent_requests = 2
    """Requests at once: each is synchronous and mostly server time (docs/contracts/notifuse.md).
    Three are within the noise of two (alternating 1M runs: one set favoured two by 1 %, two
    others three by 3-4 %) and hold a chunk's JSON more in flight: single 5M runs peaked at up
    to 301 MiB against 292-293 MiB (benchmarks/throughput.py)."""
    mapped_blocks_from = 4 << 20
    """A chunk's JSON (about 7 MB) is held while its requests are in flight: from the heap, such
    blocks left a sync of 5M contacts 9-11 MiB higher at peak (benchmarks/throughput.py)."""
    kept_jobs = 100
    """Finished jobs :meth:`get_import` can return: the latest ones (a long sync submits thousands)."""

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()
        self._request_limit = self.max_batch_size
        """Contacts a request: lowered when a proxy in front of Notifuse refuses a body as too large."""

    # -- connection ------------------------------------------------------------------

    @property
    def workspace_id(self) -> str:
        return self.require_extra("workspace_id")

    def rate_limit_key(self) -> str:
        return f"/{self.extras.get('workspace_id', '')}"

    def get_field_specs(self) -> dict[str, FieldSpec]:
        return {spec.name: spec for spec in _FIELD_SPECS}

    def auth_failure(self, response: Any) -> str | None:
        """Also a refusal: the HTTP 500s Notifuse sends for an unknown workspace or missing permission."""
        refused = super().auth_failure(response)
        if refused is not None or response.status_code != 500:
            return refused
        try:
            body = response.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(error, str) and error.startswith(_AUTH_ERRORS):
            return self.error_message(response)
        return None

    # -- submitting ------------------------------------------------------------------

    def prepare_contacts(self, contacts: pd.DataFrame, email_hashes: np.ndarray | None = None) -> pd.DataFrame:
        """Encode a chunk's contacts at once (:func:`encode_contacts`); batches of it are sent as encoded."""
        return encode_contacts(contacts, email_hashes)

    def submit_import(self, contacts: Contacts, *, list_ids: Sequence[str | int] | None = None,
                      exclude_list_ids: Sequence[str | int] | None = None) -> ImportJob:
        """Send one batch and return the finished job.

        Repeated emails are not sent twice: Notifuse would keep the last and report
        nothing for the others, so the hook sends the last and rejects the earlier ones.

        :param contacts: flat records keyed by ``ContactInput`` field name.
        :param list_ids: Notifuse list ids every imported contact is subscribed to.
        :param exclude_list_ids: not supported by Notifuse; raises :class:`ConfigurationError`.
        """
        if exclude_list_ids:
            raise ConfigurationError(
                "Notifuse's contacts.import can subscribe contacts to lists but not exclude them; "
                "drop exclude_list_ids."
            )
        frame = as_frame(contacts)
        self.check_batch_size(len(frame))
        workspace = self.workspace_id
        job_id = f"notifuse-{uuid.uuid4().hex}"
        batch = prepare_batch(frame)
        members: dict[str, Any] = {"workspace_id": workspace}
        if list_ids:
            members["subscribe_to_lists"] = [str(list_id) for list_id in list_ids]
        job = batch.tally(self.provider, job_id, self._send_contacts(members, batch))
        self._jobs[job_id] = job
        if len(self._jobs) > self.kept_jobs:
            self._jobs.popitem(last=False)
        return job

    def _send_contacts(self, members: dict[str, Any], batch: PreparedBatch) -> Answer:
        """Send a batch's contacts, in one request unless the server refused one that large.

        Notifuse has no body limit, but a reverse proxy in front of it may (nginx's default is
        1 MiB). A 413 means nothing was stored: the request is sent again in halves, and later
        batches go in requests of that size. A contact refused alone is rejected, not the batch.
        """
        answer = Answer()
        pending = deque(_pieces(0, len(batch.contacts), self._request_limit))
        while pending:
            start, stop = pending.popleft()
            body = JsonBody(members, "contacts", batch.contacts[start:stop])
            response = self.request("POST", IMPORT_PATH, data=body, headers={"Content-Type": "application/json"},
                                    accept=(413,))
            if response.status_code != 413:
                created = _usual_answer(response.content, batch.keys[start:stop])
                if created is not None:
                    answer.add_usual(start, created)
                else:
                    answer.add(start, _operations(response))
            elif stop - start == 1:
                answer.refused.append(start)
            else:
                self._request_limit = min(self._request_limit, (stop - start) // 2)
                self.log.warning(
                    "Notifuse, or a proxy in front of it, refused a request of %d contacts (%d bytes) as too "
                    "large (HTTP 413); sending at most %d contacts a request from now on (batch_size=%d "
                    "avoids the refusals).", stop - start, len(body), self._request_limit, self._request_limit)
                pending.extendleft(reversed(_pieces(start, stop, self._request_limit)))
        return answer

    # -- job status ------------------------------------------------------------------

    def get_import(self, job_id: str) -> ImportJob:
        """A job this hook submitted lately: Notifuse imports finish in the request and have no job endpoint."""
        job = self._jobs.get(job_id)
        if job is None:
            raise ConfigurationError(
                f"Notifuse imports are synchronous and Notifuse keeps no import jobs; '{job_id}' is not one of "
                f"the last {self.kept_jobs} this hook submitted. Use the ImportJob that submit_import returned."
            )
        return job

    async def aget_import(self, job_id: str) -> ImportJob:
        return self.get_import(job_id)

    # -- connection test -------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Count the workspace's contacts: proves the URL, the API key and its access to the workspace.

        Retried once at most: Notifuse answers a wrong workspace with a 500 that retrying
        will not fix, and the Test button should answer in seconds.
        """
        try:
            workspace = self.workspace_id
            probe = type(self)(self.conn_id, timeout=self.timeout, max_retries=min(self.max_retries, 1),
                               max_rate_limit_wait=self.max_rate_limit_wait, backoff_base=self.backoff_base)
            body = probe.request("GET", COUNT_PATH, params={"workspace_id": workspace}).json()
        except ProviderRequestError as error:
            return False, f"{error} (is workspace_id right, and may the API key read its contacts?)"
        except ContactsProviderError as error:
            return False, str(error)
        except requests.RequestException as error:
            return False, f"Could not reach Notifuse at {self.base_url}: {type(error).__name__}"
        return True, f"Connected to Notifuse workspace '{workspace}' ({body.get('total_contacts')} contacts)."


class Operation(msgspec.Struct, gc=False):
    """One entry of Notifuse's ``operations``; a missing key reads as null, extra keys are ignored."""

    email: str | None = None
    action: str | None = None
    error: str | None = None


class _Answer(msgspec.Struct, gc=False):
    operations: list[Operation]


_ANSWER = msgspec.json.Decoder(_Answer)

TOO_LARGE = ("Notifuse, or a proxy in front of it, refused this contact as too large (HTTP 413 to a request "
             "of this contact alone); it was not stored")


@dataclass
class Answer:
    """What Notifuse answered to a batch's requests (one, unless a proxy's body cap split it).

    :param operations: every request's operations, in request order.
    :param emails: each operation's email, as answered, and
    :param actions: each operation's action: taken from the operations once, as each request is
        answered, for :meth:`PreparedBatch.locate` and :meth:`PreparedBatch.tally` to compare at once.
    :param request_starts: for each operation, the batch request index its request began at:
        Notifuse's "at index N" counts from there.
    :param refused: request indices of contacts refused as too large when sent alone.
    :param usual: requests answered in the usual form (:func:`_usual_answer`), not decoded: the
        request index each began at, and whether each of its contacts was created (else updated).
    """

    operations: list[Operation] = field(default_factory=list)
    emails: list[str | None] = field(default_factory=list)
    actions: list[str | None] = field(default_factory=list)
    request_starts: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    usual: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def add(self, start: int, operations: list[Operation]) -> None:
        self.operations += operations
        self.emails += [operation.email for operation in operations]
        self.actions += [operation.action for operation in operations]
        self.request_starts += [start] * len(operations)

    def add_usual(self, start: int, created: np.ndarray) -> None:
        self.usual.append((start, created))

    def decode_usual(self, keys: pa.StringArray) -> None:
        """Turn the usual answers into operations, for an answer that has others too (a proxy's 413 split it)."""
        for start, created in self.usual:
            emails = keys[start:start + len(created)].to_pylist()
            self.add(start, [Operation(email=email, action="create" if was_created else "update")
                             for email, was_created in zip(emails, created.tolist(), strict=True)])
        self.usual = []


@dataclass
class PreparedBatch:
    """A batch ready to send, and how to map Notifuse's answer back to batch positions.

    :param contacts: the ``contacts`` array's objects as JSON, each followed by a comma, in request order.
    :param positions: the batch position of each sent contact, by request index.
    :param emails: the batch's email column as given.
    :param keys: the normalised email of each sent contact, by request index (null where it has none).
    :param duplicates: rejections of earlier rows whose email comes again later in the batch.
    """

    contacts: pa.StringArray
    positions: np.ndarray
    emails: pd.Series
    keys: pa.StringArray
    duplicates: list[RowError]

    def locate(self, answer: Answer) -> np.ndarray:
        """The batch position each operation reports on, -1 where none.

        Creates and updates are found by their normalised email, which is unique among the
        sent contacts, all at once. Errors name their index in their request ("... at index N:
        ..."), the only handle on a contact that failed to parse (its email comes back empty).
        """
        answered = pa.array(answer.emails, pa.string())
        # The usual answer: each contact, in request order, under the key it was sent with.
        keys = answered if answered.null_count == 0 and answered.equals(self.keys) else _email_keys(answered)
        if keys.null_count == 0 and keys.equals(self.keys):
            indices = np.arange(len(keys))
        else:
            found = pc.index_in(keys, value_set=self.keys, skip_nulls=True)
            indices = pc.fill_null(found, -1).to_numpy(zero_copy_only=False, writable=True)
        failed = ([i for i, action in enumerate(answer.actions) if action == "error"]
                  if "error" in answer.actions else [])  # a search in C first: the usual answer has none
        for i in failed:
            match = _AT_INDEX.search(answer.operations[i].error or "")
            index = answer.request_starts[i] + int(match.group(1)) if match else len(self.positions)
            if index < len(self.positions):
                indices[i] = index
        located = indices >= 0
        positions = np.full(len(indices), -1)
        positions[located] = self.positions[indices[located]]
        return positions

    def tally(self, provider: str, job_id: str, answer: Answer) -> ImportJob:
        """Turn the answer into counts and row errors, accounting for every row of the batch.

        The first operation on a position decides its outcome. Only rejections take per-row Python.
        """
        answered_usually = sum(len(was_created) for _, was_created in answer.usual)
        if answer.usual and answered_usually == len(self.positions) and not answer.operations and not answer.refused:
            # Every request answered in the usual form: each contact sent was created or updated.
            created = sum(int(np.count_nonzero(was_created)) for _, was_created in answer.usual)
            return ImportJob(
                provider=provider, job_id=job_id, status=ImportStatus.SUCCEEDED, submitted=len(self.emails),
                created=created, updated=answered_usually - created, rejected=len(self.duplicates),
                row_errors=list(self.duplicates),
            )
        answer.decode_usual(self.keys)
        positions = self.locate(answer)
        if np.array_equal(positions, self.positions):  # the usual answer: an operation a contact, in order
            deciding, actions = answer.operations, answer.actions
        else:
            positions, first = np.unique(positions, return_index=True)
            deciding = [answer.operations[i] for i in first[positions >= 0].tolist()]
            actions = [operation.action for operation in deciding]
        answered = positions >= 0
        created, updated = actions.count("create"), actions.count("update")
        errors = list(self.duplicates)
        if created + updated < len(actions):
            errors += [self._rejection(operation, position)
                       for operation, position in zip(deciding, positions[answered].tolist(), strict=True)
                       if operation.action not in ("create", "update")]
        refused = self.positions[answer.refused]
        errors += [RowError(email=_text(self.emails.iat[position]), index=position, reason=TOO_LARGE)
                   for position in refused.tolist()]
        has_outcome = np.zeros(len(self.emails), dtype=bool)
        has_outcome[positions[answered]] = True
        has_outcome[refused] = True
        unanswered = self.positions[~has_outcome[self.positions]].tolist()
        errors += [RowError(email=_text(self.emails.iat[position]), index=position,
                            reason="Notifuse returned no result for this contact; it may or may not be stored")
                   for position in unanswered]
        errors.sort(key=lambda error: error.index if error.index is not None else -1)
        return ImportJob(
            provider=provider, job_id=job_id, status=ImportStatus.SUCCEEDED, submitted=len(self.emails),
            created=created, updated=updated, rejected=len(errors), row_errors=errors,
            message=f"Notifuse returned no result for {len(unanswered)} contacts." if unanswered else None,
        )

    def _rejection(self, operation: Operation, position: int) -> RowError:
        reason = operation.error or f"Notifuse answered {str(operation.action)!r}"
        if not operation.email:
            reason += _PARSE_HINT
        return RowError(email=operation.email or _text(self.emails.iat[position]), index=position, reason=reason)


_OBJECT = "__notifuse_contact__"
_KEY = "__notifuse_key__"
_KEY_HASH = "__notifuse_key_hash__"
"""Columns of an encoded frame (:func:`encode_contacts`): each contact's JSON object, its Notifuse key
and the key's hash (:func:`~airflow_contacts_provider.arrow_text.text_hashes`)."""


def encode_contacts(frame: pd.DataFrame, email_hashes: np.ndarray | None = None) -> pd.DataFrame:
    """``email`` as given, each contact's Notifuse key and its hash, and its ``contacts`` object as
    JSON (comma after).

    Built column by column, missing values left out. The operator encodes a whole chunk at once
    (:meth:`NotifuseHook.prepare_contacts`): a few Arrow calls a chunk rather than a batch.

    :param email_hashes: the emails' hashes, when the caller has them (the operator's duplicate
        check made them): they are the keys' hashes when the emails are their own keys, the
        usual case, and hashing a chunk's keys again would take a millisecond.
    """
    unknown = [str(column) for column in frame.columns if column not in _FIELD_NAMES]
    if unknown:
        raise MappingError(f"Notifuse contacts have no field {', '.join(unknown)}.")
    if len(frame) and "email" not in frame.columns:
        raise MappingError("Notifuse needs an 'email' column.")
    emails = frame["email"] if "email" in frame.columns else pd.Series([], dtype=object)
    texts = arrow_texts(emails.astype("string")).cast(pa.string())  # as pandas reads them: a number becomes its text
    keys = _email_keys(texts)
    key_hashes = email_hashes if email_hashes is not None and keys is texts else text_hashes(keys)
    contacts = frame.copy(deep=False)
    for column in _DATETIME_FIELDS.intersection(contacts.columns):
        if pd.api.types.infer_dtype(contacts[column], skipna=True) != "string":
            contacts[column] = contacts[column].map(_rfc3339)
    objects = json_objects(contacts, {str(column): column for column in contacts.columns}, comma_after=True)
    return pd.DataFrame({"email": emails, _KEY: pd.arrays.ArrowStringArray(keys), _KEY_HASH: key_hashes,
                         _OBJECT: pd.arrays.ArrowStringArray(objects)}, index=frame.index)


def prepare_batch(frame: pd.DataFrame) -> PreparedBatch:
    """The batch's ``contacts`` array, leaving out repeated emails; encoded first unless it was."""
    encoded = frame if _OBJECT in frame.columns else encode_contacts(frame)
    emails = encoded["email"].reset_index(drop=True)
    keys = string_array(encoded[_KEY])
    last = _last_rows(keys, encoded[_KEY_HASH].to_numpy())
    repeated = (last >= 0) & (last != np.arange(len(keys)))
    positions = np.flatnonzero(~repeated)
    duplicates = [RowError(email=_text(emails.iat[p]), index=p,
                           reason=f"duplicate email in batch: row {last[p]} has the same email "
                                  "and was sent instead")
                  for p in np.flatnonzero(repeated).tolist()]
    contacts = string_array(encoded[_OBJECT])
    if duplicates:
        contacts, keys = contacts.take(positions), keys.take(positions)
    return PreparedBatch(contacts=contacts, positions=positions, emails=emails, keys=keys, duplicates=duplicates)


def _pieces(start: int, stop: int, limit: int) -> list[tuple[int, int]]:
    """``start:stop`` cut into as few slices of at most ``limit`` as can be, of near-equal size."""
    count = -(-(stop - start) // limit)
    bounds = [start + (stop - start) * i // count for i in range(count + 1)] if count else []
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _email_keys(emails: pa.StringArray) -> pa.StringArray:
    """Emails as Notifuse tells them apart: trimmed and lower-cased; null where missing or blank.

    Validated addresses are so already: a look at their bytes finds that out, and they are
    their own keys, the very array given (a quarter of the cost of trimming and lower-casing them).
    """
    if emails.null_count == 0 and _are_keys(emails):
        return emails
    keys = pc.utf8_lower(pc.utf8_trim_whitespace(emails))
    return pc.if_else(pc.equal(keys, ""), pa.scalar(None, pa.string()), keys)


def _are_keys(emails: pa.StringArray) -> bool:
    """Whether every email is non-blank ASCII without an upper-case letter or edge whitespace."""
    data = text_bytes(emails)
    return not ((data >= 0x80).any() or ((data - ord("A")) < 26).any()  # the bytes wrap round below "A"
                or (text_sizes(emails) == 0).any() or needs_trimming(emails))


def _last_rows(keys: pa.StringArray, key_hashes: np.ndarray) -> np.ndarray:
    """For each row, the last row with the same key (itself if none later); -1 where the key is null.

    Every key once, the usual batch, is told by their 64-bit hashes being distinct (equal keys
    hash alike), a fifth of the cost of encoding them as a dictionary.
    """
    if keys.null_count == 0 and pd.Index(key_hashes).is_unique:
        return np.arange(len(keys))
    encoded = pc.dictionary_encode(keys)
    codes = pc.fill_null(encoded.indices, -1).to_numpy()
    keyed = np.flatnonzero(codes >= 0)
    last_of_code = np.full(len(encoded.dictionary), -1)
    np.maximum.at(last_of_code, codes[keyed], keyed)
    last = np.full(len(codes), -1)
    last[keyed] = last_of_code[codes[keyed]]
    return last


def _rfc3339(value: Any) -> Any:
    """Datetimes as RFC 3339 (naive ones read as UTC); anything else, e.g. a formatted string, as is."""
    if isinstance(value, datetime) and not pd.isna(value):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    return value


_USUAL_OPENING, _USUAL_CLOSING = b'{"operations":[', b"]}"
_USUAL_BEFORE_EMAIL, _USUAL_AFTER_EMAIL, _USUAL_END = '{"email":"', '","action":"', '"},'
_UPDATE = np.frombuffer(b"update", np.uint8)


def _usual_answer(body: bytes, keys: pa.StringArray) -> np.ndarray | None:
    """Whether each contact was created (else updated), when Notifuse answered in the usual form; else ``None``.

    A request that Notifuse stored whole is answered with an operation a contact, in request
    order (the order PostgreSQL's ``RETURNING`` gives in practice, though it promises none), each
    naming the contact's key as sent, as Notifuse's Go encoder writes them:
    ``{"operations":[{"email":"<key>","action":"create"},...]}`` ("update" for a contact it had).
    Compared byte for byte with that text, built by Arrow, such an answer is read without a
    Python object an operation: 0.1 s of CPU a million contacts, mostly Arrow's, where decoding and
    matching the operations take 0.23 s holding the GIL (1M contacts sent: 2.3 -> 2.1 s). Any other
    answer (an error, another spelling or order, a key JSON escapes) gives ``None``, and is decoded.

    :param keys: the request's contacts' keys (:func:`_email_keys`), in request order.
    """
    if len(keys) == 0 or keys.null_count:
        return None
    key_bytes = text_bytes(keys)
    if ((key_bytes < 0x20) | (key_bytes == ord('"')) | (key_bytes == ord("\\"))).any():
        return None
    # Written with "create" for every contact; where an action differs, it must say "update".
    ending = _USUAL_AFTER_EMAIL + "create" + _USUAL_END
    operations = pc.binary_join_element_wise(_USUAL_BEFORE_EMAIL, keys, ending, "")
    expected = b"".join((_USUAL_OPENING, comma_joined(operations), _USUAL_CLOSING))
    created = np.ones(len(keys), dtype=bool)
    if body == expected:  # every contact created: one memcmp
        return created
    if len(body) != len(expected):
        return None
    answered = np.frombuffer(body, np.uint8)
    differing = np.flatnonzero(answered != np.frombuffer(expected, np.uint8))
    offsets, _ = text_buffers(operations)
    action_starts = len(_USUAL_OPENING) + offsets[1:] - offsets[0] - len("create" + _USUAL_END)
    operation = np.searchsorted(action_starts, differing, side="right") - 1
    if operation[0] < 0 or (differing - action_starts[operation] >= len(_UPDATE)).any():
        return None  # a difference outside the actions
    updated = operation[np.flatnonzero(np.diff(operation, prepend=-1))]  # in order: each once
    if not (answered[action_starts[updated, np.newaxis] + np.arange(len(_UPDATE))] == _UPDATE).all():
        return None
    created[updated] = False
    return created


def _operations(response: requests.Response) -> list[Operation]:
    """The answer's operations, decoded by msgspec; an odd answer the slow way, which raises as before.

    In an odd answer, an entry that is not an object is skipped, an email that is not a string
    counts as none, and any other value that is not a string is read as its text.
    """
    try:
        return _ANSWER.decode(response.content).operations
    except msgspec.DecodeError:  # not JSON, no operations array, a number where a string belongs...
        body = response.json()
    operations = body.get("operations") if isinstance(body, Mapping) else None
    if not isinstance(operations, list):
        raise ProviderRequestError(f"Notifuse answered without an operations array: {str(body)[:300]}")
    return [Operation(email=_text(operation.get("email")), action=_as_text(operation.get("action")),
                      error=_as_text(operation.get("error")))
            for operation in operations if isinstance(operation, Mapping)]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)
