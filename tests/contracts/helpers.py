"""Constants and small helpers shared by the contract tests."""

from __future__ import annotations

import os

import coincurve

DISPUTE_WINDOW_SECONDS = 7 * 24 * 3600
PAYMENT_TERM_SECONDS = 30 * 24 * 3600
PURPOSE_SALES = 1
PURPOSE_SUPPORT = 2
KIND_CALL = 1
OUTCOME_POSITIVE = 1
ONE_ETH = 10**18

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
