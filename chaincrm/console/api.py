"""The console's JSON actions: moving a deal (``POST /staff/api/deals/{id}/move``).

Before anything is read or sent, a POST needs the session cookie (403 ``staff_session_missing``),
no foreign ``Origin`` (403 ``origin_refused``) and the session's CSRF token in ``X-CSRF-Token``
(403 ``csrf_refused``). Errors are the portal's shape, ``{"error": {"code", "message"}}``, plus
``"revert": {"name", "args"}`` for a contract's refusal (409 ``contract_refused``).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chaincrm.console.auth import COOKIE_NAME, CSRF_HEADER, StaffRefused
from chaincrm.console.moves import MoveRefused, parse_move
from chaincrm.console.state import Console
from chaincrm.errors import ChainError, TransactionError
from chaincrm.portal.api import BadRequest, read_json
from chaincrm.portal.security import error_response

NO_STORE = {"Cache-Control": "no-store"}


def _same_origin(request: Request) -> bool:
    """No Origin header (not a browser's cross-site request), or this very host's."""
    sent = request.headers.get("origin")
    if sent is None:
        return True
    return sent.lower() == f"{request.url.scheme}://{request.headers.get('host', '')}".lower()


def _json(response: JSONResponse) -> JSONResponse:
    response.headers.update(NO_STORE)
    return response


class Actions:
    def __init__(self, console: Console) -> None:
        self.console = console

    def _check(self, request: Request) -> None:
        """StaffRefused unless the request has a session, our origin and the session's CSRF token."""
        auth = self.console.auth
        try:
            session = auth.session(request.cookies.get(COOKIE_NAME))
        except StaffRefused as exc:
            raise StaffRefused(exc.code, exc.message, 403) from None
        if not _same_origin(request):
            raise StaffRefused("origin_refused", "requests from another origin are refused", 403)
        auth.check_csrf(session, request.headers.get(CSRF_HEADER))

    async def move(self, request: Request) -> Response:
        try:
            self._check(request)
            move = parse_move(request.path_params["deal_id"], await read_json(request))
            result = await run_in_threadpool(self.console.mover.move, move)
        except (StaffRefused, BadRequest, MoveRefused) as exc:
            return _json(exc.response())
        except TransactionError as exc:
            return _json(error_response("transaction_failed", f"the move's transaction failed: {exc}", 409))
        except ChainError:
            return _json(error_response("node_unavailable", "the chain's node is not reachable now: try again", 503))
        return _json(JSONResponse(result))

    async def not_found(self, request: Request) -> Response:
        return _json(error_response("not_found", f"{request.method} {request.url.path[:80]}: no such action", 404))


__all__ = ["Actions"]
