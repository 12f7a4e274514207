"""Arrow string arrays seen as their buffers: checks of a whole column without a Python string a value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_PRINTABLE_ASCII_FIRST, _PRINTABLE_ASCII_COUNT = 0x21, 0x7E - 0x21 + 1
"""``!`` to ``~``: the bytes a text without edge whitespace may surely start and end with."""


def text_buffers(texts: pa.StringArray | pa.LargeStringArray) -> tuple[np.ndarray, pa.Buffer]:
    """Where each text starts and ends in the data buffer (``len(texts) + 1`` offsets), and that buffer.

    The offsets are the array's own, a slice's included: no copy.
    """
    _, offsets_buffer, data_buffer = texts.buffers()
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, width)[texts.offset:texts.offset + len(texts) + 1]
    return offsets, data_buffer if data_buffer is not None else pa.py_buffer(b"")


def text_bytes(texts: pa.StringArray | pa.LargeStringArray) -> np.ndarray:
    """All the texts' UTF-8 bytes, one after another (a view of the data buffer)."""
    offsets, data_buffer = text_buffers(texts)
    return np.frombuffer(data_buffer, np.uint8)[offsets[0]:offsets[-1]]


def text_sizes(texts: pa.StringArray | pa.LargeStringArray) -> np.ndarray:
    """Each text's length in bytes (at least its length in characters)."""
    offsets, _ = text_buffers(texts)
    return offsets[1:] - offsets[:-1]


def arrow_texts(column: pd.Series) -> pa.StringArray | pa.LargeStringArray:
    """A pandas text column as one Arrow array: the column's own when it is Arrow-backed in one piece."""
    values = pa.array(column, type=None if isinstance(column.dtype, pd.StringDtype) else pa.large_string())
    if isinstance(values, pa.ChunkedArray):
        values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def string_array(column: pd.Series) -> pa.StringArray:
    """A pandas text column as one Arrow ``string`` array (:func:`arrow_texts`, narrowed from
    ``large_string``): what Arrow compares with, and takes from, other string arrays."""
    return arrow_texts(column).cast(pa.string())


def needs_trimming(texts: pa.StringArray | pa.LargeStringArray) -> bool:
    """Whether trimming whitespace changes some text.

    One look at each text's first and last byte clears most texts; only those that start or end
    with a space, a control or a non-ASCII character (Unicode has spaces of its own, and "Chloé"
    ends in one) are trimmed by Arrow to see. Null slots must be empty or absent.
    """
    offsets, data_buffer = text_buffers(texts)
    data = np.frombuffer(data_buffer, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    filled = ends > starts
    if not filled.all():
        starts, ends = starts[filled], ends[filled]
    # Below "!" the subtraction wraps round to 0xDF and more: one comparison finds both ends of the range.
    odd = ((data.take(starts) - _PRINTABLE_ASCII_FIRST) >= _PRINTABLE_ASCII_COUNT) | (
        (data.take(ends - 1) - _PRINTABLE_ASCII_FIRST) >= _PRINTABLE_ASCII_COUNT)
    if not odd.any():
        return False
    if not filled.all():  # back to one flag a text, empty ones unflagged
        odd, flags = np.zeros(len(filled), dtype=bool), odd
        odd[filled] = flags
    looked_at = texts.filter(pa.array(odd))
    return not pc.all(pc.equal(pc.utf8_trim_whitespace(looked_at), looked_at)).as_py()
