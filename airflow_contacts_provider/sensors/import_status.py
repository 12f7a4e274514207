"""Waits for async import jobs and reports what they created, updated and rejected."""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf

from airflow_contacts_provider.exceptions import ImportJobFailedError
from airflow_contacts_provider.hooks.base import get_contact_hook
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, reason_category, summarize_jobs
from airflow_contacts_provider.triggers.import_status import ImportStatusTrigger


class ImportStatusSensor(BaseSensorOperator):
    """Succeeds when every import job has finished successfully; fails with the errors of any that failed.

    Returns (to XCom) the jobs' totals: submitted, created, updated, rejected (with counts
    by reason) and over-limit. No addresses.

    :param destination_conn_id: the provider connection the jobs belong to.
    :param import_ids: job ids: a list, a JSON/Python list as text (a rendered template),
        a comma-separated string, or the ``BulkContactImportOperator`` result (its ``job_ids``).
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = ("destination_conn_id", "import_ids")

    def __init__(
        self,
        *,
        destination_conn_id: str,
        import_ids: Any,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination_conn_id = destination_conn_id
        self.import_ids = import_ids
        self.deferrable = deferrable

    @property
    def job_ids(self) -> list[str]:
        return parse_job_ids(self.import_ids)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=ImportStatusTrigger(
                conn_id=self.destination_conn_id,
                job_ids=self.job_ids,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> PokeReturnValue:
        hook = get_contact_hook(self.destination_conn_id)
        jobs = [hook.get_import(job_id) for job_id in self.job_ids]
        waiting = [job.job_id for job in jobs if not job.is_terminal]
        if waiting:
            self.log.info("Waiting for %d of %d import jobs", len(waiting), len(jobs))
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=finish(jobs, self.log))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event["status"] not in ("success", "error") or not event["jobs"]:
            raise ImportJobFailedError(event["message"])
        return finish([ImportJob.model_validate(job) for job in event["jobs"]], self.log)


def finish(jobs: list[ImportJob], log: Any) -> dict[str, Any]:
    """The jobs' totals, or :class:`ImportJobFailedError` naming each failed job and why."""
    summary = summarize_jobs(jobs)
    failed = [job for job in jobs if job.status == ImportStatus.FAILED]
    if failed:
        raise ImportJobFailedError("; ".join(_failure(job) for job in failed))
    log.info("Import jobs finished: %s", {k: v for k, v in summary.items() if k != "rejected_by_reason"})
    return summary


def _failure(job: ImportJob) -> str:
    reasons = sorted({reason_category(error.reason) for error in job.row_errors})[:5]
    detail = f" (row errors: {', '.join(reasons)})" if reasons else ""
    return f"{job.provider} import {job.job_id} failed: {job.message or 'no reason given'}{detail}"


def parse_job_ids(value: Any) -> list[str]:
    """Job ids from whatever a template or an upstream XCom gave."""
    if isinstance(value, dict):
        value = value.get("job_ids", [])
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(")):
            try:
                value = json.loads(text)
            except ValueError:
                value = ast.literal_eval(text)
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    return [str(job_id) for job_id in value]
