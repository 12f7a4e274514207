"""Waits on import jobs in the triggerer, so a deferred task holds no worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_contacts_provider.exceptions import ProviderAuthError, ProviderRequestError
from airflow_contacts_provider.hooks.base import RETRYABLE_EXCEPTIONS, aget_contact_hook
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, reason_category


class ImportStatusTrigger(BaseTrigger):
    """Polls the import jobs of one connection until all are terminal, or ``end_time`` passes.

    Yields exactly one event: ``{"status": "success" | "error" | "timeout", "message": ...,
    "jobs": [ImportJob as JSON]}``. Transient HTTP trouble (beyond what each request
    retries itself) is logged and polled again; refused credentials end it at once.

    :param conn_id: the destination connection.
    :param job_ids: the import jobs to wait for.
    :param poll_interval: seconds between polls.
    :param end_time: ``time.time()`` after which it gives up.
    """

    def __init__(self, conn_id: str, job_ids: list[str], poll_interval: float, end_time: float) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.job_ids = list(job_ids)
        self.poll_interval = poll_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "conn_id": self.conn_id,
                "job_ids": self.job_ids,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            jobs = await self._wait()
        except (ProviderAuthError, ProviderRequestError) as error:
            yield TriggerEvent({"status": "error", "message": str(error), "jobs": []})
            return
        if jobs is None:
            yield TriggerEvent({"status": "timeout", "jobs": [],
                                "message": f"Import jobs {self.job_ids} did not finish before the timeout."})
            return
        failed = [job.job_id for job in jobs if job.status == ImportStatus.FAILED]
        yield TriggerEvent({
            "status": "error" if failed else "success",
            "message": f"Import jobs failed: {failed}" if failed else "All import jobs succeeded.",
            "jobs": [_without_addresses(job) for job in jobs],
        })

    async def _wait(self) -> list[ImportJob] | None:
        """Every job once terminal, or ``None`` at ``end_time``."""
        hook = await aget_contact_hook(self.conn_id)
        finished: dict[str, ImportJob] = {}
        while True:
            for job_id in self.job_ids:
                if job_id in finished:
                    continue
                try:
                    job = await hook.aget_import(job_id)
                except (ProviderRequestError, *RETRYABLE_EXCEPTIONS) as error:
                    # Connections dropped past the request's own retries are transient too.
                    if isinstance(error, ProviderRequestError) and not error.is_transient:
                        raise
                    self.log.warning("Polling import %s failed, will poll again: %s", job_id, error)
                    continue
                if job.is_terminal:
                    finished[job_id] = job
            if len(finished) == len(self.job_ids):
                return [finished[job_id] for job_id in self.job_ids]
            if time.time() >= self.end_time:
                return None
            self.log.info("%d of %d import jobs finished; next poll in %s s", len(finished),
                          len(self.job_ids), self.poll_interval)
            await asyncio.sleep(self.poll_interval)


def _without_addresses(job: ImportJob) -> dict[str, Any]:
    """The job for the event (which Airflow stores): row errors keep their reason, not the address."""
    errors = [error.model_copy(update={"email": None, "reason": reason_category(error.reason)})
              for error in job.row_errors]
    return job.model_copy(update={"row_errors": errors}).model_dump(mode="json")
