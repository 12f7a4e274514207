"""Contacts from CSV, Parquet or JSON Lines files on any storage Airflow's ObjectStoragePath reaches.

Each format is read in batches, never whole: ``pd.read_csv(chunksize=)``,
``pd.read_json(lines=True, chunksize=)`` and ``ParquetFile.iter_batches``, so
memory follows the chunk size (for Parquet, at most one row group more).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
from airflow.sdk import ObjectStoragePath
from fsspec.utils import infer_compression

from airflow_contacts_provider.exceptions import ConfigurationError
from airflow_contacts_provider.sources.base import ContactSource


def _read_csv(handle: IO[bytes], chunk_size: int, read_options: dict[str, Any]) -> Iterator[pd.DataFrame]:
    """Every column as text, and only empty fields as missing.

    Inferring dtypes per chunk would let a column change type between chunks and
    would turn phone numbers and postcodes into numbers that lose their leading
    zeros; pandas' default NA words ("NA", "NULL", "None") are also real names.
    Validation coerces each field to its destination type later.
    """
    options = {"dtype": str, "keep_default_na": False, "na_values": [""], **read_options}
    with pd.read_csv(handle, chunksize=chunk_size, **options) as reader:
        yield from reader


def _read_json_lines(
    handle: IO[bytes], chunk_size: int, read_options: dict[str, Any]
) -> Iterator[pd.DataFrame]:
    """Values keep the types the JSON gives them; ``dtype=False`` stops pandas turning "0612" into 612."""
    options = {"dtype": False, **read_options}
    with pd.read_json(handle, lines=True, chunksize=chunk_size, **options) as reader:
        yield from reader


def _read_parquet(handle: IO[bytes], chunk_size: int, read_options: dict[str, Any]) -> Iterator[pd.DataFrame]:
    """The file's own column types, dates as ``datetime.date`` (pyarrow's default, as SQL drivers give)."""
    import pyarrow.parquet as pq  # here, not at the top: it costs every other sync 4 MiB

    for batch in pq.ParquetFile(handle).iter_batches(batch_size=chunk_size, **read_options):
        yield batch.to_pandas()


READERS: dict[str, Callable[[IO[bytes], int, dict[str, Any]], Iterator[pd.DataFrame]]] = {
    "csv": _read_csv,
    "parquet": _read_parquet,
    "jsonl": _read_json_lines,
}
"""How each supported format is read in batches, by format name."""

FORMAT_BY_SUFFIX = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
"""The format a file name implies, after any compression suffix such as ``.gz``."""


def format_from_name(name: str) -> str | None:
    """The format a file name implies (``contacts.csv.gz`` is CSV), or ``None`` when it implies none.

    :param name: a file name or path.
    """
    suffixes = PurePosixPath(name).suffixes
    if suffixes and infer_compression(name):
        suffixes = suffixes[:-1]
    return FORMAT_BY_SUFFIX.get(suffixes[-1].lower()) if suffixes else None


def _without_userinfo(url: str) -> str:
    """Drop the ``user@`` part of a URL so a description can never carry credentials."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _is_hidden(path: ObjectStoragePath, root: ObjectStoragePath) -> bool:
    """Whether a file under ``root`` is bookkeeping (``_SUCCESS``, ``_temporary/``, ``.DS_Store``)."""
    return any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)


class FileSource(ContactSource):
    """Contacts from one file, or from every file under a directory or prefix, in sorted path order.

    The format comes from ``format`` or else from each file's suffix (``.csv``,
    ``.csv.gz``, ``.parquet``, ``.jsonl``, ``.ndjson``); compressed files (``.gz``,
    ``.bz2``, ...) are decompressed by name. In a directory, files and folders whose
    names start with ``_`` or ``.`` are skipped, as data tools write them for bookkeeping.
    CSV columns are all text; Parquet and JSON Lines keep their own types.

    :param path: a path or URL (``/data/contacts.csv``, ``file://...``, ``s3://bucket/prefix/``),
        or an ``ObjectStoragePath``.
    :param format: ``"csv"``, ``"parquet"`` or ``"jsonl"``; by default, from each file's suffix.
    :param conn_id: the Airflow connection for the storage (e.g. an ``aws`` connection for ``s3://``)
        when ``path`` is a string.
    :param read_options: passed to ``pd.read_csv``, ``pd.read_json`` or ``ParquetFile.iter_batches``,
        overriding this class's defaults.
    """

    def __init__(
        self,
        path: str | ObjectStoragePath,
        format: str | None = None,
        conn_id: str | None = None,
        **read_options: Any,
    ) -> None:
        if format is not None and format not in READERS:
            raise ConfigurationError(f"Unknown file format {format!r}: use one of {sorted(READERS)}.")
        self.path = path
        self.format = format
        self.conn_id = conn_id
        self.read_options = read_options

    def describe(self) -> str:
        return _without_userinfo(str(self.path))

    def lineage(self) -> tuple[str, str]:
        """Namespace ``scheme://bucket`` (``file`` for local paths) and the key, as OpenLineage names files."""
        scheme, _, rest = self.describe().partition("://")
        if not rest:
            return "file", scheme
        bucket, _, key = rest.partition("/")
        return (f"{scheme}://{bucket}", key) if scheme != "file" else ("file", f"/{key}")

    def _root(self) -> ObjectStoragePath:
        """The path as an ObjectStoragePath, built only when reading: building one resolves the connection."""
        if isinstance(self.path, ObjectStoragePath):
            return self.path
        return ObjectStoragePath(self.path, conn_id=self.conn_id)

    def list_files(self) -> list[ObjectStoragePath]:
        """The files this source reads, in reading order.

        :raises ConfigurationError: nothing exists at the path.
        """
        root = self._root()
        if root.is_file():
            return [root]
        if root.is_dir():
            files = (path for path in root.rglob("*") if path.is_file() and not _is_hidden(path, root))
            return sorted(files, key=str)
        raise ConfigurationError(f"No file or directory at {self.describe()}.")

    def _format_of(self, path: ObjectStoragePath) -> str:
        file_format = self.format or format_from_name(path.name)
        if file_format is None:
            raise ConfigurationError(
                f"Cannot tell the format of {_without_userinfo(str(path))} from its name: pass format= "
                f"one of {sorted(READERS)}, or name files with one of {sorted(FORMAT_BY_SUFFIX)}."
            )
        return file_format

    def _read_frames(self, chunk_size: int) -> Iterator[pd.DataFrame]:
        # Every file's format is checked before the first row is read, not halfway through.
        readers = [(path, READERS[self._format_of(path)]) for path in self.list_files()]
        for path, read in readers:
            with path.open("rb", compression="infer") as handle:
                yield from read(handle, chunk_size, self.read_options)
