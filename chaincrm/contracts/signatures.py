"""EIP-712 messages a customer's wallet signs so that staff can relay them (the customer needs no ETH).

One typed-data definition per message, shared by the registry's typehashes (see
``contracts/CrmRegistry.sol``), this signer and any other client. The domain binds the chain id
and the registry; every message carries the customer's nonce (``nonces(customerId)``, shared by
all three messages) and a deadline, so a signature is good once, on one chain, for one registry, until
its deadline.

A signed message travels as JSON (``to_json``/``from_json``): the customer signs with their own
keystore, hands the file to staff, and staff relay it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.errors import ConfigError
from chaincrm.models import Purpose

DOMAIN_NAME = "chaincrm CrmRegistry"
DOMAIN_VERSION = "2"
PUBLIC_KEY_BYTES = 64

ACCEPT_WALLET_TYPES = {
    "AcceptWallet": [
        {"name": "customerId", "type": "uint256"},
        {"name": "wallet", "type": "address"},
        {"name": "publicKey", "type": "bytes"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
SET_CONSENT_TYPES = {
    "SetConsent": [
        {"name": "customerId", "type": "uint256"},
        {"name": "purpose", "type": "uint8"},
        {"name": "granted", "type": "bool"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}

REVOKE_ACCESS_TYPES = {
    "RevokeAccess": [
        {"name": "customerId", "type": "uint256"},
        {"name": "staff", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


def domain(chain_id: int, registry: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(registry),
    }


@dataclass(frozen=True)
class WalletAcceptance:
    """The wallet's signed acceptance of being bound to a customer."""

    chain_id: int
    registry: ChecksumAddress
    customer_id: int
    wallet: ChecksumAddress
    public_key: bytes
    nonce: int
    deadline: int
    signature: bytes

    def to_json(self) -> str:
        return _dump("AcceptWallet", self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> WalletAcceptance:
        fields = _load(text, "AcceptWallet", cls.__dataclass_fields__)
        return cls(
            chain_id=_uint(fields, "chain_id"),
            registry=_address(fields, "registry"),
            customer_id=_uint(fields, "customer_id"),
            wallet=_address(fields, "wallet"),
            public_key=_hex(fields, "public_key"),
            nonce=_uint(fields, "nonce"),
            deadline=_uint(fields, "deadline"),
            signature=_hex(fields, "signature"),
        )


@dataclass(frozen=True)
class ConsentChange:
    """The customer's signed consent change for one purpose."""

    chain_id: int
    registry: ChecksumAddress
    customer_id: int
    purpose: Purpose
    granted: bool
    nonce: int
    deadline: int
    signature: bytes

    def to_json(self) -> str:
        return _dump("SetConsent", {**self.__dict__, "purpose": int(self.purpose)})

    @classmethod
    def from_json(cls, text: str) -> ConsentChange:
        fields = _load(text, "SetConsent", cls.__dataclass_fields__)
        granted = fields["granted"]
        if not isinstance(granted, bool):
            raise ConfigError("signed message field granted is not true or false")
        return cls(
            chain_id=_uint(fields, "chain_id"),
            registry=_address(fields, "registry"),
            customer_id=_uint(fields, "customer_id"),
            purpose=Purpose(_uint(fields, "purpose")),
            granted=granted,
            nonce=_uint(fields, "nonce"),
            deadline=_uint(fields, "deadline"),
            signature=_hex(fields, "signature"),
        )


@dataclass(frozen=True)
class AccessRevocation:
    """The customer's signed revocation of one staff member's grant (no re-sealed version: a
    reader re-seals the profile afterwards)."""

    chain_id: int
    registry: ChecksumAddress
    customer_id: int
    staff: ChecksumAddress
    nonce: int
    deadline: int
    signature: bytes

    def to_json(self) -> str:
        return _dump("RevokeAccess", self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> AccessRevocation:
        fields = _load(text, "RevokeAccess", cls.__dataclass_fields__)
        return cls(
            chain_id=_uint(fields, "chain_id"),
            registry=_address(fields, "registry"),
            customer_id=_uint(fields, "customer_id"),
            staff=_address(fields, "staff"),
            nonce=_uint(fields, "nonce"),
            deadline=_uint(fields, "deadline"),
            signature=_hex(fields, "signature"),
        )


def sign_wallet_acceptance(
    wallet: LocalAccount,
    *,
    chain_id: int,
    registry: str,
    customer_id: int,
    public_key: bytes,
    nonce: int,
    deadline: int,
) -> WalletAcceptance:
    """Sign `AcceptWallet` with the wallet's own key."""
    message = {
        "customerId": customer_id,
        "wallet": wallet.address,
        "publicKey": public_key,
        "nonce": nonce,
        "deadline": deadline,
    }
    signed = Account.sign_typed_data(wallet.key, domain(chain_id, registry), ACCEPT_WALLET_TYPES, message)
    return WalletAcceptance(
        chain_id=chain_id,
        registry=to_checksum_address(registry),
        customer_id=customer_id,
        wallet=to_checksum_address(wallet.address),
        public_key=public_key,
        nonce=nonce,
        deadline=deadline,
        signature=bytes(signed.signature),
    )


def sign_consent_change(
    wallet: LocalAccount,
    *,
    chain_id: int,
    registry: str,
    customer_id: int,
    purpose: Purpose,
    granted: bool,
    nonce: int,
    deadline: int,
) -> ConsentChange:
    """Sign `SetConsent` with the customer's wallet."""
    message = {
        "customerId": customer_id,
        "purpose": int(purpose),
        "granted": granted,
        "nonce": nonce,
        "deadline": deadline,
    }
    signed = Account.sign_typed_data(wallet.key, domain(chain_id, registry), SET_CONSENT_TYPES, message)
    return ConsentChange(
        chain_id=chain_id,
        registry=to_checksum_address(registry),
        customer_id=customer_id,
        purpose=purpose,
        granted=granted,
        nonce=nonce,
        deadline=deadline,
        signature=bytes(signed.signature),
    )


def sign_access_revocation(
    wallet: LocalAccount,
    *,
    chain_id: int,
    registry: str,
    customer_id: int,
    staff: str,
    nonce: int,
    deadline: int,
) -> AccessRevocation:
    """Sign `RevokeAccess` with the customer's wallet."""
    message = {
        "customerId": customer_id,
        "staff": to_checksum_address(staff),
        "nonce": nonce,
        "deadline": deadline,
    }
    signed = Account.sign_typed_data(wallet.key, domain(chain_id, registry), REVOKE_ACCESS_TYPES, message)
    return AccessRevocation(
        chain_id=chain_id,
        registry=to_checksum_address(registry),
        customer_id=customer_id,
        staff=to_checksum_address(staff),
        nonce=nonce,
        deadline=deadline,
        signature=bytes(signed.signature),
    )


def _dump(kind: str, fields: dict[str, Any]) -> str:
    shown = {key: "0x" + value.hex() if isinstance(value, bytes) else value for key, value in fields.items()}
    return json.dumps({"type": kind, **shown}, sort_keys=True, indent=2)


def _load(text: str, kind: str, expected: Any) -> dict[str, Any]:
    try:
        fields = json.loads(text)
    except ValueError:
        raise ConfigError("the signed message is not JSON") from None
    if not isinstance(fields, dict) or fields.get("type") != kind:
        raise ConfigError(f"the signed message is not a {kind} message")
    fields.pop("type")
    if set(fields) != set(expected):
        raise ConfigError(f"the signed {kind} message has fields {sorted(fields)}, expected {sorted(expected)}")
    return fields


def _uint(fields: dict[str, Any], name: str) -> int:
    value = fields[name]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**256:
        raise ConfigError(f"signed message field {name} is not an unsigned integer")
    return value


def _address(fields: dict[str, Any], name: str) -> ChecksumAddress:
    try:
        return parse_address(fields[name])
    except AddressProblem:
        raise ConfigError(f"signed message field {name} is not an address") from None


def _hex(fields: dict[str, Any], name: str) -> bytes:
    value = fields[name]
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ConfigError(f"signed message field {name} is not 0x-prefixed hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ConfigError(f"signed message field {name} is not 0x-prefixed hex") from None
