"""Constants and small helpers shared by the contract tests."""

from __future__ import annotations

import os
from functools import cache

import coincurve
import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address

DISPUTE_WINDOW_SECONDS = 7 * 24 * 3600
PAYMENT_TERM_SECONDS = 30 * 24 * 3600
DISPUTE_RESOLUTION_SECONDS = 14 * 24 * 3600
TREASURY_DELAY_SECONDS = 8 * 24 * 3600  # longer than the dispute window, as the escrow requires
ADMIN_TRANSFER_DELAY_SECONDS = 3 * 24 * 3600
APPROVAL_THRESHOLD_WEI = 10 * 10**18
PURPOSE_SALES = 1
PURPOSE_SUPPORT = 2
PURPOSE_BILLING = 3
PURPOSE_MARKETING = 4
PURPOSE_AUDIT = 5
PURPOSE_PROFILING = 6
PURPOSE_THIRD_PARTY = 7
MAX_PURPOSE = 7
KIND_CALL = 1
MAX_KIND = 7
OUTCOME_POSITIVE = 1
MAX_OUTCOME = 5
ONE_ETH = 10**18
# The mnemonic Anvil derives its development accounts from: tests need the accounts' keys to sign
# EIP-712 messages and to give the public key a wallet binding carries.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"

# Stage and status codes, as the contracts' enums number them.
LEAD, QUALIFIED, PROPOSAL, NEGOTIATION, CONTRACTING, WON, LOST = range(1, 8)
OPEN, PAID, DISPUTED, RELEASED, REFUNDED, CANCELLED = range(1, 7)


ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = b"\x00" * 32


def random_hash() -> bytes:
    return os.urandom(32)


def new_public_key() -> bytes:
    """The 64-byte uncompressed secp256k1 public key (no 0x04 prefix) of a fresh private key."""
    return coincurve.PrivateKey().public_key.format(compressed=False)[1:]


def _render(value: object) -> str:
    """Render an error argument the way Brownie prints decoded custom errors."""
    if hasattr(value, "address"):  # a Brownie Account or Contract
        value = value.address  # type: ignore[union-attr]
    if isinstance(value, bytes):  # Brownie prints bytesN arguments as Python bytes literals
        return repr(bytes(value))
    if isinstance(value, str) and value.startswith("0x"):
        return value.lower()
    if isinstance(value, bool):
        return str(value)
    return str(value)


def reverts_with(error: str, *args: object):
    """Expect a revert with the custom error `error` and exactly these arguments.

    Brownie decodes custom errors from the contracts' ABIs into "Name: arg1, arg2" with
    lower-case addresses; this builds that text so tests name the error and its arguments.
    """
    import brownie

    message = f"{error}: " + ", ".join(_render(arg) for arg in args)
    return brownie.reverts(message)


@cache
def _anvil_keys() -> dict[str, bytes]:
    Account.enable_unaudited_hdwallet_features()
    keys = {}
    for index in range(20):
        account = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        keys[account.address.lower()] = bytes(account.key)
    return keys


def private_key_of(account) -> bytes:
    """The private key of one of Anvil's development accounts."""
    return _anvil_keys()[str(getattr(account, "address", account)).lower()]


def public_key_of(account) -> bytes:
    """The 64-byte public key (no 0x04 prefix) of one of Anvil's development accounts."""
    return coincurve.PrivateKey(private_key_of(account)).public_key.format(compressed=False)[1:]


def readers_hash(*accounts) -> bytes:
    """keccak256(abi.encodePacked(sorted readers)): what the registry records per profile version."""
    addresses = sorted({str(getattr(a, "address", a)).lower() for a in accounts}, key=lambda a: int(a, 16))
    return keccak(b"".join(bytes.fromhex(a[2:]).rjust(32, b"\x00") for a in addresses))


def create_address(deployer, nonce: int) -> str:
    """The address a CREATE from `deployer` at `nonce` makes (how the escrow learns its issuer)."""
    sender = bytes.fromhex(str(getattr(deployer, "address", deployer))[2:])
    return to_checksum_address(keccak(rlp.encode([sender, nonce]))[12:])


# EIP-712: the registry's domain and its three message types, stated here once, independently of
# the contract and of the SDK (the contract tests and the portal's relay tests import them).
REGISTRY_DOMAIN_NAME = "chaincrm CrmRegistry"
REGISTRY_DOMAIN_VERSION = "2"
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


def registry_domain(registry, chain_id: int | None = None, verifying_contract: str | None = None) -> dict:
    """The registry's EIP-712 domain on the current chain, or with `chain_id`/`verifying_contract`."""
    from brownie import chain

    return {
        "name": REGISTRY_DOMAIN_NAME,
        "version": REGISTRY_DOMAIN_VERSION,
        "chainId": chain.id if chain_id is None else chain_id,
        "verifyingContract": registry.address if verifying_contract is None else verifying_contract,
    }


def sign_registry_message(registry, signer, types: dict, message: dict, **domain_overrides) -> bytes:
    """`signer`'s (an Anvil development account) EIP-712 signature of `message` for the registry."""
    signed = Account.sign_typed_data(
        private_key_of(signer), registry_domain(registry, **domain_overrides), types, message
    )
    return bytes(signed.signature)


SIGNATURE_LIFETIME_SECONDS = 3600


def deadline_ahead() -> int:
    """A signature deadline SIGNATURE_LIFETIME_SECONDS after the latest block."""
    from brownie import chain

    return chain[-1].timestamp + SIGNATURE_LIFETIME_SECONDS


def sign_set_consent(
    registry,
    signer,
    customer_id: int,
    purpose: int = PURPOSE_MARKETING,
    granted: bool = True,
    nonce: int | None = None,
    deadline: int | None = None,
    **domain_overrides,
) -> tuple[bytes, int]:
    """`signer`'s SetConsent signature (by default for the current nonce) and its deadline."""
    deadline = deadline_ahead() if deadline is None else deadline
    message = {
        "customerId": customer_id,
        "purpose": purpose,
        "granted": granted,
        "nonce": registry.nonces(customer_id) if nonce is None else nonce,
        "deadline": deadline,
    }
    return sign_registry_message(registry, signer, SET_CONSENT_TYPES, message, **domain_overrides), deadline


def set_next_block_timestamp(timestamp: int) -> None:
    from brownie import web3

    web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


def readers_hash_after(registry, customer_id: int, joining=()) -> bytes:
    """The readers hash once `joining` are readers of the customer too."""
    readers = {str(reader).lower() for reader in registry.readersOf(customer_id)}
    readers |= {str(getattr(account, "address", account)).lower() for account in joining}
    return readers_hash(*readers)
