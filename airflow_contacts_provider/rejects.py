"""Where rejected rows go, so that every row a sync read is accounted for somewhere.

The sink is a directory (an object-store prefix on S3 and the like) of part files
``part-00000.csv``, ``part-00001.csv``... Object stores cannot append, and holding one upload
open for a whole sync ties a multipart upload to the task's life; whole part files work the
same on ``file://`` and ``s3://`` and are read back as one table by ``pd.read_parquet(path)``
or by globbing the CSV parts. Rows are buffered and written ``rows_per_part`` at a time.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections import Counter
from types import TracebackType
from typing import Literal

import pandas as pd
import pyarrow as pa
from airflow.sdk import ObjectStoragePath

from airflow_contacts_provider.import_job import reason_category as blank_addresses

REJECT_COLUMNS = ("row_number", "email", "reason", "kind")
"""``kind`` is ``invalid`` or ``duplicate`` (from validation) or ``provider`` (refused on import)."""

RejectsFormat = Literal["csv", "parquet"]

_SCHEMA = pa.schema([
    pa.field("row_number", pa.int64()),
    pa.field("email", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("kind", pa.string()),
])
_SUFFIXES: dict[str, RejectsFormat] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_PARENTHESISED = r"\s*\([^()]*\)"
_PART_NAME = re.compile(r"part-(\d+)\.(?:csv|parquet)")
_ROW_NUMBER = r"\brow\s+\d+"
_INDEX_NUMBER = r"\bindex\s+\d+"


def reason_category(reason: str) -> str:
    """The kind of problem a reason names, without values, addresses or row numbers.

    ``"custom_number_1: not a number ('abc')"`` becomes ``"custom_number_1: not a number"``;
    ``"duplicate of row 12"`` becomes ``"duplicate of row N"``; an address a provider quotes
    becomes ``<email>`` so counts by reason carry no personal data.

    :param reason: one problem (not a ``"; "``-joined list of them).
    """
    text = reason
    for _ in range(2):
        text = re.sub(_PARENTHESISED, "", text)
    text = re.sub(_ROW_NUMBER, "row N", text)
    text = re.sub(_INDEX_NUMBER, "index N", text)
    field, colon, rest = blank_addresses(text).partition(":")
    if not colon:
        return " ".join(field.split()).rstrip(".")
    return f"{' '.join(field.split())}: {' '.join(rest.split()).rstrip('.')}"


def count_reasons(reasons: pd.Series, *, per_row: bool = False) -> Counter[str]:
    """How many times each reason category occurs.

    :param reasons: reason texts, one per rejected row, each possibly several problems joined by "; ".
    :param per_row: count each row once, under its problems' categories joined by "; " (totals then
        add up to rows); by default each problem counts apart.
    """
    if reasons.empty:  # the usual chunk: what follows costs a tenth of a millisecond even then
        return Counter()
    text = reasons.dropna().astype("str")
    if text.empty:
        return Counter()
    for _ in range(2):  # values in parentheses may hold "; ", so they go before splitting
        text = text.str.replace(_PARENTHESISED, "", regex=True)
    text = text.str.replace(_ROW_NUMBER, "row N", regex=True).str.replace(_INDEX_NUMBER, "index N", regex=True)
    counts: Counter[str] = Counter()
    if per_row:
        for reason, count in text.value_counts().items():
            counts["; ".join(reason_category(part) for part in str(reason).split("; "))] += int(count)
        return counts
    for reason, count in text.str.split("; ").explode().value_counts().items():
        counts[reason_category(str(reason))] += int(count)
    return counts


class RejectsWriter:
    """Append rejected rows of a sync to part files under one directory or prefix.

    Parts from an earlier try of the same task are removed before the first part is written;
    an empty part is written when a sync rejects nothing, so readers always find a table.

    :param path: the directory or prefix (``str`` or ``ObjectStoragePath``, e.g. ``s3://b/rejects/run.csv``).
    :param format: ``csv`` or ``parquet``; by default taken from the path's suffix, else ``csv``.
    :param rows_per_part: rows buffered before a part is written.
    :param append: keep the parts already there and number new ones after them (a deferred
        task resuming its sync), instead of replacing them.
    """

    def __init__(self, path: str | ObjectStoragePath, format: RejectsFormat | None = None,
                 rows_per_part: int = 100_000, *, append: bool = False) -> None:
        self.path = path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(_with_scheme(path))
        self.format: RejectsFormat = format or _SUFFIXES.get(self.path.suffix.lower(), "csv")
        if self.format not in ("csv", "parquet"):
            raise ValueError(f"Rejects format must be 'csv' or 'parquet', not {self.format!r}.")
        self.rows_per_part = rows_per_part
        self.append = append
        self.count = 0
        self.by_reason: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.parts: list[ObjectStoragePath] = []
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0
        self._next_part: int | None = None
        self._closed = False
        self._lock = threading.Lock()  # validation's rejects and the provider's come from two threads

    def write(self, rejects: pd.DataFrame) -> None:
        """Add rejected rows: any frame with ``row_number, email, reason, kind`` (extra columns dropped).

        :param rejects: rows from validation, or the provider's refusals (kind ``provider``).
        """
        if self._closed:
            raise RuntimeError("This RejectsWriter is closed.")
        missing = [column for column in REJECT_COLUMNS if column not in rejects.columns]
        if missing:
            raise ValueError(f"Rejected rows need the columns {list(REJECT_COLUMNS)}; missing {missing}.")
        if rejects.empty:
            return
        frame = _conformed(rejects)
        reasons = count_reasons(frame["reason"])
        with self._lock:
            self.count += len(frame)
            self.by_reason.update(reasons)
            self.by_kind.update(frame["kind"].dropna().value_counts().to_dict())
            self._buffer.append(frame)
            self._buffered += len(frame)
            if self._buffered >= self.rows_per_part:
                self._flush()

    def close(self) -> None:
        """Write what is buffered (or an empty part if the directory would otherwise have none)."""
        with self._lock:
            if self._closed:
                return
            if self._buffered or self._prepare() == 0:
                self._flush()
            self._closed = True

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _flush(self) -> None:
        number = self._prepare()
        frame = pd.concat(self._buffer, ignore_index=True) if self._buffer else _conformed(
            pd.DataFrame(columns=list(REJECT_COLUMNS)))
        part = self.path / f"part-{number:05d}.{self.format}"
        part.write_bytes(self._encode(frame))
        self.parts.append(part)
        self._next_part = number + 1
        self._buffer, self._buffered = [], 0

    def _prepare(self) -> int:
        """The next part's number; the first time, create the directory and deal with parts already there."""
        if self._next_part is None:
            self.path.mkdir(parents=True, exist_ok=True)
            existing = [part for part in self.path.glob(f"part-*.{self.format}")
                        if _PART_NAME.fullmatch(part.name)]
            if self.append:
                self._next_part = 1 + max((_part_number(part.name) for part in existing), default=-1)
            else:
                for stale in existing:
                    stale.unlink()
                self._next_part = 0
        return self._next_part

    def _encode(self, frame: pd.DataFrame) -> bytes:
        if self.format == "csv":
            return frame.to_csv(index=False).encode("utf-8")
        import pyarrow.parquet as pq  # here, not at the top: it costs a sync writing CSV 4 MiB

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, schema=_SCHEMA, preserve_index=False), buffer)
        return buffer.getvalue()


def _conformed(rejects: pd.DataFrame) -> pd.DataFrame:
    """The four columns with stable types, so every part has the same schema."""
    return pd.DataFrame({
        "row_number": pd.array(rejects["row_number"].to_numpy(), dtype="Int64"),
        "email": _text_or_none(rejects["email"]),
        "reason": _text_or_none(rejects["reason"]),
        "kind": _text_or_none(rejects["kind"]),
    })


def _text_or_none(values: pd.Series) -> pd.Series:
    texts = values.astype(object)
    return texts.where(texts.notna(), None).map(lambda value: value if value is None else str(value))


def _part_number(name: str) -> int:
    match = _PART_NAME.fullmatch(name)
    assert match is not None
    return int(match.group(1))


def _with_scheme(path: str) -> str:
    return path if "://" in path else f"file://{os.path.abspath(path)}"
