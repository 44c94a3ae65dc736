"""Signing deliveries the way Stripe signs its webhooks, and checking such a signature.

Each delivery carries ``Chaincrm-Signature: t=<unix seconds>,v1=<hex>`` where the hex is
HMAC-SHA256 under the endpoint's secret (the whole ``whsec_...`` string, as UTF-8) of
``f"{t}.{body}"``: the timestamp binds the signature to the moment it was sent, so a receiver that
refuses signatures older than a few minutes refuses a replayed capture. A receiver recomputes the
HMAC over the exact bytes it received (before any JSON parsing) and compares in constant time.
Several ``v1=`` entries may appear (any one matching is enough), as in Stripe's scheme.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from chaincrm.errors import ChainCrmError

SIGNATURE_HEADER = "Chaincrm-Signature"
EVENT_ID_HEADER = "Chaincrm-Event-Id"
SCHEME = "v1"
TOLERANCE_SECONDS = 5 * 60


class WebhookSignatureError(ChainCrmError):
    """A delivery's signature is missing, malformed, wrong, or too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under `secret`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Chaincrm-Signature`` header's value for `body`, signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},{SCHEME}={signature(secret, t, body)}"


def verify(
    secret: str, body: bytes, header: str | None, *, tolerance: int = TOLERANCE_SECONDS, now: float | None = None
) -> int:
    """Check a delivery; returns its timestamp. Raises WebhookSignatureError when the header is
    missing or malformed, no v1 signature matches, or the timestamp is more than `tolerance`
    seconds away from `now`."""
    if not header:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is not t=<unix>,v1=<hex>")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise WebhookSignatureError("the signature does not match the body under this secret")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError(f"the signature is {int(current - timestamp)} s old (at most {tolerance} s)")
    return timestamp


__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TOLERANCE_SECONDS",
    "WebhookSignatureError",
    "sign",
    "signature",
    "verify",
]
