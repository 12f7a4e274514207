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
    Memory holds the pages still being written (read back from the store if a late batch
    needs an older one) and the batches whose jobs were still running, not every batch sent.

    :param store: the task state store, or ``None`` where there is none (then a retry
        cannot know what was sent, and says so in the log).
    :param sync_key: what identifies the sync (destination, source, mapping, batch size);
        a ledger written for another sync is ignored.
    """

    PAGE_SIZE = 50
    OPEN_PAGES = 2
    """Pages kept in memory while batches are recorded: the current one and the one before it."""

    def __init__(self, store: Any, sync_key: dict[str, Any]) -> None:
        self.store = store
        self.sync_key = hashlib.sha256(json.dumps(sync_key, sort_keys=True, default=str).encode()).hexdigest()
        self.batches: dict[int, SentBatch] = {}
        """The batches an earlier try of this sync sent, read back when the ledger is made."""
        self._pages = 0  # pages saved under this sync key
        self._open: dict[int, dict[int, SentBatch]] = {}  # pages being written: sequence -> batch
        self._running: dict[str, int] = {}  # sequence of each batch recorded with its job still running
        self._lock = threading.Lock()  # batches may be accepted by several sender threads at once
        if store is not None:
            saved = store.get(LEDGER_KEY)
            if isinstance(saved, dict) and saved.get("sync_key") == self.sync_key:
                self._pages = int(saved.get("pages", 0))
                for page in range(self._pages):
                    self.batches.update(self._read_page(page))
        self._running.update({batch.job.job_id: sequence for sequence, batch in self.batches.items()
                              if not batch.job.is_terminal})

    @property
    def durable(self) -> bool:
        return self.store is not None

    def sent(self, sequence: int) -> SentBatch | None:
        """The batch an earlier try sent under this sequence number, if any."""
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
        if self.store is None:
            return
        with self._lock:
            page = self._page(batch.sequence)
            self._open_page(page)[batch.sequence] = batch
            if not batch.job.is_terminal:
                self._running[batch.job.job_id] = batch.sequence
            self._save_page(page)
            for done in [other for other in self._open if other <= page - self.OPEN_PAGES]:
                del self._open[done]

    def update_job(self, job: ImportJob) -> None:
        """Save the polled state of a job recorded while it was still running."""
        if self.store is None:
            return
        with self._lock:
            sequence = self._running.pop(job.job_id, None)
            if sequence is None:
                return
            page = self._page(sequence)
            batches = self._open_page(page)
            if sequence in batches:
                batches[sequence].job = _without_addresses(job)
                self._save_page(page)

    def _page(self, sequence: int) -> int:
        return (sequence - 1) // self.PAGE_SIZE

    def _open_page(self, page: int) -> dict[int, SentBatch]:
        """A page's batches, as saved so far (read back from the store if it is no longer open)."""
        if page not in self._open:
            self._open[page] = self._read_page(page) if page < self._pages else {}
        return self._open[page]

    def _read_page(self, page: int) -> dict[int, SentBatch]:
        batches = (SentBatch.model_validate(item) for item in self.store.get(_page_key(page)) or [])
        return {batch.sequence: batch for batch in batches}

    def _save_page(self, page: int) -> None:
        batches = sorted(self._open[page].values(), key=lambda batch: batch.sequence)
        self.store.set(_page_key(page), [batch.model_dump(mode="json") for batch in batches])
        if page >= self._pages:  # the header names the pages a retry reads back
            self._pages = page + 1
            self.store.set(LEDGER_KEY, {"sync_key": self.sync_key, "pages": self._pages})


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
