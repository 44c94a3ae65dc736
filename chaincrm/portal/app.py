"""`create_app`: the portal as one Starlette app.

Routes (:mod:`~chaincrm.portal.pages` for HTML, :mod:`~chaincrm.portal.api` for JSON), static
assets under ``/static``, security headers on every response, and the indexer following the chain
in a thread for the app's lifetime (started and stopped by the lifespan).

Errors: a route that does not exist answers the 404 page (HTML) or ``not_found`` (JSON under
/api/); the node or the index being unavailable answers 503 (``node_unavailable``,
``index_unavailable``). Any other exception is a bug: the last-resort handler answers a 500 JSON,
logs only the exception's type, and counts it (``app.state.portal.unexpected_errors``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from chaincrm.errors import ChainCrmError, ChainError
from chaincrm.portal import api, pages
from chaincrm.portal.config import PortalConfig
from chaincrm.portal.security import SecurityHeaders, error_response, with_security_headers
from chaincrm.portal.state import Portal

log = logging.getLogger("chaincrm.portal")
STATIC = Path(__file__).parent / "static"
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(config: PortalConfig, *, portal: Portal | None = None) -> Starlette:
    """The portal for `config`. It connects to the node and opens the index now (a ChainCrmError
    if it cannot); the indexer thread starts with the server."""
    portal = portal or Portal.open(config)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        portal.start()
        try:
            yield
        finally:
            portal.close()

    from chaincrm.api import create_api  # here: chaincrm.api imports the portal's modules

    staff: list[Mount] = []
    if config.staff is not None:  # the staff console, `chaincrm serve --staff`
        from chaincrm.console import create_console

        staff.append(Mount("/staff", app=create_console(portal)))
    app = Starlette(
        routes=[
            *staff,
            Mount("/api/v1", app=create_api(portal)),
            *pages.ROUTES,
            *api.ROUTES,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            HTTPException: _http_error,
            ChainCrmError: _service_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.portal = portal
    app.state.templates = Jinja2Templates(directory=pages.TEMPLATES)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if _is_api(request):
        response = error_response(code, f"{request.method} {request.url.path[:80]}: {exc.detail}", exc.status_code)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response
    if exc.status_code == 404:
        portal = api.portal_of(request)
        return pages.not_found(request, "not_found", "there is no such page", portal.api_config(None))
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def _service_error(request: Request, exc: Exception) -> Response:
    """The node or the index cannot serve now: 503, one line."""
    if isinstance(exc, ChainError):
        code, message = "node_unavailable", "the chain's node is not reachable now: try again shortly"
    else:
        code, message = "index_unavailable", "the index cannot be read now: try again shortly"
    log.warning("%s answering %s: %s", code, request.url.path[:80], type(exc).__name__)
    if _is_api(request):
        return error_response(code, message, 503)
    return PlainTextResponse(message, status_code=503)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Last resort: a bug. No detail leaves the server; the type is logged, the count kept."""
    portal: Portal = request.app.state.portal
    portal.unexpected_errors += 1
    log.error("unexpected %s answering %s %s", type(exc).__name__, request.method, request.url.path[:80])
    return with_security_headers(error_response("internal", "the server failed unexpectedly", 500))


__all__ = ["create_app"]
