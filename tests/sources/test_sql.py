"""SqlSource against real databases: SQLite (a file), PostgreSQL and MariaDB (local servers)."""

from __future__ import annotations

import importlib
import json
import re
import sys
import time
import traceback
import uuid
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pytest
from airflow.sdk import BaseHook

from airflow_contacts_provider.exceptions import ConfigurationError
from airflow_contacts_provider.sources import SqlSource
from airflow_contacts_provider.sources import sql as sql_module
from airflow_contacts_provider.sources.sql import (
    ADBC_BATCH_BYTES,
    MAX_ROWS_PER_FETCH,
    POSTGRES_HOOK_EXTRAS,
    STREAMING_CURSORS,
    _chunk_frames,
    _inline_parameters,
    _libpq_settings,
    _libpq_uri,
    _reads_through_adbc,
)
from tests.services import POSTGRES_ADDRESS
from tests.sources.chunks import read_all, read_chunks
from tests.sources.conftest import mysql_connection, postgres_connection, sql_hook

if TYPE_CHECKING:
    pass

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


@pytest.fixture(params=["adbc", "cursor"])
def postgres_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How SqlSource reads PostgreSQL: through ADBC, or with the hook's cursor as when ADBC is not installed."""
    if request.param == "cursor":
        monkeypatch.setitem(sys.modules, "adbc_driver_postgresql", None)  # makes its import fail
    return request.param


@pytest.mark.postgres
def test_postgres_rows_keep_their_types(postgres_reader: str, postgres_conn_id: str, postgres_table: str) -> None:
    create_contacts(postgres_conn_id, postgres_table, POSTGRES_TYPES, 25)

    chunks = read_chunks(SqlSource(postgres_conn_id, SELECT_CONTACTS.format(table=postgres_table)), 10)

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert_common_values(whole, 25)
    assert whole["signup_date"].tolist() == [date(2024, 1, 1) + timedelta(days=row) for row in range(25)]
    assert all(chunk["is_active"].dtype == bool for chunk in chunks)
    assert whole["is_active"].tolist() == [row % 2 == 0 for row in range(25)]
    assert whole["score"].dtype == "float64"
    # ADBC keeps the integer column's width; psycopg's Python ints become int64.
    assert whole["id"].dtype == {"adbc": "int32", "cursor": "int64"}[postgres_reader]


@pytest.mark.postgres
def test_postgres_query_parameters_and_empty_result(
    postgres_reader: str, postgres_conn_id: str, postgres_table: str
) -> None:
    create_contacts(postgres_conn_id, postgres_table, POSTGRES_TYPES, 25)
    sql = f"SELECT email FROM {postgres_table} WHERE id >= %(first)s AND email LIKE %(like)s ORDER BY id"
    source = SqlSource(postgres_conn_id, sql, parameters={"first": 22, "like": "user%"})

    assert read_all(source, 10)["email"].tolist() == ["user22@example.com", "user23@example.com", "user24@example.com"]
    assert read_chunks(SqlSource(postgres_conn_id, sql, parameters={"first": 1000, "like": "%"}), 10) == []


@pytest.mark.postgres
def test_postgres_text_parameters_take_the_type_the_server_infers(postgres_reader: str, postgres_conn_id: str) -> None:
    """psycopg leaves text parameters untyped, so one compares with a date; ADBC's own binding would send text."""
    sql = "SELECT d FROM generate_series(DATE '2024-01-01', DATE '2024-01-05', '1 day') AS d WHERE d::date > %s"

    frame = read_all(SqlSource(postgres_conn_id, sql, parameters=["2024-01-03"]), 10)

    assert len(frame) == 2



@pytest.mark.postgres
@pytest.mark.parametrize("ending", [";", " ;\n", "\n-- the last active contacts\n", " -- ordered by id"])
def test_postgres_query_ending_in_a_semicolon_or_a_comment_is_read(
    postgres_reader: str, postgres_conn_id: str, postgres_table: str, ending: str
) -> None:
    """A ``.sql`` file often ends so; the ADBC driver wraps the query in ``COPY (...)``, where neither may end it."""
    create_contacts(postgres_conn_id, postgres_table, POSTGRES_TYPES, 5)
    sql = f"SELECT email, '{{\"plan\": \"pro\"}}'::jsonb AS profile FROM {postgres_table} ORDER BY id{ending}"

    frame = read_all(SqlSource(postgres_conn_id, sql), 10)

    assert frame["email"].tolist() == [f"user{row}@example.com" for row in range(5)]
    assert frame["profile"].tolist() == [{"plan": "pro"}] * 5

@pytest.mark.postgres
@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_postgres_parameters_are_quoted_in_by_the_hooks_driver(driver: str) -> None:
    """Both drivers the Postgres hook connects with quote text and escape quotes the same way."""
    host, port = POSTGRES_ADDRESS
    connect = importlib.import_module(driver).connect
    with closing(connect(host=host, port=port, user="postgres", dbname="test")) as connection:
        sql = _inline_parameters(connection, "SELECT %s AS a, %s AS b, '100%%' AS c", ["it's", 3])
        assert sql == "SELECT 'it''s' AS a, 3 AS b, '100%' AS c"
        named = _inline_parameters(connection, "SELECT %(x)s, %(x)s", {"x": date(2024, 1, 2)})
        assert named.startswith("SELECT '2024-01-02'")


def postgres_sessions(observer_conn_id: str, application_name: str) -> list[tuple[str, str]]:
    """(state, last query) of the server sessions opened under ``application_name``."""
    return sql_hook(observer_conn_id).get_records(
        "SELECT state, query FROM pg_stat_activity WHERE application_name = %s", parameters=[application_name]
    )


@pytest.fixture
def traced_postgres(monkeypatch: pytest.MonkeyPatch, postgres_conn_id: str) -> tuple[str, str]:
    """A connection whose server sessions can be found by their application name (a libpq setting in the extra)."""
    application_name = f"contacts_source_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_TRACED", postgres_connection(application_name=application_name))
    return "contacts_test_traced", application_name


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("row_count", "chunk_size", "rows_per_fetch"),
    [(1_000, 100, 100), (30_000, 25_000, MAX_ROWS_PER_FETCH)],
)
def test_postgres_cursor_fetches_a_bounded_number_of_rows_per_round_trip(
    monkeypatch: pytest.MonkeyPatch,
    postgres_conn_id: str,
    postgres_table: str,
    traced_postgres: tuple[str, str],
    row_count: int,
    chunk_size: int,
    rows_per_fetch: int,
) -> None:
    """Without ADBC: a client-side cursor would have run the SELECT and received every row; the server says not."""
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql", None)
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
def test_postgres_adbc_streams_the_result_in_batches_of_bounded_size(
    postgres_conn_id: str, postgres_table: str, traced_postgres: tuple[str, str]
) -> None:
    """The server is still sending when the first chunk arrives, and no frame holds much more than a batch's bytes."""
    traced_conn_id, application_name = traced_postgres
    row_count = 200_000  # 23 MB of COPY data, more than the loopback socket buffers hold
    sql_hook(postgres_conn_id).run(
        f"CREATE TABLE {postgres_table} AS SELECT i AS id, repeat('x', 100) AS padding "
        f"FROM generate_series(1, {row_count}) AS i"
    )
    source = SqlSource(traced_conn_id, f"SELECT id, padding FROM {postgres_table} ORDER BY id")

    with closing(source.iter_chunks(1_000)) as chunks:
        assert next(chunks)["id"].tolist() == list(range(1, 1_001))
        [(state, last_query)] = postgres_sessions(postgres_conn_id, application_name)
        assert (state, last_query.split()[0]) == ("active", "COPY"), (state, last_query)
        assert sum(len(chunk) for chunk in chunks) == row_count - 1_000

    # Over 100 bytes a row (4 + 100 of data, 4 of length per value): the driver's record batches
    # hold at most ADBC_BATCH_BYTES of them, and no more than a chunk's rows when chunks are small;
    # they are joined into frames of exactly a chunk's rows.
    batch_sizes: list[int] = []

    def counted(batches: Any) -> Any:
        for batch in batches:
            batch_sizes.append(batch.num_rows)
            yield batch

    def spied(batches: Any, chunk_size: int, postgres_types: Any) -> Any:
        return chunk_frames(counted(batches), chunk_size, postgres_types)

    chunk_frames = sql_module._chunk_frames
    for chunk_size, most_rows in [(30_000, ADBC_BATCH_BYTES // 100), (100, 100)]:
        batch_sizes.clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sql_module, "_chunk_frames", spied)
            frame_sizes = [len(frame) for frame in source._read_frames(chunk_size)]
        assert sum(frame_sizes) == sum(batch_sizes) == row_count
        assert max(batch_sizes) <= most_rows, (chunk_size, batch_sizes[:3])
        assert set(frame_sizes[:-1]) == {chunk_size} and 0 < frame_sizes[-1] <= chunk_size, frame_sizes[-3:]


def test_chunk_frames_cut_record_batches_into_chunks_in_order() -> None:
    batches = [pa.record_batch({"id": list(range(start, start + size))})
               for start, size in [(0, 7), (7, 3), (10, 12), (22, 1)]]
    frames = list(_chunk_frames(batches, 5, ["integer"]))
    assert [len(frame) for frame in frames] == [5, 5, 5, 5, 3]
    assert pd.concat(frames)["id"].tolist() == list(range(23))
    assert list(_chunk_frames([], 5, ["integer"])) == []


@pytest.mark.postgres
def test_postgres_rows_before_a_failing_row_arrive_first(postgres_reader: str, postgres_conn_id: str) -> None:
    """A query failing at row 450 has streamed its first chunks of 100 by then (the operator's retry relies on it)."""
    sql = "SELECT i AS id, CASE WHEN i = 450 THEN 1 / (i - 450) ELSE 0 END AS bad FROM generate_series(1, 1000) AS i"
    received = []
    with pytest.raises(Exception, match="division by zero"):  # noqa: B017 - the driver's own error class
        for chunk in SqlSource(postgres_conn_id, sql).iter_chunks(100):
            received.append(chunk)

    assert 3 <= len(received) <= 4
    assert pd.concat(received)["id"].tolist() == list(range(1, 100 * len(received) + 1))


@pytest.mark.postgres
def test_postgres_connection_closes_when_reading_stops_early(
    postgres_reader: str, postgres_conn_id: str, postgres_table: str, traced_postgres: tuple[str, str]
) -> None:
    traced_conn_id, application_name = traced_postgres
    sql_hook(postgres_conn_id).run(f"CREATE TABLE {postgres_table} AS SELECT generate_series(1, 500000) AS id")
    with closing(SqlSource(traced_conn_id, f"SELECT id FROM {postgres_table}").iter_chunks(100)) as chunks:
        next(chunks)
        assert len(postgres_sessions(postgres_conn_id, application_name)) == 1

    # The server ends the session a moment after the client says goodbye.
    deadline = time.monotonic() + 10
    while postgres_sessions(postgres_conn_id, application_name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert postgres_sessions(postgres_conn_id, application_name) == []


@pytest.mark.postgres
def test_postgres_libpq_settings_in_the_extra_reach_the_driver(
    postgres_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sslmode=require against the test server, which has no TLS: libpq refuses, so the setting got through."""
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_TLS", postgres_connection(sslmode="require"))

    with pytest.raises(Exception, match="SSL"):
        next(SqlSource("contacts_test_tls", "SELECT 1 AS one").iter_chunks(10))


def test_libpq_settings_follow_the_postgres_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connection fields plus every extra key but the hook's own, as libpq keywords."""
    connection = {
        "conn_type": "postgres", "host": "/var/run/postgresql", "port": 5433, "login": "reader",
        "password": "p@ss word", "schema": "warehouse",
        "extra": {"sslmode": "verify-full", "connect_timeout": 5, "cursor": "dictcursor", "iam": False},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_SETTINGS", json.dumps(connection))

    settings = _libpq_settings(BaseHook.get_connection("contacts_test_settings"))

    assert settings == {
        "host": "/var/run/postgresql", "port": "5433", "user": "reader", "password": "p@ss word",
        "dbname": "warehouse", "sslmode": "verify-full", "connect_timeout": "5",
    }
    assert _libpq_uri(settings) == (
        "postgresql://?host=%2Fvar%2Frun%2Fpostgresql&port=5433&user=reader&password=p%40ss%20word"
        "&dbname=warehouse&sslmode=verify-full&connect_timeout=5"
    )
    assert _reads_through_adbc(BaseHook.get_connection("contacts_test_settings"))


def test_the_extra_keys_kept_from_libpq_are_the_postgres_hooks_own() -> None:
    """The list kept so ADBC reads need not import the hook must follow the installed hook."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    assert set(PostgresHook.ignored_extra_options) == POSTGRES_HOOK_EXTRAS


def test_iam_connections_log_in_with_the_hooks_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    connection = {"conn_type": "postgres", "host": "db.example.com", "login": "me", "schema": "warehouse",
                  "extra": {"iam": True, "aws_conn_id": "aws_test", "sslmode": "require"}}
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_IAM", json.dumps(connection))
    monkeypatch.setattr(PostgresHook, "get_iam_token", lambda self, conn: ("iam_user", "token-123", 5439))

    settings = _libpq_settings(BaseHook.get_connection("contacts_test_iam"))

    assert settings == {"host": "db.example.com", "port": "5439", "user": "iam_user", "password": "token-123",
                        "dbname": "warehouse", "sslmode": "require"}


@pytest.mark.postgres
def test_postgres_read_through_adbc_needs_no_hook(
    postgres_conn_id: str, postgres_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without parameters or IAM, the connection alone is enough: the hook's psycopg imports are not paid."""
    create_contacts(postgres_conn_id, postgres_table, POSTGRES_TYPES, 25)
    monkeypatch.setattr(SqlSource, "get_hook", lambda self: pytest.fail("the Postgres hook was built"))

    frame = read_all(SqlSource(postgres_conn_id, f"SELECT email FROM {postgres_table} ORDER BY id"), 10)

    assert frame["email"].tolist() == [f"user{row}@example.com" for row in range(25)]


@pytest.mark.parametrize("flag", ["redshift", "redshift-serverless"])
def test_redshift_is_read_with_a_cursor(monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    """Redshift speaks the PostgreSQL protocol but has no COPY ... TO STDOUT, which ADBC reads with."""
    connection = {"conn_type": "postgres", "host": "cluster.example.com", "extra": {flag: True}}
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_REDSHIFT", json.dumps(connection))

    assert not _reads_through_adbc(BaseHook.get_connection("contacts_test_redshift"))


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("password", "port"),
    [
        pytest.param("s3cret-Tail\x00end", POSTGRES_ADDRESS[1], id="quoted-by-libpq"),
        pytest.param("s3cret/Tail@end\x00", POSTGRES_ADDRESS[1], id="percent-encoded"),
        pytest.param("s3cret/Tail@end", 1, id="server-unreachable"),
    ],
)
def test_postgres_password_stays_out_of_errors(monkeypatch: pytest.MonkeyPatch, password: str, port: int) -> None:
    host, _ = POSTGRES_ADDRESS
    connection = {"conn_type": "postgres", "host": host, "port": port, "login": "postgres", "schema": "test",
                  "password": password}
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_SECRET", json.dumps(connection))

    with pytest.raises(Exception) as raised:  # noqa: B017 - whichever error, it must not carry the password
        next(SqlSource("contacts_test_secret", "SELECT 1 AS one").iter_chunks(10))

    shown = "".join(traceback.format_exception(raised.value))
    assert "Failed to connect" in shown
    assert "s3cret" not in shown


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
