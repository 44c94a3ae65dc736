"""`chaincrm bench faults`: the fault suite, full size, on demand (registered in the bench group).

Importing this module imports click only; the suite loads when it runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from chaincrm.errors import ChainCrmError
from chaincrm_tools.bench.options import out_option

DEFAULT_OUT = "bench-results/faults.json"
DEFAULT_RECORDS = 10_000
DEFAULT_WRITERS = 8


@click.command(
    name="faults",
    help=f"The fault suite: {DEFAULT_WRITERS} writer processes with a key each, and 2 sharing one key through the "
    f"nonce journal, log {DEFAULT_RECORDS:,} interaction records (encrypted notes on IPFS; most queued for Merkle "
    "batches, the rest logged singly) while Anvil mines 1-second blocks and is killed and restarted from its saved "
    "state, the IPFS node is killed mid-upload, the Merkle queue's process is killed with SIGKILL and pending "
    "transactions are dropped from the mempool. Then it checks that every record is on-chain exactly once, every "
    "document can be fetched, no orphaned pin is left after the sweep, and the run's index equals a fresh rebuild. "
    "Prints the figures (records, lost, duplicates, orphan pins, records/s under faults) and writes them to --out. "
    "Exit 1 if anything was lost or duplicated. Runs its own Anvil and IPFS node on free ports.",
)
@out_option(DEFAULT_OUT)
@click.option("--records", default=DEFAULT_RECORDS, show_default=True, type=click.IntRange(10, 1_000_000))
@click.option("--writers", default=DEFAULT_WRITERS, show_default=True, type=click.IntRange(1, 16))
@click.option(
    "--batched",
    "batch_share",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="The share of records queued for Merkle batches; the rest are logged one transaction each.",
)
@click.option(
    "--pace",
    "pace_seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Spread each writer's records over this many seconds [default: as fast as it can].",
)
@click.option("--no-faults", is_flag=True, help="The same run without any fault (a baseline for the figures).")
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False),
    help="Run in this folder and keep it (logs, intents, queue, journal, indexes) [default: a temporary folder].",
)
def faults_bench_command(
    out: Path,
    records: int,
    writers: int,
    batch_share: float,
    pace_seconds: float | None,
    no_faults: bool,
    keep: Path | None,
) -> None:
    from chaincrm.cli.files import check_writable
    from chaincrm_tools.faults.harness import FaultOptions, print_report, run_fault_suite, write_report

    target = check_writable(out, "benchmark results", create_folder=True)
    options = FaultOptions(
        records=records, writers=writers, batch_share=batch_share, pace_seconds=pace_seconds, faults=not no_faults
    )
    if keep is not None:
        report = run_fault_suite(options, keep, log=click.echo)
    else:
        with tempfile.TemporaryDirectory(prefix="chaincrm-faults-") as folder:
            report = run_fault_suite(options, Path(folder), log=click.echo)
    print_report(report, click.echo)
    write_report(report, target)
    click.echo(f"Figures written to {target}")
    if not report.verdict.passed:
        raise ChainCrmError("the fault suite found records lost or duplicated: " + "; ".join(report.verdict.failures()))


__all__ = ["faults_bench_command"]
