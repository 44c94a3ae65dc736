"""`chaincrm bench api`: the click command of the REST API and webhooks benchmark (registered in the
bench group).

Importing this module imports click only; the benchmark (web3, aiohttp, numpy) loads when it runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from chaincrm.cli.context import App, pass_app
from chaincrm_tools.bench.options import concurrency_option, interactions_option, out_option, requests_option

DEFAULT_OUT = "bench-results/api.json"
DEFAULT_INTERACTIONS = 1_000_000  # as chaincrm_tools.bench.api, without importing it
DEFAULT_EVENTS = 10_000
DEFAULT_REQUESTS = 5_000
DEFAULT_CONCURRENCY = 16
DEFAULT_WRITES = 200


@click.command(
    name="api",
    help="The REST API and the webhooks: /api/v1 timeline and invoice list latency (p50/p90/p99) and requests per "
    f"second at {DEFAULT_INTERACTIONS:,} indexed interactions unless --interactions; webhook delivery lag after the "
    "confirmation depth; --events deliveries to a receiver failing 30% of requests while the server is killed and "
    "restarted twice (each event once after dedup, none lost); writes per second of one staff key through the API "
    "and through the SDK.",
)
@out_option(DEFAULT_OUT)
@interactions_option(DEFAULT_INTERACTIONS)
@click.option(
    "--events",
    default=DEFAULT_EVENTS,
    show_default=True,
    type=click.IntRange(30, 100_000),
    help="Webhook events delivered through the failures and restarts.",
)
@requests_option(DEFAULT_REQUESTS, "read")
@concurrency_option(DEFAULT_CONCURRENCY)
@click.option(
    "--writes",
    default=DEFAULT_WRITES,
    show_default=True,
    type=click.IntRange(10, 100_000),
    help="Interactions logged per write run (SDK, API one client, API several clients).",
)
@pass_app
def api_bench_command(
    app: App, out: Path, interactions: int, events: int, requests: int, concurrency: int, writes: int
) -> None:
    from chaincrm.cli.files import check_writable
    from chaincrm_tools.bench.api import run_api_bench

    run_api_bench(
        app.settings,
        out=check_writable(out, "benchmark results", create_folder=True),
        interactions=interactions,
        events=events,
        requests=requests,
        concurrency=concurrency,
        writes=writes,
        log=click.echo,
    )


__all__ = ["api_bench_command"]
