"""brownie run scripts/query.py main timeline CUSTOMER_ID | main pipeline: read the CRM as tables."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from chaincrm.errors import ConfigError
from chaincrm.units import WEI_PER_ETH
from chaincrm.views.timeline import customer_timeline, pipeline_by_stage
from scripts._common import crm, record_settings, run


def main(view: str = "pipeline", customer_id: str = "") -> None:
    def body() -> None:
        target = crm(record_settings())
        console = Console()
        if view == "pipeline":
            table = Table(title="Pipeline by stage")
            for column, justify in (("stage", "left"), ("deals", "right"), ("value (ETH)", "right")):
                table.add_column(column, justify=justify)  # type: ignore[arg-type]
            for row in pipeline_by_stage(target):
                table.add_row(row.stage.name.title(), str(row.deals), f"{row.value_wei / WEI_PER_ETH:.3f}")
            console.print(table)
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
