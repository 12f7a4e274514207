"""One small hierarchy of errors, rooted in AirflowException so Airflow reports them plainly."""

from __future__ import annotations

from airflow.exceptions import AirflowException


class ContactsProviderError(AirflowException):
    """Base of every error this provider raises."""


class ConfigurationError(ContactsProviderError):
    """The task or connection is set up wrongly; raised before anything is sent."""


class MappingError(ConfigurationError):
    """A mapping names a field the destination does not have, or a column the source does not."""


class ProviderAuthError(ContactsProviderError):
    """The provider refused the connection's credentials (401/403). Never carries the token."""


class ProviderRequestError(ContactsProviderError):
    """The provider refused a request as a whole, for a reason retrying will not fix."""


class BatchTooLargeError(ConfigurationError):
    """A batch exceeds the provider's documented limit; refused before sending."""


class ImportJobFailedError(ContactsProviderError):
    """An import job ended failed, or did not finish before its timeout."""


class ReconciliationError(ContactsProviderError):
    """The counts of a sync do not add up to the rows read."""
