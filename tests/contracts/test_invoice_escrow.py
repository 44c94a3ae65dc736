"""InvoiceEscrow: construction, issuing, paying, confirming, disputing, releasing, refunds, cancelling.

Most tests use the deployment's escrow, whose only issuer is the pipeline, with an invoice issued
by winning a deal. Issuing itself is tested on a second escrow whose issuer is a plain account.
Treasury changes and sweeping are in test_escrow_treasury.py, hostile payees in
test_escrow_hostile.py.
"""

from __future__ import annotations

import brownie
import pytest
from brownie import chain, web3
from eth_abi import encode

from tests.contracts.helpers import (
    CANCELLED,
    DISPUTE_RESOLUTION_SECONDS,
    DISPUTE_WINDOW_SECONDS,
    DISPUTED,
    ONE_ETH,
    OPEN,
    PAID,
    PAYMENT_TERM_SECONDS,
    REFUNDED,
    RELEASED,
    TREASURY_DELAY_SECONDS,
    ZERO_ADDRESS,
    reverts_with,
)

MAX_SETTING_SECONDS = 365 * 24 * 3600
MAX_AMOUNT_WEI = 2**96 - 1
MAX_ID = 2**64 - 1
UNKNOWN_INVOICE_ID = 999
ONE_DAY_SECONDS = 24 * 3600
FIRST_EPOCH = 1

# Fields of the Invoice struct, in the order invoiceOf returns them.
AMOUNT, DUE_AT, PAID_AT, STATUS, DEAL_ID, TREASURY_EPOCH, PAYER, CUSTOMER_ID, CURRENCY = range(9)


def set_next_block_timestamp(timestamp: int) -> None:
    """Mine the next transaction at exactly `timestamp`, to test a boundary to the second."""
    web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


def sleep_past(seconds: int) -> None:
    chain.sleep(seconds + 1)
    chain.mine()


def gas_cost(tx) -> int:
    return tx.gas_used * tx.gas_price


def deploy_escrow(InvoiceEscrow, registry, issuer, treasury, admin, **settings):
    """An escrow with the test settings, any of them overridden by keyword."""
    values = {
        "window": DISPUTE_WINDOW_SECONDS,
        "term": PAYMENT_TERM_SECONDS,
        "resolution": DISPUTE_RESOLUTION_SECONDS,
        "delay": TREASURY_DELAY_SECONDS,
        **settings,
    }
    return InvoiceEscrow.deploy(
        registry,
        issuer,
        treasury,
        values["window"],
        values["term"],
        values["resolution"],
        values["delay"],
        {"from": admin},
    )


@pytest.fixture(scope="module")
def issuer(accounts):
    """A plain account, the only issuer of `direct_escrow`."""
    return accounts[9]


@pytest.fixture(scope="module")
def direct_escrow(InvoiceEscrow, registry, issuer, treasury, admin):
    """A second escrow whose issuer is a plain account, to call issueInvoice directly."""
    return deploy_escrow(InvoiceEscrow, registry, issuer, treasury, admin)


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
    """The module's invoice paid and disputed; returns the dispute transaction."""
    return escrow.dispute(invoice_id, {"from": customer})


@pytest.fixture
def refunded(escrow, manager, invoice_id, paid):
    """The module's invoice paid and refunded: ONE_ETH credited to its payer."""
    return escrow.refund(invoice_id, {"from": manager})


# --- constructor -------------------------------------------------------------------------------


def test_constructor_stores_its_settings(escrow, registry, pipeline, treasury):
    settings = (
        escrow.registry(),
        escrow.issuer(),
        escrow.disputeWindowSeconds(),
        escrow.paymentTermSeconds(),
        escrow.disputeResolutionSeconds(),
        escrow.treasuryDelaySeconds(),
    )

    assert settings == (
        registry.address,
        pipeline.address,
        DISPUTE_WINDOW_SECONDS,
        PAYMENT_TERM_SECONDS,
        DISPUTE_RESOLUTION_SECONDS,
        TREASURY_DELAY_SECONDS,
    )


def test_a_new_escrow_starts_at_the_first_treasury_epoch_with_nothing_owed(escrow, treasury):
    assert (escrow.treasury(), escrow.treasuryEpoch(), escrow.treasuryOf(FIRST_EPOCH)) == (
        treasury.address,
        FIRST_EPOCH,
        treasury.address,
    )
    assert tuple(escrow.pendingTreasury()) == (ZERO_ADDRESS, 0)
    assert (escrow.invoiceCount(), escrow.liabilitiesWei()) == (0, 0)


def test_constructor_emits_treasury_changed_from_zero_at_the_first_epoch(
    InvoiceEscrow, registry, issuer, treasury, admin
):
    fresh = deploy_escrow(InvoiceEscrow, registry, issuer, treasury, admin)

    assert dict(fresh.tx.events["TreasuryChanged"]) == {
        "previousTreasury": ZERO_ADDRESS,
        "newTreasury": treasury.address,
        "epoch": FIRST_EPOCH,
    }


def test_constructor_accepts_settings_of_up_to_one_year(InvoiceEscrow, registry, issuer, treasury, admin):
    longest_window = MAX_SETTING_SECONDS - 1  # the treasury delay must be longer still

    fresh = deploy_escrow(
        InvoiceEscrow,
        registry,
        issuer,
        treasury,
        admin,
        window=longest_window,
        term=MAX_SETTING_SECONDS,
        resolution=MAX_SETTING_SECONDS,
        delay=MAX_SETTING_SECONDS,
    )

    assert (
        fresh.disputeWindowSeconds(),
        fresh.paymentTermSeconds(),
        fresh.disputeResolutionSeconds(),
        fresh.treasuryDelaySeconds(),
    ) == (longest_window, MAX_SETTING_SECONDS, MAX_SETTING_SECONDS, MAX_SETTING_SECONDS)


def test_constructor_accepts_a_treasury_delay_one_second_longer_than_the_window(
    InvoiceEscrow, registry, issuer, treasury, admin
):
    fresh = deploy_escrow(InvoiceEscrow, registry, issuer, treasury, admin, delay=DISPUTE_WINDOW_SECONDS + 1)

    assert fresh.treasuryDelaySeconds() == DISPUTE_WINDOW_SECONDS + 1


def test_constructor_refuses_a_zero_treasury(InvoiceEscrow, registry, issuer, admin):
    with reverts_with("TreasuryInvalid", ZERO_ADDRESS):
        deploy_escrow(InvoiceEscrow, registry, issuer, ZERO_ADDRESS, admin)


@pytest.mark.parametrize(
    "settings",
    [
        {"window": 0},
        {"window": MAX_SETTING_SECONDS + 1, "delay": MAX_SETTING_SECONDS + 2},
        {"term": 0},
        {"term": MAX_SETTING_SECONDS + 1},
        {"resolution": 0},
        {"resolution": MAX_SETTING_SECONDS + 1},
    ],
    ids=["zero-window", "window-over-a-year", "zero-term", "term-over-a-year", "zero-resolution", "resolution-over"],
)
def test_constructor_refuses_settings_out_of_bounds(InvoiceEscrow, registry, issuer, treasury, admin, settings):
    window = settings.get("window", DISPUTE_WINDOW_SECONDS)
    term = settings.get("term", PAYMENT_TERM_SECONDS)

    with reverts_with("EscrowSettingInvalid", window, term):
        deploy_escrow(InvoiceEscrow, registry, issuer, treasury, admin, **settings)


@pytest.mark.parametrize(
    "delay",
    [DISPUTE_WINDOW_SECONDS, DISPUTE_WINDOW_SECONDS - 1, 0, MAX_SETTING_SECONDS + 1],
    ids=["equal-to-the-window", "shorter-than-the-window", "zero", "over-a-year"],
)
def test_constructor_refuses_a_treasury_delay_not_longer_than_the_window(
    InvoiceEscrow, registry, issuer, treasury, admin, delay
):
    with reverts_with("TreasuryDelayInvalid", delay, DISPUTE_WINDOW_SECONDS):
        deploy_escrow(InvoiceEscrow, registry, issuer, treasury, admin, delay=delay)


# --- issueInvoice ------------------------------------------------------------------------------


def test_issuer_issues_an_open_invoice(direct_escrow, issuer, customer):
    tx = direct_escrow.issueInvoice(41, 42, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer})

    invoice = tuple(direct_escrow.invoiceOf(tx.return_value))
    assert invoice == (ONE_ETH, tx.timestamp + PAYMENT_TERM_SECONDS, 0, OPEN, 41, 0, customer.address, 42, ZERO_ADDRESS)


def test_issuing_emits_invoice_issued(direct_escrow, issuer, customer):
    tx = direct_escrow.issueInvoice(41, 42, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer})

    assert dict(tx.events["InvoiceIssued"]) == {
        "invoiceId": tx.return_value,
        "dealId": 41,
        "customerId": 42,
        "payer": customer.address,
        "amount": ONE_ETH,
        "dueAt": tx.timestamp + PAYMENT_TERM_SECONDS,
        "paymentReference": direct_escrow.paymentReference(tx.return_value),
        "currency": ZERO_ADDRESS,
    }


def test_invoice_ids_count_up_one_by_one_from_one(direct_escrow, issuer, customer):
    first = direct_escrow.issueInvoice(1, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer}).return_value
    second = direct_escrow.issueInvoice(2, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer}).return_value

    assert (first, second) == (1, 2)
    assert direct_escrow.invoiceCount() == 2


def test_issuing_holds_no_funds(direct_escrow, issuer, customer):
    direct_escrow.issueInvoice(1, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer})

    assert (direct_escrow.liabilitiesWei(), direct_escrow.balance()) == (0, 0)


def test_issuer_may_issue_the_largest_uint96_amount(direct_escrow, issuer, customer):
    invoice_id = direct_escrow.issueInvoice(1, 1, customer, MAX_AMOUNT_WEI, ZERO_ADDRESS, {"from": issuer}).return_value

    assert direct_escrow.invoiceOf(invoice_id)[AMOUNT] == MAX_AMOUNT_WEI


def test_issuer_may_use_the_largest_uint64_deal_and_customer_ids(direct_escrow, issuer, customer):
    invoice_id = direct_escrow.issueInvoice(
        MAX_ID, MAX_ID, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer}
    ).return_value

    invoice = direct_escrow.invoiceOf(invoice_id)
    assert (invoice[DEAL_ID], invoice[CUSTOMER_ID]) == (MAX_ID, MAX_ID)


@pytest.mark.parametrize("caller", ["agent", "manager", "admin", "stranger", "customer", "treasury"])
def test_issuing_is_refused_to_anyone_but_the_issuer(request, direct_escrow, customer, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotIssuer", account):
        direct_escrow.issueInvoice(1, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": account})


def test_the_pipelines_escrow_refuses_invoices_issued_by_anyone_else(escrow, manager, customer):
    with reverts_with("CallerNotIssuer", manager):
        escrow.issueInvoice(1, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": manager})


def test_issuing_to_no_payer_reverts(direct_escrow, issuer):
    with reverts_with("InvoicePayerMissing", 41):
        direct_escrow.issueInvoice(41, 1, ZERO_ADDRESS, ONE_ETH, ZERO_ADDRESS, {"from": issuer})


@pytest.mark.parametrize("amount", [0, MAX_AMOUNT_WEI + 1], ids=["zero", "above-uint96"])
def test_issuing_an_invalid_amount_reverts(direct_escrow, issuer, customer, amount):
    with reverts_with("InvoiceAmountInvalid", amount):
        direct_escrow.issueInvoice(1, 1, customer, amount, ZERO_ADDRESS, {"from": issuer})


@pytest.mark.parametrize("deal_id", [MAX_ID + 1, 2**256 - 1], ids=["2**64", "max-uint256"])
def test_issuing_for_a_deal_id_above_uint64_reverts(direct_escrow, issuer, customer, deal_id):
    with reverts_with("IdOutOfRange", deal_id):
        direct_escrow.issueInvoice(deal_id, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer})


@pytest.mark.parametrize("customer_id", [MAX_ID + 1, 2**256 - 1], ids=["2**64", "max-uint256"])
def test_issuing_for_a_customer_id_above_uint64_reverts(direct_escrow, issuer, customer, customer_id):
    with reverts_with("IdOutOfRange", customer_id):
        direct_escrow.issueInvoice(1, customer_id, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer})


# --- pay ---------------------------------------------------------------------------------------


def test_payer_pays_the_exact_amount_and_the_invoice_is_paid(escrow, customer, invoice_id):
    tx = escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    invoice = escrow.invoiceOf(invoice_id)
    assert (invoice[STATUS], invoice[PAID_AT]) == (PAID, tx.timestamp)


def test_paying_fixes_the_current_treasury_epoch_on_the_invoice(escrow, customer, invoice_id):
    escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert escrow.invoiceOf(invoice_id)[TREASURY_EPOCH] == FIRST_EPOCH


def test_paying_moves_the_amount_from_the_payer_to_the_escrow(escrow, customer, invoice_id):
    payer_before = customer.balance()

    tx = escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert escrow.balance() == ONE_ETH
    assert customer.balance() == payer_before - ONE_ETH - gas_cost(tx)


def test_paying_adds_the_amount_to_the_liabilities(escrow, customer, invoice_id):
    escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert escrow.liabilitiesWei() == ONE_ETH == escrow.balance()


def test_paying_emits_invoice_paid_naming_the_treasury(escrow, customer, treasury, invoice_id):
    tx = escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert dict(tx.events["InvoicePaid"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "treasury": treasury.address,
        "amount": ONE_ETH,
        "at": tx.timestamp,
    }


def test_paying_an_overdue_invoice_is_still_accepted(escrow, customer, invoice_id):
    sleep_past(PAYMENT_TERM_SECONDS + ONE_DAY_SECONDS)

    escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert escrow.invoiceOf(invoice_id)[STATUS] == PAID


@pytest.mark.parametrize("caller", ["stranger", "customer2", "manager", "treasury"])
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


def test_paying_a_refunded_invoice_reverts_as_already_paid(escrow, customer, invoice_id, refunded):
    with reverts_with("InvoiceAlreadyPaid", invoice_id):
        escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})


def test_paying_a_cancelled_invoice_reverts(escrow, customer, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    with reverts_with("InvoiceIsCancelled", invoice_id):
        escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})


@pytest.mark.parametrize("unknown_id", [0, UNKNOWN_INVOICE_ID])
def test_paying_an_unknown_invoice_reverts(escrow, customer, unknown_id):
    with reverts_with("InvoiceUnknown", unknown_id):
        escrow.pay(unknown_id, {"from": customer, "value": ONE_ETH})


def test_the_escrow_refuses_plain_transfers(escrow, customer):
    # No receive() or fallback: the revert carries no error data, so there is no name to match.
    with brownie.reverts():
        customer.transfer(escrow, ONE_ETH)

    assert escrow.balance() == 0


# --- confirmDelivery ---------------------------------------------------------------------------


def test_payer_confirming_delivery_releases_the_invoice_within_the_window(escrow, customer, invoice_id, paid):
    escrow.confirmDelivery(invoice_id, {"from": customer})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED


def test_confirming_delivery_moves_the_amount_to_the_treasury(escrow, customer, treasury, invoice_id, paid):
    treasury_before = treasury.balance()

    escrow.confirmDelivery(invoice_id, {"from": customer})

    assert treasury.balance() == treasury_before + ONE_ETH
    assert (escrow.balance(), escrow.liabilitiesWei()) == (0, 0)


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


@pytest.mark.parametrize("caller", ["stranger", "manager", "agent", "treasury"])
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


def test_confirming_delivery_of_a_refunded_invoice_reverts(escrow, customer, invoice_id, refunded):
    with reverts_with("InvoiceNotInEscrow", invoice_id, REFUNDED):
        escrow.confirmDelivery(invoice_id, {"from": customer})


def test_confirming_delivery_of_an_unknown_invoice_reverts(escrow, customer):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.confirmDelivery(UNKNOWN_INVOICE_ID, {"from": customer})


# --- dispute -----------------------------------------------------------------------------------


def test_payer_disputes_within_the_window(escrow, customer, invoice_id, paid):
    escrow.dispute(invoice_id, {"from": customer})

    assert escrow.invoiceOf(invoice_id)[STATUS] == DISPUTED


def test_disputing_sets_the_resolution_deadline(escrow, customer, invoice_id, paid):
    tx = escrow.dispute(invoice_id, {"from": customer})

    assert escrow.disputeDeadlineOf(invoice_id) == tx.timestamp + DISPUTE_RESOLUTION_SECONDS


def test_disputing_emits_invoice_disputed(escrow, customer, invoice_id, paid):
    tx = escrow.dispute(invoice_id, {"from": customer})

    assert dict(tx.events["InvoiceDisputed"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "at": tx.timestamp,
        "resolveBy": tx.timestamp + DISPUTE_RESOLUTION_SECONDS,
    }


def test_disputing_keeps_the_funds_in_escrow(escrow, customer, invoice_id, paid):
    escrow.dispute(invoice_id, {"from": customer})

    assert escrow.balance() == escrow.liabilitiesWei() == ONE_ETH


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


@pytest.mark.parametrize("caller", ["stranger", "manager", "treasury"])
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


# --- release: a paid invoice -------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["customer", "treasury", "manager", "stranger"])
def test_releasing_within_the_window_reverts_for_everyone(request, escrow, invoice_id, paid, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("DisputeWindowOpen", invoice_id, paid.timestamp + DISPUTE_WINDOW_SECONDS):
        escrow.release(invoice_id, {"from": account})


def test_releasing_in_the_last_second_of_the_window_reverts(escrow, treasury, invoice_id, paid):
    ends_at = paid.timestamp + DISPUTE_WINDOW_SECONDS
    set_next_block_timestamp(ends_at - 1)

    with reverts_with("DisputeWindowOpen", invoice_id, ends_at):
        escrow.release(invoice_id, {"from": treasury})


@pytest.mark.parametrize("caller", ["customer", "treasury", "manager"])
def test_payer_treasury_or_manager_releases_when_the_window_ends(request, escrow, invoice_id, paid, caller):
    set_next_block_timestamp(paid.timestamp + DISPUTE_WINDOW_SECONDS)

    escrow.release(invoice_id, {"from": request.getfixturevalue(caller)})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED


@pytest.mark.parametrize("caller", ["stranger", "agent", "admin", "auditor", "customer2"])
def test_releasing_after_the_window_is_refused_to_anyone_else(request, escrow, invoice_id, paid, caller):
    account = request.getfixturevalue(caller)
    sleep_past(DISPUTE_WINDOW_SECONDS)

    with reverts_with("CallerCannotRelease", invoice_id, account):
        escrow.release(invoice_id, {"from": account})

    assert escrow.invoiceOf(invoice_id)[STATUS] == PAID


def test_releasing_after_the_window_pays_the_treasury(escrow, customer, treasury, invoice_id, paid):
    treasury_before = treasury.balance()
    sleep_past(DISPUTE_WINDOW_SECONDS)

    escrow.release(invoice_id, {"from": customer})

    assert treasury.balance() == treasury_before + ONE_ETH
    assert (escrow.balance(), escrow.liabilitiesWei()) == (0, 0)


def test_the_treasury_releasing_receives_the_amount(escrow, treasury, invoice_id, paid):
    treasury_before = treasury.balance()
    sleep_past(DISPUTE_WINDOW_SECONDS)

    tx = escrow.release(invoice_id, {"from": treasury})

    assert treasury.balance() == treasury_before + ONE_ETH - gas_cost(tx)


def test_releasing_emits_invoice_released(escrow, manager, treasury, invoice_id, paid):
    sleep_past(DISPUTE_WINDOW_SECONDS)

    tx = escrow.release(invoice_id, {"from": manager})

    assert dict(tx.events["InvoiceReleased"]) == {
        "invoiceId": invoice_id,
        "treasury": treasury.address,
        "actor": manager.address,
        "amount": ONE_ETH,
    }


def test_releasing_twice_reverts_and_pays_the_treasury_once(escrow, customer, treasury, invoice_id, paid):
    sleep_past(DISPUTE_WINDOW_SECONDS)
    escrow.release(invoice_id, {"from": customer})
    treasury_after_first = treasury.balance()

    with reverts_with("InvoiceNotInEscrow", invoice_id, RELEASED):
        escrow.release(invoice_id, {"from": customer})

    assert treasury.balance() == treasury_after_first


def test_releasing_an_unpaid_invoice_reverts(escrow, manager, invoice_id):
    with reverts_with("InvoiceNotInEscrow", invoice_id, OPEN):
        escrow.release(invoice_id, {"from": manager})


def test_releasing_a_cancelled_invoice_reverts(escrow, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    with reverts_with("InvoiceNotInEscrow", invoice_id, CANCELLED):
        escrow.release(invoice_id, {"from": manager})


def test_releasing_a_refunded_invoice_reverts(escrow, manager, invoice_id, refunded):
    with reverts_with("InvoiceNotInEscrow", invoice_id, REFUNDED):
        escrow.release(invoice_id, {"from": manager})


def test_releasing_an_unknown_invoice_reverts(escrow, manager):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.release(UNKNOWN_INVOICE_ID, {"from": manager})


# --- release: a disputed invoice ---------------------------------------------------------------


def test_manager_releases_a_disputed_invoice_within_the_window(escrow, manager, treasury, invoice_id, disputed):
    treasury_before = treasury.balance()

    tx = escrow.release(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED
    assert treasury.balance() == treasury_before + ONE_ETH
    assert tx.events["InvoiceReleased"]["actor"] == manager.address


def test_manager_releases_a_disputed_invoice_in_the_last_second_before_the_deadline(
    escrow, manager, invoice_id, disputed
):
    set_next_block_timestamp(disputed.timestamp + DISPUTE_RESOLUTION_SECONDS - 1)

    escrow.release(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED


def test_releasing_a_disputed_invoice_at_its_deadline_reverts(escrow, manager, invoice_id, disputed):
    resolve_by = disputed.timestamp + DISPUTE_RESOLUTION_SECONDS
    set_next_block_timestamp(resolve_by)

    with reverts_with("DisputeResolutionExpired", invoice_id, resolve_by):
        escrow.release(invoice_id, {"from": manager})


@pytest.mark.parametrize("caller", ["customer", "treasury", "stranger", "agent", "admin"])
def test_releasing_a_disputed_invoice_is_refused_to_non_managers(
    request, escrow, registry, invoice_id, disputed, caller
):
    account = request.getfixturevalue(caller)
    sleep_past(DISPUTE_WINDOW_SECONDS)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.MANAGER_ROLE()):
        escrow.release(invoice_id, {"from": account})


# --- refund ------------------------------------------------------------------------------------


def test_manager_refunds_a_paid_invoice(escrow, manager, invoice_id, paid):
    escrow.refund(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == REFUNDED


def test_refunding_credits_the_payer_without_sending_ether(escrow, customer, manager, invoice_id, paid):
    payer_before = customer.balance()

    escrow.refund(invoice_id, {"from": manager})

    assert escrow.refundOf(customer) == ONE_ETH
    assert customer.balance() == payer_before
    assert escrow.balance() == ONE_ETH


def test_a_credited_refund_stays_a_liability(escrow, manager, invoice_id, paid):
    escrow.refund(invoice_id, {"from": manager})

    assert escrow.liabilitiesWei() == ONE_ETH == escrow.balance()


def test_refunding_emits_invoice_refunded(escrow, customer, manager, invoice_id, paid):
    tx = escrow.refund(invoice_id, {"from": manager})

    assert dict(tx.events["InvoiceRefunded"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "actor": manager.address,
        "amount": ONE_ETH,
    }


def test_manager_refunds_a_disputed_invoice(escrow, customer, manager, invoice_id, disputed):
    escrow.refund(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == REFUNDED
    assert escrow.refundOf(customer) == ONE_ETH


def test_manager_may_refund_after_the_window(escrow, manager, invoice_id, paid):
    sleep_past(DISPUTE_WINDOW_SECONDS)

    escrow.refund(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == REFUNDED


def test_refunds_of_one_payer_add_up(escrow, manager, customer, customer_id, won_invoice, invoice_id, paid):
    other_invoice_id = won_invoice(customer_id, 2 * ONE_ETH)[1]
    escrow.pay(other_invoice_id, {"from": customer, "value": 2 * ONE_ETH})

    escrow.refund(invoice_id, {"from": manager})
    escrow.refund(other_invoice_id, {"from": manager})

    assert escrow.refundOf(customer) == 3 * ONE_ETH


def test_refunding_twice_reverts_and_credits_the_payer_once(escrow, customer, manager, invoice_id, refunded):
    with reverts_with("InvoiceNotInEscrow", invoice_id, REFUNDED):
        escrow.refund(invoice_id, {"from": manager})

    assert escrow.refundOf(customer) == ONE_ETH


@pytest.mark.parametrize("caller", ["agent", "admin", "stranger", "customer", "auditor", "treasury"])
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


# --- reclaim -----------------------------------------------------------------------------------


def test_payer_reclaims_a_disputed_invoice_at_its_deadline(escrow, customer, invoice_id, disputed):
    set_next_block_timestamp(disputed.timestamp + DISPUTE_RESOLUTION_SECONDS)

    escrow.reclaim(invoice_id, {"from": customer})

    assert escrow.invoiceOf(invoice_id)[STATUS] == REFUNDED
    assert escrow.refundOf(customer) == ONE_ETH


def test_reclaiming_emits_invoice_refunded_by_the_payer(escrow, customer, invoice_id, disputed):
    sleep_past(DISPUTE_RESOLUTION_SECONDS)

    tx = escrow.reclaim(invoice_id, {"from": customer})

    assert dict(tx.events["InvoiceRefunded"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "actor": customer.address,
        "amount": ONE_ETH,
    }


def test_reclaiming_keeps_the_funds_owed_to_the_payer(escrow, customer, invoice_id, disputed):
    sleep_past(DISPUTE_RESOLUTION_SECONDS)

    escrow.reclaim(invoice_id, {"from": customer})

    assert escrow.liabilitiesWei() == ONE_ETH == escrow.balance()


def test_reclaiming_in_the_last_second_before_the_deadline_reverts(escrow, customer, invoice_id, disputed):
    resolve_by = disputed.timestamp + DISPUTE_RESOLUTION_SECONDS
    set_next_block_timestamp(resolve_by - 1)

    with reverts_with("DisputeResolutionOpen", invoice_id, resolve_by):
        escrow.reclaim(invoice_id, {"from": customer})


@pytest.mark.parametrize("caller", ["stranger", "manager", "treasury"])
def test_reclaiming_is_refused_to_anyone_but_the_payer(request, escrow, customer, invoice_id, disputed, caller):
    account = request.getfixturevalue(caller)
    sleep_past(DISPUTE_RESOLUTION_SECONDS)

    with reverts_with("InvoicePayerMismatch", invoice_id, customer, account):
        escrow.reclaim(invoice_id, {"from": account})


def test_reclaiming_a_paid_undisputed_invoice_reverts(escrow, customer, invoice_id, paid):
    sleep_past(DISPUTE_RESOLUTION_SECONDS)

    with reverts_with("InvoiceNotDisputed", invoice_id, PAID):
        escrow.reclaim(invoice_id, {"from": customer})


def test_reclaiming_an_unpaid_invoice_reverts(escrow, customer, invoice_id):
    with reverts_with("InvoiceNotDisputed", invoice_id, OPEN):
        escrow.reclaim(invoice_id, {"from": customer})


def test_reclaiming_a_dispute_the_manager_resolved_reverts(escrow, customer, manager, invoice_id, disputed):
    escrow.release(invoice_id, {"from": manager})
    sleep_past(DISPUTE_RESOLUTION_SECONDS)

    with reverts_with("InvoiceNotDisputed", invoice_id, RELEASED):
        escrow.reclaim(invoice_id, {"from": customer})


def test_reclaiming_twice_reverts_and_credits_the_payer_once(escrow, customer, invoice_id, disputed):
    sleep_past(DISPUTE_RESOLUTION_SECONDS)
    escrow.reclaim(invoice_id, {"from": customer})

    with reverts_with("InvoiceNotDisputed", invoice_id, REFUNDED):
        escrow.reclaim(invoice_id, {"from": customer})

    assert escrow.refundOf(customer) == ONE_ETH


def test_reclaiming_an_unknown_invoice_reverts(escrow, customer):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.reclaim(UNKNOWN_INVOICE_ID, {"from": customer})


# --- withdrawRefund ----------------------------------------------------------------------------


def test_payer_withdraws_a_credited_refund(escrow, customer, invoice_id, refunded):
    payer_before = customer.balance()

    tx = escrow.withdrawRefund({"from": customer})

    assert customer.balance() == payer_before + ONE_ETH - gas_cost(tx)
    assert escrow.balance() == 0


def test_withdrawing_clears_the_credit_and_the_liability(escrow, customer, invoice_id, refunded):
    escrow.withdrawRefund({"from": customer})

    assert (escrow.refundOf(customer), escrow.liabilitiesWei()) == (0, 0)


def test_withdrawing_emits_refund_withdrawn(escrow, customer, invoice_id, refunded):
    tx = escrow.withdrawRefund({"from": customer})

    assert dict(tx.events["RefundWithdrawn"]) == {"payer": customer.address, "amount": ONE_ETH}


def test_withdrawing_twice_reverts_and_pays_once(escrow, customer, invoice_id, refunded):
    escrow.withdrawRefund({"from": customer})
    payer_after_first = customer.balance()

    with reverts_with("NothingToWithdraw", customer):
        escrow.withdrawRefund({"from": customer})

    assert customer.balance() == payer_after_first


@pytest.mark.parametrize("caller", ["stranger", "manager", "treasury"])
def test_withdrawing_without_a_credit_reverts(request, escrow, invoice_id, refunded, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("NothingToWithdraw", account):
        escrow.withdrawRefund({"from": account})


def test_withdrawing_a_reclaimed_invoice_pays_the_payer(escrow, customer, invoice_id, disputed):
    sleep_past(DISPUTE_RESOLUTION_SECONDS)
    escrow.reclaim(invoice_id, {"from": customer})
    payer_before = customer.balance()

    tx = escrow.withdrawRefund({"from": customer})

    assert customer.balance() == payer_before + ONE_ETH - gas_cost(tx)


# --- cancel ------------------------------------------------------------------------------------


def test_manager_cancels_an_open_invoice(escrow, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    assert escrow.invoiceOf(invoice_id)[STATUS] == CANCELLED


def test_cancelling_emits_invoice_cancelled(escrow, manager, invoice_id):
    tx = escrow.cancel(invoice_id, {"from": manager})

    assert dict(tx.events["InvoiceCancelled"]) == {"invoiceId": invoice_id, "actor": manager.address}


def test_the_issuer_cancels_an_open_invoice(direct_escrow, issuer, customer):
    invoice_id = direct_escrow.issueInvoice(1, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer}).return_value

    tx = direct_escrow.cancel(invoice_id, {"from": issuer})

    assert direct_escrow.invoiceOf(invoice_id)[STATUS] == CANCELLED
    assert dict(tx.events["InvoiceCancelled"]) == {"invoiceId": invoice_id, "actor": issuer.address}


@pytest.mark.parametrize("caller", ["agent", "admin", "stranger", "customer", "treasury"])
def test_cancelling_is_refused_to_anyone_but_a_manager_or_the_issuer(request, escrow, registry, invoice_id, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.MANAGER_ROLE()):
        escrow.cancel(invoice_id, {"from": account})


@pytest.mark.parametrize(
    "status", [PAID, DISPUTED, RELEASED, REFUNDED], ids=["paid", "disputed", "released", "refunded"]
)
def test_cancelling_an_invoice_that_was_paid_reverts(escrow, customer, manager, invoice_id, paid, status):
    if status == DISPUTED:
        escrow.dispute(invoice_id, {"from": customer})
    elif status == RELEASED:
        escrow.confirmDelivery(invoice_id, {"from": customer})
    elif status == REFUNDED:
        escrow.refund(invoice_id, {"from": manager})

    with reverts_with("InvoiceNotOpen", invoice_id, status):
        escrow.cancel(invoice_id, {"from": manager})


def test_cancelling_twice_reverts(escrow, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    with reverts_with("InvoiceNotOpen", invoice_id, CANCELLED):
        escrow.cancel(invoice_id, {"from": manager})


def test_cancelling_an_unknown_invoice_reverts(escrow, manager):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.cancel(UNKNOWN_INVOICE_ID, {"from": manager})


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


def test_an_undisputed_invoice_has_no_resolution_deadline(escrow, invoice_id, paid):
    assert escrow.disputeDeadlineOf(invoice_id) == 0


def test_nobody_is_owed_a_refund_by_default(escrow, stranger):
    assert escrow.refundOf(stranger) == 0


def test_payment_reference_hashes_chain_id_escrow_and_invoice_id(escrow, invoice_id):
    expected = web3.keccak(encode(["uint256", "address", "uint256"], [chain.id, escrow.address, invoice_id]))

    assert bytes(escrow.paymentReference(invoice_id)) == bytes(expected)


def test_payment_references_differ_between_invoices_and_escrows(escrow, direct_escrow):
    references = {bytes(escrow.paymentReference(1)), bytes(escrow.paymentReference(2))}
    references.add(bytes(direct_escrow.paymentReference(1)))

    assert len(references) == 3
