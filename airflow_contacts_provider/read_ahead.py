"""Produce an iterator's items in a background thread, a few ahead of the code that uses them.

A sync reads and validates chunks (database driver, pandas and pyarrow: C code that releases
the GIL) while it encodes and sends the previous batch (msgspec, zlib, the socket). Running the
two halves in two threads uses both cores of a worker without a process pool's copying.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _DONE, _ERROR = "item", "done", "error"


class ReadAhead(Generic[T]):
    """Iterate ``items`` in a thread of its own, at most ``depth`` items ahead of the consumer.

    An exception raised by ``items`` is raised again by ``next()`` in the consumer, after the
    items produced before it. :meth:`close` (or leaving the ``with`` block) stops the producer
    and closes ``items`` in the producer's thread, so a source closes its cursor however the
    consumer ends.

    :param items: what to iterate, e.g. a generator of validated chunks.
    :param depth: items held ready; memory grows by that many items.
    :param name: the producer thread's name, for logs and debuggers.
    """

    _POLL_SECONDS = 0.1

    def __init__(self, items: Iterable[T], depth: int = 2, name: str = "read-ahead") -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}.")
        self._items = items
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue()
        self._room = threading.Semaphore(depth)  # items produced or being produced, not yet taken
        self._stopping = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        kind, value = self._queue.get()
        self._room.release()
        if kind == _ITEM:
            return value  # type: ignore[return-value]
        self._finished = True
        self._thread.join()
        if kind == _ERROR:
            assert isinstance(value, BaseException)
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop producing, let the producer close ``items``, and wait for its thread to end."""
        self._stopping.set()
        while self._thread.is_alive():
            with suppress(queue.Empty):  # let go of items made ahead while the producer notices the stop
                self._queue.get(timeout=self._POLL_SECONDS)
        self._finished = True

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _produce(self) -> None:
        iterator = iter(self._items)
        try:
            while self._wait_for_room():
                try:
                    item = next(iterator)
                except StopIteration:
                    self._queue.put((_DONE, None))
                    return
                self._queue.put((_ITEM, item))
                del item
        except BaseException as error:  # handed to the consumer, which raises it
            self._queue.put((_ERROR, error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _wait_for_room(self) -> bool:
        """Wait until fewer than ``depth`` items are ahead of the consumer; ``False`` if it stopped meanwhile."""
        while not self._stopping.is_set():
            if self._room.acquire(timeout=self._POLL_SECONDS):
                return True
        return False
