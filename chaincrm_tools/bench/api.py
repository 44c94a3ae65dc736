"""Benchmark of the REST API and the webhooks (`chaincrm bench api`). Not a test: it prints figures and
writes them to JSON.

`run_api_bench` starts its own Anvil and embedded IPFS node on free ports, builds the chain and the
index the way `bench serve` does (customers, interactions logged in `logInteractions` batches, won
deals and their invoices; the `interactions` table topped up with synthetic rows to `interactions`),
creates an API key for a staff member, and serves the portal (with /api/v1 and the webhook
dispatcher) with uvicorn in a separate process. It then measures:

1. reads with the API key: p50/p90/p99 latency and requests per second at a fixed concurrency for
   the timeline of the customers with the most rows, the first page of invoices and a filtered page;
2. webhook delivery lag: the time from the block that makes an event deliverable (the head reaches
   the event's block + the confirmations; the bench mines those blocks with evm_mine) to a real
   receiver getting it; the median over some 20 events;
3. exactly-once over restarts: `events` interaction records (logged 1,000 to a transaction) sent to
   a receiver that fails 30% of requests at random with HTTP 500 and dedups by event id, while the
   server is killed (SIGKILL) and started again twice; raw deliveries, duplicates, unique ids, lost;
4. writes: interactions logged through `POST /api/v1/interactions` by one staff key, one client
   after another and with a few concurrent clients, against the SDK in a loop on the same Anvil.

The dispatcher's retry backoff is shortened for (3) so the run ends in minutes; the output says so.
This module builds the world and runs the server; :mod:`~chaincrm_tools.bench.api_figures` measures,
with the load generator, server process and webhook receiver of :mod:`~chaincrm_tools.bench.harness`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import text

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.models import Purpose
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.profiles import CustomerProfile
from chaincrm.services.anvil import AnvilOptions, anvil, free_port
from chaincrm.storage import KuboStore
from chaincrm.storage.node import start_node, stop_node
from chaincrm_tools.bench import api_figures as figures
from chaincrm_tools.bench.contracts import _actors, _fresh_crm
from chaincrm_tools.bench.harness import (
    BenchError,
    ServerProcess,
    WebhookReceiver,
    machine_figures,
    read_server_config,
    write_server_config,
)
from chaincrm_tools.bench.serve import _build, _index

DEFAULT_INTERACTIONS = 1_000_000
DEFAULT_EVENTS = 10_000
DEFAULT_REQUESTS = 5_000
DEFAULT_CONCURRENCY = 16
DEFAULT_WRITES = 200
DEFAULT_CUSTOMERS = 1_000
DEFAULT_LAG_EVENTS = 20
SERVER_TARGET = "chaincrm_tools.bench.api:serve_api"


@dataclass(frozen=True)
class BenchSetup:
    """What the figures share: the chain, the server, its databases, the key and the receiver."""

    crm: Crm
    base_url: str
    server: ServerProcess
    port: int
    integration_database: Path
    api_key: str
    writer: LocalAccount  # the staff member the API key is bound to; the server signs as it
    event_sender: LocalAccount  # the bench's own signer for events (never the server's)
    writer_customer: int  # a customer with a real sealed profile the writer reads
    customer_ids: list[int]
    receiver: WebhookReceiver
    confirmations: int
    store: KuboStore


def run_api_bench(
    settings: Settings,
    *,
    out: Path,
    interactions: int = DEFAULT_INTERACTIONS,
    events: int = DEFAULT_EVENTS,
    requests: int = DEFAULT_REQUESTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    writes: int = DEFAULT_WRITES,
    customers: int = DEFAULT_CUSTOMERS,
    lag_events: int = DEFAULT_LAG_EVENTS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build a chain, its index and an API key; serve the portal; measure; write the figures to `out`.

    `settings` gives everything but the chain, the IPFS node and the home: the bench runs its own
    Anvil and IPFS node on free ports and keeps its records and databases in a temporary home,
    deleted afterwards.
    """
    load_at_start = os.getloadavg()
    actors = _actors()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="chaincrm-api-bench-") as folder,
        anvil(AnvilOptions(port=free_port())) as node,
    ):
        ipfs = start_node(Path(folder) / "ipfs", free_port(), Path(folder) / "ipfs.log")
        try:
            home = Path(folder) / "home"
            bench_settings = replace(settings, rpc_url=node.url, ipfs_api=ipfs.api_addr, home=home)
            crm = _fresh_crm(node.url, actors)
            save_record(crm.deployment, bench_settings.deployment_path)
            world = _build(crm, actors, interactions, customers, log)
            store = KuboStore(ipfs.api_addr)
            writer = actors.agent2
            writer_customer = (
                CustomerData(crm, store)
                .add(CustomerProfile(name="Bench Customer"), wallet=None, purpose=Purpose.SALES, agent=writer)
                .customer_id
            )
            database = home / "index.sqlite"
            index = _index(crm, database, world, interactions, log)
            integration = home / "integration.sqlite"
            api_key = figures.create_api_key(integration, home, writer.address)
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            config_file = _server_config(Path(folder), bench_settings, database, integration, base_url, port, writer)
            server = ServerProcess(
                SERVER_TARGET,
                config_file,
                ready_url=base_url + "/api/config",
                log_file=Path(folder) / "server.log",
                name="the portal with the API",
            )
            with WebhookReceiver() as receiver:
                server.start(port)
                log(f"server: {base_url} (pid {server.process.pid}), API key for staff {writer.address}")
                setup = BenchSetup(
                    crm=crm,
                    base_url=base_url,
                    server=server,
                    port=port,
                    integration_database=integration,
                    api_key=api_key,
                    writer=writer,
                    event_sender=actors.agent,
                    writer_customer=writer_customer,
                    customer_ids=_busiest_customers(database, figures.TIMELINE_CUSTOMERS),
                    receiver=receiver,
                    confirmations=figures.WEBHOOK_CONFIRMATIONS,
                    store=store,
                )
                try:
                    reads = figures.read_figures(setup, requests, concurrency, log)
                    lag = figures.lag_figures(setup, lag_events, log)
                    delivery = figures.delivery_figures(setup, events, log)
                    writes_figures = figures.write_figures(setup, writes, log)
                finally:
                    server.stop()
            store.close()
        finally:
            stop_node(ipfs)

    results: dict[str, Any] = {
        "machine": machine_figures(
            load_at_start,
            "one uvicorn process (1 worker) with its indexer and webhook dispatcher threads, Anvil, the "
            "IPFS node, the load generator and the webhook receiver share these cores",
            load_average_at_end=[round(value, 2) for value in os.getloadavg()],
        ),
        "index": index,
        "reads": reads,
        "webhook_lag": lag,
        "webhook_delivery": delivery,
        "writes": writes_figures,
        "seconds": round(time.perf_counter() - started, 1),
    }
    results["targets"] = figures.verdicts(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    figures.print_table(results, log)
    return results


def _busiest_customers(database: Path, count: int) -> list[int]:
    """The customers with the most interaction rows: the longest timelines."""
    from chaincrm.index.database import open_database

    engine = open_database(str(database))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT customer_id FROM interactions GROUP BY customer_id ORDER BY count(*) DESC, customer_id "
                    "LIMIT :count"
                ),
                {"count": count},
            ).all()
    finally:
        engine.dispose()
    if not rows:
        raise BenchError("the index holds no interactions")
    return [int(row[0]) for row in rows]


# ---------------------------------------------------------------------- the server, in its own process


def _server_config(
    folder: Path,
    settings: Settings,
    database: Path,
    integration: Path,
    base_url: str,
    port: int,
    writer: LocalAccount,
) -> Path:
    return write_server_config(
        folder / "server.json",
        settings,
        database,
        base_url,
        port,
        integration_database=str(integration),
        signer_key=writer.key.hex(),
    )


def serve_api(config_file: str) -> None:
    """The server process: the portal (with /api/v1 and the dispatcher) from the bench's config file.

    As `chaincrm serve` builds it, but for the dispatcher's retry delays: PortalConfig does not
    carry them, so the portal is opened here and its (not yet started) dispatcher replaced by one
    with the bench's short backoff (:func:`~chaincrm_tools.bench.api_figures.dispatch_options`).
    """
    import uvicorn
    from eth_account import Account

    from chaincrm.portal import PortalConfig, create_app
    from chaincrm.portal.state import Portal
    from chaincrm.webhooks.dispatcher import open_dispatcher

    spec, settings = read_server_config(config_file)
    config = PortalConfig(
        settings=settings,
        database=spec["database"],
        public_url=spec["public_url"],
        follow=True,
        poll_seconds=figures.PORTAL_POLL_SECONDS,
        signers=(Account.from_key(spec["signer_key"]),),
        integration_database=spec["integration_database"],
        webhooks=True,
        webhook_confirmations=figures.WEBHOOK_CONFIRMATIONS,
    )
    portal = Portal.open(config)
    if portal.webhooks is not None:
        portal.webhooks.stop()  # never started: this frees its pool, HTTP client and engine
    portal.webhooks = open_dispatcher(
        config.integration_database,
        settings.home,
        portal.engine,
        portal.crm.chain.block_number,
        figures.dispatch_options(),
    )
    app = create_app(config, portal=portal)
    uvicorn.run(app, host="127.0.0.1", port=spec["port"], log_level="warning", access_log=False)


__all__ = ["BenchSetup", "run_api_bench", "serve_api"]
