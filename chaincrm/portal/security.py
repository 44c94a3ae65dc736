"""What every response carries, and what protects the endpoints that sign in or spend.

- Security headers on every response (:class:`SecurityHeaders`, an ASGI middleware): a
  Content-Security-Policy that allows only this origin (no inline script or style, no framing),
  nosniff, no referrer, no framing.
- CORS stays closed: no Access-Control-* header is ever sent, so a page on another origin can
  neither read an answer nor pass a preflight.
- A POST that names another origin (the browser's ``Origin`` header) is refused
  (:func:`same_origin`), on top of the SameSite=Lax session cookie.
- Rate limits per client IP on the nonce, sign-in and relay endpoints (:class:`RateLimiter`, the
  `limits` package's moving window in memory): 429 ``rate_limited`` with Retry-After.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
NO_STORE = (b"cache-control", b"no-store")


class HttpMiddleware:
    """An ASGI middleware that acts on HTTP requests only (:meth:`http`): any other scope (lifespan,
    websocket) passes straight to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class SecurityHeaders(HttpMiddleware):
    """Adds HEADERS to every HTTP response (and no-store to the JSON API's)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *HEADERS]
                if api:
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def error_response(code: str, message: str, status: int, **extra: Any) -> JSONResponse:
    """The API's one error shape: {"error": {"code": ..., "message": ...}}."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


class Refusal(Exception):
    """A request refused: a stable `code` for the JSON error, a one-line message, the HTTP status
    and, for a contract revert, {"name", "args"}. The portal's, the console's and the API's
    refusals derive from it, each with its own default status."""

    def __init__(self, code: str, message: str, status: int, revert: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.revert = revert

    def response(self) -> JSONResponse:
        """The refusal in the one error shape (:func:`error_response`), with the revert if any."""
        extra = {"revert": self.revert} if self.revert is not None else {}
        return error_response(self.code, self.message, self.status, **extra)


def with_security_headers(response: JSONResponse) -> JSONResponse:
    """For the last-resort 500 handler, which runs outside the middleware stack."""
    for name, value in HEADERS:
        response.headers[name.decode()] = value.decode()
    return response


def same_origin(request: Request, origin: str) -> bool:
    """A request without an Origin header (not a browser's cross-site form or fetch) or from ours."""
    sent = request.headers.get("origin")
    return sent is None or sent.lower() == origin


class RateLimiter:
    """Moving-window limits per client IP, in memory (one process)."""

    def __init__(self, limits: dict[str, RateLimitItem]) -> None:
        self.limits = limits
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, name: str, request: Request) -> JSONResponse | None:
        """None when allowed; else the 429 answer."""
        item = self.limits[name]
        client = request.client.host if request.client else "unknown"
        if self._limiter.hit(item, name, client):
            return None
        reset_at, _remaining = self._limiter.get_window_stats(item, name, client)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        response = error_response(
            "rate_limited", f"too many requests: try again in {retry_after} s (limit {item})", 429
        )
        response.headers["Retry-After"] = str(retry_after)
        return response


def strict_json(body: bytes) -> Any:
    """`body` as JSON, strictly: UTF-8 only (RFC 8259; json.loads would also guess UTF-16 and
    UTF-32), no NaN or Infinity, and no object with a name twice (which value counts would be a
    parser's guess). ValueError or RecursionError otherwise."""
    return json.loads(body.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_unique_names)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a name is repeated")
    return found


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "HttpMiddleware",
    "RateLimiter",
    "Refusal",
    "SecurityHeaders",
    "error_response",
    "same_origin",
    "strict_json",
    "with_security_headers",
]
