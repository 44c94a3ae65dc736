"""The HTML pages: server-rendered templates whose data travels as JSON in the page (no inline
script: the CSP forbids it), for the page's module under /static to read.

Each template gets ``data`` (the page's JSON, as the API answers it) and ``config``
(``/api/config``); the 404 page also ``error`` (``{"code", "message"}``) for ``#message``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from chaincrm.portal.api import BadRequest, find_invoice, me_json, portal_of
from chaincrm.portal.auth import COOKIE_NAME, AuthRefused

TEMPLATES = Path(__file__).parent / "templates"
NOT_FOUND = "not_found.html"


def templates_of(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def render(
    request: Request,
    name: str,
    data: dict[str, Any],
    config: dict[str, Any],
    *,
    error: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {"data": data, "config": config, "error": error}
    return templates_of(request).TemplateResponse(request, name, context, status_code=status)


def not_found(request: Request, code: str, text: str, config: dict[str, Any]) -> Response:
    error = {"code": code, "message": text}
    return render(request, NOT_FOUND, {"error": error}, config, error=error, status=404)


async def index_page(request: Request) -> Response:
    portal = portal_of(request)
    return render(request, "index.html", {}, portal.api_config(await portal.as_of_block()))


async def pay_page(request: Request) -> Response:
    portal = portal_of(request)
    try:
        found = await find_invoice(portal, request.path_params["invoice_id"])
    except BadRequest as exc:
        return not_found(request, exc.code, exc.message, portal.api_config(None))
    return render(request, "pay.html", found, portal.api_config(found["as_of_block"]))


async def me_page(request: Request) -> Response:
    portal = portal_of(request)
    try:
        session = portal.sessions.read(request.cookies.get(COOKIE_NAME))
    except AuthRefused as exc:
        error = {"code": exc.code, "message": exc.message}
        return render(request, "me.html", {"error": error}, portal.api_config(None))
    area = await run_in_threadpool(me_json, portal, session)
    return render(request, "me.html", area, portal.api_config(area["as_of_block"]))


async def offer_page(request: Request) -> Response:
    """/offers/accept: the offer rides in the URL's fragment, which never reaches the server; the
    page's script reads and checks it."""
    portal = portal_of(request)
    return render(request, "offer.html", {}, portal.api_config(await portal.as_of_block()))


ROUTES = [
    Route("/", index_page, methods=["GET"]),
    Route("/offers/accept", offer_page, methods=["GET"]),
    Route("/pay/{invoice_id}", pay_page, methods=["GET"]),
    Route("/me", me_page, methods=["GET"]),
]

__all__ = ["NOT_FOUND", "ROUTES", "TEMPLATES", "not_found", "render"]
