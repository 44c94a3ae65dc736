"""`chaincrm invoice ...`: invoices paid in ETH into escrow, released on delivery or after the dispute
window, disputed, refunded (credited, then withdrawn by the payer) or cancelled; the treasury.

An invoice keeps the treasury in force when it was paid: a treasury change (proposed by an admin,
accepted by the new treasury after a delay longer than the dispute window) never redirects money
already in escrow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from web3.types import TxReceipt

from chaincrm.cli.context import ADDRESS, ETH_AMOUNT, ID, App, enum_name, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, eth, facts, invoice_fields, table, tracked, tx_fields, when
from chaincrm.models import Invoice


@click.group(name="invoice", help="Invoices: issued when a deal is won, paid by the customer's wallet into escrow.")
def invoice() -> None:
    pass


@invoice.command(
    help="An invoice: amount, payer, due date, status, the treasury fixed when it was paid, when its dispute "
    "window ends and, once disputed, the deadline for a manager to resolve it."
)
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@json_option
@pass_app
def show(app: App, invoice_id: int, as_json: bool) -> None:
    crm = app.crm
    escrow = crm.escrow
    found = escrow.invoice(invoice_id)
    window_ends = found.paid_at + crm.deployment.dispute_window_seconds if found.paid_at else None
    fields = invoice_fields(found) | {
        "overdue": escrow.is_overdue(invoice_id),
        "payment_reference": "0x" + escrow.payment_reference(invoice_id).hex(),
        "treasury": escrow.treasury_of(found),
        "treasury_epoch": found.treasury_epoch or None,
        "dispute_window_ends_at": window_ends,
        "dispute_deadline": escrow.dispute_deadline(invoice_id),
    }

    def human(out: Console) -> None:
        rows = _invoice_rows(found) | {
            "overdue": "yes" if fields["overdue"] else "no",
            "treasury": fields["treasury"] or "fixed when paid",
            "dispute window ends": when(window_ends),
            "dispute deadline": when(fields["dispute_deadline"]),
        }
        out.print(facts(f"Invoice {invoice_id}", rows))

    emit(fields, as_json, human)


@invoice.command(name="list", help="Every invoice.")
@json_option
@pass_app
def list_invoices(app: App, as_json: bool) -> None:
    escrow = app.crm.escrow
    invoices = [escrow.invoice(i) for i in tracked(range(1, escrow.invoice_count() + 1), "Reading invoices")]

    def human(out: Console) -> None:
        rows = [
            (i.id, i.deal_id, i.customer_id, eth(i.amount_wei), enum_name(i.status), i.payer, when(i.due_at))
            for i in invoices
        ]
        out.print(table("Invoices", ("invoice", "deal", "customer", "amount", "status", "payer", "due"), rows))

    emit([invoice_fields(i) for i in invoices], as_json, human)


@invoice.command(help="Pay an invoice into escrow from the payer's wallet (exactly its amount unless --amount).")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@click.option(
    "--amount",
    "amount_wei",
    type=ETH_AMOUNT,
    help="What to send: 1.5 (ETH), 20gwei, 100wei [default: the invoice's amount].",
)
@keystore_option
@json_option
@pass_app
def pay(app: App, invoice_id: int, amount_wei: int | None, keystore: str | None, as_json: bool) -> None:
    payer = app.signer(keystore)
    receipt = app.crm.escrow.pay(invoice_id, payer.account, amount_wei)
    _report(app, invoice_id, "paid into escrow", receipt, as_json)


@invoice.command(help="Confirm delivery (the payer): the escrowed payment goes to the treasury fixed when it was paid.")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@keystore_option
@json_option
@pass_app
def confirm(app: App, invoice_id: int, keystore: str | None, as_json: bool) -> None:
    payer = app.signer(keystore)
    receipt = app.crm.escrow.confirm_delivery(invoice_id, payer.account)
    _report(app, invoice_id, "confirmed: released to the treasury", receipt, as_json)


@invoice.command(help="Dispute a paid invoice within the dispute window (the payer): a manager then resolves it.")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@keystore_option
@json_option
@pass_app
def dispute(app: App, invoice_id: int, keystore: str | None, as_json: bool) -> None:
    payer = app.signer(keystore)
    escrow = app.crm.escrow
    receipt = escrow.dispute(invoice_id, payer.account)
    deadline = escrow.dispute_deadline(invoice_id)
    _report(
        app,
        invoice_id,
        f"disputed: a manager releases or refunds it by {when(deadline)}, after which the payer may reclaim it",
        receipt,
        as_json,
        {"dispute_deadline": deadline},
    )


@invoice.command(
    help="Release an escrowed payment to the treasury fixed at payment: after the dispute window by the payer, "
    "that treasury or a manager; a disputed invoice only by a manager, before the dispute deadline."
)
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@keystore_option
@json_option
@pass_app
def release(app: App, invoice_id: int, keystore: str | None, as_json: bool) -> None:
    actor = app.signer(keystore)
    escrow = app.crm.escrow
    receipt = escrow.release(invoice_id, actor.account)
    treasury = escrow.treasury_of(escrow.invoice(invoice_id))
    _report(app, invoice_id, f"released to the treasury {treasury}", receipt, as_json, {"treasury": treasury})


@invoice.command(
    help="Refund a paid or disputed invoice (a manager): the amount is CREDITED to the payer, who takes it with "
    "`invoice withdraw` (it is no longer sent in the same transaction)."
)
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@keystore_option
@json_option
@pass_app
def refund(app: App, invoice_id: int, keystore: str | None, as_json: bool) -> None:
    manager = app.signer(keystore)
    escrow = app.crm.escrow
    receipt = escrow.refund(invoice_id, manager.account)
    payer = escrow.invoice(invoice_id).payer
    _credited(app, invoice_id, "refunded", payer, receipt, as_json)


@invoice.command(
    help="Take back a disputed invoice's payment after its dispute deadline passed unresolved (the payer): "
    "credited like a refund, then `invoice withdraw`."
)
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@keystore_option
@json_option
@pass_app
def reclaim(app: App, invoice_id: int, keystore: str | None, as_json: bool) -> None:
    payer = app.signer(keystore)
    receipt = app.crm.escrow.reclaim(invoice_id, payer.account)
    _credited(app, invoice_id, "reclaimed", payer.address, receipt, as_json)


@invoice.command(help="Withdraw every refund credited to you (the payer's keystore) to your wallet.")
@keystore_option
@json_option
@pass_app
def withdraw(app: App, keystore: str | None, as_json: bool) -> None:
    payer = app.signer(keystore)
    escrow = app.crm.escrow
    amount = escrow.refund_of(payer.address)
    receipt = escrow.withdraw_refund(payer.account)
    fields = {"payer": payer.address, "amount_wei": str(amount)} | tx_fields(receipt)
    line = f"Withdrew {eth(amount)} of refunds to {payer.address} in block {receipt['blockNumber']}"
    emit_line(fields, as_json, line)


def _credited(app: App, invoice_id: int, verb: str, payer: str, receipt: TxReceipt, as_json: bool) -> None:
    credit = app.crm.escrow.refund_of(payer)
    done = (
        f"{verb}: credited to {payer} ({eth(credit)} to withdraw with `chaincrm invoice withdraw --keystore {payer}`)"
    )
    _report(app, invoice_id, done, receipt, as_json, {"payer_credit_wei": str(credit)})


@invoice.command(help="Cancel an unpaid invoice (a manager). A won deal gets a new one with `deal reissue`.")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@keystore_option
@json_option
@pass_app
def cancel(app: App, invoice_id: int, keystore: str | None, as_json: bool) -> None:
    manager = app.signer(keystore)
    receipt = app.crm.escrow.cancel(invoice_id, manager.account)
    _report(app, invoice_id, "cancelled", receipt, as_json)


@invoice.command(help="The EIP-681 payment URI for an open invoice, drawn as a QR code; --png writes it to a file.")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@click.option("--png", type=click.Path(path_type=Path, dir_okay=False), help="Also write the QR code to this PNG file.")
@json_option
@pass_app
def uri(app: App, invoice_id: int, png: Path | None, as_json: bool) -> None:
    from chaincrm.contracts.payments import payment_uri, qr_png, qr_terminal

    crm = app.crm
    found = crm.escrow.invoice(invoice_id)
    request = payment_uri(crm.chain.chain_id, crm.escrow.address, found)
    if png is not None:
        qr_png(request, png)
    fields = {
        "invoice_id": invoice_id,
        "uri": request,
        "payer": found.payer,
        "amount_wei": str(found.amount_wei),
        "png": str(png) if png else None,
    }

    def human(out: Console) -> None:
        out.print(request, markup=False, soft_wrap=True)
        out.print(qr_terminal(request), markup=False, highlight=False)
        out.print(f"Invoice {invoice_id}: {eth(found.amount_wei)} from {found.payer}", markup=False)
        if png is not None:
            out.print(f"QR code written to {png}", markup=False)

    emit(fields, as_json, human)


def _report(
    app: App, invoice_id: int, done: str, receipt: TxReceipt, as_json: bool, extra: dict[str, Any] | None = None
) -> None:
    after = app.crm.escrow.invoice(invoice_id)
    line = f"Invoice {invoice_id} {done} ({eth(after.amount_wei)}) in block {receipt['blockNumber']}"
    emit_line(invoice_fields(after) | (extra or {}) | tx_fields(receipt), as_json, line)


# ------------------------------------------------------------------ treasury


@invoice.group(
    name="treasury",
    help="Where released payments go. A change takes two steps: an admin proposes, the new treasury accepts "
    "after the treasury delay (longer than the dispute window). Paid invoices keep their treasury.",
)
def treasury() -> None:
    pass


@treasury.command(name="show", help="The current treasury, its epoch, and a pending change.")
@json_option
@pass_app
def treasury_show(app: App, as_json: bool) -> None:
    crm = app.crm
    escrow = crm.escrow
    pending, effective_at = escrow.pending_treasury()
    fields = {
        "treasury": escrow.treasury(),
        "epoch": int(crm.chain.call(escrow.contract.functions.treasuryEpoch())),
        "pending": pending,
        "pending_effective_at": effective_at if pending else None,
        "delay_seconds": crm.deployment.treasury_delay_seconds,
    }

    def human(out: Console) -> None:
        rows = {
            "treasury": fields["treasury"],
            "epoch": fields["epoch"],
            "pending change": f"{pending}, acceptable from {when(effective_at)}" if pending else "none",
            "delay": f"{fields['delay_seconds']:,} s",
        }
        out.print(facts("Treasury", rows))

    emit(fields, as_json, human)


@treasury.command(name="propose", help="Propose a new treasury (an admin); it accepts after the treasury delay.")
@click.argument("address", type=ADDRESS)
@keystore_option
@json_option
@pass_app
def treasury_propose(app: App, address: str, keystore: str | None, as_json: bool) -> None:
    admin = app.signer(keystore)
    escrow = app.crm.escrow
    receipt = escrow.propose_treasury(address, admin.account)
    _, effective_at = escrow.pending_treasury()
    fields = {"proposed": address, "effective_at": effective_at} | tx_fields(receipt)
    line = (
        f"Treasury {address} proposed: it accepts from {when(effective_at)} with "
        f"`chaincrm invoice treasury accept --keystore {address}`"
    )
    emit_line(fields, as_json, line)


@treasury.command(name="accept", help="Accept becoming the treasury (the proposed account), after the delay.")
@keystore_option
@json_option
@pass_app
def treasury_accept(app: App, keystore: str | None, as_json: bool) -> None:
    new = app.signer(keystore)
    escrow = app.crm.escrow
    receipt = escrow.accept_treasury(new.account)
    fields = {"treasury": escrow.treasury()} | tx_fields(receipt)
    emit_line(fields, as_json, f"{new.address} is now the treasury for invoices paid from now on")


@treasury.command(name="cancel", help="Cancel a pending treasury change (an admin).")
@keystore_option
@json_option
@pass_app
def treasury_cancel(app: App, keystore: str | None, as_json: bool) -> None:
    admin = app.signer(keystore)
    escrow = app.crm.escrow
    pending, _ = escrow.pending_treasury()
    receipt = escrow.cancel_treasury_change(admin.account)
    emit_line({"cancelled": pending} | tx_fields(receipt), as_json, f"Treasury change to {pending} cancelled")


def _invoice_rows(found: Invoice) -> dict[str, object]:
    return {
        "deal": found.deal_id,
        "customer": found.customer_id,
        "payer": found.payer,
        "amount": eth(found.amount_wei),
        "status": enum_name(found.status),
        "due": when(found.due_at),
        "paid": when(found.paid_at),
    }
