"""Helpers for the offer, currency and loyalty contract tests: EIP-712 offers, EIP-2612 permits,
the test stablecoin and driving deals to Won.

Plain functions, not fixtures: each test module wraps the few it needs in its own fixtures (the
shared ones live in conftest.py).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.contracts.helpers import CONTRACTING, NEGOTIATION, PROPOSAL, QUALIFIED, WON

# The pipeline's EIP-712 domain and offer type, stated here independently of the contract.
PIPELINE_DOMAIN_NAME = "chaincrm DealPipeline"
PIPELINE_DOMAIN_VERSION = "1"
OFFER_TYPES = {
    "Offer": [
        {"name": "customerId", "type": "uint256"},
        {"name": "discountBps", "type": "uint16"},
        {"name": "expiry", "type": "uint64"},
        {"name": "maxUses", "type": "uint32"},
        {"name": "nonce", "type": "uint256"},
    ]
}
PERMIT_TYPES = {
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
OFFER_LIFETIME_SECONDS = 7 * 24 * 3600
BPS = 10_000
WAD = 10**18
UINT96_MAX = 2**96 - 1
UINT128_MAX = 2**128 - 1
STABLECOIN_UNIT = 10**6  # the test stablecoin has 6 decimals
# A throwaway key for a manager the tests create with accounts.add() (never a real key).
OFFER_MANAGER_KEY = keccak(b"chaincrm contract tests: offer manager")
OUTSIDER_KEY = keccak(b"chaincrm contract tests: offer signer without a role")


@dataclass(frozen=True)
class Offer:
    customerId: int
    discountBps: int
    expiry: int
    maxUses: int
    nonce: int

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        """The offer as the contract's struct argument."""
        return astuple(self)

    def message(self) -> dict[str, int]:
        return {
            "customerId": self.customerId,
            "discountBps": self.discountBps,
            "expiry": self.expiry,
            "maxUses": self.maxUses,
            "nonce": self.nonce,
        }


def new_offer(
    customer_id: int,
    discount_bps: int = 1_000,
    expiry: int | None = None,
    max_uses: int = 1,
    nonce: int | None = None,
) -> Offer:
    """An offer; by default 10 %, once, valid for a week from the latest block, with a random
    nonce as the SDK gives it (so two tests never sign the same digest: a test's state leaking past
    Brownie's isolation once made an identical offer look used up)."""
    import secrets

    from brownie import chain

    expiry = chain[-1].timestamp + OFFER_LIFETIME_SECONDS if expiry is None else expiry
    return Offer(customer_id, discount_bps, expiry, max_uses, secrets.randbits(256) if nonce is None else nonce)


def pipeline_domain(pipeline) -> dict:
    from brownie import chain

    return {
        "name": PIPELINE_DOMAIN_NAME,
        "version": PIPELINE_DOMAIN_VERSION,
        "chainId": chain.id,
        "verifyingContract": pipeline.address,
    }


def offer_digest(pipeline, offer: Offer) -> bytes:
    """The EIP-712 digest of `offer`, computed in Python: keccak256(0x1901 ‖ domain ‖ struct hash)."""
    signable = encode_typed_data(pipeline_domain(pipeline), OFFER_TYPES, offer.message())
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_offer(pipeline, private_key: bytes, offer: Offer) -> bytes:
    """The 65-byte EIP-712 signature of `offer` by `private_key`."""
    signed = Account.sign_typed_data(private_key, pipeline_domain(pipeline), OFFER_TYPES, offer.message())
    return bytes(signed.signature)


def sign_permit(token, private_key: bytes, owner, spender, value: int, deadline: int) -> tuple[int, bytes, bytes]:
    """(v, r, s) of an EIP-2612 permit for `token` (its name as the domain name, version "1")."""
    from brownie import chain

    domain = {
        "name": token.name(),
        "version": "1",
        "chainId": chain.id,
        "verifyingContract": token.address,
    }
    message = {
        "owner": str(owner),
        "spender": str(spender),
        "value": value,
        "nonce": token.nonces(owner),
        "deadline": deadline,
    }
    signed = Account.sign_typed_data(private_key, domain, PERMIT_TYPES, message)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def discounted(value: int, discount_bps: int) -> int:
    """What the pipeline invoices for a deal of `value` with a discount: the discount rounds down."""
    return value - value * discount_bps // BPS


def deploy_stablecoin(token_class, escrow, admin, allowed: bool = True):
    """A 6-decimal test stablecoin, allow-listed by the escrow's admin unless `allowed` is False."""
    token = token_class.deploy("Test Dollar", "TUSD", {"from": admin})
    if allowed:
        escrow.allowToken(token, True, {"from": admin})
    return token


def add_manager(accounts, registry, admin, private_key: bytes):
    """A fresh account (from `private_key`) holding MANAGER_ROLE."""
    account = accounts.add(private_key)
    registry.grantRole(registry.MANAGER_ROLE(), account, {"from": admin})
    return account


def advance(pipeline, deal_id: int, by, stages) -> None:
    for stage in stages:
        pipeline.moveStage(deal_id, stage, {"from": by})


def to_contracting(pipeline, deal_id: int, by) -> None:
    """Move an open deal from its stage (Lead or Proposal) up to Contracting."""
    stage = pipeline.dealOf(deal_id)["stage"]
    path = (QUALIFIED, PROPOSAL, NEGOTIATION, CONTRACTING)
    advance(pipeline, deal_id, by, path[path.index(stage) + 1 :] if stage in path else path)


def win(pipeline, deal_id: int, by) -> int:
    """Drive an open deal to Won by `by`; returns the invoice the pipeline issued."""
    to_contracting(pipeline, deal_id, by)
    tx = pipeline.moveStage(deal_id, WON, {"from": by})
    return tx.events["DealInvoiced"]["invoiceId"]
