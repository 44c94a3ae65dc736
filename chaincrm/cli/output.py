"""Printing: JSON with stable keys for machines, rich text and tables for people.

Data goes to stdout, progress to stderr, so `--json` output can be piped. Models become JSON here
and nowhere else: wei amounts are decimal strings (exact in every JSON parser), times are Unix
seconds, enums their lower-case names.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import track
from rich.table import Table

from chaincrm.cli.context import WEI_PER_ETH, enum_name

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chaincrm.models import Customer, Deal, Interaction, Invoice, Purpose, StageChange

T = TypeVar("T")
PIPE_WIDTH = 500  # columns when the output is not a terminal (a pipe, a file): tables are never squashed


def console(*, err: bool = False) -> Console:
    """A console for stdout (or stderr): the terminal's width on a terminal, PIPE_WIDTH otherwise, so
    a table written to a file or a pipe keeps every column whole instead of rich's 80 columns."""
    stream = sys.stderr if err else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(stderr=err, highlight=False, soft_wrap=False, width=width)


def emit(data: Any, as_json: bool, human: Callable[[Console], None]) -> None:
    """Print `data` as JSON, or call `human` to print it for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        human(console())


def emit_line(data: Any, as_json: bool, line: str) -> None:
    """Print `data` as JSON, or one plain line for people."""
    click.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else line)


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on stderr while slow work runs (drawn only on a terminal)."""
    err = console(err=True)
    if not err.is_terminal:
        yield
        return
    with err.status(message):
        yield


def tracked(items: Sequence[T], description: str) -> Iterator[T]:
    """Iterate `items` with a progress bar on stderr (drawn only on a terminal)."""
    err = console(err=True)
    if not err.is_terminal:
        yield from items
        return
    yield from track(items, description=description, console=err, transient=True)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column, no_wrap=True)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    return grid


def facts(title: str, rows: Mapping[str, Any]) -> Table:
    """A two-column table of named values."""
    grid = Table(title=title, title_justify="left", show_header=False)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for name, value in rows.items():
        grid.add_row(name, "" if value is None else str(value))
    return grid


# ------------------------------------------------------------------ formatting


def eth(wei: int) -> str:
    text = format(Decimal(wei) / Decimal(WEI_PER_ETH), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} ETH"


def when(timestamp: int | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def purpose_with_basis(purpose: Purpose) -> str:
    """A purpose as people read it: its name and the lawful basis the registry gives it,
    `marketing (consent)`, `billing (legal-obligation)`; `unknown(9)` for a code this version lacks."""
    return f"{enum_name(purpose)} ({enum_name(purpose.basis)})" if purpose.known else enum_name(purpose)


# ------------------------------------------------------------------ models as JSON


def tx_fields(receipt: TxReceipt) -> dict[str, Any]:
    return {
        "tx_hash": receipt["transactionHash"].to_0x_hex(),
        "block_number": int(receipt["blockNumber"]),
        "gas_used": int(receipt["gasUsed"]),
    }


def customer_fields(customer: Customer) -> dict[str, Any]:
    return {
        "customer_id": customer.id,
        "wallet": customer.wallet,
        "status": enum_name(customer.status),
        "profile_version": customer.profile_version,
        "registered_at": customer.registered_at,
    }


def deal_fields(deal: Deal) -> dict[str, Any]:
    return {
        "deal_id": deal.id,
        "customer_id": deal.customer_id,
        "owner": deal.owner,
        "stage": enum_name(deal.stage),
        "value_wei": str(deal.value_wei),
        "invoice_id": deal.invoice_id,
        "opened_at": deal.opened_at,
    }


def stage_change_fields(change: StageChange) -> dict[str, Any]:
    return {
        "from": enum_name(change.from_stage),
        "to": enum_name(change.to_stage),
        "actor": change.actor,
        "at": change.at,
        "block_number": change.block_number,
        "tx_hash": change.tx_hash,
    }


def invoice_fields(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "deal_id": invoice.deal_id,
        "customer_id": invoice.customer_id,
        "payer": invoice.payer,
        "amount_wei": str(invoice.amount_wei),
        "due_at": invoice.due_at,
        "paid_at": invoice.paid_at,
        "status": enum_name(invoice.status),
    }


def interaction_fields(interaction: Interaction) -> dict[str, Any]:
    return {
        "customer_id": interaction.customer_id,
        "author": interaction.author,
        "kind": enum_name(interaction.kind),
        "outcome": enum_name(interaction.outcome),
        "content_hash": hex32(interaction.content_hash),
        "at": interaction.at,
        "block_number": interaction.block_number,
        "tx_hash": interaction.tx_hash,
    }
