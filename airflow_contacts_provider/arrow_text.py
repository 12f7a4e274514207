"""Arrow string arrays seen as their buffers: checks of a whole column without a Python string a value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

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


def arrow_texts(column: pd.Series) -> pa.StringArray | pa.LargeStringArray:
    """A pandas text column as one Arrow array: the column's own when it is Arrow-backed in one piece."""
    values = pa.array(column, type=None if isinstance(column.dtype, pd.StringDtype) else pa.large_string())
    if isinstance(values, pa.ChunkedArray):
        values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def may_need_trimming(texts: pa.StringArray | pa.LargeStringArray) -> bool:
    """Whether trimming whitespace could change a text: one look at each text's first and last byte.

    ``False`` means no text starts or ends with whitespace; ``True`` that some may: a space or
    control character, or a non-ASCII character (Unicode has spaces of its own), at an edge.
    Null slots must be empty or absent.
    """
    offsets, data_buffer = text_buffers(texts)
    data = np.frombuffer(data_buffer, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    if (ends == starts).any():
        starts, ends = starts[ends > starts], ends[ends > starts]
    edges = np.concatenate((data.take(starts), data.take(ends - 1)))
    # Below "!" the subtraction wraps round to 0xDF and more: one comparison finds both ends of the range.
    return bool(((edges - _PRINTABLE_ASCII_FIRST) >= _PRINTABLE_ASCII_COUNT).any())
