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
from collections import Counter
from types import TracebackType
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from airflow.sdk import ObjectStoragePath

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
_ROW_NUMBER = r"\brow\s+\d+"
_INDEX_NUMBER = r"\bindex\s+\d+"


def reason_category(reason: str) -> str:
    """The kind of problem a reason names, without values or row numbers.

    ``"custom_number_1: not a number ('abc')"`` becomes ``"custom_number_1: not a number"``;
    ``"duplicate of row 12"`` becomes ``"duplicate of row N"``.

    :param reason: one problem (not a ``"; "``-joined list of them).
    """
    text = reason
    for _ in range(2):
        text = re.sub(_PARENTHESISED, "", text)
    text = re.sub(_ROW_NUMBER, "row N", text)
    text = re.sub(_INDEX_NUMBER, "index N", text)
    field, colon, rest = text.partition(":")
    if not colon:
        return " ".join(field.split()).rstrip(".")
    return f"{' '.join(field.split())}: {' '.join(rest.split()).rstrip('.')}"


def count_reasons(reasons: pd.Series) -> Counter[str]:
    """How many times each reason category occurs; a row's ``"; "``-joined problems count apart.

    :param reasons: reason texts, one per rejected row.
    """
    text = reasons.dropna().astype("str")
    if text.empty:
        return Counter()
    for _ in range(2):
        text = text.str.replace(_PARENTHESISED, "", regex=True)
    text = text.str.replace(_ROW_NUMBER, "row N", regex=True).str.replace(_INDEX_NUMBER, "index N", regex=True)
    counts: Counter[str] = Counter()
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
    """

    def __init__(self, path: str | ObjectStoragePath, format: RejectsFormat | None = None,
                 rows_per_part: int = 100_000) -> None:
        self.path = path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(_with_scheme(path))
        self.format: RejectsFormat = format or _SUFFIXES.get(self.path.suffix.lower(), "csv")
        if self.format not in ("csv", "parquet"):
            raise ValueError(f"Rejects format must be 'csv' or 'parquet', not {self.format!r}.")
        self.rows_per_part = rows_per_part
        self.count = 0
        self.by_reason: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.parts: list[ObjectStoragePath] = []
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0
        self._prepared = False
        self._closed = False

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
        self.count += len(frame)
        self.by_reason.update(count_reasons(frame["reason"]))
        self.by_kind.update(frame["kind"].dropna().value_counts().to_dict())
        self._buffer.append(frame)
        self._buffered += len(frame)
        if self._buffered >= self.rows_per_part:
            self._flush()

    def close(self) -> None:
        """Write what is buffered (or an empty part if nothing was ever written)."""
        if self._closed:
            return
        if self._buffered or not self.parts:
            self._flush()
        self._closed = True

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _flush(self) -> None:
        self._prepare()
        frame = pd.concat(self._buffer, ignore_index=True) if self._buffer else _conformed(
            pd.DataFrame(columns=list(REJECT_COLUMNS)))
        part = self.path / f"part-{len(self.parts):05d}.{self.format}"
        part.write_bytes(self._encode(frame))
        self.parts.append(part)
        self._buffer, self._buffered = [], 0

    def _prepare(self) -> None:
        """Create the directory and remove parts left by an earlier try, once."""
        if self._prepared:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for stale in self.path.glob(f"part-*.{self.format}"):
            stale.unlink()
        self._prepared = True

    def _encode(self, frame: pd.DataFrame) -> bytes:
        if self.format == "csv":
            return frame.to_csv(index=False).encode("utf-8")
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


def _with_scheme(path: str) -> str:
    return path if "://" in path else f"file://{os.path.abspath(path)}"
