"""Who qualifies for which offer rule, and why: computed from the escrow's invoice events.

For each customer the figures are, over the rule's window (the last `window_days` days before the
chain time of the block read; the whole history without a window):

* **released invoices**: invoices of the customer released to the treasury (``InvoiceReleased``),
  by release time;
* **paid**: amounts paid for the customer's invoices in the rule's currency (``InvoicePaid``, by
  payment time, and ``InvoicePaidOffChain`` where the escrow has it, for the invoice's amount),
  leaving out invoices refunded since: money handed back was not paid.

Only an active customer with a bound wallet qualifies: an offer is accepted from the customer's
own wallet. Everyone else is *left out*, with the reason (erased, no bound wallet, or the figures
that fell short of every rule).

The figures come from the event index when it follows this deployment (its ``customers`` and
``invoice_events`` tables), or from the chain's logs (``--from-chain``, or no index): a few
``eth_getLogs`` over the escrow and one batch of ``customerOf`` calls, so the chain is a cheap
source too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError
from chaincrm.models import ZERO_ADDRESS, Customer, CustomerStatus
from chaincrm.offers.rules import ETH, Rule

SECONDS_PER_DAY = 86_400
ETH_DECIMALS = 18
INDEX = "index"
CHAIN = "chain"


@dataclass(frozen=True)
class Payment:
    invoice_id: int
    at: int
    amount: int  # base units of `currency`
    currency: str | None  # None: ETH; else the token's checksummed address


@dataclass(frozen=True)
class CustomerHistory:
    """What the rules read of one customer."""

    customer_id: int
    status: CustomerStatus
    wallet: str | None
    released_at: tuple[int, ...] = ()
    payments: tuple[Payment, ...] = ()


@dataclass(frozen=True)
class Histories:
    customers: tuple[CustomerHistory, ...]
    as_of: int  # chain time of `end_block`
    end_block: int
    source: str  # INDEX or CHAIN


@dataclass(frozen=True)
class Currency:
    address: str | None  # None: ETH
    symbol: str
    decimals: int

    def units(self, amount: int) -> Decimal:
        return Decimal(amount).scaleb(-self.decimals)


@dataclass(frozen=True)
class Figures:
    """A customer's figures under one rule: what made them qualify, or fall short."""

    released_invoices: int | None  # None: the rule does not ask
    paid: Decimal | None
    currency: str | None
    since: int | None  # start of the window (None: the whole history)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.released_invoices is not None:
            out["released_invoices"] = self.released_invoices
        if self.paid is not None:
            out["paid"] = format(self.paid.normalize(), "f")
            out["currency"] = self.currency
        out["since"] = self.since
        return out

    def describe(self) -> str:
        parts = []
        if self.released_invoices is not None:
            parts.append(f"{self.released_invoices} released invoice{'s' if self.released_invoices != 1 else ''}")
        if self.paid is not None:
            parts.append(f"{format(self.paid.normalize(), 'f')} {self.currency} paid")
        return ", ".join(parts)


@dataclass(frozen=True)
class Suggestion:
    customer_id: int
    wallet: str
    rule: Rule
    figures: Figures


@dataclass(frozen=True)
class LeftOut:
    customer_id: int
    reason: str


@dataclass(frozen=True)
class Suggestions:
    suggestions: tuple[Suggestion, ...]
    left_out: tuple[LeftOut, ...]
    as_of: int
    end_block: int
    source: str


# ------------------------------------------------------------------ deciding


def figures_for(history: CustomerHistory, rule: Rule, currency: Currency | None, as_of: int) -> Figures:
    since = None if rule.window_days is None else as_of - rule.window_days * SECONDS_PER_DAY

    def inside(at: int) -> bool:
        return since is None or since <= at <= as_of

    released = None
    if rule.min_released_invoices is not None:
        released = sum(1 for at in history.released_at if inside(at))
    paid = None
    if rule.min_paid is not None:
        assert currency is not None
        total = sum(p.amount for p in history.payments if p.currency == currency.address and inside(p.at))
        paid = currency.units(total)
    return Figures(released, paid, currency.symbol if currency is not None else None, since)


def meets(rule: Rule, figures: Figures) -> bool:
    if rule.min_released_invoices is not None and (figures.released_invoices or 0) < rule.min_released_invoices:
        return False
    return not (rule.min_paid is not None and (figures.paid or Decimal(0)) < rule.min_paid)


def suggest(histories: Histories, rules: Sequence[Rule], currencies: dict[str, Currency]) -> Suggestions:
    """Every (customer, rule) that qualifies, best discount first per customer, and who is left out
    and why. `currencies` resolves each rule's currency (see :func:`resolve_currencies`)."""
    found: list[Suggestion] = []
    left: list[LeftOut] = []
    for history in sorted(histories.customers, key=lambda h: h.customer_id):
        if history.status is not CustomerStatus.ACTIVE:
            left.append(
                LeftOut(history.customer_id, "erased" if history.status is CustomerStatus.ERASED else "unknown")
            )
            continue
        figures = [(rule, figures_for(history, rule, currencies.get(rule.currency), histories.as_of)) for rule in rules]
        met = [(rule, f) for rule, f in figures if meets(rule, f)]
        if history.wallet is None:
            would = f" (would qualify for {', '.join(repr(r.name) for r, _ in met)})" if met else ""
            left.append(LeftOut(history.customer_id, f"no bound wallet: offers are accepted from it{would}"))
            continue
        if not met:
            short = "; ".join(f"{rule.name!r} needs {rule.describe()}: has {f.describe()}" for rule, f in figures)
            left.append(LeftOut(history.customer_id, f"meets no rule: {short}"))
            continue
        for rule, f in sorted(met, key=lambda pair: -pair[0].discount_bps):
            found.append(Suggestion(history.customer_id, history.wallet, rule, f))
    return Suggestions(tuple(found), tuple(left), histories.as_of, histories.end_block, histories.source)


def resolve_currencies(crm: Crm, rules: Iterable[Rule], seen: Iterable[str | None] = ()) -> dict[str, Currency]:
    """Each rule currency (ETH, a token address or a token symbol) as a :class:`Currency`. A
    symbol is looked up among the tokens the customers paid in (`seen`) and those the escrow
    allow-lists; an unknown or ambiguous symbol is a ConfigError."""
    wanted = {rule.currency for rule in rules if rule.min_paid is not None}
    out: dict[str, Currency] = {}
    if ETH in wanted:
        out[ETH] = Currency(None, ETH, ETH_DECIMALS)
    addresses = {w for w in wanted if w.startswith("0x")}
    symbols = wanted - addresses - {ETH}
    for address in addresses:
        out[address] = token_currency(crm, address)
    if symbols:
        candidates = {a for a in seen if a is not None} | set(_allowed_tokens(crm))
        known = [token_currency(crm, a) for a in sorted(candidates)]
        for symbol in symbols:
            matches = [t for t in known if t.symbol.upper() == symbol.upper()]
            if not matches:
                raise ConfigError(
                    f"offer rules: no allow-listed or paid-in token has the symbol {symbol!r}: give its address"
                )
            if len(matches) > 1:
                raise ConfigError(f"offer rules: several tokens have the symbol {symbol!r}: give its address")
            out[symbol] = matches[0]
    return out


def token_currency(crm: Crm, address: str) -> Currency:
    """An ERC-20's symbol and decimals, read from it (through the one token-metadata reader)."""
    from chaincrm.currency import erc20_info

    try:
        info = erc20_info(crm.chain, address)
    except ConfigError as exc:
        raise ConfigError(f"offer rules: {exc}") from None
    return Currency(to_checksum_address(address), info.symbol, info.decimals)


def _allowed_tokens(crm: Crm) -> list[str]:
    """Tokens the escrow allow-lists now (TokenAllowed events, last word per token); none on an
    escrow without an allow-list."""
    escrow = crm.escrow.contract
    if not any(item.get("name") == "TokenAllowed" for item in escrow.abi):
        return []
    allowed: dict[str, bool] = {}
    for log in crm.chain.logs.events(escrow.events.TokenAllowed, from_block=crm.deployment.block_number):
        allowed[to_checksum_address(log["args"]["token"])] = bool(log["args"]["allowed"])
    return [token for token, on in allowed.items() if on]


# ------------------------------------------------------------------ reading


def read_histories(crm: Crm, *, database: str | Path | None, home: Path, from_chain: bool = False) -> Histories:
    """Every customer's history: from the index when it follows this deployment, else the chain."""
    if not from_chain:
        found = _from_index(crm, database, home)
        if found is not None:
            return found
    return histories_from_chain(crm)


@dataclass
class _Folding:
    """Invoice events folded per customer."""

    invoice_customer: dict[int, int] = field(default_factory=dict)
    invoice_currency: dict[int, str | None] = field(default_factory=dict)
    invoice_amount: dict[int, int] = field(default_factory=dict)
    released: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    paid: list[Payment] = field(default_factory=list)
    refunded: set[int] = field(default_factory=set)

    def issued(self, invoice_id: int, customer_id: int, amount: int, currency: str | None) -> None:
        self.invoice_customer[invoice_id] = customer_id
        self.invoice_amount[invoice_id] = amount
        self.invoice_currency[invoice_id] = None if currency in (None, ZERO_ADDRESS) else to_checksum_address(currency)

    def payment(self, invoice_id: int, at: int, amount: int | None) -> None:
        paid = self.invoice_amount.get(invoice_id, 0) if amount is None else amount
        self.paid.append(Payment(invoice_id, at, paid, self.invoice_currency.get(invoice_id)))

    def histories(self, customers: Iterable[tuple[int, CustomerStatus, str | None]]) -> tuple[CustomerHistory, ...]:
        payments: dict[int, list[Payment]] = defaultdict(list)
        for p in self.paid:
            if p.invoice_id not in self.refunded and p.invoice_id in self.invoice_customer:
                payments[self.invoice_customer[p.invoice_id]].append(p)
        released: dict[int, list[int]] = defaultdict(list)
        for invoice_id, times in self.released.items():
            if invoice_id in self.invoice_customer:
                released[self.invoice_customer[invoice_id]].extend(times)
        return tuple(
            CustomerHistory(cid, status, wallet, tuple(sorted(released[cid])), tuple(payments[cid]))
            for cid, status, wallet in customers
        )


def histories_from_chain(crm: Crm, *, to_block: int | None = None) -> Histories:
    from chaincrm.reports.history import block_timestamps

    chain = crm.chain
    end = chain.block_number("latest") if to_block is None else to_block
    start = crm.deployment.block_number
    escrow = crm.escrow.contract
    names = {item.get("name") for item in escrow.abi if item.get("type") == "event"}
    wanted = [
        n
        for n in ("InvoiceIssued", "InvoicePaid", "InvoicePaidOffChain", "InvoiceReleased", "InvoiceRefunded")
        if n in names
    ]
    logs = []
    for name in wanted:
        logs += crm.chain.logs.events(escrow.events[name], from_block=start, to_block=end)
    logs.sort(key=lambda log: (log["blockNumber"], log["logIndex"]))
    untimed = {int(log["blockNumber"]) for log in logs if "at" not in log["args"]}
    times = block_timestamps(crm, untimed | {end})
    folding = _Folding()
    for log in logs:
        args, name = log["args"], log["event"]
        at = int(args["at"]) if "at" in args else times[int(log["blockNumber"])]
        invoice_id = int(args["invoiceId"])
        if name == "InvoiceIssued":
            folding.issued(invoice_id, int(args["customerId"]), int(args["amount"]), args.get("currency"))
        elif name == "InvoicePaid":
            folding.payment(invoice_id, at, int(args["amount"]))
        elif name == "InvoicePaidOffChain":
            folding.payment(invoice_id, at, None)
        elif name == "InvoiceReleased":
            folding.released[invoice_id].append(at)
        elif name == "InvoiceRefunded":
            folding.refunded.add(invoice_id)
    count = crm.registry.customer_count()
    registry = crm.registry.contract
    ids = range(1, count + 1)
    rows = crm.chain.call_many([registry.functions.customerOf(i) for i in ids], block=end) if count else []
    customers = [Customer.from_chain(i, raw) for i, raw in zip(ids, rows, strict=True)]
    return Histories(folding.histories((c.id, c.status, c.wallet) for c in customers), times[end], end, CHAIN)


def _from_index(crm: Crm, database: str | Path | None, home: Path) -> Histories | None:
    from sqlalchemy import select

    from chaincrm.index import schema as ix
    from chaincrm.index.reads import _index_snapshot

    with _index_snapshot(crm, crm.deployment.block_number, database, home) as snapshot:
        if snapshot is None:
            return None
        connection, last_block = snapshot
        end_at = connection.execute(select(ix.blocks.c.timestamp).where(ix.blocks.c.number == last_block)).scalar()
        if end_at is None:
            return None
        ie = ix.invoice_events.c
        currency = ie.currency if "currency" in ie else None
        columns = [ie.invoice_id, ie.kind, ie.customer_id, ie.amount_wei, ie.at]
        folding = _Folding()
        query = select(*columns, *([currency] if currency is not None else [])).order_by(ie.block_number, ie.log_index)
        for row in connection.execute(query):
            invoice_id = int(row.invoice_id)
            if row.kind == "issued":
                token = row.currency if currency is not None else None
                folding.issued(invoice_id, int(row.customer_id), int(row.amount_wei), token)
            elif row.kind == "paid":
                folding.payment(invoice_id, int(row.at), int(row.amount_wei))
            elif row.kind == "paid_off_chain":
                folding.payment(invoice_id, int(row.at), None)
            elif row.kind == "released":
                folding.released[invoice_id].append(int(row.at))
            elif row.kind == "refunded":
                folding.refunded.add(invoice_id)
        cu = ix.customers.c
        customers = [
            (int(r.id), CustomerStatus(r.status), r.wallet or None)
            for r in connection.execute(select(cu.id, cu.status, cu.wallet).order_by(cu.id))
        ]
        return Histories(folding.histories(customers), int(end_at), last_block, INDEX)


def seen_currencies(histories: Histories) -> set[str | None]:
    return {p.currency for h in histories.customers for p in h.payments}


__all__ = [
    "Currency",
    "CustomerHistory",
    "Figures",
    "Histories",
    "LeftOut",
    "Payment",
    "Suggestion",
    "Suggestions",
    "figures_for",
    "histories_from_chain",
    "meets",
    "read_histories",
    "resolve_currencies",
    "seen_currencies",
    "suggest",
    "token_currency",
]
