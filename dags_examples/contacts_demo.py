"""The demo: one warehouse, four providers, and a report that accounts for every row.

Syncs the ``contacts_warehouse`` connection's contacts table (SQLite in ``scripts/demo.sh``)
to Mailtrap, Notifuse, SendGrid Marketing and Migma. Each sync submits its batches without
waiting (``wait_for_completion=False``); a deferrable sensor then waits for the async import
jobs (Mailtrap's and SendGrid's; Notifuse and Migma answer synchronously, so theirs have none
and succeed at once). The ``report`` task joins each sync's reconciliation with its jobs'
totals, checks every row read is accounted for, and writes the result as JSON to the path in
the run conf's ``report_path`` (a DAG param), if given.
"""

from __future__ import annotations

import json
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, get_current_context, task

from airflow_contacts_provider.exceptions import ReconciliationError
from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator
from airflow_contacts_provider.reconciliation import OVER_LIMIT, UNEXPLAINED, Reconciliation
from airflow_contacts_provider.sensors.import_status import ImportStatusSensor

REJECTS_BASE = "{{ var.value.get('contacts_rejects_base', '/tmp/contacts_rejects') }}"
TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
SQL = """
    SELECT email, first_name, last_name, phone, country, language, company, plan, signup_date, score
    FROM {{ params.contacts_table }}
    ORDER BY id
"""

DESTINATIONS: dict[str, dict[str, Any]] = {
    "mailtrap": {
        "destination_conn_id": "mailtrap_default",
        "mapping": {
            "email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
            "country": "country", "language": "language", "company": "company", "plan": "plan",
            "signup_date": "signup_date", "score": "score",
        },
        "list_ids": [1],
    },
    "notifuse": {
        "destination_conn_id": "notifuse_default",
        "mapping": {
            "email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
            "country": "country", "language": "language", "company": "custom_string_1",
            "plan": "custom_string_2", "score": "custom_number_1", "signup_date": "custom_datetime_1",
        },
        "list_ids": ["customers"],
    },
    "sendgrid": {
        "destination_conn_id": "sendgrid_marketing_default",
        "mapping": {
            "email": "email", "first_name": "first_name", "last_name": "last_name",
            "phone": "phone_number", "country": "country",
        },
        "list_ids": ["{{ var.value.sendgrid_customers_list_id }}"],
    },
    "migma": {
        "destination_conn_id": "migma_default",
        "mapping": {
            "email": "email", "first_name": "firstName", "last_name": "lastName", "phone": "phone",
            "country": "country", "language": "language", "company": "customFields.company",
            "plan": "customFields.plan",
        },
        "list_ids": ["customers"],
    },
}


def settle(sync: dict[str, Any], jobs: dict[str, Any]) -> dict[str, Any]:
    """The sync's reconciliation with its pending contacts replaced by what their import jobs did."""
    result = Reconciliation.from_dict(sync)
    if jobs["submitted"] != result.pending:
        raise ReconciliationError(f"{result.provider}: the import jobs hold {jobs['submitted']} contacts, "
                         f"the sync left {result.pending} pending")
    result.pending = 0
    result.created += jobs["created"]
    result.updated += jobs["updated"]
    result.rejected_by_reason.update(jobs["rejected_by_reason"])
    unexplained = jobs["rejected"] - sum(jobs["rejected_by_reason"].values())
    if unexplained > 0:
        result.rejected_by_reason[UNEXPLAINED] += unexplained
    if jobs["over_limit"]:
        result.rejected_by_reason[OVER_LIMIT] += jobs["over_limit"]
    result.check()
    return result.to_dict()


@task
def report(syncs: dict[str, dict[str, Any]], imports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every provider's final counts; written as JSON to the run conf's ``report_path`` too."""
    settled = {name: settle(syncs[name], imports[name]) for name in syncs}
    report_path = get_current_context()["params"]["report_path"]
    if report_path:
        ObjectStoragePath(report_path).write_text(json.dumps(settled, indent=2))
    return settled


with DAG(
    dag_id="contacts_demo",
    description="One warehouse -> Mailtrap, Notifuse, SendGrid Marketing and Migma, with a reconciliation report",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "contacts_table": Param("contacts", type="string", pattern=TABLE_NAME),
        "report_path": Param(None, type=["null", "string"]),
    },
    tags=["contacts", "demo"],
) as dag:
    syncs: dict[str, Any] = {}  # XComArgs, resolved to each task's result when report runs
    imports: dict[str, Any] = {}
    for name, destination in DESTINATIONS.items():
        sync = BulkContactImportOperator(
            task_id=f"sync_to_{name}",
            source_conn_id="contacts_warehouse",
            sql=SQL,
            rejects_path=REJECTS_BASE + "/{{ ds }}/{{ run_id }}/" + name,
            wait_for_completion=False,
            **destination,
        )
        wait = ImportStatusSensor(
            task_id=f"wait_for_{name}",
            destination_conn_id=destination["destination_conn_id"],
            import_ids=sync.output,
            deferrable=True,
            poke_interval=5,
            timeout=3600,
        )
        sync >> wait
        syncs[name] = sync.output
        imports[name] = wait.output
    report(syncs, imports)

if __name__ == "__main__":
    dag.test()
