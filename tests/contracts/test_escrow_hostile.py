"""InvoiceEscrow against hostile payees: re-entering payers and treasuries, payees that refuse ETH.

Each hostile contract catches the failure of its call back, so the outer transfer succeeds and the
test reads what the escrow answered. Neither kind can drain the escrow (balances exact afterwards)
nor lock funds that belong elsewhere.
"""

from __future__ import annotations

import pytest
from brownie import chain, web3

from tests.contracts.helpers import (
    DISPUTE_WINDOW_SECONDS,
    DISPUTED,
    ONE_ETH,
    PAID,
    REFUNDED,
    RELEASED,
    reverts_with,
)

# ReentrantPayer.Attack
ATTACK_REFUND, ATTACK_RELEASE, ATTACK_CONFIRM_DELIVERY = 1, 2, 3

HOSTILE_AMOUNT_WEI = ONE_ETH
HOSTILE_OTHER_AMOUNT_WEI = 3 * ONE_ETH
BYSTANDER_AMOUNT_WEI = 2 * ONE_ETH
BYSTANDER_OTHER_AMOUNT_WEI = 4 * ONE_ETH
REVERTING_PAYER_AMOUNT_WEI = 5 * ONE_ETH

STATUS = 3  # position of `status` in the Invoice struct
AMOUNT = 0


def guard_error() -> bytes:
    """The revert data of OpenZeppelin's ReentrancyGuard when it refuses a nested call."""
    return bytes(web3.keccak(text="ReentrancyGuardReentrantCall()")[:4])


def escrowed_total(escrow) -> int:
    """Sum of the amounts of Paid and Disputed invoices: what the escrow must hold."""
    invoices = [escrow.invoiceOf(invoice_id) for invoice_id in range(1, escrow.invoiceCount() + 1)]
    return sum(invoice[AMOUNT] for invoice in invoices if invoice[STATUS] in (PAID, DISPUTED))


def status_of(escrow, invoice_id: int) -> int:
    return escrow.invoiceOf(invoice_id)[STATUS]


def close_dispute_window() -> None:
    chain.sleep(DISPUTE_WINDOW_SECONDS + 1)
    chain.mine()


def customer_paying_through(contract, registry, register, manager) -> int:
    """A customer whose wallet is `contract`, set by a manager as an operator would."""
    customer_id = register()
    registry.setCustomerWallet(customer_id, contract, {"from": manager})
    return customer_id


@pytest.fixture(scope="module")
def bystanders(escrow, won_invoice, customer_id, customer) -> tuple[int, int]:
    """Two invoices of an honest customer, paid: funds a drain would steal."""
    invoice_ids = []
    for amount in (BYSTANDER_AMOUNT_WEI, BYSTANDER_OTHER_AMOUNT_WEI):
        invoice_id = won_invoice(customer_id, amount)[1]
        escrow.pay(invoice_id, {"from": customer, "value": amount})
        invoice_ids.append(invoice_id)
    return invoice_ids[0], invoice_ids[1]


@pytest.fixture(scope="module")
def reentrant_payer(ReentrantPayer, escrow, admin):
    return ReentrantPayer.deploy(escrow, {"from": admin})


@pytest.fixture(scope="module")
def hostile_invoices(escrow, registry, register, manager, stranger, won_invoice, reentrant_payer) -> tuple[int, int]:
    """Two invoices whose payer is the re-entering contract, both paid by it."""
    hostile_customer_id = customer_paying_through(reentrant_payer, registry, register, manager)
    invoice_ids = []
    for amount in (HOSTILE_AMOUNT_WEI, HOSTILE_OTHER_AMOUNT_WEI):
        invoice_id = won_invoice(hostile_customer_id, amount)[1]
        reentrant_payer.pay(invoice_id, {"from": stranger, "value": amount})
        invoice_ids.append(invoice_id)
    return invoice_ids[0], invoice_ids[1]


@pytest.fixture(scope="module")
def reentrant_treasury_contract(ReentrantTreasury, escrow, admin):
    return ReentrantTreasury.deploy(escrow, {"from": admin})


@pytest.fixture
def reentrant_treasury(escrow, admin, reentrant_treasury_contract):
    """The re-entering contract installed as the treasury, for this test only."""
    escrow.setTreasury(reentrant_treasury_contract, {"from": admin})
    return reentrant_treasury_contract


@pytest.fixture(scope="module")
def reverting_payee(RevertingPayee, escrow, admin):
    return RevertingPayee.deploy(escrow, {"from": admin})


@pytest.fixture(scope="module")
def reverting_payer_invoice(escrow, registry, register, manager, stranger, won_invoice, reverting_payee) -> int:
    """An invoice whose payer refuses ETH, paid by it."""
    refusing_customer_id = customer_paying_through(reverting_payee, registry, register, manager)
    invoice_id = won_invoice(refusing_customer_id, REVERTING_PAYER_AMOUNT_WEI)[1]
    reverting_payee.pay(invoice_id, {"from": stranger, "value": REVERTING_PAYER_AMOUNT_WEI})
    return invoice_id


# --- a payer that re-enters from its refund ----------------------------------------------------


def test_a_payer_reentering_refund_from_its_refund_is_stopped_by_the_guard(
    escrow, manager, reentrant_payer, hostile_invoices
):
    invoice_id = hostile_invoices[0]
    reentrant_payer.setAttack(ATTACK_REFUND, invoice_id, {"from": manager})

    escrow.refund(invoice_id, {"from": manager})

    assert reentrant_payer.reentryAttempts() == 1
    assert reentrant_payer.reentrySuccesses() == 0
    assert bytes(reentrant_payer.lastReentryError()) == guard_error()


def test_a_payer_reentering_refund_is_refunded_exactly_once(
    escrow, manager, reentrant_payer, hostile_invoices, bystanders
):
    invoice_id = hostile_invoices[0]
    reentrant_payer.setAttack(ATTACK_REFUND, invoice_id, {"from": manager})
    payer_before, escrow_before = reentrant_payer.balance(), escrow.balance()

    escrow.refund(invoice_id, {"from": manager})

    assert reentrant_payer.balance() == payer_before + HOSTILE_AMOUNT_WEI
    assert escrow.balance() == escrow_before - HOSTILE_AMOUNT_WEI
    assert escrow.balance() == escrowed_total(escrow)
    assert status_of(escrow, invoice_id) == REFUNDED


def test_a_payer_reentering_release_from_its_refund_cannot_release_another_invoice(
    escrow, manager, treasury, reentrant_payer, hostile_invoices, bystanders
):
    close_dispute_window()  # so that, unguarded, releasing the bystander's invoice would succeed
    reentrant_payer.setAttack(ATTACK_RELEASE, bystanders[0], {"from": manager})
    treasury_before, escrow_before = treasury.balance(), escrow.balance()

    escrow.refund(hostile_invoices[0], {"from": manager})

    assert bytes(reentrant_payer.lastReentryError()) == guard_error()
    assert reentrant_payer.reentrySuccesses() == 0
    assert status_of(escrow, bystanders[0]) == PAID
    assert treasury.balance() == treasury_before
    assert escrow.balance() == escrow_before - HOSTILE_AMOUNT_WEI


def test_a_payer_reentering_confirm_delivery_from_its_refund_cannot_release_its_other_invoice(
    escrow, manager, treasury, reentrant_payer, hostile_invoices
):
    refunded, other = hostile_invoices
    reentrant_payer.setAttack(ATTACK_CONFIRM_DELIVERY, other, {"from": manager})
    treasury_before, escrow_before = treasury.balance(), escrow.balance()

    escrow.refund(refunded, {"from": manager})

    assert bytes(reentrant_payer.lastReentryError()) == guard_error()
    assert reentrant_payer.reentrySuccesses() == 0
    assert status_of(escrow, other) == PAID
    assert treasury.balance() == treasury_before
    assert escrow.balance() == escrow_before - HOSTILE_AMOUNT_WEI


def test_after_a_stopped_reentry_the_remaining_invoices_settle_normally(
    escrow, manager, stranger, treasury, reentrant_payer, hostile_invoices, bystanders
):
    refunded, other = hostile_invoices
    reentrant_payer.setAttack(ATTACK_RELEASE, other, {"from": manager})
    escrow.refund(refunded, {"from": manager})
    close_dispute_window()
    treasury_before = treasury.balance()

    for invoice_id in (other, *bystanders):
        escrow.release(invoice_id, {"from": stranger})

    assert treasury.balance() == treasury_before + HOSTILE_OTHER_AMOUNT_WEI + sum(
        (BYSTANDER_AMOUNT_WEI, BYSTANDER_OTHER_AMOUNT_WEI)
    )
    assert escrow.balance() == escrowed_total(escrow) == 0


# --- a treasury that re-enters release ---------------------------------------------------------


def test_a_treasury_reentering_release_is_stopped_by_the_guard(escrow, stranger, reentrant_treasury, bystanders):
    released, other = bystanders
    reentrant_treasury.setTarget(other, {"from": stranger})
    close_dispute_window()

    escrow.release(released, {"from": stranger})

    assert reentrant_treasury.reentryAttempts() == 1
    assert reentrant_treasury.reentrySuccesses() == 0
    assert bytes(reentrant_treasury.lastReentryError()) == guard_error()


def test_a_treasury_reentering_release_receives_exactly_the_released_amount(
    escrow, stranger, reentrant_treasury, bystanders
):
    released, other = bystanders
    reentrant_treasury.setTarget(other, {"from": stranger})
    close_dispute_window()
    escrow_before = escrow.balance()

    escrow.release(released, {"from": stranger})

    assert reentrant_treasury.balance() == BYSTANDER_AMOUNT_WEI
    assert escrow.balance() == escrow_before - BYSTANDER_AMOUNT_WEI == escrowed_total(escrow)
    assert (status_of(escrow, released), status_of(escrow, other)) == (RELEASED, PAID)


def test_a_treasury_reentering_release_of_the_same_invoice_is_paid_once(
    escrow, stranger, reentrant_treasury, bystanders
):
    released = bystanders[0]
    reentrant_treasury.setTarget(released, {"from": stranger})
    close_dispute_window()

    escrow.release(released, {"from": stranger})

    assert bytes(reentrant_treasury.lastReentryError()) == guard_error()
    assert reentrant_treasury.balance() == BYSTANDER_AMOUNT_WEI


def test_a_treasury_reentering_release_on_confirm_delivery_is_stopped_by_the_guard(
    escrow, customer, stranger, reentrant_treasury, bystanders
):
    confirmed, other = bystanders
    reentrant_treasury.setTarget(other, {"from": stranger})
    close_dispute_window()

    escrow.confirmDelivery(confirmed, {"from": customer})

    assert bytes(reentrant_treasury.lastReentryError()) == guard_error()
    assert reentrant_treasury.balance() == BYSTANDER_AMOUNT_WEI
    assert status_of(escrow, other) == PAID


def test_after_a_treasury_reentry_the_other_invoice_is_still_released(escrow, stranger, reentrant_treasury, bystanders):
    released, other = bystanders
    reentrant_treasury.setTarget(other, {"from": stranger})
    close_dispute_window()
    escrow.release(released, {"from": stranger})

    escrow.release(other, {"from": stranger})

    assert reentrant_treasury.balance() == BYSTANDER_AMOUNT_WEI + BYSTANDER_OTHER_AMOUNT_WEI
    assert reentrant_treasury.reentrySuccesses() == 0
    assert escrow.balance() == escrowed_total(escrow)


# --- a treasury that refuses ETH ---------------------------------------------------------------


def test_release_to_a_reverting_treasury_reverts_with_transfer_failed(
    escrow, admin, stranger, reverting_payee, bystanders
):
    escrow.setTreasury(reverting_payee, {"from": admin})
    close_dispute_window()

    with reverts_with("TransferFailed", reverting_payee, BYSTANDER_AMOUNT_WEI):
        escrow.release(bystanders[0], {"from": stranger})

    assert status_of(escrow, bystanders[0]) == PAID
    assert escrow.balance() == escrowed_total(escrow)


def test_confirming_delivery_to_a_reverting_treasury_reverts_with_transfer_failed(
    escrow, admin, customer, reverting_payee, bystanders
):
    escrow.setTreasury(reverting_payee, {"from": admin})

    with reverts_with("TransferFailed", reverting_payee, BYSTANDER_AMOUNT_WEI):
        escrow.confirmDelivery(bystanders[0], {"from": customer})

    assert status_of(escrow, bystanders[0]) == PAID


def test_a_reverting_treasury_cannot_lock_funds_once_the_admin_replaces_it(
    escrow, admin, stranger, treasury, reverting_payee, bystanders
):
    escrow.setTreasury(reverting_payee, {"from": admin})
    close_dispute_window()
    with reverts_with("TransferFailed", reverting_payee, BYSTANDER_AMOUNT_WEI):
        escrow.release(bystanders[0], {"from": stranger})
    escrow.setTreasury(treasury, {"from": admin})
    treasury_before = treasury.balance()

    escrow.release(bystanders[0], {"from": stranger})

    assert treasury.balance() == treasury_before + BYSTANDER_AMOUNT_WEI
    assert status_of(escrow, bystanders[0]) == RELEASED
    assert escrow.balance() == escrowed_total(escrow)


# --- a payer that refuses ETH ------------------------------------------------------------------


def test_refund_to_a_reverting_payer_reverts_with_transfer_failed(
    escrow, manager, reverting_payee, reverting_payer_invoice
):
    with reverts_with("TransferFailed", reverting_payee, REVERTING_PAYER_AMOUNT_WEI):
        escrow.refund(reverting_payer_invoice, {"from": manager})

    assert status_of(escrow, reverting_payer_invoice) == PAID
    assert escrow.balance() == escrowed_total(escrow)


def test_a_reverting_payer_cannot_lock_its_payment_once_the_window_ends(
    escrow, manager, stranger, treasury, reverting_payee, reverting_payer_invoice
):
    with reverts_with("TransferFailed", reverting_payee, REVERTING_PAYER_AMOUNT_WEI):
        escrow.refund(reverting_payer_invoice, {"from": manager})
    close_dispute_window()
    treasury_before, escrow_before = treasury.balance(), escrow.balance()

    escrow.release(reverting_payer_invoice, {"from": stranger})

    assert treasury.balance() == treasury_before + REVERTING_PAYER_AMOUNT_WEI
    assert escrow.balance() == escrow_before - REVERTING_PAYER_AMOUNT_WEI == escrowed_total(escrow)


def test_a_reverting_payer_may_still_confirm_delivery(
    escrow, stranger, treasury, reverting_payee, reverting_payer_invoice
):
    treasury_before = treasury.balance()

    reverting_payee.confirmDelivery(reverting_payer_invoice, {"from": stranger})

    assert treasury.balance() == treasury_before + REVERTING_PAYER_AMOUNT_WEI
    assert status_of(escrow, reverting_payer_invoice) == RELEASED


def test_a_disputed_invoice_of_a_reverting_payer_is_released_by_a_manager(
    escrow, manager, stranger, treasury, reverting_payee, reverting_payer_invoice
):
    reverting_payee.dispute(reverting_payer_invoice, {"from": stranger})
    with reverts_with("TransferFailed", reverting_payee, REVERTING_PAYER_AMOUNT_WEI):
        escrow.refund(reverting_payer_invoice, {"from": manager})
    treasury_before = treasury.balance()

    escrow.release(reverting_payer_invoice, {"from": manager})

    assert treasury.balance() == treasury_before + REVERTING_PAYER_AMOUNT_WEI
    assert escrow.balance() == escrowed_total(escrow)
