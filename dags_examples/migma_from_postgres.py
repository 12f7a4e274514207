"""Every day, sync the warehouse's contacts into a Migma project, tagged as customers.

Migma answers a bulk request of up to 5,000 contacts with its counts at once, so the sync's
result is final: no sensor.

The table is the ``contacts_table`` param (default ``marts.contacts``; a run's conf may name
another). Connections: ``contacts_warehouse`` (PostgreSQL), ``migma_default``. Rejected rows,
each with a reason, go under the Variable ``contacts_rejects_base`` (default: a local folder).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator

REJECTS_BASE = "{{ var.value.get('contacts_rejects_base', '/tmp/contacts_rejects') }}"
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"

with DAG(
    dag_id="migma_from_postgres",
    description="Warehouse contacts -> Migma (synchronous bulk import)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"contacts_table": Param("marts.contacts", type="string", pattern=TABLE_NAME)},
    tags=["contacts", "migma"],
) as dag:
    BulkContactImportOperator(
        task_id="sync_to_migma",
        destination_conn_id="migma_default",
        source_conn_id="contacts_warehouse",
        sql="""
            SELECT email, first_name, last_name, phone, country, language, company, plan
            FROM {{ params.contacts_table }}
            ORDER BY id
        """,
        # Source column -> Migma subscriber field; anything else as customFields.<key>.
        mapping={
            "email": "email", "first_name": "firstName", "last_name": "lastName", "phone": "phone",
            "country": "country", "language": "language", "company": "customFields.company",
            "plan": "customFields.plan",
        },
        list_ids=["customers"],  # Migma tags
        rejects_path=REJECTS_BASE + "/{{ ds }}/{{ run_id }}/migma",
    )

if __name__ == "__main__":
    dag.test()
