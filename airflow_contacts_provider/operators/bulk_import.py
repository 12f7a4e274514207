"""Sync contacts from a warehouse query or a file into any of the four providers."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from datetime import timedelta
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from airflow.sdk import BaseOperator, BaseOperatorLink, Context, conf

from airflow_contacts_provider.batching import EMAIL_HASH, BatchCutter, BatchDigest, RowRanges
from airflow_contacts_provider.exceptions import ConfigurationError, ContactsProviderError, ImportJobFailedError
from airflow_contacts_provider.hooks.base import ContactImportHook, get_contact_hook
from airflow_contacts_provider.import_job import ImportJob, ImportStatus
from airflow_contacts_provider.ledger import ImportLedger, sent_batch
from airflow_contacts_provider.mapping import FieldMapping
from airflow_contacts_provider.progress import Progress
from airflow_contacts_provider.read_ahead import ReadAhead
from airflow_contacts_provider.reconciliation import Reconciliation
from airflow_contacts_provider.rejects import RejectsWriter
from airflow_contacts_provider.sources import ContactSource, source_from_args
from airflow_contacts_provider.triggers.import_status import ImportStatusTrigger
from airflow_contacts_provider.validation import ContactValidator

_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8
"""glibc's ``mallopt`` parameters: the size from which a block is mapped on its own, the number of
malloc arenas (``malloc.h``)."""

RESUME_KEY = "contacts_import_deferred"
"""Task state store key of the counts a deferred sync resumes with."""


def _use_lean_allocators(mapped_blocks_from: int | None = None) -> None:
    """Allocators that give freed memory back, for a sync's many short-lived chunk buffers.

    Arrow's default allocator (its bundled jemalloc) keeps freed pages for reuse: it held
    ~90 MiB more at peak than the C allocator, and ran slower. glibc's malloc gives each busy
    thread an arena of its own, which keeps what that thread freed; a sync runs up to six
    threads, and two arenas held ~5 MiB less (1M and 5M contacts, benchmarks/throughput.py).
    A task has its own process, so these choices are the task's alone. Off glibc, the C
    allocator is left as it is.

    :param mapped_blocks_from: blocks of at least this many bytes get pages of their own, given
        back when freed, rather than heap space that may stay held; ``None`` keeps glibc's
        default (see ``ContactImportHook.mapped_blocks_from``).
    """
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, 2)
    if mapped_blocks_from is not None:
        mallopt(_M_MMAP_THRESHOLD, mapped_blocks_from)


@contextmanager
def _older_objects_not_collected() -> Iterator[None]:
    """Leave the objects that exist before the sync out of the garbage collector's full passes.

    A task's process holds about 200,000 of them (Airflow, pandas, the providers), and each full
    pass walks them all: 90 ms, at least once a million contacts. ``gc.freeze`` sets them aside
    while the sync runs; ``gc.unfreeze`` gives them back to the collector after it.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _saved_resume(context: Context) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The counts a deferred sync saved in the task state store before deferring."""
    store = context.get("task_state_store")
    saved: Any = store.get(RESUME_KEY) if store is not None else None
    if not isinstance(saved, dict):
        raise ImportJobFailedError("Resumed without the sync's counts, and the task state store has none.")
    return saved["reconciliation"], saved["submissions"]


class ProviderContactsLink(BaseOperatorLink):
    """A link to the destination's contacts or import page, where the provider has one."""

    name = "Provider contacts"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        return getattr(operator, "provider_page_url", None) or ""


class BulkContactImportOperator(BaseOperator):
    """Read contacts in chunks, validate and map them, send them in provider-sized batches, and
    account for every row.

    The destination hook is chosen by the connection's type, so one operator serves
    Mailtrap, Notifuse, SendGrid Marketing and Migma. Returns (to XCom) a reconciliation
    with no addresses: rows read, created, updated, rejected by reason, duplicates,
    failed, pending, async job ids and the rejects path. The task fails if those do not
    add up to the rows read.

    A retried task does not send again what an earlier try sent: each accepted batch is
    recorded in the task state store, and a retry re-reads the source and reuses the
    recorded jobs. The source must return rows in a stable order (an ``ORDER BY``).

    :param destination_conn_id: a mailtrap, notifuse, sendgrid_marketing or migma connection.
    :param source_conn_id: with ``sql``, an SQL connection (any common.sql ``DbApiHook``); with
        ``path``, the object storage connection (e.g. ``aws_default``), if it needs one.
    :param sql: the query that returns the contacts (or a ``.sql`` file).
    :param parameters: query parameters.
    :param path: instead of SQL, a CSV, Parquet or JSON Lines file (or folder) on object storage.
    :param file_format: ``csv``, ``parquet`` or ``jsonl`` when the path's suffix does not say.
    :param mapping: source column -> destination field; default: same-named columns.
    :param email_column: the source column holding the email address.
    :param list_ids: lists to add every contact to (Mailtrap list ids, Notifuse lists,
        SendGrid list ids, Migma tags).
    :param exclude_list_ids: Mailtrap only: lists to remove every contact from.
    :param batch_size: contacts per request; defaults to, and may not exceed, the provider's limit.
    :param chunk_size: rows read from the source at a time; bounds memory. Defaults to the
        destination hook's ``default_chunk_size``: 25,000 (Notifuse and Migma 20,000), at which a sync of
        11-column contacts holds 50-70 MiB beyond what the worker held before (200-235 MiB with
        Airflow, pandas and pyarrow imported); halving it saves 12-17 MiB and costs 10-20 % more
        time (benchmarks/throughput.py).
    :param wait_for_completion: wait for async import jobs to finish.
    :param deferrable: wait in the triggerer rather than a worker slot.
    :param poll_interval: seconds between job status checks.
    :param timeout: seconds to wait for async jobs.
    :param rejects_path: where rejected rows go, with a reason each (CSV or Parquet).
    :param max_reject_ratio: fail the task when more than this share of rows is rejected.
    """

    template_fields: Sequence[str] = (
        "destination_conn_id", "source_conn_id", "sql", "parameters", "path", "mapping",
        "list_ids", "exclude_list_ids", "rejects_path",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "mapping": "json", "parameters": "json"}
    operator_extra_links = (ProviderContactsLink(),)
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        destination_conn_id: str,
        source_conn_id: str | None = None,
        sql: str | None = None,
        parameters: Any = None,
        path: str | None = None,
        file_format: str | None = None,
        mapping: dict[str, str] | None = None,
        email_column: str = "email",
        list_ids: Sequence[str | int] | None = None,
        exclude_list_ids: Sequence[str | int] | None = None,
        batch_size: int | None = None,
        chunk_size: int | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: float = 6 * 3600,
        rejects_path: str | None = None,
        max_reject_ratio: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination_conn_id = destination_conn_id
        self.source_conn_id = source_conn_id
        self.sql = sql
        self.parameters = parameters
        self.path = path
        self.file_format = file_format
        self.mapping = mapping
        self.email_column = email_column
        self.list_ids = list_ids
        self.exclude_list_ids = exclude_list_ids
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.rejects_path = rejects_path
        self.max_reject_ratio = max_reject_ratio
        self.provider_page_url: str | None = None
        self._lineage: tuple[tuple[str, str], tuple[str, str]] | None = None

    # -- configuration, checked before anything is sent -------------------------------------

    def _checked_batch_size(self, hook: ContactImportHook) -> int:
        if self.batch_size is None:
            return hook.max_batch_size
        if not 0 < self.batch_size <= hook.max_batch_size:
            raise ConfigurationError(
                f"batch_size={self.batch_size} is outside 1..{hook.max_batch_size}, "
                f"{hook.hook_name}'s limit per request."
            )
        return self.batch_size

    def _check_settings(self) -> None:
        if self.chunk_size is not None and self.chunk_size <= 0:
            raise ConfigurationError(f"chunk_size must be positive, not {self.chunk_size}.")
        if self.max_reject_ratio is not None and not 0 <= self.max_reject_ratio <= 1:
            raise ConfigurationError(f"max_reject_ratio must be between 0 and 1, not {self.max_reject_ratio}.")

    def _source(self) -> ContactSource:
        return source_from_args(
            source_conn_id=self.source_conn_id, sql=self.sql, parameters=self.parameters,
            path=self.path, file_format=self.file_format,
        )

    def _sync_key(self, batch_size: int) -> dict[str, Any]:
        return {
            "destination": self.destination_conn_id, "source": self.source_conn_id, "sql": self.sql,
            "parameters": self.parameters, "path": self.path, "mapping": self.mapping,
            "email_column": self.email_column, "lists": [self.list_ids, self.exclude_list_ids],
            "batch_size": batch_size,
        }

    # -- the sync ------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_settings()
        hook = get_contact_hook(self.destination_conn_id)
        _use_lean_allocators(hook.mapped_blocks_from)
        batch_size = self._checked_batch_size(hook)
        source = self._source()
        field_specs = hook.get_field_specs()
        ledger = ImportLedger(context.get("task_state_store"), self._sync_key(batch_size))
        if not ledger.durable:
            self.log.warning("No task state store: a retry of this task cannot tell which batches were sent.")
        elif ledger.batches:
            self.log.info("An earlier try sent %d batches; they will be checked, not sent again.",
                          len(ledger.batches))
        self.provider_page_url = hook.contacts_page_url()
        lists = ",".join(str(list_id) for list_id in self.list_ids or ()) or "all"
        self._lineage = (source.lineage(), (f"{hook.provider}://{hook.base_url.split('://', 1)[-1]}",
                                            f"contacts/lists/{lists}"))

        reconciliation = Reconciliation(provider=hook.provider, rejects_path=self.rejects_path)
        rejects = RejectsWriter(self.rejects_path) if self.rejects_path else None
        validator = ContactValidator(field_specs, FieldMapping(self.mapping, self.email_column), hook.provider)
        progress = Progress(self.log)
        finished_jobs = Reconciliation(provider=hook.provider)  # this thread's; the reader counts rejects
        pending: list[ImportJob] = []  # jobs still importing, with what they hold
        row_numbers: dict[str, RowRanges] = {}

        def record(job: ImportJob, sequence: int, digest: BatchDigest) -> None:
            """Count a finished job at once; keep a running one to wait for (a long sync holds no more)."""
            reconciliation.batches = sequence
            self._write_provider_rejects(job, digest.row_numbers, rejects)
            if job.is_terminal:
                finished_jobs.add_job(job)
            else:
                pending.append(job)
                row_numbers[job.job_id] = digest.row_numbers  # to place the rejects it will report
            progress.batch_sent(sequence, reconciliation.rows_read, digest.size)

        # Chunks are read and validated in a thread of their own, a chunk ahead of this one, which
        # prepares them and cuts them into batches. A provider that takes one batch at a time gets
        # it streamed from this thread; with ``concurrent_requests`` above one, this thread makes
        # each batch ready (``encode_import``) and that many sender threads send them, results
        # taken in order.
        # Leaving the block stops the reader and closes the source (a suspended stream would keep
        # its cursor, transaction and locks open) and waits for the batches in flight.
        concurrency = hook.concurrent_requests
        in_flight: deque[tuple[Future[ImportJob], int, BatchDigest]] = deque()
        chunks = source.iter_chunks(self.chunk_size or hook.default_chunk_size)
        reader = ReadAhead(self._validated(chunks, validator, reconciliation, rejects), depth=1, name="contacts-reader")
        with (_older_objects_not_collected(),
              ThreadPoolExecutor(concurrency, thread_name_prefix="contacts-sender") as senders, reader as contacts):
            cutter = BatchCutter(self._prepared(contacts, hook), batch_size)
            sequence = 0
            while cutter.has_more():
                sequence += 1
                digest = BatchDigest()
                batch = digest.track(cutter.next_batch())
                send = self._staged(hook, ledger, sequence, digest, batch, encode_now=concurrency > 1)
                if concurrency == 1:
                    record(send(), sequence, digest)
                    continue
                in_flight.append((senders.submit(send), sequence, digest))
                if len(in_flight) == concurrency:
                    done, done_sequence, done_digest = in_flight.popleft()
                    record(done.result(), done_sequence, done_digest)
            while in_flight:
                done, done_sequence, done_digest = in_flight.popleft()
                record(done.result(), done_sequence, done_digest)

        reconciliation.add_jobs_of(finished_jobs)
        reconciliation.job_ids = [job.job_id for job in pending]
        if pending and self.wait_for_completion:
            if self.deferrable:
                if rejects is not None:
                    rejects.close()
                resume = {
                    "reconciliation": reconciliation.to_dict(),
                    "submissions": {job.job_id: [job.submitted, job.rejected or 0] for job in pending},
                }
                if ledger.durable:
                    ledger.store.set(RESUME_KEY, resume)
                self.defer(
                    trigger=ImportStatusTrigger(
                        conn_id=self.destination_conn_id, job_ids=reconciliation.job_ids,
                        poll_interval=self.poll_interval, end_time=time.time() + self.timeout,
                    ),
                    method_name="execute_complete",
                    kwargs=resume,
                    timeout=timedelta(seconds=self.timeout),
                )
            finished = []
            for polled, at_submit in zip(self._wait(hook, pending), pending, strict=True):
                self._write_provider_rejects(polled, row_numbers[polled.job_id], rejects)
                finished.append(polled.with_submission(at_submit))
                ledger.update_job(finished[-1])
            pending = finished
        for job in pending:
            reconciliation.add_job(job)
        if rejects is not None:
            rejects.close()
        return self._finish(reconciliation)

    def execute_complete(self, context: Context, event: dict[str, Any], reconciliation: dict[str, Any] | None = None,
                         submissions: dict[str, list[int]] | None = None) -> dict[str, Any]:
        """Resume after the trigger: count the finished jobs, write their rejects, reconcile.

        The counts so far come back as the kwargs given to ``defer``; ``dag.test()`` of Airflow
        3.3 resumes with the event alone (apache/airflow#69942), so execute also saved them in
        the task state store.
        """
        if reconciliation is None or submissions is None:
            reconciliation, submissions = _saved_resume(context)
        result = Reconciliation.from_dict(reconciliation)
        if event["status"] not in ("success", "error") or not event["jobs"]:
            raise ImportJobFailedError(event["message"])
        hook = get_contact_hook(self.destination_conn_id)
        ledger = ImportLedger(context.get("task_state_store"), self._sync_key(self._checked_batch_size(hook)))
        rejects = RejectsWriter(self.rejects_path, append=True) if self.rejects_path else None
        for data in event["jobs"]:
            polled = ImportJob.model_validate(data)
            if polled.row_errors:
                polled = hook.get_import(polled.job_id)  # the event carries no addresses; the API does
            self._write_provider_rejects(polled, None, rejects)
            sent, refused = submissions[polled.job_id]
            job = polled.with_submission(polled.model_copy(update={"submitted": sent, "rejected": refused,
                                                                   "row_errors": []}))
            ledger.update_job(job)
            result.add_job(job)
        if rejects is not None:
            rejects.close()
        return self._finish(result)

    def _validated(self, chunks: Generator[pd.DataFrame, None, None] | ReadAhead[pd.DataFrame],
                   validator: ContactValidator, reconciliation: Reconciliation, rejects: RejectsWriter | None
                   ) -> Generator[tuple[pd.DataFrame, np.ndarray | None], None, None]:
        """Source chunks as valid contacts and their email hashes; rejects and duplicates are
        counted and written as they pass. Closing this closes the chunks (the source's cursor)."""
        with closing(chunks):
            for chunk in chunks:
                reconciliation.rows_read += len(chunk)
                validated = validator.validate(chunk)
                reconciliation.add_rejects(validated.invalid_reasons(), validated.duplicate_count)
                if rejects is not None:
                    rejects.write(validated.rejects)
                self._check_reject_ratio(reconciliation, early=True)
                contacts, hashes = validated.contacts, validated.email_hashes
                del chunk, validated  # suspended at yield, the generator would hold them beside what it yields
                if not contacts.empty:
                    yield contacts, hashes

    @staticmethod
    def _prepared(validated: Iterator[tuple[pd.DataFrame, np.ndarray | None]],
                  hook: ContactImportHook) -> Iterator[pd.DataFrame]:
        """Valid contacts as the hook prepares them (Notifuse and Migma encode a chunk at once),
        with their email hashes. Done in the thread that cuts batches: with validation in the
        reader's, each thread had about half of the CPU work (Migma, 1M contacts)."""
        for contacts, hashes in validated:
            contacts = hook.prepare_contacts(contacts, hashes)  # the one name, so only what is yielded stays held
            yield contacts if hashes is None else contacts.assign(**{EMAIL_HASH: hashes})

    def _staged(self, hook: ContactImportHook, ledger: ImportLedger, sequence: int, digest: BatchDigest,
                batch: Iterator[pd.DataFrame], *, encode_now: bool) -> Callable[[], ImportJob]:
        """The call that sends a batch and records it as sent, for a retry of the task to reuse.

        If an earlier try sent the batch, it is read through here and checked to be the same, and
        the call returns that try's job. With ``encode_now`` the hook makes the batch ready here
        (:meth:`~ContactImportHook.encode_import`) and the call only sends; otherwise the call
        streams the batch into ``submit_import``.
        """
        recorded = ledger.sent(sequence)
        if recorded is not None and recorded.job.status != ImportStatus.FAILED:
            for _ in batch:
                pass
            ledger.check_same(recorded, digest.size, digest.fingerprint)
            self.log.info("Batch %d was sent by an earlier try (job %s); not sending it again.",
                          sequence, recorded.job.job_id)
            earlier_job = recorded.job
            return lambda: earlier_job
        lists = {"list_ids": self.list_ids, "exclude_list_ids": self.exclude_list_ids}
        send = hook.encode_import(batch, **lists) if encode_now else partial(hook.submit_import, batch, **lists)

        def send_and_record() -> ImportJob:
            job = send()
            ledger.record(sent_batch(sequence, digest.first_row, digest.last_row, digest.size,
                                     digest.fingerprint, job))
            return job

        return send_and_record

    def _wait(self, hook: ContactImportHook, jobs: list[ImportJob]) -> list[ImportJob]:
        """Poll until every job is terminal (returned in the same order), or fail at the timeout.

        Jobs are checked in submission order and a round stops at the first one still
        importing: later ones were queued after it. Polls count against the provider's rate
        limit (Mailtrap's 200 requests a minute), so a hundred pending jobs are not all asked
        about every round.
        """
        deadline = time.monotonic() + self.timeout
        finished: dict[str, ImportJob] = {}
        while True:
            for job in jobs:
                if job.job_id not in finished:
                    current = hook.get_import(job.job_id)
                    if not current.is_terminal:
                        break
                    finished[job.job_id] = current
            if len(finished) == len(jobs):
                return [finished[job.job_id] for job in jobs]
            if time.monotonic() > deadline:
                raise ImportJobFailedError(
                    f"{len(jobs) - len(finished)} import jobs did not finish within {self.timeout} s."
                )
            self.log.info("%d of %d import jobs finished; next check in %s s", len(finished), len(jobs),
                          self.poll_interval)
            time.sleep(self.poll_interval)

    def _write_provider_rejects(self, job: ImportJob, row_numbers: RowRanges | None,
                                rejects: RejectsWriter | None) -> None:
        if rejects is None or not job.row_errors:
            return
        rows = [
            {
                "row_number": int(row_numbers[error.index])
                if row_numbers is not None and error.index is not None and error.index < len(row_numbers)
                else None,
                "email": error.email,
                "reason": error.reason,
                "kind": "provider",
            }
            for error in job.row_errors
        ]
        rejects.write(pd.DataFrame(rows, columns=["row_number", "email", "reason", "kind"]))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the table or path read, and the provider account and lists written."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        if self._lineage is None:
            return OperatorLineage()
        (in_namespace, in_name), (out_namespace, out_name) = self._lineage
        return OperatorLineage(inputs=[Dataset(namespace=in_namespace, name=in_name)],
                               outputs=[Dataset(namespace=out_namespace, name=out_name)])

    # -- the result -----------------------------------------------------------------------

    def _check_reject_ratio(self, reconciliation: Reconciliation, *, early: bool = False) -> None:
        if self.max_reject_ratio is None or reconciliation.rows_read == 0:
            return
        if early and reconciliation.rows_read < min(self.chunk_size or 1000, 1000):
            return
        ratio = reconciliation.rejected / reconciliation.rows_read
        if ratio > self.max_reject_ratio:
            where = f"; see {self.rejects_path}" if self.rejects_path else ""
            when = " after the first rows (stopped before sending more)" if early else ""
            raise ContactsProviderError(
                f"{ratio:.1%} of rows were rejected{when}, above max_reject_ratio="
                f"{self.max_reject_ratio}{where}. By reason: {dict(reconciliation.rejected_by_reason)}"
            )

    def _finish(self, reconciliation: Reconciliation) -> dict[str, Any]:
        result = reconciliation.to_dict()
        self.log.info("Reconciliation: %s", result)
        reconciliation.check()
        if reconciliation.failed_jobs:
            raise ImportJobFailedError(
                f"{len(reconciliation.failed_jobs)} import jobs failed ({reconciliation.failed} contacts): "
                + "; ".join(f"{job_id}: {message}" for job_id, message in reconciliation.failed_jobs.items())
            )
        self._check_reject_ratio(reconciliation)
        return result
