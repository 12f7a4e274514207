"""What a provider accepts in each contact field: the schema mapping is checked against."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel


class FieldType(str, Enum):
    TEXT = "text"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    JSON = "json"
    TAGS = "tags"


class FieldSpec(BaseModel):
    """One destination field.

    ``name`` is the key used in the flat contact records handed to a hook's
    ``submit_import`` (a Mailtrap merge tag, a Notifuse ``ContactInput`` key, a
    SendGrid field name, a Migma subscriber key or ``customFields.<key>``).
    """

    name: str
    type: FieldType
    max_length: int | None = None
    choices: tuple[str, ...] | None = None
    required: bool = False
    read_only: bool = False
