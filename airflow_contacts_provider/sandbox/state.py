"""What the sandbox remembers: contacts per provider account, jobs, faults to inject, settings."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import msgspec
from pydantic import BaseModel

PROVIDERS = ("mailtrap", "notifuse", "sendgrid", "migma")

FaultKind = Literal["413", "429", "500", "503", "drop", "slow", "fail_job"]


class Fault(BaseModel):
    """A misbehaviour to inject into matching requests.

    :param provider: which emulator, or ``*`` for all.
    :param kind: ``429`` (with ``retry_after``), ``500``/``503``, ``drop`` (the connection
        is closed without an answer), ``slow`` (``delay`` seconds before answering),
        ``fail_job`` (the next async job created ends failed) or ``413`` (a reverse proxy
        in front of the API refuses the body as too large, as nginx does, in HTML).
    :param count: how many times it fires; ``None`` for as long as it is installed.
    :param rate: the chance it fires on a matching request.
    :param path: fires only when this text is part of the request path.
    :param method: fires only for this HTTP method.
    :param after: for ``drop``, close the connection after the request was processed
        (the client cannot know whether it landed) instead of before.
    :param max_body: fires only on request bodies longer than this many bytes (a proxy's
        body cap: nginx's ``client_max_body_size`` is 1 MiB unless set).
    """

    provider: str = "*"
    kind: FaultKind
    count: int | None = 1
    rate: float = 1.0
    retry_after: float | None = 1.0
    delay: float = 0.0
    path: str | None = None
    method: str | None = None
    after: bool = False
    max_body: int | None = None


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.fired: Counter[str] = Counter()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.fired.clear()

    def take(self, provider: str, path: str, method: str, kinds: tuple[str, ...],
             body_size: int = 0) -> Fault | None:
        """The fault to apply to this request, if any; counts it as fired."""
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds or fault.provider not in ("*", provider):
                    continue
                if fault.max_body is not None and body_size <= fault.max_body:
                    continue
                if fault.path and fault.path not in path:
                    continue
                if fault.method and fault.method.upper() != method.upper():
                    continue
                if self._random.random() >= fault.rate:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                self.fired[f"{provider}:{fault.kind}"] += 1
                return fault
            return None

    def take_job_failure(self, provider: str) -> bool:
        return self.take(provider, "", "", ("fail_job",)) is not None

    def listed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.model_dump() for fault in self._faults]


class ContactStore:
    """One provider account's contacts, upserted by email, with how often each was submitted."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.submissions: Counter[str] = Counter()
        self.lock = threading.Lock()

    def upsert(self, email: str, values: dict[str, Any], *, overwrite_nulls: bool = False) -> str:
        """Store a contact; returns ``"created"`` or ``"updated"``.

        Absent keys keep the stored value; ``None`` overwrites only with ``overwrite_nulls``.
        """
        with self.lock:
            self.submissions[email] += 1
            existing = self.contacts.get(email)
            kept = {k: v for k, v in values.items() if v is not None or overwrite_nulls}
            if existing is None:
                self.contacts[email] = {"email": email, **kept}
                return "created"
            existing.update(kept)
            return "updated"

    def exists(self, email: str) -> bool:
        return email in self.contacts

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {**contact, "_submissions": self.submissions[email]}
                for email, contact in sorted(self.contacts.items())
            ]


@dataclass
class SinkCounter:
    """What a provider received in sink mode: accepted and counted, not validated or stored."""

    requests: int = 0
    contacts: int = 0
    bytes: int = 0


class SinkContact(msgspec.Struct, gc=False):
    """The one member of a contact the sink reads: every other member is skipped unparsed."""

    email: Any = None


@cache
def _sink_body(member: str, item: Any) -> Any:
    return msgspec.defstruct("SinkBody", [(member, list[item], [])])


def _sink_items(raw: bytes, member: str, item: Any) -> list[Any]:
    """The items of the array ``member`` of a JSON import body, decoded as ``item``.

    msgspec skips the members it is not asked for, so the sink stays cheap next to the client it
    measures; a body that is not JSON, or not that shape, holds no items.
    """
    try:
        return list(getattr(msgspec.json.decode(raw, type=_sink_body(member, item)), member))
    except msgspec.DecodeError:
        return []


def sink_contacts(raw: bytes, member: str) -> list[SinkContact]:
    """The contacts of a JSON import body (``{member: [...]}``), read for their emails only."""
    return _sink_items(raw, member, SinkContact)


def sink_count(raw: bytes, member: str) -> int:
    """How many contacts a JSON import body holds, each left unparsed (:class:`msgspec.Raw`):
    a third cheaper than reading their emails (:func:`sink_contacts`)."""
    return len(_sink_items(raw, member, msgspec.Raw))


@dataclass
class SandboxState:
    """Everything the emulators share. Provider modules keep their own extra state in ``extras``."""

    tokens: dict[str, str]
    accounts: dict[str, str]
    job_delay: float = 0.2
    sink: bool = False
    faults: FaultInjector = field(default_factory=FaultInjector)
    stores: dict[tuple[str, str], ContactStore] = field(default_factory=dict)
    sink_counters: dict[str, SinkCounter] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def store(self, provider: str, account: str | None = None) -> ContactStore:
        key = (provider, account or self.accounts[provider])
        with self.lock:
            if key not in self.stores:
                self.stores[key] = ContactStore()
            return self.stores[key]

    def sink_counter(self, provider: str) -> SinkCounter:
        with self.lock:
            return self.sink_counters.setdefault(provider, SinkCounter())

    def count_sink(self, provider: str, contacts: int, body: bytes) -> None:
        """Count one request a provider received in sink mode."""
        counter = self.sink_counter(provider)
        with self.lock:
            counter.requests += 1
            counter.contacts += contacts
            counter.bytes += len(body)

    def reset(self) -> None:
        with self.lock:
            self.stores.clear()
            self.sink_counters.clear()
            self.extras.clear()
        self.faults.clear()


DEFAULT_TOKENS = {
    "mailtrap": "sandbox-mailtrap-token",
    "notifuse": "sandbox-notifuse-token",
    "sendgrid": "SG.sandbox-sendgrid-key",
    "migma": "sandbox-migma-key",
}

DEFAULT_ACCOUNTS = {
    "mailtrap": "1001",
    "notifuse": "ws_sandbox",
    "sendgrid": "sandbox",
    "migma": "proj_sandbox",
}
