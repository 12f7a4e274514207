"""Every day, sync the warehouse's contacts into a Notifuse workspace and subscribe them to a list.

Notifuse imports synchronously (``contacts.import`` answers each contact in its response),
so the sync's result is final: no sensor.

The table is the ``contacts_table`` param (default ``marts.contacts``; a run's conf may name
another). Connections: ``contacts_warehouse`` (PostgreSQL), ``notifuse_default``. Rejected
rows, each with a reason, go under the Variable ``contacts_rejects_base`` (default: a local
folder).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator

REJECTS_BASE = "{{ var.value.get('contacts_rejects_base', '/tmp/contacts_rejects') }}"
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"

with DAG(
    dag_id="notifuse_from_postgres",
    description="Warehouse contacts -> Notifuse (synchronous import)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"contacts_table": Param("marts.contacts", type="string", pattern=TABLE_NAME)},
    tags=["contacts", "notifuse"],
) as dag:
    BulkContactImportOperator(
        task_id="sync_to_notifuse",
        destination_conn_id="notifuse_default",
        source_conn_id="contacts_warehouse",
        sql="""
            SELECT email, first_name, last_name, phone, country, language, company, plan, signup_date, score
            FROM {{ params.contacts_table }}
            ORDER BY id
        """,
        # Source column -> Notifuse ContactInput key; what has no named key goes to custom_* slots.
        mapping={
            "email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
            "country": "country", "language": "language", "company": "custom_string_1",
            "plan": "custom_string_2", "score": "custom_number_1", "signup_date": "custom_datetime_1",
        },
        list_ids=["customers"],  # Notifuse list ids (subscribe_to_lists)
        rejects_path=REJECTS_BASE + "/{{ ds }}/{{ run_id }}/notifuse",
    )

if __name__ == "__main__":
    dag.test()
