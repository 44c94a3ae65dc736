"""Reading the event history the KPIs are computed from, from either source.

``history_from_index`` (and ``history_from_database``, which opens the index and checks that it
follows this deployment) reads the event index's event tables with SQL. ``history_from_chain``
reads the node alone: ``eth_getLogs`` over the three contracts from the deployment block, in
ranges the node accepts (:class:`~chaincrm.chain.logs.LogReader`), decoded with the SDK's ABIs,
and the blocks' timestamps in JSON-RPC batches; interactions anchored in batches come from their
documents in the given document store, counted by the index's rules
(:func:`chaincrm.batches.chain_records.chain_batches`). Both give the same
:class:`~chaincrm.reports.records.History`, so a report from one can be checked against the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from sqlalchemy import Connection, select
from web3.contract import Contract
from web3.types import FilterParams

from chaincrm.chain import event_topic
from chaincrm.chain.batching import RPC_BATCH_SIZE, batch_request, refusal
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import unpack_records
from chaincrm.currency import currency_key
from chaincrm.errors import ChainError, ConfigError
from chaincrm.index import schema as ix
from chaincrm.index.indexer import database_errors, describe_database, open_database, read_state
from chaincrm.models import Deployment, Stage
from chaincrm.reports.records import (
    DealRecord,
    History,
    InteractionRecord,
    InvoiceEventRecord,
    InvoiceRecord,
    OfferRecord,
    PointsRecord,
    ReassignRecord,
    RefundWithdrawalRecord,
    StageRecord,
)
from chaincrm.views.invoice_events import INVOICE_EVENTS, POINTS_EVENTS, STATUS_AFTER, invoice_event_of_log

if TYPE_CHECKING:
    from chaincrm.storage import DocumentStore

# ------------------------------------------------------------------ the index as a source


def history_from_database(database: str | Path | None, deployment: Deployment, *, home: Path) -> History:
    """The History in the index database (a URL, a SQLite file, or None for <home>/index.sqlite),
    after checking that the index follows `deployment`'s chain and contracts."""
    engine = open_database(database, home=home)
    try:
        state = read_state(engine)
        where = describe_database(engine)
        if state is None:
            raise ConfigError(f"no index at {where}: build it first (`chaincrm index`) or pass --source chain")
        followed = (state.chain_id, state.registry, state.pipeline, state.escrow)
        if followed != (deployment.chain_id, deployment.registry, deployment.pipeline, deployment.escrow):
            raise ConfigError(f"the index at {where} follows another deployment than this one")
        with database_errors(engine), engine.connect() as connection:
            return history_from_index(connection)
    finally:
        engine.dispose()


def history_from_index(connection: Connection) -> History:
    """The History from the event index's event tables (never its derived state tables), up to
    the last block the indexer read."""
    state = connection.execute(select(ix.sync_state.c.last_block, ix.sync_state.c.start_block)).first()
    if state is None or state.last_block < state.start_block:
        raise ConfigError("the index is empty: build it first (`chaincrm index`)")
    end_block = int(state.last_block)
    end_at = connection.execute(select(ix.blocks.c.timestamp).where(ix.blocks.c.number == end_block)).scalar()
    if end_at is None:
        raise ConfigError(f"the index has no timestamp for its last block {end_block}: sync it again")

    de, sc, it, ie, rw, le, oe = (
        ix.deal_events.c,
        ix.stage_changes.c,
        ix.interactions.c,
        ix.invoice_events.c,
        ix.refund_withdrawals.c,
        ix.loyalty_events.c,
        ix.offer_events.c,
    )
    order = (ix.deal_events.c.block_number, ix.deal_events.c.log_index)
    deals: list[DealRecord] = []
    reassignments: list[ReassignRecord] = []
    for row in connection.execute(
        select(
            de.deal_id,
            de.kind,
            de.customer_id,
            de.owner,
            de.value_wei,
            de.currency,
            de.at,
            de.block_number,
            de.log_index,
        )
        .where(de.kind.in_(("opened", "currency", "reassigned")))
        .order_by(*order)
    ):
        if row.kind == "opened":
            deals.append(DealRecord(int(row.deal_id), int(row.customer_id), row.owner, int(row.value_wei), int(row.at)))
        elif row.kind == "currency":
            _set_currency(deals, int(row.deal_id), row.currency)
        else:
            reassignments.append(
                ReassignRecord(int(row.deal_id), row.owner, int(row.at), int(row.block_number), int(row.log_index))
            )
    stage_changes = [
        StageRecord(
            int(r.deal_id),
            Stage(r.from_stage),
            Stage(r.to_stage),
            r.actor,
            int(r.at),
            int(r.block_number),
            int(r.log_index),
        )
        for r in connection.execute(
            select(sc.deal_id, sc.from_stage, sc.to_stage, sc.actor, sc.at, sc.block_number, sc.log_index).order_by(
                sc.block_number, sc.log_index
            )
        )
    ]
    interactions = [
        InteractionRecord(r.author, int(r.customer_id), int(r.at))
        for r in connection.execute(
            select(it.author, it.customer_id, it.at).order_by(it.block_number, it.log_index, it.position)
        )
    ]
    invoices: list[InvoiceRecord] = []
    invoice_events: list[InvoiceEventRecord] = []
    for r in connection.execute(
        select(
            ie.invoice_id, ie.kind, ie.deal_id, ie.customer_id, ie.amount_wei, ie.due_at, ie.currency, ie.at
        ).order_by(ie.block_number, ie.log_index)
    ):
        if r.kind == "issued":
            invoices.append(
                InvoiceRecord(
                    int(r.invoice_id),
                    int(r.deal_id),
                    int(r.customer_id),
                    int(r.amount_wei),
                    int(r.due_at),
                    int(r.at),
                    currency_key(r.currency),
                )
            )
        elif r.kind in STATUS_AFTER:  # issued is handled above
            invoice_events.append(
                InvoiceEventRecord(int(r.invoice_id), STATUS_AFTER[r.kind], int(r.amount_wei or 0), int(r.at))
            )
    withdrawals = [
        RefundWithdrawalRecord(r.payer, int(r.amount_wei), int(r.at), currency_key(r.token))
        for r in connection.execute(
            select(rw.payer, rw.amount_wei, rw.at, rw.token).order_by(rw.block_number, rw.log_index)
        )
    ]
    points = [
        PointsRecord(int(r.invoice_id), r.kind, int(r.points), int(r.discount or 0), int(r.at))
        for r in connection.execute(
            select(le.invoice_id, le.kind, le.points, le.discount, le.at).order_by(le.block_number, le.log_index)
        )
    ]
    offers = [
        OfferRecord(int(r.deal_id), int(r.customer_id), int(r.discount_bps), int(r.at))
        for r in connection.execute(
            select(oe.deal_id, oe.customer_id, oe.discount_bps, oe.at)
            .where(oe.kind == "accepted")
            .order_by(oe.block_number, oe.log_index)
        )
    ]
    return History(
        deals=tuple(deals),
        stage_changes=tuple(stage_changes),
        reassignments=tuple(reassignments),
        interactions=tuple(interactions),
        invoices=tuple(invoices),
        invoice_events=tuple(invoice_events),
        end_block=end_block,
        end_at=int(end_at),
        refund_withdrawals=tuple(withdrawals),
        points=tuple(points),
        offers=tuple(offers),
    )


def _set_currency(deals: list[DealRecord], deal_id: int, currency: str | None) -> None:
    """DealCurrency follows its DealOpened: set the currency of the newest record of that deal."""
    for i in range(len(deals) - 1, -1, -1):
        if deals[i].deal_id == deal_id:
            deals[i] = replace(deals[i], currency=currency_key(currency))
            return


# ------------------------------------------------------------------ the chain as a source

_EVENTS: dict[str, tuple[str, ...]] = {
    "registry": ("InteractionLogged", "InteractionsLogged"),
    "pipeline": ("DealOpened", "DealCurrency", "DealStageChanged", "DealReassigned", "OfferAccepted"),
    "escrow": (
        "InvoiceIssued",
        "InvoicePaid",
        "InvoicePaidOffChain",
        "InvoiceDisputed",
        "InvoiceReleased",
        "InvoiceRefunded",
        "InvoiceCancelled",
        "RefundWithdrawn",
        "TokenRefundWithdrawn",
        "PointsRedeemed",
        "PointsAwarded",
        "PointsRestored",
    ),
}


@dataclass
class _Collected:
    deals: list[DealRecord] = field(default_factory=list)
    stage_changes: list[StageRecord] = field(default_factory=list)
    reassignments: list[ReassignRecord] = field(default_factory=list)
    interactions: list[InteractionRecord] = field(default_factory=list)
    interaction_points: list[tuple[int, int, int]] = field(default_factory=list)  # (block, log index, position)
    invoices: list[InvoiceRecord] = field(default_factory=list)
    invoice_events: list[InvoiceEventRecord] = field(default_factory=list)
    refund_withdrawals: list[RefundWithdrawalRecord] = field(default_factory=list)
    points: list[PointsRecord] = field(default_factory=list)
    offers: list[OfferRecord] = field(default_factory=list)


def history_from_chain(crm: Crm, *, to_block: int | None = None, store: DocumentStore | None = None) -> History:
    """The History straight from the node: eth_getLogs over the three contracts from the
    deployment block to `to_block` (default: latest), decoded with the SDK's ABIs. No index.

    Each event is decoded only from the contract that declares it: a log with the same topic from
    another address (whatever the node's filter let through) is dropped. Interactions anchored in
    batches are read from their documents in `store`, by the index's rules; when an anchored
    batch's document is unavailable (no store, IPFS down, the CID not held) the chain cannot
    stand for the index: :class:`~chaincrm.errors.StorageError` says so in one line."""
    from chaincrm.batches.chain_records import chain_batches

    chain = crm.chain
    w3 = chain.w3
    end = chain.rpc(lambda: int(w3.eth.block_number)) if to_block is None else to_block
    start = crm.deployment.block_number
    if end < start:
        raise ChainError(f"block {end} is before the deployment (block {start})")
    contracts: dict[str, Contract] = {
        "registry": crm.registry.contract,
        "pipeline": crm.pipeline.contract,
        "escrow": crm.escrow.contract,
    }
    decoders: dict[tuple[str, bytes], Callable[[Any], Any]] = {}
    for key, names in _EVENTS.items():
        contract = contracts[key]
        for name in names:
            event = contract.events[name]()
            decoders[(contract.address.lower(), event_topic(contract, name))] = event.process_log
    topics = sorted({topic for _, topic in decoders}, key=bytes.hex)
    params: FilterParams = {
        "address": [c.address for c in contracts.values()],
        "topics": [["0x" + t.hex() for t in topics]],
    }

    def fetch(low: int, high: int) -> Sequence[Any]:
        return w3.eth.get_logs({**params, "fromBlock": low, "toBlock": high})

    logs = chain.logs.in_ranges(fetch, start, end)  # a range the node refuses is halved
    decoded = []
    for log in logs:
        decoder = decoders.get((str(log["address"]).lower(), bytes(log["topics"][0])))
        if decoder is not None:
            decoded.append(decoder(log))
    untimed = {
        "DealReassigned",
        "InvoiceIssued",
        "InvoiceReleased",
        "InvoiceRefunded",
        "InvoiceCancelled",
        "RefundWithdrawn",
        "TokenRefundWithdrawn",
        "OfferAccepted",
        *POINTS_EVENTS,
    }
    times = block_timestamps(crm, {int(e["blockNumber"]) for e in decoded if e["event"] in untimed} | {end})
    collected = _Collected()
    for event in sorted(decoded, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"]))):
        _collect(collected, event, times, issuer=crm.pipeline.address)
    batched = chain_batches(crm, store, from_block=start, to_block=end).complete()
    for record in batched.records:
        i = record.interaction
        collected.interactions.append(InteractionRecord(i.author, i.customer_id, i.at))
        collected.interaction_points.append((i.block_number, i.log_index, i.position))
    order = sorted(range(len(collected.interactions)), key=collected.interaction_points.__getitem__)
    return History(
        deals=tuple(collected.deals),
        stage_changes=tuple(collected.stage_changes),
        reassignments=tuple(collected.reassignments),
        interactions=tuple(collected.interactions[i] for i in order),
        invoices=tuple(collected.invoices),
        invoice_events=tuple(collected.invoice_events),
        end_block=end,
        end_at=times[end],
        refund_withdrawals=tuple(collected.refund_withdrawals),
        points=tuple(collected.points),
        offers=tuple(collected.offers),
    )


def _collect(out: _Collected, event: Any, times: Mapping[int, int], *, issuer: str) -> None:
    name, args = event["event"], event["args"]
    block, log_index = int(event["blockNumber"]), int(event["logIndex"])
    if name == "InteractionLogged":
        out.interactions.append(
            InteractionRecord(to_checksum_address(args["author"]), int(args["customerId"]), int(args["at"]))
        )
        out.interaction_points.append((block, log_index, 0))
    elif name == "InteractionsLogged":
        author, at = to_checksum_address(args["author"]), int(args["at"])
        entries = unpack_records(bytes(args["records"]))
        out.interactions.extend(InteractionRecord(author, entry.customer_id, at) for entry in entries)
        out.interaction_points.extend((block, log_index, position) for position in range(len(entries)))
    elif name == "DealOpened":
        # DealOpened carries no time; the DealStageChanged (None -> Lead) right after it does.
        out.deals.append(
            DealRecord(
                int(args["dealId"]),
                int(args["customerId"]),
                to_checksum_address(args["owner"]),
                int(args["valueWei"]),
                0,
            )
        )
    elif name == "DealStageChanged":
        change = StageRecord(
            int(args["dealId"]),
            Stage(args["from"]),
            Stage(args["to"]),
            to_checksum_address(args["actor"]),
            int(args["at"]),
            block,
            log_index,
        )
        out.stage_changes.append(change)
        if change.from_stage is Stage.NONE:
            for i in range(len(out.deals) - 1, -1, -1):
                if out.deals[i].deal_id == change.deal_id:
                    out.deals[i] = replace(out.deals[i], at=change.at)
                    break
    elif name == "DealReassigned":
        out.reassignments.append(
            ReassignRecord(int(args["dealId"]), to_checksum_address(args["newOwner"]), times[block], block, log_index)
        )
    elif name == "InvoiceIssued":
        out.invoices.append(
            InvoiceRecord(
                int(args["invoiceId"]),
                int(args["dealId"]),
                int(args["customerId"]),
                int(args["amount"]),
                int(args["dueAt"]),
                times[block],
                currency_key(args["currency"]),
            )
        )
    elif name in INVOICE_EVENTS:  # paid, paid off-chain, disputed, released, refunded, cancelled
        happened = invoice_event_of_log(event, block_time=times.__getitem__, issuer=issuer)
        out.invoice_events.append(
            InvoiceEventRecord(happened.invoice_id, STATUS_AFTER[happened.what], happened.amount_wei or 0, happened.at)
        )
    elif name in ("RefundWithdrawn", "TokenRefundWithdrawn"):
        out.refund_withdrawals.append(
            RefundWithdrawalRecord(
                to_checksum_address(args["payer"]), int(args["amount"]), times[block], currency_key(args.get("token"))
            )
        )
    elif name in POINTS_EVENTS:
        kind = POINTS_EVENTS[name].removeprefix("points_")
        discount = int(args.get("discount", 0))
        out.points.append(PointsRecord(int(args["invoiceId"]), kind, int(args["points"]), discount, times[block]))
    elif name == "OfferAccepted":
        out.offers.append(
            OfferRecord(int(args["dealId"]), int(args["customerId"]), int(args["discountBps"]), times[block])
        )
    elif name == "DealCurrency":
        _set_currency(out.deals, int(args["dealId"]), args["currency"])


def block_timestamps(crm: Crm, blocks: Iterable[int]) -> dict[int, int]:
    """Timestamps of blocks, read in JSON-RPC batches."""
    wanted = sorted(set(blocks))
    answers = batch_request(
        crm.chain.w3.provider,
        [("eth_getBlockByNumber", [hex(number), False]) for number in wanted],
        run=crm.chain.rpc,
        size=RPC_BATCH_SIZE,
        what="block queries",
    )
    times: dict[int, int] = {}
    for number, answer in zip(wanted, answers, strict=True):
        refused = refusal(answer)
        if refused is not None:
            raise ChainError(f"the node refused block {number}: {refused}")
        block = answer.get("result")
        if not block:
            raise ChainError(f"the node has no block {number}")
        timestamp = block["timestamp"]
        times[number] = int(timestamp, 16) if isinstance(timestamp, str) else int(timestamp)
    return times


__all__ = ["block_timestamps", "history_from_chain", "history_from_database", "history_from_index"]
