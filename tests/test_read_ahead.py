"""ReadAhead: items in order from a producer thread, its errors raised in the consumer, and a clean stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airflow_contacts_provider.read_ahead import ReadAhead


def test_items_arrive_in_order_from_another_thread() -> None:
    producers: set[str] = set()

    def numbers() -> Iterator[int]:
        for number in range(100):
            producers.add(threading.current_thread().name)
            yield number

    with ReadAhead(numbers(), depth=3, name="test-reader") as items:
        assert list(items) == list(range(100))
    assert producers == {"test-reader"}


def test_an_error_comes_after_the_items_produced_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("chunk 3 is bad")

    received = []
    with ReadAhead(failing()) as items, pytest.raises(ValueError, match="chunk 3 is bad"):
        for item in items:
            received.append(item)
    assert received == [1, 2]


def test_leaving_early_stops_the_producer_and_closes_the_generator() -> None:
    produced = []
    closed = threading.Event()

    def endless() -> Iterator[int]:
        number = 0
        try:
            while True:
                produced.append(number)
                yield number
                number += 1
        finally:
            closed.set()

    with ReadAhead(endless(), depth=2) as items:
        assert next(items) == 0
    assert closed.is_set()
    # One taken and at most two made ahead of it.
    assert len(produced) <= 3
    with pytest.raises(StopIteration):
        next(items)


def test_the_producer_makes_no_more_than_depth_items_ahead_of_the_consumer() -> None:
    """An item waiting to be handed over counts as ahead: memory holds the taken item plus ``depth``."""
    produced = []
    ahead = []

    def counted() -> Iterator[int]:
        for number in range(20):
            produced.append(number)
            yield number

    with ReadAhead(counted(), depth=1) as items:
        for taken, item in enumerate(items, start=1):
            threading.Event().wait(0.01)  # a slow consumer: the producer has time to run ahead
            ahead.append(len(produced) - taken)
            assert item == taken - 1
    assert max(ahead) == 1


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        ReadAhead(iter(()), depth=0)
