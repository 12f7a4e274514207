"""Progress lines for the task log: rows done and the rate so far."""

from __future__ import annotations

import time
from typing import Any


class Progress:
    """Logs one line per batch sent. Counts only, never addresses.

    No total or ETA: the only way to know a query's row count up front is to run it twice
    (``COUNT(*)`` of the query), which can double a warehouse's work for a log line.
    """

    def __init__(self, log: Any) -> None:
        self.log = log
        self.started = time.monotonic()

    def batch_sent(self, sequence: int, rows_read: int, batch_size: int) -> None:
        rate = rows_read / max(time.monotonic() - self.started, 1e-9)
        self.log.info("Batch %d sent (%s contacts): %s rows read, %.0f rows/s", sequence, f"{batch_size:,}",
                      f"{rows_read:,}", rate)
