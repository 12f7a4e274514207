"""The hooks' HTTP session honours the environment's proxies and CA bundle, read once rather than per request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from airflow_contacts_provider.hooks.mailtrap import MailtrapHook

API = "http://api.contacts-provider.invalid"
"""A host that does not resolve: a request reaches it only through the proxy."""


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers for every host itself and notes what it was asked for."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append(self.path)  # a proxy is sent the absolute URL
        body = json.dumps([]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Proxy.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> MailtrapHook:
    connection = {"conn_type": "mailtrap", "host": API, "password": "token-123", "extra": {"account_id": "1"}}
    monkeypatch.setenv("AIRFLOW_CONN_MAILTRAP_PROXIED", json.dumps(connection))
    return MailtrapHook("mailtrap_proxied", max_retries=0)


def test_requests_go_through_the_environments_proxy(hook: MailtrapHook, proxy: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)

    for _ in range(2):
        assert hook.request("GET", hook.api_path("fields")).json() == []

    assert _Proxy.seen == [f"{API}/api/accounts/1/contacts/fields"] * 2


def test_no_proxy_sends_a_host_direct(hook: MailtrapHook, proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "api.contacts-provider.invalid")

    with pytest.raises(requests.ConnectionError):
        hook.request("GET", hook.api_path("fields"))
    assert _Proxy.seen == []


def test_a_ca_bundle_from_the_environment_is_used_and_verification_stays_on(
    hook: MailtrapHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As requests itself reads them: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else its own bundle."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert MailtrapHook("mailtrap_proxied").session.verify is True
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/corporate.pem")
    assert MailtrapHook("mailtrap_proxied").session.verify == "/etc/ssl/certs/corporate.pem"
