"""Reconciliation: every row read is created, updated, rejected, a duplicate, failed or pending, once."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from airflow_contacts_provider.exceptions import ReconciliationError
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, RowError
from airflow_contacts_provider.reconciliation import OVER_LIMIT, UNEXPLAINED, Reconciliation


def job(status: ImportStatus, submitted: int, **fields: Any) -> ImportJob:
    return ImportJob(provider="mailtrap", job_id=f"job-{status.value}", status=status, submitted=submitted, **fields)


def test_check_passes_when_every_row_is_accounted_for_once() -> None:
    result = Reconciliation(provider="notifuse", rows_read=20, created=9, updated=4, duplicates=1, failed=3,
                            pending=1, rejected_by_reason=Counter({"email: missing": 2}))

    result.check()


def test_check_names_each_number_when_they_disagree() -> None:
    result = Reconciliation(provider="notifuse", rows_read=10, created=3, updated=2, duplicates=1,
                            rejected_by_reason=Counter({"email: missing": 1}))

    with pytest.raises(ReconciliationError) as disagreement:
        result.check()

    assert str(disagreement.value) == (
        "notifuse: rows read (10) != created (3) + updated (2) + rejected (1) + duplicates (1) + failed (0) "
        "+ pending (0) = 7"
    )


def test_rejects_and_duplicates_from_validation_are_added_up() -> None:
    result = Reconciliation(provider="migma", rows_read=10)
    result.add_rejects(Counter({"email: missing": 2, "phone: longer than 30 characters": 1}), duplicates=1)
    result.add_rejects(Counter({"email: missing": 1}), duplicates=2)

    assert result.rejected == 4 and result.duplicates == 3
    assert result.rejected_by_reason == Counter({"email: missing": 3, "phone: longer than 30 characters": 1})


def test_a_finished_job_counts_its_outcomes_and_explains_every_refusal() -> None:
    result = Reconciliation(provider="mailtrap", rows_read=100)
    result.add_job(job(ImportStatus.SUCCEEDED, 100, created=80, updated=10, rejected=5, over_limit=5, row_errors=[
        RowError(index=1, email="ada@example.com", reason="ada@example.com: email is invalid"),
        RowError(index=2, reason="fields: contains invalid values: age"),
    ]))

    result.check()
    assert (result.created, result.updated, result.rejected) == (80, 10, 10)
    assert result.rejected_by_reason == Counter({
        "<email>: email is invalid": 1, "fields: contains invalid values: age": 1, UNEXPLAINED: 3, OVER_LIMIT: 5})


def test_a_failed_job_counts_its_contacts_as_failed_and_keeps_its_message() -> None:
    result = Reconciliation(provider="sendgrid", rows_read=50)
    result.add_job(job(ImportStatus.FAILED, 50, message="import job failed: try again"))
    result.add_job(job(ImportStatus.FAILED, 0).model_copy(update={"job_id": "quiet"}))

    result.check()
    assert result.failed == 50
    assert result.failed_jobs == {"job-failed": "import job failed: try again", "quiet": "no reason given"}


def test_an_unfinished_job_counts_as_pending() -> None:
    result = Reconciliation(provider="mailtrap", rows_read=30)
    result.add_job(job(ImportStatus.RUNNING, 30))

    result.check()
    assert (result.pending, result.created) == (30, 0)


def test_the_dict_round_trips_through_json_without_addresses() -> None:
    result = Reconciliation(provider="sendgrid", rows_read=7, created=3, updated=1, duplicates=1, failed=0,
                            pending=1, batches=2, rejected_by_reason=Counter({"email: invalid syntax": 1}),
                            job_ids=["a", "b"], failed_jobs={}, rejects_path="s3://bucket/rejects/")

    data = json.loads(json.dumps(result.to_dict()))

    assert Reconciliation.from_dict(data) == result
    assert data["rejected"] == 1
    assert "@" not in json.dumps(data)


def test_job_counts_kept_apart_add_up_as_if_counted_in_one() -> None:
    jobs = [job(ImportStatus.SUCCEEDED, 10, created=6, updated=2, rejected=2,
                row_errors=[RowError(index=1, email="a@example.com", reason="email: is invalid")]),
            job(ImportStatus.FAILED, 5, message="boom"),
            job(ImportStatus.RUNNING, 7)]
    together = Reconciliation(provider="mailtrap", rows_read=30)
    together.add_rejects(Counter({"email: missing": 8}), duplicates=0)
    apart, counted_elsewhere = Reconciliation(provider="mailtrap", rows_read=30), Reconciliation(provider="mailtrap")
    apart.add_rejects(Counter({"email: missing": 8}), duplicates=0)
    for each in jobs:
        together.add_job(each)
        counted_elsewhere.add_job(each)

    apart.add_jobs_of(counted_elsewhere)

    assert apart.to_dict() == together.to_dict()
    apart.check()
