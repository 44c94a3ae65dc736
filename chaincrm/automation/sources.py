"""What the keeper reads: open invoices and reminder records from the index, and from the chain the
blocks the index has not read yet.

The index is read in one snapshot (its last block and the rows up to it agree). For the blocks after
it, up to the head, the chain is read directly: reminder records another keeper made there, and the
invoices whose status changed there (each read again with ``invoiceOf``), so that neither a fresh
record nor a fresh payment is missed because the index lags.

Reminder records in the blocks after the index are read from the registry's own logs only, not
from anchored interaction batches: the keeper logs its reminders on-chain (packed), under a
domain-tagged hash (:func:`~chaincrm.automation.reminders.reminder_hash`) that no batched note's
document digest equals, and reading batches would fetch every batch document from IPFS on each
pass. The index's rows (batched records included) cover everything up to its block.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import event_abi_to_log_topic
from hexbytes import HexBytes
from sqlalchemy import Engine, select

from chaincrm.automation.reminders import OpenInvoice
from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError
from chaincrm.index import schema as db
from chaincrm.index.database import database_errors, describe_database, open_database, read_state
from chaincrm.models import CustomerStatus, Interaction, InteractionKind, InvoiceStatus


@dataclass(frozen=True)
class RecordRef:
    """Where a reminder record is on the chain: the order that decides which record came first."""

    author: str
    block_number: int
    log_index: int
    position: int
    tx_hash: str

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.block_number, self.log_index, self.position)

    @classmethod
    def of(cls, interaction: Interaction) -> RecordRef:
        return cls(
            interaction.author,
            interaction.block_number,
            interaction.log_index,
            interaction.position,
            interaction.tx_hash,
        )


@dataclass(frozen=True)
class Snapshot:
    """One look at the world: open invoices, the first reminder record per content hash, the block
    the index reached, the chain's head and its clock (the head block's time)."""

    invoices: list[OpenInvoice]
    first_records: dict[bytes, RecordRef]
    index_block: int
    head: int
    now: int


def first_records(found: Iterable[Interaction], into: dict[bytes, RecordRef] | None = None) -> dict[bytes, RecordRef]:
    """The first (block, log index, position) reminder record of each content hash in `found`."""
    firsts = into if into is not None else {}
    for interaction in found:
        if interaction.kind != InteractionKind.REMINDER:
            continue
        ref = RecordRef.of(interaction)
        held = firsts.get(interaction.content_hash)
        if held is None or ref.order < held.order:
            firsts[interaction.content_hash] = ref
    return firsts


class Sources:
    """The index of this deployment (refused if it follows another one) and the chain."""

    def __init__(self, crm: Crm, database: str | Path | Engine | None, home: Path) -> None:
        self.crm = crm
        self._owns_engine = not isinstance(database, Engine)
        self.engine = database if isinstance(database, Engine) else open_database(database, home=home)
        abi: list[dict[str, Any]] = [dict(item) for item in crm.escrow.contract.abi]
        self._status_topics = {
            HexBytes(event_abi_to_log_topic(item))  # type: ignore[arg-type]
            for item in abi
            if item.get("type") == "event"
            and str(item.get("name", "")).startswith("Invoice")
            and item["name"] != "InvoiceIssued"
            and item.get("inputs")
            and item["inputs"][0]["name"] == "invoiceId"
            and item["inputs"][0].get("indexed")
        }

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    @property
    def where(self) -> str:
        return describe_database(self.engine)

    def snapshot(self) -> Snapshot:
        deployment = self.crm.deployment
        state = read_state(self.engine)
        if state is None:
            raise ConfigError(f"no index at {self.where} yet: run `chaincrm index` (or pass --sync)")
        if (state.chain_id, state.registry, state.escrow) != (
            deployment.chain_id,
            deployment.registry,
            deployment.escrow,
        ):
            raise ConfigError(f"the index at {self.where} follows another deployment: pass --database")
        i, c, t = db.invoices, db.customers, db.interactions
        with database_errors(self.engine), self.engine.connect() as conn, conn.begin():
            index_block = int(
                conn.execute(select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1)).scalar_one()
            )
            rows = conn.execute(
                select(i.c.id, i.c.customer_id, i.c.amount_wei, i.c.due_at, c.c.status)
                .select_from(i.outerjoin(c, c.c.id == i.c.customer_id))
                .where(i.c.status == int(InvoiceStatus.OPEN))
                .order_by(i.c.id)
            ).all()
            records = conn.execute(
                select(t.c.content_hash, t.c.author, t.c.block_number, t.c.log_index, t.c.position, t.c.tx_hash).where(
                    t.c.kind == int(InteractionKind.REMINDER)
                )
            ).all()
        firsts: dict[bytes, RecordRef] = {}
        for content_hash, author, block, log_index, position, tx_hash in records:
            ref = RecordRef(author, int(block), int(log_index), int(position), tx_hash)
            key = bytes.fromhex(content_hash[2:])
            held = firsts.get(key)
            if held is None or ref.order < held.order:
                firsts[key] = ref
        invoices = [
            OpenInvoice(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4] == int(CustomerStatus.ERASED)) for r in rows
        ]
        chain = self.crm.chain
        head_block = chain.w3.eth.get_block("latest")
        head, now = int(head_block["number"]), int(head_block["timestamp"])
        if head > index_block:
            first_records(self.crm.registry.interactions(None, from_block=index_block + 1, to_block=head), firsts)
            invoices = self._still_open(invoices, index_block + 1, head)
        return Snapshot(invoices, firsts, index_block, head, now)

    def records_between(self, from_block: int, to_block: int) -> dict[bytes, RecordRef]:
        """The first reminder record per content hash in blocks `from_block..to_block`, from the chain."""
        return first_records(self.crm.registry.interactions(None, from_block=from_block, to_block=to_block))

    def _still_open(self, invoices: list[OpenInvoice], from_block: int, to_block: int) -> list[OpenInvoice]:
        """`invoices` without those the chain says are no longer open after an event the index has
        not read yet (paid, cancelled, settled off-chain, ...)."""
        logs = self.crm.chain.w3.eth.get_logs(
            {"address": self.crm.escrow.address, "fromBlock": from_block, "toBlock": to_block}
        )
        touched = {
            int.from_bytes(bytes(log["topics"][1]), "big")
            for log in logs
            if len(log["topics"]) > 1 and HexBytes(log["topics"][0]) in self._status_topics
        }
        if not touched:
            return invoices
        functions = self.crm.escrow.contract.functions
        ids = sorted(touched & {invoice.id for invoice in invoices})
        raws = self.crm.chain.call_many([functions.invoiceOf(invoice_id) for invoice_id in ids], block=to_block)
        closed = {
            invoice_id
            for invoice_id, raw in zip(ids, raws, strict=True)
            if int(_status_of(raw)) != int(InvoiceStatus.OPEN)
        }
        return [invoice for invoice in invoices if invoice.id not in closed]


def _status_of(raw: object) -> int:
    """The status field of an `invoiceOf` tuple: the fourth (amount, dueAt, paidAt, status, ...)."""
    return int(raw[3])  # type: ignore[index]


__all__ = ["RecordRef", "Snapshot", "Sources", "first_records"]
