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
    """The provider refused a request as a whole, or kept failing it after retries.

    ``http_status`` is the HTTP status of the last answer, if there was one.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.http_status = status_code

    @property
    def is_transient(self) -> bool:
        """Whether asking again later might succeed (server errors, rate limits)."""
        return self.http_status is None or self.http_status >= 500 or self.http_status == 429


class BatchTooLargeError(ConfigurationError):
    """A batch exceeds the provider's documented limit; refused before sending."""


class ImportJobFailedError(ContactsProviderError):
    """An import job ended failed, or did not finish before its timeout."""


class ReconciliationError(ContactsProviderError):
    """The counts of a sync do not add up to the rows read."""
