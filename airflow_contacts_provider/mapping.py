"""Which source column feeds which destination field, checked before any contact is sent.

One shape serves every provider: ``mapping`` is ``{source column: destination field}``
(``None`` maps same-named columns) and ``email_column`` names the address column.
Mistakes in it are configuration errors, so :meth:`FieldMapping.resolve` raises
:class:`~airflow_contacts_provider.exceptions.MappingError` for them instead of
rejecting every row one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import pandas as pd
from pandas.api import types as ptypes

from airflow_contacts_provider.exceptions import MappingError
from airflow_contacts_provider.fields import FieldSpec, FieldType

log = logging.getLogger(__name__)

EMAIL_FIELD = "email"
"""The destination key of the address in every provider's flat records."""

PATTERN_SUFFIX = ".*"
"""A spec named ``<prefix>.*`` (Migma's ``customFields.*``) accepts any ``<prefix>.<key>``."""


class SourceKind(str, Enum):
    """What a source column holds, as far as its dtype (or its values, for object columns) tells."""

    BOOLEAN = "boolean"
    INTEGER = "integer"
    FLOAT = "float"
    DATETIME = "datetime"
    TIMEDELTA = "timedelta"
    TEXT = "text"
    MIXED = "mixed"
    """Object columns of mixed or unknown values: only the rows can tell."""


_INFERRED_KINDS = {
    "string": SourceKind.TEXT,
    "boolean": SourceKind.BOOLEAN,
    "integer": SourceKind.INTEGER,
    "floating": SourceKind.FLOAT,
    "mixed-integer-float": SourceKind.FLOAT,
    "decimal": SourceKind.FLOAT,
    "date": SourceKind.DATETIME,
    "datetime": SourceKind.DATETIME,
    "datetime64": SourceKind.DATETIME,
    "timedelta": SourceKind.TIMEDELTA,
    "timedelta64": SourceKind.TIMEDELTA,
}

_NUMBERS_AND_TIMES = {SourceKind.BOOLEAN, SourceKind.INTEGER, SourceKind.FLOAT, SourceKind.DATETIME,
                      SourceKind.TIMEDELTA}

_NEVER_FITS: dict[FieldType, set[SourceKind]] = {
    FieldType.TEXT: {SourceKind.TIMEDELTA},
    FieldType.INTEGER: {SourceKind.BOOLEAN, SourceKind.DATETIME, SourceKind.TIMEDELTA},
    FieldType.FLOAT: {SourceKind.BOOLEAN, SourceKind.DATETIME, SourceKind.TIMEDELTA},
    FieldType.BOOLEAN: {SourceKind.DATETIME, SourceKind.TIMEDELTA},
    FieldType.DATE: {SourceKind.BOOLEAN, SourceKind.INTEGER, SourceKind.FLOAT, SourceKind.TIMEDELTA},
    FieldType.DATETIME: {SourceKind.BOOLEAN, SourceKind.INTEGER, SourceKind.FLOAT, SourceKind.TIMEDELTA},
    FieldType.JSON: _NUMBERS_AND_TIMES,
    FieldType.TAGS: {SourceKind.BOOLEAN, SourceKind.FLOAT, SourceKind.DATETIME, SourceKind.TIMEDELTA},
}
"""Source kinds whose every value a destination type refuses (a datetime into a boolean...)."""

_NEVER_FITS_OPEN_JSON = {SourceKind.TIMEDELTA}
"""An open pattern field (``customFields.<key>``) takes any scalar, dates as ISO strings."""

_NEVER_FITS_EMAIL = _NUMBERS_AND_TIMES


def source_kind(column: pd.Series) -> SourceKind:
    """Classify a source column; object columns are classified by their values, skipping nulls.

    :param column: the column as read from the source.
    """
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return source_kind(column.astype(dtype.categories.dtype))
    if ptypes.is_bool_dtype(dtype):
        return SourceKind.BOOLEAN
    if ptypes.is_integer_dtype(dtype):
        return SourceKind.INTEGER
    if ptypes.is_float_dtype(dtype):
        return SourceKind.FLOAT
    if ptypes.is_datetime64_any_dtype(dtype) or _is_arrow_date(dtype):
        return SourceKind.DATETIME
    if ptypes.is_timedelta64_dtype(dtype):
        return SourceKind.TIMEDELTA
    if ptypes.is_string_dtype(dtype) and not ptypes.is_object_dtype(dtype):
        return SourceKind.TEXT
    if ptypes.is_numeric_dtype(dtype):
        return SourceKind.FLOAT
    if ptypes.is_object_dtype(dtype):
        return _INFERRED_KINDS.get(ptypes.infer_dtype(column, skipna=True), SourceKind.MIXED)
    return SourceKind.MIXED


def _is_arrow_date(dtype: object) -> bool:
    if not isinstance(dtype, pd.ArrowDtype):
        return False
    import pyarrow as pa

    return bool(pa.types.is_date(dtype.pyarrow_dtype))


@dataclass(frozen=True)
class ResolvedField:
    """One mapped field: where its values come from and what the destination accepts.

    :param source: the source column.
    :param spec: the destination field; for a pattern field, a copy named after the concrete key.
    :param open_json: the field came from a pattern spec (``customFields.*``) and takes any scalar.
    """

    source: str
    spec: FieldSpec
    open_json: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class ResolvedMapping:
    """A mapping checked against one provider's fields and one source's columns.

    :param email_column: the source column holding the address.
    :param fields: the other mapped fields, in the order they appear in the payload frame.
    :param ignored_columns: source columns that feed nothing.
    """

    email_column: str
    fields: tuple[ResolvedField, ...]
    ignored_columns: tuple[str, ...] = ()

    @property
    def destination_names(self) -> list[str]:
        """The payload frame's columns: ``email`` first, then the mapped fields."""
        return [EMAIL_FIELD, *(field.name for field in self.fields)]


class FieldMapping:
    """Source columns to destination fields, the same for every provider.

    :param mapping: ``{source column: destination field name}``. ``None`` maps every source
        column whose name is a destination field to that field; other columns are ignored (and
        logged by name). The address always comes from ``email_column``.
    :param email_column: the source column holding the address.
    """

    def __init__(self, mapping: Mapping[str, str] | None = None, email_column: str = EMAIL_FIELD) -> None:
        self.mapping = dict(mapping) if mapping is not None else None
        self.email_column = email_column

    def __repr__(self) -> str:
        return f"FieldMapping({self.mapping!r}, email_column={self.email_column!r})"

    def resolve(
        self,
        field_specs: Mapping[str, FieldSpec],
        source_columns: Sequence[str],
        first_chunk: pd.DataFrame | None = None,
    ) -> ResolvedMapping:
        """Check the mapping against the destination's fields and the source's columns.

        Source columns are only known once the first chunk is read, so call this with that
        chunk, before sending anything.

        :param field_specs: the destination's fields by name (from the hook's ``get_field_specs``).
        :param source_columns: the columns of the source's first chunk.
        :param first_chunk: that chunk, when at hand: the dtype of each column with a value is
            checked against its destination (columns all null in it say nothing and are skipped).
        :raises MappingError: naming the field or column at fault.
        """
        columns = [str(column) for column in source_columns]
        if self.email_column not in columns:
            raise MappingError(
                f"The source has no email column '{self.email_column}' (columns: {_listing(columns)}); "
                "name the address column with email_column."
            )
        pairs = self._pairs(field_specs, columns)
        fields = tuple(self._resolve_field(field_specs, source, destination) for source, destination in pairs)
        _check_unique_destinations(fields)
        _check_required(field_specs, fields)
        used = {self.email_column, *(field.source for field in fields)}
        ignored = tuple(column for column in columns if column not in used)
        if ignored:
            log.info("Ignoring source columns that map to no destination field: %s", ", ".join(ignored))
        resolved = ResolvedMapping(self.email_column, fields, ignored)
        if first_chunk is not None:
            _check_kinds(resolved, first_chunk)
        return resolved

    def _pairs(self, field_specs: Mapping[str, FieldSpec], columns: list[str]) -> list[tuple[str, str]]:
        if self.mapping is None:
            return [
                (column, column)
                for column in columns
                if column not in (self.email_column, EMAIL_FIELD) and _spec_for(field_specs, column)
            ]
        pairs = []
        for source, destination in self.mapping.items():
            if destination == EMAIL_FIELD:
                if source != self.email_column:
                    raise MappingError(
                        f"Column '{source}' is mapped to 'email', but the address comes from "
                        f"email_column='{self.email_column}'; pass email_column='{source}' instead."
                    )
                continue
            if source not in columns:
                raise MappingError(
                    f"Mapped source column '{source}' (for field '{destination}') is not in the source; "
                    f"its columns are {_listing(columns)}."
                )
            pairs.append((source, destination))
        return pairs

    @staticmethod
    def _resolve_field(field_specs: Mapping[str, FieldSpec], source: str, destination: str) -> ResolvedField:
        spec = field_specs.get(destination)
        open_json = False
        if spec is None:
            pattern = _spec_for(field_specs, destination)
            if pattern is None:
                raise MappingError(
                    f"Destination field '{destination}' (mapped from column '{source}') is not a field of "
                    f"this provider; its fields are {_listing(sorted(field_specs))}."
                )
            spec = pattern.model_copy(update={"name": destination})
            open_json = spec.type is FieldType.JSON
        if spec.read_only:
            raise MappingError(f"Destination field '{destination}' is read-only; it cannot be imported.")
        return ResolvedField(source, spec, open_json)


def _spec_for(field_specs: Mapping[str, FieldSpec], name: str) -> FieldSpec | None:
    """The spec a destination name matches: its own, or a ``<prefix>.*`` pattern's."""
    if name in field_specs:
        return field_specs[name]
    for pattern_name, spec in field_specs.items():
        if pattern_name.endswith(PATTERN_SUFFIX):
            prefix = pattern_name.removesuffix("*")
            if name.startswith(prefix) and len(name) > len(prefix):
                return spec
    return None


def _check_unique_destinations(fields: tuple[ResolvedField, ...]) -> None:
    seen: dict[str, str] = {}
    for field in fields:
        if field.name in seen:
            raise MappingError(
                f"Destination field '{field.name}' is mapped from two columns: '{seen[field.name]}' "
                f"and '{field.source}'."
            )
        seen[field.name] = field.source


def _check_required(field_specs: Mapping[str, FieldSpec], fields: tuple[ResolvedField, ...]) -> None:
    mapped = {field.name for field in fields}
    for name, spec in field_specs.items():
        if spec.required and name != EMAIL_FIELD and name not in mapped and not name.endswith(PATTERN_SUFFIX):
            raise MappingError(f"Destination field '{name}' is required but no source column is mapped to it.")


def _check_kinds(resolved: ResolvedMapping, chunk: pd.DataFrame) -> None:
    """Refuse columns whose type can never fit their destination (a datetime into a boolean...)."""
    email = chunk[resolved.email_column]
    if _has_values(email) and source_kind(email) in _NEVER_FITS_EMAIL:
        raise MappingError(
            f"Email column '{resolved.email_column}' holds {source_kind(email).value} values, not addresses."
        )
    for field in resolved.fields:
        column = chunk[field.source]
        if not _has_values(column):
            continue
        kind = source_kind(column)
        never = _NEVER_FITS_OPEN_JSON if field.open_json else _NEVER_FITS[field.spec.type]
        if kind in never:
            raise MappingError(
                f"Column '{field.source}' holds {kind.value} values, which can never fit "
                f"{field.spec.type.value} field '{field.name}'."
            )


def _has_values(column: pd.Series) -> bool:
    try:
        return bool(column.notna().any())
    except ArithmeticError:  # a signalling-NaN Decimal refuses to be compared, but it is a value
        return True


def _listing(names: Sequence[str], limit: int = 30) -> str:
    if not names:
        return "none"
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
