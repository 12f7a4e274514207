"""Cutting a stream of validated contact frames into provider-sized batches.

A batch is handed to the hook as a stream of frames, so a SendGrid batch of a
million contacts is never whole in memory. What the operator needs to know about
a batch afterwards (its source rows, a fingerprint of its emails) is collected
as the frames pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

_MASK = (1 << 64) - 1


class BatchDigest:
    """What a batch held: its source row numbers and an order-free fingerprint of its emails.

    The fingerprint lets a retried task check that a batch it is about to skip (because
    the first try sent it) holds the same contacts this time.
    """

    def __init__(self) -> None:
        self.size = 0
        self.fingerprint = 0
        self._row_numbers: list[np.ndarray] = []

    def track(self, frames: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            self.size += len(frame)
            self._row_numbers.append(frame.index.to_numpy(dtype=np.int64))
            # Addresses in a batch are distinct: factorizing them first (the default) only costs.
            hashes = pd.util.hash_array(frame["email"].to_numpy(dtype=object), categorize=False)
            self.fingerprint = (self.fingerprint + int(hashes.sum(dtype=np.uint64))) & _MASK
            yield frame

    @property
    def row_numbers(self) -> np.ndarray:
        """Source row number of each contact, by position in the batch."""
        if not self._row_numbers:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(self._row_numbers)

    @property
    def first_row(self) -> int | None:
        return int(self._row_numbers[0][0]) if self.size else None

    @property
    def last_row(self) -> int | None:
        return int(self._row_numbers[-1][-1]) if self.size else None


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
