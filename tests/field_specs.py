"""Destination schemas for tests, shaped like what each provider hook's ``get_field_specs()`` returns.

Hooks list the address as a required ``email`` field; mapping takes it from ``email_column``.
"""

from __future__ import annotations

from airflow_contacts_provider.fields import FieldSpec, FieldType


def by_name(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in specs}


EMAIL = FieldSpec(name="email", type=FieldType.TEXT, required=True)

MAILTRAP = by_name(
    EMAIL,
    FieldSpec(name="first_name", type=FieldType.TEXT),
    FieldSpec(name="last_name", type=FieldType.TEXT),
    FieldSpec(name="company", type=FieldType.TEXT),
    FieldSpec(name="age", type=FieldType.INTEGER),
    FieldSpec(name="score", type=FieldType.FLOAT),
    FieldSpec(name="vip", type=FieldType.BOOLEAN),
    FieldSpec(name="signup", type=FieldType.DATE),
)
"""Merge tags of a Mailtrap account with one custom field of each data type."""

_NOTIFUSE_STRINGS = {
    "external_id": 255, "timezone": 50, "language": 50, "first_name": 255, "last_name": 255,
    "full_name": 255, "phone": 50, "address_line_1": 255, "address_line_2": 255, "country": 100,
    "postcode": 20, "state": 100, "job_title": 255, **{f"custom_string_{i}": 255 for i in range(1, 6)},
}
NOTIFUSE = by_name(
    FieldSpec(name="email", type=FieldType.TEXT, required=True, max_length=255),
    *(FieldSpec(name=name, type=FieldType.TEXT, max_length=length) for name, length in _NOTIFUSE_STRINGS.items()),
    *(FieldSpec(name=f"custom_number_{i}", type=FieldType.FLOAT) for i in range(1, 6)),
    *(FieldSpec(name=f"custom_datetime_{i}", type=FieldType.DATETIME) for i in range(1, 6)),
    *(FieldSpec(name=f"custom_json_{i}", type=FieldType.JSON) for i in range(1, 6)),
)
"""The ContactInput keys of Notifuse's contacts.import (seed 001)."""

SENDGRID = by_name(
    FieldSpec(name="email", type=FieldType.TEXT, required=True, max_length=254),
    FieldSpec(name="first_name", type=FieldType.TEXT, max_length=50),
    FieldSpec(name="last_name", type=FieldType.TEXT, max_length=50),
    FieldSpec(name="city", type=FieldType.TEXT, max_length=60),
    FieldSpec(name="country", type=FieldType.TEXT, max_length=50),
    FieldSpec(name="phone_number", type=FieldType.TEXT),
    FieldSpec(name="created_at", type=FieldType.DATE, read_only=True),
    FieldSpec(name="plan", type=FieldType.TEXT),
    FieldSpec(name="num_orders", type=FieldType.FLOAT),
    FieldSpec(name="dob", type=FieldType.DATE),
)
"""Reserved fields (one read-only) and custom Text, Number and Date fields of a SendGrid account."""

MIGMA_STATUSES = ("subscribed", "unsubscribed", "bounced", "non-subscribed")
MIGMA = by_name(
    EMAIL,
    FieldSpec(name="firstName", type=FieldType.TEXT),
    FieldSpec(name="lastName", type=FieldType.TEXT),
    FieldSpec(name="phone", type=FieldType.TEXT, max_length=30),
    FieldSpec(name="country", type=FieldType.TEXT),
    FieldSpec(name="language", type=FieldType.TEXT),
    FieldSpec(name="status", type=FieldType.TEXT, choices=MIGMA_STATUSES),
    FieldSpec(name="tags", type=FieldType.TAGS),
    FieldSpec(name="customFields.*", type=FieldType.JSON),
)
"""Migma subscriber keys; ``customFields.*`` stands for any ``customFields.<key>``."""

PROVIDERS = {"mailtrap": MAILTRAP, "notifuse": NOTIFUSE, "sendgrid": SENDGRID, "migma": MIGMA}
