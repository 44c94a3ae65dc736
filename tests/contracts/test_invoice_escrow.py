"""InvoiceEscrow: issuing, paying, confirming, disputing, releasing, refunding, cancelling."""

from __future__ import annotations

import brownie
import pytest
from brownie import chain, web3
from eth_abi import encode

from tests.contracts.helpers import (
    CANCELLED,
    DISPUTE_WINDOW_SECONDS,
    DISPUTED,
    ONE_ETH,
    OPEN,
    PAID,
    PAYMENT_TERM_SECONDS,
    REFUNDED,
    RELEASED,
    ZERO_ADDRESS,
    reverts_with,
)

MAX_SETTING_SECONDS = 365 * 24 * 3600
MAX_AMOUNT_WEI = 2**96 - 1
UNKNOWN_INVOICE_ID = 999
ONE_DAY_SECONDS = 24 * 3600

# Fields of the Invoice struct, in the order invoiceOf returns them.
AMOUNT, DUE_AT, PAID_AT, STATUS, DEAL_ID, PAYER, CUSTOMER_ID = range(7)


def set_next_block_timestamp(timestamp: int) -> None:
    """Mine the next transaction at exactly `timestamp`, to test a boundary to the second."""
    web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


def sleep_past(seconds: int) -> None:
    chain.sleep(seconds + 1)
    chain.mine()


@pytest.fixture(scope="module")
def issuer(accounts, registry, admin):
    """An account holding the invoice issuer role, to call issueInvoice directly."""
    account = accounts[9]
    registry.grantRole(registry.INVOICE_ISSUER_ROLE(), account, {"from": admin})
    return account


@pytest.fixture(scope="module")
def deal_and_invoice(won_invoice, customer_id):
    """A deal won through the pipeline, once per module: (deal_id, invoice_id), invoice Open."""
    return won_invoice(customer_id)


@pytest.fixture(scope="module")
def invoice_id(deal_and_invoice) -> int:
    return deal_and_invoice[1]


@pytest.fixture
def paid(escrow, customer, invoice_id):
    """The module's invoice paid by its payer; returns the pay transaction."""
    return escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})


@pytest.fixture
def disputed(escrow, customer, invoice_id, paid):
    return escrow.dispute(invoice_id, {"from": customer})


# --- constructor -------------------------------------------------------------------------------


def test_constructor_stores_its_settings(escrow, registry, treasury):
    assert escrow.registry() == registry.address
    assert escrow.treasury() == treasury.address
    assert escrow.disputeWindowSeconds() == DISPUTE_WINDOW_SECONDS
    assert escrow.paymentTermSeconds() == PAYMENT_TERM_SECONDS
    assert escrow.invoiceCount() == 0


def test_constructor_emits_treasury_changed_from_zero(InvoiceEscrow, registry, treasury, admin):
    fresh = InvoiceEscrow.deploy(registry, treasury, 1, 1, {"from": admin})

    event = fresh.tx.events["TreasuryChanged"]

    assert dict(event) == {
        "previousTreasury": ZERO_ADDRESS,
        "newTreasury": treasury.address,
        "actor": admin.address,
    }


def test_constructor_accepts_settings_of_exactly_one_year(InvoiceEscrow, registry, treasury, admin):
    fresh = InvoiceEscrow.deploy(registry, treasury, MAX_SETTING_SECONDS, MAX_SETTING_SECONDS, {"from": admin})

    assert fresh.disputeWindowSeconds() == MAX_SETTING_SECONDS
    assert fresh.paymentTermSeconds() == MAX_SETTING_SECONDS


def test_constructor_refuses_a_zero_treasury(InvoiceEscrow, registry, admin):
    with reverts_with("TreasuryInvalid", ZERO_ADDRESS):
        InvoiceEscrow.deploy(registry, ZERO_ADDRESS, DISPUTE_WINDOW_SECONDS, PAYMENT_TERM_SECONDS, {"from": admin})


@pytest.mark.parametrize(
    "window, term",
    [
        (0, PAYMENT_TERM_SECONDS),
        (MAX_SETTING_SECONDS + 1, PAYMENT_TERM_SECONDS),
        (DISPUTE_WINDOW_SECONDS, 0),
        (DISPUTE_WINDOW_SECONDS, MAX_SETTING_SECONDS + 1),
    ],
    ids=["zero-window", "window-over-a-year", "zero-term", "term-over-a-year"],
)
def test_constructor_refuses_settings_out_of_bounds(InvoiceEscrow, registry, treasury, admin, window, term):
    with reverts_with("EscrowSettingInvalid", window, term):
        InvoiceEscrow.deploy(registry, treasury, window, term, {"from": admin})


# --- issueInvoice ------------------------------------------------------------------------------


def test_issuer_issues_an_open_invoice(escrow, issuer, customer):
    tx = escrow.issueInvoice(41, 42, customer, ONE_ETH, {"from": issuer})

    invoice = tuple(escrow.invoiceOf(tx.return_value))
    assert invoice == (ONE_ETH, tx.timestamp + PAYMENT_TERM_SECONDS, 0, OPEN, 41, customer.address, 42)


def test_issuing_emits_invoice_issued(escrow, issuer, customer):
    tx = escrow.issueInvoice(41, 42, customer, ONE_ETH, {"from": issuer})

    assert dict(tx.events["InvoiceIssued"]) == {
        "invoiceId": tx.return_value,
        "dealId": 41,
        "customerId": 42,
        "payer": customer.address,
        "amount": ONE_ETH,
        "dueAt": tx.timestamp + PAYMENT_TERM_SECONDS,
        "paymentReference": escrow.paymentReference(tx.return_value),
    }


def test_invoice_ids_count_up_one_by_one(escrow, issuer, customer):
    count_before = escrow.invoiceCount()

    first = escrow.issueInvoice(1, 1, customer, ONE_ETH, {"from": issuer}).return_value
    second = escrow.issueInvoice(2, 1, customer, ONE_ETH, {"from": issuer}).return_value

    assert (first, second) == (count_before + 1, count_before + 2)
    assert escrow.invoiceCount() == count_before + 2


def test_issuer_may_issue_the_largest_uint96_amount(escrow, issuer, customer):
    invoice = escrow.issueInvoice(1, 1, customer, MAX_AMOUNT_WEI, {"from": issuer}).return_value

    assert escrow.invoiceOf(invoice)[AMOUNT] == MAX_AMOUNT_WEI


@pytest.mark.parametrize("caller", ["agent", "manager", "admin", "stranger", "customer"])
def test_issuing_is_refused_without_the_issuer_role(request, escrow, registry, customer, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.INVOICE_ISSUER_ROLE()):
        escrow.issueInvoice(1, 1, customer, ONE_ETH, {"from": account})


def test_issuing_to_no_payer_reverts(escrow, issuer):
    with reverts_with("InvoicePayerMissing", 41):
        escrow.issueInvoice(41, 1, ZERO_ADDRESS, ONE_ETH, {"from": issuer})


@pytest.mark.parametrize("amount", [0, MAX_AMOUNT_WEI + 1], ids=["zero", "above-uint96"])
def test_issuing_an_invalid_amount_reverts(escrow, issuer, customer, amount):
    with reverts_with("InvoiceAmountInvalid", amount):
        escrow.issueInvoice(1, 1, customer, amount, {"from": issuer})


# --- pay ---------------------------------------------------------------------------------------


def test_payer_pays_the_exact_amount_and_the_invoice_is_paid(escrow, customer, invoice_id):
    tx = escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    invoice = escrow.invoiceOf(invoice_id)
    assert invoice[STATUS] == PAID
    assert invoice[PAID_AT] == tx.timestamp


def test_paying_moves_the_amount_from_the_payer_to_the_escrow(escrow, customer, invoice_id):
    payer_before = customer.balance()
    escrow_before = escrow.balance()

    tx = escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert escrow.balance() == escrow_before + ONE_ETH
    assert customer.balance() == payer_before - ONE_ETH - tx.gas_used * tx.gas_price


def test_paying_emits_invoice_paid(escrow, customer, invoice_id):
    tx = escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert dict(tx.events["InvoicePaid"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "amount": ONE_ETH,
        "at": tx.timestamp,
    }


def test_paying_an_overdue_invoice_is_still_accepted(escrow, customer, invoice_id):
    sleep_past(PAYMENT_TERM_SECONDS + ONE_DAY_SECONDS)

    escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert escrow.invoiceOf(invoice_id)[STATUS] == PAID


@pytest.mark.parametrize("caller", ["stranger", "customer2", "manager"])
def test_paying_from_another_wallet_reverts(request, escrow, customer, invoice_id, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("InvoicePayerMismatch", invoice_id, customer, account):
        escrow.pay(invoice_id, {"from": account, "value": ONE_ETH})


@pytest.mark.parametrize("sent", [ONE_ETH - 1, ONE_ETH + 1, 0], ids=["too-little", "too-much", "nothing"])
def test_paying_a_wrong_amount_reverts(escrow, customer, invoice_id, sent):
    with reverts_with("InvoiceAmountMismatch", invoice_id, ONE_ETH, sent):
        escrow.pay(invoice_id, {"from": customer, "value": sent})


def test_paying_twice_reverts(escrow, customer, invoice_id, paid):
    with reverts_with("InvoiceAlreadyPaid", invoice_id):
        escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})


def test_paying_a_settled_invoice_reverts_as_already_paid(escrow, customer, manager, invoice_id, paid):
    escrow.refund(invoice_id, {"from": manager})

    with reverts_with("InvoiceAlreadyPaid", invoice_id):
        escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})


def test_paying_a_cancelled_invoice_reverts(escrow, customer, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    with reverts_with("InvoiceIsCancelled", invoice_id):
        escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})


def test_paying_an_unknown_invoice_reverts(escrow, customer):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.pay(UNKNOWN_INVOICE_ID, {"from": customer, "value": ONE_ETH})


def test_the_escrow_refuses_plain_transfers(escrow, customer):
    # No receive() or fallback: the revert carries no error data, so there is no name to match.
    with brownie.reverts():
        customer.transfer(escrow, ONE_ETH)

    assert escrow.balance() == 0


# --- confirmDelivery ---------------------------------------------------------------------------


def test_payer_confirming_delivery_releases_the_invoice(escrow, customer, invoice_id, paid):
    escrow.confirmDelivery(invoice_id, {"from": customer})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED


def test_confirming_delivery_moves_the_amount_to_the_treasury(escrow, customer, treasury, invoice_id, paid):
    treasury_before = treasury.balance()

    escrow.confirmDelivery(invoice_id, {"from": customer})

    assert treasury.balance() == treasury_before + ONE_ETH
    assert escrow.balance() == 0


def test_confirming_delivery_emits_invoice_released(escrow, customer, treasury, invoice_id, paid):
    tx = escrow.confirmDelivery(invoice_id, {"from": customer})

    assert dict(tx.events["InvoiceReleased"]) == {
        "invoiceId": invoice_id,
        "treasury": treasury.address,
        "actor": customer.address,
        "amount": ONE_ETH,
    }


def test_confirming_delivery_twice_reverts_and_pays_the_treasury_once(escrow, customer, treasury, invoice_id, paid):
    escrow.confirmDelivery(invoice_id, {"from": customer})
    treasury_after_first = treasury.balance()

    with reverts_with("InvoiceNotInEscrow", invoice_id, RELEASED):
        escrow.confirmDelivery(invoice_id, {"from": customer})

    assert treasury.balance() == treasury_after_first


@pytest.mark.parametrize("caller", ["stranger", "manager", "agent"])
def test_confirming_delivery_is_refused_to_anyone_but_the_payer(request, escrow, customer, invoice_id, paid, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("InvoicePayerMismatch", invoice_id, customer, account):
        escrow.confirmDelivery(invoice_id, {"from": account})


def test_confirming_delivery_of_a_disputed_invoice_reverts(escrow, customer, invoice_id, disputed):
    with reverts_with("InvoiceDisputedByPayer", invoice_id):
        escrow.confirmDelivery(invoice_id, {"from": customer})


def test_confirming_delivery_of_an_unpaid_invoice_reverts(escrow, customer, invoice_id):
    with reverts_with("InvoiceNotInEscrow", invoice_id, OPEN):
        escrow.confirmDelivery(invoice_id, {"from": customer})


def test_confirming_delivery_of_a_refunded_invoice_reverts(escrow, customer, manager, invoice_id, paid):
    escrow.refund(invoice_id, {"from": manager})

    with reverts_with("InvoiceNotInEscrow", invoice_id, REFUNDED):
        escrow.confirmDelivery(invoice_id, {"from": customer})


def test_confirming_delivery_of_an_unknown_invoice_reverts(escrow, customer):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.confirmDelivery(UNKNOWN_INVOICE_ID, {"from": customer})


# --- dispute -----------------------------------------------------------------------------------


def test_payer_disputes_within_the_window(escrow, customer, invoice_id, paid):
    escrow.dispute(invoice_id, {"from": customer})

    assert escrow.invoiceOf(invoice_id)[STATUS] == DISPUTED


def test_disputing_emits_invoice_disputed(escrow, customer, invoice_id, paid):
    tx = escrow.dispute(invoice_id, {"from": customer})

    assert dict(tx.events["InvoiceDisputed"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "at": tx.timestamp,
    }


def test_disputing_keeps_the_funds_in_escrow(escrow, customer, invoice_id, paid):
    escrow.dispute(invoice_id, {"from": customer})

    assert escrow.balance() == ONE_ETH


def test_payer_may_dispute_in_the_last_second_of_the_window(escrow, customer, invoice_id, paid):
    set_next_block_timestamp(paid.timestamp + DISPUTE_WINDOW_SECONDS - 1)

    tx = escrow.dispute(invoice_id, {"from": customer})

    assert tx.timestamp == paid.timestamp + DISPUTE_WINDOW_SECONDS - 1
    assert escrow.invoiceOf(invoice_id)[STATUS] == DISPUTED


def test_disputing_when_the_window_ends_reverts(escrow, customer, invoice_id, paid):
    ends_at = paid.timestamp + DISPUTE_WINDOW_SECONDS
    set_next_block_timestamp(ends_at)

    with reverts_with("DisputeWindowClosed", invoice_id, ends_at):
        escrow.dispute(invoice_id, {"from": customer})


def test_disputing_long_after_the_window_reverts(escrow, customer, invoice_id, paid):
    sleep_past(DISPUTE_WINDOW_SECONDS + ONE_DAY_SECONDS)

    with reverts_with("DisputeWindowClosed", invoice_id, paid.timestamp + DISPUTE_WINDOW_SECONDS):
        escrow.dispute(invoice_id, {"from": customer})


@pytest.mark.parametrize("caller", ["stranger", "manager"])
def test_disputing_is_refused_to_anyone_but_the_payer(request, escrow, customer, invoice_id, paid, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("InvoicePayerMismatch", invoice_id, customer, account):
        escrow.dispute(invoice_id, {"from": account})


def test_disputing_twice_reverts(escrow, customer, invoice_id, disputed):
    with reverts_with("InvoiceDisputedByPayer", invoice_id):
        escrow.dispute(invoice_id, {"from": customer})


def test_disputing_an_unpaid_invoice_reverts(escrow, customer, invoice_id):
    with reverts_with("InvoiceNotInEscrow", invoice_id, OPEN):
        escrow.dispute(invoice_id, {"from": customer})


def test_disputing_a_released_invoice_reverts(escrow, customer, invoice_id, paid):
    escrow.confirmDelivery(invoice_id, {"from": customer})

    with reverts_with("InvoiceNotInEscrow", invoice_id, RELEASED):
        escrow.dispute(invoice_id, {"from": customer})


def test_disputing_an_unknown_invoice_reverts(escrow, customer):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.dispute(UNKNOWN_INVOICE_ID, {"from": customer})


# --- release -----------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["stranger", "manager", "customer"])
def test_releasing_within_the_window_reverts(request, escrow, invoice_id, paid, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("DisputeWindowOpen", invoice_id, paid.timestamp + DISPUTE_WINDOW_SECONDS):
        escrow.release(invoice_id, {"from": account})


def test_releasing_in_the_last_second_of_the_window_reverts(escrow, stranger, invoice_id, paid):
    ends_at = paid.timestamp + DISPUTE_WINDOW_SECONDS
    set_next_block_timestamp(ends_at - 1)

    with reverts_with("DisputeWindowOpen", invoice_id, ends_at):
        escrow.release(invoice_id, {"from": stranger})


def test_anyone_may_release_when_the_window_ends(escrow, stranger, invoice_id, paid):
    set_next_block_timestamp(paid.timestamp + DISPUTE_WINDOW_SECONDS)

    escrow.release(invoice_id, {"from": stranger})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED


def test_releasing_after_the_window_pays_the_treasury(escrow, stranger, treasury, invoice_id, paid):
    treasury_before = treasury.balance()
    sleep_past(DISPUTE_WINDOW_SECONDS)

    escrow.release(invoice_id, {"from": stranger})

    assert treasury.balance() == treasury_before + ONE_ETH
    assert escrow.balance() == 0


def test_releasing_emits_invoice_released(escrow, stranger, treasury, invoice_id, paid):
    sleep_past(DISPUTE_WINDOW_SECONDS)

    tx = escrow.release(invoice_id, {"from": stranger})

    assert dict(tx.events["InvoiceReleased"]) == {
        "invoiceId": invoice_id,
        "treasury": treasury.address,
        "actor": stranger.address,
        "amount": ONE_ETH,
    }


def test_releasing_twice_reverts_and_pays_the_treasury_once(escrow, stranger, treasury, invoice_id, paid):
    sleep_past(DISPUTE_WINDOW_SECONDS)
    escrow.release(invoice_id, {"from": stranger})
    treasury_after_first = treasury.balance()

    with reverts_with("InvoiceNotInEscrow", invoice_id, RELEASED):
        escrow.release(invoice_id, {"from": stranger})

    assert treasury.balance() == treasury_after_first


@pytest.mark.parametrize("caller", ["stranger", "agent", "customer", "admin"])
def test_releasing_a_disputed_invoice_is_refused_to_non_managers(
    request, escrow, registry, invoice_id, disputed, caller
):
    account = request.getfixturevalue(caller)
    sleep_past(DISPUTE_WINDOW_SECONDS)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.MANAGER_ROLE()):
        escrow.release(invoice_id, {"from": account})


def test_manager_releases_a_disputed_invoice_within_the_window(escrow, manager, treasury, invoice_id, disputed):
    treasury_before = treasury.balance()

    tx = escrow.release(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED
    assert treasury.balance() == treasury_before + ONE_ETH
    assert tx.events["InvoiceReleased"]["actor"] == manager.address


def test_releasing_an_unpaid_invoice_reverts(escrow, stranger, invoice_id):
    with reverts_with("InvoiceNotInEscrow", invoice_id, OPEN):
        escrow.release(invoice_id, {"from": stranger})


def test_releasing_a_cancelled_invoice_reverts(escrow, stranger, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    with reverts_with("InvoiceNotInEscrow", invoice_id, CANCELLED):
        escrow.release(invoice_id, {"from": stranger})


def test_releasing_a_refunded_invoice_reverts(escrow, manager, invoice_id, paid):
    escrow.refund(invoice_id, {"from": manager})

    with reverts_with("InvoiceNotInEscrow", invoice_id, REFUNDED):
        escrow.release(invoice_id, {"from": manager})


def test_releasing_an_unknown_invoice_reverts(escrow, stranger):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.release(UNKNOWN_INVOICE_ID, {"from": stranger})


# --- refund ------------------------------------------------------------------------------------


def test_manager_refunds_a_paid_invoice(escrow, manager, invoice_id, paid):
    escrow.refund(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == REFUNDED


def test_refunding_returns_the_amount_to_the_payer(escrow, customer, manager, invoice_id, paid):
    payer_before = customer.balance()

    escrow.refund(invoice_id, {"from": manager})

    assert customer.balance() == payer_before + ONE_ETH
    assert escrow.balance() == 0


def test_refunding_emits_invoice_refunded(escrow, customer, manager, invoice_id, paid):
    tx = escrow.refund(invoice_id, {"from": manager})

    assert dict(tx.events["InvoiceRefunded"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "actor": manager.address,
        "amount": ONE_ETH,
    }


def test_manager_refunds_a_disputed_invoice(escrow, customer, manager, invoice_id, disputed):
    payer_before = customer.balance()

    escrow.refund(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == REFUNDED
    assert customer.balance() == payer_before + ONE_ETH


def test_manager_may_refund_after_the_window(escrow, manager, invoice_id, paid):
    sleep_past(DISPUTE_WINDOW_SECONDS)

    escrow.refund(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == REFUNDED


def test_refunding_twice_reverts_and_pays_the_payer_once(escrow, customer, manager, invoice_id, paid):
    escrow.refund(invoice_id, {"from": manager})
    payer_after_first = customer.balance()

    with reverts_with("InvoiceNotInEscrow", invoice_id, REFUNDED):
        escrow.refund(invoice_id, {"from": manager})

    assert customer.balance() == payer_after_first


@pytest.mark.parametrize("caller", ["agent", "admin", "stranger", "customer", "auditor"])
def test_refunding_is_refused_to_non_managers(request, escrow, registry, invoice_id, paid, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.MANAGER_ROLE()):
        escrow.refund(invoice_id, {"from": account})


def test_refunding_an_unpaid_invoice_reverts(escrow, manager, invoice_id):
    with reverts_with("InvoiceNotInEscrow", invoice_id, OPEN):
        escrow.refund(invoice_id, {"from": manager})


def test_refunding_a_released_invoice_reverts(escrow, customer, manager, invoice_id, paid):
    escrow.confirmDelivery(invoice_id, {"from": customer})

    with reverts_with("InvoiceNotInEscrow", invoice_id, RELEASED):
        escrow.refund(invoice_id, {"from": manager})


def test_refunding_an_unknown_invoice_reverts(escrow, manager):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.refund(UNKNOWN_INVOICE_ID, {"from": manager})


# --- cancel ------------------------------------------------------------------------------------


def test_manager_cancels_an_open_invoice(escrow, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == CANCELLED


def test_cancelling_emits_invoice_cancelled(escrow, manager, invoice_id):
    tx = escrow.cancel(invoice_id, {"from": manager})

    assert dict(tx.events["InvoiceCancelled"]) == {"invoiceId": invoice_id, "actor": manager.address}


@pytest.mark.parametrize("caller", ["agent", "admin", "stranger", "customer"])
def test_cancelling_is_refused_to_non_managers(request, escrow, registry, invoice_id, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.MANAGER_ROLE()):
        escrow.cancel(invoice_id, {"from": account})


def test_cancelling_a_paid_invoice_reverts(escrow, manager, invoice_id, paid):
    with reverts_with("InvoiceNotOpen", invoice_id, PAID):
        escrow.cancel(invoice_id, {"from": manager})


def test_cancelling_twice_reverts(escrow, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    with reverts_with("InvoiceNotOpen", invoice_id, CANCELLED):
        escrow.cancel(invoice_id, {"from": manager})


def test_cancelling_an_unknown_invoice_reverts(escrow, manager):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.cancel(UNKNOWN_INVOICE_ID, {"from": manager})


# --- setTreasury -------------------------------------------------------------------------------


def test_admin_sets_a_new_treasury(escrow, admin, stranger):
    escrow.setTreasury(stranger, {"from": admin})

    assert escrow.treasury() == stranger.address


def test_setting_the_treasury_emits_treasury_changed(escrow, admin, treasury, stranger):
    tx = escrow.setTreasury(stranger, {"from": admin})

    assert dict(tx.events["TreasuryChanged"]) == {
        "previousTreasury": treasury.address,
        "newTreasury": stranger.address,
        "actor": admin.address,
    }


def test_release_pays_the_treasury_set_at_release_time(escrow, admin, customer, treasury, stranger, invoice_id, paid):
    escrow.setTreasury(stranger, {"from": admin})
    new_before, old_before = stranger.balance(), treasury.balance()

    escrow.confirmDelivery(invoice_id, {"from": customer})

    assert stranger.balance() == new_before + ONE_ETH
    assert treasury.balance() == old_before


@pytest.mark.parametrize("caller", ["manager", "agent", "stranger", "treasury"])
def test_setting_the_treasury_is_refused_to_non_admins(request, escrow, registry, stranger, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.DEFAULT_ADMIN_ROLE()):
        escrow.setTreasury(stranger, {"from": account})


def test_setting_a_zero_treasury_reverts(escrow, admin):
    with reverts_with("TreasuryInvalid", ZERO_ADDRESS):
        escrow.setTreasury(ZERO_ADDRESS, {"from": admin})


# --- views -------------------------------------------------------------------------------------


def test_an_open_invoice_is_not_overdue_at_its_due_date(escrow, invoice_id):
    set_next_block_timestamp(escrow.invoiceOf(invoice_id)[DUE_AT])
    chain.mine()

    assert escrow.isOverdue(invoice_id) is False


def test_an_open_invoice_is_overdue_one_second_after_its_due_date(escrow, invoice_id):
    set_next_block_timestamp(escrow.invoiceOf(invoice_id)[DUE_AT] + 1)
    chain.mine()

    assert escrow.isOverdue(invoice_id) is True


def test_a_fresh_invoice_is_not_overdue(escrow, invoice_id):
    assert escrow.isOverdue(invoice_id) is False


def test_a_paid_invoice_is_never_overdue(escrow, invoice_id, paid):
    sleep_past(PAYMENT_TERM_SECONDS + ONE_DAY_SECONDS)

    assert escrow.isOverdue(invoice_id) is False


def test_a_cancelled_invoice_is_never_overdue(escrow, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    sleep_past(PAYMENT_TERM_SECONDS + ONE_DAY_SECONDS)

    assert escrow.isOverdue(invoice_id) is False


def test_is_overdue_of_an_unknown_invoice_reverts(escrow):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.isOverdue(UNKNOWN_INVOICE_ID)


def test_invoice_of_an_unknown_invoice_reverts(escrow):
    with reverts_with("InvoiceUnknown", 0):
        escrow.invoiceOf(0)


def test_payment_reference_hashes_chain_id_escrow_and_invoice_id(escrow, invoice_id):
    expected = web3.keccak(encode(["uint256", "address", "uint256"], [chain.id, escrow.address, invoice_id]))

    assert bytes(escrow.paymentReference(invoice_id)) == bytes(expected)


def test_payment_references_differ_between_invoices(escrow):
    assert escrow.paymentReference(1) != escrow.paymentReference(2)
