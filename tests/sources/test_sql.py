"""SqlSource against real databases: SQLite (a file), PostgreSQL and MariaDB (local servers)."""

from __future__ import annotations

import json
import re
import time
import uuid
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airflow_contacts_provider.exceptions import ConfigurationError
from airflow_contacts_provider.sources import SqlSource
from airflow_contacts_provider.sources.sql import MAX_ROWS_PER_FETCH, STREAMING_CURSORS
from tests.services import POSTGRES_ADDRESS
from tests.sources.chunks import read_all, read_chunks
from tests.sources.conftest import mysql_connection, postgres_connection, sql_hook

COLUMNS = ["id", "email", "first_name", "signup_date", "score", "is_active", "visits"]
SELECT_CONTACTS = "SELECT id, email, first_name, signup_date, score, is_active, visits FROM {table} ORDER BY id"


def contact_rows(count: int) -> list[tuple[Any, ...]]:
    """Contacts with NULL first names every 5th row and NULL visits every 7th (row 0 has both)."""
    return [
        (
            row,
            f"user{row}@example.com",
            None if row % 5 == 0 else f"Name{row}",
            date(2024, 1, 1) + timedelta(days=row),
            row * 0.5,
            row % 2 == 0,
            None if row % 7 == 0 else row,
        )
        for row in range(count)
    ]


def create_contacts(conn_id: str, table: str, column_types: list[str], count: int) -> None:
    hook = sql_hook(conn_id)
    columns = ", ".join(f"{name} {kind}" for name, kind in zip(COLUMNS, column_types, strict=True))
    hook.run(f"CREATE TABLE {table} ({columns})")
    # The driver's own parameter binding, so values are stored as the driver adapts them.
    placeholders = ", ".join([hook.placeholder] * len(COLUMNS))
    with closing(hook.get_conn()) as connection:
        connection.cursor().executemany(f"INSERT INTO {table} VALUES ({placeholders})", contact_rows(count))
        connection.commit()


def assert_common_values(whole: pd.DataFrame, count: int) -> None:
    """What every database returns alike: columns, order, text, floats and NULLs."""
    assert list(whole.columns) == COLUMNS
    assert whole["id"].tolist() == list(range(count))
    assert whole["email"].tolist() == [f"user{row}@example.com" for row in range(count)]
    assert whole["first_name"].isna().tolist() == [row % 5 == 0 for row in range(count)]
    assert whole.loc[1, "first_name"] == "Name1"
    assert whole["score"].tolist() == [row * 0.5 for row in range(count)]
    assert whole["visits"].isna().tolist() == [row % 7 == 0 for row in range(count)]
    assert whole.loc[8, "visits"] == 8


# SQLite: the default embedded warehouse, no server needed.


@pytest.fixture
def sqlite_conn_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    connection = {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_SQLITE", json.dumps(connection))
    return "contacts_test_sqlite"


def test_sqlite_rows_arrive_in_numbered_chunks(sqlite_conn_id: str) -> None:
    column_types = ["INTEGER", "TEXT", "TEXT", "DATE", "REAL", "INTEGER", "INTEGER"]
    create_contacts(sqlite_conn_id, "contacts", column_types, 25)

    chunks = read_chunks(SqlSource(sqlite_conn_id, SELECT_CONTACTS.format(table="contacts")), 10)

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert_common_values(whole, 25)
    # SQLite stores dates as ISO text and booleans as integers.
    assert whole.loc[3, "signup_date"] == "2024-01-04"
    assert whole["is_active"].tolist() == [int(row % 2 == 0) for row in range(25)]


def test_sqlite_query_parameters(sqlite_conn_id: str) -> None:
    create_contacts(sqlite_conn_id, "contacts", ["INTEGER", "TEXT", "TEXT", "DATE", "REAL", "INTEGER", "INTEGER"], 25)

    source = SqlSource(sqlite_conn_id, "SELECT email FROM contacts WHERE id >= ? ORDER BY id", parameters=(20,))

    assert read_all(source, 3)["email"].tolist() == [f"user{row}@example.com" for row in range(20, 25)]


def test_sqlite_empty_result_yields_no_chunks(sqlite_conn_id: str) -> None:
    sql_hook(sqlite_conn_id).run("CREATE TABLE contacts (email TEXT)")

    assert read_chunks(SqlSource(sqlite_conn_id, "SELECT email FROM contacts"), 10) == []


def test_connection_without_a_sql_hook_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_NOT_SQL", json.dumps({"conn_type": "http", "host": "example.com"}))

    with pytest.raises(ConfigurationError, match="contacts_not_sql"):
        next(SqlSource("contacts_not_sql", "SELECT 1").iter_chunks(10))


# PostgreSQL


POSTGRES_TYPES = ["integer", "text", "text", "date", "double precision", "boolean", "integer"]


@pytest.mark.postgres
def test_postgres_rows_keep_their_types(postgres_conn_id: str, postgres_table: str) -> None:
    create_contacts(postgres_conn_id, postgres_table, POSTGRES_TYPES, 25)

    chunks = read_chunks(SqlSource(postgres_conn_id, SELECT_CONTACTS.format(table=postgres_table)), 10)

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert_common_values(whole, 25)
    assert whole["signup_date"].tolist() == [date(2024, 1, 1) + timedelta(days=row) for row in range(25)]
    assert all(chunk["is_active"].dtype == bool for chunk in chunks)
    assert whole["is_active"].tolist() == [row % 2 == 0 for row in range(25)]
    assert whole["score"].dtype == "float64"


@pytest.mark.postgres
def test_postgres_query_parameters_and_empty_result(postgres_conn_id: str, postgres_table: str) -> None:
    create_contacts(postgres_conn_id, postgres_table, POSTGRES_TYPES, 25)
    sql = f"SELECT email FROM {postgres_table} WHERE id >= %(first)s ORDER BY id"

    tail = read_all(SqlSource(postgres_conn_id, sql, parameters={"first": 22}), 10)
    assert tail["email"].tolist() == ["user22@example.com", "user23@example.com", "user24@example.com"]
    assert read_chunks(SqlSource(postgres_conn_id, sql, parameters={"first": 1000}), 10) == []


def postgres_sessions(observer_conn_id: str, application_name: str) -> list[tuple[str, str]]:
    """(state, last query) of the server sessions opened under ``application_name``."""
    return sql_hook(observer_conn_id).get_records(
        "SELECT state, query FROM pg_stat_activity WHERE application_name = %s", parameters=[application_name]
    )


@pytest.fixture
def traced_postgres(monkeypatch: pytest.MonkeyPatch, postgres_conn_id: str) -> tuple[str, str]:
    """A connection whose server sessions can be found by their application name."""
    application_name = f"contacts_source_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_TRACED", postgres_connection(application_name=application_name))
    return "contacts_test_traced", application_name


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("row_count", "chunk_size", "rows_per_fetch"),
    [(1_000, 100, 100), (30_000, 25_000, MAX_ROWS_PER_FETCH)],
)
def test_postgres_fetches_a_bounded_number_of_rows_per_round_trip(
    postgres_conn_id: str,
    postgres_table: str,
    traced_postgres: tuple[str, str],
    row_count: int,
    chunk_size: int,
    rows_per_fetch: int,
) -> None:
    """A client-side cursor would have run the SELECT and received every row; the server shows it did not."""
    traced_conn_id, application_name = traced_postgres
    sql_hook(postgres_conn_id).run(
        f"CREATE TABLE {postgres_table} AS SELECT i AS id, 'user' || i || '@example.com' AS email "
        f"FROM generate_series(0, {row_count - 1}) AS i"
    )
    source = SqlSource(traced_conn_id, f"SELECT id, email FROM {postgres_table} ORDER BY id")

    # closing(): should an assertion fail, the open transaction must not block dropping the table.
    with closing(source.iter_chunks(chunk_size)) as chunks:
        first_chunk = next(chunks)

        [(state, last_query)] = postgres_sessions(postgres_conn_id, application_name)
        assert state == "idle in transaction"  # the cursor is still open, holding the rows not read yet
        fetch = re.fullmatch(r'FETCH FORWARD (\d+) FROM "?contacts_source_[0-9a-f]+"?', last_query.strip())
        assert fetch is not None, last_query
        assert int(fetch[1]) == rows_per_fetch
        assert len(first_chunk) == chunk_size
        assert sum(len(chunk) for chunk in chunks) == row_count - chunk_size


@pytest.mark.postgres
def test_postgres_connection_closes_when_reading_stops_early(
    postgres_conn_id: str, postgres_table: str, traced_postgres: tuple[str, str]
) -> None:
    traced_conn_id, application_name = traced_postgres
    sql_hook(postgres_conn_id).run(f"CREATE TABLE {postgres_table} AS SELECT generate_series(1, 500) AS id")
    with closing(SqlSource(traced_conn_id, f"SELECT id FROM {postgres_table}").iter_chunks(100)) as chunks:
        next(chunks)
        assert len(postgres_sessions(postgres_conn_id, application_name)) == 1

    # The server ends the session a moment after the client says goodbye.
    deadline = time.monotonic() + 10
    while postgres_sessions(postgres_conn_id, application_name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert postgres_sessions(postgres_conn_id, application_name) == []


@pytest.mark.postgres
def test_postgres_server_side_cursor_with_psycopg2(postgres_conn_id: str) -> None:
    """The Postgres hook may connect with psycopg2, whose named cursors describe columns only after a fetch."""
    import psycopg2

    host, port = POSTGRES_ADDRESS
    connection = psycopg2.connect(host=host, port=port, user="postgres", dbname="test")
    try:
        cursor = STREAMING_CURSORS["postgres"](connection)
        cursor.execute("SELECT i AS id, 'user' || i AS name FROM generate_series(1, 25) AS i")
        assert cursor.name.startswith("contacts_source_")
        assert len(cursor.fetchmany(10)) == 10
        assert [column[0] for column in cursor.description] == ["id", "name"]
        cursor.close()
    finally:
        connection.close()


# MariaDB / MySQL


MYSQL_TYPES = ["INT", "VARCHAR(255)", "VARCHAR(100)", "DATE", "DOUBLE", "BOOLEAN", "INT"]


@pytest.fixture(params=["mysqlclient", "mysql-connector-python"])
def mysql_client_conn_id(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, mysql_conn_id: str) -> str:
    """The test database through each client library the MySQL hook can connect with."""
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_MYSQL_CLIENT", mysql_connection(client=request.param))
    return "contacts_test_mysql_client"


@pytest.mark.mysql
def test_mysql_rows_keep_their_types(mysql_client_conn_id: str, mysql_conn_id: str, mysql_table: str) -> None:
    create_contacts(mysql_conn_id, mysql_table, MYSQL_TYPES, 25)

    chunks = read_chunks(SqlSource(mysql_client_conn_id, SELECT_CONTACTS.format(table=mysql_table)), 10)

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert_common_values(whole, 25)
    assert whole["signup_date"].tolist() == [date(2024, 1, 1) + timedelta(days=row) for row in range(25)]
    # BOOLEAN is TINYINT(1) in MySQL and MariaDB.
    assert whole["is_active"].tolist() == [int(row % 2 == 0) for row in range(25)]


@pytest.mark.mysql
def test_mysql_reads_through_an_unbuffered_cursor(mysql_client_conn_id: str) -> None:
    hook = sql_hook(mysql_client_conn_id)
    connection = hook.get_conn()
    try:
        cursor = STREAMING_CURSORS[hook.conn_type](connection)
        # mysqlclient's SSCursor, or mysql-connector's cursor with buffered=False: rows stay on the socket.
        assert type(cursor).__name__ in {"SSCursor", "CMySQLCursor", "MySQLCursor"}, type(cursor)
        assert not getattr(cursor, "_buffered", False)
        cursor.close()
    finally:
        connection.close()


@pytest.mark.mysql
def test_mysql_stops_early_and_reads_empty_results(mysql_conn_id: str, mysql_table: str) -> None:
    create_contacts(mysql_conn_id, mysql_table, MYSQL_TYPES, 2000)
    source = SqlSource(mysql_conn_id, f"SELECT id, email FROM {mysql_table} ORDER BY id")
    with closing(source.iter_chunks(100)) as chunks:
        assert next(chunks)["id"].tolist() == list(range(100))

    empty = SqlSource(mysql_conn_id, f"SELECT email FROM {mysql_table} WHERE id < %s", parameters=(0,))
    assert read_chunks(empty, 10) == []
