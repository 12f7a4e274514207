"""What the four provider hooks share: the connection, one HTTP session, retries and rate limits.

A provider hook says where its endpoints are and how its payloads look; this base
decides how a request is sent, retried, rate-limited and turned into an error.
"""

from __future__ import annotations

import json as jsonlib
import os
import random
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property, partial
from typing import Any, ClassVar, TypeAlias
from urllib.parse import urlsplit

import httpx
import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import requests
from airflow.sdk import BaseHook
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
)

from airflow_contacts_provider.arrow_text import text_buffers
from airflow_contacts_provider.exceptions import (
    BatchTooLargeError,
    ConfigurationError,
    ProviderAuthError,
    ProviderRequestError,
)
from airflow_contacts_provider.fields import FieldSpec
from airflow_contacts_provider.import_job import ImportJob
from airflow_contacts_provider.json_rows import comma_joined

Contacts: TypeAlias = "pd.DataFrame | Iterable[pd.DataFrame] | Sequence[Mapping[str, Any]]"
"""Flat contact records keyed by destination field name (see ``FieldSpec.name``): a frame,
frames of one batch (streamed by the operator so a large batch is never whole in memory),
or a list of dicts."""

DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF_BASE = 0.5

RESPONSE_BLOCK = 1 << 20
"""Bytes of a response body read at a time."""

RETRYABLE_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    httpx.TransportError,
)


def iter_frames(contacts: Contacts) -> Iterator[pd.DataFrame]:
    """The batch as frames, in order, for hooks that stream a batch (one frame for a list of dicts)."""
    if isinstance(contacts, pd.DataFrame):
        yield contacts
        return
    records: list[Any] = []
    for item in contacts:
        if isinstance(item, pd.DataFrame):
            yield item
        else:
            records.append(item)
    if records:
        yield pd.DataFrame.from_records(records)


def as_frame(contacts: Contacts) -> pd.DataFrame:
    """The whole batch as one frame, for hooks that send a batch in one request."""
    if isinstance(contacts, pd.DataFrame):
        return contacts
    frames = list(iter_frames(contacts))
    if not frames:
        return pd.DataFrame()
    return frames[0] if len(frames) == 1 else pd.concat(frames)


def json_body(payload: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """A request body as compact UTF-8 JSON.

    msgspec (an Airflow dependency) writes dates and date-times in ISO 8601, decimals as
    numbers. Contacts arrive already encoded (:mod:`airflow_contacts_provider.json_rows`, as
    ``msgspec.Raw``), which refuses infinity and leaves NaN (a missing value) out.

    :param payload: the body: dicts, lists and JSON scalars.
    :param default: turns a value msgspec cannot encode into one it can, or raises ``TypeError``.
    """
    return msgspec.json.Encoder(enc_hook=default, decimal_format="number").encode(payload)


SPOOL_BYTES = 1024**2
"""Encoded contacts up to this size stay in memory; more go to a temporary file."""


class SpooledJsonObjects:
    """A batch's JSON objects, each followed by a comma, kept in a temporary file as they are encoded.

    A Mailtrap batch is 17 MB of JSON. Written out slice by slice (memory up to
    :data:`SPOOL_BYTES`, then disk), it holds no memory while the batch waits for its turn
    under the rate limit, with the next chunks read and validated meanwhile. Each object's
    length is kept (4 bytes a contact) to take contacts out after a refusal.
    """

    def __init__(self) -> None:
        # Closed, and removed, with this object: when the batch's request is done with it.
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        self._lengths: list[np.ndarray] = []
        self.nbytes = 0
        """Bytes written, the comma after the last object included."""

    def append(self, objects: pa.StringArray | pa.LargeStringArray) -> None:
        """Add objects encoded with a comma after each (``json_objects(..., comma_after=True)``)."""
        if len(objects) == 0:
            return
        offsets, data_buffer = text_buffers(objects)
        self._file.write(memoryview(data_buffer)[offsets[0]:offsets[-1]])
        self._lengths.append(np.diff(offsets))
        self.nbytes += int(offsets[-1] - offsets[0])

    def __len__(self) -> int:
        return sum(len(lengths) for lengths in self._lengths)

    def comma_joined(self) -> Iterator[bytes]:
        """The objects joined by commas (no comma after the last), read back in blocks."""
        self._file.seek(0)
        remaining = max(self.nbytes - 1, 0)
        while remaining:
            block = self._file.read(min(SPOOL_BYTES, remaining))
            remaining -= len(block)
            yield block

    def filter(self, keep: pa.BooleanArray) -> SpooledJsonObjects:
        """The objects where ``keep`` is true, in a new file (this one is read back into memory once)."""
        self._file.seek(0)
        lengths = np.concatenate(self._lengths) if self._lengths else np.empty(0, np.int64)
        offsets = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))
        objects = pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets),
                                                   pa.py_buffer(self._file.read(self.nbytes)))
        kept = SpooledJsonObjects()
        kept.append(objects.filter(keep))
        return kept


class JsonBody:
    """A JSON object request body holding an array of encoded contacts, sent part by part.

    The array (17 MB for 50,000 Mailtrap contacts) is sent as it is kept: from Arrow memory
    (the objects' own buffer when each is encoded with a comma after it, else one
    comma-joined copy, see :func:`~airflow_contacts_provider.json_rows.comma_joined`), or
    from a :class:`SpooledJsonObjects` file in blocks. requests sends an iterable that has a
    length as it is, with that ``Content-Length``, and again on a retry. Joining it with the
    rest of the body into one ``bytes`` would hold another copy for the whole request.

    :param members: the body's other members (encoded with :func:`json_body`).
    :param key: the member holding the array.
    :param objects: the array's items, JSON texts (:func:`~airflow_contacts_provider.json_rows.json_objects`).
    """

    def __init__(self, members: Mapping[str, Any], key: str, objects: pa.StringArray | SpooledJsonObjects) -> None:
        self._opening = json_body(dict(members))[:-1] + (b"," if members else b"") + json_body(key) + b":["
        self._objects = objects if isinstance(objects, SpooledJsonObjects) else memoryview(comma_joined(objects))

    def __iter__(self) -> Iterator[bytes | memoryview]:
        yield self._opening
        if isinstance(self._objects, SpooledJsonObjects):
            yield from self._objects.comma_joined()
        else:
            yield self._objects
        yield b"]}"

    def __len__(self) -> int:
        if isinstance(self._objects, SpooledJsonObjects):
            inside = max(self._objects.nbytes - 1, 0)
        else:
            inside = len(self._objects)
        return len(self._opening) + inside + 2

    def __bytes__(self) -> bytes:
        return b"".join(self)


class HeaderAuth(requests.auth.AuthBase):
    """The connection's credentials as requests' ``auth`` (no headers for an unauthenticated request).

    Given no ``auth``, requests looks the host up in ``~/.netrc`` (or ``$NETRC``) and sends what
    it finds as Basic auth in place of the token; a ``default`` entry matches every host, the
    upload URLs too. Credentials must come from the Airflow connection alone.
    """

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = dict(headers)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self.headers)
        return request


class RateLimiter:
    """A sliding-window limit on requests, shared by every hook of one account in this process."""

    _registry: ClassVar[dict[tuple[str, str], RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, max_requests: int, period: float) -> None:
        self.max_requests = max_requests
        self.period = period
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    @classmethod
    def for_key(cls, key: tuple[str, str], max_requests: int, period: float) -> RateLimiter:
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None or (limiter.max_requests, limiter.period) != (max_requests, period):
                limiter = cls._registry[key] = cls(max_requests, period)
            return limiter

    def delay(self) -> float:
        """Reserve a slot and return how long to wait before using it."""
        with self._lock:
            now = time.monotonic()
            while self._sent and now - self._sent[0] >= self.period:
                self._sent.popleft()
            start = now
            if len(self._sent) >= self.max_requests:
                start = self._sent[-self.max_requests] + self.period
            self._sent.append(start)
            return max(0.0, start - now)

    def acquire(self) -> None:
        wait = self.delay()
        if wait > 0:  # sleep(0) would still hand the GIL to another thread and wait to get it back
            time.sleep(wait)


class RetryPolicy:
    """When to retry a request and how long to wait.

    429 waits for ``Retry-After`` (or backs off) and does not use the retry budget
    until ``max_rate_limit_wait`` seconds have been spent waiting; 5xx, dropped
    connections and timeouts use the budget with exponential backoff and jitter.
    """

    def __init__(self, max_retries: int, max_rate_limit_wait: float, backoff_base: float = 0.5,
                 backoff_max: float = 30.0) -> None:
        self.max_retries = max_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.failures = 0
        self.rate_limited = 0
        self.rate_limit_waited = 0.0

    @staticmethod
    def _response(state: RetryCallState) -> Any:
        outcome = state.outcome
        if outcome is None or outcome.failed:
            return None
        return outcome.result()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    def wait(self, state: RetryCallState) -> float:
        response = self._response(state)
        if response is not None and response.status_code == 429:
            self.rate_limited += 1
            seconds = _retry_after(response.headers.get("Retry-After"))
            if seconds is None:
                seconds = self._backoff(self.rate_limited)
            self.rate_limit_waited += seconds
            return seconds
        self.failures += 1
        return self._backoff(self.failures)

    def stop(self, state: RetryCallState) -> bool:
        response = self._response(state)
        if response is not None and response.status_code == 429:
            return self.rate_limit_waited >= self.max_rate_limit_wait
        return self.failures >= self.max_retries


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class ContactImportHook(BaseHook, ABC):
    """Base of the provider hooks.

    Connection: ``password`` is the API token, ``host`` an optional base-URL override
    (default: the provider's real API host), provider ids in ``extra``. The extra may also
    set ``max_retries`` and ``backoff_base``: they apply where the hook is built from the
    connection alone (the operator, sensor and trigger), unless the constructor is given them,
    and ``concurrent_requests``, the batches the operator sends at once.

    :param conn_id: the Airflow connection to use.
    :param timeout: connect and read timeouts in seconds.
    :param max_retries: retries for 5xx, dropped connections and timeouts (default: the
        connection extra's ``max_retries``, else 5).
    :param max_rate_limit_wait: seconds a request may spend waiting out 429s.
    :param backoff_base: seconds of the first backoff, doubled each retry (default: the
        connection extra's ``backoff_base``, else 0.5).
    """

    conn_name_attr = "conn_id"
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]

    provider: ClassVar[str]
    default_host: ClassVar[str]
    max_batch_size: ClassVar[int]
    max_batch_bytes: ClassVar[int | None] = None
    rate_limit: ClassVar[tuple[int, float] | None] = None
    """Client-side limit as (requests, seconds) per account; ``None`` for none."""
    default_chunk_size: ClassVar[int] = 25_000
    """Rows the operator reads, validates and encodes at a time unless told otherwise. Each chunk
    has a fixed cost (a few hundred pandas and Arrow calls): 30,000 rows read and sent 1M
    contacts 10-20 % faster than 15,000, for 12-17 MiB more at peak; 25,000 measured as fast as
    30,000 (Mailtrap, Migma; SendGrid 3-8 % slower) for 6-12 MiB less (benchmarks/throughput.py)."""
    default_concurrent_requests: ClassVar[int] = 1
    """Batches the operator sends at once. A synchronous provider with small batches spends most
    of a request working on it server-side; sending a few at once keeps it busy."""
    mapped_blocks_from: ClassVar[int | None] = None
    """Memory blocks of at least this many bytes are mapped on their own and given back when freed
    (glibc's ``M_MMAP_THRESHOLD``); ``None``: glibc's default, which soon serves blocks up to 32 MiB
    from the heap, where a freed one may stay held. Mapping costs page faults: 3-5 % more CPU."""

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_retries: int | None = None,
        max_rate_limit_wait: float = 600.0,
        backoff_base: float | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name
        self.timeout = timeout
        self._max_retries = max_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        self._backoff_base = backoff_base
        self._proxies_by_origin: dict[str, dict[str, str]] = {}

    # -- connection ------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port", "login"],
            "relabeling": {"password": "API token", "host": "Base URL"},
            "placeholders": {"host": cls.default_host},
        }

    @cached_property
    def connection(self) -> Any:
        return self.get_connection(self.conn_id)

    @cached_property
    def extras(self) -> dict[str, Any]:
        return dict(self.connection.extra_dejson or {})

    @cached_property
    def token(self) -> str:
        token = self.connection.password
        if not token:
            raise ProviderAuthError(f"Connection '{self.conn_id}' has no API token (the password field).")
        return str(token)

    @cached_property
    def base_url(self) -> str:
        host = (self.connection.host or self.default_host).strip().rstrip("/")
        if "://" not in host:
            host = f"https://{host}"
        return host

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def require_extra(self, key: str) -> str:
        value = self.extras.get(key)
        if value in (None, ""):
            raise ConfigurationError(f"Connection '{self.conn_id}' needs '{key}' in its extra.")
        return str(value)

    @property
    def max_retries(self) -> int:
        if self._max_retries is not None:
            return self._max_retries
        return int(self.extras.get("max_retries", DEFAULT_MAX_RETRIES))

    @property
    def backoff_base(self) -> float:
        if self._backoff_base is not None:
            return self._backoff_base
        return float(self.extras.get("backoff_base", DEFAULT_BACKOFF_BASE))

    @property
    def concurrent_requests(self) -> int:
        """Batches sent at once: the connection extra's ``concurrent_requests``, else the provider's default."""
        value = int(self.extras.get("concurrent_requests", self.default_concurrent_requests))
        if value < 1:
            raise ConfigurationError(f"Connection '{self.conn_id}': concurrent_requests must be at least 1.")
        return value

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    @cached_property
    def limiter(self) -> RateLimiter | None:
        per_minute = self.extras.get("requests_per_minute")
        if per_minute:
            return RateLimiter.for_key((self.provider, self.base_url + self.rate_limit_key()),
                                       int(per_minute), 60.0)
        if self.rate_limit is None:
            return None
        return RateLimiter.for_key((self.provider, self.base_url + self.rate_limit_key()), *self.rate_limit)

    def rate_limit_key(self) -> str:
        """What the provider's rate limit is counted per (an account, a workspace...)."""
        return ""

    # -- sending ---------------------------------------------------------------------

    @cached_property
    def session(self) -> requests.Session:
        """One HTTP session, reading the environment's proxy and CA-bundle settings once, not per request.

        With ``trust_env`` on, requests reads every environment variable twice a request to find
        proxies: half a millisecond, 0.25 s for a million contacts sent 2,000 a request. Here
        ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` are read once per host (:meth:`_proxies`) and
        ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` when the session is made; ``.netrc``, the rest of
        what ``trust_env`` reads, must not count anyway (:class:`HeaderAuth`).
        """
        session = requests.Session()
        session.trust_env = False
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.headers.update({"Accept": "application/json", "User-Agent": "airflow-contacts-provider"})
        return session

    def _proxies(self, url: str) -> dict[str, str]:
        """The environment's proxies for a URL's host (``NO_PROXY`` applied), read once per host."""
        origin = urlsplit(url)._replace(path="", query="", fragment="").geturl()
        if origin not in self._proxies_by_origin:
            self._proxies_by_origin[origin] = requests.utils.get_environ_proxies(url)
        return self._proxies_by_origin[origin]

    def _retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_retries, self.max_rate_limit_wait, self.backoff_base)

    def _retry_settings(self) -> dict[str, Any]:
        """Tenacity settings for one request (sync or async), with a fresh retry budget."""
        policy = self._retry_policy()
        return {
            "retry": retry_if_exception_type(RETRYABLE_EXCEPTIONS) | retry_if_result(self._should_retry),
            "wait": policy.wait,
            "stop": policy.stop,
            "before_sleep": self._log_retry,
            "retry_error_callback": _last_response,
            "reraise": True,
        }

    def _should_retry(self, response: Any) -> bool:
        status = response.status_code
        return status == 429 or (status >= 500 and self.auth_failure(response) is None)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        authenticated: bool = True,
        accept: Sequence[int] = (),
    ) -> requests.Response:
        """Send one request with retries; return it when 2xx or in ``accept``, else raise.

        ``data`` may be bytes or a callable returning a fresh body (an iterator is
        consumed by the first attempt, so a retry needs a new one).
        """
        auth = HeaderAuth(self.auth_headers() if authenticated else {})
        url = self.url(path)

        def send() -> requests.Response:
            if self.limiter is not None and authenticated:
                self.limiter.acquire()
            body = data() if callable(data) else data
            response = self.session.request(method, url, json=json, data=body, headers=headers, auth=auth,
                                            params=params, timeout=self.timeout, proxies=self._proxies(url),
                                            stream=True)
            # Read here as requests would, but in blocks of 1 MiB rather than 10 KiB: each block goes
            # through urllib3's layers, 1.3 ms of CPU for a Notifuse answer of 1 MB (a fifth of its request's).
            response._content = b"".join(response.iter_content(RESPONSE_BLOCK)) or b""
            return response

        response = Retrying(**self._retry_settings())(send)
        self._raise_for_status(response, accept)
        return response

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        authenticated: bool = True,
        accept: Sequence[int] = (),
    ) -> httpx.Response:
        """The async twin of :meth:`request`, for triggers."""
        if "connection" not in self.__dict__:
            # Load the connection without blocking the triggerer's event loop.
            self.__dict__["connection"] = await self.aget_connection(self.conn_id)
        all_headers = {"Accept": "application/json", **(self.auth_headers() if authenticated else {})}
        timeout = httpx.Timeout(self.timeout[1], connect=self.timeout[0])
        async with httpx.AsyncClient(timeout=timeout) as client:
            retrying = AsyncRetrying(**self._retry_settings())
            response: httpx.Response = await retrying(client.request, method, self.url(path), json=json,
                                                      params=params, headers=all_headers)
        self._raise_for_status(response, accept)
        return response

    def _log_retry(self, state: RetryCallState) -> None:
        outcome = state.outcome
        if outcome is not None and outcome.failed:
            reason = type(outcome.exception()).__name__
        else:
            reason = f"HTTP {RetryPolicy._response(state).status_code}"
        seconds = state.next_action.sleep if state.next_action else 0
        self.log.warning("%s: %s, retrying in %.1f s (attempt %d)", self.provider, reason, seconds,
                         state.attempt_number)

    # -- errors ----------------------------------------------------------------------

    def redact(self, text: str) -> str:
        token = self.connection.password
        return text.replace(token, "***") if token else text

    def error_message(self, response: Any) -> str:
        """The provider's own words for a failed response, without the token, kept short."""
        try:
            body = response.json()
        except ValueError:
            body = response.text
        text = body if isinstance(body, str) else jsonlib.dumps(body)
        return self.redact(text[:1000])

    def auth_failure(self, response: Any) -> str | None:
        """A message when the response means the credentials were refused, else ``None``."""
        if response.status_code in (401, 403):
            return self.error_message(response)
        return None

    def _raise_for_status(self, response: Any, accept: Sequence[int]) -> None:
        status = response.status_code
        if 200 <= status < 300 or status in accept:
            return
        auth = self.auth_failure(response)
        if auth is not None:
            raise ProviderAuthError(
                f"{self.hook_name} refused the credentials of connection '{self.conn_id}' "
                f"(HTTP {status}): {auth}"
            )
        raise ProviderRequestError(
            f"{self.hook_name} answered HTTP {status} to {response.request.method} "
            f"{_path_of(str(response.request.url))}: {self.error_message(response)}",
            status_code=status,
        )

    contacts_page: ClassVar[str | None] = None
    """The provider's web page for an account's contacts, where there is a fixed one."""

    def contacts_page_url(self) -> str | None:
        """The contacts page for the operator's extra link; none when the host is overridden (a sandbox)."""
        if self.contacts_page is None or (self.connection.host and self.base_url != self.default_host):
            return None
        return self.contacts_page

    # -- what each provider implements ---------------------------------------------------

    def check_batch_size(self, count: int) -> None:
        if count > self.max_batch_size:
            raise BatchTooLargeError(
                f"{self.hook_name} accepts at most {self.max_batch_size} contacts a request; "
                f"this batch has {count}. Nothing was sent."
            )

    @abstractmethod
    def get_field_specs(self) -> dict[str, FieldSpec]:
        """The destination fields this account accepts, keyed by name."""

    def prepare_contacts(self, contacts: pd.DataFrame, email_hashes: np.ndarray | None = None) -> pd.DataFrame:
        """Work on validated contacts done once a chunk rather than once a batch (the operator calls it).

        What it returns, the same rows in the same order and index, is cut into batches for
        :meth:`submit_import`, which takes plain contacts too. By default, the contacts as they are.

        :param email_hashes: the emails' :func:`~airflow_contacts_provider.validation.email_hashes`,
            when the caller made them (the operator's duplicate check), for a hook to reuse.
        """
        return contacts

    @abstractmethod
    def submit_import(self, contacts: Contacts, *, list_ids: Sequence[str | int] | None = None,
                      exclude_list_ids: Sequence[str | int] | None = None) -> ImportJob:
        """Send one batch; synchronous providers return a terminal job."""

    def encode_import(self, contacts: Contacts, *, list_ids: Sequence[str | int] | None = None,
                      exclude_list_ids: Sequence[str | int] | None = None) -> Callable[[], ImportJob]:
        """Do now the work on a batch that needs no request, and return the call that sends it.

        With ``concurrent_requests`` above one, the operator calls this in the thread that cuts
        batches and the call it returns in a sender thread: a hook that encodes here encodes the
        next batch while this one is sent. By default the batch's frames are gathered (the cutter
        yielding them moves on) and sending is :meth:`submit_import`.
        """
        frames = list(iter_frames(contacts))
        return partial(self.submit_import, frames, list_ids=list_ids, exclude_list_ids=exclude_list_ids)

    @abstractmethod
    def get_import(self, job_id: str) -> ImportJob:
        """The current state of an import job."""

    @abstractmethod
    async def aget_import(self, job_id: str) -> ImportJob:
        """The current state of an import job, for triggers."""

    @abstractmethod
    def test_connection(self) -> tuple[bool, str]:
        """Call a cheap real endpoint; the Airflow UI's Test button."""


def _last_response(state: RetryCallState) -> Any:
    """When retries run out on a response (429/5xx), hand it back so its error is reported."""
    assert state.outcome is not None
    return state.outcome.result()


def _path_of(url: str) -> str:
    return url.split("?", 1)[0]


def get_contact_hook(conn_id: str, **hook_params: Any) -> ContactImportHook:
    """The provider hook for a connection, chosen by its connection type."""
    hook = BaseHook.get_hook(conn_id, hook_params=hook_params or None)
    return _checked(hook, conn_id)


async def aget_contact_hook(conn_id: str, **hook_params: Any) -> ContactImportHook:
    """:func:`get_contact_hook` for async code (triggers): does not block the event loop."""
    hook = await BaseHook.aget_hook(conn_id, hook_params=hook_params or None)
    return _checked(hook, conn_id)


def _checked(hook: Any, conn_id: str) -> ContactImportHook:
    if not isinstance(hook, ContactImportHook):
        raise ConfigurationError(
            f"Connection '{conn_id}' is of type '{getattr(hook, 'conn_type', '?')}', not one of this "
            "provider's (mailtrap, notifuse, sendgrid_marketing, migma)."
        )
    return hook
