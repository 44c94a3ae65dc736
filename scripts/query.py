"""brownie run scripts/query.py main timeline CUSTOMER_ID | main pipeline: read the CRM as tables.

The pipeline shows each stage's deals and their value in each currency the deals are in (ETH, and
each ERC-20 by its symbol), one column per currency: values in different currencies are never added.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from chaincrm.contracts.client import Crm
from chaincrm.currency import ETH, TokenInfo, amount_text, currency_key, info_for, tokens_info
from chaincrm.errors import ConfigError
from chaincrm.models import Deal, Stage
from chaincrm.views.timeline import customer_timeline
from scripts._common import crm, record_settings, run


def main(view: str = "pipeline", customer_id: str = "") -> None:
    def body() -> None:
        target = crm(record_settings())
        console = Console()
        if view == "pipeline":
            console.print(pipeline_table(target))
        elif view == "timeline":
            if not str(customer_id).isdigit():
                raise ConfigError("usage: brownie run scripts/query.py main timeline CUSTOMER_ID (a positive number)")
            table = Table(title=f"Timeline of customer {customer_id}")
            for column in ("time (UTC)", "block", "what", "detail", "actor"):
                table.add_column(column)
            for entry in customer_timeline(target, int(customer_id)):
                when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
                table.add_row(when, str(entry.block_number), entry.what, entry.detail, entry.actor)
            console.print(table)
        else:
            raise ConfigError(f"unknown view {view!r}: use pipeline or timeline CUSTOMER_ID")

    run(body)


def pipeline_table(target: Crm) -> Table:
    """Deals per stage, with one value column per currency (ETH first, then tokens by symbol)."""
    deals = target.pipeline.deals()
    known = tokens_info(target.chain, {deal.currency for deal in deals if deal.currency})
    currencies = [info_for(ETH, known), *sorted(known.values(), key=_by_symbol)]
    table = Table(title="Pipeline by stage")
    table.add_column("stage")
    table.add_column("deals", justify="right")
    for header in _value_headers(currencies):
        table.add_column(header, justify="right")
    counts, values = values_by_stage(deals)
    for stage in _stages(counts):
        cells = [amount_text(values[stage][currency.key], currency) for currency in currencies]
        table.add_row(stage.name.title(), str(counts[stage]), *cells)
    return table


def values_by_stage(deals: Iterable[Deal]) -> tuple[Counter[Stage], dict[Stage, Counter[str]]]:
    """Deals per stage, and their values per stage and currency (by :func:`currency_key`) in base units."""
    counts: Counter[Stage] = Counter()
    values: dict[Stage, Counter[str]] = defaultdict(Counter)
    for deal in deals:
        counts[deal.stage] += 1
        values[deal.stage][currency_key(deal.currency)] += deal.value_wei
    return counts, values


def _stages(counts: Counter[Stage]) -> list[Stage]:
    """Every known stage in order, then any stage this version does not know (as its number)."""
    stages = [stage for stage in Stage if stage is not Stage.NONE]
    return stages + sorted((stage for stage in counts if not stage.known), key=int)


def _by_symbol(currency: TokenInfo) -> tuple[str, str]:
    return currency.symbol.lower(), currency.key


def _value_headers(currencies: list[TokenInfo]) -> list[str]:
    """``value (ETH)``, ``value (TUSD)``; two tokens with one symbol are told apart by address."""
    symbols = Counter(currency.symbol for currency in currencies)
    return [
        f"value ({currency.symbol})"
        if symbols[currency.symbol] == 1 or currency.address is None
        else f"value ({currency.symbol} {currency.address[:10]})"
        for currency in currencies
    ]
