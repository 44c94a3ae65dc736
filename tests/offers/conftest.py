"""Fixtures for the offers tests: the SDK tests' real Anvil and fresh deployment per module
(tests/sdk/conftest.py), and helpers that give customers a history of invoices."""

from __future__ import annotations

import os

from eth_account.signers.local import LocalAccount

from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import SealedVersion
from chaincrm.models import Purpose, Stage
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from tests.sdk.conftest import Staff, anvil_node, chain, crm, snapshot, staff
from tests.sdk.ipfs_fixtures import pytest_configure

__all__ = ["anvil_node", "chain", "crm", "pytest_configure", "snapshot", "staff"]

ONE_ETH = 10**18
PATH_TO_WON = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)


def new_customer(crm: Crm, staff: Staff, wallet: LocalAccount | None = None, *, accept: bool = True) -> int:
    """A customer registered by the agent; `wallet` proposed, approved and (if `accept`) accepted."""
    readers = [staff.agent.address, *(m for m in crm.registry.managers() if crm.registry.encryption_key_of(m))]
    version = SealedVersion(os.urandom(32), os.urandom(32), readers_hash(sorted(set(readers))))
    address = wallet.address if wallet is not None else None
    customer_id = crm.registry.register_customer(*version.hashes, address, Purpose.SALES, staff.agent)
    if wallet is not None:
        crm.registry.approve_wallet(customer_id, wallet.address, staff.manager)
        if accept:
            crm.registry.accept_wallet(customer_id, public_key64(wallet), wallet)
    return customer_id


def won_invoice(crm: Crm, staff: Staff, customer_id: int, value: int = ONE_ETH) -> int:
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, value, staff.agent)
    for stage in PATH_TO_WON:
        crm.pipeline.move(deal_id, stage, staff.agent)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    return invoice_id


def advance(crm: Crm, seconds: int) -> None:
    provider = crm.chain.w3.provider
    provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def released_invoices(
    crm: Crm, staff: Staff, customer_id: int, payer: LocalAccount, count: int, value: int = ONE_ETH
) -> list[int]:
    """`count` invoices of the customer won, paid by `payer` and released to the treasury."""
    invoices = [won_invoice(crm, staff, customer_id, value) for _ in range(count)]
    for invoice_id in invoices:
        crm.escrow.pay(invoice_id, payer)
    advance(crm, crm.deployment.dispute_window_seconds + 1)
    for invoice_id in invoices:
        crm.escrow.release(invoice_id, staff.treasury)
    return invoices
