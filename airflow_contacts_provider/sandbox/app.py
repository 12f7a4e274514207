"""The sandbox's web app: the four provider emulators, fault injection and an admin API.

Each provider is mounted under its own prefix (``/mailtrap``, ``/notifuse``,
``/sendgrid``, ``/migma``); a connection's host is that prefixed URL. The admin API
under ``/_sandbox`` lets tests inject faults and read back what landed.
"""

from __future__ import annotations

import asyncio
import json
from types import ModuleType
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException

from airflow_contacts_provider.sandbox import mailtrap, migma, notifuse, sendgrid
from airflow_contacts_provider.sandbox.state import PROVIDERS, Fault, SandboxState

EMULATORS: dict[str, ModuleType] = {
    "mailtrap": mailtrap,
    "notifuse": notifuse,
    "sendgrid": sendgrid,
    "migma": migma,
}

STATUS_MESSAGES = {429: "Rate limit exceeded", 500: "Unexpected error", 503: "Service unavailable"}


class FaultMiddleware:
    """Applies injected faults before (or, for a late drop, after) the emulator answers.

    It must wrap the whole ASGI app directly under uvicorn: closing the connection
    without an answer needs uvicorn's own ``send``, which carries the transport.
    """

    def __init__(self, app: Any, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        provider = scope["path"].strip("/").split("/", 1)[0]
        if provider not in PROVIDERS:
            await self.app(scope, receive, send)
            return
        fault = self.state.faults.take(provider, scope["path"], scope["method"],
                                       ("413", "429", "500", "503", "drop", "slow"), _body_size(scope))
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, send)
        elif fault.kind == "drop":
            if fault.after:
                await self.app(scope, receive, _discard)
            _drop_connection(send)
        elif fault.kind == "413":
            await _refuse_as_too_large(receive, send)
        else:
            await _send_error(send, provider, int(fault.kind), fault.retry_after)


def _body_size(scope: dict[str, Any]) -> int:
    """The request's ``Content-Length`` (0 when it has none)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value)
    return 0


async def _refuse_as_too_large(receive: Any, send: Any) -> None:
    """Answer as nginx does over its ``client_max_body_size``: 413 in HTML, the body read and dropped
    (nginx reads on before closing, so the client gets to see the answer)."""
    message = {"more_body": True}
    while message.get("more_body"):
        message = await receive()
    body = (b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
            b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
            b"</body>\r\n</html>\r\n")
    headers = [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _discard(message: dict[str, Any]) -> None:
    """Swallows the emulator's answer when a fault drops the connection after processing."""


def _drop_connection(send: Any) -> None:
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("the sandbox must run under uvicorn to drop connections")
    transport.close()


async def _send_error(send: Any, provider: str, status: int, retry_after: float | None) -> None:
    body = json.dumps(EMULATORS[provider].error_body(status, STATUS_MESSAGES[status])).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 429 and retry_after is not None:
        headers.append((b"retry-after", str(int(retry_after) if retry_after == int(retry_after)
                                              else retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def admin_router(state: SandboxState) -> APIRouter:
    router = APIRouter(prefix="/_sandbox")

    @router.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "providers": list(PROVIDERS), "sink": state.sink, "job_delay": state.job_delay}

    @router.post("/faults", status_code=201)
    def add_fault(fault: Fault) -> dict[str, Any]:
        state.faults.add(fault)
        return {"faults": state.faults.listed()}

    @router.get("/faults")
    def list_faults() -> dict[str, Any]:
        return {"faults": state.faults.listed(), "fired": dict(state.faults.fired)}

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"faults": []}

    @router.put("/settings")
    def settings(body: dict[str, Any]) -> dict[str, Any]:
        if "job_delay" in body:
            state.job_delay = float(body["job_delay"])
        if "sink" in body:
            state.sink = bool(body["sink"])
        return {"sink": state.sink, "job_delay": state.job_delay}

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        state.reset()
        return {"ok": True}

    @router.get("/{provider}/contacts")
    def contacts(provider: str, account: str | None = None) -> list[dict[str, Any]]:
        if provider not in PROVIDERS:
            raise HTTPException(404, f"unknown provider {provider}")
        return state.store(provider, account).snapshot()

    @router.get("/{provider}/sink")
    def sink_counts(provider: str) -> dict[str, int]:
        counter = state.sink_counter(provider)
        return {"requests": counter.requests, "contacts": counter.contacts, "bytes": counter.bytes}

    return router


def create_app(state: SandboxState) -> Any:
    """The ASGI app to serve: FastAPI with every router, wrapped in the fault middleware."""
    app = FastAPI(title="airflow-contacts-provider sandbox", docs_url="/_sandbox/docs",
                  openapi_url="/_sandbox/openapi.json")
    app.include_router(admin_router(state))
    for name, module in EMULATORS.items():
        app.include_router(module.build_router(state), prefix=f"/{name}")
    return FaultMiddleware(app, state)
