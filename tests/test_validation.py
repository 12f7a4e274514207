"""ContactValidator: the payload frame, the accounting of every row, dedupe memory, and properties."""

from __future__ import annotations

import datetime as dt
import gc
import json
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_contacts_provider.exceptions import MappingError
from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.validation import (
    _EMAIL_FAST,
    _EMAIL_LONG_LABEL,
    _EMAIL_SPECIAL_USE,
    ISO_DATE,
    ISO_DATETIME,
    ContactValidator,
    SeenEmails,
    _check_email,
    _format_datetimes,
    email_hashes,
)
from tests.field_specs import MAILTRAP, MIGMA, NOTIFUSE, SENDGRID, by_name


def chunk(start: int = 0, **columns: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def test_contacts_frame_is_keyed_by_destination_names_and_source_row_numbers() -> None:
    validator = ContactValidator(MIGMA, {"fn": "firstName", "plan": "customFields.plan", "t": "tags"}, "migma")

    result = validator.validate(chunk(100, email=["A@b.co", "bad"], fn=["Ann", "Bob"], plan=[3, "x"],
                                      t=["a,b", None], unused=[1, 2]))

    assert list(result.contacts.columns) == ["email", "firstName", "customFields.plan", "tags"]
    assert result.contacts.index.tolist() == [100]
    assert result.contacts.to_dict("records") == [
        {"email": "a@b.co", "firstName": "Ann", "customFields.plan": 3, "tags": ["a", "b"]}]
    assert result.rejects.to_dict("records") == [
        {"row_number": 101, "email": "bad", "reason": "email: invalid syntax (An email address must have an @-sign)",
         "kind": "invalid"}]


@pytest.mark.parametrize(("provider", "specs", "mapping"), [
    ("mailtrap", MAILTRAP, {"day": "signup", "day_text": "first_name"}),
    ("notifuse", NOTIFUSE, {"day": "custom_datetime_1", "day_text": "first_name"}),
    ("sendgrid", SENDGRID, {"day": "dob", "day_text": "first_name"}),
    ("migma", MIGMA, {"day": "customFields.day", "day_text": "firstName"}),
])
def test_an_arrow_date_column_validates_as_date_objects_do(provider: str, specs: Any, mapping: dict[str, str]) -> None:
    """PostgreSQL read through ADBC keeps dates as Arrow date32; psycopg gives datetime.date objects."""
    days = [dt.date(2024, 2, 29), None, dt.date(1, 1, 1), dt.date(9999, 12, 31)]
    mapping = {"email": "email", **mapping}
    columns = {column: days for column in mapping if column != "email"}
    as_objects = chunk(email=[f"u{i}@example.com" for i in range(4)], **columns)
    as_arrow = as_objects.assign(**{column: pd.array(days, dtype=pd.ArrowDtype(pa.date32())) for column in columns})

    results = [ContactValidator(specs, mapping, provider).validate(frame) for frame in (as_objects, as_arrow)]

    objects, arrow = (result.contacts.astype(object).to_dict("records") for result in results)
    assert arrow == objects
    assert results[1].rejects.to_dict("records") == results[0].rejects.to_dict("records")
    assert len(results[0].contacts) + len(results[0].rejects) == 4


def test_missing_values_are_none_in_object_columns_and_na_in_text_columns() -> None:
    result = ContactValidator(MAILTRAP, None, "mailtrap").validate(
        chunk(email=["a@b.co", "b@b.co"], age=[1, None], first_name=["", "Bo"]))

    assert result.contacts["age"].tolist() == [1, None]
    first_names = result.contacts["first_name"]
    assert isinstance(first_names.dtype, pd.StringDtype)
    assert first_names.isna().tolist() == [True, False] and first_names.iloc[1] == "Bo"


def test_complete_numeric_columns_keep_their_dtype() -> None:
    frame = pd.DataFrame({"email": ["a@b.co", "b@b.co"], "age": [1, 2], "score": [0.5, 1.5], "vip": [True, False]})

    contacts = ContactValidator(MAILTRAP, None, "mailtrap").validate(frame).contacts

    assert contacts["email"].dtype == "str"
    assert contacts.dtypes.drop("email").to_dict() == {"age": np.int64, "score": np.float64, "vip": bool}
    assert [type(v) for v in contacts.to_dict("records")[0].values()] == [str, int, float, bool]


@pytest.mark.parametrize(
    ("provider", "specs", "field", "expected"),
    [
        ("mailtrap", MAILTRAP, "signup", "2023-06-01"),
        ("notifuse", by_name(FieldSpec(name="d", type=FieldType.DATE)), "d", "2023-06-01T00:00:00Z"),
        ("sendgrid", SENDGRID, "dob", "06/01/2023"),
        ("migma", MIGMA, "customFields.d", "2023-06-01T22:30:00Z"),
    ],
)
def test_dates_in_each_providers_format(provider: str, specs: dict[str, FieldSpec], field: str,
                                        expected: str) -> None:
    frame = pd.DataFrame({"email": ["a@b.co"], field: [pd.Timestamp("2023-06-01 22:30")]})

    contacts = ContactValidator(specs, None, provider).validate(frame).contacts

    assert contacts[field].tolist() == [expected]


def test_date_formats_can_be_overridden() -> None:
    validator = ContactValidator(NOTIFUSE, None, "notifuse", datetime_format="%Y-%m-%dT%H:%M:%S+00:00")

    contacts = validator.validate(chunk(email=["a@b.co"], custom_datetime_2=["2023-06-01T09:00:00Z"])).contacts

    assert contacts["custom_datetime_2"].tolist() == ["2023-06-01T09:00:00+00:00"]


def test_tz_aware_values_into_a_date_field_take_the_utc_date() -> None:
    frame = pd.DataFrame({"email": ["a@b.co"], "signup": [pd.Timestamp("2023-06-01 20:00", tz="US/Pacific")]})

    contacts = ContactValidator(MAILTRAP, None, "mailtrap").validate(frame).contacts

    assert contacts["signup"].tolist() == ["2023-06-02"]


def test_duplicates_across_chunks_name_the_surviving_row() -> None:
    validator = ContactValidator(MAILTRAP, None, "mailtrap")

    first = validator.validate(chunk(0, email=["a@b.co", "b@b.co", "A@B.CO"]))
    second = validator.validate(chunk(3, email=["c@b.co", " b@b.co"]))

    assert first.contacts.index.tolist() == [0, 1] and second.contacts.index.tolist() == [3]
    assert first.rejects[["row_number", "reason", "kind"]].values.tolist() == [[2, "duplicate of row 0", "duplicate"]]
    assert second.rejects[["row_number", "email", "reason"]].values.tolist() == [[4, " b@b.co", "duplicate of row 1"]]
    assert len(validator.seen) == 3


def test_dedupe_can_be_turned_off() -> None:
    result = ContactValidator(MAILTRAP, None, "mailtrap", dedupe=False).validate(chunk(email=["a@b.co", "a@b.co"]))

    assert len(result.contacts) == 2 and result.rejects.empty


def test_stats_count_rows_and_problem_categories_without_addresses() -> None:
    validator = ContactValidator(MAILTRAP, None, "mailtrap")
    validator.validate(chunk(email=["secret@b.co", "secret@b.co", "nope", None], age=["x", 1, 2, "y"]))
    validator.validate(chunk(4, email=["other@b.co"], age=[1]))

    stats = validator.stats
    assert (stats.rows, stats.contacts, stats.invalid, stats.duplicates) == (5, 2, 3, 0)
    assert stats.problems == {"age: not an integer": 2, "email: invalid syntax": 1, "email: missing": 1}
    assert "secret" not in str(stats) and "nope" not in str(stats)
    assert str(stats).startswith("5 rows: 2 contacts, 3 invalid, 0 duplicates; ")


def test_invalid_reasons_count_each_invalid_row_once() -> None:
    result = ContactValidator(MAILTRAP, None, "mailtrap").validate(
        chunk(email=["a@b.co", "nope", "a@b.co", None], age=["x", "y", 1, 2]))

    assert result.invalid_reasons() == {"age: not an integer": 1, "email: invalid syntax; age: not an integer": 1,
                                        "email: missing": 1}
    assert sum(result.invalid_reasons().values()) == result.stats.invalid
    assert result.duplicate_count == 0


def test_row_numbers_must_be_unique_integers() -> None:
    validator = ContactValidator(MAILTRAP, None, "mailtrap")

    with pytest.raises(TypeError, match="row numbers"):
        validator.validate(pd.DataFrame({"email": ["a@b.co"]}, index=["r1"]))
    with pytest.raises(ValueError, match="once"):
        validator.validate(pd.DataFrame({"email": ["a@b.co", "b@b.co"]}, index=[3, 3]))


def test_a_column_disappearing_after_the_first_chunk_is_a_mapping_error() -> None:
    validator = ContactValidator(MAILTRAP, None, "mailtrap")
    validator.validate(chunk(email=["a@b.co"], age=[1]))

    with pytest.raises(MappingError, match="'age'"):
        validator.validate(chunk(1, email=["b@b.co"]))


def test_a_chunk_without_rows_or_columns_is_empty_not_an_error() -> None:
    result = ContactValidator(MAILTRAP, None, "mailtrap").validate(pd.DataFrame())

    assert result.contacts.empty and result.rejects.empty and result.stats.rows == 0


def test_mapping_errors_surface_on_the_first_chunk() -> None:
    validator = ContactValidator(MAILTRAP, {"x": "nickname"}, "mailtrap")

    with pytest.raises(MappingError):
        validator.validate(chunk(email=["a@b.co"], x=["y"]))


# -- the address fast path ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_EMAIL_FAST, fullmatch=True))
def test_every_address_the_fast_pattern_accepts_email_validator_accepts_unchanged(address: str) -> None:
    if len(address) > 254 or re.search(_EMAIL_LONG_LABEL, address) or re.search(_EMAIL_SPECIAL_USE, address):
        return  # the validator sends these to email-validator instead
    assert _check_email(address) == (address, None)


# -- the seen set ---------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "é", "f@x"]), max_size=8), max_size=5))
def test_seen_emails_agree_with_a_plain_dict(chunks: list[list[str]]) -> None:
    seen, reference, row = SeenEmails(), {}, 0
    for emails in chunks:
        rows = np.arange(row, row + len(emails), dtype=np.int64)
        expected = [reference.setdefault(email, r) for email, r in zip(emails, rows.tolist(), strict=True)]
        assert seen.first_rows(email_hashes(np.array(emails, dtype=object)), rows).tolist() == expected
        row += len(emails)
    assert len(seen) == len(reference)


@pytest.mark.parametrize("filter_bits", [0, 4, 25])
def test_seen_emails_agree_with_a_dict_whatever_the_bitmap_lets_through(monkeypatch: pytest.MonkeyPatch,
                                                                        filter_bits: int) -> None:
    # 0 bits: every address "may have been seen" and is looked up in every run; 25: few are.
    # Runs of 300 are merged in ranges of about 50 hashes.
    monkeypatch.setattr(SeenEmails, "RUN_SIZE", 300)
    monkeypatch.setattr(SeenEmails, "MERGE_BLOCK", 50)
    monkeypatch.setattr(SeenEmails, "FILTER_BITS", filter_bits)
    seen, reference = SeenEmails(), {}
    rng = np.random.default_rng(filter_bits)
    for start in range(0, 4000, 250):
        emails = [f"user{i}@example.com" for i in rng.integers(0, 2500, 250)]
        rows = np.arange(start, start + 250, dtype=np.int64)
        expected = [reference.setdefault(email, r) for email, r in zip(emails, rows.tolist(), strict=True)]
        assert seen.first_rows(email_hashes(np.array(emails, dtype=object)), rows).tolist() == expected
    assert len(seen) == len(reference)
    assert len(seen._full) >= 3, "several runs were written out and searched"
    for hashes_path, _ in seen._full:
        hashes = np.load(hashes_path)
        assert (hashes[1:] > hashes[:-1]).all(), "each run is sorted, each address once"


def test_seen_emails_cost_twelve_bytes_each_and_widen_for_huge_row_numbers() -> None:
    seen = SeenEmails()
    emails = np.array([f"user{i}@example.com" for i in range(100_000)], dtype=object)
    seen.first_rows(email_hashes(emails), np.arange(100_000, dtype=np.int64))
    assert seen.nbytes == 100_000 * 12

    firsts = seen.first_rows(email_hashes(np.array(["new@example.com", "user5@example.com"], dtype=object)),
                             np.array([2**33, 2**33 + 1], dtype=np.int64))
    assert firsts.tolist() == [2**33, 5]
    assert seen.rows.dtype == np.int64


def test_seen_emails_keep_full_runs_on_disk_and_still_find_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SeenEmails, "RUN_SIZE", 1000)
    seen = SeenEmails()
    for start in range(0, 5000, 700):  # a second chunk of 700 would overfill a run: each is written out
        emails = np.array([f"user{i}@example.com" for i in range(start, start + 700)], dtype=object)
        seen.first_rows(email_hashes(emails), np.arange(start, start + 700, dtype=np.int64))
    assert len(seen) == 5600
    assert seen.nbytes <= 1000 * 12, "only the run being filled stays in memory"
    assert sorted(seen.rows.tolist()) == list(range(5600))

    again = np.array(["user3@example.com", "user4321@example.com", "new@example.com"], dtype=object)
    firsts = seen.first_rows(email_hashes(again), np.array([9000, 9001, 9002], dtype=np.int64))
    assert firsts.tolist() == [3, 4321, 9002]
    directory = seen._spill.directory
    assert directory is not None
    assert len(seen._full) == 7 and len(list(directory.iterdir())) == 2 * 7  # hashes and rows a run
    del seen
    gc.collect()
    assert not directory.exists(), "the temporary files go with the set"


# -- properties over generated chunks -----------------------------------------------------------------

PROPERTY_SPECS = by_name(
    FieldSpec(name="email", type=FieldType.TEXT, required=True),
    FieldSpec(name="name", type=FieldType.TEXT, max_length=10),
    FieldSpec(name="status", type=FieldType.TEXT, choices=("on", "off")),
    FieldSpec(name="count", type=FieldType.INTEGER),
    FieldSpec(name="amount", type=FieldType.FLOAT),
    FieldSpec(name="flag", type=FieldType.BOOLEAN),
    FieldSpec(name="day", type=FieldType.DATE),
    FieldSpec(name="moment", type=FieldType.DATETIME),
    FieldSpec(name="doc", type=FieldType.JSON),
    FieldSpec(name="labels", type=FieldType.TAGS),
    FieldSpec(name="custom.*", type=FieldType.JSON),
)
FIELD_COLUMNS = ["name", "status", "count", "amount", "flag", "day", "moment", "doc", "labels", "custom.x"]

SCALARS = st.one_of(
    st.none(), st.just(float("nan")), st.just(pd.NaT), st.just(""), st.just("  "),
    st.text(max_size=12), st.text(min_size=3000, max_size=3000, alphabet="xé "),
    st.sampled_from(["on", "OFF", "yes", "0", "1.5", "inf", "2023-06-01", "2023-06-01T10:00:00+02:00", "a,b, c",
                     '{"k": 1}', "[1, 2]", "42"]),
    st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)), st.builds(np.float64, st.floats()),
    st.builds(np.bool_, st.booleans()),
    st.dates(), st.datetimes(timezones=st.one_of(st.none(), st.just(dt.timezone.utc))),
    st.decimals(allow_nan=True), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.text(max_size=5), max_size=3),
)
EMAILS = st.sampled_from([
    "a@example.com", "A@Example.com ", "b@example.com", "u@bücher.de", "u@xn--bcher-kva.de", "用户@example.com",
    "bad", "a@@b.co", "x@y", "", "  ", None, float("nan"), 7, "c@example.org", "c@EXAMPLE.org",
])
ROWS = st.fixed_dictionaries({"email": EMAILS, **{name: SCALARS for name in FIELD_COLUMNS}})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=st.lists(ROWS, max_size=25), split=st.integers(min_value=0, max_value=25))
def test_every_row_lands_in_exactly_one_place(rows: list[dict[str, Any]], split: int) -> None:
    validator = ContactValidator(PROPERTY_SPECS, None, "migma")
    validator.resolve(pd.DataFrame(columns=["email", *FIELD_COLUMNS]))  # the data, not the dtypes, is under test
    frames = [rows[:split], rows[split:]]

    results, start = [], 0
    for part in frames:
        frame = pd.DataFrame({name: pd.Series([row[name] for row in part], dtype=object)
                              for name in ["email", *FIELD_COLUMNS]})
        frame.index = pd.RangeIndex(start, start + len(part))
        start += len(part)
        results.append(validator.validate(frame))

    contacts = pd.concat([r.contacts for r in results])
    rejects = pd.concat([r.rejects for r in results], ignore_index=True)
    placed = sorted(contacts.index.tolist() + rejects["row_number"].tolist())
    assert placed == list(range(len(rows)))
    assert set(rejects["kind"]) <= {"invalid", "duplicate"}
    stats = validator.stats
    assert (stats.rows, stats.contacts, stats.invalid + stats.duplicates) == (len(rows), len(contacts), len(rejects))

    assert contacts["email"].is_unique
    for duplicate in rejects[rejects["kind"] == "duplicate"].itertuples():
        first = int(duplicate.reason.removeprefix("duplicate of row "))
        assert first < duplicate.row_number and first in contacts.index
    assert all(isinstance(reason, str) and reason for reason in rejects["reason"])

    records = contacts.to_dict("records")
    json.dumps(records, allow_nan=False)  # natives only, nothing infinite or NaN
    for record in records:
        assert all(type(v) in (str, int, float, bool, list, dict, type(None)) for v in record.values())
        assert record["name"] is None or len(record["name"]) <= 10
        assert record["status"] in (None, "on", "off")
        assert record["labels"] is None or all(isinstance(t, str) and t and t == t.strip() for t in record["labels"])
        assert record["doc"] is None or isinstance(record["doc"], (dict, list))
        assert not isinstance(record["custom.x"], (dict, list))


def test_decimal_and_big_integers_into_text_keep_their_digits() -> None:
    contacts = ContactValidator(MAILTRAP, None, "mailtrap").validate(
        chunk(email=["a@b.co", "b@b.co"], company=[Decimal("12.50"), 2**70])).contacts

    assert contacts["company"].tolist() == ["12.50", str(2**70)]


def test_one_value_without_utf8_form_spoils_only_its_own_row() -> None:
    result = ContactValidator(MAILTRAP, None, "mailtrap").validate(
        chunk(email=["a@b.co", "b@b.co"], first_name=["x\udcff", "Bo"]))

    assert result.contacts["first_name"].tolist() == ["Bo"]
    assert result.rejects[["row_number", "reason"]].values.tolist() == [[0, "first_name: not text ('x\\udcff')"]]


def test_arrow_backed_and_categorical_columns() -> None:
    frame = pd.DataFrame({
        "email": pd.Series(["c@b.co", "d@b.co"], dtype="string[pyarrow]"),
        "age": pd.Series([1, None], dtype="int64[pyarrow]"),
        "signup": pd.Series([pd.Timestamp("2023-01-01"), None], dtype="timestamp[us][pyarrow]"),
        "vip": pd.Series([True, None], dtype="bool[pyarrow]"),
        "first_name": pd.Series(["A", "B"], dtype="category"),
    })

    contacts = ContactValidator(MAILTRAP, None, "mailtrap").validate(frame).contacts

    assert contacts.drop(columns="signup").to_dict("records") == [
        {"email": "c@b.co", "age": 1, "vip": True, "first_name": "A"},
        {"email": "d@b.co", "age": None, "vip": None, "first_name": "B"}]
    assert contacts["signup"].iloc[0] == "2023-01-01" and pd.isna(contacts["signup"].iloc[1])  # dates become text


@pytest.mark.parametrize("names", [[" Ann ", "Bo", "Cy"], ["Ann", "", "Cy"], ["Ann", None, "Cy"],
                                   ["Ann", "x" * 300, "Cy"], ["é", "日本", "\tZo\n"]])
@pytest.mark.parametrize(("specs", "provider", "column"), [(MAILTRAP, "mailtrap", "first_name"),
                                                            (SENDGRID, "sendgrid", "first_name"),  # at most 50
                                                            (MIGMA, "migma", "customFields.note")])
def test_text_in_string_columns_comes_out_as_from_object_columns(names: list[Any], specs: Any, provider: str,
                                                                 column: str) -> None:
    # A clean string column takes a shortcut (a few Arrow calls); it must end where the general path does.
    emails = ["a@b.co", "b@b.co", "c@b.co"]
    as_objects = ContactValidator(specs, {"email": "email", "n": column}, provider).validate(
        chunk(email=emails, n=names))
    strings = chunk(email=emails, n=names)
    strings["n"] = strings["n"].astype("str")
    as_strings = ContactValidator(specs, {"email": "email", "n": column}, provider).validate(strings)
    pd.testing.assert_frame_equal(as_strings.contacts, as_objects.contacts)
    pd.testing.assert_frame_equal(as_strings.rejects, as_objects.rejects)


@pytest.mark.parametrize("pattern", [ISO_DATE, ISO_DATETIME, "%Y-%m-%dT00:00:00Z", "%m/%d/%Y"])
def test_dates_are_written_as_strftime_writes_them(pattern: str) -> None:
    # ISO patterns go through numpy's datetime_as_string, others through pandas' strftime (which,
    # unlike Python's, pads years to four digits): the same texts either way.
    stamps = pd.Series(pd.to_datetime(["2020-01-02 03:04:05.999", "0001-01-01 00:00:00", "9999-12-31 23:59:59",
                                       "2020-01-02 03:04:05.999", "1970-01-01 00:00:00"], format="ISO8601"),
                       index=[5, 6, 7, 8, 9])
    written = _format_datetimes(stamps, pattern)
    assert written.index.tolist() == [5, 6, 7, 8, 9]
    assert written.tolist() == pd.DatetimeIndex(stamps).strftime(pattern).tolist()


@pytest.mark.parametrize("emails", [
    [" Ana@Example.COM", "bob@example.com\t", "carl@example.com"],
    ["ana@example.com", "BOB@EXAMPLE.COM", "carl@example.com"],
    ["ana@example.com", "bob@example.com", "carl@example.com"],
])
def test_text_columns_of_arrow_text_are_trimmed_and_lower_cased_only_where_needed(emails: list[str]) -> None:
    """Typed text columns (a warehouse's) take the whole-column path: same result as value by value."""
    frame = pd.DataFrame({"email": pd.Series(emails, dtype="str"),
                          "first_name": pd.Series(["\u00a0Ann", "Bo ", "Cy"], dtype="str"),
                          "last_name": pd.Series(["Lee", "Ng", "Ode"], dtype="str")})
    result = ContactValidator(MAILTRAP, None, "mailtrap").validate(frame)

    assert result.contacts["email"].tolist() == ["ana@example.com", "bob@example.com", "carl@example.com"]
    assert result.contacts["first_name"].tolist() == ["Ann", "Bo", "Cy"]
    assert result.contacts["last_name"].tolist() == ["Lee", "Ng", "Ode"]
    assert all(isinstance(result.contacts[name].dtype, pd.StringDtype) for name in result.contacts.columns)
    assert result.rejects.empty


def test_a_typed_text_column_with_a_unicode_address_still_gets_email_validator() -> None:
    frame = pd.DataFrame({"email": pd.Series(["ana@example.com", "JOSÉ@bücher.example"], dtype="str")})
    result = ContactValidator(MAILTRAP, None, "mailtrap").validate(frame)

    assert result.contacts["email"].tolist() == ["ana@example.com", "josé@xn--bcher-kva.example"]


def test_booleans_and_dates_into_text_and_date_time_fields_are_written_alike_from_any_source_type() -> None:
    mapping = {"email": "email", "flag": "custom_string_1", "day": "custom_datetime_1", "day_text": "custom_string_2"}
    flags, days = [True, False, None], [dt.date(2024, 2, 29), None, dt.date(1, 1, 1)]
    typed = pd.DataFrame({"email": pd.Series([f"u{i}@example.com" for i in range(3)], dtype="str"),
                          "flag": pd.Series(flags, dtype="boolean"),
                          "day": pd.array(days, dtype=pd.ArrowDtype(pa.date32())),
                          "day_text": pd.array(days, dtype=pd.ArrowDtype(pa.date32()))})
    as_objects = chunk(email=typed["email"].tolist(), flag=flags, day=days, day_text=days)

    for frame in (typed, as_objects):
        contacts = ContactValidator(NOTIFUSE, mapping, "notifuse").validate(frame).contacts.astype(object)
        assert contacts["custom_string_1"].tolist()[:2] == ["true", "false"]
        assert contacts["custom_datetime_1"].tolist()[::2] == ["2024-02-29T00:00:00Z", "0001-01-01T00:00:00Z"]
        assert contacts["custom_string_2"].tolist()[::2] == ["2024-02-29", "0001-01-01"]
        assert pd.isna(contacts["custom_string_1"].iloc[2]) and pd.isna(contacts["custom_datetime_1"].iloc[1])
