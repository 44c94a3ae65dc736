"""An offer against the chain: its uses, whether it is cancelled or expired, and the checks made
before a transaction is sent, so a refusal the contract would make costs nothing.

Each refusal is the pipeline's own custom error (``OfferExpired(expiry=...)``,
``OfferNotForCaller(...)``), raised before sending when it can be seen from here; what cannot be
(a smart-wallet issuer's ERC-1271 signature) is left to the contract, whose revert is decoded to
the same names.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from eth_utils import to_checksum_address

from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm
from chaincrm.contracts.offers import Offer
from chaincrm.errors import ConfigError
from chaincrm.models import CustomerStatus, Role

ACCEPT_PATH = "/offers/accept"


@dataclass(frozen=True)
class OfferStatus:
    digest: bytes
    uses: int
    cancelled: bool
    expired: bool
    chain_time: int  # timestamp of the latest block: what `expired` is judged by
    block_number: int

    @property
    def usable(self) -> bool:
        return not self.cancelled and not self.expired


def check_deployment(crm: Crm, offer: Offer) -> None:
    """The offer was signed for this chain and this pipeline (else no check below means anything)."""
    if offer.chain_id != crm.chain.chain_id or offer.pipeline != crm.pipeline.address:
        raise ConfigError(
            f"the offer is for the pipeline {offer.pipeline} on chain {offer.chain_id}, not this deployment's "
            f"{crm.pipeline.address} on chain {crm.chain.chain_id}"
        )


def offer_status(crm: Crm, offer: Offer) -> OfferStatus:
    check_deployment(crm, offer)
    block = crm.chain.block_number("latest")
    now = crm.chain.block_timestamp(block)
    pipeline = crm.pipeline
    return OfferStatus(
        digest=offer.digest,
        uses=pipeline.offer_uses(offer.digest),
        cancelled=pipeline.offer_cancelled(offer.issuer, offer.nonce),
        expired=now > offer.expiry,
        chain_time=now,
        block_number=block,
    )


def check_acceptable(crm: Crm, offer: Offer, caller: str) -> OfferStatus:
    """Refuse, as the contract would and before anything is sent: another wallet than the
    customer's, an expired, used-up or cancelled offer, a bad signature, an issuer no longer a manager."""
    status = offer_status(crm, offer)
    caller = to_checksum_address(caller)
    if status.expired:
        raise revert_type("OfferExpired")("OfferExpired", {"expiry": offer.expiry})
    if status.cancelled:
        raise revert_type("OfferIsCancelled")("OfferIsCancelled", {"issuer": offer.issuer, "nonce": offer.nonce})
    customer = crm.registry.customer(offer.customer_id)
    if customer.status is not CustomerStatus.ACTIVE or customer.wallet != caller:
        raise revert_type("OfferNotForCaller")("OfferNotForCaller", {"customerId": offer.customer_id, "caller": caller})
    if offer.recovered_signer() != offer.issuer and not crm.chain.codes([offer.issuer])[0]:
        raise revert_type("OfferSignatureInvalid")("OfferSignatureInvalid", {"issuer": offer.issuer})
    if not crm.registry.has_role(Role.MANAGER, offer.issuer):
        raise revert_type("OfferIssuerNotManager")("OfferIssuerNotManager", {"issuer": offer.issuer})
    if status.uses >= offer.max_uses:
        raise revert_type("OfferUsedUp")("OfferUsedUp", {"digest": offer.digest, "maxUses": offer.max_uses})
    return status


def check_cancellable(crm: Crm, offer: Offer, caller: str) -> OfferStatus:
    """Only the issuer cancels (the contract cancels the *caller's* nonce, so another wallet's
    cancel would withdraw nothing and say nothing); a cancelled offer is not cancelled twice."""
    status = offer_status(crm, offer)
    if to_checksum_address(caller) != offer.issuer:
        raise ConfigError(f"only the offer's issuer {offer.issuer} can cancel it, not {to_checksum_address(caller)}")
    if status.cancelled:
        raise revert_type("OfferIsCancelled")("OfferIsCancelled", {"issuer": offer.issuer, "nonce": offer.nonce})
    return status


def public_base(public_url: str) -> str:
    """`public_url` as ``scheme://host[:port]``; a ConfigError unless it is http(s)://HOST[:PORT]."""
    parts = urlsplit(public_url.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ConfigError(f"the public URL {public_url!r} must be http(s)://HOST[:PORT] with no path")
    return f"{parts.scheme}://{parts.netloc}"


def accept_link(public_url: str, offer: Offer) -> str:
    """The portal's page to accept `offer`: ``<public_url>/offers/accept#<base64url of its JSON>``
    (the JSON of :meth:`Offer.to_json` without whitespace; base64url unpadded). The offer rides in
    the fragment, which browsers never send to the server."""
    compact = json.dumps(json.loads(offer.to_json()), sort_keys=True, separators=(",", ":"))
    encoded = base64.urlsafe_b64encode(compact.encode()).rstrip(b"=").decode()
    return f"{public_base(public_url)}{ACCEPT_PATH}#{encoded}"


def offer_from_link(link: str) -> Offer:
    """The offer in an accept link (what the portal page decodes)."""
    fragment = urlsplit(link).fragment
    try:
        text = base64.urlsafe_b64decode(fragment + "=" * (-len(fragment) % 4)).decode()
    except ValueError:
        raise ConfigError("the link carries no offer") from None
    return Offer.from_json(text)


__all__ = [
    "ACCEPT_PATH",
    "OfferStatus",
    "accept_link",
    "check_acceptable",
    "check_cancellable",
    "check_deployment",
    "offer_from_link",
    "offer_status",
    "public_base",
]
