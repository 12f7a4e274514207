"""Turn source chunks into payload frames, and give a reason for every row that cannot be sent.

Each row of a chunk ends in exactly one place: the contacts frame (ready for a hook), or the
rejects frame as ``invalid`` (with a reason naming every failing field) or ``duplicate``.
Work is vectorised per column; Python runs per value only on rare paths (mixed-type object
columns, JSON values, addresses the fast pattern does not vouch for, and rejected rows).

Addresses are trimmed, lower-cased and syntax-checked without DNS. Plain ASCII addresses are
accepted by a strict pattern whose every match email-validator also accepts (a test checks
this); everything else is judged by email-validator once per distinct value. International
domains are sent in their ASCII (Punycode) form: it is the same mailbox, every provider and
mail server accepts it, and one spelling per address makes duplicates of the Unicode and
Punycode spellings collapse into one contact. Unicode local parts have no ASCII form and are
sent as they are.

Duplicates are judged by normalised address over the whole sync (the validator lives for the
sync): the first valid occurrence in source order is sent, later ones are rejected as
``duplicate of row N``. To keep the newest version of a contact instead, order the source
query by its timestamp, newest first.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email
from pandas.api import types as ptypes

from airflow_contacts_provider.arrow_text import arrow_texts, needs_trimming, text_bytes, text_hashes, text_sizes
from airflow_contacts_provider.exceptions import MappingError
from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.mapping import EMAIL_FIELD, FieldMapping, ResolvedField, ResolvedMapping
from airflow_contacts_provider.rejects import REJECT_COLUMNS, count_reasons
from airflow_contacts_provider.spill import SpillDirectory

ISO_DATE = "%Y-%m-%d"
ISO_DATETIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class DateFormats:
    """How dates and date-times are written into a provider's payload (``strftime`` patterns, UTC).

    :param date: for :attr:`FieldType.DATE` fields.
    :param datetime: for :attr:`FieldType.DATETIME` fields.
    """

    date: str = ISO_DATE
    datetime: str = ISO_DATETIME


PROVIDER_DATE_FORMATS: dict[str, DateFormats] = {
    # Merge-tag dates are "yyyy-mm-dd" strings.
    "mailtrap": DateFormats(ISO_DATE, ISO_DATETIME),
    # custom_datetime_N is RFC 3339; Notifuse has no date-only fields, so dates are midnight UTC.
    "notifuse": DateFormats("%Y-%m-%dT00:00:00Z", ISO_DATETIME),
    # SendGrid "Date" fields take MM/DD/YYYY in the import CSV.
    "sendgrid": DateFormats("%m/%d/%Y", "%m/%d/%Y"),
    # customFields values are free JSON: ISO 8601 strings.
    "migma": DateFormats(ISO_DATE, ISO_DATETIME),
}
"""Formats per provider; any other provider name gets ISO 8601."""

EMAIL_MAX_LENGTH = 254

_EMAIL_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_FAST = (
    rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*"  # dot-atom local part
    r"@(?:[a-z0-9]+(?:-[a-z0-9]+)*\.)+"  # labels without "--" (so no Punycode): IDNA rules cannot bite
    r"[a-z]{2,63}"  # a letters-only top-level domain of two or more
)
"""Lower-case ASCII addresses email-validator accepts as they are; the rest goes to email-validator."""
_EMAIL_LONG_LABEL = r"@(?:[a-z0-9-]*\.)*[a-z0-9-]{64}"
_EMAIL_LONG_LABEL_MIN_LENGTH = 66
"""The shortest address with a 64-character label: below it the long-label pass is skipped."""
_EMAIL_SPECIAL_USE = r"[@.](?:arpa|invalid|local|localhost|onion|test)$"
"""Special-use domains email-validator refuses; left to it so the reason is its own."""
_EMAIL_FAST_WHOLE = f"^(?:{_EMAIL_FAST})$"

_TRUE_WORDS = ("true", "1", "yes")
_FALSE_WORDS = ("false", "0", "no")
_SHOWN_VALUE_LENGTH = 40
_INT64_LIMIT = 2.0**63
_EXACT_FLOAT_LIMIT = 2.0**53


class _Kind(Enum):
    """What a group of present values is, once an object column has been split by value type."""

    TEXT = "text"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    CONTAINER = "container"
    OTHER = "other"


_INFERRED = {
    "string": _Kind.TEXT,
    "boolean": _Kind.BOOLEAN,
    "integer": _Kind.INTEGER,
    "floating": _Kind.FLOAT,
    "mixed-integer-float": _Kind.FLOAT,
    "decimal": _Kind.DECIMAL,
    "date": _Kind.DATE,
    "datetime": _Kind.DATETIME,
    "datetime64": _Kind.DATETIME,
}


@dataclass
class ValidationStats:
    """Counts for logs: never addresses or values.

    ``problems`` counts reason categories (``"email: invalid syntax"``); a row failing on two
    fields counts once in ``invalid`` and once per field in ``problems``.
    """

    rows: int = 0
    contacts: int = 0
    invalid: int = 0
    duplicates: int = 0
    problems: Counter[str] = field(default_factory=Counter)

    def add(self, other: ValidationStats) -> None:
        self.rows += other.rows
        self.contacts += other.contacts
        self.invalid += other.invalid
        self.duplicates += other.duplicates
        self.problems.update(other.problems)

    def __str__(self) -> str:
        text = (f"{self.rows} rows: {self.contacts} contacts, {self.invalid} invalid, "
                f"{self.duplicates} duplicates")
        if self.problems:
            text += "; " + ", ".join(f"{reason} x{count}" for reason, count in self.problems.most_common(10))
        return text


@dataclass(frozen=True)
class ValidatedChunk:
    """One chunk, split.

    :param contacts: columns are destination field names (``email`` first), the index holds the
        source row numbers. Text columns (``email``, and dates formatted for the provider) are
        pandas string dtype and float columns float64 (missing values NA/NaN); complete integer
        and boolean columns keep their dtype; other columns are object, holding Python values
        (missing ones ``None``).
    :param rejects: ``row_number, email`` (as given) ``, reason, kind`` (``invalid``/``duplicate``).
    :param stats: this chunk's counts.
    :param email_hashes: the contacts' :func:`email_hashes`, row for row, when the duplicate check
        made them (``None`` with ``dedupe=False``): a batch's fingerprint reuses them.
    """

    contacts: pd.DataFrame
    rejects: pd.DataFrame
    stats: ValidationStats
    email_hashes: np.ndarray | None = None

    @property
    def duplicate_count(self) -> int:
        return self.stats.duplicates

    def invalid_reasons(self) -> Counter[str]:
        """Invalid rows by reason category, each row once (its problems' categories joined by "; ")."""
        if self.stats.invalid == 0:
            return Counter()
        invalid = self.rejects["reason"][self.rejects["kind"] == "invalid"]
        return count_reasons(invalid, per_row=True)


def email_hashes(emails: pd.Series) -> np.ndarray:
    """64-bit hashes of addresses (a text column): what the duplicate check and batch fingerprints compare."""
    return text_hashes(arrow_texts(emails))


class SeenEmails:
    """The addresses a sync has already sent, compactly: sorted 64-bit hashes and their first rows.

    Two numpy arrays (8 bytes a hash, 4 or 8 a row number) instead of a set of strings. Two
    different addresses share a hash with odds of about n²/2⁶⁵ (under one in a million for
    5 million addresses).

    The pairs are kept in runs of at most :attr:`RUN_SIZE`. The run being filled is a list of
    sorted pieces, one a chunk; when it would overflow, its pieces are merged into one sorted
    run and written to a temporary file (3 MB), mapped back only while a chunk is looked up in
    it, so memory holds one run whatever the number of addresses. A bitmap of the hashes'
    leading :attr:`FILTER_BITS` bits (2 MiB) says which addresses may have been seen: only
    those are looked up, about one in four at five million addresses, and a run's row numbers
    are read only when one is found there. The files go when this set does.
    """

    RUN_SIZE = 1 << 18
    MERGE_BLOCK = 1 << 15
    FILTER_BITS = 24

    def __init__(self) -> None:
        self._filling: list[tuple[np.ndarray, np.ndarray]] = []  # the run being filled, as sorted pieces
        self._filling_size = 0
        self._full: list[tuple[Path, Path]] = []  # full runs' hashes and rows, on disk
        self._spill = SpillDirectory(prefix="contacts-seen-emails-")
        self._filter = np.zeros(1 << max(self.FILTER_BITS - 3, 0), dtype=np.uint8)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes of the run held in memory (the full runs are on disk; the bitmap is fixed)."""
        return sum(int(hashes.nbytes + rows.nbytes) for hashes, rows in self._filling)

    @property
    def rows(self) -> np.ndarray:
        """Every remembered first row (for inspection; run by run, each sorted by hash)."""
        rows = [np.load(rows_path) for _, rows_path in self._full] + [rows for _, rows in self._filling]
        return np.concatenate(rows) if rows else np.empty(0, np.uint32)

    def _runs(self) -> Iterator[tuple[np.ndarray, Callable[[], np.ndarray]]]:
        """Each run's hashes, and how to get its rows: a full run's are mapped from disk only when asked."""
        for hashes_path, rows_path in self._full:
            yield np.load(hashes_path, mmap_mode="r"), partial(np.load, rows_path, mmap_mode="r")
        for hashes, rows in self._filling:
            yield hashes, partial(np.asarray, rows)

    def _filter_slots(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each hash's byte in the bitmap and its bit in that byte."""
        slots = hashes >> np.uint64(64 - self.FILTER_BITS) if self.FILTER_BITS else np.zeros_like(hashes)
        return slots >> np.uint64(3), np.left_shift(1, slots & np.uint64(7)).astype(np.uint8)

    def first_rows(self, hashes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each address, the row number where the sync first saw it; remember the new ones.

        :param hashes: the normalised addresses' :func:`email_hashes`, in source order.
        :param rows: their row numbers.
        """
        if len(hashes) == 0:
            return rows.astype(np.int64)
        # Sorted by an unstable sort (a quarter of np.unique's time); each distinct hash's first
        # position is the least of its group's.
        order = np.argsort(hashes)
        sorted_hashes = hashes[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_hashes[1:] != sorted_hashes[:-1])))
        unique = sorted_hashes[starts]
        repeats = len(starts) < len(hashes)
        first = rows[np.minimum.reduceat(order, starts) if repeats else order].astype(np.int64)
        known = np.zeros(len(unique), dtype=bool)
        byte, bit = self._filter_slots(unique)
        maybe = np.flatnonzero(self._filter[byte] & bit)
        if maybe.size:
            wanted = unique[maybe]
            for run_hashes, read_rows in self._runs():
                slots = np.minimum(np.searchsorted(run_hashes, wanted), len(run_hashes) - 1)
                found = run_hashes[slots] == wanted
                if found.any():
                    first[maybe[found]] = read_rows()[slots[found]]
                    known[maybe[found]] = True
        new = ~known
        if new.any():
            self._remember(unique[new], first[new])
        result = np.empty(len(hashes), dtype=np.int64)
        result[order] = np.repeat(first, np.diff(np.append(starts, len(hashes)))) if repeats else first
        return result

    def _remember(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        """Add sorted, unseen hashes with their rows to the run being filled; write it out when full."""
        self._count += len(hashes)
        byte, bit = self._filter_slots(hashes)
        np.bitwise_or.at(self._filter, byte, bit)
        rows = rows.astype(np.uint32 if rows.min() >= 0 and rows.max() < 2**32 else np.int64)
        if self._filling and self._filling_size + len(hashes) > self.RUN_SIZE:
            self._write_out()
        self._filling.append((hashes, rows))
        self._filling_size += len(hashes)

    def _write_out(self) -> None:
        """Merge the run's sorted pieces into one sorted run, on disk, a range of hash values at a time.

        The hashes are spread evenly over their 64 bits, so ranges of equal width hold about
        :attr:`MERGE_BLOCK` each: what the merge holds at once besides the pieces, rather than
        two more copies of the run.
        """
        pieces, total = self._filling, self._filling_size
        self._filling, self._filling_size = [], 0
        row_type = np.result_type(*(piece_rows.dtype for _, piece_rows in pieces))
        width = (1 << 64) // -(-total // self.MERGE_BLOCK)
        bounds = np.array(range(width, (1 << 64) - width + 1, width), dtype=np.uint64)
        edges = [np.concatenate(([0], np.searchsorted(piece_hashes, bounds), [len(piece_hashes)]))
                 for piece_hashes, _ in pieces]
        hashes_path, rows_path = self._spill.new_path(), self._spill.new_path()
        with hashes_path.open("wb") as hashes_file, rows_path.open("wb") as rows_file:
            _write_npy_header(hashes_file, np.dtype(np.uint64), total)
            _write_npy_header(rows_file, row_type, total)
            for block in range(len(bounds) + 1):
                parts = [(piece_hashes[piece_edges[block]:piece_edges[block + 1]],
                          piece_rows[piece_edges[block]:piece_edges[block + 1]])
                         for (piece_hashes, piece_rows), piece_edges in zip(pieces, edges, strict=True)]
                hashes = np.concatenate([part_hashes for part_hashes, _ in parts])
                rows = np.concatenate([part_rows for _, part_rows in parts])
                order = np.argsort(hashes, kind="stable")  # merges the sorted parts
                hashes[order].tofile(hashes_file)
                rows[order].astype(row_type, copy=False).tofile(rows_file)
        self._full.append((hashes_path, rows_path))


def _write_npy_header(file: BinaryIO, dtype: np.dtype, length: int) -> None:
    """The ``.npy`` header of a one-dimensional array, for its values written after it piece by piece."""
    np.lib.format.write_array_header_1_0(
        file, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)})


class ContactValidator:
    """Validate and normalise the chunks of one sync into payload frames for one provider.

    Keep one instance for the whole sync: it resolves the mapping on the first chunk and
    remembers addresses across chunks to reject duplicates.

    :param field_specs: the destination's fields by name (the hook's ``get_field_specs()``).
    :param mapping: a :class:`FieldMapping`, or ``{source column: destination field}``, or ``None``
        for same-named columns.
    :param provider: ``mailtrap``, ``notifuse``, ``sendgrid`` or ``migma``; picks the date formats.
    :param email_column: the address column, when ``mapping`` is not a :class:`FieldMapping`.
    :param date_format: overrides the provider's ``strftime`` pattern for date fields.
    :param datetime_format: overrides the provider's pattern for date-time fields (values in UTC).
    :param dedupe: reject repeated addresses; turn off only when the source is known to be unique.
    """

    def __init__(
        self,
        field_specs: Mapping[str, FieldSpec],
        mapping: FieldMapping | Mapping[str, str] | None,
        provider: str,
        *,
        email_column: str = EMAIL_FIELD,
        date_format: str | None = None,
        datetime_format: str | None = None,
        dedupe: bool = True,
    ) -> None:
        self.field_specs = dict(field_specs)
        self.mapping = mapping if isinstance(mapping, FieldMapping) else FieldMapping(mapping, email_column)
        self.provider = provider
        defaults = PROVIDER_DATE_FORMATS.get(provider.lower(), DateFormats())
        self.formats = DateFormats(date_format or defaults.date, datetime_format or defaults.datetime)
        self.dedupe = dedupe
        self.stats = ValidationStats()
        self.seen = SeenEmails()
        self.resolved: ResolvedMapping | None = None

    def resolve(self, chunk: pd.DataFrame) -> ResolvedMapping:
        """Resolve the mapping against the first chunk (later calls check the columns are still there).

        :param chunk: a source chunk.
        :raises MappingError: see :meth:`FieldMapping.resolve`.
        """
        if self.resolved is None:
            self.resolved = self.mapping.resolve(self.field_specs, list(chunk.columns), first_chunk=chunk)
            return self.resolved
        needed = [self.resolved.email_column, *(f.source for f in self.resolved.fields)]
        missing = [column for column in needed if column not in chunk.columns]
        if missing:
            raise MappingError(f"Source columns {missing} were in the first chunk but are missing from a later one.")
        return self.resolved

    def validate(self, chunk: pd.DataFrame) -> ValidatedChunk:
        """Split a chunk into contacts to send and rejected rows, each with its reason.

        :param chunk: source rows; its index holds their row numbers in the source (integers).
        :raises MappingError: for mapping mistakes (first chunk) or columns that disappear later.
        """
        if len(chunk) == 0 and len(chunk.columns) == 0:
            return self._empty_result()
        resolved = self.resolve(chunk)
        row_numbers = _row_numbers(chunk)
        frame = chunk.reset_index(drop=True)

        emails, problems = _normalise_emails(frame[resolved.email_column])
        columns: dict[str, pd.Series] = {EMAIL_FIELD: emails}
        all_problems = [problems]
        for resolved_field in resolved.fields:
            values, problems = _convert_column(frame[resolved_field.source], resolved_field, self.formats)
            columns[resolved_field.name] = values
            all_problems.append(problems)

        reasons = _join_reasons(all_problems)
        valid = np.ones(len(frame), dtype=bool)
        valid[reasons.index.to_numpy(dtype=np.int64)] = False
        valid_positions = np.flatnonzero(valid)
        duplicate_positions = np.empty(0, dtype=np.int64)
        first_rows = np.empty(0, dtype=np.int64)
        contact_positions = valid_positions
        contact_hashes = None
        if self.dedupe:
            hashes = email_hashes(emails)[valid_positions]
            firsts = self.seen.first_rows(hashes, row_numbers[valid_positions])
            repeated = firsts != row_numbers[valid_positions]
            duplicate_positions, first_rows = valid_positions[repeated], firsts[repeated]
            contact_positions, contact_hashes = valid_positions[~repeated], hashes[~repeated]

        index = pd.Index(row_numbers[contact_positions], name=chunk.index.name)
        contacts = pd.DataFrame(
            {name: _take(values, contact_positions, index) for name, values in columns.items()}, index=index
        )
        rejects = _rejects_frame(frame[resolved.email_column], row_numbers, reasons, duplicate_positions,
                                 first_rows)
        stats = ValidationStats(len(frame), len(contacts), len(reasons), len(duplicate_positions),
                                count_reasons(reasons))
        self.stats.add(stats)
        return ValidatedChunk(contacts, rejects, stats, contact_hashes)

    def _empty_result(self) -> ValidatedChunk:
        names = self.resolved.destination_names if self.resolved else [EMAIL_FIELD]
        contacts = pd.DataFrame({name: pd.Series([], dtype=object) for name in names},
                                index=pd.Index([], dtype=np.int64))
        return ValidatedChunk(contacts, empty_rejects(), ValidationStats())


def empty_rejects() -> pd.DataFrame:
    """A rejects frame with no rows and the right column types."""
    return pd.DataFrame({name: np.empty(0, np.int64 if name == "row_number" else object) for name in REJECT_COLUMNS})


def _row_numbers(chunk: pd.DataFrame) -> np.ndarray:
    index = chunk.index
    if len(index) == 0:
        return np.empty(0, dtype=np.int64)
    if not ptypes.is_integer_dtype(index.dtype):
        raise TypeError(f"A chunk's index must hold the source row numbers (integers), not {index.dtype}.")
    if not index.is_unique:
        raise ValueError("A chunk's index must hold each source row number once.")
    return index.to_numpy(dtype=np.int64)


def _take(values: pd.Series, positions: np.ndarray, index: pd.Index) -> pd.Series:
    """The values at ``positions``, keeping their dtype (Arrow-backed text stays so), on ``index``."""
    if len(positions) == len(values):
        return values.set_axis(index)
    return values.take(positions).set_axis(index)


def _join_reasons(problems: list[pd.Series]) -> pd.Series:
    """One reason per failing row: its fields' problems joined by "; ", email first."""
    found = [p for p in problems if len(p)]
    if not found:
        return pd.Series([], dtype=object, index=pd.Index([], dtype=np.int64))
    combined = pd.concat(found)
    if combined.index.is_unique:
        return combined.sort_index()
    return combined.groupby(level=0, sort=True).agg("; ".join)


def _rejects_frame(raw_emails: pd.Series, row_numbers: np.ndarray, reasons: pd.Series,
                   duplicate_positions: np.ndarray, first_rows: np.ndarray) -> pd.DataFrame:
    invalid_positions = reasons.index.to_numpy(dtype=np.int64)
    if len(invalid_positions) == 0 and len(duplicate_positions) == 0:
        return empty_rejects()
    positions = np.concatenate([invalid_positions, duplicate_positions])
    reason_texts = np.concatenate([
        reasons.to_numpy(dtype=object),
        np.array([f"duplicate of row {row}" for row in first_rows], dtype=object),
    ])
    kinds = np.array(["invalid"] * len(invalid_positions) + ["duplicate"] * len(duplicate_positions),
                     dtype=object)
    given = [_as_given(value) for value in raw_emails.to_numpy(dtype=object)[positions]]
    frame = pd.DataFrame({
        "row_number": row_numbers[positions],
        "email": pd.Series(given, dtype=object),
        "reason": pd.Series(reason_texts, dtype=object),
        "kind": pd.Series(kinds, dtype=object),
    })
    return frame.sort_values("row_number", kind="stable", ignore_index=True)


def _as_given(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and _is_null_scalar(value)):
        return None
    return value if isinstance(value, str) else str(value)


def _is_null_scalar(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError, ArithmeticError):
        return False


def _missing(values: pd.Series) -> np.ndarray:
    """Where values are null (None, NaN, NaT, NA), as a writable array."""
    try:
        return values.isna().to_numpy(dtype=bool, copy=True)
    except ArithmeticError:  # a signalling-NaN Decimal refuses to be compared: judge value by value
        return np.array([_is_null_scalar(value) for value in values.to_numpy(dtype=object)], dtype=bool)


# -- splitting a column into typed groups ------------------------------------------------------------


def _groups(present: pd.Series) -> list[tuple[_Kind, pd.Series]]:
    """Split non-null values into groups of one kind each, typed for vectorised work.

    Typed columns make one group; object columns are typed by their values, and only mixed
    ones are split value by value.
    """
    if len(present) == 0:
        return []
    dtype = present.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _groups(present.astype(object))
    if ptypes.is_bool_dtype(dtype):
        return [(_Kind.BOOLEAN, present.astype(bool))]
    if ptypes.is_integer_dtype(dtype):
        return [(_Kind.INTEGER, present.astype(np.int64))]
    if ptypes.is_float_dtype(dtype):
        return [(_Kind.FLOAT, present.astype(np.float64))]
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_date(dtype.pyarrow_dtype):
        # Cast by Arrow: pandas' own astype goes value by value through Python dates.
        seconds = pa.array(present).cast(pa.timestamp("s")).to_numpy()
        return [(_Kind.DATE, pd.Series(seconds, index=present.index))]
    if ptypes.is_datetime64_any_dtype(dtype):
        return [(_Kind.DATETIME, _utc_naive(present))]
    if ptypes.is_string_dtype(dtype) and not ptypes.is_object_dtype(dtype):
        return [(_Kind.TEXT, present)]
    if not ptypes.is_object_dtype(dtype):
        return _groups(present.astype(object))
    kind = _INFERRED.get(ptypes.infer_dtype(present, skipna=True))
    if kind is not None:
        try:
            return _typed(present, kind)
        except (OverflowError, ValueError, TypeError):
            pass
    kinds = present.map(_kind_of_value)
    groups = []
    for group_kind, members in present.groupby(kinds, sort=False):
        try:
            groups.extend(_typed(members, group_kind))
        except (OverflowError, ValueError, TypeError):
            groups.append((_Kind.OTHER, members))
    return groups


def _kind_of_value(value: Any) -> _Kind:
    if isinstance(value, str):
        return _Kind.TEXT
    if isinstance(value, (bool, np.bool_)):
        return _Kind.BOOLEAN
    if isinstance(value, (int, np.integer)):
        return _Kind.INTEGER if -_INT64_LIMIT <= value < _INT64_LIMIT else _Kind.DECIMAL
    if isinstance(value, (float, np.floating)):
        return _Kind.FLOAT
    if isinstance(value, Decimal):
        return _Kind.DECIMAL
    if isinstance(value, (dt.datetime, np.datetime64)):
        return _Kind.DATETIME
    if isinstance(value, dt.date):
        return _Kind.DATE
    if isinstance(value, (dict, list, tuple, np.ndarray)):
        return _Kind.CONTAINER
    return _Kind.OTHER


def _typed(values: pd.Series, kind: _Kind) -> list[tuple[_Kind, pd.Series]]:
    """Give an object group the dtype its kind works with; values that cannot take it go to OTHER."""
    if kind is _Kind.TEXT:
        try:
            return [(kind, values.astype("str"))]
        except ValueError:  # lone surrogates have no UTF-8 form: only those values are refused
            encodable = np.array([_is_utf8(value) for value in values.to_numpy(dtype=object)], dtype=bool)
            return _non_empty([(kind, values[encodable].astype("str")), (_Kind.OTHER, values[~encodable])])
    if kind in (_Kind.DATE, _Kind.DATETIME):
        parsed = pd.to_datetime(values, utc=True, errors="coerce")
        in_range = parsed.notna().to_numpy(dtype=bool)
        return _non_empty([(kind, _utc_naive(parsed[in_range])), (_Kind.OTHER, values[~in_range])])
    if kind is _Kind.BOOLEAN:
        return [(kind, values.astype(bool))]
    if kind is _Kind.INTEGER:
        return [(kind, values.astype(np.int64))]
    if kind is _Kind.FLOAT:
        return [(kind, values.astype(np.float64))]
    return [(kind, values)]


def _non_empty(groups: list[tuple[_Kind, pd.Series]]) -> list[tuple[_Kind, pd.Series]]:
    return [(kind, values) for kind, values in groups if len(values)]


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utc_naive(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if not isinstance(values.dtype, np.dtype):
        return _utc_naive(pd.to_datetime(values.astype(object), utc=True))
    return values


# -- the address ------------------------------------------------------------------------------------


def _normalise_emails(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Normalised addresses as text (missing where refused or missing) and the problems, by position."""
    clean = _clean_emails(raw)
    if clean is not None:
        return clean, _no_problems()
    result = np.full(len(raw), None, dtype=object)
    missing = _missing(raw)
    present = raw[~missing]
    problems: list[pd.Series] = []
    missing_positions: list[np.ndarray] = [np.flatnonzero(missing)]
    for kind, values in _groups(present):
        if kind is not _Kind.TEXT:
            problems.append(_refused(values, np.ones(len(values), bool), EMAIL_FIELD, "invalid syntax (not text)",
                                     show=False))
            continue
        text = values.str.strip().str.lower()
        blank = (text == "").to_numpy(dtype=bool)
        missing_positions.append(text.index.to_numpy()[blank])
        text = text[~blank]
        lengths = text.str.len().to_numpy()
        too_long = lengths > EMAIL_MAX_LENGTH
        problems.append(_refused(text, too_long, EMAIL_FIELD,
                                 f"invalid syntax (longer than {EMAIL_MAX_LENGTH} characters)", show=False))
        text = text[~too_long]
        longest = int(lengths[~too_long].max(initial=0))
        fast = _vouched_for(pa.array(text, pa.string()), longest).to_numpy(zero_copy_only=False)
        accepted = text[fast]
        result[accepted.index.to_numpy()] = accepted.to_numpy(dtype=object)
        checked, refused = _check_emails_slowly(text[~fast])
        result[checked.index.to_numpy()] = checked.to_numpy(dtype=object)
        problems.append(refused)
    problems.append(pd.Series(f"{EMAIL_FIELD}: missing", index=np.concatenate(missing_positions), dtype=object))
    return pd.Series(result, dtype="str"), _concat_problems(problems)


def _clean_emails(raw: pd.Series) -> pd.Series | None:
    """The addresses trimmed and lower-cased, when the fast pattern vouches for every one; else ``None``.

    The usual column (text, none missing, none odd) takes a look at its bytes and one pattern
    pass instead of the general path's pandas operations; it is trimmed and lower-cased only if
    that changes something.
    """
    if len(raw) == 0 or not isinstance(raw.dtype, pd.StringDtype):
        return None
    given = texts = arrow_texts(raw)
    if texts.null_count:
        return None
    if needs_trimming(texts):
        texts = pc.utf8_trim_whitespace(texts)
    data = text_bytes(texts)
    if (data >= 0x80).any():  # the fast pattern is ASCII: leave the column to email-validator
        return None
    if ((data - ord("A")) < 26).any():  # an upper-case letter (the bytes wrap round below "A")
        texts = pc.ascii_lower(texts)
    longest = int(text_sizes(texts).max())  # ASCII: bytes are characters
    if longest > EMAIL_MAX_LENGTH or not pc.all(_vouched_for(texts, longest)).as_py():
        return None
    return raw if texts is given else pd.Series(pd.array(texts, dtype=raw.dtype), index=raw.index)


def _vouched_for(texts: pa.Array | pa.ChunkedArray, longest: int) -> pa.BooleanArray | pa.ChunkedArray:
    """Where the fast pattern vouches for a trimmed, lower-cased address: RE2 passes over the column.

    The long-label pass runs only when some address (``longest``: the longest's length) is long
    enough to hold such a label.
    """
    refer = pc.match_substring_regex(texts, _EMAIL_SPECIAL_USE)
    if longest >= _EMAIL_LONG_LABEL_MIN_LENGTH:
        refer = pc.or_(refer, pc.match_substring_regex(texts, _EMAIL_LONG_LABEL))
    return pc.and_not(pc.match_substring_regex(texts, _EMAIL_FAST_WHOLE), refer)


def _check_emails_slowly(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Judge addresses the fast pattern does not vouch for with email-validator, once per value."""
    if len(text) == 0:
        return text, _no_problems()
    verdicts = {address: _check_email(address) for address in pd.unique(text.to_numpy(dtype=object))}
    normalised = text.map({address: verdict[0] for address, verdict in verdicts.items()})
    ok = normalised.notna().to_numpy(dtype=bool)
    bad = text[~ok]
    reasons = [f"{EMAIL_FIELD}: invalid syntax ({verdicts[address][1]})" for address in bad.to_numpy(dtype=object)]
    return normalised[ok], pd.Series(reasons, index=bad.index, dtype=object)


def _check_email(address: str) -> tuple[str | None, str | None]:
    """``(normalised, None)`` or ``(None, why)`` for one trimmed, lower-cased address."""
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return None, str(error).removeprefix("The email address is not valid. ").rstrip(".")
    if len(checked.ascii_domain.rsplit(".", 1)[-1]) < 2:
        return None, "top-level domain is too short"
    return f"{checked.local_part}@{checked.ascii_domain}", None


# -- other fields -----------------------------------------------------------------------------------

_Converter = Callable[[_Kind, pd.Series, ResolvedField, DateFormats], tuple[pd.Series, pd.Series]]


def _convert_column(column: pd.Series, resolved_field: ResolvedField,
                    formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    """A destination column (``None`` where missing or refused) and its problems, by position."""
    spec = resolved_field.spec
    if spec.type is FieldType.TEXT or resolved_field.open_json:
        clean = _clean_text(column, spec)
        if clean is not None:
            return clean, _no_problems()
    converter = _convert_open_json if resolved_field.open_json else _CONVERTERS[spec.type]
    present_mask = ~_missing(column)
    parts: list[pd.Series] = []
    problems: list[pd.Series] = []
    for kind, values in _groups(column[present_mask]):
        if kind is _Kind.TEXT:
            values = values.str.strip()
            blank = (values == "").to_numpy(dtype=bool)
            present_mask[values.index.to_numpy()[blank]] = False
            values = values[~blank]
            if len(values) == 0:
                continue
        converted, refused = converter(kind, values, resolved_field, formats)
        parts.append(converted)
        problems.append(refused)
    if spec.required:
        missing = np.flatnonzero(~present_mask)
        problems.append(pd.Series(f"{spec.name}: missing", index=missing, dtype=object))
    return _assemble(parts, len(column)), _concat_problems(problems)


def _clean_text(column: pd.Series, spec: FieldSpec) -> pd.Series | None:
    """A text column trimmed, when it has nothing to refuse or leave out: no missing or blank
    values, none too long, no choices to match; else ``None``, for the group-by-group path.

    Most source columns are so, and are already trimmed: a look at each value's first and last
    byte and at its length, taken from the Arrow buffers, finds that out without a copy.
    """
    if spec.choices or len(column) == 0 or not isinstance(column.dtype, pd.StringDtype):
        return None
    texts = arrow_texts(column)
    if texts.null_count:
        return None
    if needs_trimming(texts):
        column = column.str.strip()
        texts = arrow_texts(column)
    sizes = text_sizes(texts)
    if (sizes == 0).any():
        return None
    # A text has at least as many bytes as characters: count characters only when the bytes are over.
    if (spec.max_length is not None and sizes.max() > spec.max_length
            and pc.max(pc.utf8_length(texts)).as_py() > spec.max_length):
        return None
    return column


def _assemble(parts: list[pd.Series], length: int) -> pd.Series:
    """One column from converted groups, by position.

    Text stays a string dtype and floats stay float (missing as NaN) when every group is so, and
    integers and booleans when the column is complete: hooks serialise those column-wise. A
    mixed or gappy column of other kinds holds Python values, ``None`` where missing.
    """
    text = all(isinstance(part.dtype, pd.StringDtype) for part in parts)
    if len(parts) == 1 and len(parts[0]) == length and (text or parts[0].dtype.kind in "bif"):
        complete = parts[0]  # its index holds every position: in order, it is the column as it is
        return complete if complete.index.is_monotonic_increasing else complete.sort_index()
    if parts and (text or all(part.dtype.kind == "f" for part in parts)):
        combined = parts[0] if len(parts) == 1 else pd.concat(parts)
        return combined.reindex(pd.RangeIndex(length))
    result = np.full(length, None, dtype=object)
    for part in parts:
        result[part.index.to_numpy()] = _natives(part)
    return pd.Series(result, dtype=object)


def _natives(values: pd.Series) -> np.ndarray:
    if values.dtype.kind in "bifO" or ptypes.is_string_dtype(values.dtype):
        return values.to_numpy(dtype=object)
    return np.array(values.tolist(), dtype=object)


def _convert_text(kind: _Kind, values: pd.Series, resolved_field: ResolvedField,
                  formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    name = resolved_field.name
    problems = _no_problems()
    if kind is _Kind.TEXT:
        text = values
    elif kind is _Kind.INTEGER:
        text = values.astype(str)
    elif kind is _Kind.FLOAT:
        finite = np.isfinite(values.to_numpy())
        problems = _refused(values, ~finite, name, "not a finite number")
        values = values[finite]
        whole = ((values % 1 == 0) & (values.abs() < _EXACT_FLOAT_LIMIT)).to_numpy(dtype=bool)
        text = values.astype(str)
        text[whole] = values[whole].astype(np.int64).astype(str)
    elif kind is _Kind.BOOLEAN:
        text = pd.Series(pd.array(pc.if_else(pa.array(values, pa.bool_()), "true", "false"), dtype="str"),
                         index=values.index)
    elif kind is _Kind.DECIMAL:
        text = values.map(str)
    elif kind is _Kind.DATE:
        text = _format_datetimes(values, ISO_DATE)
    elif kind is _Kind.DATETIME:
        text = _format_datetimes(values, ISO_DATETIME)
    else:
        return _refuse_all(values, name, "not text")
    checked, refused = _check_text(text, resolved_field.spec)
    return checked, _concat_problems([problems, refused])


def _check_text(text: pd.Series, spec: FieldSpec) -> tuple[pd.Series, pd.Series]:
    problems = []
    if spec.max_length is not None and _may_be_longer(text, spec.max_length):
        too_long = (text.str.len() > spec.max_length).to_numpy(dtype=bool)
        problems.append(_refused(text, too_long, spec.name, f"longer than {spec.max_length} characters",
                                 show=False))
        text = text[~too_long]
    if spec.choices:
        canonical = {choice.lower(): choice for choice in spec.choices}
        chosen = text.str.lower().map(canonical)
        known = chosen.notna().to_numpy(dtype=bool)
        problems.append(_refused(text, ~known, spec.name, f"not one of {', '.join(spec.choices)}"))
        text = chosen[known]
    return text, _concat_problems(problems)


def _may_be_longer(text: pd.Series, limit: int) -> bool:
    """Whether some text may have more than ``limit`` characters; Arrow text is known not to when
    none has more bytes (a character is one byte or more)."""
    if not isinstance(text.dtype, pd.StringDtype) or text.dtype.storage != "pyarrow":
        return True
    return bool((text_sizes(arrow_texts(text)) > limit).any())


def _convert_integer(kind: _Kind, values: pd.Series, resolved_field: ResolvedField,
                     formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    name = resolved_field.name
    if kind is _Kind.INTEGER:
        return values, _no_problems()
    numbers = _numbers(kind, values)
    if numbers is None:
        return _refuse_all(values, name, "not an integer")
    array = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    whole = np.isfinite(array) & (np.abs(array) < _INT64_LIMIT)
    whole[whole] = array[whole] % 1 == 0
    return numbers[whole].astype(np.int64), _refused(values, ~whole, name, "not an integer")


def _convert_float(kind: _Kind, values: pd.Series, resolved_field: ResolvedField,
                   formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    name = resolved_field.name
    numbers = _numbers(kind, values)
    if numbers is None:
        return _refuse_all(values, name, "not a number")
    array = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    parsed = ~np.isnan(array)
    finite = np.isfinite(array)
    problems = _concat_problems([
        _refused(values, ~parsed, name, "not a number"),
        _refused(values, parsed & ~finite, name, "not a finite number"),
    ])
    return pd.Series(array[finite], index=values.index[finite]), problems


def _numbers(kind: _Kind, values: pd.Series) -> pd.Series | None:
    """Numbers from numeric or text values (NaN where text does not parse); ``None`` for other kinds."""
    if kind in (_Kind.INTEGER, _Kind.FLOAT):
        return values
    if kind is _Kind.TEXT:
        return _parse_numbers(values)
    if kind is _Kind.DECIMAL:
        return pd.Series([_decimal_float(v) for v in values.to_numpy(dtype=object)], index=values.index,
                         dtype=np.float64)
    return None


def _parse_numbers(text: pd.Series) -> pd.Series:
    """Numbers from trimmed text, NaN where it does not parse.

    Arrow's casts parse a clean column many times faster than ``pd.to_numeric``, which is
    kept for columns with unparsable values (the two agree on what a number is).
    """
    array = pa.array(text, type=pa.string(), from_pandas=True)
    for target in (pa.int64(), pa.float64()):
        try:
            return pd.Series(pc.cast(array, target).to_numpy(zero_copy_only=False), index=text.index)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return pd.to_numeric(text, errors="coerce")


def _decimal_float(value: Any) -> float:
    try:
        return float(value)
    except (ValueError, OverflowError):
        return math.nan


def _convert_boolean(kind: _Kind, values: pd.Series, resolved_field: ResolvedField,
                     formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    name = resolved_field.name
    if kind is _Kind.BOOLEAN:
        return values, _no_problems()
    if kind is _Kind.TEXT:
        lowered = values.str.lower()
        true = lowered.isin(_TRUE_WORDS).to_numpy(dtype=bool)
        known = true | lowered.isin(_FALSE_WORDS).to_numpy(dtype=bool)
        return pd.Series(true[known], index=values.index[known]), _refused(values, ~known, name, "not a boolean")
    numbers = _numbers(kind, values)
    if numbers is None:
        return _refuse_all(values, name, "not a boolean")
    known = numbers.isin([0, 1]).to_numpy(dtype=bool)
    return numbers[known].astype(bool), _refused(values, ~known, name, "not a boolean")


_ISO_MIDNIGHT = ISO_DATE + "T00:00:00Z"
""":data:`ISO_DATETIME` of a date (midnight UTC)."""


def _convert_datetime(kind: _Kind, values: pd.Series, resolved_field: ResolvedField,
                      formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    name = resolved_field.name
    is_date = resolved_field.spec.type is FieldType.DATE
    noun = "date" if is_date else "date-time"
    problems = _no_problems()
    if kind is _Kind.TEXT:
        parsed = _utc_naive(pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce"))
        ok = parsed.notna().to_numpy(dtype=bool)
        problems = _refused(values, ~ok, name, f"not an ISO 8601 {noun}")
        values = parsed[ok]
    elif kind not in (_Kind.DATE, _Kind.DATETIME):
        return _refuse_all(values, name, f"not a {noun}")
    pattern = formats.date if is_date else formats.datetime
    if kind is _Kind.DATE and pattern == ISO_DATETIME:
        pattern = _ISO_MIDNIGHT  # the same text, written as a date and its literal midnight
    return _format_datetimes(values, pattern), problems


def _format_datetimes(values: pd.Series, pattern: str) -> pd.Series:
    """Format UTC timestamps as text, each distinct value once: dates repeat a lot.

    An ISO 8601 date, alone or followed by literal text, is Arrow's cast of the days and ISO 8601
    date-times are numpy's, neither with a Python call a value; other patterns are ``strftime``'s.
    """
    codes, unique = pd.factorize(values)
    unique_times = pd.DatetimeIndex(unique).to_numpy()
    after_date = pattern.removeprefix(ISO_DATE)
    if after_date != pattern and "%" not in after_date:
        texts = pa.array(unique_times.astype("datetime64[D]")).cast(pa.string())
        if after_date:
            texts = pc.binary_join_element_wise(texts, after_date, "")
    elif pattern == ISO_DATETIME:
        texts = np.char.add(np.datetime_as_string(unique_times, unit="s"), "Z")
    else:
        texts = pd.DatetimeIndex(unique).strftime(pattern).to_numpy(dtype=object)
    # Arrow's take, not the pandas array's: a third of the cost, its checks being for negative codes.
    return pd.Series(pd.array(pa.array(texts, pa.string()).take(codes), dtype="str"), index=values.index)


def _convert_json(kind: _Kind, values: pd.Series, resolved_field: ResolvedField,
                  formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    """A JSON object or array, from a dict/list or from text that parses to one."""
    name = resolved_field.name
    if kind not in (_Kind.CONTAINER, _Kind.TEXT):
        return _refuse_all(values, name, "not a JSON object or array")
    converted, reasons = [], []
    for position, value in zip(values.index, values.to_numpy(dtype=object), strict=True):
        try:
            converted.append((position, _json_document(value)))
        except ValueError as error:
            reasons.append((position, f"{name}: {error} ({_shown(value)})"))
    return _from_pairs(converted), _from_pairs(reasons)


def _json_document(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("not valid JSON") from None
    if isinstance(value, (tuple, np.ndarray)):
        value = list(value)
    if not isinstance(value, (dict, list)):
        raise ValueError("not a JSON object or array")
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_json_default))
    except (TypeError, ValueError):
        raise ValueError("not JSON-serialisable") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _convert_open_json(kind: _Kind, values: pd.Series, resolved_field: ResolvedField,
                       formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    """Any single JSON value (a Migma ``customFields.<key>``); dates as ISO strings."""
    name = resolved_field.name
    if kind in (_Kind.TEXT, _Kind.INTEGER, _Kind.BOOLEAN):
        return values, _no_problems()
    if kind in (_Kind.FLOAT, _Kind.DECIMAL):
        numbers = _numbers(kind, values)
        assert numbers is not None
        finite = np.isfinite(numbers.to_numpy(dtype=np.float64))
        return numbers[finite], _refused(values, ~finite, name, "not a finite number")
    if kind is _Kind.DATE:
        return _format_datetimes(values, formats.date), _no_problems()
    if kind is _Kind.DATETIME:
        return _format_datetimes(values, formats.datetime), _no_problems()
    return _refuse_all(values, name, "not a single value")


def _convert_tags(kind: _Kind, values: pd.Series, resolved_field: ResolvedField,
                  formats: DateFormats) -> tuple[pd.Series, pd.Series]:
    """A list of tags, from a list or a comma-separated string; empty lists count as missing."""
    name = resolved_field.name
    if kind is _Kind.TEXT:
        joined = values.str.replace(r"\s*,[\s,]*", ",", regex=True).str.strip(" ,")
        joined = joined[(joined != "").to_numpy(dtype=bool)]
        return pd.Series(joined.str.split(",").tolist(), index=joined.index, dtype=object), _no_problems()
    if kind is _Kind.INTEGER:
        return pd.Series([[text] for text in values.astype(str)], index=values.index, dtype=object), _no_problems()
    if kind is not _Kind.CONTAINER:
        return _refuse_all(values, name, "not a list of tags")
    converted, reasons = [], []
    for position, value in zip(values.index, values.to_numpy(dtype=object), strict=True):
        items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else None
        if items is None or any(isinstance(item, (dict, list, tuple, np.ndarray)) for item in items):
            reasons.append((position, f"{name}: not a list of tags ({_shown(value)})"))
            continue
        tags = [text for text in (str(item).strip() for item in items if not _is_null_scalar(item)) if text]
        if tags:
            converted.append((position, tags))
    return _from_pairs(converted), _from_pairs(reasons)


_CONVERTERS: dict[FieldType, _Converter] = {
    FieldType.TEXT: _convert_text,
    FieldType.INTEGER: _convert_integer,
    FieldType.FLOAT: _convert_float,
    FieldType.BOOLEAN: _convert_boolean,
    FieldType.DATE: _convert_datetime,
    FieldType.DATETIME: _convert_datetime,
    FieldType.JSON: _convert_json,
    FieldType.TAGS: _convert_tags,
}


# -- problems ---------------------------------------------------------------------------------------


_NO_PROBLEMS = pd.Series([], dtype=object, index=pd.Index([], dtype=np.int64))


def _no_problems() -> pd.Series:
    """The empty problems series, shared (never modified): building one costs more than the checks."""
    return _NO_PROBLEMS


def _refused(values: pd.Series, mask: np.ndarray, name: str, message: str, show: bool = True) -> pd.Series:
    """Reasons ``"<field>: <message> (<value>)"`` for the values under ``mask``."""
    bad = values[mask]
    if len(bad) == 0:
        return _no_problems()
    if not show:
        return pd.Series(f"{name}: {message}", index=bad.index, dtype=object)
    return pd.Series([f"{name}: {message} ({_shown(value)})" for value in bad.to_numpy(dtype=object)],
                     index=bad.index, dtype=object)


def _refuse_all(values: pd.Series, name: str, message: str) -> tuple[pd.Series, pd.Series]:
    return values.iloc[:0], _refused(values, np.ones(len(values), dtype=bool), name, message)


def _shown(value: Any) -> str:
    """A short rendering of a refused value for its reason."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (dt.datetime, dt.date, np.datetime64)):
        text = str(value)
    else:
        text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _SHOWN_VALUE_LENGTH else text[: _SHOWN_VALUE_LENGTH - 3] + "..."


def _from_pairs(pairs: list[tuple[int, Any]]) -> pd.Series:
    if not pairs:
        return _no_problems()
    result = np.empty(len(pairs), dtype=object)
    for slot, (_, item) in enumerate(pairs):
        result[slot] = item
    positions = [position for position, _ in pairs]
    return pd.Series(result, index=pd.Index(positions, dtype=np.int64), dtype=object)


def _concat_problems(problems: list[pd.Series]) -> pd.Series:
    found = [p for p in problems if len(p)]
    if not found:
        return _no_problems()
    return found[0] if len(found) == 1 else pd.concat(found)
