"""`chaincrm interaction log|list`: what happened with a customer, as a hash on the chain.

The content itself never goes on-chain. An attachment is encrypted here for everyone who can
read the customer's profile (and the author), stored on the IPFS node, and the chain records the
keccak256 of the encrypted document; a note (typed, `--note`, or `--note-file`) is only hashed,
here, and stays with the caller.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from chaincrm.cli.context import ID, App, EnumChoice, enum_name, json_option, keystore_option, pass_app
from chaincrm.cli.files import read_bytes
from chaincrm.cli.output import emit, emit_line, hex32, interaction_fields, table, tx_fields, when
from chaincrm.customers import CustomerData
from chaincrm.documents import content_hash
from chaincrm.errors import ConfigError
from chaincrm.models import InteractionKind, Outcome
from chaincrm.registry import InteractionEntry


@click.group(name="interaction", help="Interactions with customers: calls, e-mails, meetings, logged as hashes.")
def interaction() -> None:
    pass


@interaction.command(
    name="log", help="Log an interaction (an agent). Give one of --note, --note-file, --attach, or type a note."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--kind", type=EnumChoice(InteractionKind), required=True, help="What kind of contact it was.")
@click.option("--outcome", type=EnumChoice(Outcome), default="none", show_default=True, help="How it went.")
@click.option("--note", help="A note, hashed here; only the hash goes on-chain.")
@click.option("--note-file", type=click.Path(path_type=Path), help="A file hashed here; only the hash goes on-chain.")
@click.option(
    "--attach",
    type=click.Path(path_type=Path),
    help="A file encrypted for the customer's readers and stored on IPFS; its keccak256 goes on-chain.",
)
@keystore_option
@json_option
@pass_app
def log_interaction(
    app: App,
    customer_id: int,
    kind: InteractionKind,
    outcome: Outcome,
    note: str | None,
    note_file: Path | None,
    attach: Path | None,
    keystore: str | None,
    as_json: bool,
) -> None:
    if sum(given is not None for given in (note, note_file, attach)) > 1:
        raise ConfigError("give only one of --note, --note-file and --attach")
    if attach is not None:
        content = read_bytes(attach, "attachment", app.store.max_document_bytes)
    elif note_file is not None:
        content = read_bytes(note_file, "note file")
    else:
        text = note if note is not None else click.prompt("Note", err=True)
        if not text.strip():
            raise ConfigError("the note is empty")
        content = text.encode()
    agent = app.signer(keystore)
    crm = app.crm
    if attach is not None:
        content = CustomerData(crm, app.store).seal_attachment(customer_id, content, agent.account)
    entry = InteractionEntry(customer_id, kind, outcome, content_hash(content))
    # Ask the contract first, so that an attachment is stored only for an interaction it accepts.
    probe = crm.registry.contract.functions.logInteraction(customer_id, int(kind), int(outcome), entry.content_hash)
    crm.chain.gas_limit(probe, agent.account)
    cid = app.store.put(content) if attach is not None else None
    try:
        receipt = crm.registry.log_interaction(entry, agent.account)
    except Exception:
        if cid is not None:
            app.store.unpin(cid)
        raise
    fields = {
        "customer_id": customer_id,
        "kind": enum_name(kind),
        "outcome": enum_name(outcome),
        "content_hash": hex32(entry.content_hash),
        "cid": cid,
    } | tx_fields(receipt)
    stored = f", attachment stored as {cid}" if cid else ""
    line = (
        f"Logged a {enum_name(kind)} with customer {customer_id} ({enum_name(outcome)}) in block "
        f"{fields['block_number']}: content hash {fields['content_hash']}{stored}"
    )
    emit_line(fields, as_json, line)


@interaction.command(name="list", help="Interactions in chain order, for one customer or all.")
@click.argument("customer_id", metavar="[CUSTOMER]", type=ID, required=False)
@json_option
@pass_app
def list_interactions(app: App, customer_id: int | None, as_json: bool) -> None:
    crm = app.crm
    if customer_id is not None:
        crm.registry.customer(customer_id)  # CustomerUnknown rather than an empty list
    found = crm.registry.interactions(customer_id, from_block=crm.deployment.block_number)

    def human(out: Console) -> None:
        rows = [
            (
                when(i.at),
                i.block_number,
                i.customer_id,
                enum_name(i.kind),
                enum_name(i.outcome),
                i.author,
                hex32(i.content_hash)[:18] + "…",
            )
            for i in found
        ]
        title = f"Interactions with customer {customer_id}" if customer_id else "Interactions"
        out.print(table(title, ("time", "block", "customer", "kind", "outcome", "author", "content hash"), rows))

    emit([interaction_fields(i) for i in found], as_json, human)
