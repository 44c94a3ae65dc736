"""Relaying a customer's signed consent change or grant revocation, so the customer needs no ETH.

The customer's wallet signs EIP-712 typed data (:func:`typed_data` builds it for
``eth_signTypedData_v4``); the portal's relayer key sends it. Nothing is sent unless every check
passes, in this order, each with its own code:

1. the body has the spec'd shape and types (400 ``invalid_request``: :func:`parse_relay`);
2. the session's address is the customer's wallet on chain now (403 ``not_your_customer``);
3. the signature recovers to that wallet for this chain id and registry (400 ``signature_invalid``:
   one made for another chain, contract or customer recovers to another address);
4. its deadline has not passed (400 ``signature_expired``);
5. its nonce is the customer's on-chain nonce (409 ``signature_replayed``);
6. the contract accepts the call: a dry run (gas estimation) whose revert is decoded (409
   ``contract_refused`` with the error's name and arguments);
7. the relayer holds at least twice the call's cost (503 ``relayer_balance_low``).

Steps 5 to sending run under one lock, so two relayed calls never race for the relayer's
transaction nonce or the customer's signature nonce.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.contracts.client import Crm
from chaincrm.contracts.signatures import (
    REVOKE_ACCESS_TYPES,
    SET_CONSENT_TYPES,
    AccessRevocation,
    ConsentChange,
    domain,
)
from chaincrm.contracts.typed_data import EIP712_DOMAIN_TYPE
from chaincrm.errors import ContractRevert
from chaincrm.models import Purpose
from chaincrm.portal.auth import SECP256K1_HALF_N
from chaincrm.portal.config import SIGNATURE_LIFETIME_SECONDS
from chaincrm.portal.security import Refusal

CONSENT = "consent"
REVOKE = "revoke"
UINT256_MAX = 2**256 - 1
MAX_ID = 2**64 - 1
SIGNATURE_BYTES = 65
BALANCE_MARGIN = 2  # the relayer must hold this many times the call's cost
_FIELDS = {
    CONSENT: {"action", "customer_id", "purpose", "granted", "nonce", "deadline", "signature"},
    REVOKE: {"action", "customer_id", "staff", "nonce", "deadline", "signature"},
}
_PURPOSES = {purpose.label: purpose for purpose in Purpose}


class RelayRefused(Refusal):
    """A relayed call refused before anything was sent."""


def _invalid(message: str) -> RelayRefused:
    return RelayRefused("invalid_request", message, 400)


@dataclass(frozen=True)
class RelayRequest:
    action: str
    customer_id: int
    nonce: int
    deadline: int
    signature: bytes
    purpose: Purpose | None = None  # consent
    granted: bool | None = None  # consent
    staff: ChecksumAddress | None = None  # revoke


def parse_relay(body: Any) -> RelayRequest:
    """The relay body, strictly: exactly the action's fields, each of its JSON type and range."""
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object")
    action = body.get("action")
    if action not in _FIELDS:
        raise _invalid('action must be "consent" or "revoke"')
    fields = set(body)
    if fields != _FIELDS[action]:
        missing, extra = sorted(_FIELDS[action] - fields), sorted(fields - _FIELDS[action])
        raise _invalid(f"{action} needs exactly {sorted(_FIELDS[action])} (missing {missing}, unexpected {extra})")
    customer_id = _integer(body, "customer_id", 1, MAX_ID)
    nonce = _integer(body, "nonce", 0, UINT256_MAX)
    deadline = _integer(body, "deadline", 0, UINT256_MAX)
    signature = _signature(body["signature"])
    if action == CONSENT:
        granted = body["granted"]
        if not isinstance(granted, bool):
            raise _invalid("granted must be true or false")
        return RelayRequest(action, customer_id, nonce, deadline, signature, purpose_named(body["purpose"]), granted)
    return RelayRequest(action, customer_id, nonce, deadline, signature, staff=address_of(body["staff"], "staff"))


def purpose_named(value: Any) -> Purpose:
    if not isinstance(value, str) or value not in _PURPOSES:
        raise _invalid(f"purpose must be one of {sorted(_PURPOSES)}")
    return _PURPOSES[value]


def address_of(value: Any, name: str) -> ChecksumAddress:
    if not isinstance(value, str):
        raise _invalid(f"{name} must be an address string")
    try:
        return parse_address(value)
    except AddressProblem:
        raise _invalid(f"{name} is not an address (0x and 40 hex digits, EIP-55 if mixed case)") from None


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"{name} must be a whole number from {low} to {high}")
    return value


def _signature(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 2 + 2 * SIGNATURE_BYTES:
        raise _invalid("signature must be 65 bytes of 0x-prefixed hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise _invalid("signature must be 65 bytes of 0x-prefixed hex") from None


def _types(action: str) -> dict[str, list[dict[str, str]]]:
    return SET_CONSENT_TYPES if action == CONSENT else REVOKE_ACCESS_TYPES


def _message(request: RelayRequest) -> dict[str, Any]:
    if request.action == CONSENT:
        assert request.purpose is not None
        return {
            "customerId": request.customer_id,
            "purpose": int(request.purpose),
            "granted": request.granted,
            "nonce": request.nonce,
            "deadline": request.deadline,
        }
    return {
        "customerId": request.customer_id,
        "staff": request.staff,
        "nonce": request.nonce,
        "deadline": request.deadline,
    }


def typed_data(request: RelayRequest, chain_id: int, registry: str) -> dict[str, Any]:
    """The EIP-712 JSON a wallet signs with eth_signTypedData_v4; uint256 values as decimal strings
    (a JavaScript number cannot hold them all)."""
    message = {
        key: str(value) if isinstance(value, int) and not isinstance(value, bool) and key != "purpose" else value
        for key, value in _message(request).items()
    }
    (primary,) = _types(request.action)
    return {
        "domain": domain(chain_id, registry),
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, **_types(request.action)},
        "primaryType": primary,
        "message": message,
    }


class Relayer:
    """Checks and sends relayed calls with one key (None: every call answers relayer_unavailable)."""

    def __init__(self, crm: Crm, account: LocalAccount | None) -> None:
        self.crm = crm
        self.account = account
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.account is not None

    def chain_now(self) -> int:
        """The time a transaction sent now is checked at: the later of the wall clock and the
        newest block (a development chain's clock may run ahead)."""
        chain = self.crm.chain
        latest = int(chain.rpc(lambda: chain.w3.eth.get_block("latest"))["timestamp"])
        return max(int(time.time()), latest)

    def proposal(self, request: RelayRequest) -> RelayRequest:
        """`request` with the current nonce and a deadline SIGNATURE_LIFETIME_SECONDS from now."""
        nonce = self.crm.registry.nonce_of(request.customer_id)
        return RelayRequest(
            request.action,
            request.customer_id,
            nonce,
            self.chain_now() + SIGNATURE_LIFETIME_SECONDS,
            b"",
            request.purpose,
            request.granted,
            request.staff,
        )

    def wallet_of(self, customer_id: int) -> ChecksumAddress | None:
        try:
            return self.crm.registry.customer(customer_id).wallet
        except ContractRevert:  # CustomerUnknown
            return None

    def relay(self, request: RelayRequest, session_address: str) -> dict[str, Any]:
        """Check everything (see the module docstring), then send and wait for the receipt."""
        if self.account is None:
            raise RelayRefused(
                "relayer_unavailable",
                "this portal has no relayer key: send the change from your own wallet instead",
                503,
            )
        wallet = self.wallet_of(request.customer_id)
        if wallet is None or wallet != to_checksum_address(session_address):
            raise RelayRefused(
                "not_your_customer", f"customer {request.customer_id} is not bound to the signed-in wallet", 403
            )
        chain_id, registry = self.crm.chain.chain_id, self.crm.registry.address
        signable = encode_typed_data(domain(chain_id, registry), _types(request.action), _message(request))
        try:
            signer = Account.recover_message(signable, signature=request.signature)
        except Exception:  # eth-keys raises its own errors for an out-of-range r, s or v
            signer = None
        if int.from_bytes(request.signature[32:64], "big") > SECP256K1_HALF_N:  # the registry refuses a high s
            signer = None
        if signer != wallet:
            raise RelayRefused(
                "signature_invalid",
                f"the signature is not the wallet's for customer {request.customer_id} on chain {chain_id} and "
                f"registry {registry}",
                400,
            )
        if request.deadline <= self.chain_now():
            raise RelayRefused("signature_expired", "the signature's deadline has passed: sign again", 400)
        with self._lock:
            current = self.crm.registry.nonce_of(request.customer_id)
            if request.nonce != current:
                raise RelayRefused(
                    "signature_replayed",
                    f"the signature's nonce {request.nonce} is not the customer's current nonce {current}: "
                    "it was used already, or made for another change; sign again",
                    409,
                )
            return self._send(request)

    def _send(self, request: RelayRequest) -> dict[str, Any]:
        account = self.account
        assert account is not None
        chain, registry = self.crm.chain, self.crm.registry
        if request.action == CONSENT:
            assert request.purpose is not None and request.granted is not None
            fn = registry.contract.functions.setConsentBySig(
                request.customer_id, int(request.purpose), request.granted, request.deadline, request.signature
            )
        else:
            fn = registry.contract.functions.revokeAccessBySig(
                request.customer_id, request.staff, request.deadline, request.signature
            )
        try:
            gas = chain.gas_limit(fn, account)
        except ContractRevert as revert:
            shown = {key: "0x" + v.hex() if isinstance(v, bytes) else str(v) for key, v in revert.args_by_name.items()}
            raise RelayRefused(
                "contract_refused",
                f"the registry refuses this change: {revert}",
                409,
                revert={"name": revert.name, "args": shown},
            ) from None
        max_fee, _tip = chain.fees()
        balance = int(chain.rpc(lambda: chain.w3.eth.get_balance(account.address)))
        if balance < BALANCE_MARGIN * gas * max_fee:
            raise RelayRefused(
                "relayer_balance_low",
                "the portal's relayer account is out of ETH, so it cannot send your change now; you can send the "
                "same change from your own wallet instead (by a transaction)",
                503,
            )
        receipt = self._submit(request, account)
        return {
            "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
            "block_number": int(receipt["blockNumber"]),
            "gas_used": int(receipt["gasUsed"]),
        }

    def _submit(self, request: RelayRequest, account: LocalAccount) -> Any:
        chain_id, registry = self.crm.chain.chain_id, self.crm.registry.address
        if request.action == CONSENT:
            assert request.purpose is not None and request.granted is not None
            change = ConsentChange(
                chain_id,
                registry,
                request.customer_id,
                request.purpose,
                request.granted,
                request.nonce,
                request.deadline,
                request.signature,
            )
            return self.crm.registry.set_consent_by_sig(change, account)
        assert request.staff is not None
        revocation = AccessRevocation(
            chain_id, registry, request.customer_id, request.staff, request.nonce, request.deadline, request.signature
        )
        return self.crm.registry.revoke_access_by_sig(revocation, account)


__all__ = [
    "CONSENT",
    "REVOKE",
    "RelayRefused",
    "RelayRequest",
    "Relayer",
    "address_of",
    "parse_relay",
    "purpose_named",
    "typed_data",
]
