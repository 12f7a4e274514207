"""A corpus of bad (and tricky but good) input, each case with the outcome it must have.

Every case runs through :class:`ContactValidator` with one provider's field specs and asserts
one of: accepted with an exact normalised value, rejected with a reason, rejected as a
duplicate of a named row, or refused up front with a :class:`MappingError`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airflow_contacts_provider.exceptions import MappingError
from airflow_contacts_provider.validation import ContactValidator, ValidatedChunk
from tests.field_specs import PROVIDERS


def column(*values: Any, dtype: Any = None) -> pd.Series:
    return pd.Series(list(values), dtype=dtype)


def run(provider: str, chunks: list[dict[str, Any]], mapping: dict[str, str] | None = None) -> list[ValidatedChunk]:
    """Validate chunks in order; each chunk's row numbers continue from the previous one's."""
    validator = ContactValidator(PROVIDERS[provider], mapping, provider)
    results, start = [], 0
    for columns in chunks:
        frame = pd.DataFrame({name: values if isinstance(values, pd.Series)
                              else pd.Series(values if isinstance(values, list) else [values])
                              for name, values in columns.items()})
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        results.append(validator.validate(frame))
    return results


def outcome(results: list[ValidatedChunk]) -> tuple[pd.DataFrame, pd.DataFrame]:
    contacts = pd.concat([r.contacts for r in results])
    rejects = pd.concat([r.rejects for r in results], ignore_index=True)
    return contacts, rejects


# -- accepted, with the exact value sent ------------------------------------------------------------

ACCEPTED = [
    pytest.param("mailtrap", {"email": "  john@example.com \t"}, "email", "john@example.com",
                 id="surrounding-whitespace-trimmed"),
    pytest.param("mailtrap", {"email": "John.Doe@Example.COM"}, "email", "john.doe@example.com",
                 id="upper-case-lowered"),
    pytest.param("mailtrap", {"email": "user@Bücher.de"}, "email", "user@xn--bcher-kva.de",
                 id="idn-domain-sent-as-punycode"),
    pytest.param("notifuse", {"email": "用户@example.com"}, "email", "用户@example.com",
                 id="unicode-local-part-kept"),
    pytest.param("mailtrap", {"email": "john+news@example.co.uk"}, "email", "john+news@example.co.uk",
                 id="plus-tag-and-two-level-tld"),
    pytest.param("mailtrap", {"email": "a@b.co", "age": 42.0}, "age", 42, id="integral-float-into-integer"),
    pytest.param("mailtrap", {"email": "a@b.co", "age": " 42 "}, "age", 42, id="integer-from-padded-text"),
    pytest.param("mailtrap", {"email": "a@b.co", "vip": "YES"}, "vip", True, id="bool-string-yes"),
    pytest.param("mailtrap", {"email": "a@b.co", "vip": "0"}, "vip", False, id="bool-string-zero"),
    pytest.param("mailtrap", {"email": "a@b.co", "vip": "False"}, "vip", False, id="bool-string-false"),
    pytest.param("mailtrap", {"email": "a@b.co", "vip": 1}, "vip", True, id="bool-from-int-one"),
    pytest.param("mailtrap", {"email": "a@b.co", "signup": pd.Timestamp("2023-06-01 15:30")}, "signup",
                 "2023-06-01", id="mailtrap-date-yyyy-mm-dd"),
    pytest.param("mailtrap", {"email": "a@b.co", "signup": column(dt.date(2023, 6, 1), dtype=object)}, "signup",
                 "2023-06-01", id="date-object-into-mailtrap-date"),
    pytest.param("notifuse", {"email": "a@b.co", "custom_datetime_1": pd.Timestamp("2023-06-01 11:00",
                                                                                  tz="Europe/Paris")},
                 "custom_datetime_1", "2023-06-01T09:00:00Z", id="notifuse-datetime-rfc3339-utc"),
    pytest.param("notifuse", {"email": "a@b.co", "custom_datetime_1": "2023-06-01T04:00:00-05:00"},
                 "custom_datetime_1", "2023-06-01T09:00:00Z", id="notifuse-datetime-from-offset-text"),
    pytest.param("sendgrid", {"email": "a@b.co", "dob": "1990-12-31"}, "dob", "12/31/1990",
                 id="sendgrid-date-mm-dd-yyyy"),
    pytest.param("migma", {"email": "a@b.co", "since": column(dt.date(2023, 6, 1), dtype=object)},
                 "customFields.since", "2023-06-01", {"since": "customFields.since"},
                 id="migma-custom-field-date-iso"),
    pytest.param("migma", {"email": "a@b.co", "customFields.plan": "gold"}, "customFields.plan", "gold",
                 id="migma-custom-field-by-same-name"),
    pytest.param("migma", {"email": "a@b.co", "status": "Subscribed"}, "status", "subscribed",
                 id="migma-status-case-folded-to-choice"),
    pytest.param("migma", {"email": "a@b.co", "phone": "+" + "1" * 29}, "phone", "+" + "1" * 29,
                 id="migma-phone-exactly-30"),
    pytest.param("migma", {"email": "a@b.co", "tags": " vip, new ,, beta ,"}, "tags", ["vip", "new", "beta"],
                 id="tags-string-split-and-trimmed"),
    pytest.param("migma", {"email": "a@b.co", "tags": column(["vip", " ", "new "], dtype=object)}, "tags",
                 ["vip", "new"], id="tags-list-cleaned"),
    pytest.param("migma", {"email": "a@b.co", "tags": " , "}, "tags", None, id="tags-blank-is-missing"),
    pytest.param("mailtrap", {"email": "a@b.co", "first_name": column(np.nan)}, "first_name", None,
                 id="nan-is-missing"),
    pytest.param("mailtrap", {"email": "a@b.co", "first_name": column(None, dtype=object)}, "first_name", None,
                 id="none-is-missing"),
    pytest.param("mailtrap", {"email": "a@b.co", "signup": column(pd.NaT)}, "signup", None, id="nat-is-missing"),
    pytest.param("mailtrap", {"email": "a@b.co", "first_name": "   "}, "first_name", None,
                 id="blank-string-is-missing"),
    pytest.param("mailtrap", {"email": "a@b.co", "first_name": 42}, "first_name", "42", id="text-from-int"),
    pytest.param("mailtrap", {"email": "a@b.co", "first_name": 3.0}, "first_name", "3",
                 id="text-from-integral-float"),
    pytest.param("mailtrap", {"email": "a@b.co", "age": column(np.int64(7), dtype=object)}, "age", 7,
                 id="numpy-int64-becomes-int"),
    pytest.param("mailtrap", {"email": "a@b.co", "score": column(np.float64(2.5), dtype=object)}, "score", 2.5,
                 id="numpy-float64-becomes-float"),
    pytest.param("mailtrap", {"email": "a@b.co", "vip": column(np.bool_(True), dtype=object)}, "vip", True,
                 id="numpy-bool-becomes-bool"),
    pytest.param("mailtrap", {"email": "a@b.co", "score": column(Decimal("12.50"), dtype=object)}, "score", 12.5,
                 id="decimal-into-float"),
    pytest.param("notifuse", {"email": "a@b.co", "custom_json_1": '{"plan": "gold", "seats": 3}'},
                 "custom_json_1", {"plan": "gold", "seats": 3}, id="json-text-object-parsed"),
    pytest.param("notifuse", {"email": "a@b.co", "custom_json_1": column({"n": np.int64(3)}, dtype=object)},
                 "custom_json_1", {"n": 3}, id="json-dict-numpy-values-become-natives"),
]


ACCEPTED = [case if len(case.values) == 5 else pytest.param(*case.values, None, id=case.id) for case in ACCEPTED]


@pytest.mark.parametrize(("provider", "columns", "field", "expected", "mapping"), ACCEPTED)
def test_accepted(provider: str, columns: dict[str, Any], field: str, expected: Any,
                  mapping: dict[str, str] | None) -> None:
    contacts, rejects = outcome(run(provider, [columns], mapping))

    assert rejects.empty, rejects.to_dict("records")
    record = contacts.to_dict("records")[0]
    assert record[field] == expected
    assert type(record[field]) is type(expected)


# -- rejected, with the reason given ----------------------------------------------------------------

REJECTED = [
    pytest.param("mailtrap", {"email": "john.example.com"}, "email: invalid syntax (An email address must have an @",
                 id="email-without-at"),
    pytest.param("mailtrap", {"email": "a@b@example.com"}, "email: invalid syntax", id="email-with-two-at"),
    pytest.param("mailtrap", {"email": "john doe@example.com"}, "email: invalid syntax", id="email-space-inside"),
    pytest.param("mailtrap", {"email": "john@example.com."}, "email: invalid syntax", id="email-trailing-dot"),
    pytest.param("mailtrap", {"email": "john@example"}, "email: invalid syntax", id="email-missing-tld"),
    pytest.param("mailtrap", {"email": "john@example.c"}, "email: invalid syntax (top-level domain is too short)",
                 id="email-one-letter-tld"),
    pytest.param("mailtrap", {"email": "jo..hn@example.com"}, "email: invalid syntax", id="email-double-dot"),
    pytest.param("mailtrap", {"email": ".john@example.com"}, "email: invalid syntax", id="email-leading-dot"),
    pytest.param("mailtrap", {"email": "John <john@example.com>"}, "email: invalid syntax",
                 id="email-with-display-name"),
    pytest.param("mailtrap", {"email": "john@server.local"}, "email: invalid syntax", id="email-special-use-domain"),
    pytest.param("mailtrap", {"email": "a" * 250 + "@example.com"},
                 "email: invalid syntax (longer than 254 characters)", id="email-too-long"),
    pytest.param("mailtrap", {"email": column(None, dtype=object)}, "email: missing", id="email-none"),
    pytest.param("mailtrap", {"email": "  "}, "email: missing", id="email-blank"),
    pytest.param("mailtrap", {"email": column("a@b.co", 12345, dtype=object)}, "email: invalid syntax (not text)", 1,
                 id="email-a-number"),
    pytest.param("migma", {"email": "a@b.co", "phone": "+" + "1" * 30}, "phone: longer than 30 characters",
                 id="migma-phone-31-characters"),
    pytest.param("migma", {"email": "a@b.co", "status": "active"},
                 "status: not one of subscribed, unsubscribed, bounced, non-subscribed ('active')",
                 id="migma-status-not-a-choice"),
    pytest.param("mailtrap", {"email": "a@b.co", "age": 12.5}, "age: not an integer (12.5)",
                 id="non-integral-float-into-integer"),
    pytest.param("mailtrap", {"email": "a@b.co", "age": "abc"}, "age: not an integer ('abc')",
                 id="text-into-integer"),
    pytest.param("mailtrap", {"email": ["a@b.co", "b@b.co"], "age": column(5, True, dtype=object)},
                 "age: not an integer (True)", 1, id="bool-among-integers"),
    pytest.param("mailtrap", {"email": "a@b.co", "score": float("inf")}, "score: not a finite number (inf)",
                 id="inf-into-float"),
    pytest.param("notifuse", {"email": "a@b.co", "custom_number_1": "abc"}, "custom_number_1: not a number ('abc')",
                 id="unparsable-text-into-number"),
    pytest.param("mailtrap", {"email": "a@b.co", "vip": "maybe"}, "vip: not a boolean ('maybe')",
                 id="bool-string-unknown"),
    pytest.param("mailtrap", {"email": "a@b.co", "vip": 2}, "vip: not a boolean (2)", id="bool-from-int-two"),
    pytest.param("mailtrap", {"email": "a@b.co", "signup": "01/06/2023"},
                 "signup: not an ISO 8601 date ('01/06/2023')", id="date-not-iso"),
    pytest.param("notifuse", {"email": "a@b.co", "custom_json_1": "42"},
                 "custom_json_1: not a JSON object or array ('42')", id="json-text-not-object"),
    pytest.param("notifuse", {"email": "a@b.co", "custom_json_1": "{oops"}, "custom_json_1: not valid JSON",
                 id="json-text-malformed"),
    pytest.param("notifuse", {"email": "a@b.co", "custom_json_1": column({"x": float("nan")}, dtype=object)},
                 "custom_json_1: not JSON-serialisable", id="json-dict-with-nan"),
    pytest.param("migma", {"email": "a@b.co", "customFields.meta": column({"a": 1}, dtype=object)},
                 "customFields.meta: not a single value", id="migma-custom-field-not-scalar"),
    pytest.param("notifuse", {"email": "a@b.co", "first_name": "x" * 256}, "first_name: longer than 255 characters",
                 id="notifuse-name-over-column-length"),
    pytest.param("mailtrap", {"email": "bad", "age": 1.5, "vip": "maybe"},
                 "email: invalid syntax (An email address must have an @-sign); age: not an integer (1.5); "
                 "vip: not a boolean ('maybe')", id="every-failing-field-listed"),
]


REJECTED = [case if len(case.values) == 4 else pytest.param(*case.values, 0, id=case.id) for case in REJECTED]


@pytest.mark.parametrize(("provider", "columns", "reason", "row"), REJECTED)
def test_rejected(provider: str, columns: dict[str, Any], reason: str, row: int) -> None:
    contacts, rejects = outcome(run(provider, [columns]))

    assert row not in contacts.index
    rejected = rejects.set_index("row_number").loc[row]
    assert rejected["kind"] == "invalid"
    assert reason in rejected["reason"]


# -- duplicates --------------------------------------------------------------------------------------

DUPLICATES = [
    pytest.param([{"email": ["a@example.com", "A@EXAMPLE.com "]}], 1, 0, id="same-chunk-case-differing"),
    pytest.param([{"email": ["a@example.com"]}, {"email": ["b@example.com", "a@example.com"]}], 2, 0,
                 id="across-chunks"),
    pytest.param([{"email": ["u@bücher.de", "u@XN--BCHER-KVA.DE"]}], 1, 0, id="idn-unicode-and-punycode"),
    pytest.param([{"email": ["a@example.com", "a@example.com"], "age": ["x", 3]},
                  {"email": ["a@example.com"], "age": [4]}], 2, 1, id="first-valid-occurrence-survives"),
]


@pytest.mark.parametrize(("chunks", "row", "first_row"), DUPLICATES)
def test_duplicate(chunks: list[dict[str, Any]], row: int, first_row: int) -> None:
    contacts, rejects = outcome(run("mailtrap", chunks))

    assert first_row in contacts.index
    rejected = rejects.set_index("row_number").loc[row]
    assert rejected["kind"] == "duplicate"
    assert rejected["reason"] == f"duplicate of row {first_row}"


# -- refused before anything is sent --------------------------------------------------------------

MAPPING_ERRORS = [
    pytest.param("mailtrap", {"email": "a@b.co", "nick": "x"}, {"nick": "nickname"}, "'nickname'",
                 id="unknown-destination-field"),
    pytest.param("mailtrap", {"mail": "a@b.co"}, None, "no email column 'email'", id="missing-email-column"),
    pytest.param("mailtrap", {"email": "a@b.co"}, {"fname": "first_name"}, "'fname'", id="mapped-column-absent"),
    pytest.param("sendgrid", {"email": "a@b.co", "created": "2023-01-01"}, {"created": "created_at"},
                 "'created_at' is read-only", id="read-only-destination"),
    pytest.param("mailtrap", {"email": "a@b.co", "vip": pd.Timestamp("2023-01-01")}, None,
                 "can never fit boolean field 'vip'", id="datetime-column-into-boolean"),
    pytest.param("mailtrap", {"email": "a@b.co", "plan": "gold"}, {"plan": "customFields.plan"},
                 "'customFields.plan'", id="pattern-field-without-pattern-spec"),
]


@pytest.mark.parametrize(("provider", "columns", "mapping", "message"), MAPPING_ERRORS)
def test_mapping_error(provider: str, columns: dict[str, Any], mapping: dict[str, str] | None,
                       message: str) -> None:
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace(".", r"\.")):
        run(provider, [columns], mapping)


def test_empty_chunk_is_no_error() -> None:
    frame = pd.DataFrame({"email": pd.Series([], dtype="str"), "age": pd.Series([], dtype="int64")})

    result = ContactValidator(PROVIDERS["mailtrap"], None, "mailtrap").validate(frame)

    assert result.contacts.empty and result.rejects.empty
    assert list(result.contacts.columns) == ["email", "age"]
    assert list(result.rejects.columns) == ["row_number", "email", "reason", "kind"]
