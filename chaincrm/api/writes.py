"""Running a write: the Idempotency-Key, one lock per signer, the SDK call in a worker thread, and
its errors as the API answers them.

The SDK estimates gas before it sends, which runs the call: a call the contract would refuse
raises its decoded revert (409 ``contract_refused``, or 404 ``<thing>_unknown`` for an unknown
id) and sends nothing. Each signer's writes run one at a time under its lock, so its nonces never
race; different signers' writes run side by side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chaincrm.api.auth import Author, api_of
from chaincrm.api.errors import ApiError, refused
from chaincrm.api.idempotency import Claim, IdempotencyConflict, Stored, request_hash, valid_key
from chaincrm.api.state import ApiState
from chaincrm.errors import ChainCrmError, ContractRevert

IDEMPOTENCY_HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
UNKNOWN_REVERTS = {
    "CustomerUnknown": "customer_unknown",
    "DealUnknown": "deal_unknown",
    "InvoiceUnknown": "invoice_unknown",
}

Send = Callable[[ApiState, LocalAccount], BaseModel]


def _refusal(exc: ChainCrmError) -> ApiError:
    answer = refused(exc)
    if isinstance(exc, ContractRevert) and exc.name in UNKNOWN_REVERTS:
        return ApiError(404, UNKNOWN_REVERTS[exc.name], answer.message, answer.revert)
    return answer


def _send_locked(state: ApiState, account: LocalAccount, send: Send) -> BaseModel:
    with state.locks[account.address]:
        # The staff member may also send from the CLI while the server runs: take the nonce from
        # the node's pending count (one call) rather than a count kept here.
        state.portal.crm.chain.nonces.reset(account.address)
        return send(state, account)


async def perform(request: Request, writer: Author, body: BaseModel | None, send: Send, status: int = 200) -> Response:
    """Run `send` as `writer` (once per Idempotency-Key) and answer its result as JSON."""
    state = api_of(request)
    claim = await _claim(request, state, writer, body)
    if isinstance(claim, Stored):
        return _json(claim.body, claim.status_code, replayed=True)
    try:
        try:
            result = await run_in_threadpool(_send_locked, state, writer.account, send)
        except ChainCrmError as exc:
            raise _refusal(exc) from None
    except ApiError as error:
        if claim is not None:
            if error.status >= 500:
                await state.integration(lambda: state.idempotency.release(claim))
            else:
                refusal, refused_with = bytes(error.response().body), error.status
                await state.integration(lambda: state.idempotency.finish(claim, refused_with, refusal))
        raise
    except BaseException:
        if claim is not None:
            await state.integration(lambda: state.idempotency.release(claim))
        raise
    body_bytes = result.model_dump_json(by_alias=True).encode()
    if claim is not None:
        await state.integration(lambda: state.idempotency.finish(claim, status, body_bytes))
    return _json(body_bytes, status)


async def _claim(request: Request, state: ApiState, writer: Author, body: BaseModel | None) -> Claim | Stored | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not valid_key(key):
        raise ApiError(400, "invalid_request", "Idempotency-Key must be 1 to 255 printable ASCII characters")
    fields: Any = None if body is None else body.model_dump(mode="json")
    digest = request_hash(request.method, request.url.path, fields)
    try:
        return await state.integration(lambda: state.idempotency.claim(writer.key.id, key, digest))
    except IdempotencyConflict as conflict:
        raise ApiError(409, conflict.code, conflict.message) from None


def _json(body: bytes, status: int, *, replayed: bool = False) -> Response:
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


__all__ = ["IDEMPOTENCY_HEADER", "REPLAYED_HEADER", "Send", "perform"]
