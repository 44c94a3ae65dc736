"""Who may call: an API key for every request, and for a write a key that is not read-only, whose
staff address holds the action's role on-chain now and whose keystore the server unlocked.

Checks run in that order, before the body is looked at further and before anything is sent:
401 ``api_key_missing``/``api_key_invalid``/``api_key_revoked``, 403 ``api_key_read_only``, 503
``signer_not_unlocked``, 403 ``role_refused``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from eth_account.signers.local import LocalAccount
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from chaincrm.api.errors import ApiError
from chaincrm.api.keys import ApiKey, KeyRefused
from chaincrm.api.state import ApiState
from chaincrm.models import Role

bearer = HTTPBearer(
    auto_error=False, description="An API key: `Authorization: Bearer ck_...` (chaincrm api-key create)."
)


def api_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


async def api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey:
    """The request's valid key (any key may read)."""
    if credentials is None:
        raise ApiError(401, "api_key_missing", "send an API key: Authorization: Bearer ck_...")
    if len(request.headers.getlist("authorization")) > 1:  # which one would count is a proxy's guess
        raise ApiError(401, "api_key_invalid", "send one Authorization header")
    state = api_of(request)
    try:
        return await state.integration(lambda: state.verified.verify(credentials.credentials))
    except KeyRefused as refused:
        raise ApiError(401, refused.code, refused.message) from None


@dataclass(frozen=True)
class Author:
    """A write's key and the unlocked account that signs it."""

    key: ApiKey
    account: LocalAccount


def author(*roles: Role) -> Callable[..., Awaitable[Author]]:
    """A dependency: the write's Author, when the key's staff holds one of `roles` on-chain."""
    names = " or ".join(role.name.lower() for role in roles)

    async def check(request: Request, key: Annotated[ApiKey, Depends(api_key)]) -> Author:
        if key.read_only:
            raise ApiError(403, "api_key_read_only", f"API key {key.id} may only read")
        state = api_of(request)
        account = state.signers.get(key.staff)
        if account is None:
            raise ApiError(
                503,
                "signer_not_unlocked",
                f"the keystore of {key.staff} is not unlocked on this server (chaincrm serve --signer {key.staff})",
            )
        held = await run_in_threadpool(state.portal.crm.registry.roles_of, key.staff)
        if not set(roles) & set(held):
            raise ApiError(403, "role_refused", f"{key.staff} does not hold the {names} role on-chain")
        return Author(key, account)

    return check


__all__ = ["Author", "api_key", "api_of", "author", "bearer"]
