"""Run the sandbox in-process: a uvicorn server on a loopback port, in a background thread."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import requests
import uvicorn

from airflow_contacts_provider.sandbox.app import create_app
from airflow_contacts_provider.sandbox.state import (
    DEFAULT_ACCOUNTS,
    DEFAULT_TOKENS,
    Fault,
    SandboxState,
)

CONNECTIONS = {
    # conn id: (conn type, provider prefix, extra key holding the account id)
    "mailtrap_default": ("mailtrap", "mailtrap", "account_id"),
    "notifuse_default": ("notifuse", "notifuse", "workspace_id"),
    "sendgrid_marketing_default": ("sendgrid_marketing", "sendgrid", None),
    "migma_default": ("migma", "migma", "project_id"),
}


class Sandbox:
    """Local emulators of the four providers' import APIs.

    Use as a context manager; ``connections()`` gives the Airflow connections that
    point at it, and ``contacts()`` reads back what landed.

    :param job_delay: seconds an async import job takes from created to finished.
    :param sink: accept and count contacts without validating or storing them
        (for benchmarks, so the client is what is measured).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, job_delay: float = 0.2,
                 sink: bool = False) -> None:
        self.state = SandboxState(tokens=dict(DEFAULT_TOKENS), accounts=dict(DEFAULT_ACCOUNTS),
                                  job_delay=job_delay, sink=sink)
        config = uvicorn.Config(create_app(self.state), host=host, port=port, log_level="warning",
                                lifespan="off", proxy_headers=False, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="contacts-sandbox", daemon=True)
        self.url = ""

    def start(self) -> Sandbox:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the contacts sandbox did not start")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need -------------------------------------------------------------

    def base_url(self, provider: str) -> str:
        return f"{self.url}/{provider}"

    def connections(self) -> dict[str, dict[str, Any]]:
        """Airflow connections (as dicts) for the four providers, keyed by default conn id."""
        result = {}
        for conn_id, (conn_type, provider, id_key) in CONNECTIONS.items():
            extra = {id_key: self.state.accounts[provider]} if id_key else {}
            result[conn_id] = {
                "conn_type": conn_type,
                "host": self.base_url(provider),
                "password": self.state.tokens[provider],
                "extra": extra,
            }
        return result

    def connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` environment variables defining :meth:`connections`."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)
                for conn_id, conn in self.connections().items()}

    # -- what tests need -----------------------------------------------------------------

    def contacts(self, provider: str, account: str | None = None) -> list[dict[str, Any]]:
        """Contacts stored for a provider account, each with ``_submissions``: times submitted."""
        return self.state.store(provider, account).snapshot()

    def submissions(self, provider: str, account: str | None = None) -> Counter[str]:
        return Counter(self.state.store(provider, account).submissions)

    def add_fault(self, **fault: Any) -> None:
        """Inject a fault, e.g. ``add_fault(provider="mailtrap", kind="429", count=2)`` (see Fault)."""
        self.state.faults.add(Fault(**fault))

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def reset(self) -> None:
        self.state.reset()

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the admin API over HTTP, as a separate process would."""
        response = requests.request(method, f"{self.url}/_sandbox/{path.lstrip('/')}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()
