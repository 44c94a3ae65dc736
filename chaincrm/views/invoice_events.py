"""One reading of the escrow's invoice events, shared by every view that folds them.

Each of ``InvoiceIssued``, ``InvoicePaid``, ``InvoiceDisputed``, ``InvoiceReleased``,
``InvoiceRefunded`` and ``InvoiceCancelled`` becomes an :class:`InvoiceEvent`: what happened
(`what`, the word the index stores too), the amount it carries, who did it, where the money went
and when. Its time is the event's own ``at`` when it has one (paid, disputed), else its block's.

The customer's own view (:mod:`chaincrm.views.own_records`) and the KPI reports
(:mod:`chaincrm.reports.history`: ``_collect`` and ``history_from_index``) read the same events;
:func:`invoice_event` and :data:`STATUS_AFTER` are the one place that says what each one means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.models import ZERO_ADDRESS, InvoiceStatus

# Escrow event -> what happened, as the views and the index name it.
INVOICE_EVENTS: Mapping[str, str] = {
    "InvoiceIssued": "issued",
    "InvoicePaid": "paid",
    "InvoiceDisputed": "disputed",
    "InvoiceReleased": "released",
    "InvoiceRefunded": "refunded",
    "InvoiceCancelled": "cancelled",
}

# What happened -> the status the invoice moved to (an issue opens it).
STATUS_AFTER: Mapping[str, InvoiceStatus] = {
    "issued": InvoiceStatus.OPEN,
    "paid": InvoiceStatus.PAID,
    "disputed": InvoiceStatus.DISPUTED,
    "released": InvoiceStatus.RELEASED,
    "refunded": InvoiceStatus.REFUNDED,
    "cancelled": InvoiceStatus.CANCELLED,
}


@dataclass(frozen=True)
class InvoiceEvent:
    """Something that happened to an invoice: issued, paid, disputed, released, refunded, cancelled.

    `to` is where the money went or is fixed to go (paid: the treasury fixed at payment; released:
    that treasury; refunded: the payer, as a credit to withdraw); `until` is a dispute's resolution
    deadline."""

    invoice_id: int
    what: str
    amount_wei: int | None
    by: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str
    to: ChecksumAddress | None = None
    until: int | None = None

    @property
    def status(self) -> InvoiceStatus:
        """The status the invoice moved to."""
        return STATUS_AFTER[self.what]


def invoice_event(
    name: str,
    args: Mapping[str, Any],
    *,
    block_number: int,
    tx_hash: str,
    block_time: Callable[[int], int],
    issuer: str,
) -> InvoiceEvent:
    """The escrow event `name` with decoded `args`, read as an :class:`InvoiceEvent`.

    `block_time` gives a block's timestamp (for the events that carry no ``at``); `issuer` is who
    issues invoices (the pipeline: an invoice is issued when its deal is won)."""
    what = INVOICE_EVENTS[name]
    at = int(args["at"]) if "at" in args else block_time(block_number)
    amount = int(args["amount"]) if "amount" in args else None
    by, to, until = _parties(what, args, issuer)
    return InvoiceEvent(
        invoice_id=int(args["invoiceId"]),
        what=what,
        amount_wei=amount,
        by=to_checksum_address(by),
        at=at,
        block_number=block_number,
        tx_hash=tx_hash,
        to=to,
        until=until,
    )


def invoice_event_of_log(log: Any, *, block_time: Callable[[int], int], issuer: str) -> InvoiceEvent:
    """:func:`invoice_event` of a log web3 decoded (``event``, ``args``, block and transaction)."""
    return invoice_event(
        log["event"],
        log["args"],
        block_number=int(log["blockNumber"]),
        tx_hash=log["transactionHash"].to_0x_hex(),
        block_time=block_time,
        issuer=issuer,
    )


def optional_address(value: str) -> ChecksumAddress | None:
    """None for the zero address (nobody), else the checksummed address."""
    return None if value == ZERO_ADDRESS or int(value, 16) == 0 else to_checksum_address(value)


def _parties(what: str, args: Mapping[str, Any], issuer: str) -> tuple[str, ChecksumAddress | None, int | None]:
    """(who did it, where the money goes, until when a dispute runs)."""
    if what == "issued":
        return issuer, None, None
    if what == "paid":
        return args["payer"], optional_address(args["treasury"]), None
    if what == "disputed":
        return args["payer"], None, int(args["resolveBy"])
    if what == "released":
        return args["actor"], optional_address(args["treasury"]), None
    if what == "refunded":
        return args["actor"], optional_address(args["payer"]), None
    return args["actor"], None, None
