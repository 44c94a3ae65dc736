"""`chaincrm bench serve`: the click command of the portal benchmark (registered in the bench group).

Importing this module imports click only; the benchmark (web3, aiohttp, numpy) loads when it runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from chaincrm.cli.context import App, pass_app

DEFAULT_OUT = "bench-results/serve.json"
DEFAULT_INTERACTIONS = 1_000_000  # as chaincrm_tools.bench.serve, without importing it
DEFAULT_REQUESTS = 5_000
DEFAULT_CONCURRENCY = 16
PORT = click.IntRange(1, 65535)


@click.command(
    name="serve",
    help="The customer portal: /pay/<id> and /api/invoices/<id> latency (p50/p90/p99) and requests per second at "
    f"{DEFAULT_INTERACTIONS:,} indexed interactions unless --interactions, the time from a payment to the page "
    "showing it paid, and the gas of relayed consent changes and revocations.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path(DEFAULT_OUT),
    show_default=True,
    help="Where to write the figures (its folder is created).",
)
@click.option("--interactions", default=DEFAULT_INTERACTIONS, show_default=True, type=click.IntRange(1_000, 1_000_000))
@click.option(
    "--requests",
    default=DEFAULT_REQUESTS,
    show_default=True,
    type=click.IntRange(100, 1_000_000),
    help="Requests per page measured.",
)
@click.option("--concurrency", default=DEFAULT_CONCURRENCY, show_default=True, type=click.IntRange(1, 256))
@click.option("--chain-port", type=PORT, help="The bench's own Anvil's port [default: a free one].")
@click.option("--port", type=PORT, help="The portal's port [default: a free one].")
@pass_app
def serve_bench_command(
    app: App,
    out: Path,
    interactions: int,
    requests: int,
    concurrency: int,
    chain_port: int | None,
    port: int | None,
) -> None:
    from chaincrm.cli.files import check_writable
    from chaincrm_tools.bench.serve import run_serve_bench

    run_serve_bench(
        app.settings,
        interactions=interactions,
        requests=requests,
        concurrency=concurrency,
        out=check_writable(out, "benchmark results", create_folder=True),
        log=click.echo,
        chain_port=chain_port,
        port=port,
    )


__all__ = ["serve_bench_command"]
