"""JSON objects of a frame's rows, built column by column.

A request body of 50,000 contacts built as Python dicts and encoded one by one costs a few
seconds per million contacts. Here each column becomes JSON text at once with Arrow kernels
(casts for numbers, booleans and dates; substring replacement to escape ``\\`` and ``"``),
and each row's object is one concatenation of its columns' texts with the keys between them.
msgspec encodes single values only where the kernels cannot: nested dicts and lists (JSON and
tags fields), strings with control characters, mixed or exotic objects.

The objects mean what msgspec would write for the same records: a missing value (``None``,
NaN, ``pd.NA``, NaT) leaves its key out; integers stay integers and floats stay floats
(``3.0``, never ``3``); dates are ISO 8601. Infinity has no JSON spelling and is refused.
Keys come in the given order, except that members present in every row come first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from airflow_contacts_provider.arrow_text import text_buffers


@dataclass(frozen=True)
class Constant:
    """The same JSON value in every object (Mailtrap's list ids, Migma's tags from ``list_ids``)."""

    value: Any


@dataclass(frozen=True)
class Nested:
    """An object-valued member built from further members; left out when all of them are missing."""

    members: Mapping[str, Member]


Member: TypeAlias = "str | Nested | Constant"
"""What a key of an object holds: a column of the frame (by name), a nested object, or a constant."""

EncHook: TypeAlias = "Callable[[Any], Any] | None"
"""msgspec's ``enc_hook``: turns a value msgspec cannot encode into one it can, or raises ``TypeError``."""

Pieces: TypeAlias = "list[str | pa.Array]"
"""Texts the same in every row and Arrow string arrays, which concatenated make one text per row."""

_INFERRED_TYPES = {"string": pa.string(), "integer": pa.int64(), "floating": pa.float64(),
                   "boolean": pa.bool_(), "date": pa.date32()}
"""Object columns whose values are all of one kind (``pd.api.types.infer_dtype``) and their Arrow type."""

_PLAIN_WHOLE_BELOW = 1e9
"""Arrow writes a whole float below this in plain digits; from 1e10 it may use an exponent (``1e+10``)."""

_QUOTE, _BACKSLASH, _COMMA, _FIRST_PRINTABLE = ord('"'), ord("\\"), ord(","), 0x20


def json_objects(frame: pd.DataFrame, members: Mapping[str, Member], enc_hook: EncHook = None, *,
                 comma_after: bool = False) -> pa.StringArray:
    """One JSON object per row of ``frame``, as Arrow strings.

    :param frame: the rows; each column a member names is encoded once.
    :param members: the objects' keys, each naming a column, a :class:`Nested` object or a :class:`Constant`.
    :param enc_hook: for values msgspec cannot encode (passed to msgspec as is).
    :param comma_after: end every object with a comma, so that :func:`comma_joined` is the
        objects' own bytes, not a copy of them.
    :raises ValueError: a float holds infinity.
    """
    rows = len(frame)
    closing = "}," if comma_after else "}"
    pieces, always_present = _members(frame, members, enc_hook)
    if always_present:
        return _concat(["{", *pieces, closing], rows)
    # Every member starts with a comma: the first one present becomes the opening brace.
    opened = pc.utf8_replace_slice(_concat(pieces, rows), start=0, stop=1, replacement="{")
    return pc.binary_join_element_wise(opened, closing, "")


def json_array(objects: pa.StringArray) -> bytes:
    """The bytes of a JSON array of the given JSON texts (those of :func:`json_objects` or some of them)."""
    return b"".join((b"[", comma_joined(objects), b"]"))


def comma_joined(objects: pa.StringArray) -> pa.Buffer:
    """The JSON texts joined by commas (a JSON array's inside), in one Arrow buffer: no Python copy.

    Texts that each end with a comma (``json_objects(..., comma_after=True)``; no JSON value
    does) are that already, bar the last comma: their own buffer is returned, not a copy.
    """
    if len(objects) == 0:
        return pa.py_buffer(b"")
    offsets, data_buffer = text_buffers(objects)
    comma_after = (
        objects.null_count == 0 and bool((offsets[1:] > offsets[:-1]).all())
        and bool((np.frombuffer(data_buffer, np.uint8)[offsets[1:] - 1] == _COMMA).all())
    )
    if comma_after:
        return data_buffer.slice(int(offsets[0]), int(offsets[-1] - offsets[0]) - 1)
    whole = pa.ListArray.from_arrays(pa.array([0, len(objects)], pa.int32()), objects)
    return pc.binary_join(whole, ",")[0].as_buffer()


def _members(frame: pd.DataFrame, members: Mapping[str, Member], enc_hook: EncHook) -> tuple[Pieces, bool]:
    """An object's members, ``"key":value`` joined by commas, and whether some member is in every row.

    When none is, each member brings its own leading comma, for the caller to drop the first.
    """
    rows = len(frame)
    always: list[Pieces] = []
    sometimes: list[pa.Array] = []  # each ``,"key":value`` where present, null where not
    for key, member in members.items():
        name = msgspec.json.encode(str(key)).decode() + ":"
        if isinstance(member, Constant):
            always.append([name + msgspec.json.encode(member.value).decode()])
        elif isinstance(member, Nested):
            pieces, always_present = _members(frame, member.members, enc_hook)
            if always_present:
                always.append([name + "{", *pieces, "}"])
            else:
                inner = _concat(pieces, rows)
                nested = pc.binary_join_element_wise("," + name + "{", pc.utf8_slice_codeunits(inner, 1), "}", "")
                sometimes.append(pc.if_else(pc.equal(inner, ""), pa.scalar(None, pa.string()), nested))
        else:
            value, complete = _value(frame[member], enc_hook)
            if complete:
                always.append([name, *value])
            else:
                sometimes.append(_concat(["," + name, *value], rows, keep_nulls=True))
    if not always:
        return list(sometimes), False
    pieces = list(always[0])
    for other in always[1:]:
        pieces += [",", *other]
    return [*pieces, *sometimes], True


def _concat(pieces: Pieces, rows: int, keep_nulls: bool = False) -> pa.StringArray:
    """The pieces concatenated row by row; a null piece makes its row null, or (by default) counts as empty."""
    merged: Pieces = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        elif not isinstance(piece, str) or piece:
            merged.append(piece)
    if not any(isinstance(piece, pa.Array) for piece in merged):
        return pa.repeat(pa.scalar("".join(map(str, merged)), pa.string()), rows)
    if len(merged) == 1:
        return merged[0] if keep_nulls else pc.fill_null(merged[0], "")
    if keep_nulls:
        return pc.binary_join_element_wise(*merged, "")
    # Not null_handling="skip": in pyarrow 26 it drops the rows where every piece is null.
    return pc.binary_join_element_wise(*merged, "", null_handling="replace", null_replacement="")


def _value(column: pd.Series, enc_hook: EncHook) -> tuple[Pieces, bool]:
    """The column's values as JSON texts (null where missing), and whether none is missing."""
    values = _arrow_values(column)
    texts = None if values is None else _typed_texts(values, column.name)
    if values is None or texts is None:
        missing = column.isna().to_numpy(dtype=bool)
        return [_encoded_one_by_one(column, missing, enc_hook)], not missing.any()
    return texts, values.null_count == 0


def _arrow_values(column: pd.Series) -> pa.Array | None:
    """The column as an Arrow array, nulls where missing; ``None`` when it has no single type Arrow can hold."""
    if column.dtype != object:
        return _arrow(column)
    objects = column.to_numpy(dtype=object)
    values = _arrow(objects)
    if values is not None and values.type in (pa.string(), pa.bool_(), pa.int64(), pa.null()):
        return values
    # Arrow reads 1 and 2.5 as two floats, a date then a date-time as two dates: ask pandas what they are.
    kind = _INFERRED_TYPES.get(pd.api.types.infer_dtype(objects, skipna=True))
    if kind is None or (kind == pa.date32() and any(isinstance(value, datetime) for value in objects)):
        return None
    return _arrow(objects, kind)


def _arrow(values: Any, kind: pa.DataType | None = None) -> pa.Array | None:
    try:
        array = pa.array(values, type=kind, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # mixed kinds, integers beyond 64 bits...
        return None
    # A column of concatenated frames may be Arrow-backed in pieces.
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _typed_texts(values: pa.Array, name: Any) -> Pieces | None:
    """JSON texts of an Arrow array's values, null where missing; ``None`` for types left to msgspec."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return ['"', _escaped(values.cast(pa.string())), '"']
    if pa.types.is_boolean(kind):
        return [pc.if_else(values, "true", "false")]
    if pa.types.is_integer(kind):
        return [values.cast(pa.string())]
    if pa.types.is_date(kind):
        return ['"', values.cast(pa.string()), '"']
    if pa.types.is_floating(kind):
        return _floats(values.cast(pa.float64()), name)
    if pa.types.is_null(kind):
        return [pa.nulls(len(values), pa.string())]
    return None


def _escaped(values: pa.StringArray) -> pa.StringArray:
    """Strings escaped for between JSON quotes: ``\\`` and ``"`` by kernels, rows with control characters by msgspec.

    One look at the UTF-8 bytes finds all three: in UTF-8 a byte below 0x80 is always that
    ASCII character, never part of another one.
    """
    if len(values) == 0:
        return values
    offsets, data_buffer = text_buffers(values)
    data = np.frombuffer(data_buffer, np.uint8)[offsets[0]:offsets[-1]]
    escaped = values
    for character in (_BACKSLASH, _QUOTE):
        if (data == character).any():
            escaped = pc.replace_substring(escaped, chr(character), "\\" + chr(character))
    controls = np.flatnonzero(data < _FIRST_PRINTABLE)
    if controls.size == 0:
        return escaped
    rows = np.zeros(len(values), dtype=bool)
    rows[np.searchsorted(offsets, controls + offsets[0], side="right") - 1] = True
    rows &= values.is_valid().to_numpy(zero_copy_only=False)
    texts = [msgspec.json.encode(text).decode()[1:-1] for text in values.filter(rows).to_pylist()]
    return pc.replace_with_mask(escaped, pa.array(rows), pa.array(texts, pa.string()))


def _floats(values: pa.DoubleArray, name: Any) -> Pieces:
    """Floats as JSON numbers that read back as floats: Arrow writes 3.0 as ``3``, so ``.0`` follows it."""
    numbers = values.to_numpy(zero_copy_only=False)  # NaN where missing
    if np.isinf(numbers).any():
        raise ValueError(f"Out of range float values are not JSON compliant (column {name!r}).")
    text = values.cast(pa.string())
    whole = np.floor(numbers) == numbers  # False where missing (NaN)
    if not whole.any():
        return [text]
    large = np.flatnonzero(whole & (np.abs(numbers) >= _PLAIN_WHOLE_BELOW))
    if large.size:  # written with an exponent ("1e+16"), a whole number already reads back as a float
        whole[large] = ~pc.match_substring(text.take(large), "e").to_numpy(zero_copy_only=False)
    return [text, pc.if_else(pa.array(whole), ".0", "")]


def _encoded_one_by_one(column: pd.Series, missing: np.ndarray, enc_hook: EncHook) -> pa.StringArray:
    """The values msgspec encodes as they come (nested lists and dicts, mixed kinds, exotic objects)."""
    encode = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number").encode
    texts: list[str | None] = []
    for value, gone in zip(column.tolist(), missing.tolist(), strict=True):
        if gone:
            texts.append(None)
            continue
        if isinstance(value, float) and math.isinf(value):
            raise ValueError(f"Out of range float values are not JSON compliant (column {column.name!r}).")
        texts.append(encode(value).decode())
    return pa.array(texts, pa.string())
