"""Every day, sync the warehouse's contacts into Mailtrap, then wait for Mailtrap's import jobs.

Mailtrap imports asynchronously: the sync submits the batches and hands their job ids to a
deferrable sensor, so no worker slot is held while Mailtrap works through them.

The table is the ``contacts_table`` param (default ``marts.contacts``; a run's conf may name
another). Connections: ``contacts_warehouse`` (PostgreSQL), ``mailtrap_default``. Rejected
rows, each with a reason, go under the Variable ``contacts_rejects_base`` (default: a local
folder).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator
from airflow_contacts_provider.sensors.import_status import ImportStatusSensor

REJECTS_BASE = "{{ var.value.get('contacts_rejects_base', '/tmp/contacts_rejects') }}"
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"

with DAG(
    dag_id="mailtrap_from_postgres",
    description="Warehouse contacts -> Mailtrap (async import, deferrable wait)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"contacts_table": Param("marts.contacts", type="string", pattern=TABLE_NAME)},
    tags=["contacts", "mailtrap"],
) as dag:
    sync = BulkContactImportOperator(
        task_id="sync_to_mailtrap",
        destination_conn_id="mailtrap_default",
        source_conn_id="contacts_warehouse",
        sql="""
            SELECT email, first_name, last_name, phone, country, language, company, plan, signup_date, score
            FROM {{ params.contacts_table }}
            ORDER BY id
        """,
        # Source column -> Mailtrap merge tag (Contacts > Fields in Mailtrap).
        mapping={
            "email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
            "country": "country", "language": "language", "company": "company", "plan": "plan",
            "signup_date": "signup_date", "score": "score",
        },
        list_ids=[1],  # Mailtrap list ids (Contacts > Lists)
        rejects_path=REJECTS_BASE + "/{{ ds }}/{{ run_id }}/mailtrap",
        wait_for_completion=False,
    )
    wait = ImportStatusSensor(
        task_id="wait_for_mailtrap",
        destination_conn_id="mailtrap_default",
        import_ids=sync.output,
        deferrable=True,
        poke_interval=60,
        timeout=6 * 3600,
    )
    sync >> wait

if __name__ == "__main__":
    dag.test()
