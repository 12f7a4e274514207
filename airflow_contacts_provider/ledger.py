"""A record of the batches a sync has sent, kept across task retries.

It lives in Airflow's task state store (``context["task_state_store"]``, Airflow 3.3+),
which survives a worker crash and is read back by the next try of the same task. A
retry re-reads the source, and for every batch the ledger holds it checks the
fingerprint and reuses the recorded job instead of sending the batch again.

No addresses are kept: only row spans, fingerprints, job ids and counts.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from pydantic import BaseModel

from airflow_contacts_provider.exceptions import ConfigurationError
from airflow_contacts_provider.import_job import ImportJob, reason_category

LEDGER_KEY = "contacts_import_ledger"


class SentBatch(BaseModel):
    """One batch the provider has accepted."""

    sequence: int
    first_row: int | None
    last_row: int | None
    size: int
    fingerprint: int
    job: ImportJob


class ImportLedger:
    """Sent batches of one sync, saved after each batch is accepted.

    The batches are saved in pages of :attr:`PAGE_SIZE`, each under its own key, and an
    accepted batch rewrites its page only: a sync of thousands of batches writes a few
    kilobytes a batch, not the whole ledger again (the store warns past 64 KB a value).

    :param store: the task state store, or ``None`` where there is none (then a retry
        cannot know what was sent, and says so in the log).
    :param sync_key: what identifies the sync (destination, source, mapping, batch size);
        a ledger written for another sync is ignored.
    """

    PAGE_SIZE = 50

    def __init__(self, store: Any, sync_key: dict[str, Any]) -> None:
        self.store = store
        self.sync_key = hashlib.sha256(json.dumps(sync_key, sort_keys=True, default=str).encode()).hexdigest()
        self.batches: dict[int, SentBatch] = {}
        self._pages = 0  # pages saved under this sync key
        self._lock = threading.Lock()  # batches may be accepted by several sender threads at once
        if store is not None:
            saved = store.get(LEDGER_KEY)
            if isinstance(saved, dict) and saved.get("sync_key") == self.sync_key:
                self._pages = int(saved.get("pages", 0))
                for page in range(self._pages):
                    for item in store.get(_page_key(page)) or []:
                        batch = SentBatch.model_validate(item)
                        self.batches[batch.sequence] = batch

    @property
    def durable(self) -> bool:
        return self.store is not None

    def sent(self, sequence: int) -> SentBatch | None:
        return self.batches.get(sequence)

    def check_same(self, recorded: SentBatch, size: int, fingerprint: int) -> None:
        """Refuse to go on when the source no longer yields what the first try sent."""
        if (recorded.size, recorded.fingerprint) != (size, fingerprint):
            raise ConfigurationError(
                f"Batch {recorded.sequence} differs from the one an earlier try sent "
                f"({size} contacts now, {recorded.size} then): the source does not return rows in a "
                "stable order. Give the query an ORDER BY so a retry can skip what was sent."
            )

    def record(self, batch: SentBatch) -> None:
        with self._lock:
            self.batches[batch.sequence] = batch
            self._save_page(self._page(batch.sequence))

    def update_job(self, job: ImportJob) -> None:
        with self._lock:
            pages = set()
            for batch in self.batches.values():
                if batch.job.job_id == job.job_id:
                    batch.job = _without_addresses(job)
                    pages.add(self._page(batch.sequence))
            for page in sorted(pages):
                self._save_page(page)

    def _page(self, sequence: int) -> int:
        return (sequence - 1) // self.PAGE_SIZE

    def _save_page(self, page: int) -> None:
        if self.store is None:
            return
        first = page * self.PAGE_SIZE + 1
        batches = [self.batches[sequence] for sequence in range(first, first + self.PAGE_SIZE)
                   if sequence in self.batches]
        self.store.set(_page_key(page), [batch.model_dump(mode="json") for batch in batches])
        if page >= self._pages:  # the header names the pages a retry reads back
            self._pages = page + 1
            self.store.set(LEDGER_KEY, {"sync_key": self.sync_key, "pages": self._pages})

    def clear(self) -> None:
        self.batches.clear()
        if self.store is not None:
            for page in range(self._pages):
                self.store.delete(_page_key(page))
            self.store.delete(LEDGER_KEY)
        self._pages = 0


def _page_key(page: int) -> str:
    return f"{LEDGER_KEY}.page{page}"


def sent_batch(sequence: int, first_row: int | None, last_row: int | None, size: int, fingerprint: int,
               job: ImportJob) -> SentBatch:
    return SentBatch(sequence=sequence, first_row=first_row, last_row=last_row, size=size,
                     fingerprint=fingerprint, job=_without_addresses(job))


def _without_addresses(job: ImportJob) -> ImportJob:
    """The job as the ledger keeps it: row errors by position and reason, no emails."""
    errors = [error.model_copy(update={"email": None, "reason": reason_category(error.reason)})
              for error in job.row_errors]
    return job.model_copy(update={"row_errors": errors})
