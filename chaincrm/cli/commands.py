"""Command definitions. Each parses, calls the SDK, prints."""

from __future__ import annotations

from pathlib import Path

import click

from chaincrm import bench


@click.group(help="chaincrm: a CRM whose record of truth is a set of Ethereum contracts.")
@click.version_option(package_name="chaincrm")
def cli() -> None:
    pass


@cli.command(help="Run the whole story on a local chain and IPFS node: deploy, seed, pay an invoice, report.")
@click.option("--customers", default=40, show_default=True, type=click.IntRange(1, 500))
@click.option("--interactions", default=300, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--deals", default=32, show_default=True, type=click.IntRange(8, 1_000))
def demo(customers: int, interactions: int, deals: int) -> None:
    from chaincrm.cli.demo import run_demo

    run_demo(customers=customers, interactions=interactions, deals=deals)


@cli.group(name="bench", help="Benchmarks: print figures and write them to a JSON file (not tests).")
def bench_group() -> None:
    pass


@bench_group.command(name="gas", help="Gas per operation from receipts, with 10 and 10,000 existing records.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench-results/gas.json"), show_default=True)
@click.option("--records", "scales", multiple=True, type=click.IntRange(1, 100_000), help="Existing-record counts (repeatable).")
def bench_gas(out: Path, scales: tuple[int, ...]) -> None:
    bench.run_gas(out, scales or bench.SCALES, log=click.echo)


@bench_group.command(name="throughput", help="SDK throughput: interactions logged one per transaction by one signer.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench-results/throughput.json"), show_default=True)
@click.option("--count", default=2000, show_default=True, type=click.IntRange(100, 100_000))
def bench_throughput(out: Path, count: int) -> None:
    bench.run_throughput(out, count, log=click.echo)
