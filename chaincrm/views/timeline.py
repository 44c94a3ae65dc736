"""Read-side views straight from the chain: a customer's timeline and the pipeline by stage.

Every log is read from the deployment's own contracts (a look-alike event from another address is
dropped) and every code is decoded whatever its value: a kind, outcome, purpose, stage or reason
this version does not know reads ``unknown(N)``. Given a document store and a reader's account,
the timeline also shows each interaction's note and attachments, decrypted for that reader.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from eth_utils import to_checksum_address

from chaincrm.currency import ETH, TokenInfo, amount_text, currency_key, info_for, token_info
from chaincrm.models import ZERO_ADDRESS, DocumentKind, Interaction, LossReason, Purpose, Stage
from chaincrm.storage.cids import digest_to_cid

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm
    from chaincrm.storage import DocumentStore


@dataclass(frozen=True)
class TimelineEntry:
    """One thing the chain recorded. `detail` is for people (hashes cut, amounts in their own
    currency: ETH, or a token by its symbol; points as points); `values` holds the event's
    arguments in full, by their names in snake case: hashes and digests as 0x hex, amounts in base
    units, codes as their numbers (empty for an interaction, whose detail cuts nothing)."""

    at: int
    block_number: int
    what: str
    detail: str
    actor: str
    tx_hash: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageSummary:
    """A stage's deals: `value_wei` sums its ETH deals only; `token_deals` counts those in a token
    (their values are in other units and are never added to wei)."""

    stage: Stage
    deals: int
    value_wei: int
    token_deals: int = 0


def purpose_text(purpose: Purpose) -> str:
    """A purpose by name with the lawful basis the registry gives it: `support (contract)`."""
    return f"{purpose.label} ({purpose.basis.label})" if purpose.known else purpose.label


POINTS = TokenInfo("points", 18)  # the loyalty points token: an 18-decimal ERC-20
OFF_CHAIN_METHODS = {1: "bank transfer", 2: "card", 3: "other"}


class Amounts:
    """Amounts in their own currency: an invoice's currency is learnt from its InvoiceIssued (read
    before the invoice's other events), a token's symbol and decimals read once."""

    def __init__(self, crm: Crm | None) -> None:
        self.crm = crm
        self.currencies: dict[int, str] = {}  # invoice id -> currency key

    def info(self, currency: str | None) -> TokenInfo:
        key = currency_key(currency)
        if key == ETH or self.crm is None:
            return info_for(key, {})
        return token_info(self.crm.chain, key)

    def issued(self, invoice_id: int, currency: str | None, amount: int) -> str:
        self.currencies[invoice_id] = currency_key(currency)
        return amount_text(amount, self.info(currency))

    def of_invoice(self, invoice_id: int, amount: int) -> str:
        return amount_text(amount, self.info(self.currencies.get(invoice_id)))


# An event's arguments -> (what, detail, actor); actor None: the pipeline, which issues invoices.
Describe = Callable[[Any, Amounts], tuple[str, str, str | None]]


@dataclass(frozen=True)
class _Event:
    """One event the timeline reads: from which contract, filtered on which indexed id, how it
    reads, and which id it adds to the filters of the events after it."""

    contract: str  # "registry", "pipeline" or "escrow": the Crm attribute
    name: str
    by: str  # the indexed argument filtered on: "customerId", "dealId" or "invoiceId"
    describe: Describe | None  # None: read only to collect ids
    collects: str | None = None  # an id the later events are filtered on


def _wallet_proposed(a: Any, _m: Amounts) -> tuple[str, str, str | None]:
    wallet = a["wallet"]
    detail = "proposal withdrawn" if wallet == ZERO_ADDRESS else f"{wallet} proposed, not bound until it accepts"
    return "wallet", detail, a["proposer"]


def _wallet_accepted(a: Any, _m: Amounts) -> tuple[str, str, str | None]:
    relayed = "" if a["relayer"] == a["newWallet"] else f" (signature relayed by {a['relayer']})"
    return "wallet", f"{a['newWallet']} accepted{relayed}", a["newWallet"]


def _deal(detail: Callable[[Any], str]) -> Describe:
    return lambda a, _m: (f"deal {a['dealId']}", detail(a), a["actor"])


def _invoice(detail: Callable[[Any], str], actor: str = "actor") -> Describe:
    return lambda a, _m: (f"invoice {a['invoiceId']}", detail(a), a[actor])


def _issued(a: Any, m: Amounts) -> tuple[str, str, str | None]:
    amount = m.issued(int(a["invoiceId"]), a.get("currency"), int(a["amount"]))
    return f"invoice {a['invoiceId']}", f"issued {amount} for deal {a['dealId']}", None


def _paid(a: Any, m: Amounts) -> tuple[str, str, str | None]:
    amount = m.of_invoice(int(a["invoiceId"]), int(a["amount"]))
    return f"invoice {a['invoiceId']}", f"paid {amount} into escrow for treasury {a['treasury']}", a["payer"]


def _refunded(a: Any, m: Amounts) -> tuple[str, str, str | None]:
    amount = m.of_invoice(int(a["invoiceId"]), int(a["amount"]))
    return f"invoice {a['invoiceId']}", f"refunded: {amount} credited to {a['payer']}", a["actor"]


def _paid_off_chain(a: Any, _m: Amounts) -> tuple[str, str, str | None]:
    method = OFF_CHAIN_METHODS.get(int(a["method"]), f"unknown({int(a['method'])})")
    receipt = "0x" + bytes(a["receiptHash"]).hex()[:16]
    return f"invoice {a['invoiceId']}", f"paid off-chain by {method} (receipt {receipt}…)", a["actor"]


def _points(verb: str) -> Describe:
    def describe(a: Any, m: Amounts) -> tuple[str, str, str | None]:
        detail = f"{amount_text(int(a['points']), POINTS)} {verb}"
        if "discount" in a:
            detail += f" for {m.of_invoice(int(a['invoiceId']), int(a['discount']))} off"
        return f"invoice {a['invoiceId']}", detail, a["payer"]

    return describe


def _offer_accepted(a: Any, _m: Amounts) -> tuple[str, str, str | None]:
    percent = f"{int(a['discountBps']) / 100:g}%"
    return (
        f"deal {a['dealId']}",
        f"offer accepted: {percent} off (signed by {a['issuer']}, nonce {a['nonce']}, use {a['uses']})",
        a["issuer"],
    )


def _label(code: Any) -> str:
    return str(code.label).replace("_", " ")


# In reading order: a deal's events need the deal ids DealOpened collects, an invoice's events
# the invoice ids InvoiceIssued collects.
_EVENTS: tuple[_Event, ...] = (
    _Event("registry", "CustomerRegistered", "customerId", lambda a, _m: ("registered", "", a["registrar"])),
    _Event("registry", "ProfileUpdated", "customerId", lambda a, _m: (
        "profile", f"version {a['version']} (readers 0x{bytes(a['readersHash']).hex()[:8]}…)", a["actor"])),
    _Event("registry", "WalletProposed", "customerId", _wallet_proposed),
    _Event("registry", "WalletAccepted", "customerId", _wallet_accepted),
    _Event("registry", "AccessGranted", "customerId", lambda a, _m: (
        "access granted", f"{a['staff']} for {purpose_text(Purpose(a['purpose']))}", a["actor"])),
    _Event("registry", "AccessRevoked", "customerId", lambda a, _m: (
        "access revoked", f"{a['staff']} ({purpose_text(Purpose(a['purpose']))})", a["actor"])),
    _Event("registry", "ConsentChanged", "customerId", lambda a, _m: (
        f"consent {'given' if a['granted'] else 'withdrawn'}", Purpose(a["purpose"]).label, a["relayer"])),
    _Event("registry", "CustomerErased", "customerId", lambda a, _m: (
        "erased", "receipt 0x" + bytes(a["receiptHash"]).hex()[:16], a["actor"])),
    _Event("pipeline", "DealOpened", "customerId", None, collects="dealId"),
    _Event("pipeline", "DealStageChanged", "dealId", _deal(lambda a: _stage_move(Stage(a["from"]), Stage(a["to"])))),
    _Event("pipeline", "DealLost", "dealId", _deal(lambda a: f"lost: {_label(LossReason(a['reason']))}")),
    _Event("pipeline", "DealReassigned", "dealId", _deal(lambda a: f"reassigned to {a['newOwner']}")),
    _Event("pipeline", "DealDocumentAttached", "dealId", _deal(lambda a: (
        f"document: {_label(DocumentKind(a['documentKind']))} ({digest_to_cid(bytes(a['cidDigest']))})"))),
    _Event("pipeline", "OfferAccepted", "customerId", _offer_accepted),
    _Event("escrow", "InvoiceIssued", "customerId", _issued, collects="invoiceId"),
    _Event("escrow", "InvoicePaid", "invoiceId", _paid),
    _Event("escrow", "InvoicePaidOffChain", "invoiceId", _paid_off_chain),
    _Event("escrow", "PointsRedeemed", "invoiceId", _points("redeemed")),
    _Event("escrow", "PointsAwarded", "invoiceId", _points("awarded")),
    _Event("escrow", "PointsRestored", "invoiceId", _points("restored")),
    _Event("escrow", "InvoiceDisputed", "invoiceId", _invoice(
        lambda a: f"disputed, to resolve by {a['resolveBy']}", actor="payer")),
    _Event("escrow", "InvoiceReleased", "invoiceId", _invoice(lambda a: f"released to treasury {a['treasury']}")),
    _Event("escrow", "InvoiceRefunded", "invoiceId", _refunded),
    _Event("escrow", "InvoiceCancelled", "invoiceId", _invoice(lambda a: "cancelled")),
)  # fmt: skip


@dataclass(frozen=True)
class EventLog:
    """One log of an event the timeline reads, from the chain or the index: its arguments by
    their ABI names, in ABI order, as web3 decodes them (bytes, ints, checksummed addresses)."""

    block_number: int
    log_index: int
    tx_hash: str
    args: Mapping[str, Any]
    at: int | None = None  # None: the "at" argument, else the block's timestamp


class TimelineSource(Protocol):
    """Where the timeline reads its events and interactions, all up to one block."""

    def events(self, contract: str, name: str, by: str, ids: list[int]) -> list[EventLog]:
        """`contract`'s `name` events whose indexed `by` argument is one of `ids`."""
        ...

    def interactions(self, customer_id: int) -> list[Interaction]: ...


@dataclass(frozen=True)
class ChainLogs:
    """The chain's logs from `start` to `end`, read in block ranges the node accepts. With a
    `store`, interactions anchored in batches too, from their documents (StorageError if one is
    unavailable); without one, only the interactions logged on-chain."""

    crm: Crm
    start: int
    end: int
    store: DocumentStore | None = None

    def events(self, contract: str, name: str, by: str, ids: list[int]) -> list[EventLog]:
        event = getattr(getattr(self.crm, contract).contract.events, name)
        logs = self.crm.chain.logs.events(event, from_block=self.start, to_block=self.end, argument_filters={by: ids})
        return [
            EventLog(int(log["blockNumber"]), int(log["logIndex"]), log["transactionHash"].to_0x_hex(), log["args"])
            for log in logs
        ]

    def interactions(self, customer_id: int) -> list[Interaction]:
        if self.store is None:
            return self.crm.registry.interactions(customer_id, from_block=self.start, to_block=self.end)
        from chaincrm.batches.chain_records import chain_interactions

        return chain_interactions(self.crm, self.store, customer_id, from_block=self.start, to_block=self.end)


EVENT_NAMES: tuple[tuple[str, str], ...] = tuple((spec.contract, spec.name) for spec in _EVENTS)
"""(contract, event) of every event the timeline reads: what an index must hold to stand in for the chain."""


def customer_timeline(
    crm: Crm,
    customer_id: int,
    from_block: int = 0,
    *,
    store: DocumentStore | None = None,
    reader: LocalAccount | None = None,
) -> list[TimelineEntry]:
    """Everything the chain recorded about one customer, oldest first.

    Logs are read in block ranges the node accepts, all up to the same block. With `store` and
    `reader` (a reader of the customer's data: their wallet, a manager, staff with a grant),
    each interaction's detail also carries its decrypted note and attachment names, or why they
    cannot be read. With `store`, interactions anchored in batches are read from their documents
    too (:class:`ChainLogs`).
    """
    crm.registry.customer(customer_id)  # CustomerUnknown for an id that was never registered
    source = ChainLogs(crm, max(from_block, 0), crm.chain.block_number("latest"), store)
    return timeline_from(crm, source, customer_id, store=store, reader=reader)


def timeline_from(
    crm: Crm,
    source: TimelineSource,
    customer_id: int,
    *,
    store: DocumentStore | None = None,
    reader: LocalAccount | None = None,
) -> list[TimelineEntry]:
    """One customer's timeline, oldest first, from `source` (the chain's logs or the index)."""
    entries: list[tuple[tuple[int, int, int], TimelineEntry]] = []  # (block, log index, position): chain order
    ids: dict[str, set[int]] = {"customerId": {customer_id}, "dealId": set(), "invoiceId": set()}
    amounts = Amounts(crm)
    for spec in _EVENTS:
        if not ids[spec.by]:
            continue  # no deal (or invoice) to filter on: nothing to read
        for log in source.events(spec.contract, spec.name, spec.by, sorted(ids[spec.by])):
            if spec.collects is not None:
                ids[spec.collects].add(int(log.args[spec.collects]))
            if spec.describe is not None:
                what, detail, actor = spec.describe(log.args, amounts)
                entry = _entry(crm, log, what, detail, actor or crm.pipeline.address)
                entries.append(((log.block_number, log.log_index, 0), entry))

    note_of = _note_reader(crm, store, reader)
    for interaction in source.interactions(customer_id):
        detail = _label(interaction.outcome)
        if note_of is not None:
            detail += note_of(interaction)
        entry = TimelineEntry(
            at=interaction.at,
            block_number=interaction.block_number,
            what=f"interaction: {interaction.kind.label}",
            detail=detail,
            actor=interaction.author,
            tx_hash=interaction.tx_hash,
        )
        entries.append(((interaction.block_number, interaction.log_index, interaction.position), entry))
    entries.sort(key=lambda pair: pair[0])
    return [entry for _, entry in entries]


def pipeline_by_stage(crm: Crm) -> list[StageSummary]:
    """Deals and their value per stage; a stage this version does not know gets a row of its own."""
    counts: Counter[Stage] = Counter()
    values: Counter[Stage] = Counter()
    in_tokens: Counter[Stage] = Counter()
    for deal in crm.pipeline.deals():
        counts[deal.stage] += 1
        if deal.currency is None:
            values[deal.stage] += deal.value_wei
        else:
            in_tokens[deal.stage] += 1
    stages: list[Stage] = [stage for stage in Stage if stage is not Stage.NONE]
    stages += sorted((stage for stage in counts if not stage.known), key=int)
    return [StageSummary(stage, counts[stage], values[stage], in_tokens[stage]) for stage in stages]


def _note_reader(crm: Crm, store: DocumentStore | None, reader: LocalAccount | None) -> Callable[[Any], str] | None:
    if store is None or reader is None:
        return None
    from chaincrm.views.own_records import NoteReader

    notes = NoteReader(crm, store, reader)

    def note_of(interaction: Any) -> str:
        view = notes.read(interaction)
        if view.content is None:
            return f"; note not readable: {view.unreadable}"
        text = f"; note: {view.content.note}"
        if view.attachment_names:
            text += f"; attachments: {', '.join(view.attachment_names)}"
        return text

    return note_of


def _stage_move(from_stage: Stage, to_stage: Stage) -> str:
    if from_stage is Stage.NONE:
        return f"opened at {to_stage.label.title()}"
    return f"{from_stage.label.title()} -> {to_stage.label.title()}"


def _entry(crm: Crm, log: EventLog, what: str, detail: str, actor: str) -> TimelineEntry:
    args = log.args
    at = log.at
    if at is None:
        at = int(args["at"]) if "at" in args else _timestamp(crm, log.block_number)
    return TimelineEntry(
        at,
        log.block_number,
        what,
        detail,
        to_checksum_address(actor),
        log.tx_hash,
        {_snake(name): _plain(value) for name, value in args.items()},
    )


def _snake(name: str) -> str:
    """`readersHash` -> `readers_hash`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _plain(value: Any) -> Any:
    """An event argument as JSON holds it in full: bytes as 0x hex, lists and tuples as lists."""
    if isinstance(value, bytes):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _timestamp(crm: Crm, block_number: int) -> int:
    return crm.chain.block_timestamp(block_number)
