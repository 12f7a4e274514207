"""BatchCutter and BatchDigest: provider-sized batches cut from a stream of frames, and what each held."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from airflow_contacts_provider.batching import EMAIL_HASH, BatchCutter, BatchDigest, RowRanges
from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.validation import ContactValidator


def frames(*sizes: int) -> Iterator[pd.DataFrame]:
    """Frames of the given sizes whose index continues across them (source row numbers)."""
    start = 0
    for size in sizes:
        rows = range(start, start + size)
        yield pd.DataFrame({"email": [f"user{row}@example.com" for row in rows]}, index=pd.Index(rows))
        start += size


def cut(cutter: BatchCutter) -> list[list[pd.DataFrame]]:
    batches = []
    while cutter.has_more():
        batches.append(list(cutter.next_batch()))
    return batches


def test_batches_fill_across_frames_and_split_a_frame_where_a_batch_fills() -> None:
    batches = cut(BatchCutter(frames(3, 5, 4), size=4))

    assert [[len(part) for part in batch] for batch in batches] == [[3, 1], [4], [4]]
    assert [pd.concat(batch).index.tolist() for batch in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_the_last_batch_holds_the_rest_and_a_large_frame_spans_batches() -> None:
    batches = cut(BatchCutter(frames(12), size=5))

    assert [sum(len(part) for part in batch) for batch in batches] == [5, 5, 2]
    assert pd.concat([part for batch in batches for part in batch]).index.tolist() == list(range(12))


def test_empty_frames_are_skipped_and_an_empty_stream_has_no_batch() -> None:
    assert [sum(len(part) for part in batch) for batch in cut(BatchCutter(frames(0, 2, 0, 2), size=3))] == [3, 1]
    assert cut(BatchCutter(frames(0, 0), size=3)) == []
    assert cut(BatchCutter(iter([]), size=3)) == []


def test_frames_are_read_only_as_batches_need_them() -> None:
    pulled: list[int] = []

    def counted() -> Iterator[pd.DataFrame]:
        for frame in frames(2, 2, 2):
            pulled.append(len(frame))
            yield frame

    cutter = BatchCutter(counted(), size=2)
    assert cutter.has_more() and pulled == [2]
    list(cutter.next_batch())
    assert pulled == [2], "the second frame is not needed for the first batch"


def test_digest_counts_rows_and_remembers_their_source_row_numbers() -> None:
    digest = BatchDigest()
    passed = list(digest.track(frames(3, 2)))

    assert [len(frame) for frame in passed] == [3, 2]
    assert digest.size == 5
    assert digest.row_numbers.to_numpy().tolist() == [0, 1, 2, 3, 4]
    assert digest.row_numbers.runs == 1
    assert (digest.first_row, digest.last_row) == (0, 4)


def test_digest_of_nothing() -> None:
    digest = BatchDigest()
    assert list(digest.track(iter([]))) == []
    assert (digest.size, digest.fingerprint, digest.first_row, digest.last_row) == (0, 0, None, None)
    assert len(digest.row_numbers) == 0
    assert digest.row_numbers.to_numpy().dtype == np.int64 and digest.row_numbers.to_numpy().size == 0


def fingerprint(*parts: list[str]) -> int:
    digest = BatchDigest()
    for _ in digest.track(pd.DataFrame({"email": part}) for part in parts):
        pass
    return digest.fingerprint


def test_fingerprint_ignores_order_and_how_the_batch_was_split() -> None:
    emails = [f"user{i}@example.com" for i in range(50)]

    assert fingerprint(emails) == fingerprint(emails[::-1]) == fingerprint(emails[30:], emails[:30])
    assert 0 <= fingerprint(emails) < 2**64


def test_hashes_the_duplicate_check_made_give_the_same_fingerprint_and_never_reach_a_hook() -> None:
    emails = [f"user{i}@example.com" for i in range(50)]
    validated = ContactValidator({"email": FieldSpec(name="email", type=FieldType.TEXT)}, None, "mailtrap").validate(
        pd.DataFrame({"email": emails}))
    assert validated.email_hashes is not None
    with_hashes = validated.contacts.assign(**{EMAIL_HASH: validated.email_hashes})

    digest = BatchDigest()
    passed = list(digest.track([with_hashes.iloc[:20], with_hashes.iloc[20:]]))

    assert digest.fingerprint == fingerprint(emails)
    assert all(list(frame.columns) == ["email"] for frame in passed)


def test_fingerprint_changes_when_the_contacts_change() -> None:
    emails = [f"user{i}@example.com" for i in range(50)]

    assert fingerprint(emails) != fingerprint(emails[:-1])
    assert fingerprint(emails) != fingerprint([*emails[:-1], "someone.else@example.com"])
    assert fingerprint(emails) != fingerprint([*emails, emails[0]])


def test_row_ranges_give_each_position_its_row_across_gaps_and_appends() -> None:
    rows = np.array([5, 6, 7, 10, 11, 20, 3, 4, 9])  # gaps (rejected rows) and an out-of-order run
    ranges = RowRanges()
    ranges.append(rows[:4])
    ranges.append(rows[4:])

    assert len(ranges) == len(rows)
    assert [ranges[i] for i in range(len(rows))] == rows.tolist()
    assert ranges.to_numpy().tolist() == rows.tolist()
    assert ranges.runs == 5  # 5-7, 10-11 (continued by the second append), 20, 3-4, 9
    with pytest.raises(IndexError):
        ranges[len(rows)]


def test_row_ranges_of_contiguous_batches_stay_one_run() -> None:
    ranges = RowRanges()
    for start in range(0, 1_000_000, 50_000):
        ranges.append(np.arange(start, start + 50_000))
    assert (len(ranges), ranges.runs, ranges[999_999], ranges[123_456]) == (1_000_000, 1, 999_999, 123_456)
