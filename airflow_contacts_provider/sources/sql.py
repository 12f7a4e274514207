"""Contacts from any SQL database Airflow has a common.sql hook for, read without loading the result.

PostgreSQL is read through Apache Arrow's ADBC driver when it is installed (the
``postgres`` extra installs it): rows arrive as typed Arrow record batches, several
times faster than building them from DB-API tuples. Every other database, and
PostgreSQL without the driver or behind Redshift, is read with a DB-API cursor.

Most DB-API drivers hold a whole result client-side as soon as ``execute`` returns,
so ``fetchmany`` alone does not bound memory. For the drivers that do, this module
opens a cursor that streams instead; every other driver gets a plain cursor read
with ``fetchmany`` (SQLite, for one, already steps through rows lazily).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook

from airflow_contacts_provider.exceptions import ConfigurationError, ContactsProviderError
from airflow_contacts_provider.sources.base import ContactSource

if TYPE_CHECKING:
    from adbc_driver_manager import AdbcStatement
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk import Connection

SqlParameters = Mapping[str, Any] | Sequence[Any]


def _postgres_server_side_cursor(connection: Any) -> Any:
    """A named cursor: the server keeps the result and each ``fetchmany(n)`` is one ``FETCH FORWARD n``.

    Chosen over ``COPY ... TO STDOUT``: rows arrive as typed Python values (dates,
    booleans, NULL as ``None``) instead of CSV text to re-parse and re-type, and it
    is no slower (500,000 contacts in about 1.3 s either way, CSV parsed by
    ``pd.read_csv``). Works the same with psycopg2 and psycopg 3, whichever the
    Postgres hook connects with.
    """
    return connection.cursor(name=f"contacts_source_{uuid.uuid4().hex}")


def _mysql_unbuffered_cursor(connection: Any) -> Any:
    """A cursor reading rows off the socket as they are fetched (``mysql_use_result``), not all at once.

    The MySQL hook connects with mysqlclient (``MySQLdb``) by default, or with
    mysql-connector-python when the connection's extra says ``"client"``.
    """
    if type(connection).__module__.startswith("MySQLdb"):
        from MySQLdb.cursors import SSCursor

        return connection.cursor(SSCursor)
    return connection.cursor(buffered=False)


STREAMING_CURSORS: dict[str, Callable[[Any], Any]] = {
    "postgres": _postgres_server_side_cursor,
    "mysql": _mysql_unbuffered_cursor,
}
"""How to open a cursor whose memory is bounded by ``fetchmany``, by hook ``conn_type``.

A hook type not listed here gets the driver's default cursor.
"""


MAX_ROWS_PER_FETCH = 10_000
"""The most rows fetched in one round trip, whatever the chunk size.

Rows arrive as Python tuples, several times the size of the DataFrame built from
them; fetching a large chunk in pieces keeps one piece of tuples alive at a time,
and ``ContactSource.iter_chunks`` joins the pieces into chunks of the size asked.
"""


def _fetch_frames(cursor: Any, rows_per_fetch: int) -> Iterator[pd.DataFrame]:
    """Frames of at most ``rows_per_fetch`` rows until the cursor's result is exhausted.

    :param cursor: a DB-API cursor that has executed a query.
    :param rows_per_fetch: rows asked for per ``fetchmany``.
    """
    columns: list[str] | None = None
    while True:
        rows = cursor.fetchmany(rows_per_fetch)
        if not rows:
            return
        # A psycopg2 named cursor describes its columns only after the first fetch.
        columns = columns or [column[0] for column in cursor.description]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        del rows  # free the tuples before the next fetch, not after it
        yield frame


# -- PostgreSQL through ADBC -------------------------------------------------------------------------

ADBC_BATCH_BYTES = 1 << 20
"""The most of the server's COPY stream the driver turns into one Arrow record batch.

A byte budget bounds memory whatever the row width (1 MiB is about 8,000 rows of the
11-column benchmark table); batches are joined into chunks as Arrow (``_chunk_frames``).
Measured at 1M rows: as fast as 8 MiB batches, and a peak about 30 MiB lower.
"""

ADBC_MIN_ROW_BYTES = 64
"""Smaller chunks get smaller batches: ``chunk_size`` rows of this many bytes.

So a batch holds about a chunk's rows or fewer (a contact row is rarely narrower),
and with small chunks rows reach the caller soon after the server sends them: a
query failing halfway delivers the rows before the failure first, as a cursor does.
"""

REDSHIFT_EXTRAS = ("redshift", "redshift-serverless")
"""Extra flags of Postgres connections to Redshift, which has no ``COPY ... TO STDOUT`` (how ADBC reads)."""


def _adbc_postgres() -> ModuleType | None:
    """ADBC's PostgreSQL driver, or ``None`` when it is not installed.

    Its low-level API, not its DB-API module: that one imports ``pyarrow.dataset``, which
    costs a worker about 70 MiB of memory for nothing a sync uses.
    """
    try:
        import adbc_driver_postgresql
    except ImportError:
        return None
    return adbc_driver_postgresql


POSTGRES_HOOK_EXTRAS = frozenset({
    "iam", "redshift", "redshift-serverless", "cursor", "cluster-identifier", "workgroup-name", "aws_conn_id",
    "sqlalchemy_scheme", "sqlalchemy_query", "azure_conn_id",
})
"""Extra keys the Postgres hook reads itself instead of passing them to libpq (its ``ignored_extra_options``).

Listed here so that a plain PostgreSQL read through ADBC needs only the connection: the hook's
module imports both psycopg drivers, about 12 MiB resident for connections ADBC makes itself.
A test checks this list against the installed hook's.
"""


def _reads_through_adbc(connection: Connection) -> bool:
    """Whether to read through ADBC: a PostgreSQL connection, not to Redshift, with the driver installed."""
    if connection.conn_type != "postgres":
        return False
    extra = connection.extra_dejson
    return not any(extra.get(flag) for flag in REDSHIFT_EXTRAS) and _adbc_postgres() is not None


def _libpq_settings(connection: Connection) -> dict[str, str]:
    """The settings ``PostgresHook.get_conn`` gives psycopg, as libpq keywords.

    Host, port, login, password, the schema as database, then every key of the extra
    but the hook's own (``iam``, ``cursor``, ...): ``sslmode``, ``sslrootcert``,
    ``connect_timeout``, ``application_name``, ``options``... An IAM connection (AWS or
    Azure) gets the token the hook would log in with, from the hook.
    """
    extra = connection.extra_dejson
    login, password, port = connection.login, connection.password, connection.port
    if extra.get("iam", False):
        login, password, port = cast("PostgresHook", connection.get_hook()).get_iam_token(connection)
    settings: dict[str, Any] = {
        "host": connection.host, "port": port, "user": login, "password": password, "dbname": connection.schema,
    }
    settings.update((key, value) for key, value in extra.items() if key not in POSTGRES_HOOK_EXTRAS)
    return {key: str(value) for key, value in settings.items() if value is not None}


def _libpq_uri(settings: Mapping[str, str]) -> str:
    """A ``postgresql://`` URI holding every setting as a query parameter.

    Nothing goes in the host or path parts, so Unix socket directories, IPv6
    addresses and lists of hosts need no special spelling.
    """
    return "postgresql://?" + urlencode(settings, quote_via=quote)


@contextmanager
def _password_hidden(password: str | None) -> Iterator[None]:
    """Re-raise an error whose text quotes the password (as typed or percent-encoded) with it starred out.

    The connection URI carries the password, and libpq quotes parts of a URI it
    refuses (a ``%00`` in a value, for one). Other errors pass unchanged. The
    replacement drops the original from its chain, which still holds the password.
    """
    try:
        yield
    except Exception as error:
        text = str(error)
        secrets = [secret for secret in {password, quote(password or "", safe="")} if secret and secret in text]
        if not secrets:
            raise
        for secret in secrets:
            text = text.replace(secret, "***")
        raise ContactsProviderError(f"PostgreSQL (ADBC) {type(error).__name__}: {text}") from None


def _inline_parameters(connection: Any, sql: str, parameters: SqlParameters) -> str:
    """The query with its parameters quoted in by the Postgres hook's driver, as text ADBC can run.

    ADBC binds ``$1``-style parameters as typed Arrow values, while psycopg sends
    text untyped for the server to infer; translating ``%s`` into ``$n`` would make
    some queries fail or change meaning (text compared with a date column). Binding
    client-side with the driver the query was written for keeps its meaning: psycopg2
    always binds this way, psycopg 3 offers it as ``ClientCursor``.

    :param connection: a psycopg 3 or psycopg2 connection (quoting depends on its encoding
        and ``standard_conforming_strings``).
    """
    if type(connection).__module__.startswith("psycopg2"):
        from psycopg2.extensions import encodings

        return connection.cursor().mogrify(sql, parameters).decode(encodings[connection.encoding])
    from psycopg import ClientCursor

    return ClientCursor(connection).mogrify(sql, parameters)


def _parse_each(parse: Callable[[str], Any]) -> Callable[[pa.ChunkedArray], pd.Series]:
    """A converter parsing each text value of a column into a Python object (NULL stays ``None``)."""
    return lambda column: pd.Series([None if text is None else parse(text) for text in column.to_pylist()],
                                    dtype=object)


PSYCOPG_VALUES: dict[str, Callable[[pa.ChunkedArray], pd.Series]] = {
    # Arrow has no decimal of unbounded precision: numeric arrives as text. Decimal, as psycopg gives.
    "numeric": _parse_each(Decimal),
    # json and jsonb arrive as text; parsed, as psycopg does, so they stay containers for validation.
    "json": _parse_each(json.loads),
    "jsonb": _parse_each(json.loads),
    # real widened through its shortest text, as psycopg reads it: 1.1, not 1.100000023841858.
    "real": lambda column: pc.cast(pc.cast(column, pa.string()), pa.float64()).to_pandas(),
}
"""Columns by PostgreSQL type (as :func:`_result_types` names it) whose Arrow values pandas would
not turn into what the psycopg path holds."""


_ARROW_DATES = {pa.date32(): pd.ArrowDtype(pa.date32()), pa.date64(): pd.ArrowDtype(pa.date64())}


def _psycopg_like_frame(rows: pa.Table, postgres_types: Sequence[str]) -> pd.DataFrame:
    """Arrow rows as pandas holding the values a psycopg read holds, so validation treats both alike.

    Validation tells values apart by type (``validation._groups``). ``to_pandas`` already
    gives what psycopg's values become: text as ``str`` columns, timestamps as datetime64
    columns (``timestamptz`` in UTC), booleans, integers and floats as numpy columns, NULL as
    NaN or ``None``. Dates stay Arrow ``date32`` columns (``pd.ArrowDtype``), whose values are
    the ``datetime.date`` objects psycopg gives: validation reads them as dates without a
    Python object a value. :data:`PSYCOPG_VALUES` converts the types where pandas would not
    give psycopg's values, and arrays become Python lists rather than numpy arrays.

    Still different: integer columns keep their width (int32 for ``integer``), which
    validation widens anyway; multidimensional arrays arrive flattened; intervals arrive
    as ``pd.DateOffset``, and types the driver does not know (inet, ranges...) as their
    binary wire form. No contact field takes those as they are: cast them to text in the query.

    :param postgres_types: each column's PostgreSQL type, from :func:`_result_types`.
    """
    frame = rows.to_pandas(types_mapper=_ARROW_DATES.get)
    for position, (field, postgres_type) in enumerate(zip(rows.schema, postgres_types, strict=True)):
        if postgres_type in PSYCOPG_VALUES:
            frame.isetitem(position, PSYCOPG_VALUES[postgres_type](rows.column(position)))
        elif pa.types.is_list(field.type):
            frame.isetitem(position, pd.Series(rows.column(position).to_pylist(), dtype=object))
    return frame


def _read_postgres_arrow(connection: Connection, sql: str, chunk_size: int) -> Iterator[pd.DataFrame]:
    """Frames of the query's rows, in order, read through ADBC as Arrow record batches.

    The driver runs the query as ``COPY (...) TO STDOUT (FORMAT binary)`` and decodes the
    stream batch by batch, so memory follows the batch size, not the result.
    Batches are not read ahead in a thread of their own: the server keeps producing into
    the socket while the caller validates, and a reader thread measured no faster on two
    cores (1M rows read and validated), where the operator already reads in a thread.
    """
    adbc_postgres = _adbc_postgres()
    assert adbc_postgres is not None, "callers check _reads_through_adbc first"
    from adbc_driver_manager import AdbcConnection, AdbcStatement

    settings = _libpq_settings(connection)
    with (
        _password_hidden(settings.get("password")),
        closing(adbc_postgres.connect(_libpq_uri(settings))) as database,
        closing(AdbcConnection(database)) as adbc_connection,
        closing(AdbcStatement(adbc_connection)) as statement,
    ):
        # The driver sends ``COPY (<sql>) TO STDOUT``: a final semicolon must go, and a newline
        # ends a final ``--`` comment before the parenthesis.
        sql = DbApiHook.strip_sql_string(sql) + "\n"
        postgres_types = _result_types(statement, sql)
        batch_bytes = min(ADBC_BATCH_BYTES, chunk_size * ADBC_MIN_ROW_BYTES)
        statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
        statement.set_sql_query(sql)
        stream, _ = statement.execute_query()
        with pa.RecordBatchReader.from_stream(stream) as batches:
            yield from _chunk_frames(batches, chunk_size, postgres_types)


def _result_types(statement: AdbcStatement, sql: str) -> list[str]:
    """The PostgreSQL type of each column of the query's result (``jsonb``, ``real``, ``text[]``...).

    The driver's Arrow types do not tell json from text, and the driver release we pin names no
    PostgreSQL types. The server does: ``pg_typeof`` of each column of the query cut to no rows
    (not run: ``LIMIT 0``), outer-joined to one row so there is a row to ask about. Columns are
    renamed by position, so duplicate or odd names do not matter. Any server version, standbys
    included; two round trips.

    :param statement: a statement of the connection that will run the query.
    :param sql: the query, without a final semicolon and ending in a newline.
    """
    statement.set_sql_query(sql)
    columns = len(pa.schema(statement.execute_schema()))
    if columns == 0:
        return []
    aliases = ", ".join(f"c{position}" for position in range(columns))
    types = ", ".join(f"pg_typeof(q.c{position})::text" for position in range(columns))
    statement.set_sql_query(f"SELECT ARRAY[{types}] FROM (SELECT) AS one "
                            f"LEFT JOIN (SELECT * FROM ({sql}) AS s LIMIT 0) AS q({aliases}) ON true")
    stream, _ = statement.execute_query()
    with pa.RecordBatchReader.from_stream(stream) as reader:
        return cast("list[str]", reader.read_all().column(0)[0].as_py())


def _chunk_frames(batches: Iterable[pa.RecordBatch], chunk_size: int,
                  postgres_types: Sequence[str]) -> Iterator[pd.DataFrame]:
    """Frames of exactly ``chunk_size`` rows (the last one shorter), each converted from Arrow at once.

    One conversion to pandas a chunk, rather than one a record batch and a ``pd.concat``
    of the frames. Each column is joined into one piece first, in this (reading) thread:
    validation and encoding then work on whole arrays, where every step would otherwise go
    piece by piece or join the pieces itself (a chunk of 30,000 rows spans 4 or 5 batches).

    :param postgres_types: each column's PostgreSQL type, from :func:`_result_types`.
    """
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows < chunk_size:
            continue
        rows = pa.Table.from_batches(pending)
        start = 0
        while pending_rows - start >= chunk_size:
            yield _psycopg_like_frame(rows.slice(start, chunk_size).combine_chunks(), postgres_types)
            start += chunk_size
        pending = rows.slice(start).to_batches()
        pending_rows -= start
    if pending_rows:
        yield _psycopg_like_frame(pa.Table.from_batches(pending).combine_chunks(), postgres_types)


class SqlSource(ContactSource):
    """Contacts returned by one SQL query on an Airflow connection.

    Any connection whose hook is a common.sql ``DbApiHook`` works: PostgreSQL,
    MySQL/MariaDB, SQLite (the default embedded warehouse), and others. Values
    keep the types the driver returns (``datetime.date`` for dates, ``None`` or
    NaN for NULL); a column's dtype is inferred per chunk, so an integer column
    with NULLs in one chunk may be float there. Validation coerces types later.
    PostgreSQL read through ADBC holds the same values as read with psycopg
    (see :func:`_psycopg_like_frame` for the few exceptions).

    :param conn_id: the Airflow connection to query.
    :param sql: one query returning the contacts.
    :param parameters: query parameters, in the driver's paramstyle (``%s`` or
        ``%(name)s`` for PostgreSQL, whichever way it is read).
    """

    def __init__(self, conn_id: str, sql: str, parameters: SqlParameters | None = None) -> None:
        self.conn_id = conn_id
        self.sql = sql
        self.parameters = parameters

    def describe(self) -> str:
        return f"{self.conn_id}: {' '.join(self.sql.split())}"

    def lineage(self) -> tuple[str, str]:
        """Namespace ``conn_type://host:port`` (no credentials) and the query."""
        connection = BaseHook.get_connection(self.conn_id)
        where = f"{connection.host or ''}:{connection.port}" if connection.port else (connection.host or "")
        return f"{connection.conn_type}://{where}", " ".join(self.sql.split())

    def get_hook(self) -> DbApiHook:
        """The connection's SQL hook; refuses connections that are not SQL databases.

        :raises ConfigurationError: the connection's hook is not a ``DbApiHook``.
        """
        hook = BaseHook.get_connection(self.conn_id).get_hook()
        if not isinstance(hook, DbApiHook):
            raise ConfigurationError(
                f"Connection {self.conn_id!r} has hook {type(hook).__name__}, which is not a SQL "
                "(common.sql DbApiHook) hook: a SQL source needs a database connection."
            )
        return hook

    def _read_frames(self, chunk_size: int) -> Iterator[pd.DataFrame]:
        connection = BaseHook.get_connection(self.conn_id)
        if _reads_through_adbc(connection):
            sql = self.sql
            if self.parameters is not None:
                with closing(self.get_hook().get_conn()) as driver_connection:
                    sql = _inline_parameters(driver_connection, sql, self.parameters)
            yield from _read_postgres_arrow(connection, sql, chunk_size)
            return
        hook = self.get_hook()
        open_cursor = STREAMING_CURSORS.get(hook.conn_type, lambda connection: connection.cursor())
        connection = hook.get_conn()
        try:
            cursor = open_cursor(connection)
            try:
                if self.parameters is None:
                    cursor.execute(self.sql)
                else:
                    cursor.execute(self.sql, self.parameters)
                yield from _fetch_frames(cursor, min(chunk_size, MAX_ROWS_PER_FETCH))
            finally:
                cursor.close()
        finally:
            connection.close()
