"""PostgreSQL read through ADBC or through the hook's cursor: the same values, so validation sends and rejects alike.

Validation tells values apart by their Python type (text, Decimal, date, dict, list...),
so a column must arrive the same whichever way the source read it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.sources import SqlSource
from airflow_contacts_provider.validation import ContactValidator
from tests.sources.chunks import read_all
from tests.sources.conftest import sql_hook

pytestmark = pytest.mark.postgres

COLUMNS = """
    id integer, email text, name text, visits integer, small smallint, score double precision, ratio real,
    price numeric, total numeric(12, 2), flag numeric, active boolean, signup date, seen_at timestamptz,
    local_at timestamp, profile jsonb, meta json, tags text[], note jsonb
"""
ROWS = """
SELECT
    i,
    CASE i % 10 WHEN 0 THEN NULL WHEN 1 THEN '  User' || i || '@Example.COM ' WHEN 2 THEN 'not-an-address'
                WHEN 3 THEN 'user1@example.com' ELSE 'user' || i || '@example.com' END,
    CASE WHEN i % 4 = 0 THEN NULL ELSE 'Name' || i END,
    CASE WHEN i % 7 = 0 THEN NULL ELSE i END,
    i,
    i * 0.5,
    i / 10.0,
    CASE WHEN i % 9 = 0 THEN 'NaN'::numeric ELSE i * 1.25 END,
    i * 1.1,
    CASE i % 3 WHEN 0 THEN 0 WHEN 1 THEN 1.0 ELSE 2 END,
    CASE WHEN i % 5 = 0 THEN NULL ELSE i % 2 = 0 END,
    DATE '2024-01-01' + i,
    TIMESTAMPTZ '2024-01-01 10:00:00+02' + i * INTERVAL '1 hour',
    TIMESTAMP '2024-01-01 10:00:00' + i * INTERVAL '1 minute',
    CASE WHEN i % 11 = 0 THEN '"just text"'::jsonb WHEN i % 6 = 0 THEN '[1, {"a": 2.5}]'::jsonb
         ELSE jsonb_build_object('plan', 'pro', 'n', i) END,
    CASE WHEN i % 13 = 0 THEN json_build_object('k', i) END,
    CASE WHEN i % 12 = 0 THEN NULL WHEN i % 8 = 0 THEN '{}'::text[] WHEN i % 5 = 0 THEN ARRAY['x', NULL]
         ELSE ARRAY['a', 'b' || i] END,
    CASE WHEN i % 17 = 0 THEN '{"x": 1}'::jsonb WHEN i % 19 = 0 THEN '"quoted"'::jsonb END
FROM generate_series(0, 59) AS i
"""

SPECS = {
    spec.name: spec
    for spec in [
        FieldSpec(name="email", type=FieldType.TEXT, required=True),
        FieldSpec(name="name", type=FieldType.TEXT),
        FieldSpec(name="visits", type=FieldType.INTEGER),
        FieldSpec(name="small", type=FieldType.INTEGER),
        FieldSpec(name="score", type=FieldType.FLOAT),
        FieldSpec(name="ratio", type=FieldType.FLOAT),
        FieldSpec(name="total", type=FieldType.TEXT),
        FieldSpec(name="flag", type=FieldType.BOOLEAN),
        FieldSpec(name="active", type=FieldType.BOOLEAN),
        FieldSpec(name="signup", type=FieldType.DATE),
        FieldSpec(name="seen_at", type=FieldType.DATETIME),
        FieldSpec(name="profile", type=FieldType.JSON),
        FieldSpec(name="tags", type=FieldType.TAGS),
        FieldSpec(name="note", type=FieldType.TEXT),
        FieldSpec(name="customFields.*", type=FieldType.JSON),
    ]
}
"""One field of each type, and an open JSON pattern (Migma's ``customFields.*``) that takes any single value."""
MAPPING = {
    **{column: column for column in ["email", "name", "visits", "small", "score", "ratio", "total", "flag", "active",
                                     "signup", "seen_at", "profile", "tags", "note"]},
    "price": "customFields.price",
    "local_at": "customFields.local_at",
    "meta": "customFields.meta",
}


@pytest.fixture
def typed_table(postgres_conn_id: str, postgres_table: str) -> Iterator[str]:
    sql_hook(postgres_conn_id).run(f"CREATE TABLE {postgres_table} ({COLUMNS}); INSERT INTO {postgres_table} {ROWS}")
    yield f"SELECT * FROM {postgres_table} ORDER BY id"


def read(conn_id: str, sql: str, monkeypatch: pytest.MonkeyPatch, reader: str) -> pd.DataFrame:
    """The whole query in chunks of 7, through ADBC or through the cursor (ADBC made unimportable)."""
    with monkeypatch.context() as patch:
        if reader == "cursor":
            patch.setitem(sys.modules, "adbc_driver_postgresql", None)
        return read_all(SqlSource(conn_id, sql), 7)


def validate(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contacts and rejects of the frame, validated in the same chunks of 7 it was read in."""
    validator = ContactValidator(SPECS, MAPPING, "migma")
    results = [validator.validate(frame.iloc[start:start + 7]) for start in range(0, len(frame), 7)]
    return pd.concat([result.contacts for result in results]), pd.concat([result.rejects for result in results])


def plain(values: pd.Series) -> list[Any]:
    """Values as Python objects, NULL as None whether the reader gave None or NaN; NaN numerics comparable."""
    return [None if value is None or (isinstance(value, float) and math.isnan(value))
            else "Decimal NaN" if isinstance(value, Decimal) and value.is_nan() else value
            for value in values.tolist()]


def test_both_readers_give_the_same_python_values(
    postgres_conn_id: str, typed_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    through_adbc = read(postgres_conn_id, typed_table, monkeypatch, "adbc")
    through_cursor = read(postgres_conn_id, typed_table, monkeypatch, "cursor")

    assert list(through_adbc.columns) == list(through_cursor.columns)
    for column in through_adbc.columns:
        assert plain(through_adbc[column]) == plain(through_cursor[column]), column
    # The values behind that equality, as psycopg gives them.
    row = through_adbc.loc[1]
    assert (row["price"], row["total"], row["ratio"]) == (Decimal("1.25"), Decimal("1.10"), 0.1)
    assert row["profile"] == {"plan": "pro", "n": 1}
    assert row["tags"] == ["a", "b1"]
    assert through_adbc.loc[5, "tags"] == ["x", None]
    assert through_adbc.loc[8, "tags"] == []
    assert isinstance(row["signup"], date)
    assert str(through_adbc["seen_at"].dt.tz) in {"UTC", "Etc/UTC"}
    assert through_adbc.loc[19, "note"] == "quoted"


def test_validation_sends_and_rejects_the_same_rows_either_way(
    postgres_conn_id: str, typed_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    adbc_contacts, adbc_rejects = validate(read(postgres_conn_id, typed_table, monkeypatch, "adbc"))
    cursor_contacts, cursor_rejects = validate(read(postgres_conn_id, typed_table, monkeypatch, "cursor"))

    pd.testing.assert_frame_equal(adbc_contacts, cursor_contacts, check_exact=True)
    pd.testing.assert_frame_equal(adbc_rejects, cursor_rejects, check_exact=True)
    # Both sides hold real work: contacts with converted values, and rejects for many reasons.
    assert len(adbc_contacts) > 10
    assert adbc_contacts.loc[1, "flag"] == True  # noqa: E712 - from numeric 1.0, which as text would be refused
    assert adbc_contacts.loc[1, "ratio"] == 0.1
    assert adbc_contacts.loc[1, "customFields.price"] == 1.25
    reasons = " | ".join(adbc_rejects["reason"].astype(str))
    for expected in ["flag: not a boolean", "note: not text", "customFields.meta: not a single value",
                     "profile: not valid JSON", "duplicate of row 1", "email: missing",
                     "email: invalid syntax"]:
        assert expected in reasons
