"""What the example DAGs need under ``dag.test()``: a migrated metadata DB, a PostgreSQL warehouse
table of synthetic contacts (a known share of them bad), Variables, and the sandbox.

``dag.test()`` only runs a DAG whose file is inside the DAGs folder, against a migrated
metadata database in the same ``AIRFLOW_HOME`` (``tests/conftest.py`` makes a fresh one).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests

from airflow_contacts_provider.sandbox import Sandbox
from airflow_contacts_provider.sandbox.synthetic import synthetic_contacts
from tests.services import require_postgres
from tests.sources.conftest import postgres_connection, sql_hook

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags_examples"
ROWS = 300
BAD_EVERY = 25
WAREHOUSE_CONN_ID = "contacts_warehouse"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate the test metadata DB, once a session (~5 s), in this process's AIRFLOW_HOME."""
    migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"],
                             capture_output=True, text=True, timeout=300, check=False)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]


@pytest.fixture(autouse=True)
def example_dags_folder(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point Airflow at ``dags_examples/`` for each test here (other tests run DAGs from other folders)."""
    from airflow import settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(DAGS_FOLDER))  # read once, when airflow was imported
    return DAGS_FOLDER


@dataclass
class Warehouse:
    """The warehouse table a DAG reads, and the contacts in it (``id`` = position)."""

    table: str
    contacts: pd.DataFrame
    clean: pd.DataFrame

    def spoiled(self, column: str) -> list[int]:
        """Rows whose ``column`` the synthetic generator spoiled."""
        dirty = self.contacts[column].astype(object)
        clean = self.clean[column].astype(object)
        differs = ~((dirty == clean) | (dirty.isna() & clean.isna()))
        return self.contacts.index[differs].tolist()

    def duplicates(self) -> list[int]:
        """Rows whose address repeats an earlier row's (after trimming and lower-casing)."""
        emails = self.contacts["email"].astype(object).where(self.contacts["email"].notna(), None)
        normalised = emails.map(lambda email: email.strip().lower() if isinstance(email, str) else None)
        return self.contacts.index[normalised.notna() & normalised.duplicated()].tolist()


@pytest.fixture
def warehouse(monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """A uniquely named PostgreSQL table of synthetic contacts behind ``contacts_warehouse``; dropped after."""
    require_postgres()
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", postgres_connection())
    table = f"dag_contacts_{uuid.uuid4().hex[:12]}"
    contacts = synthetic_contacts(ROWS, bad_every=BAD_EVERY)
    hook = sql_hook(WAREHOUSE_CONN_ID)
    hook.run(f"""
        CREATE TABLE {table} (
            id bigint PRIMARY KEY, email text, first_name text, last_name text, phone text, country text,
            language text, company text, plan text, signup_date date, score text, is_active boolean
        )
    """)
    try:
        rows = contacts.astype(object).where(contacts.notna(), None)
        rows["signup_date"] = contacts["signup_date"].dt.date
        rows["score"] = contacts["score"].map(str)
        hook.insert_rows(table, [(position, *row) for position, row in enumerate(rows.itertuples(index=False))],
                         target_fields=["id", *contacts.columns], executemany=True)
        yield Warehouse(table, contacts, synthetic_contacts(ROWS))
    finally:
        hook.run(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def rejects_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the DAGs put rejected rows (the Variable ``contacts_rejects_base``)."""
    base = tmp_path / "rejects"
    monkeypatch.setenv("AIRFLOW_VAR_CONTACTS_REJECTS_BASE", str(base))
    return base


@pytest.fixture
def sendgrid_list(contacts_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SendGrid list created over the API, its id in the Variable the DAGs read."""
    response = requests.post(f"{contacts_sandbox.base_url('sendgrid')}/v3/marketing/lists", json={"name": "customers"},
                             headers={"Authorization": f"Bearer {contacts_sandbox.state.tokens['sendgrid']}"},
                             timeout=10)
    response.raise_for_status()
    list_id: str = response.json()["id"]
    monkeypatch.setenv("AIRFLOW_VAR_SENDGRID_CUSTOMERS_LIST_ID", list_id)
    return list_id
