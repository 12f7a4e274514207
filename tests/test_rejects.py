"""RejectsWriter: part files on file:// and s3://, counts by reason and kind, and reason categories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_contacts_provider.rejects import RejectsWriter, count_reasons, reason_category


def rejects(*rows: tuple[object, object, str, str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["row_number", "email", "reason", "kind"])


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("email: invalid syntax (An email address must have an @-sign.)", "email: invalid syntax"),
        ("custom_number_1: not a number ('abc')", "custom_number_1: not a number"),
        ("status: not one of subscribed, unsubscribed ('a (b)')", "status: not one of subscribed, unsubscribed"),
        ("phone: longer than 30 characters", "phone: longer than 30 characters"),
        ("duplicate of row 12", "duplicate of row N"),
        ("invalid contact at index 3: email is required", "invalid contact at index N: email is required"),
        ("  email:   missing ", "email: missing"),
        ("email john@x.io is invalid", "email <email> is invalid"),
    ],
)
def test_reason_category(reason: str, category: str) -> None:
    assert reason_category(reason) == category


def test_count_reasons_counts_each_problem_of_a_row() -> None:
    reasons = pd.Series(["email: missing; age: not an integer ('x; y')", "age: not an integer (2.5)",
                         "duplicate of row 1", "duplicate of row 7", None])

    assert count_reasons(reasons) == {"email: missing": 1, "age: not an integer": 2, "duplicate of row N": 2}


def test_count_reasons_per_row_adds_up_to_rows() -> None:
    reasons = pd.Series(["email: missing; age: not an integer ('x')", "age: not an integer (2.5)", "email: missing"])

    counts = count_reasons(reasons, per_row=True)

    assert counts == {"email: missing; age: not an integer": 1, "age: not an integer": 1, "email: missing": 1}


def test_append_keeps_earlier_parts_and_numbers_after_them(tmp_path: Path) -> None:
    with RejectsWriter(str(tmp_path / "r"), rows_per_part=1) as writer:
        writer.write(rejects((1, "a", "x: y", "invalid"), (2, "b", "x: y", "invalid")))
    with RejectsWriter(str(tmp_path / "r"), append=True) as resumed:
        resumed.write(rejects((3, "c", "refused", "provider")))
    with RejectsWriter(str(tmp_path / "r"), append=True):
        pass  # a resumed task with nothing to add leaves the parts as they are

    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["part-00000.csv", "part-00001.csv"]
    assert [p.name for p in resumed.parts] == ["part-00001.csv"]
    assert pd.read_csv(tmp_path / "r" / "part-00001.csv")["row_number"].tolist() == [3]


def test_csv_parts_are_written_per_rows_per_part_and_read_back(tmp_path: Path) -> None:
    writer = RejectsWriter(str(tmp_path / "rejects"), rows_per_part=2)

    writer.write(rejects((1, "a", "email: missing", "invalid")))
    writer.write(rejects((2, " B@x.io", "duplicate of row 0", "duplicate"), (5, None, "email: missing", "invalid")))
    writer.write(rejects((9, "c@x.io", "rejected by provider (is invalid)", "provider")))
    writer.close()

    assert [p.name for p in writer.parts] == ["part-00000.csv", "part-00001.csv"]
    read = pd.concat([pd.read_csv(tmp_path / "rejects" / p.name, keep_default_na=False) for p in writer.parts])
    assert read.values.tolist() == [
        [1, "a", "email: missing", "invalid"],
        [2, " B@x.io", "duplicate of row 0", "duplicate"],
        [5, "", "email: missing", "invalid"],
        [9, "c@x.io", "rejected by provider (is invalid)", "provider"],
    ]
    assert writer.count == 4
    assert writer.by_kind == {"invalid": 2, "duplicate": 1, "provider": 1}
    assert writer.by_reason == {"email: missing": 2, "duplicate of row N": 1, "rejected by provider": 1}


def test_parquet_from_suffix_keeps_one_schema_across_parts(tmp_path: Path) -> None:
    path = tmp_path / "run-1.parquet"
    with RejectsWriter(ObjectStoragePath(f"file://{path}"), rows_per_part=1) as writer:
        writer.write(rejects((1, None, "email: missing", "invalid")))
        writer.write(rejects((None, "x@y.io", "provider said no", "provider")))

    assert writer.format == "parquet"
    table = pd.read_parquet(path).sort_values("kind", ignore_index=True)
    assert table["row_number"].isna().tolist() == [False, True] and table["row_number"][0] == 1
    assert table["email"].isna().tolist() == [True, False] and table["email"][1] == "x@y.io"
    assert table[["reason", "kind"]].values.tolist() == [
        ["email: missing", "invalid"], ["provider said no", "provider"]]


def test_nothing_rejected_still_leaves_an_empty_table(tmp_path: Path) -> None:
    writer = RejectsWriter(str(tmp_path / "empty.csv"))
    writer.write(rejects())
    writer.close()

    assert pd.read_csv(tmp_path / "empty.csv" / "part-00000.csv").columns.tolist() == [
        "row_number", "email", "reason", "kind"]
    assert writer.count == 0


def test_parts_of_an_earlier_try_are_replaced(tmp_path: Path) -> None:
    for rows in ([(1, "a", "x: y", "invalid"), (2, "b", "x: y", "invalid")], [(3, "c", "x: y", "invalid")]):
        with RejectsWriter(str(tmp_path / "r"), rows_per_part=1) as writer:
            writer.write(rejects(*rows))

    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["part-00000.csv"]
    assert pd.read_csv(tmp_path / "r" / "part-00000.csv")["row_number"].tolist() == [3]


def test_write_refuses_frames_without_the_columns_and_after_close(tmp_path: Path) -> None:
    writer = RejectsWriter(str(tmp_path / "r"), format="csv")

    with pytest.raises(ValueError, match="missing \\['kind'\\]"):
        writer.write(pd.DataFrame({"row_number": [1], "email": ["a"], "reason": ["r"]}))
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(rejects((1, "a", "r", "invalid")))


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server that ObjectStoragePath reaches through AWS_ENDPOINT_URL."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket="rejects")
    yield "rejects"
    server.stop()


def test_parts_land_under_an_s3_prefix(s3_bucket: str) -> None:
    import boto3

    with RejectsWriter(f"s3://{s3_bucket}/sync/run-7.csv", rows_per_part=1) as writer:
        writer.write(rejects((4, "a@b", "email: invalid syntax (x)", "invalid"), (6, "c", "email: missing", "invalid")))
        writer.write(rejects((8, "d", "email: missing", "invalid")))

    listed = boto3.client("s3").list_objects_v2(Bucket=s3_bucket, Prefix="sync/")["Contents"]
    assert sorted(item["Key"] for item in listed) == ["sync/run-7.csv/part-00000.csv", "sync/run-7.csv/part-00001.csv"]
    body = boto3.client("s3").get_object(Bucket=s3_bucket, Key="sync/run-7.csv/part-00000.csv")["Body"].read()
    assert body.decode().splitlines() == ["row_number,email,reason,kind", "4,a@b,email: invalid syntax (x),invalid",
                                          "6,c,email: missing,invalid"]
