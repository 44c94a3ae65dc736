"""Fixtures for webhooks: the SDK's session Anvil and module deployment (records made the index's
way, with made-up document hashes: the index and the webhooks never read a profile), a real index
in the test's folder, a real integration database, a dispatcher with fast retries, and real HTTP
receivers on free ports:

- :func:`example_receiver`: ``examples/webhook_receiver.py`` (the README's) in a thread, verifying
  signatures and deduplicating by id; the events it handled land in a list;
- :class:`ScriptedReceiver`: answers from a script (a status, a hang, a redirect) and records every
  request as it came.

``hooks`` (function): a :class:`Hooks` whose ``sync()`` is one indexer pass then one dispatcher
pass, both synchronous, so a test reads exactly what one pass did.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, select

from chaincrm.api.database import open_integration
from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.index.indexer import Indexer
from chaincrm.webhooks import store as tables
from chaincrm.webhooks.dispatcher import Dispatcher, DispatchOptions, PassReport
from chaincrm.webhooks.store import Endpoint, WebhookStore
from tests.indexer.conftest import anvil_node, chain, crm, staff  # noqa: F401 - fixtures
from tests.support import wait_for  # noqa: F401 - for this folder's tests

T = TypeVar("T")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
INDEX_CONFIRMATIONS = 5
FAST = DispatchOptions(
    confirmations=0,
    poll_seconds=0.05,
    timeout_seconds=2.0,
    retry_base_seconds=0.2,
    retry_cap_seconds=1.0,
    retry_for_seconds=60.0,
    jitter=0.0,
)
WAIT_SECONDS = 20.0


def mine(over: Chain, blocks: int = 1) -> None:
    for _ in range(blocks):
        over.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


# ------------------------------------------------------------------ receivers


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class ExampleReceiver:
    url: str
    events: list[dict[str, Any]]
    server: Any  # its `secret` is the one it verifies with

    def verifying_with(self, secret: str) -> None:
        self.server.secret = secret


@contextmanager
def example_receiver(secret: str = "whsec_unset") -> Iterator[ExampleReceiver]:
    """The README's receiver, serving in a thread on a free port."""
    events: list[dict[str, Any]] = []
    server = load_example().Receiver(("127.0.0.1", 0), secret, handle=events.append)
    with _serving(server):
        yield ExampleReceiver(f"http://127.0.0.1:{server.server_address[1]}/hooks", events, server)


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived
    answered: int | None  # the status sent back; None for a hang


@dataclass
class _Script:
    steps: list[Any]
    default: Any
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)


class ScriptedReceiver(ThreadingHTTPServer):
    """Answers each request with the next step of its script, then with `default`. A step is a
    status code, ("hang", seconds) (answers nothing, then drops the connection), or
    ("redirect", url) (302 to it)."""

    daemon_threads = True

    def __init__(self, *steps: Any, default: Any = 200) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script = _Script(list(steps), default)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    @property
    def requests(self) -> list[Request]:
        with self.script.lock:
            return list(self.script.requests)

    def answered(self, status: int) -> list[Request]:
        return [request for request in self.requests if request.answered == status]


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        script = self.server.script
        with script.lock:
            step = script.steps.pop(0) if script.steps else script.default
            status = None if isinstance(step, tuple) and step[0] == "hang" else 302 if isinstance(step, tuple) else step
            script.requests.append(Request(self.path, dict(self.headers), body, time.monotonic(), status))
        if isinstance(step, tuple) and step[0] == "hang":
            script.release.wait(step[1])
            self.close_connection = True
            return
        self.send_response(int(status or 0))
        if isinstance(step, tuple):
            self.send_header("Location", step[1])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def scripted(*steps: Any, default: Any = 200) -> Iterator[ScriptedReceiver]:
    server = ScriptedReceiver(*steps, default=default)
    with _serving(server):
        yield server
    server.script.release.set()


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        if isinstance(server, ScriptedReceiver):
            server.script.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# ------------------------------------------------------------------ index, outbox, dispatcher


@dataclass
class Hooks:
    chain: Chain
    crm: Crm
    indexer: Indexer
    integration: Engine
    store: WebhookStore
    options: DispatchOptions
    made: list[Dispatcher] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dispatcher = self.new_dispatcher()

    def new_dispatcher(self, **changes: Any) -> Dispatcher:
        options = DispatchOptions(**{**self.options.__dict__, **changes})
        made = Dispatcher(self.integration, self.indexer.engine, self.chain.block_number, options)
        self.made.append(made)
        return made

    def subscribe(self, url: str, *types: str) -> Endpoint:
        return self.store.add_endpoint(url, types)

    def start(self) -> None:
        """Before anything the test expects: the index read, the dispatcher's cursor set at the head."""
        self.sync()

    def sync(self, dispatcher: Dispatcher | None = None) -> PassReport:
        self.indexer.sync_once()
        return (dispatcher or self.dispatcher).run_once()

    def delivery_rows(self) -> list[dict[str, Any]]:
        with self.integration.connect() as conn:
            query = select(tables.deliveries).order_by(tables.deliveries.c.id)
            return [dict(row) for row in conn.execute(query).mappings()]


@pytest.fixture
def hooks(tmp_path: Path, chain: Chain, crm: Crm) -> Iterator[Hooks]:  # noqa: F811
    indexer = Indexer(chain, crm.deployment, tmp_path / "index.sqlite", confirmations=INDEX_CONFIRMATIONS)
    integration = open_integration(tmp_path / "integration.sqlite", tmp_path, tables.metadata)
    made = Hooks(chain, crm, indexer, integration, WebhookStore(integration), FAST)
    try:
        yield made
    finally:
        for dispatcher in made.made:
            dispatcher.stop()
        indexer.close()
        integration.dispose()
