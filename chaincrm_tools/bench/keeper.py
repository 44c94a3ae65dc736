"""Benchmark of the payment-reminder keeper (`chaincrm bench keeper`). Not a test: it prints figures
and writes them to JSON.

`run_keeper_bench` starts its own Anvil and embedded IPFS node on free ports and an SMTP server
(aiosmtpd) on loopback, deploys the CRM, registers `customers` customers with real sealed profiles
(each with an e-mail address and a bound wallet), and opens and wins `invoices` deals spread over
them, every phase pipelined (``send_many``: one signer, consecutive nonces). It indexes the chain,
moves the chain's clock past the due date, and measures two keeper passes over the open invoices:

1. the first level, timed: the keeper's decision (index snapshot, hashes, grant check), the on-chain
   recording (``logInteractions`` batches of 1,000, sent back to back, then their receipts) and
   the delivery (decrypting each customer's profile once, one e-mail per reminder to the local SMTP
   server, a journal write after each); reminders per second for decision + recording, and e-mails
   per second for the delivery;
2. the next level, under ``tracemalloc``: the peak Python memory the pass holds (slower, so not timed),
   and the process's peak resident set (``ru_maxrss``) after both passes.

The SMTP server runs in a thread of the same process (it shares the GIL with the keeper); the
figures say so.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.automation.journal import Journal
from chaincrm.automation.keeper import Keeper, PassReport
from chaincrm.automation.schedule import parse_schedule
from chaincrm.automation.sources import Sources
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.index.indexer import Indexer
from chaincrm.models import Purpose, Stage
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.profiles import CustomerProfile
from chaincrm.services.anvil import AnvilOptions, anvil, free_port
from chaincrm.storage import KuboStore
from chaincrm.storage.node import api_address, start_node, stop_node
from chaincrm_tools.bench.contracts import _actors, _fresh_crm
from chaincrm_tools.bench.harness import machine_figures

DEFAULT_INVOICES = 10_000
DEFAULT_CUSTOMERS = 200
DEAL_VALUE_WEI = 10**15
WALLET_FUNDING_WEI = 10**17
DAY_SECONDS = 86_400
BLOCK_GAS_LIMIT = 1_000_000_000  # room for a batch of 100 transactions that each issue an invoice
PATH_TO_WON = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)
SCHEDULE = """
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "billing@bench.example"
retries = 2
retry_seconds = 0.1

[[level]]
name = "due"
days_after_due = 0

[[level]]
name = "overdue"
days_after_due = 7
"""


class _Counter:
    """An aiosmtpd handler that only counts the messages it accepted."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.accepted += 1
        return "250 OK"


def run_keeper_bench(
    settings: Settings,
    *,
    out: Path,
    invoices: int = DEFAULT_INVOICES,
    customers: int = DEFAULT_CUSTOMERS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build the chain, index it, run the keeper twice; write the figures to `out` (JSON)."""
    load_at_start = os.getloadavg()
    actors = _actors()
    customers = max(1, min(customers, invoices))
    counter = _Counter()
    smtp_port = free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=smtp_port)
    with (
        tempfile.TemporaryDirectory(prefix="chaincrm-keeper-bench-") as folder,
        anvil(AnvilOptions(port=free_port(), gas_limit=BLOCK_GAS_LIMIT)) as node,
    ):
        home = Path(folder)
        ipfs_port = free_port()
        ipfs = start_node(home / "ipfs", ipfs_port, home / "ipfs.log")
        controller.start()
        try:
            bench_settings = replace(settings, rpc_url=node.url, ipfs_api=api_address(ipfs_port), home=home)
            crm = _fresh_crm(node.url, actors)
            with KuboStore(bench_settings.ipfs_api) as store:
                data = CustomerData(crm, store)
                built = _build(crm, data, actors.agent, actors.manager, actors.admin, customers, invoices, log)
                indexer = Indexer(crm.chain, crm.deployment, home / "index.sqlite", confirmations=0)
                started = time.perf_counter()
                indexer.sync_once()
                index_seconds = time.perf_counter() - started
                log(f"index: {invoices:,} invoices indexed in {index_seconds:.1f} s")
                _travel(crm, 30 * DAY_SECONDS + 60)
                indexer.sync_once()
                schedule = parse_schedule(SCHEDULE.format(port=smtp_port), "bench schedule")
                sources = Sources(crm, indexer.engine, home)
                journal = Journal(home / "journal.sqlite")
                keeper = Keeper(crm, data, actors.agent, schedule, sources, journal)
                first = keeper.pass_once()
                log(f"first level: {first.line()} in {first.seconds:.1f} s")
                _travel(crm, 7 * DAY_SECONDS)
                indexer.sync_once()
                tracemalloc.start()
                second = keeper.pass_once()
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                log(f"second level (traced): {second.line()}")
                keeper.close()
                journal.close()
                sources.close()
                indexer.close()
        finally:
            controller.stop()
            stop_node(ipfs)
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = _figures(first, second, peak, maxrss_kib, built, index_seconds, counter.accepted, load_at_start)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    _print(figures, log)
    log(f"figures written to {out}")
    return figures


def _build(
    crm: Crm,
    data: CustomerData,
    agent: LocalAccount,
    manager: LocalAccount,
    admin: LocalAccount,
    customers: int,
    invoices: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """`customers` customers with sealed profiles and bound wallets, then `invoices` won deals."""
    started = time.perf_counter()
    customer_ids = []
    for number in range(customers):
        wallet: LocalAccount = Account.create()
        crm.chain.transfer(wallet.address, WALLET_FUNDING_WEI, admin)
        profile = CustomerProfile(name=f"Customer {number}", email=f"customer{number}@bench.example")
        ref = data.add(profile, wallet=wallet.address, purpose=Purpose.BILLING, agent=agent)
        data.approve_wallet(ref.customer_id, wallet.address, manager)
        data.accept_wallet(ref.customer_id, wallet)
        customer_ids.append(ref.customer_id)
    customers_seconds = time.perf_counter() - started
    log(f"chain: {customers:,} customers with sealed profiles in {customers_seconds:.1f} s")
    started = time.perf_counter()
    pipeline = crm.pipeline.contract.functions
    first_deal = crm.pipeline.deal_count() + 1
    provider = crm.chain.w3.provider

    def mine() -> None:
        provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    # Automine off while building: one block per RPC batch of 100 transactions, not one per transaction.
    provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        opens = [
            (pipeline.openDeal(customer_ids[i % customers], agent.address, DEAL_VALUE_WEI), 0) for i in range(invoices)
        ]
        crm.chain.send_many(opens, agent, gas=crm.chain.gas_limit(opens[0][0], agent), after_batch=mine)
        deal_ids = range(first_deal, first_deal + invoices)
        for stage in PATH_TO_WON:
            moves = [(pipeline.moveStage(deal_id, int(stage)), 0) for deal_id in deal_ids]
            gas = crm.chain.gas_limit(moves[0][0], agent)
            crm.chain.send_many(moves, agent, gas=gas, after_batch=mine)
    finally:
        provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    deals_seconds = time.perf_counter() - started
    log(f"chain: {invoices:,} won deals and their invoices in {deals_seconds:.1f} s")
    return {
        "customers": customers,
        "invoices": invoices,
        "customers_seconds": round(customers_seconds, 1),
        "deals_seconds": round(deals_seconds, 1),
    }


def _travel(crm: Crm, seconds: int) -> None:
    provider = crm.chain.w3.provider
    provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _figures(
    first: PassReport,
    second: PassReport,
    peak_bytes: int,
    maxrss_kib: int,
    built: dict[str, Any],
    index_seconds: float,
    accepted: int,
    load_at_start: tuple[float, float, float],
) -> dict[str, Any]:
    decide_and_record = first.decide_seconds + first.record_seconds
    return {
        "world": built | {"index_seconds": round(index_seconds, 1)},
        "first_pass": {
            "reminders_recorded": first.recorded,
            "batches": first.batches,
            "decide_seconds": round(first.decide_seconds, 3),
            "record_seconds": round(first.record_seconds, 3),
            "deliver_seconds": round(first.deliver_seconds, 3),
            "reminders_per_second": round(first.recorded / decide_and_record, 1) if decide_and_record else None,
            "emails_sent": first.emails_sent,
            "emails_per_second": round(first.emails_sent / first.deliver_seconds, 1) if first.deliver_seconds else None,
            "total_seconds": round(first.seconds, 3),
        },
        "second_pass_traced": {
            "reminders_recorded": second.recorded,
            "emails_sent": second.emails_sent,
            "peak_traced_mib": round(peak_bytes / 2**20, 1),
        },
        "process_peak_rss_mib": round(maxrss_kib / 1024, 1),
        "smtp_messages_accepted": accepted,
        "machine": machine_figures(
            load_at_start,
            "Anvil, the IPFS node and the SMTP server (a thread of the bench's process) share the machine",
        ),
    }


def _print(figures: dict[str, Any], log: Callable[[str], None]) -> None:
    first = figures["first_pass"]
    log(
        f"keeper: {first['reminders_recorded']:,} reminders decided and recorded at {first['reminders_per_second']}/s "
        f"({first['batches']} batches), {first['emails_sent']:,} e-mails at {first['emails_per_second']}/s; "
        f"peak traced memory {figures['second_pass_traced']['peak_traced_mib']} MiB, "
        f"process peak RSS {figures['process_peak_rss_mib']} MiB"
    )


__all__ = ["DEFAULT_CUSTOMERS", "DEFAULT_INVOICES", "run_keeper_bench"]
