"""DAGs the operator and sensor tests run with ``dag.test()``: retries, deferral, sensors, bad credentials.

Each reads the PostgreSQL table named in the run's conf (``table``) through the connection
``contacts_e2e_postgres`` and writes rejected rows under the conf's ``rejects_path``; the tests
declare the connections (the sandbox's and the database's) as environment variables.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator
from airflow_contacts_provider.sensors.import_status import ImportStatusSensor

SOURCE_CONN_ID = "contacts_e2e_postgres"
CONN_IDS = {"mailtrap": "mailtrap_default", "notifuse": "notifuse_default",
            "sendgrid": "sendgrid_marketing_default", "migma": "migma_default"}
MAPPINGS = {
    "mailtrap": {"email": "email", "first_name": "first_name", "plan": "plan", "score": "score"},
    "notifuse": {"email": "email", "first_name": "first_name", "plan": "custom_string_1", "score": "custom_number_1"},
    "sendgrid": {"email": "email", "first_name": "first_name", "score": "num_orders"},
}
"""The fields synced: each maps ``score``, so the row with a bad score is rejected everywhere."""

TABLE = "{{ dag_run.conf['table'] }}"
CRASH_ONCE_SQL = (
    "SELECT *, CASE WHEN id = {{ dag_run.conf['crash_at'] }} "
    f"THEN 1 / (nextval('{TABLE}_crash') - 1) ELSE 0 END AS crash_once FROM {TABLE} ORDER BY id"
)
"""Fails the first try while its rows stream, after the batches before ``crash_at`` were sent.

``nextval`` is not rolled back: the first try's stream gets 1 and divides by zero; the
retry's gets 2.
"""


def _sync(provider: str, **kwargs: Any) -> BulkContactImportOperator:
    return BulkContactImportOperator(
        task_id="sync", destination_conn_id=CONN_IDS[provider], source_conn_id=SOURCE_CONN_ID,
        mapping=MAPPINGS[provider], rejects_path="{{ dag_run.conf['rejects_path'] }}", poll_interval=0.2,
        **{"sql": f"SELECT * FROM {TABLE} ORDER BY id", **kwargs},
    )


DAGS: dict[str, DAG] = {}
"""Every DAG of this file, by id (for the tests that run them)."""


def _dag(dag_id: str) -> DAG:
    DAGS[dag_id] = DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
                       tags=["contacts-provider-tests"])
    return DAGS[dag_id]


for _provider in ("mailtrap", "notifuse"):
    with _dag(f"contacts_retry_{_provider}"):
        _sync(_provider, sql=CRASH_ONCE_SQL, retries=1, retry_delay=timedelta(0), batch_size=100, chunk_size=100)

for _provider in ("mailtrap", "sendgrid"):
    with _dag(f"contacts_deferred_{_provider}"):
        _sync(_provider, deferrable=True, batch_size=100, chunk_size=100)

with _dag("contacts_plain_mailtrap"):
    _sync("mailtrap")

for _mode in ("poke", "deferrable"):
    with _dag(f"contacts_sensor_{_mode}"):
        _sync_task = _sync("mailtrap", wait_for_completion=False, batch_size=100, chunk_size=100)
        _sync_task >> ImportStatusSensor(
            task_id="wait", destination_conn_id=CONN_IDS["mailtrap"], import_ids=_sync_task.output,
            deferrable=_mode == "deferrable", mode="poke", poke_interval=0.2, timeout=60,
        )
