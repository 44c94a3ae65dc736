"""Command definitions. Each parses, calls the SDK, prints.

The root group imports each command group only when it runs (or when its own `--help` is asked
for): `chaincrm --version` and `chaincrm --help` import click and nothing of web3, eth-account or
the storage, so they start at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from chaincrm.cli.context import App, pass_app
from chaincrm.config import HOME_RULE

LAZY: dict[str, tuple[str, str]] = {
    "api-key": ("chaincrm.cli.api_keys:api_key", "API keys for the REST API: create, list, revoke."),
    "automate": ("chaincrm.cli.automate:automate_command", "Payment reminders: the keeper that sends them."),
    "batch": ("chaincrm.cli.batches:batch", "Interactions logged --batched: the queue, anchored as Merkle roots."),
    "branch": ("chaincrm.cli.branches:branch", "Branches on chain: managers, staff and customers."),
    "customer": ("chaincrm.cli.customers:customer", "Customers: encrypted profiles, wallets, access, consent."),
    "deal": ("chaincrm.cli.deals:deal", "Deals: the sales pipeline, from lead to won or lost."),
    "deploy": ("chaincrm.cli.deploy:deploy_command", "Deploy the contracts to a local chain, a testnet or an L2."),
    "index": ("chaincrm.cli.index:index_command", "Follow the contracts' events into the off-chain index."),
    "interaction": ("chaincrm.cli.interactions:interaction", "Interactions: encrypted notes and attachments."),
    "invoice": ("chaincrm.cli.invoices:invoice", "Invoices: paid into escrow, released, refunded."),
    "key": ("chaincrm.cli.keys:key", "Keystores: create, list, publish your encryption key."),
    "loyalty": ("chaincrm.cli.loyalty:loyalty", "Loyalty points: rates per currency, balances."),
    "me": ("chaincrm.cli.me:me_group", "Your own records, read with your keystore."),
    "node": ("chaincrm.cli.node:node", "The local stack: Anvil and the IPFS node."),
    "offer": ("chaincrm.cli.offers:offer", "Offers: discounts a customer's history earns, signed and accepted."),
    "report": ("chaincrm.cli.report:report_command", "KPIs for managers: tables, CSV, PNG charts, HTML."),
    "serve": ("chaincrm.cli.serve:serve_command", "The customer portal: pay invoices, see your records, consent."),
    "staff": ("chaincrm.cli.staff:staff", "Staff: roles and published encryption keys."),
    "token": ("chaincrm.cli.tokens:token", "ERC-20 tokens invoices may be issued in (an admin allows them)."),
    "verify": ("chaincrm.cli.verify:verify_command", "Check a record against any node: yes or no."),
    "webhook": ("chaincrm.cli.webhooks:webhook", "Webhooks: signed events sent to your endpoints."),
}
"""Each lazily imported command: where it is defined, and its one-line summary for the root help."""

LAZY_SUBCOMMANDS: dict[str, tuple[str, ...]] = {
    "node": ("chaincrm.cli.sweep:sweep_command",),
}
"""Subcommands defined outside their group's module, added to the group when it is imported."""


class LazyCommands(dict[str, click.Command]):
    """A group's commands, each imported on first look-up. Names and iteration import nothing, so
    listing them is free; everything that hands out commands (`get`, `[]`, `items`) imports."""

    def __init__(self, lazy: dict[str, tuple[str, str]]) -> None:
        super().__init__()
        self.lazy = lazy

    def loaded(self, name: object) -> bool:
        return dict.__contains__(self, name)

    def _load(self, name: object) -> None:
        if isinstance(name, str) and name in self.lazy and not self.loaded(name):
            target, summary = self.lazy[name]
            module, attribute = target.split(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            command.short_help = summary
            for extra in LAZY_SUBCOMMANDS.get(name, ()):
                extra_module, extra_attribute = extra.split(":")
                if isinstance(command, click.Group):
                    command.add_command(getattr(importlib.import_module(extra_module), extra_attribute))
            dict.__setitem__(self, name, command)

    def __getitem__(self, name: str) -> click.Command:
        self._load(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        self._load(name)
        return dict.get(self, name, default)

    def __contains__(self, name: object) -> bool:
        return self.loaded(name) or (isinstance(name, str) and name in self.lazy)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*dict.keys(self), *self.lazy}))

    def __len__(self) -> int:
        return len({*dict.keys(self), *self.lazy})

    def keys(self) -> Any:
        for name in self.lazy:
            self._load(name)
        return dict.keys(self)

    def values(self) -> Any:
        return [self[name] for name in self]

    def items(self) -> Any:
        return [(name, self[name]) for name in self]


class LazyGroup(click.Group):
    """The root group: its commands are imported only when run, or when their own help is asked
    for; the root help lists the summaries in LAZY without importing anything."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        eager = self.commands
        self.commands = LazyCommands(LAZY)
        self.commands.update(eager)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY:
                rows.append((name, LAZY[name][1]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=80)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


ROOT_HELP = f"""chaincrm: a CRM whose record of truth is a set of Ethereum contracts.

Home (deployment record, keystores, local node state): {HOME_RULE}.

With --json a command prints JSON on stdout (wei as decimal strings, times as Unix seconds, enums by
lower-case name, hashes and CIDs in full), and an error as one JSON line on stderr:
{{"error": {{"code": ..., "message": ..., "revert": {{"name": ..., "args": {{...}}}}}}}} (revert only for a
contract revert). Without --json an error is one `error: ...` line. Exit 1 on an error, 2 on a usage
mistake."""


@click.group(cls=LazyGroup, help=ROOT_HELP)
@click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the deployment record, keystores and local node state [env CHAINCRM_HOME; default: the "
    "nearest .chaincrm folder upward, else ~/.chaincrm].",
)
@click.option(
    "--rpc-url",
    help="The chain's JSON-RPC endpoint: http(s):// or ws(s):// URL, or an IPC socket path "
    "[env CHAINCRM_RPC_URL; default http://127.0.0.1:8545].",
)
@click.option(
    "--ipfs-api",
    help="The IPFS service's API multiaddr [env CHAINCRM_IPFS_API; default /ip4/127.0.0.1/tcp/5001/http].",
)
@click.version_option(package_name="chaincrm")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, rpc_url: str | None, ipfs_api: str | None) -> None:
    ctx.obj = App(home=home, rpc_url=rpc_url, ipfs_api=ipfs_api)


PORT = click.IntRange(1, 65535)


@cli.command(
    short_help="The whole story on a local stack: deploy, seed, pay, report.",
    help="Run the whole story on a local chain and IPFS node: deploy, seed, pay an invoice, report. "
    "It uses --home, --rpc-url and --ipfs-api like every command.",
)
@click.option("--customers", default=40, show_default=True, type=click.IntRange(1, 500))
@click.option("--interactions", default=300, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--deals", default=32, show_default=True, type=click.IntRange(8, 1_000))
@click.option("--chain-port", type=PORT, help="Anvil's port [default: the port of --rpc-url, 8545].")
@click.option("--ipfs-port", type=PORT, help="The IPFS API's port [default: the port of --ipfs-api, 5001].")
@pass_app
def demo(
    app: App, customers: int, interactions: int, deals: int, chain_port: int | None, ipfs_port: int | None
) -> None:
    from chaincrm.cli.demo import run_demo

    run_demo(
        app.settings,
        customers=customers,
        interactions=interactions,
        deals=deals,
        chain_port=chain_port,
        ipfs_port=ipfs_port,
    )


@cli.group(
    name="bench",
    short_help="Benchmarks: figures written to JSON files.",
    help="Benchmarks: print figures and write them to a JSON file (not tests).",
)
def bench_group() -> None:
    pass


def _out_option(default: str) -> click.Option:
    return click.Option(
        ["--out"],
        type=click.Path(path_type=Path, dir_okay=False),
        default=Path(default),
        show_default=True,
        help="Where to write the figures (its folder is created).",
    )


def _writable(out: Path) -> Path:
    """Refuse, before a benchmark runs for minutes, a result file that cannot be written."""
    from chaincrm.cli.files import check_writable

    return check_writable(out, "benchmark results", create_folder=True)


@bench_group.command(
    name="gas",
    help="Gas per operation from receipts, with 10 and 10,000 existing records; then Merkle-anchored batches "
    '(per record at 100 and 1,000, a depth-10 proof check, and their anchors) under "merkle".',
)
@click.option(
    "--records", "scales", multiple=True, type=click.IntRange(1, 100_000), help="Existing-record counts (repeatable)."
)
@click.option("--merkle/--no-merkle", default=True, show_default=True, help="Also measure Merkle-anchored batches.")
def bench_gas(out: Path, scales: tuple[int, ...], merkle: bool) -> None:
    from chaincrm_tools.bench import contracts as bench

    bench.run_gas(_writable(out), scales or bench.SCALES, log=click.echo)
    if merkle:
        from chaincrm_tools.bench.merkle import add_to_gas_results

        add_to_gas_results(out, log=click.echo)


BENCH_INDEX_INTERACTIONS = 100_000


@bench_group.command(
    name="index",
    help=f"Indexer catch-up (events/s) and timeline query time, with {BENCH_INDEX_INTERACTIONS:,} interactions "
    "unless --interactions; with --batched, the time to rebuild an index from the chain and IPFS with --batches "
    "anchored Merkle batches of --batch-records records (1,000 x 1,000 by default; written to "
    "bench-results/index-batches.json unless --out).",
)
@click.option(
    "--interactions", default=BENCH_INDEX_INTERACTIONS, show_default=True, type=click.IntRange(1_000, 1_000_000)
)
@click.option("--batched", is_flag=True, help="Anchored batches: rebuild an index from the chain and IPFS.")
@click.option("--batches", default=1_000, show_default=True, type=click.IntRange(1, 100_000), help="With --batched.")
@click.option(
    "--batch-records", default=1_000, show_default=True, type=click.IntRange(1, 50_000), help="With --batched."
)
@click.pass_context
def bench_index(
    ctx: click.Context, out: Path, interactions: int, batched: bool, batches: int, batch_records: int
) -> None:
    if batched:
        from chaincrm_tools.bench.index_batches import run_batched_index_bench

        if ctx.get_parameter_source("out") == click.core.ParameterSource.DEFAULT:
            out = out.with_name("index-batches.json")
        run_batched_index_bench(_writable(out), batches, batch_records, log=click.echo)
        return
    from chaincrm_tools.bench.index import run_index_bench

    run_index_bench(_writable(out), interactions, log=click.echo)


@bench_group.command(
    name="throughput",
    help="SDK throughput: interactions logged one per transaction by one signer; with --merkle, records from "
    "log calls to anchored Merkle roots (--count records, default 50,000) and the queue's memory with --pending "
    "records waiting (written to bench-results/throughput-merkle.json unless --out).",
)
@click.option("--count", type=click.IntRange(100, 1_000_000), help="Interactions [default 2,000; --merkle 50,000].")
@click.option("--merkle", is_flag=True, help="Batched: log calls to anchored roots, and the queue's memory.")
@click.option(
    "--pending",
    default=1_000_000,
    show_default=True,
    type=click.IntRange(1_000, 10_000_000),
    help="With --merkle: records pending when the queue's memory is measured.",
)
@click.pass_context
def bench_throughput(ctx: click.Context, out: Path, count: int | None, merkle: bool, pending: int) -> None:
    if merkle:
        from chaincrm_tools.bench.merkle import THROUGHPUT_RECORDS, run_merkle_throughput

        if ctx.get_parameter_source("out") == click.core.ParameterSource.DEFAULT:
            out = out.with_name("throughput-merkle.json")
        run_merkle_throughput(_writable(out), count or THROUGHPUT_RECORDS, pending, log=click.echo)
        return
    from chaincrm_tools.bench import contracts as bench

    bench.run_throughput(_writable(out), min(count or 2000, 100_000), log=click.echo)


for _command, _default in (
    (bench_gas, "bench-results/gas.json"),
    (bench_index, "bench-results/index.json"),
    (bench_throughput, "bench-results/throughput.json"),
):
    _command.params.insert(0, _out_option(_default))

# `bench serve` and `bench api` live with the bench code; their modules import only click (the bench
# loads when run).
from chaincrm_tools.bench.api_cli import api_bench_command  # noqa: E402
from chaincrm_tools.bench.keeper_cli import keeper_bench_command  # noqa: E402
from chaincrm_tools.bench.serve_cli import serve_bench_command  # noqa: E402
from chaincrm_tools.faults.cli import faults_bench_command  # noqa: E402

bench_group.add_command(serve_bench_command)
bench_group.add_command(api_bench_command)
bench_group.add_command(keeper_bench_command)
bench_group.add_command(faults_bench_command)
