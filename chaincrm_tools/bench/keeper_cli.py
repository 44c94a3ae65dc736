"""`chaincrm bench keeper`: the click command of the reminder keeper benchmark (registered in the bench
group).

Importing this module imports click only; the benchmark (web3, aiosmtpd) loads when it runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from chaincrm.cli.context import App, pass_app
from chaincrm_tools.bench.options import out_option

DEFAULT_OUT = "bench-results/keeper.json"
DEFAULT_INVOICES = 10_000  # as chaincrm_tools.bench.keeper, without importing it
DEFAULT_CUSTOMERS = 200


@click.command(
    name="keeper",
    help=f"The payment-reminder keeper: reminders decided and recorded per second at {DEFAULT_INVOICES:,} open "
    "invoices unless --invoices (logInteractions batches of 1,000), e-mails per second to a local SMTP server, and "
    "the peak memory a pass holds (tracemalloc) and the process's peak RSS.",
)
@out_option(DEFAULT_OUT)
@click.option("--invoices", default=DEFAULT_INVOICES, show_default=True, type=click.IntRange(10, 100_000))
@click.option(
    "--customers",
    default=DEFAULT_CUSTOMERS,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Customers (real sealed profiles) the invoices are spread over.",
)
@pass_app
def keeper_bench_command(app: App, out: Path, invoices: int, customers: int) -> None:
    from chaincrm.cli.files import check_writable
    from chaincrm_tools.bench.keeper import run_keeper_bench

    run_keeper_bench(
        app.settings,
        out=check_writable(out, "benchmark results", create_folder=True),
        invoices=invoices,
        customers=customers,
        log=click.echo,
    )


__all__ = ["keeper_bench_command"]
