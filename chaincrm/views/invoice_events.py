"""One reading of the escrow's invoice events, shared by every view that folds them.

Each of ``InvoiceIssued``, ``InvoicePaid``, ``InvoicePaidOffChain``, ``InvoiceDisputed``,
``InvoiceReleased``, ``InvoiceRefunded`` and ``InvoiceCancelled`` becomes an :class:`InvoiceEvent`:
what happened (`what`, the word the index stores too), the amount it carries (in the invoice's
currency's base units), who did it, where the money went and when. Its time is the event's own
``at`` when it has one (paid, paid off-chain, disputed), else its block's. The loyalty events
``PointsRedeemed`` (its amount is the discount), ``PointsAwarded`` and ``PointsRestored`` are read
too (`points` set); they change no status.

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
    "InvoicePaidOffChain": "paid_off_chain",
    "InvoiceDisputed": "disputed",
    "InvoiceReleased": "released",
    "InvoiceRefunded": "refunded",
    "InvoiceCancelled": "cancelled",
}
# Loyalty events on an invoice -> what happened (the index's loyalty_events kind, prefixed).
POINTS_EVENTS: Mapping[str, str] = {
    "PointsRedeemed": "points_redeemed",
    "PointsAwarded": "points_awarded",
    "PointsRestored": "points_restored",
}

# What happened -> the status the invoice moved to (an issue opens it).
STATUS_AFTER: Mapping[str, InvoiceStatus] = {
    "issued": InvoiceStatus.OPEN,
    "paid": InvoiceStatus.PAID,
    "paid_off_chain": InvoiceStatus.PAID_OFF_CHAIN,
    "disputed": InvoiceStatus.DISPUTED,
    "released": InvoiceStatus.RELEASED,
    "refunded": InvoiceStatus.REFUNDED,
    "cancelled": InvoiceStatus.CANCELLED,
}


@dataclass(frozen=True)
class InvoiceEvent:
    """Something that happened to an invoice: issued, paid, paid off-chain, disputed, released,
    refunded, cancelled; or points redeemed, awarded or restored on it.

    `to` is where the money went or is fixed to go (paid: the treasury fixed at payment; released:
    that treasury; refunded: the payer, as a credit to withdraw; points: the payer); `until` is a
    dispute's resolution deadline. `points` is in point base units; `method` (1 bank transfer, 2
    card, 3 other, as emitted), `receipt_hash` and `cid_digest` describe an off-chain payment."""

    invoice_id: int
    what: str
    amount_wei: int | None
    by: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str
    to: ChecksumAddress | None = None
    until: int | None = None
    points: int | None = None
    method: int | None = None
    receipt_hash: str | None = None
    cid_digest: str | None = None

    @property
    def status(self) -> InvoiceStatus | None:
        """The status the invoice moved to; None for a loyalty event, which moves none."""
        return STATUS_AFTER.get(self.what)


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
    what = INVOICE_EVENTS.get(name) or POINTS_EVENTS[name]
    at = int(args["at"]) if "at" in args else block_time(block_number)
    amount = int(args["amount"]) if "amount" in args else None
    if "discount" in args:
        amount = int(args["discount"])
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
        points=int(args["points"]) if "points" in args else None,
        method=int(args["method"]) if "method" in args else None,
        receipt_hash=_hex(args["receiptHash"]) if "receiptHash" in args else None,
        cid_digest=_hex(args["cidDigest"]) if "cidDigest" in args else None,
    )


def _hex(value: Any) -> str:
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


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
    if what == "points_redeemed":
        return args["payer"], None, None
    if what in ("points_awarded", "points_restored"):
        # Minted by the escrow (at a release or refund, whoever sent it): the payer is who gets them.
        return args["payer"], optional_address(args["payer"]), None
    return args["actor"], None, None
