"""`chaincrm invoice ...`: invoices paid in ETH into escrow, released on delivery or after the dispute
window, disputed, refunded (credited, then withdrawn by the payer) or cancelled; the treasury.

An invoice keeps the treasury in force when it was paid: a treasury change (proposed by an admin,
accepted by the new treasury after a delay longer than the dispute window) never redirects money
already in escrow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import click
from rich.console import Console

from chaincrm.cli.context import ADDRESS, ETH_AMOUNT, ID, App, F, enum_name, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, eth, facts, invoice_fields, table, tracked, tx_fields, when

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chaincrm.chain.keystores import LocalSigner
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


# ------------------------------------------------------------------ escrow actions

Sent: TypeAlias = "tuple[str, TxReceipt, dict[str, Any]]"  # what was done (for the line), receipt, JSON extras
Action: TypeAlias = "Callable[..., Sent]"


def _action(name: str, help: str, act: Action, *options: Callable[[F], F]) -> click.Command:
    """A command `invoice NAME INVOICE [options] --keystore --json` that unlocks the signer, calls
    `act(app, invoice_id, signer, **options)` and reports the invoice as it is afterwards."""

    def command(app: App, invoice_id: int, keystore: str | None, as_json: bool, **values: Any) -> None:
        signer = app.signer(keystore)
        done, receipt, extra = act(app, invoice_id, signer, **values)
        after = app.crm.escrow.invoice(invoice_id)
        line = f"Invoice {invoice_id} {done} ({eth(after.amount_wei)}) in block {receipt['blockNumber']}"
        emit_line(invoice_fields(after) | extra | tx_fields(receipt), as_json, line)

    for decorate in (pass_app, json_option, keystore_option, *reversed(options)):
        command = decorate(command)
    command = click.argument("invoice_id", metavar="INVOICE", type=ID)(command)
    return invoice.command(name=name, help=help)(command)


def _pay(app: App, invoice_id: int, signer: LocalSigner, amount_wei: int | None) -> Sent:
    return "paid into escrow", app.crm.escrow.pay(invoice_id, signer.account, amount_wei), {}


def _confirm(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    receipt = app.crm.escrow.confirm_delivery(invoice_id, signer.account)
    return "confirmed: released to the treasury", receipt, {}


def _dispute(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    escrow = app.crm.escrow
    receipt = escrow.dispute(invoice_id, signer.account)
    deadline = escrow.dispute_deadline(invoice_id)
    done = f"disputed: a manager releases or refunds it by {when(deadline)}, after which the payer may reclaim it"
    return done, receipt, {"dispute_deadline": deadline}


def _release(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    escrow = app.crm.escrow
    receipt = escrow.release(invoice_id, signer.account)
    treasury = escrow.treasury_of(escrow.invoice(invoice_id))
    return f"released to the treasury {treasury}", receipt, {"treasury": treasury}


def _credited(app: App, verb: str, payer: str, receipt: TxReceipt) -> Sent:
    credit = app.crm.escrow.refund_of(payer)
    withdraw_with = f"`chaincrm invoice withdraw --keystore {payer}`"
    done = f"{verb}: credited to {payer} ({eth(credit)} to withdraw with {withdraw_with})"
    return done, receipt, {"payer_credit_wei": str(credit)}


def _refund(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    escrow = app.crm.escrow
    receipt = escrow.refund(invoice_id, signer.account)
    return _credited(app, "refunded", escrow.invoice(invoice_id).payer, receipt)


def _reclaim(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    return _credited(app, "reclaimed", signer.address, app.crm.escrow.reclaim(invoice_id, signer.account))


def _cancel(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    return "cancelled", app.crm.escrow.cancel(invoice_id, signer.account), {}


AMOUNT_OPTION = click.option(
    "--amount",
    "amount_wei",
    type=ETH_AMOUNT,
    help="What to send: 1.5 (ETH), 20gwei, 100wei [default: the invoice's amount].",
)

pay = _action(
    "pay",
    "Pay an invoice into escrow from the payer's wallet (exactly its amount unless --amount).",
    _pay,
    AMOUNT_OPTION,
)
confirm = _action(
    "confirm",
    "Confirm delivery (the payer): the escrowed payment goes to the treasury fixed when it was paid.",
    _confirm,
)
dispute = _action(
    "dispute", "Dispute a paid invoice within the dispute window (the payer): a manager then resolves it.", _dispute
)
release = _action(
    "release",
    "Release an escrowed payment to the treasury fixed at payment: after the dispute window by the payer, "
    "that treasury or a manager; a disputed invoice only by a manager, before the dispute deadline.",
    _release,
)
refund = _action(
    "refund",
    "Refund a paid or disputed invoice (a manager): the amount is CREDITED to the payer, who takes it with "
    "`invoice withdraw` (it is no longer sent in the same transaction).",
    _refund,
)
reclaim = _action(
    "reclaim",
    "Take back a disputed invoice's payment after its dispute deadline passed unresolved (the payer): "
    "credited like a refund, then `invoice withdraw`.",
    _reclaim,
)
cancel = _action(
    "cancel", "Cancel an unpaid invoice (a manager). A won deal gets a new one with `deal reissue`.", _cancel
)


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


@invoice.command(
    help="The EIP-681 payment URI for an open invoice and the portal's payment page link (/pay/ID), drawn "
    "side by side as QR codes; --png writes both to files (FILE and FILE-page)."
)
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@click.option(
    "--png",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the URI's QR code to this PNG file, and the page link's to FILE-page.",
)
@click.option(
    "--public-url",
    envvar="CHAINCRM_PUBLIC_URL",
    default="http://127.0.0.1:8700",
    show_default=True,
    metavar="URL",
    help="Where `chaincrm serve` is reached, for the page link [env CHAINCRM_PUBLIC_URL].",
)
@json_option
@pass_app
def uri(app: App, invoice_id: int, png: Path | None, public_url: str, as_json: bool) -> None:
    from chaincrm.contracts.payments import page_link, page_qr_png, page_qr_terminal, payment_uri, qr_png, qr_terminal

    page = page_link(public_url, invoice_id)
    crm = app.crm
    found = crm.escrow.invoice(invoice_id)
    request = payment_uri(crm.chain.chain_id, crm.escrow.address, found)
    page_png = png.with_name(f"{png.stem}-page{png.suffix}") if png is not None else None
    if png is not None and page_png is not None:
        qr_png(request, png)
        page_qr_png(page, page_png)
    fields = {
        "invoice_id": invoice_id,
        "uri": request,
        "page_url": page,
        "payer": found.payer,
        "amount_wei": str(found.amount_wei),
        "png": str(png) if png else None,
        "page_png": str(page_png) if page_png else None,
    }

    def human(out: Console) -> None:
        out.print(request, markup=False, soft_wrap=True)
        out.print(_side_by_side(qr_terminal(request), page_qr_terminal(page)), markup=False, highlight=False)
        out.print(f"Invoice {invoice_id}: {eth(found.amount_wei)} from {found.payer}", markup=False)
        out.print(f"Payment page (any browser wallet): {page}", markup=False, soft_wrap=True)
        if png is not None:
            out.print(f"QR codes written to {png} (URI) and {page_png} (page)", markup=False)

    emit(fields, as_json, human)


def _side_by_side(left: str, right: str, gap: str = "  ") -> str:
    """Two terminal drawings next to each other, the shorter padded."""
    left_lines, right_lines = left.rstrip("\n").splitlines(), right.rstrip("\n").splitlines()
    width = max((len(line) for line in left_lines), default=0)
    rows = max(len(left_lines), len(right_lines))
    left_lines += [""] * (rows - len(left_lines))
    right_lines += [""] * (rows - len(right_lines))
    return "\n".join(f"{a.ljust(width)}{gap}{b}".rstrip() for a, b in zip(left_lines, right_lines, strict=True))


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
