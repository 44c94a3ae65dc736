"""`chaincrm interaction log|list|show`: what happened with a customer, encrypted, as a hash on the chain.

A note and its attachments are one document, encrypted here under the customer's content key
(which travels inside the profile, wrapped for the customer's readers), stored on the IPFS node.
The chain records only the sha2-256 digest of that document's CID: a hash of ciphertext under a
random key and nonce, which cannot be recomputed from the note. Readers of the customer's profile
read it back with `interaction show`.

An interaction is addressed by its customer and either its INDEX, its 1-based position in
`interaction list CUSTOMER` (chain order: the log only grows, so an index never changes), or the
transaction that logged it (`--tx`, as `interaction log` prints it).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from chaincrm.cli.context import (
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
from chaincrm.cli.output import emit, emit_line, hex32, interaction_fields, table, tx_fields, when, working
from chaincrm.errors import ConfigError, PrivacyError, StorageError
from chaincrm.models import Interaction, InteractionKind, Outcome

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.privacy import InteractionContent

TX_HASH_HEX_CHARS = 64
MODE_ENV = "CHAINCRM_INTERACTION_MODE"
SINGLE_MODE, BATCHED_MODE = "single", "batched"
NOTE_PREVIEW_CHARS = 60


@click.group(
    name="interaction",
    help="Interactions with customers: calls, e-mails, meetings; encrypted notes and attachments, hashes on-chain.",
)
def interaction() -> None:
    pass


@interaction.command(
    name="log",
    help="Log an interaction (an agent with a grant on the customer). The note (--note, --note-file, or typed "
    "when neither is given and nothing is attached; with --json nothing is asked) and every --attach file are "
    "encrypted together for the customer's readers and stored on IPFS; the chain gets only the CID digest of the "
    "ciphertext.",
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--kind", type=EnumChoice(InteractionKind), required=True, help="What kind of contact it was.")
@click.option("--outcome", type=EnumChoice(Outcome), default="none", show_default=True, help="How it went.")
@click.option("--note", help="The note, encrypted with the attachments; never on-chain, never hashed in the clear.")
@click.option(
    "--note-file",
    type=click.Path(path_type=Path),
    help="A UTF-8 text file whose contents are the note (formerly only hashed; now encrypted and stored like "
    "--note). Use --attach for other files.",
)
@click.option(
    "--attach",
    type=click.Path(path_type=Path),
    multiple=True,
    help="A file to attach, encrypted in the same document as the note (repeatable).",
)
@click.option(
    "--batched",
    "mode",
    flag_value=BATCHED_MODE,
    help="Queue the record for a Merkle-anchored batch (cheap; anchored by `chaincrm batch run`/`flush`) "
    f"instead of its own transaction [default from env {MODE_ENV}=single|batched, else single].",
)
@click.option("--single", "mode", flag_value=SINGLE_MODE, help="Log it now in its own transaction (immediate).")
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
    attach: tuple[Path, ...],
    keystore: str | None,
    as_json: bool,
    mode: str | None = None,
) -> None:
    from chaincrm.privacy import Attachment, InteractionContent

    if note is not None and note_file is not None:
        raise ConfigError("give only one of --note and --note-file")
    limit = app.store.max_document_bytes
    attachments = tuple(Attachment(path.name, read_bytes(path, "attachment", limit)) for path in attach)
    if note_file is not None:
        text = _note_text(read_bytes(note_file, "note file", limit), note_file)
    elif note is not None or attachments:
        text = note or ""
    elif as_json:
        raise ConfigError("no note: give --note, --note-file or --attach (with --json nothing is asked)")
    else:
        text = click.prompt("Note", err=True)
    if not text.strip() and not attachments:
        raise ConfigError("the note is empty")
    content = InteractionContent(text, attachments)
    mode = _interaction_mode(mode)
    agent = app.signer(keystore)
    if mode == BATCHED_MODE:
        _queue_interaction(app, agent.account, customer_id, kind, outcome, content, as_json)
        return
    with working("Encrypting and logging the interaction"):
        stored = app.notes.log_interaction(customer_id, kind, outcome, content, agent.account)
    receipt = app.crm.chain.wait(stored.tx_hash)
    fields = {
        "customer_id": customer_id,
        "kind": enum_name(kind),
        "outcome": enum_name(outcome),
        "content_hash": hex32(stored.digest),
        "cid": stored.cid,
        "attachments": [attachment.name for attachment in attachments],
    } | tx_fields(receipt)
    attached = f" and {len(attachments)} attachment(s)" if attachments else ""
    line = (
        f"Logged a {enum_name(kind)} with customer {customer_id} ({enum_name(outcome)}) in block "
        f"{fields['block_number']}: note{attached} encrypted as {stored.cid}, content hash {fields['content_hash']}"
    )
    emit_line(fields, as_json, line)


def _interaction_mode(given: str | None) -> str:
    """--batched/--single, else the setting in the environment, else single."""
    if given is not None:
        return given
    setting = os.environ.get(MODE_ENV, "").strip().lower() or SINGLE_MODE
    if setting not in (SINGLE_MODE, BATCHED_MODE):
        raise ConfigError(f"{MODE_ENV} is {setting!r}: expected single or batched")
    return setting


def _queue_interaction(
    app: App,
    agent: LocalAccount,
    customer_id: int,
    kind: InteractionKind,
    outcome: Outcome,
    content: InteractionContent,
    as_json: bool,
) -> None:
    from chaincrm.batches import open_queue
    from chaincrm.batches.records import queue_interaction

    with (
        working("Encrypting and queueing the interaction"),
        open_queue(app.crm, app.settings.state_dir, agent.address) as queue,
    ):
        queued = queue_interaction(app.notes, queue, customer_id, kind, outcome, content, agent)
    fields = {
        "mode": BATCHED_MODE,
        "customer_id": customer_id,
        "kind": enum_name(kind),
        "outcome": enum_name(outcome),
        "content_hash": hex32(queued.digest),
        "cid": queued.cid,
        "record_id": hex32(queued.record_id),
        "attachments": [attachment.name for attachment in content.attachments],
    }
    line = (
        f"Queued a {enum_name(kind)} with customer {customer_id} ({enum_name(outcome)}) as record "
        f"{fields['record_id']}: note encrypted as {queued.cid}; it is anchored with its batch "
        "(`chaincrm batch run`, or `chaincrm batch flush` now)"
    )
    emit_line(fields, as_json, line)


def _note_text(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"note file {path} is not UTF-8 text: attach it with --attach instead") from None


@interaction.command(
    name="list",
    help="Interactions in chain order, for one customer or all, with each one's INDEX in its customer's list "
    "(what `interaction show CUSTOMER --index N` takes). A kind or outcome this version does not know "
    "prints as unknown(N).",
)
@click.argument("customer_id", metavar="[CUSTOMER]", type=ID, required=False)
@index_source_options
@json_option
@pass_app
def list_interactions(app: App, customer_id: int | None, database: str | None, from_chain: bool, as_json: bool) -> None:
    from chaincrm.index.reads import read_interactions

    crm = app.crm
    if customer_id is not None:
        crm.registry.customer(customer_id)  # CustomerUnknown rather than an empty list
    from chaincrm.batches.chain_records import batch_document_store

    with batch_document_store(app.settings.ipfs_api) as batches:  # anchored batches, when read from the chain
        read = read_interactions(
            crm, customer_id, database=database, home=app.settings.home, from_chain=from_chain, store=batches
        )
    indexed = _indexed(read.interactions)
    source = {"source": read.source, "as_of_block": read.as_of_block}

    def human(out: Console) -> None:
        rows = [
            (
                index,
                when(i.at),
                i.block_number,
                i.customer_id,
                enum_name(i.kind),
                enum_name(i.outcome),
                i.author,
                hex32(i.content_hash)[:18] + "…",
            )
            for index, i in indexed
        ]
        title = f"Interactions with customer {customer_id}" if customer_id else "Interactions"
        columns = ("index", "time", "block", "customer", "kind", "outcome", "author", "content hash")
        out.print(table(title, columns, rows))
        out.print(f"Read from the {read.source} up to block {read.as_of_block}", markup=False)

    emit([listed_fields(index, i) | source for index, i in indexed], as_json, human)


def _indexed(found: list[Interaction]) -> list[tuple[int, Interaction]]:
    """Each interaction with its 1-based position among its customer's interactions (chain order)."""
    seen: Counter[int] = Counter()
    indexed = []
    for item in found:
        seen[item.customer_id] += 1
        indexed.append((seen[item.customer_id], item))
    return indexed


def listed_fields(index: int, item: Interaction) -> dict[str, Any]:
    return interaction_fields(item) | {"index": index}


@interaction.command(
    name="show",
    help="Decrypt a customer's interactions with a reader's keystore (a manager, staff with a grant, or the "
    "customer): every one, or the one at --index N (its position in `interaction list CUSTOMER`, from 1), or "
    "those logged by transaction --tx HASH. --save-attachments DIR writes attachments as DIR/<index>-<name>.",
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--index", "index", type=ID, help="Only the interaction at this position in the customer's list.")
@click.option("--tx", "tx_hash", metavar="HASH", help="Only the interactions logged by this transaction.")
@click.option(
    "--save-attachments",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the attachments into this folder (created if missing; existing files are never replaced).",
)
@keystore_option
@json_option
@pass_app
def show_interactions(
    app: App,
    customer_id: int,
    index: int | None,
    tx_hash: str | None,
    save_attachments: Path | None,
    keystore: str | None,
    as_json: bool,
) -> None:
    if index is not None and tx_hash is not None:
        raise ConfigError("give only one of --index and --tx")
    if tx_hash is not None:
        tx_hash = _tx_hash(tx_hash)
    crm = app.crm
    crm.registry.customer(customer_id)  # CustomerUnknown first
    from chaincrm.privacy.erasure import interactions_of

    # Single and batched (anchored) records, numbered as `interaction list` numbers them.
    indexed = _indexed(interactions_of(crm, app.store, customer_id, from_block=crm.deployment.block_number))
    if index is not None:
        if index > len(indexed):
            raise ConfigError(f"customer {customer_id} has {len(indexed)} interaction(s); there is no index {index}")
        indexed = [indexed[index - 1]]
    elif tx_hash is not None:
        indexed = [(n, i) for n, i in indexed if i.tx_hash == tx_hash]
        if not indexed:
            raise ConfigError(f"transaction {tx_hash} logged no interaction with customer {customer_id}")
    reader = app.signer(keystore)
    if indexed:
        try:
            app.notes.keyring(customer_id, reader.account)
        except PrivacyError as exc:
            raise PrivacyError(f"{reader.address} cannot read customer {customer_id}'s content ({exc})") from None
    opened: list[tuple[int, Interaction, InteractionContent | None, str | None]] = []
    with working("Decrypting"):
        for number, item in indexed:
            try:
                content = app.notes.read_interaction(customer_id, item.content_hash, reader.account)
                opened.append((number, item, content, None))
            except (PrivacyError, StorageError) as exc:
                opened.append((number, item, None, str(exc)))
    saved = _save(save_attachments, opened) if save_attachments is not None else {}
    rows = [
        listed_fields(number, item)
        | {
            "note": content.note if content else None,
            "attachments": [
                {"name": a.name, "size": len(a.data), "saved_to": saved.get((number, a.name))}
                for a in (content.attachments if content else ())
            ],
            "problem": problem,
        }
        for number, item, content, problem in opened
    ]

    def human(out: Console) -> None:
        if not rows:
            out.print(f"Customer {customer_id} has no interactions", markup=False)
        for row in rows:
            head = (
                f"#{row['index']} {when(row['at'])} {row['kind']} ({row['outcome']}) by {row['author']} "
                f"in block {row['block_number']}"
            )
            out.print(head, markup=False)
            if row["problem"]:
                out.print(f"  unreadable: {row['problem']}", markup=False)
                continue
            for line in (row["note"] or "(no note)").splitlines() or [""]:
                out.print(f"  {line}", markup=False)
            for attachment in row["attachments"]:
                where = f" -> {attachment['saved_to']}" if attachment["saved_to"] else ""
                out.print(f"  attachment: {attachment['name']} ({attachment['size']:,} bytes){where}", markup=False)

    emit(rows, as_json, human)


def _tx_hash(text: str) -> str:
    value = text.strip().lower()
    value = value[2:] if value.startswith("0x") else value
    if len(value) != TX_HASH_HEX_CHARS or any(c not in "0123456789abcdef" for c in value):
        raise click.BadParameter(f"{text!r} is not a transaction hash (0x and 64 hex digits)", param_hint="'--tx'")
    return "0x" + value


def _save(
    folder: Path, opened: list[tuple[int, Interaction, InteractionContent | None, str | None]]
) -> dict[tuple[int, str], str]:
    """Write every attachment as folder/<index>-<name>; refuse before writing anything if a file exists."""
    targets = {
        (number, attachment.name): (folder / f"{number}-{attachment.name}", attachment.data)
        for number, _, content, _ in opened
        if content is not None
        for attachment in content.attachments
    }
    existing = [str(path) for path, _ in targets.values() if path.exists()]
    if existing:
        raise ConfigError(f"{existing[0]} already exists: choose another --save-attachments folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, data in targets.values():
            with path.open("xb") as handle:
                handle.write(data)
    except OSError as exc:
        raise ConfigError(f"cannot write attachments into {folder} ({exc.strerror})") from None
    return {key: str(path) for key, (path, _) in targets.items()}
