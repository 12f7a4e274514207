"""The operator reports OpenLineage datasets and its extra link after a real sync."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from airflow_contacts_provider.hooks.sendgrid import SendGridMarketingHook
from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator, ProviderContactsLink
from airflow_contacts_provider.sandbox import Sandbox
from airflow_contacts_provider.sandbox.synthetic import synthetic_contacts


@pytest.fixture
def sqlite_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    database = tmp_path / "warehouse.db"
    frame = synthetic_contacts(50)
    frame["signup_date"] = frame["signup_date"].astype(str)
    with sqlite3.connect(database) as connection:
        frame.to_sql("contacts", connection, index=False)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    return "warehouse"


def test_lineage_names_the_query_and_the_provider_lists(contacts_sandbox: Sandbox, sqlite_warehouse: str) -> None:
    operator = BulkContactImportOperator(
        task_id="sync", destination_conn_id="notifuse_default", source_conn_id=sqlite_warehouse,
        sql="SELECT email, first_name FROM contacts ORDER BY email", list_ids=["newsletter"],
    )
    result = operator.execute({})
    assert result["created"] == 50

    lineage = operator.get_openlineage_facets_on_complete(None)
    [source] = lineage.inputs
    assert source.namespace.startswith("sqlite://")
    assert source.name == "SELECT email, first_name FROM contacts ORDER BY email"
    host = contacts_sandbox.url.split("://", 1)[1]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        (f"notifuse://{host}/notifuse", "contacts/lists/newsletter")
    ]


def test_extra_link_is_empty_against_a_sandbox_and_set_on_the_real_host(
    contacts_sandbox: Sandbox, sqlite_warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = BulkContactImportOperator(
        task_id="sync", destination_conn_id="migma_default", source_conn_id=sqlite_warehouse,
        sql="SELECT email FROM contacts ORDER BY email",
    )
    operator.execute({})
    assert ProviderContactsLink().get_link(operator, ti_key=None) == ""

    monkeypatch.setenv("AIRFLOW_CONN_SG_REAL", json.dumps({"conn_type": "sendgrid_marketing", "password": "x"}))
    assert SendGridMarketingHook("sg_real").contacts_page_url() == "https://mc.sendgrid.com/contacts"
