"""`chaincrm invoice ...`: invoices paid in ETH into escrow, released on delivery, refunded or cancelled."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from web3.types import TxReceipt

from chaincrm.cli.context import ETH_AMOUNT, ID, App, enum_name, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, eth, facts, invoice_fields, table, tracked, tx_fields, when
from chaincrm.models import Invoice
from chaincrm.payments import payment_uri, qr_png, qr_terminal


@click.group(name="invoice", help="Invoices: issued when a deal is won, paid by the customer's wallet into escrow.")
def invoice() -> None:
    pass


@invoice.command(help="An invoice: amount, payer, due date, status.")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@json_option
@pass_app
def show(app: App, invoice_id: int, as_json: bool) -> None:
    escrow = app.crm.escrow
    found = escrow.invoice(invoice_id)
    fields = invoice_fields(found) | {
        "overdue": escrow.is_overdue(invoice_id),
        "payment_reference": "0x" + escrow.payment_reference(invoice_id).hex(),
    }

    def human(out: Console) -> None:
        out.print(
            facts(f"Invoice {invoice_id}", _invoice_rows(found) | {"overdue": "yes" if fields["overdue"] else "no"})
        )

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


@invoice.command(help="Confirm delivery (the payer): the escrowed payment goes to the treasury.")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@keystore_option
@json_option
@pass_app
def confirm(app: App, invoice_id: int, keystore: str | None, as_json: bool) -> None:
    payer = app.signer(keystore)
    receipt = app.crm.escrow.confirm_delivery(invoice_id, payer.account)
    _report(app, invoice_id, "confirmed: released to the treasury", receipt, as_json)


@invoice.command(help="Return a paid or disputed invoice's payment to the payer (a manager).")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@keystore_option
@json_option
@pass_app
def refund(app: App, invoice_id: int, keystore: str | None, as_json: bool) -> None:
    manager = app.signer(keystore)
    receipt = app.crm.escrow.refund(invoice_id, manager.account)
    _report(app, invoice_id, "refunded to the payer", receipt, as_json)


@invoice.command(help="Cancel an unpaid invoice (a manager).")
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


def _report(app: App, invoice_id: int, done: str, receipt: TxReceipt, as_json: bool) -> None:
    after = app.crm.escrow.invoice(invoice_id)
    line = f"Invoice {invoice_id} {done} ({eth(after.amount_wei)}) in block {receipt['blockNumber']}"
    emit_line(invoice_fields(after) | tx_fields(receipt), as_json, line)


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
