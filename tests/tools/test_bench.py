"""Each benchmark at a small size, through its command: it runs to the end, writes its JSON file,
and the figures in it are there and positive. Timings are reported, never asserted."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any
from unittest import mock

from chaincrm_tools.bench import index as index_bench
from chaincrm_tools.bench.contracts import GAS_TARGETS
from tests.cli.conftest import cli_for

RECORDS = 1  # existing customers and deals when gas is measured
TRANSACTIONS = 100  # the least `bench throughput` takes
INTERACTIONS = 1_000  # the least `bench index` takes
INDEX_CUSTOMERS = 10
TIMELINE_ROWS = 2_000


def _bench(*args: object) -> dict[str, Any]:
    """`chaincrm bench ARGS... --out FILE`: the figures it wrote, after checking it succeeded."""
    out = Path(str(args[-1]))
    run = cli_for({})("bench", *args)

    assert run.exit_code == 0, run.stderr
    assert out.is_file()
    return dict(json.loads(out.read_text()))


def test_bench_gas_writes_the_gas_of_every_operation(tmp_path: Path) -> None:
    figures = _bench("gas", "--records", RECORDS, "--out", tmp_path / "gas.json")

    gas = figures["by_existing_records"][str(RECORDS)]
    assert set(GAS_TARGETS) <= set(gas)
    assert all(isinstance(used, int) and used > 0 for used in gas.values()), gas
    assert all(miss["gas"] > miss["target"] for miss in figures["misses"])


def test_bench_throughput_writes_the_transactions_it_sent_and_their_rate(tmp_path: Path) -> None:
    figures = _bench("throughput", "--count", TRANSACTIONS, "--out", tmp_path / "throughput.json")

    assert figures["transactions"] == TRANSACTIONS
    assert figures["seconds"] > 0 and figures["transactions_per_second"] > 0


def test_bench_index_writes_its_catch_up_and_timeline_figures(tmp_path: Path) -> None:
    # The command sizes only the interactions on chain; the customers and the rows the timeline is
    # queried among keep their full size there, so they are made small here.
    small = functools.partial(index_bench.run_index_bench, customers=INDEX_CUSTOMERS, timeline_rows=TIMELINE_ROWS)
    with mock.patch.object(index_bench, "run_index_bench", small):
        figures = _bench("index", "--interactions", INTERACTIONS, "--out", tmp_path / "index.json")

    catch_up, timeline = figures["catch_up"], figures["timeline"]
    assert figures["interactions_on_chain"] == catch_up["interaction_records"] == INTERACTIONS
    assert figures["customers"] == INDEX_CUSTOMERS
    assert min(catch_up[key] for key in ("blocks", "logs", "rows", "seconds", "records_per_second")) > 0
    assert timeline["interactions_in_index"] == TIMELINE_ROWS
    assert timeline["median_interactions_per_timeline"] > 0
    assert min(timeline[key] for key in ("full_timeline_median_ms", "page_of_100_median_ms")) > 0
