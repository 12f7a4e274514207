"""Every day, sync the warehouse's contacts into SendGrid Marketing, then wait for the import job.

SendGrid imports asynchronously (a gzip CSV uploaded to a pre-signed URL): the sync hands the
job id to a deferrable sensor. SendGrid list ids are UUIDs of lists you created; this DAG reads
the list's id from the Variable ``sendgrid_customers_list_id``.

The table is the ``contacts_table`` param (default ``marts.contacts``; a run's conf may name
another). Connections: ``contacts_warehouse`` (PostgreSQL), ``sendgrid_marketing_default``.
Rejected rows, each with a reason, go under the Variable ``contacts_rejects_base`` (default: a
local folder).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator
from airflow_contacts_provider.sensors.import_status import ImportStatusSensor

REJECTS_BASE = "{{ var.value.get('contacts_rejects_base', '/tmp/contacts_rejects') }}"
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"

with DAG(
    dag_id="sendgrid_from_postgres",
    description="Warehouse contacts -> SendGrid Marketing (async import, deferrable wait)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"contacts_table": Param("marts.contacts", type="string", pattern=TABLE_NAME)},
    tags=["contacts", "sendgrid"],
) as dag:
    sync = BulkContactImportOperator(
        task_id="sync_to_sendgrid",
        destination_conn_id="sendgrid_marketing_default",
        source_conn_id="contacts_warehouse",
        sql="""
            SELECT email, first_name, last_name, phone, country
            FROM {{ params.contacts_table }}
            ORDER BY id
        """,
        # Source column -> SendGrid reserved field; custom fields must first be defined in SendGrid.
        mapping={
            "email": "email", "first_name": "first_name", "last_name": "last_name",
            "phone": "phone_number", "country": "country",
        },
        list_ids=["{{ var.value.sendgrid_customers_list_id }}"],
        rejects_path=REJECTS_BASE + "/{{ ds }}/{{ run_id }}/sendgrid",
        wait_for_completion=False,
    )
    wait = ImportStatusSensor(
        task_id="wait_for_sendgrid",
        destination_conn_id="sendgrid_marketing_default",
        import_ids=sync.output,
        deferrable=True,
        poke_interval=60,
        timeout=6 * 3600,
    )
    sync >> wait

if __name__ == "__main__":
    dag.test()
