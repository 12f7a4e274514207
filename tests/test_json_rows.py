"""json_rows: the column-built JSON objects decode to what building each row's dict by hand gives."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_contacts_provider.json_rows import Constant, Member, Nested, comma_joined, json_array, json_objects

MISSING = object()


def plain(value: Any) -> Any:
    """A cell as the old dict builders put it in a record: missing values out, numpy scalars as Python, dates ISO."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def expected_objects(frame: pd.DataFrame, members: dict[str, Member]) -> list[dict[str, Any]]:
    """Each row's object built one value at a time, the way the hooks did before json_rows."""

    def build(row: int, layout: dict[str, Member]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for key, member in layout.items():
            if isinstance(member, Constant):
                record[key] = member.value
            elif isinstance(member, Nested):
                nested = build(row, dict(member.members))
                if nested:
                    record[key] = nested
            else:
                value = plain(frame[member].tolist()[row])
                if value is not MISSING:
                    record[key] = value
        return record

    return [build(row, members) for row in range(len(frame))]


def strict(value: Any) -> Any:
    """A decoded value with its JSON types spelled out, so 3 and 3.0 (or True and 1) differ."""
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [strict(item) for item in value]
    return type(value).__name__, repr(value)


def decoded(frame: pd.DataFrame, members: dict[str, Member]) -> list[Any]:
    objects = json_objects(frame, members)
    assert len(objects) == len(frame)
    assert objects.null_count == 0
    return [msgspec.json.decode(text) for text in objects.to_pylist()]


def assert_same(frame: pd.DataFrame, members: dict[str, Member]) -> None:
    expected = expected_objects(frame, members)
    assert strict(decoded(frame, members)) == strict(expected)
    assert strict(msgspec.json.decode(json_array(json_objects(frame, members)))) == strict(expected)


# -- columns of every kind the hooks receive ---------------------------------------------------

TEXT = st.one_of(
    st.text(max_size=12),  # any code point but surrogates
    st.text(st.sampled_from('"\\\x00\x07\n\x1f\x7f/aé\u2028🙂'), max_size=8),  # what JSON escapes, and near misses
)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOAT = st.floats(allow_infinity=False)  # NaN is a missing value
DATE = st.dates()
NESTED = st.one_of(st.lists(TEXT, max_size=3), st.dictionaries(TEXT, st.one_of(st.integers(), TEXT, st.none()),
                                                                max_size=3))


def column(values: st.SearchStrategy[Any], dtype: Any, rows: int, nulls: bool = True) -> st.SearchStrategy[pd.Series]:
    cell = st.one_of(st.none(), values) if nulls else values
    return st.lists(cell, min_size=rows, max_size=rows).map(lambda cells: pd.Series(cells, dtype=dtype))


def columns(rows: int) -> st.SearchStrategy[pd.Series]:
    """A column as validation or a direct caller may hand it: object, str, numeric, nullable dtypes, mixed."""
    return st.one_of(
        column(TEXT, object, rows),
        column(TEXT, "str", rows),
        column(TEXT, pd.StringDtype("pyarrow"), rows),
        column(INT64, object, rows),
        column(INT64, "int64", rows, nulls=False),
        column(INT64, "Int64", rows),
        column(st.integers(min_value=2**63), object, rows),  # beyond 64 bits
        column(FLOAT, object, rows),
        column(FLOAT, "float64", rows),
        column(st.booleans(), object, rows),
        column(st.booleans(), bool, rows, nulls=False),
        column(st.booleans(), "boolean", rows),
        column(DATE, object, rows),
        column(NESTED, object, rows),
        column(st.one_of(TEXT, INT64, FLOAT, st.booleans(), DATE, NESTED), object, rows),  # mixed kinds
    )


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, Member]]:
    """A frame and a layout: some columns at the top, some nested, perhaps a constant."""
    rows = draw(st.integers(min_value=0, max_value=6))
    count = draw(st.integers(min_value=1, max_value=5))
    names = [f"c{i}" for i in range(count)]
    frame = pd.DataFrame({name: draw(columns(rows)) for name in names})
    frame.index = draw(st.sampled_from([pd.RangeIndex(rows), pd.RangeIndex(100, 100 + rows), pd.Index([7] * rows)]))
    nested = draw(st.lists(st.sampled_from(names), unique=True))
    members: dict[str, Member] = {name: name for name in names if name not in nested}
    if nested:
        members["fields"] = Nested({f"k'{name}\"": name for name in nested})
    if draw(st.booleans()):
        members["lists"] = Constant([1, 2])
    return frame, members


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames())
def test_objects_decode_to_the_records_built_by_hand(case: tuple[pd.DataFrame, dict[str, Member]]) -> None:
    frame, members = case
    assert_same(frame, members)


def test_strings_that_need_escaping() -> None:
    texts = ['say "hi"', "back\\slash", "tab\there", "nul\x00bell\x07", "\x1f", "Chloé 🙂", "\u2028", "", "\"\\\n"]
    frame = pd.DataFrame({"a": pd.Series(texts, dtype=object), "b": pd.Series(texts, dtype="str")})
    assert_same(frame, {"a": "a", "b": "b"})
    assert json_objects(frame, {"a": "a"}).to_pylist()[0] == '{"a":"say \\"hi\\""}'


def test_missing_values_leave_their_key_out_and_an_empty_nested_object_out() -> None:
    frame = pd.DataFrame({
        "email": ["a@x.io", "b@x.io", "c@x.io"],
        "name": pd.Series(["Ann", None, np.nan], dtype=object),
        "score": [1.5, np.nan, np.nan],
        "age": pd.Series([3, None, pd.NA], dtype="Int64"),
    })
    members: dict[str, Member] = {"email": "email", "fields": Nested({"name": "name", "score": "score", "age": "age"})}
    assert decoded(frame, members) == [
        {"email": "a@x.io", "fields": {"name": "Ann", "score": 1.5, "age": 3}},
        {"email": "b@x.io"},
        {"email": "c@x.io"},
    ]


def test_a_row_with_nothing_present_is_an_empty_object() -> None:
    frame = pd.DataFrame({"a": pd.Series([None, "x"], dtype=object), "b": [np.nan, np.nan]})
    assert json_objects(frame, {"a": "a", "b": "b"}).to_pylist() == ["{}", '{"a":"x"}']


def test_floats_stay_floats_and_integers_integers() -> None:
    frame = pd.DataFrame({
        "f": [3.0, -0.0, 1e16, 2.0**53, 0.1, 1e-7],
        "i": pd.Series([3, -1, 10**16, 2**53, 0, 2**63 - 1], dtype="int64"),
        "mixed": pd.Series([1, 2.5, 3.0, 10**30, True, None], dtype=object),
    })
    assert_same(frame, {"f": "f", "i": "i", "mixed": "mixed"})
    assert decoded(frame, {"f": "f"})[0] == {"f": 3.0} and isinstance(decoded(frame, {"f": "f"})[0]["f"], float)


@pytest.mark.parametrize("values", [
    pd.Series([1.0, math.inf]),
    pd.Series([1.0, -math.inf, None], dtype=object),
    pd.Series([1, "x", math.inf], dtype=object),
])
def test_infinity_is_refused(values: pd.Series) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_objects(pd.DataFrame({"v": values}), {"v": "v"})


def test_dates_date_times_and_decimals() -> None:
    frame = pd.DataFrame({
        "d": pd.Series([dt.date(2020, 1, 2), None], dtype=object),
        "mixed": pd.Series([dt.date(2020, 1, 2), dt.datetime(2021, 3, 4, 5, 6, 7)], dtype=object),
        "dec": pd.Series([Decimal("1.50"), Decimal("2")], dtype=object),
    })
    assert decoded(frame, {"d": "d", "mixed": "mixed", "dec": "dec"}) == [
        {"d": "2020-01-02", "mixed": "2020-01-02", "dec": 1.5},
        {"mixed": "2021-03-04T05:06:07", "dec": 2},
    ]


def test_values_msgspec_cannot_encode_go_through_the_hook() -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(["2020-01-02 03:04:05", None])})
    assert json_objects(frame, {"t": "t"}, enc_hook=lambda value: value.isoformat()).to_pylist() == [
        '{"t":"2020-01-02T03:04:05"}', "{}"]
    with pytest.raises(TypeError):
        json_objects(frame, {"t": "t"})


def test_columns_of_concatenated_frames() -> None:
    frame = pd.concat([pd.DataFrame({"a": pd.Series(values, dtype="str")}) for values in (["x", None], ["y"])])
    assert isinstance(pa.array(frame["a"]), pa.ChunkedArray)
    assert decoded(frame, {"a": "a"}) == [{"a": "x"}, {}, {"a": "y"}]


def test_json_array_of_some_objects() -> None:
    objects = json_objects(pd.DataFrame({"n": [1, 2, 3]}), {"n": "n"})
    assert json_array(objects) == b'[{"n":1},{"n":2},{"n":3}]'
    assert json_array(objects.filter(pa.array([True, False, True]))) == b'[{"n":1},{"n":3}]'
    assert json_array(objects.slice(0, 0)) == b"[]"


def test_objects_with_a_comma_after_are_sent_from_their_own_buffer() -> None:
    frame = pd.DataFrame({"a": ["x", None, "z"], "n": [1.5, 2.0, None]})
    plain = json_objects(frame, {"a": "a", "n": "n"})
    separated = json_objects(frame, {"a": "a", "n": "n"}, comma_after=True)
    assert separated.to_pylist() == [text + "," for text in plain.to_pylist()]

    inside = comma_joined(separated)
    assert inside.address == separated.buffers()[2].address, "no copy"
    assert inside.to_pybytes() == comma_joined(plain).to_pybytes() == b",".join(t.encode() for t in plain.to_pylist())
    some = separated.filter(pa.array([True, False, True]))
    assert msgspec.json.decode(json_array(some)) == [{"a": "x", "n": 1.5}, {"a": "z"}]
