"""`create_api`: the REST API as a FastAPI app, mounted by the portal at /api/v1.

The OpenAPI schema is FastAPI's (/api/v1/openapi.json); the docs page (/api/v1/docs) is our own
small HTML page loading Swagger UI from the portal's /static (copied from npm's swagger-ui-dist
by the set-up) and a static script that starts it, because the portal's Content-Security-Policy
allows no inline script and the page must work offline.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from chaincrm.api.errors import (
    ApiError,
    BodyLimit,
    LastResort,
    api_error,
    http_error,
    package_error,
    validation_error,
)
from chaincrm.api.models import ErrorAnswer
from chaincrm.api.routers import customers, deals, interactions, invoices, kpis
from chaincrm.api.state import ApiState
from chaincrm.errors import ChainCrmError
from chaincrm.portal.state import Portal

TITLE = "chaincrm REST API"
VERSION = "1"
DESCRIPTION = """Reads come from the event index (every answer says `as_of_block`); writes are sent by the
staff member's keystore, which the server unlocked at start.

Authenticate with `Authorization: Bearer ck_...` (`chaincrm api-key create --staff ADDRESS`). Lists are
paginated with `limit` and the opaque `next_cursor`; reads carry an `ETag` (send it back in
`If-None-Match` for a 304). A write with an `Idempotency-Key` header is sent once, however often it is
retried. Errors are `{"error": {"code", "message"}}` with a stable code (`revert` for a contract revert)."""

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="/static/vendor/swagger/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="/static/vendor/swagger/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""


def create_api(portal: Portal) -> FastAPI:
    """The API over `portal` (its CRM, index and configuration: signers, integration database)."""
    api = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses={400: {"model": ErrorAnswer}, 401: {"model": ErrorAnswer}},
        exception_handlers={
            ApiError: api_error,
            ChainCrmError: package_error,
            RequestValidationError: validation_error,
            HTTPException: http_error,
        },
    )
    api.state.api = state = ApiState.open(portal)
    portal.closers.append(state.close)  # Starlette runs no lifespan of a mounted app: the portal closes it
    api.add_middleware(BodyLimit)
    api.add_middleware(LastResort, counter=portal)  # outermost of ours: sees what every handler missed
    for module in (customers, deals, invoices, interactions, kpis):
        api.include_router(module.router)

    @api.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(DOCS_PAGE.format(title=TITLE, openapi_url=f"{root}/openapi.json"))

    return api


__all__ = ["create_api"]
