"""Discount offers: a manager's EIP-712 signature that a customer redeems with their own wallet.

One typed-data definition, shared by the pipeline's typehash (``contracts/DealPipeline.sol``),
this signer and the portal::

    Offer(uint256 customerId,uint16 discountBps,uint64 expiry,uint32 maxUses,uint256 nonce)

under the domain ``{name: "chaincrm DealPipeline", version: "1", chainId, verifyingContract:
the pipeline}``. The nonce is the issuer's choice (random 256 bits by default), so offers need no
on-chain counter; the pipeline counts each offer's uses by its digest and lets its issuer cancel
it by nonce (``cancelOffer``).

An offer travels as JSON (:meth:`Offer.to_json`/:meth:`Offer.from_json`, the same form as the
registry's signed messages in :mod:`chaincrm.contracts.signatures`): the issuer and the signature
travel with the fields, so the customer needs nothing else to accept it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from chaincrm.contracts.signatures import _SignedMessage
from chaincrm.contracts.typed_data import EIP712_DOMAIN_TYPE
from chaincrm.errors import ConfigError

DOMAIN_NAME = "chaincrm DealPipeline"
DOMAIN_VERSION = "1"
NONCE_BITS = 256
UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
BPS_PER_WHOLE = 10_000

OFFER_TYPES = {
    "Offer": [
        {"name": "customerId", "type": "uint256"},
        {"name": "discountBps", "type": "uint16"},
        {"name": "expiry", "type": "uint64"},
        {"name": "maxUses", "type": "uint32"},
        {"name": "nonce", "type": "uint256"},
    ]
}
OFFER_TYPE_STRING = "Offer(uint256 customerId,uint16 discountBps,uint64 expiry,uint32 maxUses,uint256 nonce)"
OFFER_TYPEHASH = keccak(text=OFFER_TYPE_STRING)


def domain(chain_id: int, pipeline: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(pipeline),
    }


@dataclass(frozen=True)
class Offer(_SignedMessage):
    """A signed discount offer for one customer: `discount_bps` off the deal it is applied to,
    until `expiry` (Unix seconds, chain time), at most `max_uses` times."""

    TYPES: ClassVar[dict[str, list[dict[str, str]]]] = OFFER_TYPES

    chain_id: int
    pipeline: ChecksumAddress
    customer_id: int
    discount_bps: int
    expiry: int
    max_uses: int
    nonce: int
    issuer: ChecksumAddress
    signature: bytes

    def to_json(self) -> str:
        """The offer as JSON, its nonce a decimal string: 256 bits are exact in every JSON parser
        only as text (a browser's JSON.parse rounds a number past 2**53)."""
        fields = json.loads(super().to_json())
        fields["nonce"] = str(self.nonce)
        return json.dumps(fields, sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Self:
        try:
            fields = json.loads(text)
        except ValueError:
            raise ConfigError("the offer is not JSON") from None
        if isinstance(fields, dict) and isinstance(fields.get("nonce"), str):
            nonce = fields["nonce"].strip()
            if not nonce.isdigit() or not nonce.isascii():
                raise ConfigError("offer field nonce is not a decimal number")
            fields["nonce"] = int(nonce)
        offer = super().from_json(json.dumps(fields))
        offer.check()
        return offer

    def check(self) -> None:
        """Each field within its Solidity type (a file edited by hand is refused before a call)."""
        for name, value, high in (
            ("discount_bps", self.discount_bps, BPS_PER_WHOLE - 1),  # 100 % is OfferDiscountInvalid
            ("expiry", self.expiry, UINT64_MAX),
            ("max_uses", self.max_uses, UINT32_MAX),
        ):
            if not 0 < value <= high:
                raise ConfigError(f"offer field {name} must be from 1 to {high}, not {value}")
        if self.customer_id == 0:
            raise ConfigError("offer field customer_id must be a customer id (from 1)")

    @property
    def message(self) -> dict[str, int]:
        """The EIP-712 message: the struct's fields as the contract names them."""
        return {
            "customerId": self.customer_id,
            "discountBps": self.discount_bps,
            "expiry": self.expiry,
            "maxUses": self.max_uses,
            "nonce": self.nonce,
        }

    @property
    def as_tuple(self) -> tuple[int, int, int, int, int]:
        """The `Offer` struct as the contract's ABI takes it."""
        return (self.customer_id, self.discount_bps, self.expiry, self.max_uses, self.nonce)

    def signable(self) -> SignableMessage:
        return offer_signable(self.chain_id, self.pipeline, self.message)

    @property
    def digest(self) -> bytes:
        """The EIP-712 digest the issuer signed: what the pipeline counts uses by (`offerUses`)."""
        signable = self.signable()
        return keccak(b"\x19" + signable.version + signable.header + signable.body)

    def recovered_signer(self) -> ChecksumAddress | None:
        """The address whose key made `signature` (an externally owned account), or None when the
        signature does not recover at all. A smart-wallet issuer (ERC-1271) is checked on chain only."""
        try:
            return to_checksum_address(Account.recover_message(self.signable(), signature=self.signature))
        except Exception:  # eth-keys raises several kinds for a malformed signature
            return None

    @property
    def discount_percent(self) -> str:
        """The discount as a percentage: `5`, `2.5`."""
        whole, rest = divmod(self.discount_bps, 100)
        return f"{whole}" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0")


def offer_signable(chain_id: int, pipeline: str, message: dict[str, int]) -> SignableMessage:
    full = {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_TYPE,
            **OFFER_TYPES,
        },
        "primaryType": "Offer",
        "domain": domain(chain_id, pipeline),
        "message": message,
    }
    return encode_typed_data(full_message=full)


def random_nonce() -> int:
    return secrets.randbits(NONCE_BITS)


def sign_offer(
    issuer: LocalAccount,
    *,
    chain_id: int,
    pipeline: str,
    customer_id: int,
    discount_bps: int,
    expiry: int,
    max_uses: int = 1,
    nonce: int | None = None,
) -> Offer:
    """Sign an `Offer` with the issuer's (a manager's) key; the nonce is random 256 bits unless given."""
    unsigned = Offer(
        chain_id=chain_id,
        pipeline=to_checksum_address(pipeline),
        customer_id=customer_id,
        discount_bps=discount_bps,
        expiry=expiry,
        max_uses=max_uses,
        nonce=random_nonce() if nonce is None else nonce,
        issuer=to_checksum_address(issuer.address),
        signature=b"",
    )
    unsigned.check()
    signed = Account.sign_message(unsigned.signable(), issuer.key)
    return Offer(**{**unsigned.__dict__, "signature": bytes(signed.signature)})


__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "OFFER_TYPEHASH",
    "OFFER_TYPES",
    "OFFER_TYPE_STRING",
    "Offer",
    "domain",
    "offer_signable",
    "random_nonce",
    "sign_offer",
]
