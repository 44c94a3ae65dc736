"""`chaincrm deal open|move|lose|show|list`: the sales pipeline. Moving a deal to won issues its invoice."""

from __future__ import annotations

import click
from rich.console import Console

from chaincrm.cli.context import (
    ADDRESS,
    ETH_AMOUNT,
    ID,
    App,
    EnumChoice,
    enum_name,
    json_option,
    keystore_option,
    pass_app,
)
from chaincrm.cli.output import (
    deal_fields,
    emit,
    emit_line,
    eth,
    facts,
    stage_change_fields,
    table,
    tracked,
    tx_fields,
    when,
)
from chaincrm.models import Deal, LossReason, Stage


@click.group(
    name="deal", help="Deals: lead, qualified, proposal, negotiation, contracting, then won (invoiced) or lost."
)
def deal() -> None:
    pass


@deal.command(name="open", help="Open a deal at the lead stage (an agent).")
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option(
    "--value", "value_wei", type=ETH_AMOUNT, required=True, help="The deal's value: 1.5 (ETH), 1.5eth, 20gwei, 100wei."
)
@click.option("--owner", type=ADDRESS, help="The agent who owns the deal [default: you].")
@keystore_option
@json_option
@pass_app
def open_deal(
    app: App, customer_id: int, value_wei: int, owner: str | None, keystore: str | None, as_json: bool
) -> None:
    agent = app.signer(keystore)
    pipeline = app.crm.pipeline
    opened = pipeline.deal(pipeline.open_deal(customer_id, owner or agent.address, value_wei, agent.account))
    line = f"Opened deal {opened.id} with customer {customer_id} for {eth(opened.value_wei)}, owned by {opened.owner}"
    emit_line(deal_fields(opened), as_json, line)


@deal.command(
    help="Move a deal one stage forward or back (its owner or a manager): STAGE is lead, qualified, proposal, "
    "negotiation, contracting or won, which issues the invoice. A lost deal is `deal lose`."
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


@deal.command(help="A deal and its stage history.")
@click.argument("deal_id", metavar="DEAL", type=ID)
@json_option
@pass_app
def show(app: App, deal_id: int, as_json: bool) -> None:
    crm = app.crm
    found = crm.pipeline.deal(deal_id)
    history = crm.pipeline.stage_changes(deal_id, from_block=crm.deployment.block_number)

    def human(out: Console) -> None:
        out.print(facts(f"Deal {deal_id}", _deal_rows(found)))
        rows = [(when(c.at), c.block_number, enum_name(c.from_stage), enum_name(c.to_stage), c.actor) for c in history]
        out.print(table("History", ("time", "block", "from", "to", "by"), rows))

    emit(deal_fields(found) | {"history": [stage_change_fields(c) for c in history]}, as_json, human)


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

    def human(out: Console) -> None:
        rows = [
            (d.id, d.customer_id, enum_name(d.stage), eth(d.value_wei), d.owner, d.invoice_id, when(d.opened_at))
            for d in deals
        ]
        out.print(table("Deals", ("deal", "customer", "stage", "value", "owner", "invoice", "opened"), rows))

    emit([deal_fields(d) for d in deals], as_json, human)


def _deal_rows(found: Deal) -> dict[str, object]:
    return {
        "customer": found.customer_id,
        "stage": enum_name(found.stage),
        "value": eth(found.value_wei),
        "owner": found.owner,
        "invoice": found.invoice_id,
        "opened": when(found.opened_at),
    }
