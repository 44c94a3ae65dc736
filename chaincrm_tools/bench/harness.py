"""What the web benchmarks share (`bench serve`, `bench api`): a load generator, latency figures, and
a server in a child process that can be started, killed and started again.

The load runs on asyncio in a thread of its own (:func:`run_async`): the caller's thread may
already run a loop (Playwright's sync API leaves one in pytest's worker). The server runs in a
separate process so the load generator does not share its GIL; it still shares the machine's cores.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import os
import platform
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from subprocess import Popen
from typing import Any

import aiohttp
import httpx
import numpy as np
import psutil

from chaincrm.config import Settings
from chaincrm.errors import ChainCrmError
from chaincrm.services import supervisor

SERVER_START_SECONDS = 60.0
SIGNATURE_HEADER = "Chaincrm-Signature"  # as chaincrm.webhooks.signing sends it
KILL_WAIT_SECONDS = 10.0


class BenchError(ChainCrmError):
    """The server did not answer as the spec says, so a figure cannot be measured."""


def run_async(coroutine: Any) -> Any:
    """Run `coroutine` on a fresh event loop in its own thread: the caller's thread may already run a
    loop (Playwright's sync API leaves one in pytest's worker), where asyncio.run refuses."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def load(
    base_url: str,
    paths: list[str],
    total: int,
    concurrency: int,
    headers: Mapping[str, str] | None = None,
) -> tuple[list[float], float, int]:
    """`total` GETs of `paths` (round robin) by `concurrency` workers over keep-alive connections:
    each request's latency in ms, the wall time in seconds, and how many answered other than 200."""
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url, connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while (i := next(counter)) < total:
                began = time.perf_counter()
                async with session.get(paths[i % len(paths)]) as response:
                    await response.read()
                    status = response.status
                latencies.append((time.perf_counter() - began) * 1000)
                errors += status != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started, errors


def percentiles_ms(latencies: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of latencies in ms, rounded to 0.01 ms."""
    p50, p90, p99 = (round(float(value), 2) for value in np.percentile(latencies, [50, 90, 99]))
    return {"p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": round(max(latencies), 2)}


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def machine_figures(load_at_start: Sequence[float], note: str, **more: Any) -> dict[str, Any]:
    """The results' "machine": cores, platform, Python, the load average when the bench started,
    `more`, and `note` (what shares the cores)."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(value, 2) for value in load_at_start],
        **more,
        "note": note,
    }


def target_rows(rows: Sequence[tuple[str, Any, str, bool | None]]) -> list[dict[str, Any]]:
    """(figure, value, target, met) rows as the results' "targets" list; met None: no target."""
    return [{"figure": figure, "value": value, "target": target, "met": met} for figure, value, target, met in rows]


def log_targets(
    targets: list[dict[str, Any]], log: Callable[[str], None], figure_width: int, target_width: int
) -> None:
    """The "targets" list as a table: figure, value, target and whether it was met."""
    header = f"{'figure':{figure_width}}{'value':>14}{'target':>{target_width}}  met"
    log(header)
    log("-" * len(header))
    for row in targets:
        value = row["value"]
        shown = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
        verdict = "-" if row["met"] is None else ("yes" if row["met"] else "MISSED")
        log(f"{row['figure']:{figure_width}}{shown:>14}{row['target']:>{target_width}}  {verdict}")


def write_server_config(path: Path, settings: Settings, database: Path, base_url: str, port: int, **extra: str) -> Path:
    """The config file a bench's server process reads (:func:`read_server_config`): the settings, the
    index database, the public URL, the port and `extra`. Private (0600): it carries an Anvil dev
    key, in the bench's private folder."""
    path.touch(mode=0o600)
    path.write_text(
        json.dumps(
            {
                "rpc_url": settings.rpc_url,
                "ipfs_api": settings.ipfs_api,
                "home": str(settings.home),
                "database": str(database),
                "public_url": base_url,
                **extra,
                "port": port,
            }
        )
    )
    return path


def read_server_config(path: str) -> tuple[dict[str, Any], Settings]:
    """The spec :func:`write_server_config` wrote, and the settings it names."""
    spec = json.loads(Path(path).read_text())
    return spec, Settings(rpc_url=spec["rpc_url"], ipfs_api=spec["ipfs_api"], home=Path(spec["home"]))


class ServerProcess:
    """A Python server in a child process: `target` ("module:function") called with `config_file`.

    :meth:`start` waits until `ready_url` answers 200; :meth:`kill` ends it with SIGKILL (a crash:
    no clean-up runs), :meth:`stop` with SIGTERM. It can be started again after either, on the same
    port. Its output goes to `log_file`, appended across starts.
    """

    def __init__(self, target: str, config_file: Path, *, ready_url: str, log_file: Path, name: str) -> None:
        self.target = target
        self.config_file = config_file
        self.ready_url = ready_url
        self.log_file = log_file
        self.name = name
        self.starts = 0
        self._process: Popen[bytes] | None = None

    @property
    def process(self) -> psutil.Process:
        if self._process is None:
            raise BenchError(f"{self.name} is not running")
        return psutil.Process(self._process.pid)

    def start(self, port: int) -> float:
        """Start the server and wait until it answers; the seconds that took."""
        module, function = self.target.split(":")
        started = time.perf_counter()
        supervisor.require_free_port(port)
        self._process = supervisor.spawn(
            [
                sys.executable,
                "-c",
                f"import sys; from {module} import {function}; {function}(sys.argv[1])",
                str(self.config_file),
            ],
            log_file=self.log_file,
            detach=False,
        )
        exit_code = supervisor.wait_until_ready(
            self._process,
            lambda: answers(self.ready_url),
            name=self.name,
            timeout_seconds=SERVER_START_SECONDS,
            log_file=self.log_file,
        )
        if exit_code is not None:
            self._process = None
            raise BenchError(f"{self.name} exited with code {exit_code}: {supervisor.last_log_line(self.log_file)}")
        self.starts += 1
        return time.perf_counter() - started

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: nothing in the server gets to clean up."""
        if self._process is None:
            return
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(KILL_WAIT_SECONDS)
        self._process = None

    def stop(self) -> None:
        if self._process is not None:
            supervisor.stop(self._process.pid)
            self._process.wait(KILL_WAIT_SECONDS)
            self._process = None


def wait_for(condition: Callable[[], bool], *, timeout_seconds: float, poll_seconds: float, what: str) -> float:
    """Poll `condition` until true; the seconds waited. BenchError after `timeout_seconds`."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout_seconds:
            raise BenchError(f"{what} did not happen within {timeout_seconds:g} s")
        time.sleep(poll_seconds)
    return time.perf_counter() - started


# ---------------------------------------------------------------------- a webhook receiver


@dataclass
class Inbox:
    """One endpoint of the receiver: its secret, how often it fails on purpose, and what arrived.

    The dedup layer sits behind the failure injection: a request answered 500 on purpose is not
    seen by it; an accepted one is either a first delivery of its event id (`first_seen`) or a
    duplicate (answered 200 again, as a receiver that dedups by id does).
    """

    secret: str
    fail_ratio: float = 0.0
    seed: int = 0
    requests: int = 0
    failed_on_purpose: int = 0
    duplicates: int = 0
    bad_signatures: int = 0
    first_seen: dict[str, float] = field(default_factory=dict)  # event id -> time.perf_counter() of arrival
    by_tx_hash: dict[str, list[str]] = field(default_factory=dict)  # tx hash -> event ids accepted
    types: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def receive(self, signature: str, body: bytes, arrived: float) -> int:
        """The HTTP status to answer."""
        with self.lock:
            self.requests += 1
            if self._random.random() < self.fail_ratio:
                self.failed_on_purpose += 1
                return 500
            if not verify_signature(self.secret, signature, body):
                self.bad_signatures += 1
                return 400
            event = json.loads(body)
            event_id = str(event["id"])
            if event_id in self.first_seen:
                self.duplicates += 1
                return 200
            self.first_seen[event_id] = arrived
            self.by_tx_hash.setdefault(str(event.get("tx_hash", "")).lower(), []).append(event_id)
            self.types[event["type"]] = self.types.get(event["type"], 0) + 1
            return 200

    def unique(self) -> int:
        with self.lock:
            return len(self.first_seen)

    def arrival_of_tx(self, tx_hash: str) -> float | None:
        with self.lock:
            ids = self.by_tx_hash.get(tx_hash.lower())
            return self.first_seen[ids[0]] if ids else None


def verify_signature(secret: str, header: str, body: bytes) -> bool:
    """Stripe's scheme: `t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in parts or "v1" not in parts:
        return False
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


class WebhookReceiver:
    """A real HTTP receiver on 127.0.0.1 (stdlib, one thread per connection), one :class:`Inbox` per
    path: POST /<name> is delivered to inbox `name`."""

    def __init__(self) -> None:
        self.inboxes: dict[str, Inbox] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                arrived = time.perf_counter()
                if len(body) < length:
                    # The sender was killed mid-request: the connection ended before the body did.
                    # That is a dropped connection, not a delivery (nor a bad signature).
                    receiver.dropped_connections += 1
                    self.close_connection = True
                    return
                inbox = receiver.inboxes.get(self.path.strip("/"))
                signature = self.headers.get(SIGNATURE_HEADER, "")
                status = 404 if inbox is None else inbox.receive(signature, body, arrived)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

        self.dropped_connections = 0  # a sender killed mid-request resets its connection

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                receiver.dropped_connections += 1

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-webhook-receiver", daemon=True)

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{name}"

    def add(self, name: str, inbox: Inbox) -> str:
        self.inboxes[name] = inbox
        return self.url(name)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


__all__ = [
    "BenchError",
    "Inbox",
    "ServerProcess",
    "WebhookReceiver",
    "answers",
    "load",
    "percentiles_ms",
    "run_async",
    "verify_signature",
    "wait_for",
]
