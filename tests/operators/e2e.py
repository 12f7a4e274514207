"""What the operator and sensor end-to-end tests share: a PostgreSQL table of contacts with known bad
rows, what each provider must end up holding, and how to run a sync and read its outcome.

The table has ``ROWS`` contacts (``id`` = source row number). A few rows are spoiled on purpose,
each in a way a given provider's mapping must refuse, or not; :class:`Destination` says which.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
import psycopg
import pytest
from airflow.sdk import Context

from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator
from airflow_contacts_provider.sandbox import Sandbox
from airflow_contacts_provider.sandbox.synthetic import synthetic_contacts
from tests.services import POSTGRES_ADDRESS, require_postgres

POSTGRES_CONN_ID = "contacts_e2e_postgres"
ROWS = 500

INVALID_EMAIL, MISSING_EMAIL, DUPLICATE, BAD_SCORE, LONG_PHONE, RUSSIAN_TLD = 7, 13, 21, 34, 55, 89
SPOILED: dict[int, tuple[str, Any]] = {
    INVALID_EMAIL: ("email", "not-an-email"),
    MISSING_EMAIL: ("email", None),
    DUPLICATE: ("email", "  USER3@Example.COM "),  # row 3's address, differently written
    BAD_SCORE: ("score", "n/a"),
    LONG_PHONE: ("phone", "+1 555 0100 extension 1234567890 1234567890 1234567890"),
    RUSSIAN_TLD: ("email", "user89@example.xn--p1ai"),  # valid, but SendGrid's address check refuses .xn--p1ai
}
NULL_LAST_NAME_EVERY = 17


class MemoryStore:
    """An in-memory task state store (``get``/``set``/``delete``), JSON round-tripped like the real one."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def contacts_frame() -> pd.DataFrame:
    """The source rows: synthetic contacts with ``SPOILED`` applied and some NULL last names."""
    frame = synthetic_contacts(ROWS).astype({"score": object})
    frame.insert(0, "id", range(ROWS))
    frame["signup_date"] = frame["signup_date"].dt.date
    frame["score"] = frame["score"].map("{:.2f}".format)  # a text column, so a bad score can exist
    frame.loc[frame["id"] % NULL_LAST_NAME_EVERY == 5, "last_name"] = None
    for row, (column, value) in SPOILED.items():
        frame.at[row, column] = value
    return frame


@dataclass(frozen=True)
class Destination:
    """One provider: its connection, the mapping the tests use, and what it must do with ``SPOILED``.

    :param fields: a valid source row -> the values the sandbox must store (dotted keys nest).
    :param invalid: rows our validator must refuse under this mapping.
    :param provider_refused: rows our validator passes but the provider refuses.
    """

    provider: str
    conn_id: str
    mapping: dict[str, str]
    fields: Callable[[pd.Series], dict[str, Any]]
    invalid: frozenset[int]
    provider_refused: frozenset[int] = frozenset()
    is_async: bool = False

    @property
    def duplicates(self) -> frozenset[int]:
        return frozenset({DUPLICATE})

    def landed_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(index=sorted(self.invalid | self.duplicates | self.provider_refused))


def _score(row: pd.Series) -> float:
    return float(row.score)


DESTINATIONS = {
    "mailtrap": Destination(
        "mailtrap", "mailtrap_default",
        {"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
         "plan": "plan", "signup_date": "signup_date", "score": "score", "is_active": "vip"},
        lambda row: {"first_name": row.first_name, "last_name": row.last_name, "phone": row.phone, "plan": row.plan,
                     "signup_date": row.signup_date.isoformat(), "score": _score(row), "vip": bool(row.is_active)},
        invalid=frozenset({INVALID_EMAIL, MISSING_EMAIL, BAD_SCORE}),  # Mailtrap's phone has no length limit
        is_async=True,
    ),
    "notifuse": Destination(
        "notifuse", "notifuse_default",
        {"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
         "country": "country", "plan": "custom_string_1", "score": "custom_number_1",
         "signup_date": "custom_datetime_1"},
        lambda row: {"first_name": row.first_name, "last_name": row.last_name, "phone": row.phone,
                     "country": row.country, "custom_string_1": row.plan, "custom_number_1": _score(row),
                     "custom_datetime_1": f"{row.signup_date.isoformat()}T00:00:00Z"},
        invalid=frozenset({INVALID_EMAIL, MISSING_EMAIL, BAD_SCORE, LONG_PHONE}),  # phone: 50 characters at most
    ),
    "sendgrid": Destination(
        "sendgrid", "sendgrid_marketing_default",
        {"email": "email", "first_name": "first_name", "last_name": "last_name", "country": "country",
         "phone": "phone_number", "score": "num_orders"},
        lambda row: {"first_name": row.first_name, "last_name": row.last_name, "country": row.country,
                     "phone_number": row.phone, "num_orders": _score(row)},
        invalid=frozenset({INVALID_EMAIL, MISSING_EMAIL, BAD_SCORE}),
        provider_refused=frozenset({RUSSIAN_TLD}),
        is_async=True,
    ),
    "migma": Destination(
        "migma", "migma_default",
        {"email": "email", "first_name": "firstName", "last_name": "lastName", "phone": "phone",
         "country": "country", "plan": "customFields.plan", "company": "customFields.company"},
        lambda row: {"firstName": row.first_name, "lastName": row.last_name, "phone": row.phone,
                     "country": row.country, "customFields.plan": row.plan, "customFields.company": row.company},
        invalid=frozenset({INVALID_EMAIL, MISSING_EMAIL, LONG_PHONE}),  # phone: 30 characters at most
    ),
}


def stored_value(contact: dict[str, Any], key: str) -> Any:
    """A stored contact's value at a possibly dotted key (``customFields.plan``); ``None`` when absent."""
    value: Any = contact
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def assert_landed(sandbox: Sandbox, destination: Destination, frame: pd.DataFrame) -> None:
    """The provider holds exactly the rows that should land, each submitted once, with the mapped values."""
    expected = destination.landed_rows(frame)
    stored = {contact["email"]: contact for contact in sandbox.contacts(destination.provider)}
    assert sorted(stored) == sorted(expected["email"])
    assert {contact["_submissions"] for contact in stored.values()} == {1}
    for row in expected.itertuples(index=False):
        wanted = {key: None if _is_missing(value) else value
                  for key, value in destination.fields(cast(pd.Series, row)).items()}
        assert {key: stored_value(stored[row.email], key) for key in wanted} == wanted, row.email


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def assert_adds_up(result: dict[str, Any]) -> None:
    accounted = sum(result[key] for key in ("created", "updated", "rejected", "duplicates", "failed", "pending"))
    assert accounted == result["rows_read"], result
    assert sum(result["rejected_by_reason"].values()) == result["rejected"], result


def read_rejects(path: str | Path) -> pd.DataFrame:
    """Every part file under a rejects path, as one frame."""
    parts = sorted(Path(path).glob("part-*.csv"))
    assert parts, f"no reject files under {path}"
    return pd.concat([pd.read_csv(part, dtype={"email": object, "reason": object}) for part in parts],
                     ignore_index=True)


def assert_rejects(result: dict[str, Any], destination: Destination) -> None:
    """The rejects files name each bad row once, with a reason, and agree with the counts."""
    rejects = read_rejects(result["rejects_path"])
    refused = destination.invalid | destination.provider_refused
    assert result["rejected"] == len(refused) and result["duplicates"] == len(destination.duplicates), result
    assert len(rejects) == result["rejected"] + result["duplicates"]
    assert sorted(rejects["row_number"]) == sorted(refused | destination.duplicates)
    assert rejects["reason"].notna().all() and (rejects["reason"].str.strip() != "").all()
    kinds = dict(zip(rejects["row_number"], rejects["kind"], strict=True))
    assert {row for row, kind in kinds.items() if kind == "duplicate"} == destination.duplicates
    assert {row for row, kind in kinds.items() if kind == "provider"} == destination.provider_refused


def run_operator(operator: BulkContactImportOperator, store: MemoryStore | None = None) -> dict[str, Any]:
    """``execute`` as a task would, with a task state store when given one."""
    context = {"task_state_store": store} if store is not None else {}
    return operator.execute(cast(Context, context))


def write_requests(sandbox: Sandbox, provider: str) -> Callable[[], int]:
    """Count the provider's POST and PUT requests (imports, uploads) from now on; returns the reader.

    A ``slow`` fault of no delay changes nothing but is counted each time it fires.
    """
    for method in ("POST", "PUT"):
        sandbox.add_fault(provider=provider, kind="slow", delay=0.0, method=method, count=None)
    return lambda: sandbox.state.faults.fired[f"{provider}:slow"]


def postgres_connection() -> str:
    host, port = POSTGRES_ADDRESS
    return json.dumps({"conn_type": "postgres", "host": host, "port": port, "login": "postgres", "schema": "test"})


def connect() -> psycopg.Connection[Any]:
    host, port = POSTGRES_ADDRESS
    return psycopg.connect(host=host, port=port, user="postgres", dbname="test", autocommit=True)


@pytest.fixture
def contacts_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, pd.DataFrame]]:
    """A uniquely named PostgreSQL table holding :func:`contacts_frame`, behind ``POSTGRES_CONN_ID``."""
    require_postgres()
    monkeypatch.setenv(f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}", postgres_connection())
    table = f"op_contacts_{uuid.uuid4().hex[:12]}"
    frame = contacts_frame()
    with connect() as connection:
        connection.execute(f"""
            CREATE TABLE {table} (
                id integer PRIMARY KEY, email text, first_name text, last_name text, phone text, country text,
                language text, company text, plan text, signup_date date, score text, is_active boolean
            )""")
        connection.execute(f"CREATE SEQUENCE {table}_crash")
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(frame.columns)}) VALUES ({', '.join(['%s'] * len(frame.columns))})",
                [tuple(None if pd.isna(value) else value for value in row)
                 for row in frame.astype(object).itertuples(index=False)],
            )
    try:
        yield table, frame
    finally:
        with connect() as connection:
            connection.execute(f"DROP TABLE IF EXISTS {table}")
            connection.execute(f"DROP SEQUENCE IF EXISTS {table}_crash")


def declare_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **changes: Any) -> None:
    """Re-declare a connection set as an ``AIRFLOW_CONN_*`` variable, with fields (and ``extra`` keys) changed."""
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    connection = json.loads(os.environ[name])
    extra = {**connection.get("extra", {}), **changes.pop("extra", {})}
    monkeypatch.setenv(name, json.dumps({**connection, **changes, "extra": extra}))


def fast_retries(monkeypatch: pytest.MonkeyPatch, conn_id: str, **extra: Any) -> None:
    """Quick retries in a connection's extra (and any other ``extra``), as a user may set them."""
    declare_connection(monkeypatch, conn_id, extra={"backoff_base": 0.01, "max_retries": 8, **extra})


@pytest.fixture(autouse=True)
def unthrottled_mailtrap(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """A higher client-side Mailtrap limit than its 200 requests a minute.

    The limit is shared by every hook of an account in a process, so the tests together would
    wait on it; a connection may set its own (``requests_per_minute``).
    """
    declare_connection(monkeypatch, "mailtrap_default", extra={"requests_per_minute": 100_000})
