"""ImportLedger: the batches a sync sent, kept in the task state store so a retry can skip them.

``MemoryStore`` stands in for the store: ``get``/``set``/``delete``, values kept as JSON text.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_contacts_provider.exceptions import ConfigurationError
from airflow_contacts_provider.import_job import ImportJob, ImportStatus, RowError
from airflow_contacts_provider.ledger import ImportLedger, sent_batch
from tests.operators.e2e import MemoryStore

SYNC = {"destination": "mailtrap_default", "sql": "SELECT * FROM contacts ORDER BY id", "batch_size": 100}


def job(job_id: str, status: ImportStatus = ImportStatus.PENDING, **fields: Any) -> ImportJob:
    return ImportJob(provider="mailtrap", job_id=job_id, status=status, submitted=100, **fields)


def test_a_later_try_reads_back_the_batches_an_earlier_one_recorded() -> None:
    store = MemoryStore()
    first_try = ImportLedger(store, SYNC)
    first_try.record(sent_batch(1, 0, 99, 100, 12345, job("1")))
    first_try.record(sent_batch(2, 100, 203, 100, 67890, job("2")))

    retry = ImportLedger(store, dict(SYNC))

    assert retry.durable and sorted(retry.batches) == [1, 2]
    recorded = retry.sent(2)
    assert recorded is not None
    assert (recorded.first_row, recorded.last_row, recorded.size, recorded.fingerprint) == (100, 203, 100, 67890)
    assert recorded.job.job_id == "2" and recorded.job.status == ImportStatus.PENDING
    assert retry.sent(3) is None


def test_a_ledger_of_another_sync_is_ignored() -> None:
    store = MemoryStore()
    ImportLedger(store, SYNC).record(sent_batch(1, 0, 99, 100, 1, job("1")))

    other = ImportLedger(store, {**SYNC, "batch_size": 50})

    assert other.batches == {}
    other.record(sent_batch(1, 0, 49, 50, 2, job("9")))
    assert ImportLedger(store, SYNC).batches == {}, "the other sync's record replaced this one"


def test_check_same_passes_the_same_batch_and_refuses_a_different_one_clearly() -> None:
    store = MemoryStore()
    ImportLedger(store, SYNC).record(sent_batch(3, 200, 299, 100, 42, job("3")))
    ledger = ImportLedger(store, SYNC)
    recorded = ledger.sent(3)
    assert recorded is not None

    ledger.check_same(recorded, 100, 42)
    with pytest.raises(ConfigurationError) as refused:
        ledger.check_same(recorded, 100, 43)
    message = str(refused.value)
    assert "Batch 3 differs from the one an earlier try sent (100 contacts now, 100 then)" in message
    assert "ORDER BY" in message
    with pytest.raises(ConfigurationError, match=r"\(99 contacts now, 100 then\)"):
        ledger.check_same(recorded, 99, 42)


def test_no_addresses_are_kept() -> None:
    store = MemoryStore()
    refused = job("1", ImportStatus.SUCCEEDED, created=98, updated=0, rejected=2, row_errors=[
        RowError(email="ada@example.com", index=4, reason="email: is invalid"),
        RowError(email="bob@example.com", index=7, reason="bob@example.com is on the suppression list"),
    ])

    ledger = ImportLedger(store, SYNC)
    ledger.record(sent_batch(1, 0, 99, 100, 1, refused))

    assert len(store.values) == 2 and not any("@" in value for value in store.values.values())
    errors = ImportLedger(store, SYNC).batches[1].job.row_errors
    assert [(error.index, error.email, error.reason) for error in errors] == [
        (4, None, "email: is invalid"), (7, None, "<email> is on the suppression list")]


def test_update_job_saves_the_polled_state_of_a_recorded_job() -> None:
    store = MemoryStore()
    ledger = ImportLedger(store, SYNC)
    ledger.record(sent_batch(1, 0, 99, 100, 1, job("1")))
    ledger.record(sent_batch(2, 100, 199, 100, 2, job("2")))

    ledger.update_job(job("2", ImportStatus.SUCCEEDED, created=100, updated=0, rejected=0))

    retry = ImportLedger(store, SYNC)
    assert retry.batches[1].job.status == ImportStatus.PENDING
    assert (retry.batches[2].job.status, retry.batches[2].job.created) == (ImportStatus.SUCCEEDED, 100)


def test_without_a_store_the_ledger_works_but_is_not_durable() -> None:
    ledger = ImportLedger(None, SYNC)
    ledger.record(sent_batch(1, 0, 99, 100, 1, job("1")))
    ledger.update_job(job("1", ImportStatus.SUCCEEDED, created=100))

    assert not ledger.durable and ledger.batches == {}


class CountingStore(MemoryStore):
    """Counts the values written, and their largest size."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.largest = 0

    def set(self, key: str, value: Any) -> None:
        super().set(key, value)
        self.writes += 1
        self.largest = max(self.largest, len(self.values[key]))


def test_a_long_sync_writes_one_page_a_batch_and_a_retry_reads_every_page() -> None:
    store = CountingStore()
    ledger = ImportLedger(store, SYNC)
    for sequence in range(1, 2_501):  # Notifuse at 5M contacts: 2,500 batches
        ledger.record(sent_batch(sequence, 0, 1, 2_000, sequence, job(str(sequence))))
    pages = 2_500 // ImportLedger.PAGE_SIZE

    assert store.writes == 2_500 + pages, "a page a batch, and the header once a page"
    assert store.largest < 64_000, "each value under the store's 64 KB advice"

    ledger.update_job(job("1234", ImportStatus.SUCCEEDED, created=2_000))
    assert store.writes == 2_500 + pages + 1, "an update rewrites its batch's page only"

    retry = ImportLedger(store, SYNC)
    assert sorted(retry.batches) == list(range(1, 2_501))
    assert retry.batches[1234].job.status == ImportStatus.SUCCEEDED
    assert retry.batches[2500].fingerprint == 2500


def test_a_long_sync_keeps_only_its_open_pages_and_running_jobs_in_memory() -> None:
    ledger = ImportLedger(MemoryStore(), SYNC)
    for sequence in range(1, 2_501):
        status = ImportStatus.PENDING if sequence % 500 == 0 else ImportStatus.SUCCEEDED
        ledger.record(sent_batch(sequence, 0, 1, 2_000, sequence, job(str(sequence), status)))

    held = sum(len(batches) for batches in ledger._open.values())
    assert held <= ImportLedger.OPEN_PAGES * ImportLedger.PAGE_SIZE
    assert sorted(ledger._running) == ["1000", "1500", "2000", "2500", "500"]


def test_a_late_batch_of_a_page_no_longer_open_keeps_the_batches_saved_there() -> None:
    store = MemoryStore()
    ledger = ImportLedger(store, SYNC)
    for sequence in [*range(1, 50), *range(51, 160)]:  # batch 50 finishes last, its page long closed
        ledger.record(sent_batch(sequence, 0, 1, 100, sequence, job(str(sequence), ImportStatus.SUCCEEDED)))
    ledger.record(sent_batch(50, 0, 1, 100, 50, job("50", ImportStatus.SUCCEEDED)))

    assert sorted(ImportLedger(store, SYNC).batches) == list(range(1, 160))


def test_a_retry_saves_the_finished_state_of_a_job_an_earlier_try_left_running() -> None:
    store = MemoryStore()
    first_try = ImportLedger(store, SYNC)
    for sequence in range(1, 121):
        first_try.record(sent_batch(sequence, 0, 1, 100, sequence, job(str(sequence))))

    retry = ImportLedger(store, SYNC)  # skips the batches and waits for their jobs
    retry.update_job(job("7", ImportStatus.SUCCEEDED, created=100, updated=0, rejected=0))

    third = ImportLedger(store, SYNC)
    assert (third.batches[7].job.status, third.batches[7].job.created) == (ImportStatus.SUCCEEDED, 100)
    assert third.batches[8].job.status == ImportStatus.PENDING and sorted(third.batches) == list(range(1, 121))
