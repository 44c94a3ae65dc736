"""Benchmarks that print figures and write them to a file: gas per operation, SDK throughput.

Run on demand (`chaincrm bench gas`, `chaincrm bench throughput`), never in the test suite. Each
starts its own Anvil on a free port and stops it at the end.

Gas is read from receipts (after refunds) of real transactions on a chain that already holds a
given number of customers and deals, so storage that grows with use (bitmaps, mappings) is as
warm or cold as it would be in production. Profile versions, interaction documents and readers
are real in shape (the readers hash is the chain's own; the content hashes are random, as
ciphertext digests are) but no document is stored: gas does not depend on the bytes behind a hash.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy
from chaincrm.contracts.registry import InteractionEntry, SealedVersion
from chaincrm.contracts.signatures import sign_access_revocation, sign_consent_change, sign_wallet_acceptance
from chaincrm.models import InteractionKind, Outcome, Purpose, Role, Stage
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilOptions, anvil, dev_private_keys, free_port
from chaincrm.units import WEI_PER_ETH
from chaincrm_tools.bench.payments import NOTES as PAYMENT_NOTES
from chaincrm_tools.bench.payments import TARGETS as PAYMENT_TARGETS
from chaincrm_tools.bench.payments import PaymentActors, PaymentGas

SCALES = (10, 10_000)
PAYER_FUNDING_WEI = 100 * WEI_PER_ETH
SIGNATURE_LIFETIME_SECONDS = 3600
DEAL_VALUE_WEI = WEI_PER_ETH
LARGE_DEAL_VALUE_WEI = 11 * WEI_PER_ETH  # above the default approval threshold of 10 ETH
PATH_TO_CONTRACTING = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING)
GAS_TARGETS = {
    "log_interaction": 35_000,
    "log_interactions_100_per_record": 3_000,
    "accept_wallet": 50_000,
    "accept_wallet_by_sig": 60_000,
    "set_consent_by_sig_give": 60_000,
    "set_consent_by_sig_withdraw": 60_000,
    "set_consent_by_sig_withdraw_with_grant": 60_000,
    "revoke_access_by_sig": 60_000,
    "pay": 60_000,
    "release_after_window_by_treasury": 45_000,
    "withdraw_refund": 40_000,
    **PAYMENT_TARGETS,
}
OPERATION_NOTES = {
    "register_customer": "agent; wallet proposed, version 1 sealed for agent + manager",
    "accept_wallet": "the wallet's own transaction, with its public key",
    "accept_wallet_by_sig": "EIP-712 signature of a 0-ETH wallet, relayed by the agent",
    "update_profile_reseal": "a re-sealed version for the readers after acceptance",
    "set_consent_by_sig_give": "EIP-712 SetConsent(marketing, true), relayed",
    "set_consent_by_sig_withdraw": "relayed withdrawal, no grant for the purpose",
    "set_consent_by_sig_withdraw_with_grant": "relayed withdrawal that also deactivates a marketing grant",
    "revoke_access_by_sig": "EIP-712 RevokeAccess of a support grant, relayed; no re-sealed version",
    "grant_access": "manager; grant + re-sealed version in one transaction",
    "revoke_access": "manager; revoke + re-sealed version in one transaction",
    "won_issues_invoice": "owner, value below the approval threshold",
    "won_by_manager_above_threshold": "manager approves an 11 ETH deal",
    "reissue_invoice": "manager cancels the open invoice and issues a new one",
    "release_after_window_by_treasury": "the invoice's treasury, after the dispute window",
    "release_after_window_by_payer": "the payer, after the dispute window",
    "release_after_window_by_manager": "a manager, after the dispute window",
    "refund_credit": "manager credits the payer (pull)",
    "withdraw_refund": "the payer withdraws the credit",
    **PAYMENT_NOTES,
}


@dataclass(frozen=True)
class _Actors:
    admin: LocalAccount
    agent: LocalAccount
    agent2: LocalAccount
    manager: LocalAccount
    treasury: LocalAccount


def _actors() -> _Actors:
    keys = [Account.from_key(key) for key in dev_private_keys(5)]
    return _Actors(admin=keys[0], agent=keys[1], agent2=keys[2], manager=keys[3], treasury=keys[4])


def _fresh_crm(url: str, actors: _Actors) -> Crm:
    """A new deployment with two agents and a manager, each with a published encryption key."""
    chain = connect(url)
    deployment = deploy(chain, actors.admin, treasury=actors.treasury.address)
    crm = Crm.attach(chain, deployment)
    for role, account in ((Role.AGENT, actors.agent), (Role.AGENT, actors.agent2), (Role.MANAGER, actors.manager)):
        crm.registry.grant_role(role, account.address, actors.admin)
    for account in (actors.agent, actors.agent2, actors.manager):
        crm.registry.register_encryption_key(public_key64(account), account)
    return crm


def new_customer_readers_hash(crm: Crm, registrar: str) -> bytes:
    """The readers hash of a customer that `registrar` is about to register: the registrar (who
    gets a grant) and every manager with a published key, as the registry computes it."""
    registry = crm.registry
    managers = [m for m in registry.managers() if registry.encryption_key_of(m)]
    return readers_hash(sorted({registrar, *managers}))


def register_many(
    crm: Crm, agent: LocalAccount, count: int, after_batch: Callable[[], None] | None = None
) -> list[int]:
    """Register `count` customers without wallets, with random profile hashes and the right readers."""
    readers = new_customer_readers_hash(crm, agent.address)
    profiles = [(os.urandom(32), os.urandom(32), readers, None) for _ in range(count)]
    return crm.registry.register_customers(profiles, Purpose.SALES, agent, after_batch=after_batch)


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
        ids = register_many(crm, actors.agent, records, after_batch=mine)
        open_deal = crm.pipeline.contract.functions.openDeal
        calls = [(open_deal(customer_id, actors.agent.address, DEAL_VALUE_WEI), 0) for customer_id in ids]
        gas = crm.chain.gas_limit(calls[0][0], actors.agent)
        crm.chain.send_many(calls, actors.agent, gas=gas, after_batch=mine)
    finally:
        provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    log(f"  grew to {records:,} customers and {records:,} deals in {time.perf_counter() - started:.1f} s")


class _GasRun:
    """One measurement run: a chain with `records` customers and deals, and the receipts' gas."""

    def __init__(self, crm: Crm, actors: _Actors) -> None:
        self.crm = crm
        self.actors = actors
        self.gas: dict[str, int] = {}

    def record(self, name: str, receipt: TxReceipt) -> None:
        self.gas[name] = int(receipt["gasUsed"])

    def chain_now(self) -> int:
        return int(self.crm.chain.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        provider = self.crm.chain.w3.provider
        provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    @staticmethod
    def version_for(readers: Iterable[str]) -> SealedVersion:
        """A re-sealed version's hashes for `readers` (random document hashes: gas does not read them)."""
        return SealedVersion(os.urandom(32), os.urandom(32), readers_hash(sorted(set(readers))))

    # ------------------------------------------------------------------ customers

    def register(self, wallet: str, name: str | None = None) -> int:
        registry, agent = self.crm.registry, self.actors.agent
        fn = registry.contract.functions.registerCustomer(
            os.urandom(32),
            os.urandom(32),
            new_customer_readers_hash(self.crm, agent.address),
            wallet,
            int(Purpose.SALES),
        )
        receipt = self.crm.chain.transact(fn, agent)
        if name:
            self.record(name, receipt)
        customer_id = registry.customer_count()
        registry.approve_wallet(customer_id, wallet, self.actors.manager)
        return customer_id

    def reseal(self, customer_id: int, name: str | None = None) -> None:
        registry = self.crm.registry
        version = self.version_for(registry.readers_of(customer_id))
        fn = registry.contract.functions.updateProfile(customer_id, *version.hashes)
        receipt = self.crm.chain.transact(fn, self.actors.agent)
        if name:
            self.record(name, receipt)

    def customers(self) -> tuple[int, LocalAccount, int, LocalAccount]:
        """A customer whose wallet accepted by its own transaction (and pays), and one whose
        0-ETH wallet accepted by a relayed signature."""
        crm, actors = self.crm, self.actors
        payer = Account.create()
        crm.chain.transfer(payer.address, PAYER_FUNDING_WEI, actors.admin)
        paying = self.register(payer.address, "register_customer")
        self.record("accept_wallet", crm.registry.accept_wallet(paying, public_key64(payer), payer))
        self.reseal(paying, "update_profile_reseal")

        signer = Account.create()
        relayed = self.register(signer.address)
        acceptance = sign_wallet_acceptance(
            signer,
            chain_id=crm.chain.chain_id,
            registry=crm.registry.address,
            customer_id=relayed,
            public_key=public_key64(signer),
            nonce=crm.registry.nonce_of(relayed),
            deadline=self.chain_now() + SIGNATURE_LIFETIME_SECONDS,
        )
        self.record("accept_wallet_by_sig", crm.registry.accept_wallet_by_sig(acceptance, actors.agent))
        if crm.chain.w3.eth.get_balance(signer.address) != 0:
            raise AssertionError("the relayed acceptance cost the wallet ETH")
        self.reseal(relayed)
        return paying, payer, relayed, signer

    def access(self, paying: int, relayed: int, signer: LocalAccount) -> None:
        crm, actors = self.crm, self.actors
        registry = crm.registry
        staff = actors.agent2.address

        version = self.version_for([*registry.readers_of(paying), staff])
        self.record("grant_access", registry.grant_access(paying, staff, Purpose.SUPPORT, version, actors.manager))
        version = self.version_for([r for r in registry.readers_of(paying) if r != staff])
        self.record("revoke_access", registry.revoke_access(paying, staff, version, actors.manager))

        relayer = actors.agent
        consent = self._consent(relayed, signer, True)
        self.record("set_consent_by_sig_give", registry.set_consent_by_sig(consent, relayer))
        withdrawal = self._consent(relayed, signer, False)
        self.record("set_consent_by_sig_withdraw", registry.set_consent_by_sig(withdrawal, relayer))
        registry.set_consent_by_sig(self._consent(relayed, signer, True), relayer)
        version = self.version_for([*registry.readers_of(relayed), staff])
        registry.grant_access(relayed, staff, Purpose.MARKETING, version, actors.manager)
        withdrawal = self._consent(relayed, signer, False)
        self.record("set_consent_by_sig_withdraw_with_grant", registry.set_consent_by_sig(withdrawal, relayer))
        if registry.has_active_grant(relayed, staff):
            raise AssertionError("withdrawing consent left the marketing grant active")

        version = self.version_for([*registry.readers_of(relayed), staff])
        registry.grant_access(relayed, staff, Purpose.SUPPORT, version, actors.manager)
        revocation = sign_access_revocation(
            signer,
            chain_id=crm.chain.chain_id,
            registry=registry.address,
            customer_id=relayed,
            staff=staff,
            nonce=registry.nonce_of(relayed),
            deadline=self.chain_now() + SIGNATURE_LIFETIME_SECONDS,
        )
        self.record("revoke_access_by_sig", registry.revoke_access_by_sig(revocation, relayer))
        if registry.has_active_grant(relayed, staff):
            raise AssertionError("the relayed revocation left the support grant active")

    def _consent(self, customer_id: int, wallet: LocalAccount, granted: bool) -> Any:
        crm = self.crm
        return sign_consent_change(
            wallet,
            chain_id=crm.chain.chain_id,
            registry=crm.registry.address,
            customer_id=customer_id,
            purpose=Purpose.MARKETING,
            granted=granted,
            nonce=crm.registry.nonce_of(customer_id),
            deadline=self.chain_now() + SIGNATURE_LIFETIME_SECONDS,
        )

    # ------------------------------------------------------------------ interactions

    def interactions(self, customer_id: int) -> None:
        crm, agent = self.crm, self.actors.agent
        self.record("log_interaction", crm.registry.log_interaction(_entry(customer_id), agent))
        count = crm.registry.customer_count()
        spread = max(1, count // 100)
        # The agent registered every customer so far, so it holds a grant on each of them.
        for size in (10, 100):
            entries = [_entry(1 + (i * spread) % count) for i in range(size)]
            receipt = crm.registry.log_interactions(entries, agent)
            self.record(f"log_interactions_{size}", receipt)
            self.gas[f"log_interactions_{size}_per_record"] = int(receipt["gasUsed"]) // size

    # ------------------------------------------------------------------ deals and money

    def won_invoice(self, customer_id: int, value_wei: int = DEAL_VALUE_WEI, *, measure: bool = False) -> int:
        pipeline, agent, manager = self.crm.pipeline, self.actors.agent, self.actors.manager
        deal_id = pipeline.open_deal(customer_id, agent.address, value_wei, agent)
        for stage in PATH_TO_CONTRACTING:
            receipt = pipeline.move(deal_id, stage, agent)
        large = value_wei > self.crm.deployment.approval_threshold_wei
        won = pipeline.move(deal_id, Stage.WON, manager if large else agent)
        if measure:
            self.record("change_stage", receipt)
            self.record("won_by_manager_above_threshold" if large else "won_issues_invoice", won)
        invoice_id = pipeline.deal(deal_id).invoice_id
        assert invoice_id is not None
        return invoice_id

    def deals(self, customer_id: int) -> None:
        crm, agent = self.crm, self.actors.agent
        fn = crm.pipeline.contract.functions.openDeal(customer_id, agent.address, DEAL_VALUE_WEI)
        self.record("open_deal", crm.chain.transact(fn, agent))
        self.won_invoice(customer_id)  # not the escrow's first invoice: that one pays for a fresh counter
        self.won_invoice(customer_id, measure=True)
        self.won_invoice(customer_id, LARGE_DEAL_VALUE_WEI, measure=True)
        deal_id = crm.escrow.invoice(self.won_invoice(customer_id)).deal_id
        receipt = crm.chain.transact(crm.pipeline.contract.functions.reissueInvoice(deal_id), self.actors.manager)
        self.record("reissue_invoice", receipt)

    def money(self, customer_id: int, payer: LocalAccount) -> None:
        crm, actors = self.crm, self.actors
        escrow = crm.escrow
        first = self.won_invoice(customer_id)
        self.record("pay", escrow.pay(first, payer))
        self.record("confirm_delivery", escrow.confirm_delivery(first, payer))

        refunded = self.won_invoice(customer_id)
        escrow.pay(refunded, payer)
        self.record("refund_credit", escrow.refund(refunded, actors.manager))
        self.record("withdraw_refund", escrow.withdraw_refund(payer))

        releases = {
            "release_after_window_by_treasury": actors.treasury,
            "release_after_window_by_payer": payer,
            "release_after_window_by_manager": actors.manager,
        }
        held = {name: self.won_invoice(customer_id) for name in releases}
        for invoice_id in held.values():
            escrow.pay(invoice_id, payer)
        self.advance(crm.deployment.dispute_window_seconds + 1)
        for name, releaser in releases.items():
            self.record(name, escrow.release(held[name], releaser))

    def payments(self, customer_id: int, payer: LocalAccount) -> None:
        """Issue 11's operations and their anchors (chaincrm_tools.bench.payments)."""
        actors = self.actors
        measured = PaymentGas(
            self.crm,
            PaymentActors(actors.admin, actors.agent, actors.manager, actors.treasury),
            advance=self.advance,
            now=self.chain_now,
        )
        measured.anchors(payer)
        other = Account.create()
        self.crm.chain.transfer(other.address, PAYER_FUNDING_WEI, actors.admin)
        other_id = self.register(other.address)
        self.crm.registry.accept_wallet(other_id, public_key64(other), other)
        measured.loyalty(customer_id, payer, (other_id, other))  # before tokens: the payer's first points
        measured.tokens(customer_id, payer)
        measured.offers(customer_id, payer)
        measured.offchain(customer_id)
        count = self.crm.registry.customer_count()
        spread = max(1, count // 100)
        measured.reminders([1 + (i * spread) % count for i in range(100)])
        self.gas.update(measured.gas)


def measure_gas(records: int, log: Callable[[str], None] = print) -> dict[str, int]:
    """Gas used per operation (from receipts) on a chain that already holds `records` of each kind."""
    actors = _actors()
    with anvil(AnvilOptions(port=free_port())) as node:
        crm = _fresh_crm(node.url, actors)
        _grow(crm, actors, records, log)
        run = _GasRun(crm, actors)
        paying, payer, relayed, signer = run.customers()
        run.access(paying, relayed, signer)
        run.interactions(paying)
        run.deals(paying)
        run.money(paying, payer)
        run.payments(paying, payer)
        return run.gas


def _entry(customer_id: int) -> InteractionEntry:
    return InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))


def run_gas(out: Path, scales: tuple[int, ...] = SCALES, log: Callable[[str], None] = print) -> dict[str, Any]:
    results: dict[str, Any] = {
        "anvil": "1.7.1",
        "python": platform.python_version(),
        "targets": GAS_TARGETS,
        "notes": OPERATION_NOTES,
        "by_existing_records": {},
    }
    for records in scales:
        log(f"measuring with {records:,} existing records")
        results["by_existing_records"][str(records)] = measure_gas(records, log)
    results["misses"] = misses(results)
    _write(out, results)
    _print_gas_table(results, log)
    return results


def misses(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (operation, scale) whose gas is above its target."""
    return [
        {"operation": operation, "existing_records": int(scale), "gas": gas, "target": GAS_TARGETS[operation]}
        for scale, figures in results["by_existing_records"].items()
        for operation, gas in figures.items()
        if operation in GAS_TARGETS and gas > GAS_TARGETS[operation]
    ]


def _print_gas_table(results: dict[str, Any], log: Callable[[str], None]) -> None:
    scales = list(results["by_existing_records"])
    operations = list(results["by_existing_records"][scales[0]])
    missed = {miss["operation"] for miss in results["misses"]}
    header = f"{'operation':40}" + "".join(f"{int(scale):>12,}" for scale in scales) + f"{'target':>12}  "
    log(header)
    log("-" * len(header))
    for operation in operations:
        row = f"{operation:40}" + "".join(
            f"{results['by_existing_records'][scale][operation]:>12,}" for scale in scales
        )
        target = GAS_TARGETS.get(operation)
        shown = f"{'<= ' + format(target, ','):>12}" if target else " " * 12
        verdict = ("  MISS" if operation in missed else "  ok") if target else ""
        log(row + shown + verdict)
    log(f"columns: gas with that many existing customers and deals; {len(missed)} target(s) missed")


def run_throughput(out: Path, count: int = 2000, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Interactions logged one per transaction by one signer, pipelined, on Anvil with automine."""
    actors = _actors()
    with anvil(AnvilOptions(port=free_port())) as node:
        crm = _fresh_crm(node.url, actors)
        (customer_id,) = register_many(crm, actors.agent, 1)  # the agent's registration grants it access
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
