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

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

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


class _SignedMessage:
    """What every signed message shares: its JSON form, named by the message's one EIP-712 type.

    Each field is read back from JSON by its annotated type (:data:`_READERS`)."""

    TYPES: ClassVar[dict[str, list[dict[str, str]]]]

    def to_json(self) -> str:
        (kind,) = self.TYPES
        return _dump(kind, self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Self:
        (kind,) = cls.TYPES
        declared = dataclasses.fields(cls)  # type: ignore[arg-type]
        found = _load(text, kind, [field.name for field in declared])
        return cls(**{field.name: _READERS[str(field.type)](found, field.name) for field in declared})


_Message = TypeVar("_Message", bound=_SignedMessage)


@dataclass(frozen=True)
class WalletAcceptance(_SignedMessage):
    """The wallet's signed acceptance of being bound to a customer."""

    TYPES: ClassVar[dict[str, list[dict[str, str]]]] = ACCEPT_WALLET_TYPES

    chain_id: int
    registry: ChecksumAddress
    customer_id: int
    wallet: ChecksumAddress
    public_key: bytes
    nonce: int
    deadline: int
    signature: bytes


@dataclass(frozen=True)
class ConsentChange(_SignedMessage):
    """The customer's signed consent change for one purpose."""

    TYPES: ClassVar[dict[str, list[dict[str, str]]]] = SET_CONSENT_TYPES

    chain_id: int
    registry: ChecksumAddress
    customer_id: int
    purpose: Purpose
    granted: bool
    nonce: int
    deadline: int
    signature: bytes


@dataclass(frozen=True)
class AccessRevocation(_SignedMessage):
    """The customer's signed revocation of one staff member's grant (no re-sealed version: a
    reader re-seals the profile afterwards)."""

    TYPES: ClassVar[dict[str, list[dict[str, str]]]] = REVOKE_ACCESS_TYPES

    chain_id: int
    registry: ChecksumAddress
    customer_id: int
    staff: ChecksumAddress
    nonce: int
    deadline: int
    signature: bytes


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
    fields = {"customer_id": customer_id, "wallet": to_checksum_address(wallet.address), "public_key": public_key}
    return _sign(WalletAcceptance, wallet, chain_id, registry, nonce, deadline, fields)


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
    fields = {"customer_id": customer_id, "purpose": purpose, "granted": granted}
    return _sign(ConsentChange, wallet, chain_id, registry, nonce, deadline, fields)


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
    fields = {"customer_id": customer_id, "staff": to_checksum_address(staff)}
    return _sign(AccessRevocation, wallet, chain_id, registry, nonce, deadline, fields)


def _sign(
    kind: type[_Message],
    wallet: LocalAccount,
    chain_id: int,
    registry: str,
    nonce: int,
    deadline: int,
    fields: dict[str, Any],
) -> _Message:
    """Sign `kind`'s typed data: the message is `fields` (snake_case, as the dataclass names them)
    with the nonce and deadline, its keys camelCased as the EIP-712 type names them."""
    message = {_camel(name): int(value) if isinstance(value, Purpose) else value for name, value in fields.items()}
    message |= {"nonce": nonce, "deadline": deadline}
    signed = Account.sign_typed_data(wallet.key, domain(chain_id, registry), kind.TYPES, message)
    common = {
        "chain_id": chain_id,
        "registry": to_checksum_address(registry),
        "nonce": nonce,
        "deadline": deadline,
        "signature": bytes(signed.signature),
    }
    return kind(**common, **fields)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _dump(kind: str, fields: dict[str, Any]) -> str:
    shown = {key: _shown(value) for key, value in fields.items()}
    return json.dumps({"type": kind, **shown}, sort_keys=True, indent=2)


def _shown(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Purpose):
        return int(value)
    return value


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


def _bool(fields: dict[str, Any], name: str) -> bool:
    value = fields[name]
    if not isinstance(value, bool):
        raise ConfigError(f"signed message field {name} is not true or false")
    return value


def _purpose(fields: dict[str, Any], name: str) -> Purpose:
    return Purpose(_uint(fields, name))


# A field's reader by its annotation (a string: this module postpones annotations).
_READERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "int": _uint,
    "bool": _bool,
    "bytes": _hex,
    "ChecksumAddress": _address,
    "Purpose": _purpose,
}
