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
from chaincrm.models import InvoiceStatus

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
    from chaincrm.cli.tokens import money, tokens_of

    crm = app.crm
    escrow = crm.escrow
    found = escrow.invoice(invoice_id)
    currency = tokens_of(crm).info(found.currency)
    off_chain = escrow.off_chain_payment(invoice_id) if found.status is InvoiceStatus.PAID_OFF_CHAIN else None
    in_escrow = found.status is not InvoiceStatus.PAID_OFF_CHAIN
    window_ends = found.paid_at + crm.deployment.dispute_window_seconds if found.paid_at and in_escrow else None
    fields = (
        invoice_fields(found)
        | _currency_fields(found, currency)
        | _off_chain_fields(off_chain)
        | {
            "overdue": escrow.is_overdue(invoice_id),
            "payment_reference": "0x" + escrow.payment_reference(invoice_id).hex(),
            "treasury": escrow.treasury_of(found),
            "treasury_epoch": found.treasury_epoch or None,
            "dispute_window_ends_at": window_ends,
            "dispute_deadline": escrow.dispute_deadline(invoice_id),
            "points_redeemed": str(escrow.points_redeemed_on(invoice_id)),
        }
    )

    def human(out: Console) -> None:
        rows = _invoice_rows(found) | {
            "overdue": "yes" if fields["overdue"] else "no",
            "treasury": fields["treasury"] or "fixed when paid",
            "dispute window ends": when(window_ends),
            "dispute deadline": when(fields["dispute_deadline"]),
        }
        if fields["points_redeemed"] != "0":
            from chaincrm.cli.loyalty import points

            rows["points redeemed"] = points(int(fields["points_redeemed"]))
        if off_chain is not None:
            rows["status"] = f"paid off-chain ({off_chain.method.label}) on {when(off_chain.at)}"
            rows["treasury"] = "none (paid outside the escrow)"
        out.print(facts(f"Invoice {invoice_id}", rows | {"amount": money(found.amount_wei, currency)}))

    emit(fields, as_json, human)


@invoice.command(name="list", help="Every invoice.")
@json_option
@pass_app
def list_invoices(app: App, as_json: bool) -> None:
    from chaincrm.cli.tokens import money, tokens_of

    escrow = app.crm.escrow
    tokens = tokens_of(app.crm)
    invoices = [escrow.invoice(i) for i in tracked(range(1, escrow.invoice_count() + 1), "Reading invoices")]

    def human(out: Console) -> None:
        rows = [
            (
                i.id,
                i.deal_id,
                i.customer_id,
                money(i.amount_wei, tokens.info(i.currency)),
                enum_name(i.status),
                i.payer,
                when(i.due_at),
            )
            for i in invoices
        ]
        out.print(table("Invoices", ("invoice", "deal", "customer", "amount", "status", "payer", "due"), rows))

    emit([invoice_fields(i) | _currency_fields(i, tokens.info(i.currency)) for i in invoices], as_json, human)


# ------------------------------------------------------------------ escrow actions

Sent: TypeAlias = "tuple[str, TxReceipt, dict[str, Any]]"  # what was done (for the line), receipt, JSON extras
Action: TypeAlias = "Callable[..., Sent]"


def _action(name: str, help: str, act: Action, *options: Callable[[F], F]) -> click.Command:
    """A command `invoice NAME INVOICE [options] --keystore --json` that unlocks the signer, calls
    `act(app, invoice_id, signer, **options)` and reports the invoice as it is afterwards."""

    def command(app: App, invoice_id: int, keystore: str | None, as_json: bool, **values: Any) -> None:
        from chaincrm.cli.tokens import money, tokens_of

        signer = app.signer(keystore)
        done, receipt, extra = act(app, invoice_id, signer, **values)
        after = app.crm.escrow.invoice(invoice_id)
        currency = tokens_of(app.crm).info(after.currency)
        line = f"Invoice {invoice_id} {done} ({money(after.amount_wei, currency)}) in block {receipt['blockNumber']}"
        fields = invoice_fields(after) | _currency_fields(after, currency) | extra | tx_fields(receipt)
        emit_line(fields, as_json, line)

    for decorate in (pass_app, json_option, keystore_option, *reversed(options)):
        command = decorate(command)
    command = click.argument("invoice_id", metavar="INVOICE", type=ID)(command)
    return invoice.command(name=name, help=help)(command)


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


def _credited(app: App, verb: str, payer: str, receipt: TxReceipt, currency: str | None = None) -> Sent:
    from chaincrm.cli.tokens import money, tokens_of

    escrow = app.crm.escrow
    if currency is None:
        credit = escrow.refund_of(payer)
        withdraw_with = f"`chaincrm invoice withdraw --keystore {payer}`"
        done = f"{verb}: credited to {payer} ({eth(credit)} to withdraw with {withdraw_with})"
        return done, receipt, {"payer_credit_wei": str(credit)}
    credit = escrow.token_refund_of(currency, payer)
    withdraw_with = f"`chaincrm invoice withdraw --token {currency} --keystore {payer}`"
    shown = money(credit, tokens_of(app.crm).info(currency))
    done = f"{verb}: credited to {payer} ({shown} to withdraw with {withdraw_with})"
    return done, receipt, {"payer_credit": str(credit), "currency": currency}


def _refund(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    escrow = app.crm.escrow
    receipt = escrow.refund(invoice_id, signer.account)
    refunded = escrow.invoice(invoice_id)
    return _credited(app, "refunded", refunded.payer, receipt, refunded.currency)


def _reclaim(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    escrow = app.crm.escrow
    receipt = escrow.reclaim(invoice_id, signer.account)
    return _credited(app, "reclaimed", signer.address, receipt, escrow.invoice(invoice_id).currency)


def _cancel(app: App, invoice_id: int, signer: LocalSigner) -> Sent:
    return "cancelled", app.crm.escrow.cancel(invoice_id, signer.account), {}


AMOUNT_OPTION = click.option(
    "--amount",
    "amount_wei",
    type=ETH_AMOUNT,
    help="What to send: 1.5 (ETH), 20gwei, 100wei [default: the invoice's amount].",
)

POINTS_DECIMALS = 18


@invoice.command(
    help="Pay an invoice from the payer's wallet. ETH: into escrow in one transaction (exactly its amount unless "
    "--amount). A token invoice: approve the escrow, then pay (two transactions), or with --permit one "
    "transaction carrying a signed EIP-2612 permit. --points redeems loyalty points for a discount, shown "
    "before anything is sent."
)
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@AMOUNT_OPTION
@click.option("--permit", is_flag=True, help="A token invoice: sign a permit instead of sending an approval.")
@click.option("--points", "points_text", metavar="POINTS", help="Loyalty points to redeem (whole points, e.g. 250).")
@keystore_option
@json_option
@pass_app
def pay(
    app: App,
    invoice_id: int,
    amount_wei: int | None,
    permit: bool,
    points_text: str | None,
    keystore: str | None,
    as_json: bool,
) -> None:
    from chaincrm.cli.tokens import money, tokens_of
    from chaincrm.currency import TokenInfo, parse_amount
    from chaincrm.errors import ConfigError

    crm = app.crm
    escrow = crm.escrow
    found = escrow.invoice(invoice_id)
    currency = tokens_of(crm).info(found.currency)
    if permit and currency.is_eth:
        raise ConfigError(f"--permit is for token invoices: invoice {invoice_id} is in ETH, paid with the call")
    if amount_wei is not None and (not currency.is_eth or points_text):
        raise ConfigError("--amount is only for an ETH invoice paid without --points")
    points = parse_amount(points_text, TokenInfo("points", POINTS_DECIMALS), what="--points") if points_text else 0
    payer = app.signer(keystore)
    extra: dict[str, Any] = {}
    if points:
        quote = escrow.quote_points(found, payer.address, points)  # refuses as the contract would
        extra = {"points": str(points), "discount": str(quote.discount), "paid": str(quote.due)}
        if not as_json:
            click.echo(
                f"Redeeming {points_text} points for {money(quote.discount, currency)} off: "
                f"paying {money(quote.due, currency)} of {money(found.amount_wei, currency)}",
                err=True,
            )
    approval = None
    if currency.is_eth and not points:
        receipt = escrow.pay(invoice_id, payer.account, amount_wei)
    elif permit:
        receipt = escrow.pay_token_with_permit(invoice_id, payer.account, points=points)
        extra["permit"] = True
    elif points:
        approval, receipt = escrow.pay_with_points(invoice_id, points, payer.account)
    else:
        approval, receipt = escrow.pay_token(invoice_id, payer.account)
    if approval is not None:
        extra["approval_tx_hash"] = approval["transactionHash"].to_0x_hex()
    after = escrow.invoice(invoice_id)
    how = (
        "with a signed permit (one transaction)"
        if permit
        else "after approving the escrow (two transactions)"
        if approval is not None
        else "in one transaction"
    )
    paid = money(after.amount_wei, currency)
    line = f"Invoice {invoice_id} paid into escrow {how} ({paid}) in block {receipt['blockNumber']}"
    emit_line(invoice_fields(after) | _currency_fields(after, currency) | extra | tx_fields(receipt), as_json, line)


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


@invoice.command(
    help="Withdraw every refund credited to you (the payer's keystore) to your wallet: ETH, or with --token "
    "that token's."
)
@click.option("--token", type=ADDRESS, help="Withdraw this ERC-20's refunds instead of ETH's.")
@keystore_option
@json_option
@pass_app
def withdraw(app: App, token: str | None, keystore: str | None, as_json: bool) -> None:
    payer = app.signer(keystore)
    escrow = app.crm.escrow
    if token is not None:
        from chaincrm.cli.tokens import money, tokens_of

        info = tokens_of(app.crm).info(token)
        amount = escrow.token_refund_of(token, payer.address)
        receipt = escrow.withdraw_token_refund(token, payer.account)
        fields = {"payer": payer.address, "token": info.address, "amount": str(amount)} | tx_fields(receipt)
        line = f"Withdrew {money(amount, info)} of refunds to {payer.address} in block {receipt['blockNumber']}"
        emit_line(fields, as_json, line)
        return
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
    if found.currency is not None:
        _token_uri(app, found, page, as_json)
        return
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


def _token_uri(app: App, found: Invoice, page: str, as_json: bool) -> None:
    """A token invoice has no one-URI payment: the escrow pulls the tokens, so the wallet first
    approves it (an EIP-681 `approve` URI), then calls `payToken` (or pays on the page, by permit)."""
    from chaincrm.cli.tokens import money, tokens_of
    from chaincrm.contracts.payments import approve_uri

    crm = app.crm
    currency = tokens_of(crm).info(found.currency)
    approve = approve_uri(crm.chain.chain_id, crm.escrow.address, found)
    fields = {
        "invoice_id": found.id,
        "uri": None,
        "approve_uri": approve,
        "then_call": f"payToken({found.id}) on {crm.escrow.address}",
        "page_url": page,
        "payer": found.payer,
        "currency": found.currency,
        "amount": str(found.amount_wei),
    }

    def human(out: Console) -> None:
        out.print(
            f"Invoice {found.id} is in {currency.symbol}: a wallet cannot pay it from a URI alone, because the "
            "escrow must pull the tokens (approve, then pay; or sign a permit on the payment page).",
            markup=False,
        )
        out.print(f"1. approve the escrow for {money(found.amount_wei, currency)}:", markup=False)
        out.print(approve, markup=False, soft_wrap=True)
        out.print(f"2. then call payToken({found.id}) on the escrow {crm.escrow.address}", markup=False)
        out.print(f"   or `chaincrm invoice pay {found.id} --keystore ...` (add --permit for one transaction)")
        out.print(f"Payment page (any browser wallet): {page}", markup=False, soft_wrap=True)

    emit(fields, as_json, human)


def _side_by_side(left: str, right: str, gap: str = "  ") -> str:
    """Two terminal drawings next to each other, the shorter padded."""
    left_lines, right_lines = left.rstrip("\n").splitlines(), right.rstrip("\n").splitlines()
    width = max((len(line) for line in left_lines), default=0)
    rows = max(len(left_lines), len(right_lines))
    left_lines += [""] * (rows - len(left_lines))
    right_lines += [""] * (rows - len(right_lines))
    return "\n".join(f"{a.ljust(width)}{gap}{b}".rstrip() for a, b in zip(left_lines, right_lines, strict=True))


# ------------------------------------------------------------------ payments made off the chain


@invoice.command(
    name="record-offchain",
    help="Record that an open invoice was paid outside the chain (a manager): the receipt FILE and the "
    "--reference are encrypted for the customer's readers and the customer and stored on IPFS; the chain "
    "gets only their hashes. The reference is never written on-chain.",
)
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@click.option("--method", type=click.Choice(["bank", "card", "other"]), required=True, help="How it was paid.")
@click.option("--reference", required=True, help="The payment's reference (bank transfer id, card slip number).")
@click.option(
    "--receipt",
    "receipt_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The receipt document (PDF, image...).",
)
@keystore_option
@json_option
@pass_app
def record_offchain(
    app: App, invoice_id: int, method: str, reference: str, receipt_file: Path, keystore: str | None, as_json: bool
) -> None:
    from chaincrm.cli.files import read_bytes
    from chaincrm.cli.output import working
    from chaincrm.contracts.escrow import PaymentMethod
    from chaincrm.contracts.offchain import receipt_document, record_off_chain_payment

    data = read_bytes(receipt_file, "receipt", app.store.max_document_bytes)
    chosen = PaymentMethod[method.upper()]
    receipt_document(invoice_id, chosen, reference, receipt_file.name, b"")  # a bad --reference, before unlocking
    manager = app.signer(keystore)
    with working("Encrypting the receipt and recording the payment"):
        recorded = record_off_chain_payment(
            app.notes, invoice_id, chosen, reference, receipt_file.name, data, manager.account
        )
    fields = {
        "invoice_id": invoice_id,
        "customer_id": recorded.customer_id,
        "method": chosen.name.lower(),
        "cid": recorded.cid,
        "cid_digest": "0x" + recorded.cid_digest.hex(),
        "receipt_hash": "0x" + recorded.receipt_hash.hex(),
        "paid_at": recorded.at,
        "tx_hash": recorded.tx_hash,
        "block_number": recorded.block_number,
    }
    line = (
        f"Invoice {invoice_id} recorded as paid off-chain ({chosen.label}) on {when(recorded.at)} in block "
        f"{recorded.block_number}: receipt encrypted as {recorded.cid}"
    )
    emit_line(fields, as_json, line)


@invoice.command(
    help="Decrypt an off-chain payment's receipt into --out FILE, with a reader's keystore (a manager, staff "
    "with a grant, or the customer); prints its reference."
)
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Write it here.")
@keystore_option
@json_option
@pass_app
def receipt(app: App, invoice_id: int, out: Path, keystore: str | None, as_json: bool) -> None:
    from chaincrm.contracts.offchain import read_receipt
    from chaincrm.errors import ConfigError

    if out.exists():
        raise ConfigError(f"{out} already exists: choose another --out")
    reader = app.signer(keystore)
    found = read_receipt(app.notes, invoice_id, reader.account)
    try:
        with out.open("xb") as handle:
            handle.write(found.data)
    except OSError as exc:
        raise ConfigError(f"cannot write {out} ({exc.strerror})") from None
    fields = {
        "invoice_id": invoice_id,
        "method": found.method.name.lower(),
        "reference": found.reference,
        "file_name": found.file_name,
        "size": len(found.data),
        "written_to": str(out),
    }
    line = (
        f"Invoice {invoice_id}: {found.method.label}, reference {found.reference}; {found.file_name} written to {out}"
    )
    emit_line(fields, as_json, line)


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


def _currency_fields(found: Invoice, currency: Any) -> dict[str, Any]:
    from chaincrm.cli.tokens import money

    return {
        "currency": found.currency,
        "currency_symbol": currency.symbol,
        "currency_decimals": currency.decimals,
        "amount": money(found.amount_wei, currency),
    }


def _off_chain_fields(recorded: Any) -> dict[str, Any]:
    if recorded is None:
        return {}
    return {
        "paid_off_chain": {
            "method": recorded.method.name.lower(),
            "recorded_by": recorded.actor,
            "at": recorded.at,
            "receipt_hash": "0x" + recorded.receipt_hash.hex(),
            "cid_digest": "0x" + recorded.cid_digest.hex(),
        }
    }


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
