"""`chaincrm bench api` at a small size, through its command: it serves the real portal with the REST
API and the webhook dispatcher from a real index over a real Anvil and IPFS node, delivers to a real
receiver while the server is killed twice, runs to the end, and writes every figure. Timings are
reported, never asserted; what is asserted is that each figure is there and consistent, and that no
event was lost or delivered twice past the receiver's dedup."""

from __future__ import annotations

import functools
from pathlib import Path

from chaincrm_tools.bench import api as api_bench
from chaincrm_tools.bench import api_figures
from chaincrm_tools.bench.api_cli import api_bench_command
from tests.tools.bench_command import run_bench_command

INTERACTIONS = 2_000
EVENTS = 300
REQUESTS = 100
CONCURRENCY = 4
WRITES = 10
CUSTOMERS = 20
LAG_EVENTS = 3
READS = {
    "timeline": "/api/v1/customers/<id>/timeline",
    "invoices_first_page": "/api/v1/invoices",
    "invoices_filtered": "/api/v1/invoices?status=paid&limit=10",
}
WRITE_RUNS = ("sdk_log_interaction", "sdk_empty_note", "api_sequential", "api_concurrent")


def test_bench_api_writes_read_latency_webhook_and_write_figures(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    # The command sizes interactions, events, requests and writes; customers and lag samples keep
    # their full size there.
    small = functools.partial(api_bench.run_api_bench, customers=CUSTOMERS, lag_events=LAG_EVENTS)
    options = {
        "--interactions": INTERACTIONS,
        "--events": EVENTS,
        "--requests": REQUESTS,
        "--concurrency": CONCURRENCY,
        "--writes": WRITES,
    }

    figures, output = run_bench_command(
        api_bench_command, api_bench, "run_api_bench", small, options, out, tmp_path / "home"
    )

    index = figures["index"]
    assert index["interactions_in_index"] == INTERACTIONS
    assert index["synthetic_interactions"] == INTERACTIONS - index["interactions_on_chain"]
    assert figures["machine"]["cpus"] >= 1

    reads = figures["reads"]
    assert (reads["requests"], reads["concurrency"]) == (REQUESTS, CONCURRENCY)
    for name, path in READS.items():
        read = reads[name]
        assert read["path"] == path
        assert read["errors"] == 0, read
        assert read["items_per_answer"] > 0
        assert 0 < read["p50_ms"] <= read["p90_ms"] <= read["p99_ms"] <= read["max_ms"], read
        assert 0 < read["single_request_p50_ms"] <= read["single_request_p99_ms"], read
        assert read["requests_per_second"] > 0

    lag = figures["webhook_lag"]
    assert lag["events"] == len(lag["samples_seconds"]) == LAG_EVENTS
    assert lag["confirmations"] == api_figures.WEBHOOK_CONFIRMATIONS
    assert lag["delivered_before_depth"] == 0, lag  # never before the confirmation depth
    assert 0 < lag["median_seconds"] <= lag["max_seconds"] < api_figures.LAG_TIMEOUT_SECONDS

    delivery = figures["webhook_delivery"]
    assert delivery["events"] == delivery["unique_ids"] == EVENTS
    assert (delivery["lost"], delivery["bad_signatures"]) == (0, 0), delivery
    # Known open point (CHANGELOG): now and then, under load, one event from just before the bench's
    # endpoint was added still reaches it (`unexpected_sample` names it). Not lost data, but not yet
    # explained: the figure is reported, and more than one would be a new fault.
    assert delivery["unexpected_ids"] <= 1, delivery
    assert delivery["exactly_once_after_dedup"] is True
    assert delivery["server_kills"] == len(delivery["restarts"]) == api_figures.RESTARTS
    kills = [restart["unique_at_kill"] for restart in delivery["restarts"]]
    assert 0 < kills[0] <= kills[1] <= EVENTS, delivery["restarts"]
    assert delivery["failed_on_purpose"] > 0
    assert delivery["accepted_deliveries"] == delivery["unique_ids"] + delivery["duplicates"]
    assert delivery["requests_received"] == delivery["failed_on_purpose"] + delivery["accepted_deliveries"]
    assert delivery["backoff_base_seconds"] == api_figures.BENCH_BACKOFF_SECONDS
    assert "retry delay starts at" in output  # the shortened backoff is said

    writes = figures["writes"]
    for name in WRITE_RUNS:
        assert (writes[name]["writes"], writes[name]["errors"]) == (WRITES, 0), writes[name]
        assert writes[name]["writes_per_second"] > 0
    for name in ("api_sequential", "api_concurrent"):
        assert writes[name]["ratio_to_sdk"] > 0

    targets = {row["figure"]: row for row in figures["targets"]}
    assert set(targets) == {
        *(f"reads.{name}.p99_ms" for name in READS),
        "webhook_lag.median_seconds",
        "webhook_delivery.lost",
        "webhook_delivery.unexpected_ids",
        *(f"writes.{name}.writes_per_second" for name in WRITE_RUNS),
    }
    timeline_p99 = reads["timeline"]["p99_ms"]
    assert targets["reads.timeline.p99_ms"]["met"] == (timeline_p99 < api_figures.TARGET_P99_MILLISECONDS)
    assert targets["webhook_delivery.lost"]["met"] is True
    assert all(row["figure"] in output for row in figures["targets"])  # the printed table
