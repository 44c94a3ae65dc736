"""Fixtures for the contract tests: named accounts, one deployment per module, isolation per test."""

from __future__ import annotations

import pytest

from tests.contracts.helpers import (
    CONTRACTING,
    DISPUTE_WINDOW_SECONDS,
    NEGOTIATION,
    ONE_ETH,
    PAYMENT_TERM_SECONDS,
    PROPOSAL,
    PURPOSE_SALES,
    QUALIFIED,
    WON,
    random_hash,
)


@pytest.fixture(autouse=True)
def isolation(fn_isolation: None) -> None:
    """Every test starts from the module's deployment and leaves no trace for the next."""


@pytest.fixture(scope="module")
def admin(accounts):
    return accounts[0]


@pytest.fixture(scope="module")
def agent(accounts):
    return accounts[1]


@pytest.fixture(scope="module")
def agent2(accounts):
    return accounts[2]


@pytest.fixture(scope="module")
def manager(accounts):
    return accounts[3]


@pytest.fixture(scope="module")
def auditor(accounts):
    return accounts[4]


@pytest.fixture(scope="module")
def customer(accounts):
    return accounts[5]


@pytest.fixture(scope="module")
def customer2(accounts):
    return accounts[6]


@pytest.fixture(scope="module")
def stranger(accounts):
    return accounts[7]


@pytest.fixture(scope="module")
def treasury(accounts):
    return accounts[8]


@pytest.fixture(scope="module")
def registry(CrmRegistry, admin, agent, agent2, manager, auditor):
    registry = CrmRegistry.deploy(admin, {"from": admin})
    registry.grantRole(registry.AGENT_ROLE(), agent, {"from": admin})
    registry.grantRole(registry.AGENT_ROLE(), agent2, {"from": admin})
    registry.grantRole(registry.MANAGER_ROLE(), manager, {"from": admin})
    registry.grantRole(registry.AUDITOR_ROLE(), auditor, {"from": admin})
    return registry


@pytest.fixture(scope="module")
def escrow(InvoiceEscrow, registry, admin, treasury):
    return InvoiceEscrow.deploy(registry, treasury, DISPUTE_WINDOW_SECONDS, PAYMENT_TERM_SECONDS, {"from": admin})


@pytest.fixture(scope="module")
def pipeline(DealPipeline, registry, escrow, admin):
    pipeline = DealPipeline.deploy(registry, escrow, {"from": admin})
    registry.grantRole(registry.INVOICE_ISSUER_ROLE(), pipeline, {"from": admin})
    return pipeline


@pytest.fixture(scope="module")
def register(registry, agent):
    """Register a customer through `agent`; returns its id."""

    def _register(wallet=None, by=None) -> int:
        wallet_address = wallet.address if wallet is not None else "0x" + "00" * 20
        tx = registry.registerCustomer(
            random_hash(), random_hash(), wallet_address, PURPOSE_SALES, {"from": by or agent}
        )
        return tx.return_value

    return _register


@pytest.fixture(scope="module")
def customer_id(register, customer) -> int:
    """A customer whose wallet is `customer`, registered once per module."""
    return register(wallet=customer)


@pytest.fixture(scope="module")
def won_invoice(pipeline, agent):
    """Drive a new deal for `customer_id` to Won; returns (deal_id, invoice_id)."""

    def _won(customer_id: int, value: int = ONE_ETH) -> tuple[int, int]:
        deal_id = pipeline.openDeal(customer_id, agent, value, {"from": agent}).return_value
        for stage in (QUALIFIED, PROPOSAL, NEGOTIATION, CONTRACTING, WON):
            pipeline.moveStage(deal_id, stage, {"from": agent})
        return deal_id, pipeline.dealOf(deal_id)[4]

    return _won
