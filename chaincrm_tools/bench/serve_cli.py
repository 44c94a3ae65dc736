"""`chaincrm bench serve`: the click command of the portal benchmark (registered in the bench group).

Importing this module imports click only; the benchmark (web3, aiohttp, numpy) loads when it runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from chaincrm.cli.context import App, pass_app
from chaincrm_tools.bench.options import concurrency_option, interactions_option, out_option, requests_option

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
@out_option(DEFAULT_OUT)
@interactions_option(DEFAULT_INTERACTIONS)
@requests_option(DEFAULT_REQUESTS, "page")
@concurrency_option(DEFAULT_CONCURRENCY)
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
