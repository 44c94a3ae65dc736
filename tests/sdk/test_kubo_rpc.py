"""KuboStore's requests and the node's answers, checked against Kubo's documented RPC.

The expected shapes are data below, taken from the Kubo RPC reference. A recording proxy sits
between a KuboStore and the embedded node, so one run checks both sides: what our client sends
(methods, paths, option names, bodies) and what our node answers (keys, types, errors).
"""

from __future__ import annotations

import asyncio
import http
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import ipfshttpclient
import pytest
from aiohttp import hdrs, web

from chaincrm.storage import KuboStore, digest_to_cid
from chaincrm.storage.node import NodeHandle, api_address
from tests.sdk.ipfs_fixtures import free_port

CHUNK_BYTES = 256 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Documented:
    """One command of the Kubo RPC reference: its arguments and the JSON it answers."""

    arguments: frozenset[str]
    answer: Any = None
    """The response body as the reference shows it; None for a ``text/plain`` stream."""
    body: str | None = None


# From the Kubo RPC API v0 reference (https://docs.ipfs.tech/reference/kubo/rpc/, generated from
# Kubo v0.26.0), for every command KuboStore or `chaincrm node` sends. Every command is POST.
KUBO_RPC: Mapping[str, Documented] = {
    "add": Documented(
        frozenset(
            {"quiet", "quieter", "silent", "progress", "trickle", "only-hash", "wrap-with-directory", "chunker"}
            | {"raw-leaves", "nocopy", "fscache", "cid-version", "hash", "inline", "inline-limit", "pin", "to-files"}
        ),
        {"Bytes": "<int64>", "Hash": "<string>", "Name": "<string>", "Size": "<string>"},
        body="multipart/form-data",
    ),
    "cat": Documented(frozenset({"arg", "offset", "length", "progress"})),
    "block/stat": Documented(frozenset({"arg"}), {"Key": "<string>", "Size": "<int>"}),
    "pin/add": Documented(
        frozenset({"arg", "recursive", "name", "progress"}), {"Pins": ["<string>"], "Progress": "<int>"}
    ),
    "pin/rm": Documented(frozenset({"arg", "recursive"}), {"Pins": ["<string>"]}),
    # The reference shows the two structs Kubo embeds in its answer (PinLsList, PinLsObject); Go's
    # encoding/json flattens embedded structs, so their fields are the answer's top-level keys.
    "pin/ls": Documented(
        frozenset({"arg", "type", "quiet", "stream", "names"}),
        {
            "Keys": {"<string>": {"Name": "<string>", "Type": "<string>"}},
            "Cid": "<string>",
            "Name": "<string>",
            "Type": "<string>",
        },
    ),
    "repo/gc": Documented(
        frozenset({"stream-errors", "quiet", "silent"}), {"Error": "<string>", "Key": {"/": "<cid-string>"}}
    ),
    "version": Documented(
        frozenset({"number", "commit", "repo", "all"}),
        {"Commit": "<string>", "Golang": "<string>", "Repo": "<string>", "System": "<string>", "Version": "<string>"},
    ),
}
# Kubo's global options (`ipfs --help`), valid on every command; clients send some on each request.
GLOBAL_OPTIONS = frozenset({"encoding", "stream-channels", "timeout", "offline"})
# An error, as go-ipfs-cmds (Kubo's command library) writes it with HTTP 400 or 500.
ERROR_ANSWER = {"Message": "<string>", "Code": "<int>", "Type": "<string>"}
# What our clients read from each answer: present in every answer, not merely allowed.
READ_BY_CLIENTS = {
    "add": {"Hash"},
    "pin/add": {"Pins"},
    "pin/rm": {"Pins"},
    "pin/ls": {"Keys"},
    "version": {"Version"},
}
_SCALARS = {"<string>": str, "<cid-string>": str, "<int>": int, "<int64>": int}


def shape_errors(value: Any, shape: Any, where: str = "answer") -> list[str]:
    """Where ``value`` departs from a documented shape (extra keys, wrong types); [] if nowhere."""
    if isinstance(shape, str):
        expected = _SCALARS[shape]
        ok = isinstance(value, expected) and not isinstance(value, bool)
        return [] if ok else [f"{where} is {value!r}, not {shape}"]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where} is {value!r}, not a list"]
        return [error for i, item in enumerate(value) for error in shape_errors(item, shape[0], f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [f"{where} is {value!r}, not an object"]
    if list(shape) == ["<string>"]:
        return [
            error for key, item in value.items() for error in shape_errors(item, shape["<string>"], f"{where}.{key}")
        ]
    extra = [f"{where}.{key} is not documented" for key in value if key not in shape]
    return extra + [
        error
        for key, item in value.items()
        if key in shape
        for error in shape_errors(item, shape[key], f"{where}.{key}")
    ]


@dataclass(frozen=True)
class Exchange:
    """One request KuboStore made and the node's answer to it, as the proxy saw them."""

    method: str
    path: str
    options: tuple[tuple[str, str], ...]
    request_type: str
    status: int
    answer_type: str
    answer: bytes

    @property
    def command(self) -> str:
        return self.path.removeprefix("/api/v0/")

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.answer.splitlines() if line.strip()]


@dataclass
class RecordingProxy:
    """An HTTP proxy in front of the node that records every exchange (aiohttp, its own thread)."""

    target_port: int
    port: int = field(default_factory=free_port)
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def api_addr(self) -> str:
        return api_address(self.port)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        await self._runner.cleanup()
        await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {hdrs.CONTENT_TYPE: request.headers[hdrs.CONTENT_TYPE]} if body else {}
        url = f"http://127.0.0.1:{self.target_port}{request.path_qs}"
        async with self._session.request(request.method, url, data=body, headers=headers) as answer:
            data = await answer.read()
            passed = {name: answer.headers[name] for name in (hdrs.CONTENT_TYPE,) if name in answer.headers}
        self.exchanges.append(
            Exchange(
                request.method,
                request.path,
                tuple(request.query.items()),
                request.content_type if body else "",
                answer.status,
                answer.content_type,
                data,
            )
        )
        return web.Response(status=answer.status, body=data, headers=passed)


@dataclass(frozen=True)
class Recorded:
    exchanges: list[Exchange]
    document: bytes


@pytest.fixture(scope="module")
def recorded(ipfs_node: NodeHandle) -> Recorded:
    """Every KuboStore operation once, and the version probe, through the recording proxy."""
    document = os.urandom(2 * CHUNK_BYTES)
    with RecordingProxy(ipfs_node.port) as proxy:
        with KuboStore(proxy.api_addr) as store:
            cid = store.put(document)
            assert store.get(cid) == document
            assert store.has(cid) and not store.has(digest_to_cid(os.urandom(32)))
            store.pin(cid)
            assert cid in store.pins()
            store.unpin(cid)
            assert store.gc() >= 3
        with ipfshttpclient.Client(proxy.api_addr) as client:
            client.version()
    return Recorded(proxy.exchanges, document)


def test_the_recording_covers_every_documented_command(recorded: Recorded) -> None:
    assert {exchange.command for exchange in recorded.exchanges} == set(KUBO_RPC)


def test_every_request_is_a_post_to_a_documented_command(recorded: Recorded) -> None:
    requests = {(exchange.method, exchange.path) for exchange in recorded.exchanges}

    assert requests == {("POST", f"/api/v0/{command}") for command in KUBO_RPC}


def test_every_option_sent_is_documented_for_its_command(recorded: Recorded) -> None:
    undocumented = [
        (exchange.command, name)
        for exchange in recorded.exchanges
        for name, _ in exchange.options
        if name not in KUBO_RPC[exchange.command].arguments | GLOBAL_OPTIONS
    ]

    assert undocumented == []


def test_only_add_sends_a_body_and_it_is_multipart(recorded: Recorded) -> None:
    bodies = {exchange.command: exchange.request_type for exchange in recorded.exchanges if exchange.request_type}

    assert bodies == {command: spec.body for command, spec in KUBO_RPC.items() if spec.body}


def test_every_json_answer_has_the_documented_shape(recorded: Recorded) -> None:
    departures = [
        (exchange.command, error)
        for exchange in recorded.exchanges
        if exchange.status == http.HTTPStatus.OK and KUBO_RPC[exchange.command].answer is not None
        for item in exchange.json_lines()
        for error in shape_errors(item, KUBO_RPC[exchange.command].answer)
    ]

    assert departures == []


def test_every_answer_carries_the_keys_clients_read(recorded: Recorded) -> None:
    missing = [
        (exchange.command, key)
        for exchange in recorded.exchanges
        if exchange.status == http.HTTPStatus.OK and exchange.command in READ_BY_CLIENTS
        for item in exchange.json_lines()
        for key in READ_BY_CLIENTS[exchange.command]
        if key not in item
    ]

    assert missing == []


def test_cat_answers_the_bytes_as_plain_text(recorded: Recorded) -> None:
    (cat,) = [exchange for exchange in recorded.exchanges if exchange.command == "cat"]

    assert (cat.status, cat.answer_type, cat.answer) == (200, "text/plain", recorded.document)


def test_a_refusal_has_the_shape_of_a_kubo_error(recorded: Recorded) -> None:
    refused = [exchange for exchange in recorded.exchanges if exchange.status != http.HTTPStatus.OK]

    assert [(exchange.command, exchange.status) for exchange in refused] == [("block/stat", 500)]
    assert shape_errors(refused[0].json_lines()[0], ERROR_ANSWER) == []
    assert refused[0].json_lines()[0]["Type"] == "error"
