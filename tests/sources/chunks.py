"""Read a source whole while checking the chunking contract every source promises."""

from __future__ import annotations

import pandas as pd

from airflow_contacts_provider.sources import ContactSource


def read_chunks(source: ContactSource, chunk_size: int) -> list[pd.DataFrame]:
    """All chunks of ``source``, after asserting sizes and row numbering.

    Every chunk but the last has ``chunk_size`` rows, none is empty, and each
    index is a RangeIndex continuing the previous one from 0.
    """
    chunks = list(source.iter_chunks(chunk_size))
    next_row = 0
    for position, chunk in enumerate(chunks):
        is_last = position == len(chunks) - 1
        assert 0 < len(chunk) <= chunk_size if is_last else len(chunk) == chunk_size
        assert isinstance(chunk.index, pd.RangeIndex)
        assert (chunk.index.start, chunk.index.stop) == (next_row, next_row + len(chunk))
        next_row += len(chunk)
    return chunks


def read_all(source: ContactSource, chunk_size: int) -> pd.DataFrame:
    """The whole source as one frame (index = row number), chunking contract checked."""
    return pd.concat(read_chunks(source, chunk_size))
