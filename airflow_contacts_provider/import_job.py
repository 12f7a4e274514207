"""The provider-neutral result of a bulk import: one shape for all four providers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class ImportStatus(str, Enum):
    """Where an import job is in its life; synchronous providers are terminal at once."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    def is_terminal(self) -> bool:
        return self in (ImportStatus.SUCCEEDED, ImportStatus.FAILED)


class RowError(BaseModel):
    """Why the provider refused one contact.

    ``index`` is the contact's position in the submitted batch, when the provider
    lets us know it; ``email`` is what the provider echoed back, when it does.
    """

    email: str | None = None
    index: int | None = None
    reason: str


class ImportJob(BaseModel):
    """One submitted batch and what the provider did with it.

    Counts are ``None`` until the provider reports them (an async job still running).
    ``rejected`` counts contacts the provider refused; ``over_limit`` is Mailtrap's
    count of contacts skipped because the account's contact limit was reached.
    """

    provider: str
    job_id: str
    status: ImportStatus
    submitted: int
    created: int | None = None
    updated: int | None = None
    rejected: int | None = None
    over_limit: int = 0
    row_errors: list[RowError] = Field(default_factory=list)
    message: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal()

    def with_submission(self, at_submit: ImportJob) -> ImportJob:
        """This polled state joined with what was known when the batch was submitted.

        A provider's job status may not know contacts the hook refused at submission
        (Mailtrap's 422 removals), nor how many were sent; those come from the submit.
        """
        return self.model_copy(update={
            "submitted": at_submit.submitted,
            "rejected": (self.rejected or 0) + (at_submit.rejected or 0),
            "row_errors": [*at_submit.row_errors, *self.row_errors],
        })


_EMAIL_LIKE = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+")


def reason_category(reason: str) -> str:
    """A reason with any address in it blanked, so counts by reason carry no personal data."""
    return _EMAIL_LIKE.sub("<email>", reason)


def summarize_jobs(jobs: Iterable[ImportJob]) -> dict[str, Any]:
    """Totals over import jobs, free of personal data, for XCom and task logs."""
    jobs = list(jobs)
    rejected_by_reason: Counter[str] = Counter(
        reason_category(error.reason) for job in jobs for error in job.row_errors
    )
    return {
        "jobs": len(jobs),
        "submitted": sum(job.submitted for job in jobs),
        "created": sum(job.created or 0 for job in jobs),
        "updated": sum(job.updated or 0 for job in jobs),
        "rejected": sum(job.rejected or 0 for job in jobs),
        "over_limit": sum(job.over_limit for job in jobs),
        "failed_jobs": [job.job_id for job in jobs if job.status == ImportStatus.FAILED],
        "rejected_by_reason": dict(rejected_by_reason),
    }
