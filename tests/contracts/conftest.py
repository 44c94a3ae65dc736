"""Fixtures for the contract tests: named accounts, one deployment per module, isolation per test."""

from __future__ import annotations

import pytest

from tests.contracts.helpers import (
    ADMIN_TRANSFER_DELAY_SECONDS,
    APPROVAL_THRESHOLD_WEI,
    CONTRACTING,
    DISPUTE_RESOLUTION_SECONDS,
    DISPUTE_WINDOW_SECONDS,
    NEGOTIATION,
    ONE_ETH,
    PAYMENT_TERM_SECONDS,
    PROPOSAL,
    PURPOSE_SALES,
    QUALIFIED,
    TREASURY_DELAY_SECONDS,
    WON,
    create_address,
    public_key_of,
    random_hash,
)

RECEIPT_PATIENCE_SECONDS = 5.0
RECEIPT_POLL_SECONDS = 0.01


@pytest.fixture(scope="session", autouse=True)
def patient_receipts():
    """Work around a Brownie 1.22.2 race that fails transactions as "Tx dropped without known
    replacement" on a busy machine.

    Brownie's confirmation thread reads the sender's nonce, then the receipt, and calls the
    transaction dropped when the nonce has moved on but the receipt is not there yet. Anvil
    advances the nonce a moment before the mined transaction can be looked up, so under load a
    mined transaction is taken for a dropped one. Before Brownie looks, this waits (up to 5 s) for
    the receipt to appear; a transaction that really was dropped still is after that. Polling
    every 10 ms instead of Brownie's second also makes the suite faster.
    """
    import time

    from brownie import web3
    from brownie.network.transaction import TransactionReceipt
    from web3.exceptions import TransactionNotFound

    original = TransactionReceipt._await_confirmation

    def await_confirmation(self, block_number=None, required_confs=1):
        deadline = time.monotonic() + RECEIPT_PATIENCE_SECONDS
        while time.monotonic() < deadline:
            try:
                receipt = web3.eth.get_transaction_receipt(self.txid)
            except TransactionNotFound:
                receipt = None
            if receipt is not None and receipt["blockHash"] is not None:
                break
            time.sleep(RECEIPT_POLL_SECONDS)
        return original(self, block_number, required_confs)

    TransactionReceipt._await_confirmation = await_confirmation
    try:
        yield
    finally:
        TransactionReceipt._await_confirmation = original


@pytest.fixture(scope="session", autouse=True)
def cheap_reverts():
    """Work around Brownie 1.22's cost per test: every revert of the isolation snapshot runs a full
    `gc.collect()` (in `_notify_registry`), which walks every object the session made (web3,
    hypothesis, compiled artifacts), about 0.3 s each time, most of the contract suite's time.
    `gc.freeze()` moves what exists now into a permanent generation that collections skip; what
    each test creates is still collected."""
    import gc

    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


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
    """The registry with one staff member per role, each with a published encryption key."""
    registry = CrmRegistry.deploy(admin, ADMIN_TRANSFER_DELAY_SECONDS, {"from": admin})
    registry.grantRole(registry.AGENT_ROLE(), agent, {"from": admin})
    registry.grantRole(registry.AGENT_ROLE(), agent2, {"from": admin})
    registry.grantRole(registry.MANAGER_ROLE(), manager, {"from": admin})
    registry.grantRole(registry.AUDITOR_ROLE(), auditor, {"from": admin})
    for staff in (agent, agent2, manager, auditor):
        registry.registerEncryptionKey(public_key_of(staff), {"from": staff})
    return registry


@pytest.fixture(scope="module")
def deployed(InvoiceEscrow, DealPipeline, registry, admin, treasury):
    """Escrow and pipeline: the escrow names the pipeline's future address as its only issuer."""
    issuer = create_address(admin, admin.nonce + 1)
    escrow = InvoiceEscrow.deploy(
        registry,
        issuer,
        treasury,
        DISPUTE_WINDOW_SECONDS,
        PAYMENT_TERM_SECONDS,
        DISPUTE_RESOLUTION_SECONDS,
        TREASURY_DELAY_SECONDS,
        {"from": admin},
    )
    pipeline = DealPipeline.deploy(registry, escrow, APPROVAL_THRESHOLD_WEI, {"from": admin})
    assert pipeline.address == issuer
    return escrow, pipeline


@pytest.fixture(scope="module")
def escrow(deployed):
    return deployed[0]


@pytest.fixture(scope="module")
def pipeline(deployed):
    return deployed[1]


@pytest.fixture(scope="module")
def current_readers_hash(registry):
    """The readers hash a new version of `customer_id` must be sealed for right now."""

    def _hash(customer_id: int) -> bytes:
        return registry.readersHashOf(customer_id)

    return _hash


@pytest.fixture(scope="module")
def bind_wallet(registry, agent, manager):
    """Propose `wallet` for a customer (by `agent`, approved by `manager`) and let the wallet
    accept by its own transaction."""

    def _bind(customer_id: int, wallet, by=None) -> None:
        proposer = by or agent
        registry.proposeWallet(customer_id, wallet, {"from": proposer})
        if not registry.walletProposalOf(customer_id)[1]:
            registry.approveWallet(customer_id, wallet, {"from": manager})
        registry.acceptWallet(customer_id, public_key_of(wallet), {"from": wallet})

    return _bind


@pytest.fixture(scope="module")
def register(registry, agent, manager, bind_wallet):
    """Register a customer through `agent` (readers: the agent and the manager); returns its id.

    With `wallet`, the wallet is proposed and then accepts, so it holds the customer's powers.
    """
    from tests.contracts.helpers import ZERO_ADDRESS, readers_hash

    def _register(wallet=None, by=None) -> int:
        registrar = by or agent
        tx = registry.registerCustomer(
            random_hash(),
            random_hash(),
            readers_hash(registrar, manager),
            ZERO_ADDRESS,
            PURPOSE_SALES,
            {"from": registrar},
        )
        customer_id = tx.return_value
        if wallet is not None:
            bind_wallet(customer_id, wallet, by=registrar)
        return customer_id

    return _register


@pytest.fixture(scope="module")
def customer_id(register, customer) -> int:
    """A customer whose accepted wallet is `customer`, registered once per module."""
    return register(wallet=customer)


@pytest.fixture(scope="module")
def won_invoice(pipeline, agent):
    """Drive a new deal for `customer_id` to Won; returns (deal_id, invoice_id)."""

    def _won(customer_id: int, value: int = ONE_ETH) -> tuple[int, int]:
        deal_id = pipeline.openDeal(customer_id, agent, value, {"from": agent}).return_value
        for stage in (QUALIFIED, PROPOSAL, NEGOTIATION, CONTRACTING, WON):
            pipeline.moveStage(deal_id, stage, {"from": agent})
        return deal_id, pipeline.dealOf(deal_id)[5]

    return _won
