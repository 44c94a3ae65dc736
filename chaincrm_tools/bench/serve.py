"""Benchmark of the customer portal (`chaincrm serve`). Not a test: it prints figures and writes them to JSON.

`run_serve_bench` starts its own Anvil on a free port and builds the index the way `bench index`
does: customers, some thousands of interactions logged on chain in `logInteractions` batches, and
real deals and invoices of one customer with a wallet; it indexes the chain, then tops the
`interactions` table up with synthetic rows (block numbers far beyond the head) until it holds
`interactions` rows. It then serves the portal from that index with uvicorn in a separate process
(so the load generator does not share the server's GIL; it still shares the machine's cores), and
measures:

1. `/pay/<id>` (HTML) and `/api/invoices/<id>` (JSON): p50, p90, p99 latency and requests per
   second at a fixed concurrency (aiohttp, keep-alive) after a warm-up, and the latency of single
   requests one at a time;
2. the time from a payment's receipt (paid by the customer's wallet through the SDK) to
   `/api/invoices/<id>` answering "paid", polled every 50 ms, while the server follows the chain;
3. the gas of relayed changes: the customer signs in with SIWE (signed with its key, as a browser
   wallet would), asks the server for the typed data, signs it, and `POST /api/relay` sends it.

No IPFS node is needed: the portal reads the index and the chain only, and the interactions carry
random content hashes, as in `bench index`.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import psutil
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import text

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.index.indexer import Indexer
from chaincrm.models import Purpose
from chaincrm.privacy.customers import public_key64
from chaincrm.services import supervisor
from chaincrm.services.anvil import AnvilOptions, anvil, dev_private_keys, free_port
from chaincrm_tools.bench.contracts import PAYER_FUNDING_WEI, _Actors, _actors, _fresh_crm, _GasRun
from chaincrm_tools.bench.harness import (
    BenchError,
    log_targets,
    machine_figures,
    read_server_config,
    target_rows,
    write_server_config,
)
from chaincrm_tools.bench.harness import answers as _answers
from chaincrm_tools.bench.harness import load as _load
from chaincrm_tools.bench.harness import run_async as _run_async
from chaincrm_tools.bench.index import _add_synthetic, _log_batches, _register

TARGET_P99_MILLISECONDS = 50.0
TARGET_REQUESTS_PER_SECOND = 500.0
TARGET_PAID_SECONDS = 2.0
TARGET_RELAYED_GAS = 60_000
DEFAULT_INTERACTIONS = 1_000_000
DEFAULT_REQUESTS = 5_000
DEFAULT_CONCURRENCY = 16
DEFAULT_CUSTOMERS = 1_000
CHAIN_INTERACTIONS = 5_000  # logged on chain and indexed; the rest of the rows are synthetic
READ_INVOICES = 20  # invoices the load reads, every other one paid
PAYMENTS = 10  # invoices paid while the server follows the chain
WARM_UP_REQUESTS = 200
SINGLE_REQUESTS = 200
PAID_POLL_SECONDS = 0.05
PAID_TIMEOUT_SECONDS = 30.0
PORTAL_POLL_SECONDS = 0.5  # the server's indexer thread: PortalConfig's default
PORTAL_START_SECONDS = 60.0
RELAYER_KEY_INDEX = 5  # an Anvil dev account the bench's other actors do not use
SIWE_STATEMENT = "Sign in to your chaincrm records."
PATHS = {"pay_page": "/pay/{id}", "invoice_api": "/api/invoices/{id}"}


@dataclass(frozen=True)
class _World:
    """What the bench built on chain: the customer who pays, its invoices, and a staff grant to revoke."""

    customer_ids: list[int]
    customer_id: int
    payer: LocalAccount
    read_invoices: list[int]
    open_invoices: list[int]
    granted_staff: str
    interactions_on_chain: int


def run_serve_bench(
    settings: Settings,
    *,
    interactions: int = DEFAULT_INTERACTIONS,
    requests: int = DEFAULT_REQUESTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    out: Path,
    log: Callable[[str], None] = print,
    customers: int = DEFAULT_CUSTOMERS,
    chain_port: int | None = None,
    port: int | None = None,
) -> dict[str, Any]:
    """Build a chain and its index, serve the portal from it, measure; write the figures to `out` (JSON).

    `settings` gives everything but the chain and the home: the bench runs its own Anvil (on
    `chain_port`, default a free port) and keeps its deployment record and index in a temporary
    home, deleted afterwards. The portal listens on `port` (default a free port).
    """
    load_at_start = os.getloadavg()  # other work on the machine skews the figures
    actors = _actors()
    relayer = Account.from_key(dev_private_keys(RELAYER_KEY_INDEX + 1)[RELAYER_KEY_INDEX])
    with (
        tempfile.TemporaryDirectory(prefix="chaincrm-serve-bench-") as folder,
        anvil(AnvilOptions(port=chain_port or free_port())) as node,
    ):
        home = Path(folder) / "home"
        bench_settings = replace(settings, rpc_url=node.url, home=home)
        crm = _fresh_crm(node.url, actors)
        save_record(crm.deployment, bench_settings.deployment_path)
        world = _build(crm, actors, interactions, customers, log)
        database = home / "index.sqlite"
        index = _index(crm, database, world, interactions, log)
        with _portal(bench_settings, database, relayer, port or free_port(), Path(folder), log) as (base_url, server):
            pages = {
                name: _page_figures(base_url, server, path, world.read_invoices, requests, concurrency, log)
                for name, path in PATHS.items()
            }
            paid = _time_to_paid(crm, base_url, world, log)
            gas = _relayed_gas(crm, base_url, world, log)

    results: dict[str, Any] = {
        "machine": machine_figures(
            load_at_start,
            "one uvicorn process (1 worker, asyncio loop, h11) with its indexer thread, Anvil and the "
            "load generator (aiohttp, one process) share these cores",
        ),
        "index": index,
        "pages": {"concurrency": concurrency, "requests": requests, "warm_up_requests": _warm_up(requests), **pages},
        "time_to_paid": paid,
        "relayed_gas": gas,
    }
    results["targets"] = _verdicts(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    _print_table(results, log)
    return results


# ---------------------------------------------------------------------- the chain and its index


def _build(crm: Crm, actors: _Actors, interactions: int, customers: int, log: Callable[[str], None]) -> _World:
    started = time.perf_counter()
    customer_ids = _register(crm, actors.agent, customers)
    on_chain = min(CHAIN_INTERACTIONS, max(1, interactions // 2))
    _log_batches(crm, actors.agent, customer_ids, on_chain)

    run = _GasRun(crm, actors)
    payer = Account.create()
    crm.chain.transfer(payer.address, PAYER_FUNDING_WEI, actors.admin)
    customer_id = run.register(payer.address)
    crm.registry.accept_wallet(customer_id, public_key64(payer), payer)
    staff = actors.agent2.address
    version = run.version_for([*crm.registry.readers_of(customer_id), staff])
    crm.registry.grant_access(customer_id, staff, Purpose.SUPPORT, version, actors.manager)

    invoices = [run.won_invoice(customer_id) for _ in range(READ_INVOICES + PAYMENTS)]
    read, pending = invoices[:READ_INVOICES], invoices[READ_INVOICES:]
    for invoice_id in read[::2]:
        crm.escrow.pay(invoice_id, payer)
    log(
        f"chain: {len(customer_ids):,} customers, {on_chain:,} interactions, {len(invoices)} won deals and their "
        f"invoices ({len(read[::2])} paid) in {time.perf_counter() - started:.1f} s"
    )
    return _World(customer_ids, customer_id, payer, read, pending, staff, on_chain)


def _index(crm: Crm, database: Path, world: _World, interactions: int, log: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    with Indexer(crm.chain, crm.deployment, str(database)) as indexer:
        report = indexer.sync_once()
        added = _add_synthetic(indexer, world.customer_ids, interactions - report.interactions)
        with indexer.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")  # planner statistics, as a running database keeps them
            counts = {
                table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("interactions", "customers", "deals", "invoices")
            }
    log(
        f"index: {counts['interactions']:,} interactions ({added:,} synthetic), {counts['invoices']} invoices, "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    return {
        "interactions_in_index": counts["interactions"],
        "interactions_on_chain": report.interactions,
        "synthetic_interactions": added,
        "customers": counts["customers"],
        "deals": counts["deals"],
        "invoices": counts["invoices"],
        "database": "sqlite",
    }


# ---------------------------------------------------------------------- the server, in its own process


def serve_portal(config_file: str) -> None:
    """The server process: the portal app from the bench's config file, on uvicorn, until SIGTERM."""
    import uvicorn

    from chaincrm.portal import PortalConfig, create_app

    spec, settings = read_server_config(config_file)
    config = PortalConfig(
        settings=settings,
        database=spec["database"],
        public_url=spec["public_url"],
        relayer=Account.from_key(spec["relayer_key"]),
        follow=True,
        poll_seconds=PORTAL_POLL_SECONDS,
    )
    uvicorn.run(create_app(config), host="127.0.0.1", port=spec["port"], log_level="warning", access_log=False)


@contextmanager
def _portal(
    settings: Settings, database: Path, relayer: LocalAccount, port: int, folder: Path, log: Callable[[str], None]
) -> Iterator[tuple[str, psutil.Process]]:
    """Serve the portal in a child process; yields its base URL and process, stops it on the way out."""
    base_url = f"http://127.0.0.1:{port}"
    config_file = write_server_config(
        folder / "portal.json", settings, database, base_url, port, relayer_key=relayer.key.hex()
    )
    log_file = folder / "portal.log"
    supervisor.require_free_port(port)
    process = supervisor.spawn(
        [
            sys.executable,
            "-c",
            "import sys; from chaincrm_tools.bench.serve import serve_portal; serve_portal(sys.argv[1])",
            str(config_file),
        ],
        log_file=log_file,
        detach=False,
    )
    try:
        exit_code = supervisor.wait_until_ready(
            process,
            lambda: _answers(base_url + "/api/config"),
            name="the portal",
            timeout_seconds=PORTAL_START_SECONDS,
            log_file=log_file,
        )
        if exit_code is not None:
            raise BenchError(f"the portal exited with code {exit_code}: {supervisor.last_log_line(log_file)}")
        log(f"portal: serving on {base_url} (pid {process.pid})")
        yield base_url, psutil.Process(process.pid)
    finally:
        supervisor.stop(process.pid)


# ---------------------------------------------------------------------- 1. latency and throughput


def _warm_up(requests: int) -> int:
    return min(WARM_UP_REQUESTS, requests)


def _page_figures(
    base_url: str,
    server: psutil.Process,
    path: str,
    invoices: list[int],
    requests: int,
    concurrency: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    paths = [path.format(id=invoice_id) for invoice_id in invoices]
    _run_async(_load(base_url, paths, _warm_up(requests), concurrency))
    cpu_before, client_before = server.cpu_times(), time.process_time()
    latencies, seconds, errors = _run_async(_load(base_url, paths, requests, concurrency))
    cpu_after, client_cpu = server.cpu_times(), time.process_time() - client_before
    server_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    single, _, single_errors = _run_async(_load(base_url, paths, min(SINGLE_REQUESTS, requests), 1))
    p50, p90, p99 = (round(float(value), 2) for value in np.percentile(latencies, [50, 90, 99]))
    figures = {
        "path": path.replace("{id}", "<id>"),
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "max_ms": round(max(latencies), 2),
        "requests_per_second": round(len(latencies) / seconds, 1),
        "errors": errors + single_errors,
        "server_cpu_ms_per_request": round(server_cpu * 1000 / len(latencies), 2),
        "load_generator_cpu_ms_per_request": round(client_cpu * 1000 / len(latencies), 2),
        "single_request_p50_ms": round(float(np.percentile(single, 50)), 2),
        "single_request_p99_ms": round(float(np.percentile(single, 99)), 2),
    }
    log(
        f"{figures['path']}: p50 {p50} ms, p90 {p90} ms, p99 {p99} ms, {figures['requests_per_second']:,} req/s "
        f"at concurrency {concurrency}; alone p50 {figures['single_request_p50_ms']} ms"
    )
    return figures


# ---------------------------------------------------------------------- 2. from payment to "paid"


def _time_to_paid(crm: Crm, base_url: str, world: _World, log: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(17)
    samples = []
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        for invoice_id in world.open_invoices:
            time.sleep(rng.uniform(0, PORTAL_POLL_SECONDS))  # not in step with the server's polling
            receipt = crm.escrow.pay(invoice_id, world.payer)
            confirmed = time.perf_counter()
            while True:
                response = client.get(f"/api/invoices/{invoice_id}")
                if response.status_code == 200 and response.json().get("status") == "paid":
                    break
                if time.perf_counter() - confirmed > PAID_TIMEOUT_SECONDS:
                    raise BenchError(
                        f"invoice {invoice_id}, paid in block {receipt['blockNumber']}, was not shown paid "
                        f"within {PAID_TIMEOUT_SECONDS:g} s"
                    )
                time.sleep(PAID_POLL_SECONDS)
            samples.append(time.perf_counter() - confirmed)
    figures = {
        "payments": len(samples),
        "median_seconds": round(statistics.median(samples), 3),
        "max_seconds": round(max(samples), 3),
        "samples_seconds": [round(sample, 3) for sample in samples],
        "client_poll_seconds": PAID_POLL_SECONDS,
        "server_poll_seconds": PORTAL_POLL_SECONDS,
    }
    log(
        f"payment receipt -> shown paid: median {figures['median_seconds']} s, max {figures['max_seconds']} s "
        f"over {len(samples)} payments"
    )
    return figures


# ---------------------------------------------------------------------- 3. relayed gas


def _relayed_gas(crm: Crm, base_url: str, world: _World, log: Callable[[str], None]) -> dict[str, Any]:
    customer_id, payer = world.customer_id, world.payer
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        _sign_in(client, base_url, payer, crm.chain.chain_id)
        consent = {"action": "consent", "customer": customer_id, "purpose": Purpose.MARKETING.name.lower()}
        gas = {
            "set_consent_by_sig_give": _relay(crm, client, payer, {**consent, "granted": "true"}),
            "set_consent_by_sig_withdraw": _relay(crm, client, payer, {**consent, "granted": "false"}),
            "revoke_access_by_sig": _relay(
                crm, client, payer, {"action": "revoke", "customer": customer_id, "staff": world.granted_staff}
            ),
        }
    log("relayed gas: " + ", ".join(f"{name} {used:,}" for name, used in gas.items()))
    return gas


def _sign_in(client: httpx.Client, base_url: str, wallet: LocalAccount, chain_id: int) -> None:
    """SIWE as the page does it: the server's nonce, an EIP-4361 message signed with personal_sign."""
    nonce = _json(client.get("/api/siwe/nonce"), "the SIWE nonce")["nonce"]
    now = datetime.now(UTC)
    parts = urlsplit(base_url)
    message = (
        f"{parts.netloc} wants you to sign in with your Ethereum account:\n{wallet.address}\n\n{SIWE_STATEMENT}\n\n"
        f"URI: {parts.scheme}://{parts.netloc}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\n"
        f"Issued At: {_iso(now)}\nExpiration Time: {_iso(now + timedelta(minutes=10))}"
    )
    signature = wallet.sign_message(encode_defunct(text=message)).signature
    _json(client.post("/api/siwe/verify", json={"message": message, "signature": _hex(signature)}), "the sign-in")


def _relay(crm: Crm, client: httpx.Client, wallet: LocalAccount, query: dict[str, Any]) -> int:
    """Ask for the typed data, sign it as the wallet would (eth_signTypedData_v4), relay it: its gas."""
    answer = _json(client.get("/api/me/typed-data", params=query), f"the typed data for {query['action']}")
    typed = answer["typed_data"]
    signature = Account.sign_typed_data(wallet.key, full_message=typed).signature
    body: dict[str, Any] = {
        "action": query["action"],
        "customer_id": query["customer"],
        "nonce": int(typed["message"]["nonce"]),
        "deadline": int(answer["deadline"]),
        "signature": _hex(signature),
    }
    if query["action"] == "consent":
        body |= {"purpose": query["purpose"], "granted": query["granted"] == "true"}
    else:
        body["staff"] = query["staff"]
    relayed = _json(client.post("/api/relay", json=body), f"the relayed {query['action']}")
    receipt = crm.chain.w3.eth.get_transaction_receipt(relayed["tx_hash"])
    return int(receipt["gasUsed"])


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise BenchError(f"{what} answered HTTP {response.status_code}: {response.text[:300]}")
    return dict(response.json())


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _hex(signature: bytes) -> str:
    return "0x" + bytes(signature).hex()


# ---------------------------------------------------------------------- targets and the table


def _verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[tuple[str, float, str, bool]] = []
    for name in PATHS:
        page = results["pages"][name]
        p99, rps = page["p99_ms"], page["requests_per_second"]
        rows.append((f"{name}.p99_ms", p99, f"< {TARGET_P99_MILLISECONDS:g}", p99 < TARGET_P99_MILLISECONDS))
        rps_target = f">= {TARGET_REQUESTS_PER_SECOND:g}"
        rows.append((f"{name}.requests_per_second", rps, rps_target, rps >= TARGET_REQUESTS_PER_SECOND))
    paid = results["time_to_paid"]["median_seconds"]
    rows.append(("time_to_paid.median_seconds", paid, f"< {TARGET_PAID_SECONDS:g}", paid < TARGET_PAID_SECONDS))
    for name, used in results["relayed_gas"].items():
        rows.append((f"relayed_gas.{name}", used, f"<= {TARGET_RELAYED_GAS:,}", used <= TARGET_RELAYED_GAS))
    return target_rows(rows)


def _print_table(results: dict[str, Any], log: Callable[[str], None]) -> None:
    machine, index, pages = results["machine"], results["index"], results["pages"]
    log(
        f"\nportal at {index['interactions_in_index']:,} indexed interactions, {machine['cpus']} cores shared by "
        f"server, Anvil and load generator; concurrency {pages['concurrency']}, {pages['requests']:,} requests"
    )
    log_targets(results["targets"], log, figure_width=40, target_width=12)
    for name in PATHS:
        page = pages[name]
        log(
            f"{page['path']:24} p50 {page['p50_ms']} / p90 {page['p90_ms']} / p99 {page['p99_ms']} ms; "
            f"alone p50 {page['single_request_p50_ms']} ms; CPU/request server {page['server_cpu_ms_per_request']} ms, "
            f"load generator {page['load_generator_cpu_ms_per_request']} ms; "
            f"{page['errors']} errors"
        )


__all__ = ["BenchError", "run_serve_bench", "serve_portal"]
