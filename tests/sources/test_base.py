"""The chunking contract every source inherits, and choosing a source from operator arguments."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from airflow_contacts_provider.exceptions import ConfigurationError
from airflow_contacts_provider.sources import ContactSource, FileSource, SqlSource, source_from_args
from airflow_contacts_provider.sources.files import format_from_name
from tests.sources.chunks import read_chunks


class FramesSource(ContactSource):
    """A source whose reader yields the given frame sizes, as files and row groups do."""

    def __init__(self, frame_sizes: list[int]) -> None:
        self.frame_sizes = frame_sizes

    def describe(self) -> str:
        return f"frames {self.frame_sizes}"

    def _read_frames(self, chunk_size: int) -> Iterator[pd.DataFrame]:
        first = 0
        for size in self.frame_sizes:
            # An index that is not the row number, to prove iter_chunks renumbers.
            yield pd.DataFrame({"n": range(first, first + size)}, index=range(100, 100 + size))
            first += size


@pytest.mark.parametrize(
    ("frame_sizes", "chunk_size", "chunk_sizes"),
    [
        ([3, 0, 7, 2], 4, [4, 4, 4]),
        ([10, 10, 5], 10, [10, 10, 5]),
        ([25], 10, [10, 10, 5]),
        ([1, 1, 1], 2, [2, 1]),
        ([0, 0], 5, []),
        ([], 5, []),
    ],
)
def test_chunks_have_exact_sizes_and_row_numbers(
    frame_sizes: list[int], chunk_size: int, chunk_sizes: list[int]
) -> None:
    chunks = read_chunks(FramesSource(frame_sizes), chunk_size)

    assert [len(chunk) for chunk in chunks] == chunk_sizes
    if chunks:
        whole = pd.concat(chunks)
        assert whole["n"].tolist() == list(range(sum(frame_sizes)))
        assert whole.index.tolist() == whole["n"].tolist()


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        next(FramesSource([3]).iter_chunks(0))


def test_repr_names_the_source() -> None:
    assert repr(FramesSource([1])) == "FramesSource('frames [1]')"


def test_source_from_args_needs_exactly_one_of_sql_and_path() -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        source_from_args()
    with pytest.raises(ConfigurationError, match="exactly one"):
        source_from_args(source_conn_id="warehouse", sql="SELECT 1", path="/data/contacts.csv")


def test_source_from_args_sql_needs_a_connection() -> None:
    with pytest.raises(ConfigurationError, match="source_conn_id"):
        source_from_args(sql="SELECT email FROM contacts")


def test_source_from_args_builds_the_source_described() -> None:
    sql_source = source_from_args(source_conn_id="warehouse", sql="SELECT %s", parameters=[1])
    assert isinstance(sql_source, SqlSource)
    assert (sql_source.conn_id, sql_source.sql, sql_source.parameters) == ("warehouse", "SELECT %s", [1])

    file_source = source_from_args(source_conn_id="aws_lake", path="s3://lake/contacts/", file_format="csv")
    assert isinstance(file_source, FileSource)
    assert (file_source.path, file_source.format, file_source.conn_id) == ("s3://lake/contacts/", "csv", "aws_lake")


def test_unknown_file_format_is_refused_at_once() -> None:
    with pytest.raises(ConfigurationError, match="xlsx"):
        FileSource("/data/contacts.xlsx", format="xlsx")


@pytest.mark.parametrize(
    ("name", "file_format"),
    [
        ("contacts.csv", "csv"),
        ("contacts.CSV", "csv"),
        ("contacts.csv.gz", "csv"),
        ("export.2024-06.parquet", "parquet"),
        ("contacts.jsonl", "jsonl"),
        ("contacts.ndjson.bz2", "jsonl"),
        ("contacts.txt", None),
        ("contacts", None),
        ("contacts.gz", None),
    ],
)
def test_format_from_name(name: str, file_format: str | None) -> None:
    assert format_from_name(name) == file_format


def test_sql_source_describes_its_query_without_credentials() -> None:
    source = SqlSource("warehouse", "SELECT email\n  FROM contacts\n WHERE active")
    assert source.describe() == "warehouse: SELECT email FROM contacts WHERE active"


def test_file_source_description_drops_user_info() -> None:
    assert FileSource("s3://aws_lake@lake/contacts.csv").describe() == "s3://lake/contacts.csv"
    assert FileSource("/data/contacts.csv").describe() == "/data/contacts.csv"

