"""Every day, sync the contacts a data lake exported to S3 as Parquet into Mailtrap.

The file is read in chunks straight from S3. The sync waits for Mailtrap's import jobs itself,
deferred to the triggerer (``wait_for_completion=True, deferrable=True``), so its result is
final and no sensor is needed.

Connections: ``aws_default`` (S3), ``mailtrap_default``. The bucket is the Variable
``contacts_lake_bucket``; rejected rows go under the Variable ``contacts_rejects_base``
(default: a local folder).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator

REJECTS_BASE = "{{ var.value.get('contacts_rejects_base', '/tmp/contacts_rejects') }}"

with DAG(
    dag_id="s3_file_to_mailtrap",
    description="Parquet contacts on S3 -> Mailtrap (waits for the import jobs, deferred)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["contacts", "mailtrap", "s3"],
) as dag:
    BulkContactImportOperator(
        task_id="sync_to_mailtrap",
        destination_conn_id="mailtrap_default",
        source_conn_id="aws_default",
        path="s3://{{ var.value.contacts_lake_bucket }}/exports/contacts/{{ ds }}/contacts.parquet",
        mapping={
            "email": "email", "first_name": "first_name", "last_name": "last_name", "company": "company",
            "country": "country", "plan": "plan", "signup_date": "signup_date", "score": "score",
            "is_active": "vip",
        },
        list_ids=[2],  # Mailtrap list ids (Contacts > Lists)
        rejects_path=REJECTS_BASE + "/{{ ds }}/{{ run_id }}/s3_mailtrap",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=60,
    )

if __name__ == "__main__":
    dag.test()
