"""Sources: where contacts come from (SQL connections, files on object storage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_contacts_provider.exceptions import ConfigurationError
from airflow_contacts_provider.sources.base import ContactSource
from airflow_contacts_provider.sources.files import FileSource
from airflow_contacts_provider.sources.sql import SqlSource

__all__ = ["ContactSource", "FileSource", "SqlSource", "source_from_args"]


def source_from_args(
    source_conn_id: str | None = None,
    sql: str | None = None,
    parameters: Mapping[str, Any] | Sequence[Any] | None = None,
    path: str | None = None,
    file_format: str | None = None,
) -> ContactSource:
    """The source an operator's arguments describe: a query on a connection, or files at a path.

    :param source_conn_id: the database connection for ``sql``, or the storage connection for ``path``.
    :param sql: a query returning the contacts; excludes ``path``.
    :param parameters: the query's parameters.
    :param path: a file, directory or prefix of contact files; excludes ``sql``.
    :param file_format: ``"csv"``, ``"parquet"`` or ``"jsonl"``; by default, from the file names.
    :raises ConfigurationError: not exactly one of ``sql`` and ``path``, or ``sql`` without a connection.
    """
    if sql is None and path is not None:
        return FileSource(path, format=file_format, conn_id=source_conn_id)
    if sql is None or path is not None:
        raise ConfigurationError("Give exactly one contact source: either sql= (with a connection) or path=.")
    if source_conn_id is None:
        raise ConfigurationError("sql= needs source_conn_id= naming the database connection to query.")
    return SqlSource(source_conn_id, sql, parameters)
