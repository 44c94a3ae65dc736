"""InvoiceEscrow against hostile contracts: payers and treasuries that re-enter, payees that refuse ETH.

Each re-entering contract catches the failure of its call back, so the outer transfer succeeds and
the test reads what the escrow answered. None of them can drain the escrow (balances exact
afterwards, and the escrow's balance equals what it owes), and a payee that refuses ETH blocks
only its own money. The escrow here is issued for by a plain account: one transaction per invoice.
"""

from __future__ import annotations

import pytest
from brownie import chain, web3

from tests.contracts.helpers import (
    DISPUTE_RESOLUTION_SECONDS,
    DISPUTE_WINDOW_SECONDS,
    ONE_ETH,
    PAID,
    PAYMENT_TERM_SECONDS,
    REFUNDED,
    RELEASED,
    TREASURY_DELAY_SECONDS,
    ZERO_ADDRESS,
    reverts_with,
)

# ReentrantPayer.Attack
ATTACK_WITHDRAW_REFUND, ATTACK_RELEASE, ATTACK_CONFIRM_DELIVERY, ATTACK_RECLAIM = 1, 2, 3, 4

HOSTILE_AMOUNT_WEI = ONE_ETH
HOSTILE_OTHER_AMOUNT_WEI = 3 * ONE_ETH
BYSTANDER_AMOUNT_WEI = 2 * ONE_ETH
BYSTANDER_OTHER_AMOUNT_WEI = 4 * ONE_ETH
REFUSING_AMOUNT_WEI = 5 * ONE_ETH

STATUS = 3  # position of `status` in the Invoice struct


def guard_error() -> bytes:
    """The revert data of OpenZeppelin's ReentrancyGuard when it refuses a nested call."""
    return bytes(web3.keccak(text="ReentrancyGuardReentrantCall()")[:4])


def status_of(escrow, invoice_id: int) -> int:
    return escrow.invoiceOf(invoice_id)[STATUS]


def sleep_past(seconds: int) -> None:
    chain.sleep(seconds + 1)
    chain.mine()


def assert_holds_exactly_what_it_owes(escrow) -> None:
    assert escrow.balance() == escrow.liabilitiesWei()


@pytest.fixture(scope="module")
def issuer(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def escrow(InvoiceEscrow, registry, issuer, treasury, admin):
    """An escrow whose issuer is a plain account (shadows the deployment's escrow)."""
    return InvoiceEscrow.deploy(
        registry,
        issuer,
        treasury,
        DISPUTE_WINDOW_SECONDS,
        PAYMENT_TERM_SECONDS,
        DISPUTE_RESOLUTION_SECONDS,
        TREASURY_DELAY_SECONDS,
        {"from": admin},
    )


@pytest.fixture(scope="module")
def issue_paid(escrow, issuer, stranger):
    """Issue an invoice to `payer` and pay it from there: an account, or a contract wallet's `pay`."""

    def _issue_paid(payer, amount: int) -> int:
        invoice_id = escrow.issueInvoice(1, 1, payer, amount, ZERO_ADDRESS, {"from": issuer}).return_value
        if hasattr(payer, "pay"):
            payer.pay(invoice_id, {"from": stranger, "value": amount})
        else:
            escrow.pay(invoice_id, {"from": payer, "value": amount})
        return invoice_id

    return _issue_paid


@pytest.fixture(scope="module")
def bystanders(issue_paid, customer) -> tuple[int, int]:
    """Two invoices of an honest customer, paid: funds a drain would steal."""
    return issue_paid(customer, BYSTANDER_AMOUNT_WEI), issue_paid(customer, BYSTANDER_OTHER_AMOUNT_WEI)


@pytest.fixture(scope="module")
def install_treasury(escrow, admin):
    """Make `wallet` (a contract wallet) the treasury: proposed, delay waited out, accepted by it."""

    def _install(wallet) -> None:
        escrow.proposeTreasury(wallet, {"from": admin})
        chain.sleep(TREASURY_DELAY_SECONDS + 1)
        wallet.acceptTreasury({"from": admin})

    return _install


# --- a payer that re-enters when its refund is withdrawn ---------------------------------------


@pytest.fixture(scope="module")
def reentrant_payer(ReentrantPayer, escrow, admin):
    return ReentrantPayer.deploy(escrow, {"from": admin})


@pytest.fixture(scope="module")
def hostile_invoices(issue_paid, reentrant_payer) -> tuple[int, int]:
    """Two invoices whose payer is the re-entering contract, both paid by it."""
    return issue_paid(reentrant_payer, HOSTILE_AMOUNT_WEI), issue_paid(reentrant_payer, HOSTILE_OTHER_AMOUNT_WEI)


@pytest.fixture
def hostile_refund(escrow, manager, hostile_invoices) -> int:
    """The first hostile invoice refunded: HOSTILE_AMOUNT_WEI credited to the re-entering payer."""
    escrow.refund(hostile_invoices[0], {"from": manager})
    return hostile_invoices[0]


def test_a_payer_reentering_withdraw_refund_is_stopped_by_the_guard(escrow, stranger, reentrant_payer, hostile_refund):
    reentrant_payer.setAttack(ATTACK_WITHDRAW_REFUND, 0, {"from": stranger})

    reentrant_payer.withdrawRefund({"from": stranger})

    assert reentrant_payer.reentryAttempts() == 1
    assert reentrant_payer.reentrySuccesses() == 0
    assert bytes(reentrant_payer.lastReentryError()) == guard_error()


def test_a_payer_reentering_withdraw_refund_is_paid_exactly_once(
    escrow, stranger, reentrant_payer, hostile_refund, bystanders
):
    reentrant_payer.setAttack(ATTACK_WITHDRAW_REFUND, 0, {"from": stranger})
    payer_before, escrow_before = reentrant_payer.balance(), escrow.balance()

    reentrant_payer.withdrawRefund({"from": stranger})

    assert reentrant_payer.balance() == payer_before + HOSTILE_AMOUNT_WEI
    assert escrow.balance() == escrow_before - HOSTILE_AMOUNT_WEI
    assert escrow.refundOf(reentrant_payer) == 0
    assert_holds_exactly_what_it_owes(escrow)


def test_a_payer_reentering_release_from_its_withdrawal_cannot_release_its_other_invoice(
    escrow, stranger, treasury, reentrant_payer, hostile_invoices, hostile_refund
):
    other = hostile_invoices[1]
    sleep_past(DISPUTE_WINDOW_SECONDS)  # so that, unguarded, the payer could release it
    reentrant_payer.setAttack(ATTACK_RELEASE, other, {"from": stranger})
    treasury_before = treasury.balance()

    reentrant_payer.withdrawRefund({"from": stranger})

    assert bytes(reentrant_payer.lastReentryError()) == guard_error()
    assert status_of(escrow, other) == PAID
    assert treasury.balance() == treasury_before
    assert_holds_exactly_what_it_owes(escrow)


def test_a_payer_reentering_confirm_delivery_from_its_withdrawal_cannot_release_its_other_invoice(
    escrow, stranger, treasury, reentrant_payer, hostile_invoices, hostile_refund
):
    other = hostile_invoices[1]
    reentrant_payer.setAttack(ATTACK_CONFIRM_DELIVERY, other, {"from": stranger})
    treasury_before = treasury.balance()

    reentrant_payer.withdrawRefund({"from": stranger})

    assert bytes(reentrant_payer.lastReentryError()) == guard_error()
    assert status_of(escrow, other) == PAID
    assert treasury.balance() == treasury_before


def test_a_payer_reclaiming_from_its_withdrawal_is_credited_not_paid_twice(
    escrow, stranger, reentrant_payer, hostile_invoices, hostile_refund
):
    other = hostile_invoices[1]
    reentrant_payer.dispute(other, {"from": stranger})
    sleep_past(DISPUTE_RESOLUTION_SECONDS)
    reentrant_payer.setAttack(ATTACK_RECLAIM, other, {"from": stranger})
    payer_before = reentrant_payer.balance()

    reentrant_payer.withdrawRefund({"from": stranger})

    # reclaim moves no ETH, so it needs no guard: the credit it adds waits for the next withdrawal.
    assert reentrant_payer.reentrySuccesses() == 1
    assert status_of(escrow, other) == REFUNDED
    assert reentrant_payer.balance() == payer_before + HOSTILE_AMOUNT_WEI
    assert escrow.refundOf(reentrant_payer) == HOSTILE_OTHER_AMOUNT_WEI
    assert_holds_exactly_what_it_owes(escrow)


def test_after_a_stopped_reentry_every_invoice_still_settles(
    escrow, stranger, treasury, reentrant_payer, hostile_invoices, hostile_refund, bystanders
):
    other = hostile_invoices[1]
    reentrant_payer.setAttack(ATTACK_RELEASE, other, {"from": stranger})
    reentrant_payer.withdrawRefund({"from": stranger})
    sleep_past(DISPUTE_WINDOW_SECONDS)
    treasury_before, escrow_before = treasury.balance(), escrow.balance()

    for invoice_id in (other, *bystanders):
        escrow.release(invoice_id, {"from": treasury})

    released = HOSTILE_OTHER_AMOUNT_WEI + BYSTANDER_AMOUNT_WEI + BYSTANDER_OTHER_AMOUNT_WEI
    assert treasury.balance() == treasury_before + released
    assert escrow.balance() == escrow_before - released
    assert_holds_exactly_what_it_owes(escrow)


# --- a treasury that re-enters release ---------------------------------------------------------


@pytest.fixture
def reentrant_treasury(ReentrantTreasury, escrow, admin, install_treasury):
    """The re-entering contract made treasury, for this test only."""
    contract = ReentrantTreasury.deploy(escrow, {"from": admin})
    install_treasury(contract)
    return contract


@pytest.fixture
def treasury_invoices(issue_paid, customer, reentrant_treasury) -> tuple[int, int]:
    """Two invoices paid once the re-entering treasury was installed: its funds."""
    return issue_paid(customer, BYSTANDER_AMOUNT_WEI), issue_paid(customer, BYSTANDER_OTHER_AMOUNT_WEI)


def test_a_treasury_reentering_release_is_stopped_by_the_guard(escrow, stranger, reentrant_treasury, treasury_invoices):
    released, other = treasury_invoices
    reentrant_treasury.setTarget(other, {"from": stranger})
    sleep_past(DISPUTE_WINDOW_SECONDS)

    reentrant_treasury.release(released, {"from": stranger})

    assert reentrant_treasury.reentryAttempts() == 1
    assert reentrant_treasury.reentrySuccesses() == 0
    assert bytes(reentrant_treasury.lastReentryError()) == guard_error()


def test_a_treasury_reentering_release_receives_exactly_the_released_amount(
    escrow, stranger, reentrant_treasury, treasury_invoices
):
    released, other = treasury_invoices
    reentrant_treasury.setTarget(other, {"from": stranger})
    sleep_past(DISPUTE_WINDOW_SECONDS)

    reentrant_treasury.release(released, {"from": stranger})

    assert reentrant_treasury.balance() == BYSTANDER_AMOUNT_WEI
    assert (status_of(escrow, released), status_of(escrow, other)) == (RELEASED, PAID)
    assert_holds_exactly_what_it_owes(escrow)


def test_a_treasury_reentering_release_of_the_same_invoice_is_paid_once(
    escrow, stranger, reentrant_treasury, treasury_invoices
):
    released = treasury_invoices[0]
    reentrant_treasury.setTarget(released, {"from": stranger})
    sleep_past(DISPUTE_WINDOW_SECONDS)

    reentrant_treasury.release(released, {"from": stranger})

    assert bytes(reentrant_treasury.lastReentryError()) == guard_error()
    assert reentrant_treasury.balance() == BYSTANDER_AMOUNT_WEI


def test_a_treasury_reentering_release_on_confirm_delivery_is_stopped_by_the_guard(
    escrow, customer, stranger, reentrant_treasury, treasury_invoices
):
    confirmed, other = treasury_invoices
    reentrant_treasury.setTarget(other, {"from": stranger})
    sleep_past(DISPUTE_WINDOW_SECONDS)

    escrow.confirmDelivery(confirmed, {"from": customer})

    assert bytes(reentrant_treasury.lastReentryError()) == guard_error()
    assert reentrant_treasury.balance() == BYSTANDER_AMOUNT_WEI
    assert status_of(escrow, other) == PAID


def test_a_treasury_reentering_release_on_sweep_is_stopped_by_the_guard(
    escrow, ForceSender, admin, stranger, reentrant_treasury, treasury_invoices
):
    ForceSender.deploy({"from": admin}).force(escrow, {"from": admin, "value": ONE_ETH})
    reentrant_treasury.setTarget(treasury_invoices[0], {"from": stranger})
    sleep_past(DISPUTE_WINDOW_SECONDS)

    escrow.sweep({"from": stranger})

    assert bytes(reentrant_treasury.lastReentryError()) == guard_error()
    assert reentrant_treasury.balance() == ONE_ETH
    assert_holds_exactly_what_it_owes(escrow)


def test_after_a_treasury_reentry_the_other_invoice_is_still_released(
    escrow, stranger, reentrant_treasury, treasury_invoices
):
    released, other = treasury_invoices
    reentrant_treasury.setTarget(other, {"from": stranger})
    sleep_past(DISPUTE_WINDOW_SECONDS)
    reentrant_treasury.release(released, {"from": stranger})

    reentrant_treasury.release(other, {"from": stranger})

    assert reentrant_treasury.balance() == BYSTANDER_AMOUNT_WEI + BYSTANDER_OTHER_AMOUNT_WEI
    assert reentrant_treasury.reentrySuccesses() == 0
    assert_holds_exactly_what_it_owes(escrow)


# --- a payer that refuses ETH ------------------------------------------------------------------


@pytest.fixture(scope="module")
def refusing_payee(RevertingPayee, escrow, admin):
    return RevertingPayee.deploy(escrow, {"from": admin})


@pytest.fixture(scope="module")
def refusing_payer_invoice(issue_paid, refusing_payee) -> int:
    """An invoice whose payer refuses ETH, paid by it."""
    return issue_paid(refusing_payee, REFUSING_AMOUNT_WEI)


def test_refunding_a_payer_that_refuses_ether_credits_it(escrow, manager, refusing_payee, refusing_payer_invoice):
    escrow.refund(refusing_payer_invoice, {"from": manager})

    assert status_of(escrow, refusing_payer_invoice) == REFUNDED
    assert escrow.refundOf(refusing_payee) == REFUSING_AMOUNT_WEI


def test_a_payer_that_refuses_ether_cannot_withdraw_and_keeps_its_credit(
    escrow, manager, stranger, refusing_payee, refusing_payer_invoice
):
    escrow.refund(refusing_payer_invoice, {"from": manager})
    escrow_before = escrow.balance()

    with reverts_with("TransferFailed", refusing_payee, REFUSING_AMOUNT_WEI):
        refusing_payee.withdrawRefund({"from": stranger})

    assert escrow.refundOf(refusing_payee) == REFUSING_AMOUNT_WEI
    assert escrow.balance() == escrow_before
    assert_holds_exactly_what_it_owes(escrow)


def test_a_payer_that_refuses_ether_blocks_no_other_settlement(
    escrow, manager, customer, treasury, refusing_payee, refusing_payer_invoice, bystanders
):
    released, refunded = bystanders
    escrow.refund(refusing_payer_invoice, {"from": manager})
    escrow.refund(refunded, {"from": manager})
    sleep_past(DISPUTE_WINDOW_SECONDS)
    treasury_before = treasury.balance()

    escrow.release(released, {"from": manager})
    escrow.withdrawRefund({"from": customer})

    assert treasury.balance() == treasury_before + BYSTANDER_AMOUNT_WEI
    assert escrow.refundOf(customer) == 0
    assert escrow.refundOf(refusing_payee) == REFUSING_AMOUNT_WEI
    assert_holds_exactly_what_it_owes(escrow)


def test_a_payer_that_refuses_ether_reclaims_a_dispute_as_a_credit(
    escrow, stranger, refusing_payee, refusing_payer_invoice
):
    refusing_payee.dispute(refusing_payer_invoice, {"from": stranger})
    sleep_past(DISPUTE_RESOLUTION_SECONDS)

    refusing_payee.reclaim(refusing_payer_invoice, {"from": stranger})

    assert escrow.refundOf(refusing_payee) == REFUSING_AMOUNT_WEI
    assert_holds_exactly_what_it_owes(escrow)


def test_a_payer_that_refuses_ether_may_still_confirm_delivery(
    escrow, stranger, treasury, refusing_payee, refusing_payer_invoice
):
    treasury_before = treasury.balance()

    refusing_payee.confirmDelivery(refusing_payer_invoice, {"from": stranger})

    assert treasury.balance() == treasury_before + REFUSING_AMOUNT_WEI
    assert status_of(escrow, refusing_payer_invoice) == RELEASED


# --- a treasury that refuses ETH ---------------------------------------------------------------


@pytest.fixture
def refusing_treasury(refusing_payee, install_treasury):
    """The refusing contract made treasury (it accepted), for this test only."""
    install_treasury(refusing_payee)
    return refusing_payee


def test_releasing_to_a_treasury_that_refuses_ether_reverts_and_keeps_the_funds(
    escrow, manager, customer, issue_paid, refusing_treasury
):
    invoice_id = issue_paid(customer, BYSTANDER_AMOUNT_WEI)
    sleep_past(DISPUTE_WINDOW_SECONDS)

    with reverts_with("TransferFailed", refusing_treasury, BYSTANDER_AMOUNT_WEI):
        escrow.release(invoice_id, {"from": manager})

    assert status_of(escrow, invoice_id) == PAID
    assert_holds_exactly_what_it_owes(escrow)


def test_confirming_delivery_to_a_treasury_that_refuses_ether_reverts(escrow, customer, issue_paid, refusing_treasury):
    invoice_id = issue_paid(customer, BYSTANDER_AMOUNT_WEI)

    with reverts_with("TransferFailed", refusing_treasury, BYSTANDER_AMOUNT_WEI):
        escrow.confirmDelivery(invoice_id, {"from": customer})

    assert status_of(escrow, invoice_id) == PAID


def test_a_manager_refunds_what_a_refusing_treasury_cannot_receive(
    escrow, manager, customer, issue_paid, refusing_treasury
):
    invoice_id = issue_paid(customer, BYSTANDER_AMOUNT_WEI)
    escrow.refund(invoice_id, {"from": manager})
    payer_before, escrow_before = customer.balance(), escrow.balance()

    tx = escrow.withdrawRefund({"from": customer})

    assert customer.balance() == payer_before + BYSTANDER_AMOUNT_WEI - tx.gas_used * tx.gas_price
    assert escrow.balance() == escrow_before - BYSTANDER_AMOUNT_WEI
    assert_holds_exactly_what_it_owes(escrow)


def test_invoices_paid_before_a_refusing_treasury_accepted_still_release_to_the_old_one(
    escrow, manager, treasury, bystanders, refusing_treasury
):
    sleep_past(DISPUTE_WINDOW_SECONDS)
    treasury_before = treasury.balance()

    for invoice_id in bystanders:
        escrow.release(invoice_id, {"from": manager})

    assert treasury.balance() == treasury_before + BYSTANDER_AMOUNT_WEI + BYSTANDER_OTHER_AMOUNT_WEI
    assert refusing_treasury.balance() == 0
