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

from airflow_contacts_provider.hooks import base
from airflow_contacts_provider.hooks.base import JsonBody, SpooledJsonObjects


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


def test_objects_kept_in_a_file_make_the_same_body_and_can_be_filtered() -> None:
    spooled = SpooledJsonObjects()
    for texts, kind in ((['{"n":1},', '{"n":2},'], pa.string()), ([], pa.string()),
                        (['{"n":3},', '{"n":"é"},'], pa.large_string())):
        spooled.append(pa.array(texts, kind))
    assert len(spooled) == 4
    body = JsonBody({"a": 1}, "contacts", spooled)
    in_memory = JsonBody({"a": 1}, "contacts", pa.array(['{"n":1},', '{"n":2},', '{"n":3},', '{"n":"é"},']))
    assert bytes(body) == bytes(in_memory)
    assert json.loads(bytes(body)) == {"a": 1, "contacts": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": "é"}]}
    assert len(body) == len(bytes(body))
    kept = spooled.filter(pa.array([True, False, False, True]))
    assert json.loads(bytes(JsonBody({}, "contacts", kept))) == {"contacts": [{"n": 1}, {"n": "é"}]}
    assert json.loads(bytes(JsonBody({}, "contacts", SpooledJsonObjects()))) == {"contacts": []}


def test_a_file_past_the_spool_size_is_sent_whole(recorder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "SPOOL_BYTES", 1000)  # on disk, read back in blocks of 1,000 bytes
    url, received = recorder
    spooled = SpooledJsonObjects()
    for start in range(0, 3000, 1000):
        texts = [json.dumps({"email": f"user{i}@example.com"}) + "," for i in range(start, start + 1000)]
        spooled.append(pa.array(texts).slice(1))  # a slice: its offsets do not start at 0
    body = JsonBody({}, "contacts", spooled)
    with requests.Session() as session:
        for _ in range(2):  # a retry reads the file again
            session.post(url, data=body, headers={"Content-Type": "application/json"}).raise_for_status()
    assert [headers["Content-Length"] for headers, _ in received] == [str(len(body))] * 2
    assert [len(json.loads(content)["contacts"]) for _, content in received] == [2997, 2997]


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
