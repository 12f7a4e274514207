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


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
"""2⁶⁴ divided by the golden ratio: an odd constant with bits spread across the word."""
_LOW_BYTES = np.array([(1 << 8 * count) - 1 for count in range(9)], dtype=np.uint64)
"""Masks keeping a little-endian word's lowest 0 to 8 bytes."""


def text_hashes(texts: pa.StringArray | pa.LargeStringArray) -> np.ndarray:
    """A 64-bit hash of each text's UTF-8 bytes (null as empty), all texts at once.

    Each step takes every text's next 8 bytes, zero-padded past its end, as one little-endian
    word, and mixes it into the text's hash, seeded with its length: as many numpy passes as the
    longest text has words, without a Python string a text. Not cryptographic: equal texts have
    equal hashes (on any machine), and two different ones share a hash with odds of about 2⁻⁶⁴.
    """
    offsets, data_buffer = text_buffers(texts)
    data = np.frombuffer(data_buffer, np.uint8)[offsets[0]:offsets[-1]]
    starts = (offsets[:-1] - offsets[0]).astype(np.int64)
    sizes = (offsets[1:] - offsets[:-1]).astype(np.int64)
    padded = np.concatenate([data, np.zeros(8, np.uint8)])
    # The 8 bytes from each byte on: overlapping, unaligned words over the padded bytes, not a copy.
    words = np.ndarray(shape=(len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))
    hashes = sizes.astype(np.uint64) * _GOLDEN
    with np.errstate(over="ignore"):  # wrapping round is the point
        for step in range(0, int(sizes.max(initial=0)), 8):
            left = sizes - step
            word = words[np.minimum(starts + step, len(data))]
            if (left < 8).any():  # only a text's own bytes: the rest of its last word are the next text's
                word &= _LOW_BYTES[np.clip(left, 0, 8)]
            mixed = _mixed(hashes ^ word) + _GOLDEN
            ended = left <= 0
            hashes = np.where(ended, hashes, mixed) if ended.any() else mixed
        return _mixed(hashes)


def _mixed(words: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: a one-to-one mix in which every input bit moves about half the output bits."""
    words ^= words >> np.uint64(33)
    words *= np.uint64(0xFF51AFD7ED558CCD)
    words ^= words >> np.uint64(33)
    words *= np.uint64(0xC4CEB9FE1A85EC53)
    words ^= words >> np.uint64(33)
    return words
