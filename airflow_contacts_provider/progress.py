"""Progress lines for the task log: rows done, rate and, when the total is known, an ETA."""

from __future__ import annotations

import time
from typing import Any


class Progress:
    """Logs one line per batch sent. Counts only, never addresses.

    :param total_rows: rows the source will yield, when it can tell cheaply.
    """

    def __init__(self, log: Any, total_rows: int | None = None) -> None:
        self.log = log
        self.total_rows = total_rows
        self.started = time.monotonic()

    def batch_sent(self, sequence: int, rows_read: int, batch_size: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = rows_read / elapsed
        if self.total_rows:
            remaining = max(self.total_rows - rows_read, 0)
            eta = f", ETA {remaining / rate:.0f} s" if rate > 0 else ""
            done = f"{rows_read:,} of {self.total_rows:,} rows read ({rows_read / self.total_rows:.0%})"
        else:
            eta, done = "", f"{rows_read:,} rows read"
        self.log.info("Batch %d sent (%s contacts): %s, %.0f rows/s%s", sequence, f"{batch_size:,}", done,
                      rate, eta)
