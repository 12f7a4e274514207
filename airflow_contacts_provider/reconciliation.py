"""Accounting for every row a sync read: created, updated, rejected, duplicate, failed or pending."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from airflow_contacts_provider.exceptions import ReconciliationError
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, reason_category

UNEXPLAINED = "rejected by the provider (no reason given)"
OVER_LIMIT = "over the account's contact limit"


@dataclass
class Reconciliation:
    """The counts a sync returns to XCom. Holds no addresses.

    ``pending`` counts contacts in async jobs that were not awaited
    (``wait_for_completion=False``); otherwise it is 0.
    """

    provider: str
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    failed: int = 0
    pending: int = 0
    batches: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    job_ids: list[str] = field(default_factory=list)
    failed_jobs: dict[str, str] = field(default_factory=dict)
    rejects_path: str | None = None

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def add_rejects(self, reasons: Counter[str], duplicates: int) -> None:
        self.rejected_by_reason.update(reasons)
        self.duplicates += duplicates

    def add_job(self, job: ImportJob) -> None:
        """Count a job's contacts by what the provider did with them."""
        if job.status == ImportStatus.FAILED:
            self.failed += job.submitted
            self.failed_jobs[job.job_id] = job.message or "no reason given"
            return
        if not job.is_terminal:
            self.pending += job.submitted
            return
        self.created += job.created or 0
        self.updated += job.updated or 0
        reasons = Counter(reason_category(error.reason) for error in job.row_errors)
        unexplained = (job.rejected or 0) - sum(reasons.values())
        if unexplained > 0:
            reasons[UNEXPLAINED] += unexplained
        if job.over_limit:
            reasons[OVER_LIMIT] += job.over_limit
        self.rejected_by_reason.update(reasons)

    def add_jobs_of(self, other: Reconciliation) -> None:
        """Add the job counts another reconciliation of this sync made (one kept by another thread)."""
        self.created += other.created
        self.updated += other.updated
        self.failed += other.failed
        self.pending += other.pending
        self.rejected_by_reason.update(other.rejected_by_reason)
        self.failed_jobs.update(other.failed_jobs)

    def check(self) -> None:
        """Raise, naming the numbers, unless every row read is accounted for exactly once."""
        accounted = self.created + self.updated + self.rejected + self.duplicates + self.failed + self.pending
        if accounted != self.rows_read:
            raise ReconciliationError(
                f"{self.provider}: rows read ({self.rows_read}) != created ({self.created}) + updated "
                f"({self.updated}) + rejected ({self.rejected}) + duplicates ({self.duplicates}) + failed "
                f"({self.failed}) + pending ({self.pending}) = {accounted}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "rows_read": self.rows_read,
            "created": self.created,
            "updated": self.updated,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.rejected_by_reason.most_common()),
            "duplicates": self.duplicates,
            "failed": self.failed,
            "pending": self.pending,
            "batches": self.batches,
            "job_ids": list(self.job_ids),
            "failed_jobs": dict(self.failed_jobs),
            "rejects_path": self.rejects_path,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reconciliation:
        return cls(
            provider=data["provider"], rows_read=data["rows_read"], created=data["created"],
            updated=data["updated"], duplicates=data["duplicates"], failed=data["failed"],
            pending=data["pending"], batches=data["batches"],
            rejected_by_reason=Counter(data["rejected_by_reason"]), job_ids=list(data["job_ids"]),
            failed_jobs=dict(data["failed_jobs"]), rejects_path=data["rejects_path"],
        )
