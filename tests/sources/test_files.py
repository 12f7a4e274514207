"""FileSource on local files and on S3 (a moto server on loopback, reached through an aws connection)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto.server import ThreadedMotoServer

from airflow_contacts_provider.exceptions import ConfigurationError
from airflow_contacts_provider.sources import FileSource
from tests.sources.chunks import read_all, read_chunks

CSV_TEXT = (
    "email,first_name,last_name,phone,signup_date\n"
    "ana@example.com,Ana,Null,0612345678,2024-01-02\n"
    "bo@example.com,,NA,,2024-01-03\n"
    "cy@example.com,None,Smith,+33612345678,\n"
)


def contacts_table(count: int) -> pa.Table:
    """Typed contacts: NULL last names every 4th row, NULL scores every 3rd (row 0 has both)."""
    return pa.table(
        {
            "email": [f"user{row}@example.com" for row in range(count)],
            "last_name": [None if row % 4 == 0 else f"Last{row}" for row in range(count)],
            "signup_date": pa.array([date(2024, 1, 1) + timedelta(days=row) for row in range(count)], pa.date32()),
            "score": [None if row % 3 == 0 else row * 1.5 for row in range(count)],
            "visits": pa.array(range(count), pa.int64()),
            "is_active": [row % 2 == 0 for row in range(count)],
        }
    )


def json_lines(count: int) -> str:
    return "".join(
        json.dumps({"email": f"user{row}@example.com", "phone": f"06{row:08d}", "visits": row, "vip": row == 1})
        + "\n"
        for row in range(count)
    )


def assert_text_column(column: pd.Series) -> None:
    assert pd.api.types.is_string_dtype(column.dtype), column.dtype


# CSV


def test_csv_columns_are_text_and_only_empty_fields_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(CSV_TEXT)

    whole = read_all(FileSource(str(path)), 2)

    assert list(whole.columns) == ["email", "first_name", "last_name", "phone", "signup_date"]
    for name in whole.columns:
        assert_text_column(whole[name])
    assert whole["phone"].tolist()[0] == "0612345678"  # leading zero kept
    assert whole["last_name"].tolist() == ["Null", "NA", "Smith"]  # real names, not NA markers
    assert whole.loc[2, "first_name"] == "None"
    assert pd.isna(whole.loc[1, "first_name"]) and pd.isna(whole.loc[1, "phone"])
    assert pd.isna(whole.loc[2, "signup_date"])
    assert whole.loc[0, "signup_date"] == "2024-01-02"


def test_csv_chunks_and_gzip_by_suffix(tmp_path: Path) -> None:
    rows = "".join(f"user{row}@example.com,{row}\n" for row in range(25))
    path = tmp_path / "contacts.csv.gz"
    path.write_bytes(gzip.compress(("email,visits\n" + rows).encode()))

    chunks = read_chunks(FileSource(f"file://{path}"), 10)

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert pd.concat(chunks)["visits"].tolist() == [str(row) for row in range(25)]


def test_csv_read_options_override_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "contacts.txt"
    path.write_text("email;visits\nana@example.com;3\n")

    whole = read_all(FileSource(str(path), format="csv", sep=";", dtype={"visits": "int64"}), 10)

    assert whole["visits"].tolist() == [3]
    assert whole["visits"].dtype == "int64"


def test_csv_with_only_a_header_yields_no_chunks(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("email,first_name\n")

    assert read_chunks(FileSource(str(path)), 10) == []


# Parquet and JSON Lines


def test_parquet_keeps_its_types_and_chunks_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "contacts.parquet"
    pq.write_table(contacts_table(25), path, row_group_size=7)

    chunks = read_chunks(FileSource(str(path)), 10)

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert_text_column(whole["email"])
    assert whole["email"].tolist() == [f"user{row}@example.com" for row in range(25)]
    assert whole["signup_date"].tolist() == [date(2024, 1, 1) + timedelta(days=row) for row in range(25)]
    assert whole["last_name"].isna().tolist() == [row % 4 == 0 for row in range(25)]
    assert whole["score"].dtype == "float64"
    assert whole["score"].isna().tolist() == [row % 3 == 0 for row in range(25)]
    assert whole["visits"].dtype == "int64"
    assert whole["is_active"].dtype == bool


def test_parquet_read_options_select_columns(tmp_path: Path) -> None:
    path = tmp_path / "contacts.parquet"
    pq.write_table(contacts_table(5), path)

    whole = read_all(FileSource(str(path), columns=["email", "visits"]), 10)

    assert list(whole.columns) == ["email", "visits"]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_json_lines_keep_json_types(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"contacts{suffix}"
    path.write_text(json_lines(25))

    chunks = read_chunks(FileSource(str(path)), 10)

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert_text_column(whole["phone"])
    assert whole.loc[3, "phone"] == "0600000003"  # a JSON string stays text, leading zero and all
    assert whole["visits"].tolist() == list(range(25))
    assert whole["vip"].tolist() == [row == 1 for row in range(25)]


# Directories


def test_directory_is_read_in_path_order_skipping_bookkeeping_files(tmp_path: Path) -> None:
    (tmp_path / "part-2.csv").write_text("email\n" + "".join(f"b{row}@example.com\n" for row in range(4)))
    (tmp_path / "part-1.csv").write_text("email\n" + "".join(f"a{row}@example.com\n" for row in range(4)))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "part-3.jsonl").write_text('{"email": "c0@example.com"}\n')
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".part-1.csv.crc").write_text("")
    (tmp_path / "_temporary").mkdir()
    (tmp_path / "_temporary" / "part-9.csv").write_text("email\nleftover@example.com\n")

    chunks = read_chunks(FileSource(str(tmp_path)), 3)

    # Chunks span file boundaries: sizes stay exact and numbering continues.
    assert [len(chunk) for chunk in chunks] == [3, 3, 3]
    assert pd.concat(chunks)["email"].tolist() == [
        *(f"a{row}@example.com" for row in range(4)),
        *(f"b{row}@example.com" for row in range(4)),
        "c0@example.com",
    ]


def test_directory_with_a_file_of_unknown_format_fails_before_reading(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("email\na@example.com\n")
    (tmp_path / "b.xlsx").write_bytes(b"not csv")
    chunks = FileSource(str(tmp_path)).iter_chunks(10)

    with pytest.raises(ConfigurationError, match=r"b\.xlsx"):
        next(chunks)


def test_empty_directory_yields_no_chunks(tmp_path: Path) -> None:
    assert read_chunks(FileSource(str(tmp_path)), 10) == []


def test_missing_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="contacts.csv"):
        next(FileSource(str(tmp_path / "contacts.csv")).iter_chunks(10))


# S3, through moto in server mode and an aws connection pointing at it


BUCKET = "contacts-lake"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback, with a bucket of contact files in three formats."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    rows = "".join(f"user{row}@example.com,06{row:08d}\n" for row in range(25))
    s3.put_object(Bucket=BUCKET, Key="csv/contacts.csv", Body=("email,phone\n" + rows).encode())
    parquet_path = pa.BufferOutputStream()
    pq.write_table(contacts_table(25), parquet_path, row_group_size=10)
    s3.put_object(Bucket=BUCKET, Key="parquet/contacts.parquet", Body=parquet_path.getvalue().to_pybytes())
    s3.put_object(Bucket=BUCKET, Key="jsonl/part-0.jsonl", Body=json_lines(12).encode())
    s3.put_object(Bucket=BUCKET, Key="jsonl/part-1.jsonl", Body=json_lines(13).encode())
    s3.put_object(Bucket=BUCKET, Key="jsonl/_SUCCESS", Body=b"")
    yield endpoint
    server.stop()


@pytest.fixture
def aws_conn_id(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CONTACTS_TEST_S3", json.dumps(connection))
    return "contacts_test_s3"


def test_s3_csv(aws_conn_id: str) -> None:
    chunks = read_chunks(FileSource(f"s3://{BUCKET}/csv/contacts.csv", conn_id=aws_conn_id), 10)

    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    whole = pd.concat(chunks)
    assert whole["email"].tolist() == [f"user{row}@example.com" for row in range(25)]
    assert whole.loc[7, "phone"] == "0600000007"


def test_s3_parquet(aws_conn_id: str) -> None:
    whole = read_all(FileSource(f"s3://{BUCKET}/parquet/contacts.parquet", conn_id=aws_conn_id), 10)

    assert whole["signup_date"].tolist() == [date(2024, 1, 1) + timedelta(days=row) for row in range(25)]
    assert whole["score"].isna().tolist() == [row % 3 == 0 for row in range(25)]


def test_s3_prefix_of_json_lines(aws_conn_id: str) -> None:
    source = FileSource(f"s3://{BUCKET}/jsonl/", conn_id=aws_conn_id)

    assert [path.name for path in source.list_files()] == ["part-0.jsonl", "part-1.jsonl"]
    chunks = read_chunks(source, 10)
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert pd.concat(chunks)["visits"].tolist() == [*range(12), *range(13)]


def test_s3_missing_key_is_a_configuration_error(aws_conn_id: str) -> None:
    with pytest.raises(ConfigurationError, match="nothing-here"):
        next(FileSource(f"s3://{BUCKET}/nothing-here.csv", conn_id=aws_conn_id).iter_chunks(10))
