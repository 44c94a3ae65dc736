"""Benchmarks that print figures and write them to a file: gas per operation, SDK throughput.

Run on demand (`chaincrm bench gas`, `chaincrm bench throughput`), never in the test suite. Each
starts its own Anvil on a free port and stops it at the end.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.client import Crm, connect
from chaincrm.deployment import deploy
from chaincrm.devchain import AnvilOptions, anvil, dev_private_keys, free_port
from chaincrm.models import InteractionKind, Outcome, Purpose, Role, Stage
from chaincrm.registry import InteractionEntry

WEI_PER_ETH = 10**18
SCALES = (10, 10_000)
GAS_TARGETS = {
    "log_interaction": 35_000,
    "log_interactions_100_per_record": 3_000,
    "pay": 60_000,
    "release_after_window": 45_000,
}


@dataclass(frozen=True)
class _Actors:
    admin: LocalAccount
    agent: LocalAccount
    manager: LocalAccount
    treasury: LocalAccount


def _actors() -> _Actors:
    keys = [Account.from_key(key) for key in dev_private_keys(5)]
    return _Actors(admin=keys[0], agent=keys[1], manager=keys[2], treasury=keys[3])


def _fresh_crm(url: str, actors: _Actors) -> Crm:
    chain = connect(url)
    deployment = deploy(chain, actors.admin, treasury=actors.treasury.address)
    crm = Crm.attach(chain, deployment)
    crm.registry.grant_role(Role.AGENT, actors.agent.address, actors.admin)
    crm.registry.grant_role(Role.AGENT, actors.manager.address, actors.admin)
    crm.registry.grant_role(Role.MANAGER, actors.manager.address, actors.admin)
    return crm


def _grow(crm: Crm, actors: _Actors, records: int, log: Callable[[str], None]) -> None:
    """Add `records` customers and `records` deals, 100 transactions to a block.

    Automine is off while growing: Anvil's cost per block rises with the chain's length, and one
    block per transaction would make 20,000 setup transactions take many minutes. Gas does not
    depend on how transactions are grouped into blocks.
    """
    started = time.perf_counter()
    provider = crm.chain.w3.provider

    def mine() -> None:
        provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        profiles = [(os.urandom(32), os.urandom(32), None) for _ in range(records)]
        ids = crm.registry.register_customers(profiles, Purpose.SALES, actors.agent, after_batch=mine)
        open_deal = crm.pipeline.contract.functions.openDeal
        calls = [(open_deal(customer_id, actors.agent.address, WEI_PER_ETH), 0) for customer_id in ids]
        gas = crm.chain.gas_limit(calls[0][0], actors.agent)
        crm.chain.send_many(calls, actors.agent, gas=gas, after_batch=mine)
    finally:
        provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    log(f"  grew to {records:,} customers and {records:,} deals in {time.perf_counter() - started:.1f} s")


def measure_gas(records: int, log: Callable[[str], None] = print) -> dict[str, int]:
    """Gas used per operation (from receipts) on a chain that already holds `records` of each kind."""
    actors = _actors()
    with anvil(AnvilOptions(port=free_port())) as node:
        crm = _fresh_crm(node.url, actors)
        _grow(crm, actors, records, log)
        payer = Account.create()
        crm.chain.transfer(payer.address, 100 * WEI_PER_ETH, actors.admin)
        gas: dict[str, int] = {}

        def used(receipt: Any) -> int:
            return int(receipt["gasUsed"])

        register = crm.registry.contract.functions.registerCustomer(
            os.urandom(32), os.urandom(32), payer.address, int(Purpose.SALES)
        )
        gas["register_customer"] = used(crm.chain.transact(register, actors.agent))
        customer_id = crm.registry.customer_count()

        spread = max(1, crm.registry.customer_count() // 100)
        gas["log_interaction"] = used(crm.registry.log_interaction(_entry(customer_id), actors.agent))
        for size in (10, 100):
            entries = [_entry(1 + (i * spread) % crm.registry.customer_count()) for i in range(size)]
            total = used(crm.registry.log_interactions(entries, actors.agent))
            gas[f"log_interactions_{size}"] = total
            gas[f"log_interactions_{size}_per_record"] = total // size

        def won_invoice() -> int:
            deal_id = crm.pipeline.open_deal(customer_id, actors.agent.address, WEI_PER_ETH, actors.agent)
            for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING):
                receipt = crm.pipeline.move(deal_id, stage, actors.agent)
            gas["change_stage"] = used(receipt)
            gas["won_issues_invoice"] = used(crm.pipeline.move(deal_id, Stage.WON, actors.agent))
            invoice_id = crm.pipeline.deal(deal_id).invoice_id
            assert invoice_id is not None
            return invoice_id

        open_deal = crm.pipeline.contract.functions.openDeal(customer_id, actors.agent.address, WEI_PER_ETH)
        gas["open_deal"] = used(crm.chain.transact(open_deal, actors.agent))
        first = won_invoice()
        gas["pay"] = used(crm.escrow.pay(first, payer))
        gas["confirm_delivery"] = used(crm.escrow.confirm_delivery(first, payer))
        second = won_invoice()
        crm.escrow.pay(second, payer)
        crm.chain.w3.provider.make_request("evm_increaseTime", [crm.deployment.dispute_window_seconds + 1])  # type: ignore[arg-type]
        crm.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        gas["release_after_window"] = used(crm.escrow.release(second, actors.agent))
        third = won_invoice()
        crm.escrow.pay(third, payer)
        gas["refund"] = used(crm.escrow.refund(third, actors.manager))
        return gas


def _entry(customer_id: int) -> InteractionEntry:
    return InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))


def run_gas(out: Path, scales: tuple[int, ...] = SCALES, log: Callable[[str], None] = print) -> dict[str, Any]:
    results: dict[str, Any] = {
        "anvil": "1.7.1",
        "python": platform.python_version(),
        "targets": GAS_TARGETS,
        "by_existing_records": {},
    }
    for records in scales:
        log(f"measuring with {records:,} existing records")
        results["by_existing_records"][str(records)] = measure_gas(records, log)
    _write(out, results)
    _print_gas_table(results, log)
    return results


def _print_gas_table(results: dict[str, Any], log: Callable[[str], None]) -> None:
    scales = list(results["by_existing_records"])
    operations = list(results["by_existing_records"][scales[0]])
    header = f"{'operation':34}" + "".join(f"{int(scale):>14,}" for scale in scales) + f"{'target':>12}"
    log(header)
    log("-" * len(header))
    for operation in operations:
        row = f"{operation:34}" + "".join(
            f"{results['by_existing_records'][scale][operation]:>14,}" for scale in scales
        )
        target = GAS_TARGETS.get(operation)
        log(row + (f"{'<= ' + format(target, ','):>12}" if target else ""))


def run_throughput(out: Path, count: int = 2000, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Interactions logged one per transaction by one signer, pipelined, on Anvil with automine."""
    actors = _actors()
    with anvil(AnvilOptions(port=free_port())) as node:
        crm = _fresh_crm(node.url, actors)
        customer_id = crm.registry.register_customer(os.urandom(32), os.urandom(32), None, Purpose.SALES, actors.agent)
        entries = [_entry(customer_id) for _ in range(count)]
        crm.registry.log_interactions_pipelined(entries[:100], actors.agent)  # warm-up
        started = time.perf_counter()
        receipts = crm.registry.log_interactions_pipelined(entries, actors.agent)
        elapsed = time.perf_counter() - started
    results = {
        "transactions": len(receipts),
        "seconds": round(elapsed, 3),
        "transactions_per_second": round(len(receipts) / elapsed, 1),
        "target_per_second": 300,
    }
    _write(out, results)
    log(
        f"logged {len(receipts):,} interactions, one per transaction, in {elapsed:.2f} s: "
        f"{results['transactions_per_second']} tx/s"
    )
    return results


def _write(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
