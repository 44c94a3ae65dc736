"""The REST API (FastAPI, mounted by the portal at /api/v1): reads from the index, writes signed
by the staff keystores the server unlocked, API keys, idempotent retries.

==================  ==============================================================================
``app``             :func:`create_api`: the FastAPI app, its error handlers and the docs page
``routers``         one router per resource: customers, deals, invoices, interactions, kpis
``models``          request and response models (pydantic), the JSON conventions
``auth``            API keys on each request, and a write's role and signer
``writes``          running a write: Idempotency-Key, a lock per signer, reverts decoded
``answers``         ETags, 304, cursors
``params``          query parameters shared by the lists
``errors``          the error shape, codes and handlers; the last-resort middleware
``keys``            API keys, stored hashed (``chaincrm api-key``)
``idempotency``     Idempotency-Key records
``database``        the integration database (keys, idempotency, webhooks)
``state``           what the API builds once
==================  ==============================================================================

``create_api`` is imported on first use: ``chaincrm api-key`` needs only the keys and the
database, not FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaincrm.api.app import create_api


def __getattr__(name: str) -> Any:
    if name == "create_api":
        from chaincrm.api.app import create_api

        return create_api
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_api"]
