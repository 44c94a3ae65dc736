"""`chaincrm bench serve` at a small size, through its command: it serves the real portal from a real
index over a real Anvil, runs to the end, and writes every figure. Timings are reported, never asserted."""

from __future__ import annotations

import functools
from pathlib import Path

from chaincrm_tools.bench import serve as serve_bench
from chaincrm_tools.bench.serve_cli import serve_bench_command
from tests.tools.bench_command import run_bench_command

INTERACTIONS = 2_000
REQUESTS = 200
CONCURRENCY = 4
CUSTOMERS = 20
INTRINSIC_GAS = 21_000


def test_bench_serve_writes_latency_payment_and_relayed_gas_figures(tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    # The command sizes interactions and requests; the customers keep their full size there.
    small = functools.partial(serve_bench.run_serve_bench, customers=CUSTOMERS)
    options = {"--interactions": INTERACTIONS, "--requests": REQUESTS, "--concurrency": CONCURRENCY}

    figures, output = run_bench_command(
        serve_bench_command, serve_bench, "run_serve_bench", small, options, out, tmp_path / "home"
    )

    index = figures["index"]
    assert index["interactions_in_index"] == INTERACTIONS
    assert 0 < index["interactions_on_chain"] < INTERACTIONS
    assert index["synthetic_interactions"] == INTERACTIONS - index["interactions_on_chain"]
    assert index["invoices"] == serve_bench.READ_INVOICES + serve_bench.PAYMENTS
    assert figures["machine"]["cpus"] >= 1

    pages = figures["pages"]
    assert (pages["requests"], pages["concurrency"]) == (REQUESTS, CONCURRENCY)
    for name, path in (("pay_page", "/pay/<id>"), ("invoice_api", "/api/invoices/<id>")):
        page = pages[name]
        assert page["path"] == path
        assert page["errors"] == 0, page
        assert 0 < page["p50_ms"] <= page["p90_ms"] <= page["p99_ms"] <= page["max_ms"], page
        assert 0 < page["single_request_p50_ms"] <= page["single_request_p99_ms"], page
        assert page["requests_per_second"] > 0

    paid = figures["time_to_paid"]
    assert paid["payments"] == len(paid["samples_seconds"]) == serve_bench.PAYMENTS
    assert 0 < paid["median_seconds"] <= paid["max_seconds"] < serve_bench.PAID_TIMEOUT_SECONDS

    gas = figures["relayed_gas"]
    assert set(gas) == {"set_consent_by_sig_give", "set_consent_by_sig_withdraw", "revoke_access_by_sig"}
    assert all(isinstance(used, int) and used > INTRINSIC_GAS for used in gas.values()), gas

    targets = {row["figure"]: row for row in figures["targets"]}
    assert set(targets) == {
        "pay_page.p99_ms",
        "pay_page.requests_per_second",
        "invoice_api.p99_ms",
        "invoice_api.requests_per_second",
        "time_to_paid.median_seconds",
        *(f"relayed_gas.{name}" for name in gas),
    }
    for name, used in gas.items():
        assert targets[f"relayed_gas.{name}"]["met"] == (used <= serve_bench.TARGET_RELAYED_GAS)
    assert targets["pay_page.p99_ms"]["met"] == (pages["pay_page"]["p99_ms"] < serve_bench.TARGET_P99_MILLISECONDS)
    assert all(row["figure"] in output for row in figures["targets"])  # the printed table
