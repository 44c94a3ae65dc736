"""Which reminder an open invoice is due, and the content hash that names that reminder on-chain.

A reminder is one (invoice, level). Its on-chain record is an interaction of kind ``reminder``
whose content hash is derived from public facts only, with a domain tag::

    keccak256(abi.encode("chaincrm.reminder.v1", chainId, escrow, invoiceId, keccak256(levelName)))

so every keeper computes the same hash for the same reminder (that is what makes the chain's record
a claim), and the hash holds no personal data.

An invoice gets the LAST level whose time has come (due date + the level's offset, by the chain's
clock); a level passed over while no keeper ran (the keeper started late, or was down) is skipped,
never sent late after a later one, as Odoo's follow-ups do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from chaincrm.automation.schedule import Level

DOMAIN_TAG = "chaincrm.reminder.v1"


def reminder_hash(chain_id: int, escrow: str, invoice_id: int, level_name: str) -> bytes:
    """The 32-byte content hash of the reminder for `invoice_id` at `level_name` (see the module)."""
    return keccak(
        encode(
            ["string", "uint256", "address", "uint256", "bytes32"],
            [DOMAIN_TAG, chain_id, to_checksum_address(escrow), invoice_id, keccak(text=level_name)],
        )
    )


@dataclass(frozen=True)
class OpenInvoice:
    """What the keeper needs of an open invoice (from the index)."""

    id: int
    customer_id: int
    amount_wei: int
    due_at: int
    customer_erased: bool = False


@dataclass(frozen=True)
class Reminder:
    """One reminder the keeper decided on: an invoice at a level, and the hash that records it."""

    invoice: OpenInvoice
    level: Level
    content_hash: bytes


def level_reached(levels: Sequence[Level], due_at: int, now: int) -> Level | None:
    """The last level (in firing order) whose time has come at `now`, or None before the first."""
    reached = None
    for level in levels:
        if now >= due_at + level.offset_seconds:
            reached = level
    return reached


__all__ = ["DOMAIN_TAG", "OpenInvoice", "Reminder", "level_reached", "reminder_hash"]
