"""The customer portal (``chaincrm serve``): pay an invoice with a browser wallet (in ETH or an
ERC-20, by permit or approve-then-pay, redeeming loyalty points), see your own records and points,
accept a manager's signed offer, and change consent or revoke a grant by a signature the portal
relays.

A thin Starlette layer over the SDK and the index:

============  ====================================================================================
``config``    :class:`PortalConfig`: deployment, index, public URL, relayer, limits
``state``     what is built once: the CRM client, escrow terms, the engine, sessions, the relayer
``app``       :func:`create_app`: routes, middleware, error handlers, the lifespan
``pages``     the HTML pages (templates with their data as JSON)
``api``       the JSON API
``reads``     the index read back as JSON
``tokens``    ERC-20 symbols and decimals (read once), amounts in their currency's units
``auth``      Sign-In with Ethereum and the session cookie
``relayer``   checking and sending relayed EIP-712 signatures
``security``  headers, closed CORS, same-origin POSTs, rate limits
``follower``  the indexer in a thread
============  ====================================================================================
"""

from __future__ import annotations

from chaincrm.portal.app import create_app
from chaincrm.portal.config import PortalConfig, RateLimits

__all__ = ["PortalConfig", "RateLimits", "create_app"]
