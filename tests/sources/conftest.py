"""Airflow connections to the real test servers, declared through ``AIRFLOW_CONN_*`` variables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook

from tests.services import MYSQL_ADDRESS, POSTGRES_ADDRESS, require_mysql, require_postgres

POSTGRES_CONN_ID = "contacts_test_postgres"
MYSQL_CONN_ID = "contacts_test_mysql"


def postgres_connection(**extra: Any) -> str:
    """The JSON of an Airflow connection to the test PostgreSQL database."""
    host, port = POSTGRES_ADDRESS
    return json.dumps(
        {"conn_type": "postgres", "host": host, "port": port, "login": "postgres", "schema": "test", "extra": extra}
    )


def mysql_connection(**extra: Any) -> str:
    """The JSON of an Airflow connection to the test MariaDB/MySQL database."""
    host, port = MYSQL_ADDRESS
    return json.dumps(
        {"conn_type": "mysql", "host": host, "port": port, "login": "root", "schema": "test", "extra": extra}
    )


def sql_hook(conn_id: str) -> DbApiHook:
    hook = BaseHook.get_connection(conn_id).get_hook()
    assert isinstance(hook, DbApiHook)
    return hook


@pytest.fixture
def table_name() -> str:
    """A table name no other test (or concurrent run) uses."""
    return f"contacts_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def postgres_conn_id(monkeypatch: pytest.MonkeyPatch) -> str:
    require_postgres()
    monkeypatch.setenv(f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}", postgres_connection())
    return POSTGRES_CONN_ID


@pytest.fixture
def mysql_conn_id(monkeypatch: pytest.MonkeyPatch) -> str:
    require_mysql()
    monkeypatch.setenv(f"AIRFLOW_CONN_{MYSQL_CONN_ID.upper()}", mysql_connection())
    return MYSQL_CONN_ID


@pytest.fixture
def postgres_table(postgres_conn_id: str, table_name: str) -> Iterator[str]:
    """A table name in PostgreSQL, dropped after the test; the test creates the table."""
    yield table_name
    sql_hook(postgres_conn_id).run(f"DROP TABLE IF EXISTS {table_name}")


@pytest.fixture
def mysql_table(mysql_conn_id: str, table_name: str) -> Iterator[str]:
    """A table name in MariaDB, dropped after the test; the test creates the table."""
    yield table_name
    sql_hook(mysql_conn_id).run(f"DROP TABLE IF EXISTS {table_name}")
