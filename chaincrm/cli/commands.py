"""Command definitions. Each parses, calls the SDK, prints."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from chaincrm.cli.context import App
from chaincrm.cli.customers import customer
from chaincrm.cli.deals import deal
from chaincrm.cli.interactions import interaction
from chaincrm.cli.invoices import invoice
from chaincrm.cli.keys import key
from chaincrm.cli.me import me_group
from chaincrm.cli.node import deploy_command, node
from chaincrm.cli.report import report_command
from chaincrm.cli.staff import staff
from chaincrm.cli.verify import verify_command
from chaincrm.config import Settings


class LazyGroup(click.Group):
    """A group whose heavier commands are imported only when run (or when the root help lists them),
    so that every other command starts fast."""

    lazy = {"index": "chaincrm.cli.index:index_command"}  # the indexer pulls in SQLAlchemy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, name = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, help="chaincrm: a CRM whose record of truth is a set of Ethereum contracts.")
@click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the deployment record, keystores and local node state [env CHAINCRM_HOME; default .chaincrm].",
)
@click.option("--rpc-url", help="The chain's JSON-RPC URL [env CHAINCRM_RPC_URL; default http://127.0.0.1:8545].")
@click.option(
    "--ipfs-api",
    help="The IPFS service's API multiaddr [env CHAINCRM_IPFS_API; default /ip4/127.0.0.1/tcp/5001/http].",
)
@click.version_option(package_name="chaincrm")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, rpc_url: str | None, ipfs_api: str | None) -> None:
    ctx.obj = App(Settings.from_env(home=home, rpc_url=rpc_url, ipfs_api=ipfs_api))


for command in (
    node,
    deploy_command,
    key,
    staff,
    customer,
    interaction,
    deal,
    invoice,
    me_group,
    verify_command,
    report_command,
):
    cli.add_command(command)


@cli.command(help="Run the whole story on a local chain and IPFS node: deploy, seed, pay an invoice, report.")
@click.option("--customers", default=40, show_default=True, type=click.IntRange(1, 500))
@click.option("--interactions", default=300, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--deals", default=32, show_default=True, type=click.IntRange(8, 1_000))
@click.option("--chain-port", default=8545, show_default=True, type=click.IntRange(1, 65535))
@click.option("--ipfs-port", default=5001, show_default=True, type=click.IntRange(1, 65535))
def demo(customers: int, interactions: int, deals: int, chain_port: int, ipfs_port: int) -> None:
    from chaincrm.cli.demo import run_demo

    run_demo(customers=customers, interactions=interactions, deals=deals, chain_port=chain_port, ipfs_port=ipfs_port)


@cli.group(name="bench", help="Benchmarks: print figures and write them to a JSON file (not tests).")
def bench_group() -> None:
    pass


@bench_group.command(name="gas", help="Gas per operation from receipts, with 10 and 10,000 existing records.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench-results/gas.json"), show_default=True)
@click.option(
    "--records", "scales", multiple=True, type=click.IntRange(1, 100_000), help="Existing-record counts (repeatable)."
)
def bench_gas(out: Path, scales: tuple[int, ...]) -> None:
    from chaincrm_tools.bench import contracts as bench

    bench.run_gas(out, scales or bench.SCALES, log=click.echo)


@bench_group.command(
    name="index", help="Indexer catch-up (events/s) and timeline query time with 1,000,000 interactions."
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench-results/index.json"), show_default=True)
@click.option("--interactions", default=100_000, show_default=True, type=click.IntRange(1_000, 1_000_000))
def bench_index(out: Path, interactions: int) -> None:
    from chaincrm_tools.bench.index import run_index_bench

    run_index_bench(out, interactions, log=click.echo)


@bench_group.command(name="throughput", help="SDK throughput: interactions logged one per transaction by one signer.")
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("bench-results/throughput.json"), show_default=True
)
@click.option("--count", default=2000, show_default=True, type=click.IntRange(100, 100_000))
def bench_throughput(out: Path, count: int) -> None:
    from chaincrm_tools.bench import contracts as bench

    bench.run_throughput(out, count, log=click.echo)
