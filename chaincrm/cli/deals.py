"""`chaincrm deal open|move|lose|reissue|attach|document|show|list`: the sales pipeline.

Moving a deal to won issues its invoice; above the admin's approval threshold only a manager may.
Deal documents (proposals, contracts) are encrypted under the customer's content key, like notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from chaincrm.cli.context import (
    ADDRESS,
    DEAL_VALUE,
    ID,
    App,
    EnumChoice,
    enum_name,
    index_source_options,
    json_option,
    keystore_option,
    pass_app,
)
from chaincrm.cli.files import read_bytes
from chaincrm.cli.output import (
    deal_fields,
    emit,
    emit_line,
    eth,
    facts,
    hex32,
    stage_change_fields,
    table,
    tracked,
    tx_fields,
    when,
    working,
)
from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.models import Deal, DocumentKind, LossReason, Stage

if TYPE_CHECKING:
    from chaincrm.index.reads import DealDocument


@click.group(
    name="deal", help="Deals: lead, qualified, proposal, negotiation, contracting, then won (invoiced) or lost."
)
def deal() -> None:
    pass


@deal.command(
    name="open",
    help="Open a deal at the lead stage (a manager, or an agent with a grant on the customer); the owner must "
    "be an agent with a grant on the customer.",
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option(
    "--value",
    "value_text",
    required=True,
    help="The deal's value: in ETH 1.5, 1.5eth, 20gwei, 100wei; in a token (--currency) its whole units, "
    "125.50; at most what an invoice holds (uint96 base units, about 79 billion ETH).",
)
@click.option(
    "--currency",
    metavar="SYMBOL|ADDRESS",
    help="An allowed ERC-20 (`chaincrm token list`), by symbol or address [default: ETH].",
)
@click.option("--owner", type=ADDRESS, help="The agent (with a grant on the customer) who owns it [default: you].")
@keystore_option
@json_option
@pass_app
def open_deal(
    app: App,
    customer_id: int,
    value_text: str,
    currency: str | None,
    owner: str | None,
    keystore: str | None,
    as_json: bool,
) -> None:
    from chaincrm.cli.tokens import money, resolve_currency
    from chaincrm.currency import ETH_INFO, parse_amount

    pipeline = app.crm.pipeline
    token = resolve_currency(app.crm, currency) if currency else ETH_INFO
    if token.is_eth:
        context = click.get_current_context()
        param = next(p for p in context.command.params if p.name == "value_text")
        value = DEAL_VALUE.convert(value_text, param, context)
    else:
        value = parse_amount(value_text, token)
    agent = app.signer(keystore)
    deal_id = pipeline.open_deal_in(customer_id, owner or agent.address, value, token.address, agent.account)
    opened = pipeline.deal(deal_id)
    line = (
        f"Opened deal {opened.id} with customer {customer_id} for {money(opened.value_wei, token)}, "
        f"owned by {opened.owner}"
    )
    emit_line(deal_fields(opened) | _currency_fields(token), as_json, line)


def _currency_fields(token: Any) -> dict[str, Any]:
    return {"currency": token.address, "currency_symbol": token.symbol, "currency_decimals": token.decimals}


@deal.command(
    help="Move a deal one stage forward or back (its owner or a manager): STAGE is lead, qualified, proposal, "
    "negotiation, contracting or won, which issues the invoice to the customer's accepted wallet. Above the "
    "approval threshold (`deal show`) only a manager moves a deal to won. A lost deal is `deal lose`."
)
@click.argument("deal_id", metavar="DEAL", type=ID)
@click.argument("stage", metavar="STAGE", type=EnumChoice(Stage, exclude=(Stage.NONE, Stage.LOST)))
@keystore_option
@json_option
@pass_app
def move(app: App, deal_id: int, stage: Stage, keystore: str | None, as_json: bool) -> None:
    actor = app.signer(keystore)
    pipeline = app.crm.pipeline
    receipt = pipeline.move(deal_id, stage, actor.account)
    moved = pipeline.deal(deal_id)
    line = f"Deal {deal_id} moved to {enum_name(moved.stage)} in block {receipt['blockNumber']}"
    if moved.invoice_id is not None:
        line += f"; invoice {moved.invoice_id} issued for {eth(moved.value_wei)}"
    emit_line(deal_fields(moved) | tx_fields(receipt), as_json, line)


@deal.command(help="Mark an open deal lost (its owner or a manager).")
@click.argument("deal_id", metavar="DEAL", type=ID)
@click.option("--reason", type=EnumChoice(LossReason), required=True, help="Why it was lost.")
@keystore_option
@json_option
@pass_app
def lose(app: App, deal_id: int, reason: LossReason, keystore: str | None, as_json: bool) -> None:
    actor = app.signer(keystore)
    pipeline = app.crm.pipeline
    receipt = pipeline.mark_lost(deal_id, reason, actor.account)
    lost = pipeline.deal(deal_id)
    fields = deal_fields(lost) | {"reason": enum_name(reason)} | tx_fields(receipt)
    emit_line(fields, as_json, f"Deal {deal_id} lost ({enum_name(reason)}) in block {receipt['blockNumber']}")


@deal.command(
    help="A deal, its stage history, its invoices (a re-issue adds one) and its documents: from the event index "
    "when one follows this deployment and holds the deal, else from the chain."
)
@click.argument("deal_id", metavar="DEAL", type=ID)
@index_source_options
@json_option
@pass_app
def show(app: App, deal_id: int, database: str | None, from_chain: bool, as_json: bool) -> None:
    from chaincrm.index.reads import read_deal

    crm = app.crm
    read = read_deal(crm, deal_id, database=database, home=app.settings.home, from_chain=from_chain)
    from chaincrm.cli.tokens import money, tokens_of

    found, history, invoices = read.deal, read.history, read.invoices
    documents = _document_fields(read.documents)
    threshold = crm.pipeline.approval_threshold_wei()
    # The currency is fixed when the deal opens: read from the chain, whatever the source.
    token = tokens_of(crm).info(found.currency or crm.pipeline.deal(deal_id).currency)
    fields = (
        deal_fields(found)
        | _currency_fields(token)
        | {
            "discount_bps": found.discount_bps,
            "history": [stage_change_fields(c) for c in history],
            "invoices": [
                {
                    "invoice_id": i.id,
                    "status": enum_name(i.status),
                    "payer": i.payer,
                    "amount_wei": str(i.amount_wei),
                    "amount": money(i.amount_wei, token),
                    "due_at": i.due_at,
                }
                for i in invoices
            ],
            "documents": documents,
            # The threshold is in wei: a deal in a token always needs a manager to be won.
            "won_needs_manager": not token.is_eth or found.value_wei > threshold,
            "source": read.source,
            "as_of_block": read.as_of_block,
        }
    )

    def human(out: Console) -> None:
        approval = "its owner or a manager"
        if fields["won_needs_manager"]:
            approval = f"a manager (above {eth(threshold)})" if token.is_eth else "a manager (a deal in a token)"
        shown = _deal_rows(found) | {"value": money(found.value_wei, token), "moved to won by": approval}
        out.print(facts(f"Deal {deal_id}", shown))
        rows = [(when(c.at), c.block_number, enum_name(c.from_stage), enum_name(c.to_stage), c.actor) for c in history]
        out.print(table("History", ("time", "block", "from", "to", "by"), rows))
        billed = [(i.id, enum_name(i.status), i.payer, money(i.amount_wei, token), when(i.due_at)) for i in invoices]
        out.print(table("Invoices", ("invoice", "status", "payer", "amount", "due"), billed))
        docs = [(d["index"], d["kind"], d["cid"], d["author"], d["block_number"]) for d in documents]
        out.print(table("Documents", ("index", "kind", "document", "by", "block"), docs))
        out.print(f"Read from the {read.source} up to block {read.as_of_block}", markup=False)

    emit(fields, as_json, human)


def _documents(crm: Crm, deal_id: int) -> list[dict[str, Any]]:
    """The deal's documents from its DealDocumentAttached events, numbered from 1 in chain order."""
    from chaincrm.index.reads import deal_documents

    return _document_fields(deal_documents(crm, deal_id))


def _document_fields(documents: list[DealDocument]) -> list[dict[str, Any]]:
    from chaincrm.storage import digest_to_cid

    return [
        {
            "index": number,
            "kind": enum_name(d.kind),
            "cid": str(digest_to_cid(d.cid_digest)),
            "cid_digest": hex32(d.cid_digest),
            "content_hash": hex32(d.content_hash),
            "author": d.author,
            "block_number": d.block_number,
            "tx_hash": d.tx_hash,
        }
        for number, d in enumerate(documents, start=1)
    ]


@deal.command(
    help="Cancel a won deal's unpaid invoice and issue a new one to the customer's current wallet (a manager), "
    "e.g. after the customer moved to another wallet."
)
@click.argument("deal_id", metavar="DEAL", type=ID)
@keystore_option
@json_option
@pass_app
def reissue(app: App, deal_id: int, keystore: str | None, as_json: bool) -> None:
    manager = app.signer(keystore)
    crm = app.crm
    previous = crm.pipeline.deal(deal_id).invoice_id
    invoice_id = crm.pipeline.reissue_invoice(deal_id, manager.account)
    issued = crm.escrow.invoice(invoice_id)
    fields = {
        "deal_id": deal_id,
        "cancelled_invoice_id": previous,
        "invoice_id": invoice_id,
        "payer": issued.payer,
        "amount_wei": str(issued.amount_wei),
    }
    line = (
        f"Deal {deal_id}: invoice {previous} cancelled, invoice {invoice_id} issued to {issued.payer} "
        f"for {eth(issued.amount_wei)}"
    )
    emit_line(fields, as_json, line)


@deal.command(
    help="Attach a document to a deal (its owner or a manager who can read the customer): FILE is encrypted "
    "under the customer's content key and stored on IPFS; the chain records its hashes."
)
@click.argument("deal_id", metavar="DEAL", type=ID)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", type=EnumChoice(DocumentKind), required=True, help="What the document is.")
@keystore_option
@json_option
@pass_app
def attach(app: App, deal_id: int, file: Path, kind: DocumentKind, keystore: str | None, as_json: bool) -> None:
    data = read_bytes(file, "document", app.store.max_document_bytes)
    author = app.signer(keystore)
    with working("Encrypting and attaching the document"):
        stored = app.notes.attach_deal_document(deal_id, kind, data, author.account)
    fields = {
        "deal_id": deal_id,
        "customer_id": stored.customer_id,
        "kind": enum_name(kind),
        "cid": stored.cid,
        "cid_digest": hex32(stored.digest),
        "tx_hash": stored.tx_hash,
        "block_number": stored.block_number,
    }
    line = f"Attached a {enum_name(kind)} to deal {deal_id} in block {stored.block_number}: encrypted as {stored.cid}"
    emit_line(fields, as_json, line)


@deal.command(
    help="Decrypt a deal's document (INDEX as `deal show` numbers them, from 1) into --out FILE, with a reader's "
    "keystore (a manager, staff with a grant, or the customer)."
)
@click.argument("deal_id", metavar="DEAL", type=ID)
@click.argument("index", metavar="INDEX", type=ID)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Write it here.")
@keystore_option
@json_option
@pass_app
def document(app: App, deal_id: int, index: int, out: Path, keystore: str | None, as_json: bool) -> None:
    crm = app.crm
    found = crm.pipeline.deal(deal_id)
    documents = _documents(crm, deal_id)
    if index > len(documents):
        raise ConfigError(f"deal {deal_id} has {len(documents)} document(s); there is no index {index}")
    if out.exists():
        raise ConfigError(f"{out} already exists: choose another --out")
    chosen = documents[index - 1]
    reader = app.signer(keystore)
    digest = bytes.fromhex(chosen["cid_digest"][2:])
    try:
        data = app.notes.read_deal_document(found.customer_id, digest, reader.account)
    except PrivacyError as exc:
        raise PrivacyError(f"{reader.address} cannot read customer {found.customer_id}'s content ({exc})") from None
    try:
        with out.open("xb") as handle:
            handle.write(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {out} ({exc.strerror})") from None
    fields = {"deal_id": deal_id, "index": index, "kind": chosen["kind"], "size": len(data), "written_to": str(out)}
    emit_line(fields, as_json, f"Deal {deal_id}'s {chosen['kind']} ({len(data):,} bytes) written to {out}")


@deal.command(name="list", help="Every deal, optionally only one stage's or one customer's.")
@click.option("--stage", type=EnumChoice(Stage, exclude=(Stage.NONE,)), help="Only deals at this stage.")
@click.option("--customer", "customer_id", type=ID, help="Only this customer's deals.")
@json_option
@pass_app
def list_deals(app: App, stage: Stage | None, customer_id: int | None, as_json: bool) -> None:
    pipeline = app.crm.pipeline
    deals = [
        d
        for d in map(pipeline.deal, tracked(range(1, pipeline.deal_count() + 1), "Reading deals"))
        if (stage is None or d.stage is stage) and (customer_id is None or d.customer_id == customer_id)
    ]

    from chaincrm.cli.tokens import money, tokens_of

    tokens = tokens_of(app.crm)

    def human(out: Console) -> None:
        rows = [
            (
                d.id,
                d.customer_id,
                enum_name(d.stage),
                money(d.value_wei, tokens.info(d.currency)),
                d.owner,
                d.invoice_id,
                when(d.opened_at),
            )
            for d in deals
        ]
        out.print(table("Deals", ("deal", "customer", "stage", "value", "owner", "invoice", "opened"), rows))

    emit([deal_fields(d) | _currency_fields(tokens.info(d.currency)) for d in deals], as_json, human)


def _deal_rows(found: Deal) -> dict[str, object]:
    return {
        "customer": found.customer_id,
        "stage": enum_name(found.stage),
        "value": eth(found.value_wei),
        "owner": found.owner,
        "invoice": found.invoice_id,
        "opened": when(found.opened_at),
    }
