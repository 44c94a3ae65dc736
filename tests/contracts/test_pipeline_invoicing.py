"""DealPipeline and its escrow: Won issues the invoice, the approval threshold, re-issuing invoices."""

from __future__ import annotations

import pytest
from brownie import chain

from tests.contracts.helpers import (
    APPROVAL_THRESHOLD_WEI,
    CANCELLED,
    CONTRACTING,
    DISPUTE_WINDOW_SECONDS,
    DISPUTED,
    LEAD,
    LOST,
    NEGOTIATION,
    ONE_ETH,
    OPEN,
    PAID,
    PAYMENT_TERM_SECONDS,
    PROPOSAL,
    QUALIFIED,
    REFUNDED,
    RELEASED,
    WON,
    ZERO_ADDRESS,
    random_hash,
    reverts_with,
)

DEAL_VALUE_WEI = ONE_ETH
ABOVE_THRESHOLD_WEI = APPROVAL_THRESHOLD_WEI + 1
UNKNOWN_DEAL_ID = 999
REASON_PRICE = 1

# Fields of the Deal struct, in the order dealOf returns them.
OWNER, CUSTOMER_ID, DISCOUNT_BPS, STAGE, VALUE_WEI, INVOICE_ID, OPENED_AT, CURRENCY = range(8)
# Fields of the escrow's Invoice struct.
AMOUNT, DUE_AT, PAID_AT, STATUS, DEAL_ID, TREASURY_EPOCH, PAYER, INVOICE_CUSTOMER_ID, INVOICE_CURRENCY = range(9)


@pytest.fixture(scope="module")
def at_contracting(pipeline, agent):
    """Open a deal of `agent` and move it to Contracting; returns its id."""

    def _at_contracting(customer_id: int, value: int = DEAL_VALUE_WEI) -> int:
        deal_id = pipeline.openDeal(customer_id, agent, value, {"from": agent}).return_value
        for stage in (QUALIFIED, PROPOSAL, NEGOTIATION, CONTRACTING):
            pipeline.moveStage(deal_id, stage, {"from": agent})
        return deal_id

    return _at_contracting


@pytest.fixture(scope="module")
def contracting_deal_id(at_contracting, customer_id) -> int:
    return at_contracting(customer_id)


@pytest.fixture(scope="module")
def large_deal_id(at_contracting, customer_id) -> int:
    """A deal worth one wei more than the approval threshold, at Contracting."""
    return at_contracting(customer_id, ABOVE_THRESHOLD_WEI)


@pytest.fixture(scope="module")
def won(won_invoice, customer_id) -> tuple[int, int]:
    """(deal_id, invoice_id) of a deal won once per module; its invoice is Open."""
    return won_invoice(customer_id)


# --- reaching Won issues the invoice -----------------------------------------------------------


def test_reaching_won_marks_the_deal_won(pipeline, agent, contracting_deal_id):
    tx = pipeline.moveStage(contracting_deal_id, WON, {"from": agent})

    assert pipeline.dealOf(contracting_deal_id)[STAGE] == WON
    assert dict(tx.events["DealStageChanged"]) == {
        "dealId": contracting_deal_id,
        "from": CONTRACTING,
        "to": WON,
        "actor": agent.address,
        "at": tx.timestamp,
    }


def test_reaching_won_issues_the_invoice_in_the_same_transaction(
    pipeline, escrow, agent, customer, customer_id, contracting_deal_id
):
    invoice_id = escrow.invoiceCount() + 1

    tx = pipeline.moveStage(contracting_deal_id, WON, {"from": agent})

    assert escrow.invoiceCount() == invoice_id
    assert dict(tx.events["InvoiceIssued"]) == {
        "invoiceId": invoice_id,
        "dealId": contracting_deal_id,
        "customerId": customer_id,
        "payer": customer.address,
        "amount": DEAL_VALUE_WEI,
        "dueAt": tx.timestamp + PAYMENT_TERM_SECONDS,
        "paymentReference": escrow.paymentReference(invoice_id),
        "currency": ZERO_ADDRESS,
    }


def test_reaching_won_emits_deal_invoiced(pipeline, escrow, agent, contracting_deal_id):
    tx = pipeline.moveStage(contracting_deal_id, WON, {"from": agent})

    assert dict(tx.events["DealInvoiced"]) == {"dealId": contracting_deal_id, "invoiceId": escrow.invoiceCount()}


def test_a_won_deal_records_and_lists_its_invoice(pipeline, escrow, agent, contracting_deal_id):
    pipeline.moveStage(contracting_deal_id, WON, {"from": agent})

    invoice_id = escrow.invoiceCount()
    assert pipeline.dealOf(contracting_deal_id)[INVOICE_ID] == invoice_id
    assert list(pipeline.invoicesOf(contracting_deal_id)) == [invoice_id]


def test_the_invoice_of_a_won_deal_carries_the_deal_the_customer_and_the_value(
    pipeline, escrow, agent, customer, customer_id, contracting_deal_id
):
    tx = pipeline.moveStage(contracting_deal_id, WON, {"from": agent})

    invoice = tuple(escrow.invoiceOf(pipeline.dealOf(contracting_deal_id)[INVOICE_ID]))
    assert invoice == (
        DEAL_VALUE_WEI,
        tx.timestamp + PAYMENT_TERM_SECONDS,
        0,
        OPEN,
        contracting_deal_id,
        0,
        customer.address,
        customer_id,
        ZERO_ADDRESS,
    )


def test_the_invoice_payer_is_the_wallet_accepted_at_the_time_of_winning(
    pipeline, escrow, agent, customer, customer2, customer_id, contracting_deal_id, bind_wallet
):
    bind_wallet(customer_id, customer2, by=customer)  # the wallet moves itself

    pipeline.moveStage(contracting_deal_id, WON, {"from": agent})

    assert escrow.invoiceOf(pipeline.dealOf(contracting_deal_id)[INVOICE_ID])[PAYER] == customer2.address


def test_a_proposed_wallet_that_has_not_accepted_is_not_invoiced(
    pipeline, escrow, registry, agent, customer, customer2, customer_id, contracting_deal_id
):
    registry.proposeWallet(customer_id, customer2, {"from": customer})

    pipeline.moveStage(contracting_deal_id, WON, {"from": agent})

    assert escrow.invoiceOf(pipeline.dealOf(contracting_deal_id)[INVOICE_ID])[PAYER] == customer.address


def test_reaching_won_for_a_customer_without_a_wallet_reverts(pipeline, escrow, agent, register, at_contracting):
    walletless_id = register()
    deal_id = at_contracting(walletless_id)
    invoices_before = escrow.invoiceCount()

    with reverts_with("CustomerWalletMissing", walletless_id):
        pipeline.moveStage(deal_id, WON, {"from": agent})

    assert pipeline.dealOf(deal_id)[STAGE] == CONTRACTING
    assert escrow.invoiceCount() == invoices_before


def test_reaching_won_for_an_erased_customer_reverts(pipeline, registry, manager, customer_id, contracting_deal_id):
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    with reverts_with("CustomerIsErased", customer_id):
        pipeline.moveStage(contracting_deal_id, WON, {"from": manager})


# --- the approval threshold --------------------------------------------------------------------


def test_the_owner_wins_a_deal_worth_exactly_the_threshold(pipeline, agent, customer_id, at_contracting):
    deal_id = at_contracting(customer_id, APPROVAL_THRESHOLD_WEI)

    pipeline.moveStage(deal_id, WON, {"from": agent})

    assert pipeline.dealOf(deal_id)[STAGE] == WON


def test_the_owner_cannot_win_a_deal_above_the_threshold(pipeline, agent, large_deal_id):
    with reverts_with("DealNeedsApproval", large_deal_id, ABOVE_THRESHOLD_WEI, APPROVAL_THRESHOLD_WEI):
        pipeline.moveStage(large_deal_id, WON, {"from": agent})

    assert pipeline.dealOf(large_deal_id)[STAGE] == CONTRACTING


def test_a_manager_wins_a_deal_above_the_threshold(pipeline, escrow, manager, large_deal_id):
    tx = pipeline.moveStage(large_deal_id, WON, {"from": manager})

    assert pipeline.dealOf(large_deal_id)[STAGE] == WON
    assert tx.events["DealStageChanged"]["actor"] == manager.address
    assert escrow.invoiceOf(tx.events["DealInvoiced"]["invoiceId"])[AMOUNT] == ABOVE_THRESHOLD_WEI


def test_the_threshold_does_not_hold_back_the_open_stages(pipeline, agent, customer_id):
    deal_id = pipeline.openDeal(customer_id, agent, ABOVE_THRESHOLD_WEI, {"from": agent}).return_value

    for stage in (QUALIFIED, PROPOSAL, NEGOTIATION, CONTRACTING):
        pipeline.moveStage(deal_id, stage, {"from": agent})

    assert pipeline.dealOf(deal_id)[STAGE] == CONTRACTING


def test_a_threshold_of_zero_makes_every_won_deal_need_a_manager(pipeline, admin, agent, contracting_deal_id):
    pipeline.setApprovalThreshold(0, {"from": admin})

    with reverts_with("DealNeedsApproval", contracting_deal_id, DEAL_VALUE_WEI, 0):
        pipeline.moveStage(contracting_deal_id, WON, {"from": agent})


def test_a_threshold_of_zero_still_lets_a_manager_win(pipeline, admin, manager, contracting_deal_id):
    pipeline.setApprovalThreshold(0, {"from": admin})

    pipeline.moveStage(contracting_deal_id, WON, {"from": manager})

    assert pipeline.dealOf(contracting_deal_id)[STAGE] == WON


def test_raising_the_threshold_lets_the_owner_win_a_deal_it_could_not(pipeline, admin, agent, large_deal_id):
    pipeline.setApprovalThreshold(ABOVE_THRESHOLD_WEI, {"from": admin})

    pipeline.moveStage(large_deal_id, WON, {"from": agent})

    assert pipeline.dealOf(large_deal_id)[STAGE] == WON


# --- setApprovalThreshold ----------------------------------------------------------------------


def test_admin_sets_the_approval_threshold(pipeline, admin):
    pipeline.setApprovalThreshold(3 * ONE_ETH, {"from": admin})

    assert pipeline.approvalThresholdWei() == 3 * ONE_ETH


def test_setting_the_threshold_emits_approval_threshold_changed(pipeline, admin):
    tx = pipeline.setApprovalThreshold(3 * ONE_ETH, {"from": admin})

    assert dict(tx.events["ApprovalThresholdChanged"]) == {
        "previousWei": APPROVAL_THRESHOLD_WEI,
        "newWei": 3 * ONE_ETH,
        "actor": admin.address,
    }


@pytest.mark.parametrize("caller", ["manager", "agent", "auditor", "stranger", "treasury"])
def test_setting_the_threshold_is_refused_to_non_admins(request, pipeline, registry, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.DEFAULT_ADMIN_ROLE()):
        pipeline.setApprovalThreshold(0, {"from": account})


# --- reissueInvoice ----------------------------------------------------------------------------


def test_manager_reissues_a_won_deals_open_invoice(pipeline, escrow, manager, won):
    deal_id, old_invoice_id = won

    tx = pipeline.reissueInvoice(deal_id, {"from": manager})

    new_invoice_id = tx.return_value
    assert new_invoice_id == escrow.invoiceCount() != old_invoice_id
    assert pipeline.dealOf(deal_id)[INVOICE_ID] == new_invoice_id
    assert escrow.invoiceOf(new_invoice_id)[STATUS] == OPEN


def test_reissuing_cancels_the_open_invoice(pipeline, escrow, manager, won):
    deal_id, old_invoice_id = won

    tx = pipeline.reissueInvoice(deal_id, {"from": manager})

    assert escrow.invoiceOf(old_invoice_id)[STATUS] == CANCELLED
    assert dict(tx.events["InvoiceCancelled"]) == {"invoiceId": old_invoice_id, "actor": pipeline.address}


def test_reissuing_emits_deal_invoiced_and_invoice_issued(pipeline, escrow, manager, customer, customer_id, won):
    deal_id = won[0]

    tx = pipeline.reissueInvoice(deal_id, {"from": manager})

    new_invoice_id = tx.return_value
    assert dict(tx.events["DealInvoiced"]) == {"dealId": deal_id, "invoiceId": new_invoice_id}
    assert dict(tx.events["InvoiceIssued"]) == {
        "invoiceId": new_invoice_id,
        "dealId": deal_id,
        "customerId": customer_id,
        "payer": customer.address,
        "amount": DEAL_VALUE_WEI,
        "dueAt": tx.timestamp + PAYMENT_TERM_SECONDS,
        "paymentReference": escrow.paymentReference(new_invoice_id),
        "currency": ZERO_ADDRESS,
    }


def test_reissuing_after_a_wallet_change_invoices_the_new_wallet(
    pipeline, escrow, manager, customer, customer2, customer_id, bind_wallet, won
):
    deal_id, old_invoice_id = won
    bind_wallet(customer_id, customer2, by=customer)  # the wallet moves itself

    new_invoice_id = pipeline.reissueInvoice(deal_id, {"from": manager}).return_value

    assert escrow.invoiceOf(new_invoice_id)[PAYER] == customer2.address
    assert escrow.invoiceOf(old_invoice_id)[PAYER] == customer.address


def test_invoices_of_lists_every_invoice_of_the_deal_oldest_first(pipeline, manager, won):
    deal_id, first = won

    second = pipeline.reissueInvoice(deal_id, {"from": manager}).return_value
    third = pipeline.reissueInvoice(deal_id, {"from": manager}).return_value

    assert list(pipeline.invoicesOf(deal_id)) == [first, second, third]


def test_the_replaced_invoice_can_no_longer_be_paid(pipeline, escrow, manager, customer, won):
    deal_id, old_invoice_id = won
    pipeline.reissueInvoice(deal_id, {"from": manager})

    with reverts_with("InvoiceIsCancelled", old_invoice_id):
        escrow.pay(old_invoice_id, {"from": customer, "value": DEAL_VALUE_WEI})


def test_the_new_invoice_is_paid_by_the_new_wallet(
    pipeline, escrow, manager, customer, customer2, customer_id, bind_wallet, won
):
    bind_wallet(customer_id, customer2, by=customer)  # the wallet moves itself
    new_invoice_id = pipeline.reissueInvoice(won[0], {"from": manager}).return_value

    escrow.pay(new_invoice_id, {"from": customer2, "value": DEAL_VALUE_WEI})

    assert escrow.invoiceOf(new_invoice_id)[STATUS] == PAID


def test_reissuing_an_invoice_a_manager_already_cancelled_issues_a_new_one(pipeline, escrow, manager, won):
    deal_id, old_invoice_id = won
    escrow.cancel(old_invoice_id, {"from": manager})

    tx = pipeline.reissueInvoice(deal_id, {"from": manager})

    assert "InvoiceCancelled" not in tx.events
    assert escrow.invoiceOf(tx.return_value)[STATUS] == OPEN
    assert list(pipeline.invoicesOf(deal_id)) == [old_invoice_id, tx.return_value]


@pytest.mark.parametrize("caller", ["agent", "agent2", "admin", "stranger", "customer"])
def test_reissuing_is_refused_to_non_managers(request, pipeline, registry, won, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.MANAGER_ROLE()):
        pipeline.reissueInvoice(won[0], {"from": account})


def test_reissuing_for_an_open_deal_reverts(pipeline, manager, contracting_deal_id):
    with reverts_with("DealNotWon", contracting_deal_id, CONTRACTING):
        pipeline.reissueInvoice(contracting_deal_id, {"from": manager})


def test_reissuing_for_a_deal_at_lead_reverts(pipeline, agent, manager, customer_id):
    deal_id = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent}).return_value

    with reverts_with("DealNotWon", deal_id, LEAD):
        pipeline.reissueInvoice(deal_id, {"from": manager})


def test_reissuing_for_a_lost_deal_reverts(pipeline, manager, contracting_deal_id):
    pipeline.markLost(contracting_deal_id, REASON_PRICE, {"from": manager})

    with reverts_with("DealNotWon", contracting_deal_id, LOST):
        pipeline.reissueInvoice(contracting_deal_id, {"from": manager})


@pytest.mark.parametrize("deal_id", [0, UNKNOWN_DEAL_ID])
def test_reissuing_for_an_unknown_deal_reverts(pipeline, manager, deal_id):
    with reverts_with("DealUnknown", deal_id):
        pipeline.reissueInvoice(deal_id, {"from": manager})


def _settle(escrow, customer, manager, invoice_id: int, status: int) -> None:
    """Drive an invoice of DEAL_VALUE_WEI from Open to `status`."""
    escrow.pay(invoice_id, {"from": customer, "value": DEAL_VALUE_WEI})
    if status == DISPUTED:
        escrow.dispute(invoice_id, {"from": customer})
    elif status == RELEASED:
        chain.sleep(DISPUTE_WINDOW_SECONDS + 1)
        escrow.release(invoice_id, {"from": manager})
    elif status == REFUNDED:
        escrow.refund(invoice_id, {"from": manager})


@pytest.mark.parametrize(
    "status",
    [PAID, DISPUTED, RELEASED, REFUNDED],
    ids=["paid", "disputed", "released", "refunded"],
)
def test_reissuing_a_paid_invoice_reverts(pipeline, escrow, manager, customer, won, status):
    deal_id, invoice_id = won
    _settle(escrow, customer, manager, invoice_id, status)

    with reverts_with("DealInvoiceSettled", deal_id, invoice_id):
        pipeline.reissueInvoice(deal_id, {"from": manager})

    assert list(pipeline.invoicesOf(deal_id)) == [invoice_id]


def test_reissuing_for_an_erased_customer_reverts(pipeline, registry, manager, customer_id, won):
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    with reverts_with("CustomerIsErased", customer_id):
        pipeline.reissueInvoice(won[0], {"from": manager})
