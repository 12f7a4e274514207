"""FieldMapping.resolve: what a mapping means, and the mistakes it refuses before anything is sent."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from airflow_contacts_provider.exceptions import MappingError
from airflow_contacts_provider.fields import FieldSpec, FieldType
from airflow_contacts_provider.mapping import FieldMapping, SourceKind, source_kind
from tests.field_specs import MAILTRAP, MIGMA, NOTIFUSE, SENDGRID, by_name


def test_default_maps_same_named_columns_and_logs_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="airflow_contacts_provider.mapping"):
        resolved = FieldMapping().resolve(MAILTRAP, ["id", "email", "first_name", "age", "notes"])

    assert resolved.email_column == "email"
    assert [(f.source, f.name) for f in resolved.fields] == [("first_name", "first_name"), ("age", "age")]
    assert resolved.ignored_columns == ("id", "notes")
    assert resolved.destination_names == ["email", "first_name", "age"]
    assert "id, notes" in caplog.text


def test_explicit_mapping_renames_and_keeps_its_order() -> None:
    mapping = FieldMapping({"surname": "last_name", "given": "first_name"}, email_column="mail")

    resolved = mapping.resolve(MAILTRAP, ["mail", "given", "surname", "first_name"])

    assert [(f.source, f.name) for f in resolved.fields] == [("surname", "last_name"), ("given", "first_name")]
    assert resolved.email_column == "mail"
    assert resolved.ignored_columns == ("first_name",)


def test_email_column_may_also_appear_in_the_mapping_as_email() -> None:
    resolved = FieldMapping({"mail": "email", "n": "first_name"}, email_column="mail").resolve(
        MAILTRAP, ["mail", "n"])

    assert resolved.email_column == "mail"
    assert [f.name for f in resolved.fields] == ["first_name"]


def test_another_column_mapped_to_email_is_refused() -> None:
    with pytest.raises(MappingError, match="pass email_column='work_mail'"):
        FieldMapping({"work_mail": "email"}).resolve(MAILTRAP, ["email", "work_mail"])


def test_default_mapping_never_treats_the_address_as_a_field() -> None:
    resolved = FieldMapping(email_column="Email").resolve(SENDGRID, ["Email", "email", "first_name"])

    assert [f.name for f in resolved.fields] == ["first_name"]
    assert resolved.ignored_columns == ("email",)


@pytest.mark.parametrize(
    ("specs", "mapping", "columns", "message"),
    [
        pytest.param(MAILTRAP, {"nick": "nickname"}, ["email", "nick"],
                     "Destination field 'nickname' (mapped from column 'nick') is not a field", id="unknown-field"),
        pytest.param(MAILTRAP, {"fname": "first_name"}, ["email"], "Mapped source column 'fname'",
                     id="absent-column"),
        pytest.param(MAILTRAP, None, ["mail"], "no email column 'email'", id="no-email-column"),
        pytest.param(SENDGRID, {"c": "created_at"}, ["email", "c"], "'created_at' is read-only", id="read-only"),
        pytest.param(MAILTRAP, {"a": "first_name", "b": "first_name"}, ["email", "a", "b"],
                     "'first_name' is mapped from two columns: 'a' and 'b'", id="two-columns-one-field"),
        pytest.param(MIGMA, {"x": "customFields."}, ["email", "x"], "'customFields.'", id="pattern-needs-a-key"),
        pytest.param(NOTIFUSE, {"x": "customFields.plan"}, ["email", "x"], "'customFields.plan'",
                     id="no-pattern-spec"),
        pytest.param(by_name(FieldSpec(name="email", type=FieldType.TEXT, required=True),
                             FieldSpec(name="external_id", type=FieldType.TEXT, required=True)),
                     None, ["email"], "'external_id' is required", id="required-field-unmapped"),
    ],
)
def test_mistakes_raise_mapping_error_naming_the_culprit(specs: dict[str, FieldSpec], mapping: dict[str, str] | None,
                                                         columns: list[str], message: str) -> None:
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        FieldMapping(mapping).resolve(specs, columns)


def test_migma_custom_fields_resolve_through_the_pattern_spec() -> None:
    resolved = FieldMapping({"plan": "customFields.plan", "fn": "firstName"}).resolve(MIGMA, ["email", "plan", "fn"])

    plan = resolved.fields[0]
    assert (plan.name, plan.spec.type, plan.open_json) == ("customFields.plan", FieldType.JSON, True)
    assert resolved.fields[1].open_json is False


@pytest.mark.parametrize(
    ("specs", "column", "values", "field"),
    [
        pytest.param(MAILTRAP, "vip", pd.to_datetime(["2023-01-01"]), "boolean field 'vip'", id="datetime-to-boolean"),
        pytest.param(MAILTRAP, "signup", [True], "date field 'signup'", id="boolean-to-date"),
        pytest.param(MAILTRAP, "age", [True, False], "integer field 'age'", id="boolean-to-integer"),
        pytest.param(MAILTRAP, "signup", [1.5], "date field 'signup'", id="float-to-date"),
        pytest.param(NOTIFUSE, "custom_json_1", [3], "json field 'custom_json_1'", id="integer-to-json"),
        pytest.param(MIGMA, "tags", pd.to_datetime(["2023-01-01"]), "tags field 'tags'", id="datetime-to-tags"),
        pytest.param(MAILTRAP, "first_name", pd.to_timedelta(["1D"]), "text field 'first_name'",
                     id="timedelta-to-text"),
    ],
)
def test_a_dtype_that_can_never_fit_is_refused(specs: dict[str, FieldSpec], column: str, values: object,
                                                field: str) -> None:
    chunk = pd.DataFrame({"email": ["a@b.co"] * len(values), column: values})  # type: ignore[arg-type]

    with pytest.raises(MappingError, match=f"Column '{column}' holds .* never fit {field}"):
        FieldMapping().resolve(specs, list(chunk.columns), first_chunk=chunk)


def test_a_numeric_email_column_is_refused() -> None:
    chunk = pd.DataFrame({"email": [1, 2]})

    with pytest.raises(MappingError, match="Email column 'email' holds integer values"):
        FieldMapping().resolve(MAILTRAP, ["email"], first_chunk=chunk)


def test_columns_all_null_in_the_first_chunk_are_not_judged_by_their_dtype() -> None:
    chunk = pd.DataFrame({"email": ["a@b.co"], "signup": [np.nan]})  # float64, says nothing about the source

    resolved = FieldMapping().resolve(MAILTRAP, list(chunk.columns), first_chunk=chunk)

    assert [f.name for f in resolved.fields] == ["signup"]


def test_compatible_dtypes_pass() -> None:
    chunk = pd.DataFrame({
        "email": ["a@b.co"], "first_name": [pd.Timestamp("2023-01-01")], "age": [3.0], "score": ["1.5"],
        "vip": [1], "signup": ["2023-01-01"],
    })

    resolved = FieldMapping().resolve(MAILTRAP, list(chunk.columns), first_chunk=chunk)

    assert len(resolved.fields) == 5


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        pytest.param(pd.Series([True, None], dtype="boolean"), SourceKind.BOOLEAN, id="nullable-boolean"),
        pytest.param(pd.Series([1, None], dtype="Int64"), SourceKind.INTEGER, id="nullable-integer"),
        pytest.param(pd.Series(["a", "b"], dtype="category"), SourceKind.TEXT, id="category-of-text"),
        pytest.param(pd.Series([pd.Timestamp("2020-01-01", tz="UTC")]), SourceKind.DATETIME, id="tz-aware"),
        pytest.param(pd.Series([pd.Timestamp("2020-01-01").date()], dtype=object), SourceKind.DATETIME,
                     id="date-objects"),
        pytest.param(pd.Series(["a", 1], dtype=object), SourceKind.MIXED, id="mixed-objects"),
        pytest.param(pd.Series([1.5], dtype="float64[pyarrow]"), SourceKind.FLOAT, id="arrow-float"),
    ],
)
def test_source_kind(values: pd.Series, kind: SourceKind) -> None:
    assert source_kind(values) is kind
