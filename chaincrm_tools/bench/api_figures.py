"""The four figures of `chaincrm bench api` (see :mod:`chaincrm_tools.bench.api`), their targets and table."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx

from chaincrm.contracts.registry import MAX_BATCH_RECORDS, InteractionEntry, pack_records
from chaincrm.models import InteractionKind, Outcome
from chaincrm.privacy import InteractionContent
from chaincrm.privacy.notes import CustomerNotes
from chaincrm_tools.bench.harness import (
    BenchError,
    Inbox,
    load,
    log_targets,
    percentiles_ms,
    run_async,
    target_rows,
    wait_for,
)

if TYPE_CHECKING:
    from chaincrm.webhooks.dispatcher import DispatchOptions
    from chaincrm.webhooks.store import WebhookStore
    from chaincrm_tools.bench.api import BenchSetup

TARGET_P99_MILLISECONDS = 50.0
TARGET_LAG_SECONDS = 2.0
TIMELINE_CUSTOMERS = 20  # the load reads the timelines of the customers with the most rows, round robin
PORTAL_POLL_SECONDS = 0.5  # the server's indexer thread: PortalConfig's default
WEBHOOK_CONFIRMATIONS = 2  # PortalConfig's default
# The dispatcher's retry backoff for the bench: the first retry after this, doubling (jittered). The
# default (5 s doubling) would make 10,000 deliveries at 30% failure take many minutes of waiting.
BENCH_BACKOFF_SECONDS = 0.25
BENCH_BACKOFF_CAP_SECONDS = 30.0
WARM_UP_REQUESTS = 200
SINGLE_REQUESTS = 200
FAIL_RATIO = 0.3
RESTARTS = 2
RECEIVER_SEED = 23
LAG_TIMEOUT_SECONDS = 30.0
LAG_POLL_SECONDS = 0.005  # the receiver notes the arrival time itself: this only ends the wait
DELIVERY_STALL_SECONDS = 180.0  # no new event id for this long ends the run (the rest counts as lost)
WATCH_POLL_SECONDS = 0.05
WRITE_CLIENTS = 4
SEND_GROUP = 10
READ_PATHS = {
    "timeline": "/api/v1/customers/{customer}/timeline",
    "invoices_first_page": "/api/v1/invoices",
    "invoices_filtered": "/api/v1/invoices?status=paid&limit=10",
}
EVENT_TYPE = "interaction.logged"


# ---------------------------------------------------------------------- what the other modules offer


def create_api_key(integration: Path, home: Path, staff: str) -> str:
    """A new read-write API key for `staff` in the integration database (as `chaincrm api-key create`)."""
    from chaincrm.api import keys
    from chaincrm.api.database import open_integration

    engine = open_integration(integration, home, keys.metadata)
    try:
        _, key = keys.ApiKeys(engine).create(staff, name="bench")
    finally:
        engine.dispose()
    return key


def dispatch_options() -> DispatchOptions:
    """The server's dispatcher options: `chaincrm serve`'s, but for the bench's short retry delays."""
    from chaincrm.webhooks.dispatcher import DispatchOptions

    return DispatchOptions(
        confirmations=WEBHOOK_CONFIRMATIONS,
        poll_seconds=PORTAL_POLL_SECONDS,
        retry_base_seconds=BENCH_BACKOFF_SECONDS,
        retry_cap_seconds=BENCH_BACKOFF_CAP_SECONDS,
    )


def add_endpoint(setup: BenchSetup, url: str, event_types: list[str]) -> tuple[int, str]:
    """A webhook endpoint (as `chaincrm webhook add`): its id and secret."""
    with _webhook_store(setup) as store:
        endpoint = store.add_endpoint(url, event_types)
    return endpoint.id, endpoint.secret


def remove_endpoint(setup: BenchSetup, endpoint_id: int) -> None:
    with _webhook_store(setup) as store:
        store.remove_endpoint(endpoint_id)


def pending_deliveries(setup: BenchSetup, endpoint_id: int) -> int:
    from sqlalchemy import func, select

    from chaincrm.webhooks.store import deliveries

    with _webhook_store(setup) as store, store.engine.connect() as conn:
        query = select(func.count()).select_from(deliveries)
        query = query.where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "pending")
        return int(conn.execute(query).scalar_one())


@contextmanager
def _webhook_store(setup: BenchSetup) -> Iterator[WebhookStore]:
    from chaincrm.api.database import open_integration
    from chaincrm.webhooks import store

    engine = open_integration(setup.integration_database, setup.integration_database.parent, store.metadata)
    try:
        yield store.WebhookStore(engine)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- 1. reads


def read_figures(setup: BenchSetup, requests: int, concurrency: int, log: Callable[[str], None]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {setup.api_key}"}
    figures: dict[str, Any] = {"concurrency": concurrency, "requests": requests, "warm_up_requests": _warm_up(requests)}
    for name, path in READ_PATHS.items():
        paths = [path.format(customer=customer) for customer in setup.customer_ids]
        first = httpx.get(setup.base_url + paths[0], headers=headers, timeout=30.0)
        body = first.json() if first.headers.get("content-type", "").startswith("application/json") else {}
        if first.status_code != 200 or "as_of_block" not in body or not body.get("items"):
            raise BenchError(f"GET {paths[0]} answered HTTP {first.status_code}: {first.text[:300]}")
        run_async(load(setup.base_url, paths, _warm_up(requests), concurrency, headers))
        cpu_before, client_before = _cpu(setup), time.process_time()
        latencies, seconds, errors = run_async(load(setup.base_url, paths, requests, concurrency, headers))
        server_cpu, client_cpu = _cpu(setup) - cpu_before, time.process_time() - client_before
        single, _, single_errors = run_async(load(setup.base_url, paths, min(SINGLE_REQUESTS, requests), 1, headers))
        alone = percentiles_ms(single)
        figures[name] = {
            "path": path.replace("{customer}", "<id>"),
            "items_per_answer": len(body["items"]),
            **percentiles_ms(latencies),
            "requests_per_second": round(len(latencies) / seconds, 1),
            "errors": errors + single_errors,
            "server_cpu_ms_per_request": round(server_cpu * 1000 / len(latencies), 2),
            "load_generator_cpu_ms_per_request": round(client_cpu * 1000 / len(latencies), 2),
            "single_request_p50_ms": alone["p50_ms"],
            "single_request_p99_ms": alone["p99_ms"],
        }
        row = figures[name]
        log(
            f"{row['path']}: p50 {row['p50_ms']} ms, p90 {row['p90_ms']} ms, p99 {row['p99_ms']} ms, "
            f"{row['requests_per_second']:,} req/s at concurrency {concurrency}; alone p50 {alone['p50_ms']} ms"
        )
    return figures


def _warm_up(requests: int) -> int:
    return min(WARM_UP_REQUESTS, requests)


def _cpu(setup: BenchSetup) -> float:
    times = setup.server.process.cpu_times()
    return float(times.user + times.system)


# ---------------------------------------------------------------------- 2. delivery lag


def lag_figures(setup: BenchSetup, count: int, log: Callable[[str], None]) -> dict[str, Any]:
    confirmations = setup.confirmations
    url = setup.receiver.url("lag")
    endpoint_id, secret = add_endpoint(setup, url, [EVENT_TYPE])
    inbox = Inbox(secret)
    setup.receiver.add("lag", inbox)
    rng = random.Random(17)
    samples, early = [], 0
    try:
        for _ in range(count):
            time.sleep(rng.uniform(0, PORTAL_POLL_SECONDS))  # not in step with the server's polling
            lag, before_depth = _lag_sample(setup, inbox, rng.choice(setup.customer_ids))
            samples.append(lag)
            early += before_depth
    finally:
        remove_endpoint(setup, endpoint_id)
    figures = {
        "events": len(samples),
        "confirmations": confirmations,
        "median_seconds": round(statistics.median(samples), 3),
        "p90_seconds": round(sorted(samples)[int(0.9 * (len(samples) - 1))], 3),
        "max_seconds": round(max(samples), 3),
        "delivered_before_depth": early,
        "samples_seconds": [round(sample, 3) for sample in samples],
        "server_poll_seconds": PORTAL_POLL_SECONDS,
        "dispatcher_poll_seconds": PORTAL_POLL_SECONDS,
    }
    log(
        f"webhook lag after {confirmations} confirmations: median {figures['median_seconds']} s, max "
        f"{figures['max_seconds']} s over {len(samples)} events"
    )
    return figures


def _lag_sample(setup: BenchSetup, inbox: Inbox, customer: int) -> tuple[float, bool]:
    """Log one interaction, mine to its delivery depth: the seconds from the block that made it
    deliverable to its arrival, and whether it arrived before that block (a bug)."""
    entry = InteractionEntry(customer, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))
    receipt = setup.crm.registry.log_interaction(entry, setup.event_sender)
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    for _ in range(setup.confirmations - 1):
        _mine(setup)
    before_depth = time.perf_counter()
    _mine(setup)  # the head reaches the event's block + confirmations: it is deliverable now
    deliverable = time.perf_counter()
    wait_for(
        lambda: inbox.arrival_of_tx(tx_hash) is not None,
        timeout_seconds=LAG_TIMEOUT_SECONDS,
        poll_seconds=LAG_POLL_SECONDS,
        what=f"the delivery of the interaction logged by {tx_hash}",
    )
    arrived = inbox.arrival_of_tx(tx_hash)
    assert arrived is not None
    return arrived - deliverable, arrived < before_depth


def _mine(setup: BenchSetup) -> None:
    setup.crm.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


# ---------------------------------------------------------------------- 3. exactly once over restarts


def delivery_figures(setup: BenchSetup, events: int, log: Callable[[str], None]) -> dict[str, Any]:
    url = setup.receiver.url("flaky")
    endpoint_id, secret = add_endpoint(setup, url, [EVENT_TYPE])
    inbox = Inbox(secret, fail_ratio=FAIL_RATIO, seed=RECEIVER_SEED)
    setup.receiver.add("flaky", inbox)
    try:
        started = time.perf_counter()
        expected = _log_events(setup, events)
        for _ in range(setup.confirmations):
            _mine(setup)
        sent = time.perf_counter() - started
        transactions = -(-events // MAX_BATCH_RECORDS)
        log(f"logged {len(expected):,} interaction records in {transactions} transactions in {sent:.1f} s")
        restarts = []
        for number in range(1, RESTARTS + 1):
            threshold = len(expected) * number // (RESTARTS + 1)
            _watch(inbox, _delivered(inbox, threshold), f"{threshold:,} events delivered")
            unique_at_kill = inbox.unique()
            setup.server.kill()
            restart_seconds = setup.server.start(setup.port)
            restarts.append({"unique_at_kill": unique_at_kill, "restart_seconds": round(restart_seconds, 2)})
            log(
                f"killed the server (SIGKILL) at {unique_at_kill:,} events delivered; it answered again in "
                f"{restart_seconds:.1f} s"
            )
        _watch(inbox, _delivered(inbox, len(expected)), "every event delivered")
        all_delivered = time.perf_counter() - started
        _watch(inbox, lambda: pending_deliveries(setup, endpoint_id) == 0, "an empty outbox")
    finally:
        remove_endpoint(setup, endpoint_id)
    seen = set(inbox.first_seen)
    figures = {
        "events": len(expected),
        "fail_ratio": FAIL_RATIO,
        "server_kills": len(restarts),
        "restarts": restarts,
        "requests_received": inbox.requests,
        "failed_on_purpose": inbox.failed_on_purpose,
        "bad_signatures": inbox.bad_signatures,
        "connections_reset": setup.receiver.dropped_connections,
        "accepted_deliveries": inbox.requests - inbox.failed_on_purpose - inbox.bad_signatures,
        "duplicates": inbox.duplicates,
        "unique_ids": len(seen),
        "lost": len(expected - seen),
        "unexpected_ids": len(seen - expected),
        "unexpected_sample": sorted(seen - expected)[:5],  # what to look at when it is not 0
        "exactly_once_after_dedup": seen == expected,
        "seconds_to_all_delivered": round(all_delivered, 1),
        "backoff_base_seconds": BENCH_BACKOFF_SECONDS,
        "backoff_cap_seconds": BENCH_BACKOFF_CAP_SECONDS,
        "note": f"for the bench the dispatcher's retry delay starts at {BENCH_BACKOFF_SECONDS:g} s (default 5 s) "
        f"and is capped at {BENCH_BACKOFF_CAP_SECONDS:g} s (default 1 h); a delivery in flight when the server is "
        "killed is leased for its timeout + 30 s, then sent again",
    }
    log(
        f"{figures['events']:,} events, receiver failing {FAIL_RATIO:.0%}, server killed {len(restarts)} times: "
        f"{figures['requests_received']:,} requests, {figures['duplicates']:,} duplicates, {figures['unique_ids']:,} "
        f"unique, {figures['lost']} lost in {all_delivered:.1f} s (backoff base {BENCH_BACKOFF_SECONDS:g} s)"
    )
    return figures


def _log_events(setup: BenchSetup, events: int) -> set[str]:
    """Log `events` interaction records, 1,000 to a `logInteractions` transaction: their event ids."""
    crm, sender = setup.crm, setup.event_sender
    rng = random.Random(29)
    kinds, outcomes = list(InteractionKind), list(Outcome)
    batches = []
    for start in range(0, events, MAX_BATCH_RECORDS):
        batches.append(
            [
                InteractionEntry(
                    rng.choice(setup.customer_ids), rng.choice(kinds), rng.choice(outcomes), os.urandom(32)
                )
                for _ in range(min(MAX_BATCH_RECORDS, events - start))
            ]
        )
    calls = [(crm.registry.contract.functions.logInteractions(pack_records(batch)), 0) for batch in batches]
    gas = crm.chain.gas_limit(calls[0][0], sender)
    mined = crm.chain.send_many(calls, sender, gas=gas, batch_size=SEND_GROUP)
    chain_id = crm.chain.chain_id
    expected: set[str] = set()
    for tx, batch in zip(mined, batches, strict=True):
        (log_index,) = [raw.log_index for raw in tx.logs if raw.address == crm.registry.address]
        expected.update(f"{chain_id}:{tx.tx_hash.lower()}:{log_index}:{position}" for position in range(len(batch)))
    return expected


def _delivered(inbox: Inbox, count: int) -> Callable[[], bool]:
    return lambda: inbox.unique() >= count


def _watch(inbox: Inbox, condition: Callable[[], bool], what: str) -> None:
    """Wait for `condition` while deliveries keep coming: BenchError once no new event id arrived for
    DELIVERY_STALL_SECONDS."""
    last, last_change = inbox.unique(), time.perf_counter()
    while not condition():
        time.sleep(WATCH_POLL_SECONDS)
        now = inbox.unique()
        if now != last:
            last, last_change = now, time.perf_counter()
        elif time.perf_counter() - last_change > DELIVERY_STALL_SECONDS:
            raise BenchError(
                f"{what} did not happen: no new event for {DELIVERY_STALL_SECONDS:g} s at {now:,} delivered"
            )


# ---------------------------------------------------------------------- 4. writes


def write_figures(setup: BenchSetup, writes: int, log: Callable[[str], None]) -> dict[str, Any]:
    crm, writer, customer = setup.crm, setup.writer, setup.writer_customer
    notes = CustomerNotes(crm, setup.store)

    def sdk_hash_only() -> None:
        entry = InteractionEntry(customer, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))
        crm.registry.log_interaction(entry, writer)

    def sdk_with_note() -> None:
        notes.log_interaction(customer, InteractionKind.CALL, Outcome.POSITIVE, InteractionContent(""), writer)

    figures: dict[str, Any] = {"writes_per_run": writes, "api_clients": WRITE_CLIENTS, "customer": customer}
    figures["sdk_log_interaction"] = _timed_loop(sdk_hash_only, writes)
    figures["sdk_empty_note"] = _timed_loop(sdk_with_note, writes)
    headers = {"Authorization": f"Bearer {setup.api_key}"}
    body = {"customer_id": customer, "kind": "call", "outcome": "positive"}
    figures["api_sequential"] = run_async(_post_load(setup.base_url, headers, body, writes, 1))
    figures["api_concurrent"] = run_async(_post_load(setup.base_url, headers, body, writes, WRITE_CLIENTS))
    sdk = figures["sdk_log_interaction"]["writes_per_second"]
    for name in ("api_sequential", "api_concurrent"):
        figures[name]["ratio_to_sdk"] = round(figures[name]["writes_per_second"] / sdk, 3)
    rates = [figures[name]["writes_per_second"] for name in ("sdk_empty_note", "api_sequential", "api_concurrent")]
    log(
        f"writes/s: SDK log_interaction {sdk}, SDK with an empty sealed note {rates[0]}, API one client {rates[1]}, "
        f"API {WRITE_CLIENTS} clients {rates[2]}"
    )
    return figures


def _timed_loop(write: Callable[[], None], count: int) -> dict[str, Any]:
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        began = time.perf_counter()
        write()
        latencies.append((time.perf_counter() - began) * 1000)
    seconds = time.perf_counter() - started
    return {
        "writes": count,
        "seconds": round(seconds, 2),
        "writes_per_second": round(count / seconds, 1),
        "errors": 0,
        **percentiles_ms(latencies),
    }


async def _post_load(
    base_url: str, headers: dict[str, str], body: dict[str, Any], total: int, clients: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = itertools.count()
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url, connector=connector, headers=headers, timeout=timeout) as session:

        async def client() -> None:
            while next(counter) < total:
                began = time.perf_counter()
                async with session.post("/api/v1/interactions", json=body) as response:
                    answer = await response.json(content_type=None)
                    status = response.status
                latencies.append((time.perf_counter() - began) * 1000)
                if status != 201 or "tx_hash" not in answer:
                    code = str(answer.get("error", {}).get("code", status)) if isinstance(answer, dict) else str(status)
                    errors[code] = errors.get(code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - started
    ok = len(latencies) - sum(errors.values())
    return {
        "writes": ok,
        "seconds": round(seconds, 2),
        "writes_per_second": round(ok / seconds, 1),
        "errors": sum(errors.values()),
        "error_codes": errors,
        **percentiles_ms(latencies),
    }


# ---------------------------------------------------------------------- targets and the table


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[tuple[str, float, str, bool | None]] = []
    for name in READ_PATHS:
        p99 = results["reads"][name]["p99_ms"]
        rows.append((f"reads.{name}.p99_ms", p99, f"< {TARGET_P99_MILLISECONDS:g}", p99 < TARGET_P99_MILLISECONDS))
    lag = results["webhook_lag"]["median_seconds"]
    rows.append(("webhook_lag.median_seconds", lag, f"< {TARGET_LAG_SECONDS:g}", lag < TARGET_LAG_SECONDS))
    delivery = results["webhook_delivery"]
    rows.append(("webhook_delivery.lost", delivery["lost"], "0", delivery["lost"] == 0))
    rows.append(("webhook_delivery.unexpected_ids", delivery["unexpected_ids"], "0", delivery["unexpected_ids"] == 0))
    writes = results["writes"]
    for name in ("sdk_log_interaction", "sdk_empty_note", "api_sequential", "api_concurrent"):
        rows.append((f"writes.{name}.writes_per_second", writes[name]["writes_per_second"], "-", None))
    return target_rows(rows)


def print_table(results: dict[str, Any], log: Callable[[str], None]) -> None:
    machine, index, reads = results["machine"], results["index"], results["reads"]
    log(
        f"\nAPI at {index['interactions_in_index']:,} indexed interactions, {machine['cpus']} cores shared by server, "
        f"Anvil, IPFS, load generator and receiver; reads at concurrency {reads['concurrency']}, "
        f"{reads['requests']:,} requests each"
    )
    log_targets(results["targets"], log, figure_width=48, target_width=10)
    delivery = results["webhook_delivery"]
    log(
        f"webhooks: {delivery['events']:,} events, {delivery['requests_received']:,} requests received "
        f"({delivery['failed_on_purpose']:,} failed on purpose, {delivery['duplicates']:,} duplicates), "
        f"{delivery['unique_ids']:,} unique ids after dedup, server killed {delivery['server_kills']} times; "
        f"{delivery['note']}"
    )
    writes = results["writes"]
    log(
        f"writes: API/SDK {writes['api_sequential']['ratio_to_sdk']} (one client), "
        f"{writes['api_concurrent']['ratio_to_sdk']} ({writes['api_clients']} clients); "
        "the API also seals and stores an empty note on IPFS per write (see sdk_empty_note)"
    )
