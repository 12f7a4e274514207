"""JsonBody: the bytes a provider receives, and how requests sends them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pytest
import requests

from airflow_contacts_provider.hooks.base import JsonBody


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", 0))
        self.received.append((dict(self.headers), self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", _Recorder.received
    finally:
        server.shutdown()
        server.server_close()


def test_the_body_is_the_json_object_with_the_array_last() -> None:
    objects = pa.array(['{"email":"a@example.com"}', '{"email":"b@example.com","x":"é"}'])
    body = JsonBody({"workspace_id": "ws", "lists": ["l1"]}, "contacts", objects)
    assert json.loads(bytes(body)) == {"workspace_id": "ws", "lists": ["l1"], "contacts": [
        {"email": "a@example.com"}, {"email": "b@example.com", "x": "é"}]}
    assert len(body) == len(bytes(body))


def test_no_other_members_and_no_contacts() -> None:
    assert json.loads(bytes(JsonBody({}, "contacts", pa.array([], pa.string())))) == {"contacts": []}
    assert bytes(JsonBody({}, "subscribers", pa.array(["1"]))) == b'{"subscribers":[1]}'


def test_chunks_are_joined_without_copies_and_empty_chunks_skipped() -> None:
    chunks = [pa.array(['{"n":1},', '{"n":2},']), pa.array([], pa.string()), pa.array(['{"n":3},'])]
    body = JsonBody({}, "contacts", pa.chunked_array(chunks))
    assert json.loads(bytes(body)) == {"contacts": [{"n": 1}, {"n": 2}, {"n": 3}]}
    assert len(body) == len(bytes(body))
    assert json.loads(bytes(JsonBody({}, "contacts", pa.chunked_array([], pa.string())))) == {"contacts": []}


def test_requests_sends_it_with_a_content_length_and_again_on_a_second_send(recorder: Any) -> None:
    url, received = recorder
    objects = pa.array([json.dumps({"email": f"user{i}@example.com"}) for i in range(5000)])
    body = JsonBody({"projectId": "p"}, "subscribers", objects)
    with requests.Session() as session:
        for _ in range(2):  # a retry sends the same object again
            session.post(url, data=body, headers={"Content-Type": "application/json"}).raise_for_status()
    assert len(received) == 2
    for headers, content in received:
        assert headers["Content-Length"] == str(len(body))
        assert "Transfer-Encoding" not in headers
        assert content == bytes(body)
        assert len(json.loads(content)["subscribers"]) == 5000
