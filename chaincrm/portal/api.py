"""The JSON API: configuration, invoices, sign-in, the customer's area, typed data and relaying.

Each handler parses, asks one part of the portal, and answers; every refusal is
``{"error": {"code", "message"}}`` with a 4xx status (503 when the node, the index or the relayer
cannot serve).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from eth_utils import to_checksum_address
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chaincrm.index.database import database_errors
from chaincrm.portal import reads
from chaincrm.portal.auth import COOKIE_NAME, AuthRefused, Session, verify_sign_in
from chaincrm.portal.relayer import CONSENT, REVOKE, RelayRefused, RelayRequest, address_of, parse_relay, purpose_named
from chaincrm.portal.security import Refusal, error_response, same_origin, strict_json
from chaincrm.portal.state import Portal

MAX_BODY_BYTES = 16 * 1024


Endpoint = Callable[[Request], Awaitable[Response]]


class BadRequest(Refusal):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message, status)


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


async def read_json(request: Request) -> Any:
    """The body as JSON, at most MAX_BODY_BYTES; BadRequest otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise BadRequest("request_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes", 413)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest("request_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes", 413)
    try:
        return strict_json(bytes(body))
    except (ValueError, RecursionError):
        raise BadRequest("invalid_request", "the body is not JSON") from None


def session_of(request: Request) -> Session:
    return portal_of(request).sessions.read(request.cookies.get(COOKIE_NAME))


def rate_limited(limit: str) -> Callable[[Endpoint], Endpoint]:
    """An endpoint under the portal's rate limit `limit`: over it, the 429 answer instead."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def limited(request: Request) -> Response:
            refused = portal_of(request).limiter.check(limit, request)
            return refused if refused is not None else await endpoint(request)

        return limited

    return decorate


def _check_origin(request: Request) -> None:
    if not same_origin(request, portal_of(request).config.origin):
        raise BadRequest("origin_refused", "requests from another origin are refused", 403)


# ---------------------------------------------------------------------- public reads


async def api_config(request: Request) -> Response:
    portal = portal_of(request)
    return JSONResponse(portal.api_config(await portal.as_of_block()))


async def find_invoice(portal: Portal, text: str) -> dict[str, Any]:
    """The invoice a path names, as the payment page shows it; BadRequest if the id is malformed
    (400 invalid_id) or names no invoice (404 invoice_unknown)."""
    try:
        invoice_id = reads.parse_id(text)
    except reads.BadId:
        raise BadRequest("invalid_id", f"not an invoice id: {text[:40]}") from None
    found = await portal.read(lambda conn: reads.invoice(conn, invoice_id, portal.terms, portal.clock.now()))
    if found is None:
        raise BadRequest("invoice_unknown", f"invoice {invoice_id} does not exist", 404)
    wanted = [found["currency_address"], portal.tokens.loyalty]
    if portal.tokens.missing(wanted):
        await run_in_threadpool(portal.tokens.load, wanted)
    return portal.tokens.invoice(found)


async def api_invoice(request: Request) -> Response:
    try:
        found = await find_invoice(portal_of(request), request.path_params["invoice_id"])
    except BadRequest as exc:
        return exc.response()
    return JSONResponse(found)


# ---------------------------------------------------------------------- sign-in


@rate_limited("nonce")
async def siwe_nonce(request: Request) -> Response:
    portal = portal_of(request)
    return JSONResponse({"nonce": portal.nonces.issue()})


@rate_limited("sign_in")
async def siwe_verify(request: Request) -> Response:
    portal = portal_of(request)
    try:
        _check_origin(request)
        body = await read_json(request)
        if not isinstance(body, dict) or set(body) != {"message", "signature"}:
            raise BadRequest("invalid_request", 'the body must be {"message": str, "signature": "0x..."}')
        message, signature = body["message"], body["signature"]
        if not isinstance(message, str) or not isinstance(signature, str):
            raise BadRequest("invalid_request", "message and signature must be strings")
        address = verify_sign_in(
            message,
            signature,
            domain=portal.config.domain,
            chain_id=portal.terms.chain_id,
            nonces=portal.nonces,
        )
    except (AuthRefused, BadRequest) as exc:
        return exc.response()
    session, cookie = portal.sessions.open(address)
    customers = await portal.read(lambda conn: reads.customers_of(conn, address))
    response = JSONResponse({"address": address, "customers": customers, "expires_at": session.expires_at})
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=portal.sessions.cookie_max_age,
        path="/",
        secure=portal.config.secure,
        httponly=True,
        samesite="lax",
    )
    return response


async def siwe_logout(request: Request) -> Response:
    portal = portal_of(request)
    try:
        _check_origin(request)
    except BadRequest as exc:
        return exc.response()
    with contextlib.suppress(AuthRefused):  # signing out without a (valid) session still clears the cookie
        portal.sessions.close(session_of(request))
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(COOKIE_NAME, path="/", secure=portal.config.secure, httponly=True, samesite="lax")
    return response


# ---------------------------------------------------------------------- the customer's area


def me_json(portal: Portal, session: Session) -> dict[str, Any]:
    """The customer's area (blocking: reads the index and each customer's nonce from the node)."""
    tokens = portal.tokens
    with database_errors(portal.engine), portal.engine.connect() as conn:
        as_of = reads.as_of_block(conn)
        now = portal.clock.now()
        customers = []
        for customer_id in reads.customers_of(conn, session.address):
            nonce = portal.crm.registry.nonce_of(customer_id)
            area = reads.customer_area(conn, customer_id, portal.terms, now, nonce, as_of)
            if area is not None:
                customers.append(area)
        points = reads.points_of(conn, session.address)
    rows = [row for area in customers for row in (*area["deals"], *area["invoices"])]
    tokens.load([tokens.loyalty, *(row["currency_address"] for row in rows)])
    for area in customers:
        area["deals"] = [tokens.deal(deal) for deal in area["deals"]]
        area["invoices"] = [tokens.invoice(invoice) for invoice in area["invoices"]]
    return {
        "address": session.address,
        "expires_at": session.expires_at,
        "as_of_block": as_of,
        "customers": customers,
        "points": tokens.points(points),
    }


async def api_me(request: Request) -> Response:
    portal = portal_of(request)
    try:
        session = session_of(request)
    except AuthRefused as exc:
        return exc.response()
    return JSONResponse(await run_in_threadpool(me_json, portal, session))


def _typed_data_request(params: Any) -> RelayRequest:
    action = params.get("action")
    customer_text = params.get("customer", "")
    try:
        customer_id = reads.parse_id(customer_text)
    except reads.BadId:
        raise RelayRefused("invalid_request", f"not a customer id: {customer_text[:40]}", 400) from None
    if action == CONSENT:
        granted = params.get("granted")
        if granted not in ("true", "false"):
            raise RelayRefused("invalid_request", "granted must be true or false", 400)
        purpose = purpose_named(params.get("purpose"))
        return RelayRequest(CONSENT, customer_id, 0, 0, b"", purpose=purpose, granted=granted == "true")
    if action == REVOKE:
        return RelayRequest(REVOKE, customer_id, 0, 0, b"", staff=address_of(params.get("staff"), "staff"))
    raise RelayRefused("invalid_request", 'action must be "consent" or "revoke"', 400)


async def api_typed_data(request: Request) -> Response:
    from chaincrm.portal.relayer import typed_data

    portal = portal_of(request)
    try:
        session = session_of(request)
        wanted = _typed_data_request(request.query_params)
    except (AuthRefused, RelayRefused) as exc:
        return exc.response()
    mine = await portal.read(lambda conn: reads.customers_of(conn, session.address))
    if wanted.customer_id not in mine:
        return error_response("not_your_customer", f"customer {wanted.customer_id} is not yours", 403)
    proposal = await run_in_threadpool(portal.relayer.proposal, wanted)
    data = typed_data(proposal, portal.terms.chain_id, portal.crm.registry.address)
    return JSONResponse({"typed_data": data, "deadline": proposal.deadline})


@rate_limited("relay")
async def api_relay(request: Request) -> Response:
    portal = portal_of(request)
    try:
        _check_origin(request)
        session = session_of(request)
        relayed = parse_relay(await read_json(request))
        result = await run_in_threadpool(portal.relayer.relay, relayed, to_checksum_address(session.address))
    except (AuthRefused, RelayRefused, BadRequest) as exc:
        return exc.response()
    return JSONResponse(result)


ROUTES = [
    Route("/api/config", api_config, methods=["GET"]),
    Route("/api/invoices/{invoice_id}", api_invoice, methods=["GET"]),
    Route("/api/siwe/nonce", siwe_nonce, methods=["GET"]),
    Route("/api/siwe/verify", siwe_verify, methods=["POST"]),
    Route("/api/siwe/logout", siwe_logout, methods=["POST"]),
    Route("/api/me", api_me, methods=["GET"]),
    Route("/api/me/typed-data", api_typed_data, methods=["GET"]),
    Route("/api/relay", api_relay, methods=["POST"]),
]

__all__ = ["ROUTES", "me_json", "portal_of"]
