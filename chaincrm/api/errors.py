"""The REST API's errors: one JSON shape, a stable code, never a 500 for bad input.

``{"error": {"code": ..., "message": ...}}``, plus ``"revert": {"name", "args"}`` for a contract
revert (arguments as the strings the message shows, as the CLI's JSON errors). Codes:

========================================  =====================================================
400 ``invalid_request``                    the body, a parameter or a header is malformed or out
                                           of range (FastAPI's 422 is answered as this)
400 ``invalid_cursor``                     a ``cursor`` this API did not hand out
401 ``api_key_missing|invalid|revoked``    no ``Authorization: Bearer ck_...``, an unknown key,
                                           a revoked key
403 ``api_key_read_only``                  a write with a read-only key
403 ``role_refused``                       the key's staff address lacks the role on-chain now
404 ``<thing>_unknown``, ``not_found``     no such customer, deal, invoice; no such route
409 ``contract_refused``                   the contract refuses the call (dry run): ``revert``
409 ``idempotency_key_reused|in_flight``   see :mod:`chaincrm.api.idempotency`
409 ``content_unreadable``                 the author cannot read the customer's profile
413 ``request_too_large``                  a body over MAX_BODY_BYTES
502 ``transaction_failed``                 sent, and failed without a decodable reason
503 ``node_unavailable``, ``index_unavailable``, ``storage_unavailable``, ``signer_not_unlocked``
========================================  =====================================================

Anything else is a bug: the API's last-resort middleware answers 500 ``internal``, logs the
exception's type only, and counts it in the portal's ``unexpected_errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import HTTPException as FastApiHttpError
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chaincrm.errors import (
    ChainCrmError,
    ChainError,
    ContractRevert,
    KeystoreError,
    PrivacyError,
    StorageError,
    TransactionError,
)
from chaincrm.portal.security import HttpMiddleware, Refusal, error_response, strict_json

log = logging.getLogger("chaincrm.api")

MAX_BODY_BYTES = 256 * 1024  # a note of a few pages; nothing else comes close
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


class ApiError(Refusal):
    """A refusal with its HTTP status, stable code and message (and a decoded revert)."""

    def __init__(self, status: int, code: str, message: str, revert: dict[str, Any] | None = None) -> None:
        super().__init__(code, message, status, revert)


def shown(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def refused(exc: ChainCrmError) -> ApiError:
    """A package error as the API answers it."""
    if isinstance(exc, ContractRevert):
        args = {key: shown(value) for key, value in exc.args_by_name.items()}
        return ApiError(409, "contract_refused", f"the contract refuses: {exc}", {"name": exc.name, "args": args})
    if isinstance(exc, TransactionError):
        return ApiError(502, "transaction_failed", f"the transaction failed: {exc}")
    if isinstance(exc, ChainError):
        return ApiError(503, "node_unavailable", "the chain's node is not reachable now: try again shortly")
    if isinstance(exc, StorageError):
        return ApiError(503, "storage_unavailable", "the document store (IPFS) is not reachable now: try again shortly")
    if isinstance(exc, PrivacyError):
        return ApiError(409, "content_unreadable", f"the customer's profile cannot be read with this key: {exc}")
    if isinstance(exc, KeystoreError):
        return ApiError(503, "signer_not_unlocked", str(exc))
    return ApiError(503, "index_unavailable", "the index cannot be read now: try again shortly")


async def api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def package_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ChainCrmError)
    answer = refused(exc)
    if answer.status >= 500:
        log.warning("%s answering %s: %s", answer.code, request.url.path[:80], type(exc).__name__)
    return answer.response()


async def validation_error(_request: Request, exc: Exception) -> Response:
    """FastAPI's 422 as 400 ``invalid_request``, naming each field and what is wrong with it (never
    echoing the value: it may be a note)."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return error_response("invalid_request", "; ".join(problems) or "the request is malformed", 400)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request" if exc.status_code == 400 else "http_error")
    message = f"{request.method} {request.url.path[:80]}: {exc.detail}"
    return error_response(code, message, exc.status_code)


class StrictJsonRequest(Request):
    """A request whose JSON body is read by :func:`strict_json` (FastAPI answers its errors 400)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """The route class of the routers that take a body: bodies as :class:`StrictJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict


class LastResort(HttpMiddleware):
    """ASGI middleware inside the API: an exception no handler took is a bug. It answers 500
    ``internal`` (when nothing was sent yet), logs the type only, and counts it on `portal`."""

    def __init__(self, app: ASGIApp, counter: Any) -> None:
        super().__init__(app)
        self.counter = counter

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            self.counter.unexpected_errors += 1
            log.error("unexpected %s answering %s %s", type(exc).__name__, scope.get("method"), scope.get("path"))
            if started:
                raise
            response = error_response("internal", "the server failed unexpectedly", 500)
            await response(scope, receive, send)


class BodyLimit(HttpMiddleware):
    """Refuses a body over MAX_BODY_BYTES with 413 before the app reads it (declared length), or
    while it reads (chunked)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            too_large = error_response("request_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes", 413)
            await too_large(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY_BYTES:
                    # FastAPI answers any other exception while it reads the body as a 400: an
                    # HTTPException it lets through (answered by http_error as request_too_large)
                    raise FastApiHttpError(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
            return message

        await self.app(scope, counted, send)


__all__ = [
    "MAX_BODY_BYTES",
    "ApiError",
    "BodyLimit",
    "LastResort",
    "StrictJsonRequest",
    "StrictJsonRoute",
    "api_error",
    "http_error",
    "package_error",
    "refused",
    "shown",
    "validation_error",
]
