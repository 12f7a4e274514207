"""Cutting a stream of validated contact frames into provider-sized batches.

A batch is handed to the hook as a stream of frames, so a SendGrid batch of a
million contacts is never whole in memory. What the operator needs to know about
a batch afterwards (its source rows, a fingerprint of its emails) is collected
as the frames pass.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

from airflow_contacts_provider.validation import email_hashes

_MASK = (1 << 64) - 1

EMAIL_HASH = "__email_hash__"
"""The last column of validated frames: their emails' hashes, made by the duplicate check. A batch's
fingerprint adds them up instead of hashing every address again; taken out before a hook sees the frame."""


class RowRanges:
    """Source row numbers, kept as runs of consecutive rows: ``ranges[i]`` is the i-th row number.

    A sync keeps the row numbers of every batch whose async job is still importing, to place
    the rejects the job reports later. A batch's rows are one run, or a few where rejected
    rows and duplicates cut it, so five million contacts take kilobytes instead of 20 MB.
    """

    def __init__(self) -> None:
        self._positions: list[int] = []  # batch position where each run starts
        self._starts: list[int] = []  # its first row number
        self._length = 0

    def append(self, rows: np.ndarray) -> None:
        """Add the next row numbers of the batch."""
        if len(rows) == 0:
            return
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = rows[np.concatenate(([0], breaks))].tolist()
        positions = (np.concatenate(([0], breaks)) + self._length).tolist()
        if self._starts and starts[0] == self._starts[-1] + (self._length - self._positions[-1]):
            starts, positions = starts[1:], positions[1:]  # continues the last run
        self._starts += starts
        self._positions += positions
        self._length += len(rows)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, position: int) -> int:
        if not 0 <= position < self._length:
            raise IndexError(f"batch position {position} is outside 0..{self._length - 1}")
        run = bisect_right(self._positions, position) - 1
        return self._starts[run] + position - self._positions[run]

    @property
    def runs(self) -> int:
        return len(self._starts)

    def to_numpy(self) -> np.ndarray:
        """Every row number (for inspection and tests)."""
        if not self._starts:
            return np.empty(0, np.int64)
        ends = [*self._positions[1:], self._length]
        return np.concatenate([np.arange(start, start + end - position, dtype=np.int64)
                               for start, position, end in zip(self._starts, self._positions, ends, strict=True)])


class BatchDigest:
    """What a batch held: its source row numbers and an order-free fingerprint of its emails.

    The fingerprint lets a retried task check that a batch it is about to skip (because
    the first try sent it) holds the same contacts this time.
    """

    def __init__(self) -> None:
        self.size = 0
        self.fingerprint = 0
        self.row_numbers = RowRanges()
        """Source row number of each contact, by position in the batch."""
        self.first_row: int | None = None
        self.last_row: int | None = None

    def track(self, frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Pass the frames on (without an :data:`EMAIL_HASH` column), noting what they hold."""
        for frame in frames:
            if len(frame):
                rows = frame.index.to_numpy(dtype=np.int64)
                self.row_numbers.append(rows)
                self.first_row = int(rows[0]) if self.first_row is None else self.first_row
                self.last_row = int(rows[-1])
            self.size += len(frame)
            if len(frame.columns) and frame.columns[-1] == EMAIL_HASH:
                hashes = frame.iloc[:, -1].to_numpy()
                frame = frame.iloc[:, :-1]  # half the time of drop(columns=...)
            else:
                hashes = email_hashes(frame["email"])
            self.fingerprint = (self.fingerprint + int(hashes.sum(dtype=np.uint64))) & _MASK
            yield frame


class BatchCutter:
    """Cuts frames into batches of at most ``size`` rows, splitting a frame where a batch fills.

    Consume each batch from :meth:`next_batch` fully before asking for the next.
    """

    def __init__(self, frames: Iterable[pd.DataFrame], size: int) -> None:
        self._frames = iter(frames)
        self._pending: pd.DataFrame | None = None
        self.size = size

    def has_more(self) -> bool:
        while self._pending is None or self._pending.empty:
            frame = next(self._frames, None)
            if frame is None:
                return False
            self._pending = frame
        return True

    def next_batch(self) -> Iterator[pd.DataFrame]:
        room = self.size
        while room > 0 and self.has_more():
            frame = self._pending
            assert frame is not None
            if len(frame) <= room:
                self._pending = None
                room -= len(frame)
                yield frame
            else:
                self._pending = frame.iloc[room:]
                yield frame.iloc[:room]
                room = 0
