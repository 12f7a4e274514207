"""The one interface every contact source offers: DataFrame chunks of a bounded size.

Downstream steps (mapping, validation, batching, reporting) never learn where rows
came from; they see chunks whose index is each row's position in the whole source,
so a rejected contact can be reported as "row 123 456" whatever the source.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Iterator

import pandas as pd


class ContactSource(ABC):
    """Where contacts come from, read in chunks so memory follows the chunk size, not the source size.

    Subclasses implement :meth:`_read_frames` (frames of any size, in source order)
    and :meth:`describe`; :meth:`iter_chunks` turns those frames into chunks of
    exactly ``chunk_size`` rows (the last one may be shorter) numbered by position.
    """

    def iter_chunks(self, chunk_size: int) -> Generator[pd.DataFrame, None, None]:
        """Yield the source's rows as DataFrames of ``chunk_size`` rows, the last one possibly shorter.

        Each chunk's index is a RangeIndex continuing the previous chunk's (0..n-1, then n..),
        so an index value is the row's position in the whole source. An empty source yields nothing.

        :param chunk_size: rows per chunk; also bounds how many rows are held in memory at once.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of rows, got {chunk_size}")
        first_row = 0
        for chunk in _exact_size_chunks(self._read_frames(chunk_size), chunk_size):
            yield chunk.set_axis(pd.RangeIndex(first_row, first_row + len(chunk)), axis=0)
            first_row += len(chunk)

    def lineage(self) -> tuple[str, str]:
        """The source as an OpenLineage dataset: (namespace, name)."""
        return "contacts-source", self.describe()

    @abstractmethod
    def describe(self) -> str:
        """A name for logs and lineage (the SQL, the path): never credentials."""

    @abstractmethod
    def _read_frames(self, chunk_size: int) -> Iterator[pd.DataFrame]:
        """Yield the source's rows in order, in frames of bounded size (any index).

        Frames of about ``chunk_size`` rows, or of a fixed budget of bytes where the
        reader counts in bytes (PostgreSQL through ADBC): either way memory does not
        grow with the source.

        :param chunk_size: how many rows to read at a time.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


def _exact_size_chunks(frames: Iterable[pd.DataFrame], chunk_size: int) -> Iterator[pd.DataFrame]:
    """Regroup frames so every chunk but the last has exactly ``chunk_size`` rows.

    Readers stop short at file and row-group boundaries, and SQL results are
    fetched in pieces; consumers that size API batches from chunks should not
    have to care. Frames that already have the right size pass through as they are.

    :param frames: frames in source order, of any size (empty ones are dropped).
    :param chunk_size: rows per chunk.
    """
    pending: list[pd.DataFrame] = []
    pending_rows = 0
    for frame in frames:
        if len(frame) == 0:
            continue
        pending.append(frame)
        pending_rows += len(frame)
        if pending_rows < chunk_size:
            continue
        combined = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
        while len(combined) >= chunk_size:
            yield combined.iloc[:chunk_size]
            combined = combined.iloc[chunk_size:]
        pending = [combined] if len(combined) else []
        pending_rows = len(combined)
    if pending:
        yield pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
