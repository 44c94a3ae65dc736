"""InvoiceEscrow in ERC-20s: the allow-list, token invoices from the pipeline, payToken and
payTokenWithPermit, hostile tokens, release, refunds, sweeps, and the per-token balance invariant."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import pytest
from brownie import chain, web3
from eth_account import Account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.contracts.helpers import (
    CANCELLED,
    CONTRACTING,
    DISPUTE_RESOLUTION_SECONDS,
    DISPUTE_WINDOW_SECONDS,
    NEGOTIATION,
    ONE_ETH,
    OPEN,
    PAID,
    PAYMENT_TERM_SECONDS,
    PROPOSAL,
    QUALIFIED,
    REFUNDED,
    RELEASED,
    TREASURY_DELAY_SECONDS,
    WON,
    ZERO_ADDRESS,
    private_key_of,
    reverts_with,
)

TOKEN_DECIMALS = 6
TOKEN_AMOUNT = 1_250 * 10**TOKEN_DECIMALS
MINTED = 1_000_000 * 10**TOKEN_DECIMALS
PERMIT_LIFETIME_SECONDS = 3600
PAID_OFF_CHAIN = 7
METHOD_BANK_TRANSFER = 1

# Fields of the Deal and Invoice structs, in the order dealOf and invoiceOf return them.
DEAL_DISCOUNT_BPS, DEAL_STAGE, DEAL_VALUE, DEAL_INVOICE_ID, DEAL_CURRENCY = 2, 3, 4, 5, 7
AMOUNT, DUE_AT, PAID_AT, STATUS, DEAL_ID, TREASURY_EPOCH, PAYER, CUSTOMER_ID, CURRENCY = range(9)

PERMIT_TYPES = {
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


def sign_permit(token, owner, spender, value: int, deadline: int | None = None, key: bytes | None = None):
    """`owner`'s (or `key`'s) EIP-2612 permit for `spender`: (deadline, v, r, s)."""
    deadline = chain[-1].timestamp + PERMIT_LIFETIME_SECONDS if deadline is None else deadline
    domain = {"name": token.name(), "version": "1", "chainId": chain.id, "verifyingContract": token.address}
    message = {
        "owner": owner.address,
        "spender": str(getattr(spender, "address", spender)),
        "value": value,
        "nonce": token.nonces(owner),
        "deadline": deadline,
    }
    signed = Account.sign_typed_data(key or private_key_of(owner), domain, PERMIT_TYPES, message)
    return deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def sleep_past(seconds: int) -> None:
    chain.sleep(seconds + 1)
    chain.mine()


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stablecoin(TestStablecoin, escrow, admin, customer):
    """A 6-decimal stablecoin on the escrow's allow-list; the customer holds MINTED of it."""
    token = TestStablecoin.deploy("Test Dollar", "TUSD", {"from": admin})
    escrow.allowToken(token, True, {"from": admin})
    token.mint(customer, MINTED, {"from": admin})
    return token


@pytest.fixture(scope="module")
def unlisted_coin(TestStablecoin, admin, customer):
    """A stablecoin the escrow was never told about."""
    token = TestStablecoin.deploy("Other Dollar", "ODOL", {"from": admin})
    token.mint(customer, MINTED, {"from": admin})
    return token


@pytest.fixture(scope="module")
def to_contracting(pipeline, agent):
    """Open a deal of `agent` in `currency` and move it to Contracting; returns its id."""

    def _to_contracting(customer_id: int, currency, value: int = TOKEN_AMOUNT) -> int:
        deal_id = pipeline.openDealIn(customer_id, agent, value, currency, {"from": agent}).return_value
        for stage in (QUALIFIED, PROPOSAL, NEGOTIATION, CONTRACTING):
            pipeline.moveStage(deal_id, stage, {"from": agent})
        return deal_id

    return _to_contracting


@pytest.fixture(scope="module")
def win_in(pipeline, manager, to_contracting):
    """A deal in `currency` won (by the manager: a token deal needs one); returns (deal_id, invoice_id)."""

    def _win(customer_id: int, currency, value: int = TOKEN_AMOUNT) -> tuple[int, int]:
        deal_id = to_contracting(customer_id, currency, value)
        pipeline.moveStage(deal_id, WON, {"from": manager})
        return deal_id, pipeline.dealOf(deal_id)[DEAL_INVOICE_ID]

    return _win


@pytest.fixture
def token_invoice(win_in, customer_id, stablecoin) -> int:
    """An open invoice of TOKEN_AMOUNT stablecoin, payable by `customer`."""
    return win_in(customer_id, stablecoin)[1]


@pytest.fixture
def eth_invoice(won_invoice, customer_id) -> int:
    """An open invoice of ONE_ETH, payable by `customer`."""
    return won_invoice(customer_id)[1]


@pytest.fixture
def token_paid(escrow, stablecoin, customer, token_invoice):
    """The token invoice approved and paid by its payer; returns the payment transaction."""
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})
    return escrow.payToken(token_invoice, {"from": customer})


def hostile_invoice(escrow, admin, customer, customer_id, win_in, token) -> int:
    escrow.allowToken(token, True, {"from": admin})
    return win_in(customer_id, token)[1]


# --- allowToken --------------------------------------------------------------------------------


def test_an_admin_allows_a_token_and_the_escrow_says_so(escrow, admin, unlisted_coin):
    tx = escrow.allowToken(unlisted_coin, True, {"from": admin})

    assert escrow.isTokenAllowed(unlisted_coin)
    assert dict(tx.events["TokenAllowed"]) == {"token": unlisted_coin.address, "allowed": True, "actor": admin.address}


def test_an_admin_takes_a_token_off_the_list(escrow, admin, stablecoin):
    tx = escrow.allowToken(stablecoin, False, {"from": admin})

    assert not escrow.isTokenAllowed(stablecoin)
    assert dict(tx.events["TokenAllowed"]) == {"token": stablecoin.address, "allowed": False, "actor": admin.address}


def test_a_token_nobody_allowed_is_not_allowed(escrow, unlisted_coin):
    assert not escrow.isTokenAllowed(unlisted_coin)
    assert not escrow.isTokenAllowed(ZERO_ADDRESS)


@pytest.mark.parametrize("caller", ["agent", "manager", "auditor", "customer", "stranger", "treasury"])
def test_allowing_a_token_is_refused_to_anyone_but_an_admin(request, escrow, registry, unlisted_coin, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.DEFAULT_ADMIN_ROLE()):
        escrow.allowToken(unlisted_coin, True, {"from": account})


def test_allowing_the_zero_address_reverts(escrow, admin):
    with reverts_with("TokenInvalid", ZERO_ADDRESS):
        escrow.allowToken(ZERO_ADDRESS, True, {"from": admin})


def test_allowing_an_account_without_code_reverts(escrow, admin, stranger):
    with reverts_with("TokenInvalid", stranger):
        escrow.allowToken(stranger, True, {"from": admin})


@pytest.mark.parametrize("allowed", [True, False])
def test_the_loyalty_points_token_cannot_be_listed_or_delisted(LoyaltyPoints, escrow, admin, allowed):
    points = LoyaltyPoints.deploy(escrow, {"from": admin})
    escrow.setLoyaltyProgram(points, {"from": admin})

    with reverts_with("TokenInvalid", points):
        escrow.allowToken(points, allowed, {"from": admin})


# --- deals and invoices in a token ---------------------------------------------------------------


def test_a_deal_opened_in_an_allowed_token_records_its_currency(pipeline, agent, customer_id, stablecoin):
    tx = pipeline.openDealIn(customer_id, agent, TOKEN_AMOUNT, stablecoin, {"from": agent})

    deal = pipeline.dealOf(tx.return_value)
    assert (deal[DEAL_VALUE], deal[DEAL_CURRENCY], deal[DEAL_DISCOUNT_BPS]) == (TOKEN_AMOUNT, stablecoin.address, 0)
    assert dict(tx.events["DealCurrency"]) == {"dealId": tx.return_value, "currency": stablecoin.address}


def test_a_token_deal_reaching_won_issues_an_invoice_in_that_token(
    pipeline, escrow, manager, customer, customer_id, stablecoin, to_contracting
):
    deal_id = to_contracting(customer_id, stablecoin)
    invoice_id = escrow.invoiceCount() + 1

    tx = pipeline.moveStage(deal_id, WON, {"from": manager})

    assert dict(tx.events["InvoiceIssued"]) == {
        "invoiceId": invoice_id,
        "dealId": deal_id,
        "customerId": customer_id,
        "payer": customer.address,
        "amount": TOKEN_AMOUNT,
        "dueAt": tx.timestamp + PAYMENT_TERM_SECONDS,
        "paymentReference": escrow.paymentReference(invoice_id),
        "currency": stablecoin.address,
    }
    assert tuple(escrow.invoiceOf(invoice_id)) == (
        TOKEN_AMOUNT,
        tx.timestamp + PAYMENT_TERM_SECONDS,
        0,
        OPEN,
        deal_id,
        0,
        customer.address,
        customer_id,
        stablecoin.address,
    )
    assert pipeline.dealOf(deal_id)[DEAL_INVOICE_ID] == invoice_id


def test_issuing_a_token_invoice_holds_nothing(escrow, stablecoin, token_invoice):
    assert (escrow.tokenLiabilities(stablecoin), stablecoin.balanceOf(escrow), escrow.liabilitiesWei()) == (0, 0, 0)


def test_an_agent_cannot_take_a_token_deal_to_won(pipeline, agent, customer_id, stablecoin, to_contracting):
    deal_id = to_contracting(customer_id, stablecoin)

    with reverts_with("DealNeedsApproval", deal_id, TOKEN_AMOUNT, pipeline.approvalThresholdWei()):
        pipeline.moveStage(deal_id, WON, {"from": agent})


def test_opening_a_deal_in_a_token_not_allowed_reverts(pipeline, agent, customer_id, unlisted_coin):
    with reverts_with("TokenNotAllowed", unlisted_coin):
        pipeline.openDealIn(customer_id, agent, TOKEN_AMOUNT, unlisted_coin, {"from": agent})


def test_a_token_taken_off_the_list_before_won_refuses_the_invoice(
    pipeline, escrow, admin, manager, customer_id, stablecoin, to_contracting
):
    deal_id = to_contracting(customer_id, stablecoin)
    escrow.allowToken(stablecoin, False, {"from": admin})

    with reverts_with("TokenNotAllowed", stablecoin):
        pipeline.moveStage(deal_id, WON, {"from": manager})
    assert pipeline.dealOf(deal_id)[DEAL_STAGE] == CONTRACTING


def test_an_invoice_issued_before_its_token_left_the_list_stays_payable(
    escrow, admin, customer, stablecoin, token_invoice
):
    escrow.allowToken(stablecoin, False, {"from": admin})
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    escrow.payToken(token_invoice, {"from": customer})

    assert escrow.invoiceOf(token_invoice)[STATUS] == PAID


def test_reissuing_an_invoice_in_a_token_taken_off_the_list_reverts(
    pipeline, escrow, admin, manager, stablecoin, customer_id, win_in
):
    deal_id, invoice_id = win_in(customer_id, stablecoin)
    escrow.allowToken(stablecoin, False, {"from": admin})

    with reverts_with("TokenNotAllowed", stablecoin):
        pipeline.reissueInvoice(deal_id, {"from": manager})
    assert escrow.invoiceOf(invoice_id)[STATUS] == OPEN


# --- payToken ----------------------------------------------------------------------------------


def test_payer_pays_a_token_invoice_after_approving_it(escrow, stablecoin, customer, token_invoice):
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    tx = escrow.payToken(token_invoice, {"from": customer})

    assert (stablecoin.balanceOf(customer), stablecoin.balanceOf(escrow)) == (MINTED - TOKEN_AMOUNT, TOKEN_AMOUNT)
    invoice = escrow.invoiceOf(token_invoice)
    assert (invoice[STATUS], invoice[PAID_AT], invoice[TREASURY_EPOCH]) == (PAID, tx.timestamp, 1)
    assert stablecoin.allowance(customer, escrow) == 0


def test_paying_a_token_invoice_emits_invoice_paid(escrow, customer, treasury, token_invoice, token_paid):
    assert dict(token_paid.events["InvoicePaid"]) == {
        "invoiceId": token_invoice,
        "payer": customer.address,
        "treasury": treasury.address,
        "amount": TOKEN_AMOUNT,
        "at": token_paid.timestamp,
    }


def test_a_paid_token_invoice_counts_as_a_token_liability_only(escrow, stablecoin, unlisted_coin, token_paid):
    assert escrow.tokenLiabilities(stablecoin) == TOKEN_AMOUNT
    assert (escrow.liabilitiesWei(), escrow.balance(), escrow.tokenLiabilities(unlisted_coin)) == (0, 0, 0)


def test_paying_a_token_invoice_without_an_allowance_reverts(escrow, stablecoin, customer, token_invoice):
    with reverts_with("ERC20InsufficientAllowance", escrow, 0, TOKEN_AMOUNT):
        escrow.payToken(token_invoice, {"from": customer})
    assert escrow.invoiceOf(token_invoice)[STATUS] == OPEN


def test_paying_a_token_invoice_from_another_wallet_reverts(escrow, stablecoin, customer, stranger, token_invoice):
    stablecoin.mint(stranger, TOKEN_AMOUNT, {"from": stranger})
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": stranger})

    with reverts_with("InvoicePayerMismatch", token_invoice, customer, stranger):
        escrow.payToken(token_invoice, {"from": stranger})


def test_paying_a_token_invoice_twice_reverts(escrow, stablecoin, customer, token_invoice, token_paid):
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    with reverts_with("InvoiceAlreadyPaid", token_invoice):
        escrow.payToken(token_invoice, {"from": customer})


def test_paying_a_cancelled_token_invoice_reverts(escrow, stablecoin, manager, customer, token_invoice):
    escrow.cancel(token_invoice, {"from": manager})
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    with reverts_with("InvoiceIsCancelled", token_invoice):
        escrow.payToken(token_invoice, {"from": customer})
    assert escrow.invoiceOf(token_invoice)[STATUS] == CANCELLED


def test_paying_an_unknown_invoice_with_tokens_reverts(escrow, customer):
    with reverts_with("InvoiceUnknown", 999):
        escrow.payToken(999, {"from": customer})


@pytest.mark.parametrize("value", [0, TOKEN_AMOUNT], ids=["no-eth", "the-amount-in-wei"])
def test_paying_a_token_invoice_with_ether_reverts(escrow, stablecoin, customer, token_invoice, value):
    with reverts_with("InvoiceCurrencyMismatch", token_invoice, stablecoin):
        escrow.pay(token_invoice, {"from": customer, "value": value})


def test_paying_an_ether_invoice_with_tokens_reverts(escrow, stablecoin, customer, eth_invoice):
    stablecoin.approve(escrow, ONE_ETH, {"from": customer})

    with reverts_with("InvoiceCurrencyMismatch", eth_invoice, ZERO_ADDRESS):
        escrow.payToken(eth_invoice, {"from": customer})


def test_paying_a_token_invoice_with_points_and_ether_reverts(escrow, stablecoin, customer, token_invoice):
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    with reverts_with("InvoiceCurrencyMismatch", token_invoice, stablecoin):
        escrow.payWithPoints(token_invoice, 0, {"from": customer, "value": 1})


def test_pay_with_no_points_and_no_ether_pays_a_token_invoice_in_full(escrow, stablecoin, customer, token_invoice):
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    tx = escrow.payWithPoints(token_invoice, 0, {"from": customer})

    assert tx.events["InvoicePaid"]["amount"] == TOKEN_AMOUNT
    assert "PointsRedeemed" not in tx.events
    assert stablecoin.balanceOf(escrow) == escrow.tokenLiabilities(stablecoin) == TOKEN_AMOUNT


# --- payTokenWithPermit --------------------------------------------------------------------------


def test_payer_pays_a_token_invoice_with_a_permit_in_one_transaction(escrow, stablecoin, customer, token_invoice):
    deadline, v, r, s = sign_permit(stablecoin, customer, escrow, TOKEN_AMOUNT)

    tx = escrow.payTokenWithPermit(token_invoice, 0, deadline, v, r, s, {"from": customer})

    assert (stablecoin.balanceOf(customer), stablecoin.balanceOf(escrow)) == (MINTED - TOKEN_AMOUNT, TOKEN_AMOUNT)
    assert escrow.invoiceOf(token_invoice)[STATUS] == PAID
    assert (stablecoin.nonces(customer), stablecoin.allowance(customer, escrow)) == (1, 0)
    assert tx.events["InvoicePaid"]["amount"] == TOKEN_AMOUNT
    assert escrow.tokenLiabilities(stablecoin) == TOKEN_AMOUNT


def test_a_permit_submitted_first_by_someone_else_does_not_stop_the_payment(
    escrow, stablecoin, customer, stranger, token_invoice
):
    deadline, v, r, s = sign_permit(stablecoin, customer, escrow, TOKEN_AMOUNT)
    stablecoin.permit(customer, escrow, TOKEN_AMOUNT, deadline, v, r, s, {"from": stranger})

    escrow.payTokenWithPermit(token_invoice, 0, deadline, v, r, s, {"from": customer})

    assert escrow.invoiceOf(token_invoice)[STATUS] == PAID
    assert stablecoin.balanceOf(escrow) == TOKEN_AMOUNT


def test_a_permit_signed_by_another_key_without_an_allowance_reverts(
    escrow, stablecoin, customer, stranger, token_invoice
):
    deadline, v, r, s = sign_permit(stablecoin, customer, escrow, TOKEN_AMOUNT, key=private_key_of(stranger))

    with reverts_with("PermitInvalid", stablecoin):
        escrow.payTokenWithPermit(token_invoice, 0, deadline, v, r, s, {"from": customer})
    assert escrow.invoiceOf(token_invoice)[STATUS] == OPEN


def test_a_permit_for_less_than_the_amount_reverts(escrow, stablecoin, customer, token_invoice):
    deadline, v, r, s = sign_permit(stablecoin, customer, escrow, TOKEN_AMOUNT - 1)

    with reverts_with("PermitInvalid", stablecoin):
        escrow.payTokenWithPermit(token_invoice, 0, deadline, v, r, s, {"from": customer})


def test_an_expired_permit_without_an_allowance_reverts(escrow, stablecoin, customer, token_invoice):
    deadline, v, r, s = sign_permit(stablecoin, customer, escrow, TOKEN_AMOUNT, deadline=chain[-1].timestamp)
    sleep_past(1)

    with reverts_with("PermitInvalid", stablecoin):
        escrow.payTokenWithPermit(token_invoice, 0, deadline, v, r, s, {"from": customer})


def test_a_bad_permit_is_overlooked_when_an_allowance_covers_the_amount(escrow, stablecoin, customer, token_invoice):
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    escrow.payTokenWithPermit(token_invoice, 0, 0, 27, b"\x01" * 32, b"\x02" * 32, {"from": customer})

    assert escrow.invoiceOf(token_invoice)[STATUS] == PAID


def test_paying_an_ether_invoice_with_a_permit_reverts(escrow, stablecoin, customer, eth_invoice):
    deadline, v, r, s = sign_permit(stablecoin, customer, escrow, ONE_ETH)

    with reverts_with("InvoiceCurrencyMismatch", eth_invoice, ZERO_ADDRESS):
        escrow.payTokenWithPermit(eth_invoice, 0, deadline, v, r, s, {"from": customer})


def test_a_permit_from_another_wallet_reverts(escrow, stablecoin, customer, stranger, token_invoice):
    deadline, v, r, s = sign_permit(stablecoin, stranger, escrow, TOKEN_AMOUNT)

    with reverts_with("InvoicePayerMismatch", token_invoice, customer, stranger):
        escrow.payTokenWithPermit(token_invoice, 0, deadline, v, r, s, {"from": stranger})


# --- hostile tokens ----------------------------------------------------------------------------


def test_a_fee_on_transfer_token_payment_is_refused_and_nothing_changes(
    FeeOnTransferToken, escrow, admin, customer, customer_id, win_in
):
    token = FeeOnTransferToken.deploy({"from": admin})
    invoice_id = hostile_invoice(escrow, admin, customer, customer_id, win_in, token)
    token.mint(customer, TOKEN_AMOUNT, {"from": customer})
    token.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    with reverts_with("TokenTransferShort", token, TOKEN_AMOUNT, TOKEN_AMOUNT - TOKEN_AMOUNT // 100):
        escrow.payToken(invoice_id, {"from": customer})

    assert escrow.invoiceOf(invoice_id)[STATUS] == OPEN
    assert (token.balanceOf(customer), token.balanceOf(escrow), escrow.tokenLiabilities(token)) == (TOKEN_AMOUNT, 0, 0)
    assert token.allowance(customer, escrow) == TOKEN_AMOUNT


def test_a_token_returning_false_for_want_of_balance_is_refused(
    FalseReturningToken, escrow, admin, customer, customer_id, win_in
):
    token = FalseReturningToken.deploy({"from": admin})
    invoice_id = hostile_invoice(escrow, admin, customer, customer_id, win_in, token)
    token.approve(escrow, TOKEN_AMOUNT, {"from": customer})

    with reverts_with("SafeERC20FailedOperation", token):
        escrow.payToken(invoice_id, {"from": customer})
    assert (escrow.invoiceOf(invoice_id)[STATUS], escrow.tokenLiabilities(token)) == (OPEN, 0)


def test_a_token_returning_false_on_every_transfer_is_refused(
    FalseReturningToken, escrow, admin, customer, customer_id, win_in
):
    token = FalseReturningToken.deploy({"from": admin})
    invoice_id = hostile_invoice(escrow, admin, customer, customer_id, win_in, token)
    token.mint(customer, TOKEN_AMOUNT, {"from": customer})
    token.approve(escrow, TOKEN_AMOUNT, {"from": customer})
    token.setRefuseAll(True, {"from": admin})

    with reverts_with("SafeERC20FailedOperation", token):
        escrow.payToken(invoice_id, {"from": customer})
    assert (token.balanceOf(customer), token.balanceOf(escrow)) == (TOKEN_AMOUNT, 0)


def test_a_release_the_token_refuses_reverts_and_the_invoice_stays_paid(
    FalseReturningToken, escrow, admin, customer, customer_id, win_in
):
    token = FalseReturningToken.deploy({"from": admin})
    invoice_id = hostile_invoice(escrow, admin, customer, customer_id, win_in, token)
    token.mint(customer, TOKEN_AMOUNT, {"from": customer})
    token.approve(escrow, TOKEN_AMOUNT, {"from": customer})
    escrow.payToken(invoice_id, {"from": customer})
    token.setRefuseAll(True, {"from": admin})

    with reverts_with("SafeERC20FailedOperation", token):
        escrow.confirmDelivery(invoice_id, {"from": customer})
    assert (escrow.invoiceOf(invoice_id)[STATUS], escrow.tokenLiabilities(token)) == (PAID, TOKEN_AMOUNT)


# --- release -----------------------------------------------------------------------------------


def test_confirming_a_token_invoice_sends_the_tokens_to_the_treasury(
    escrow, stablecoin, customer, treasury, token_invoice, token_paid
):
    tx = escrow.confirmDelivery(token_invoice, {"from": customer})

    assert (stablecoin.balanceOf(treasury), stablecoin.balanceOf(escrow)) == (TOKEN_AMOUNT, 0)
    assert escrow.tokenLiabilities(stablecoin) == 0
    assert escrow.invoiceOf(token_invoice)[STATUS] == RELEASED
    assert dict(tx.events["InvoiceReleased"]) == {
        "invoiceId": token_invoice,
        "treasury": treasury.address,
        "actor": customer.address,
        "amount": TOKEN_AMOUNT,
    }


def test_a_token_invoice_is_released_to_the_treasury_fixed_at_payment(
    escrow, stablecoin, admin, manager, customer, treasury, agent2, token_invoice, token_paid
):
    escrow.proposeTreasury(agent2, {"from": admin})
    sleep_past(TREASURY_DELAY_SECONDS)
    escrow.acceptTreasury({"from": agent2})

    tx = escrow.release(token_invoice, {"from": manager})

    assert tx.events["InvoiceReleased"]["treasury"] == treasury.address
    assert (stablecoin.balanceOf(treasury), stablecoin.balanceOf(agent2)) == (TOKEN_AMOUNT, 0)


def test_a_token_invoice_is_not_released_inside_the_dispute_window(escrow, customer, token_invoice, token_paid):
    with reverts_with("DisputeWindowOpen", token_invoice, token_paid.timestamp + DISPUTE_WINDOW_SECONDS):
        escrow.release(token_invoice, {"from": customer})


def test_a_token_invoice_released_after_the_window_by_its_payer(
    escrow, stablecoin, customer, treasury, token_invoice, token_paid
):
    sleep_past(DISPUTE_WINDOW_SECONDS)

    escrow.release(token_invoice, {"from": customer})

    assert stablecoin.balanceOf(treasury) == TOKEN_AMOUNT
    assert escrow.tokenLiabilities(stablecoin) == 0


# --- refunds -----------------------------------------------------------------------------------


def test_refunding_a_token_invoice_credits_the_payer_in_that_token(
    escrow, stablecoin, manager, customer, token_invoice, token_paid
):
    tx = escrow.refund(token_invoice, {"from": manager})

    assert escrow.tokenRefundOf(stablecoin, customer) == TOKEN_AMOUNT
    assert (escrow.refundOf(customer), escrow.liabilitiesWei()) == (0, 0)
    assert escrow.tokenLiabilities(stablecoin) == stablecoin.balanceOf(escrow) == TOKEN_AMOUNT
    assert escrow.invoiceOf(token_invoice)[STATUS] == REFUNDED
    assert dict(tx.events["InvoiceRefunded"]) == {
        "invoiceId": token_invoice,
        "payer": customer.address,
        "actor": manager.address,
        "amount": TOKEN_AMOUNT,
    }


def test_the_payer_withdraws_a_token_refund(escrow, stablecoin, manager, customer, token_invoice, token_paid):
    escrow.refund(token_invoice, {"from": manager})

    tx = escrow.withdrawTokenRefund(stablecoin, {"from": customer})

    assert (stablecoin.balanceOf(customer), stablecoin.balanceOf(escrow)) == (MINTED, 0)
    assert (escrow.tokenRefundOf(stablecoin, customer), escrow.tokenLiabilities(stablecoin)) == (0, 0)
    assert dict(tx.events["TokenRefundWithdrawn"]) == {
        "token": stablecoin.address,
        "payer": customer.address,
        "amount": TOKEN_AMOUNT,
    }


def test_a_reclaimed_token_invoice_is_credited_in_that_token(escrow, stablecoin, customer, token_invoice, token_paid):
    escrow.dispute(token_invoice, {"from": customer})
    sleep_past(DISPUTE_RESOLUTION_SECONDS)

    escrow.reclaim(token_invoice, {"from": customer})

    assert escrow.tokenRefundOf(stablecoin, customer) == TOKEN_AMOUNT
    assert escrow.refundOf(customer) == 0


def test_withdrawing_a_token_refund_twice_reverts(escrow, stablecoin, manager, customer, token_invoice, token_paid):
    escrow.refund(token_invoice, {"from": manager})
    escrow.withdrawTokenRefund(stablecoin, {"from": customer})

    with reverts_with("NothingToWithdraw", customer):
        escrow.withdrawTokenRefund(stablecoin, {"from": customer})


def test_withdrawing_a_token_refund_with_nothing_credited_reverts(escrow, stablecoin, stranger):
    with reverts_with("NothingToWithdraw", stranger):
        escrow.withdrawTokenRefund(stablecoin, {"from": stranger})


def test_a_token_refund_is_not_withdrawn_in_ether_or_another_token(
    escrow, stablecoin, unlisted_coin, manager, customer, token_invoice, token_paid
):
    escrow.refund(token_invoice, {"from": manager})

    with reverts_with("NothingToWithdraw", customer):
        escrow.withdrawRefund({"from": customer})
    with reverts_with("NothingToWithdraw", customer):
        escrow.withdrawTokenRefund(unlisted_coin, {"from": customer})
    assert escrow.tokenRefundOf(stablecoin, customer) == TOKEN_AMOUNT


# --- sweepToken --------------------------------------------------------------------------------


def test_sweeping_sends_only_tokens_sent_in_directly_to_the_treasury(
    escrow, stablecoin, customer, stranger, treasury, token_paid
):
    stablecoin.transfer(escrow, 7 * 10**TOKEN_DECIMALS, {"from": customer})

    tx = escrow.sweepToken(stablecoin, {"from": stranger})

    assert stablecoin.balanceOf(treasury) == 7 * 10**TOKEN_DECIMALS
    assert stablecoin.balanceOf(escrow) == escrow.tokenLiabilities(stablecoin) == TOKEN_AMOUNT
    assert dict(tx.events["ForcedTokensSwept"]) == {
        "token": stablecoin.address,
        "treasury": treasury.address,
        "amount": 7 * 10**TOKEN_DECIMALS,
        "actor": stranger.address,
    }


def test_sweeping_when_the_balance_is_all_owed_reverts(escrow, stablecoin, stranger, token_paid):
    with reverts_with("NothingToSweep"):
        escrow.sweepToken(stablecoin, {"from": stranger})


def test_sweeping_a_token_the_escrow_never_held_reverts(escrow, unlisted_coin, stranger):
    with reverts_with("NothingToSweep"):
        escrow.sweepToken(unlisted_coin, {"from": stranger})


def test_sweeping_the_zero_address_reverts(escrow, stranger):
    with reverts_with("TokenInvalid", ZERO_ADDRESS):
        escrow.sweepToken(ZERO_ADDRESS, {"from": stranger})


def test_a_token_sweep_leaves_ether_alone(escrow, stablecoin, customer, stranger, eth_invoice):
    escrow.pay(eth_invoice, {"from": customer, "value": ONE_ETH})
    stablecoin.transfer(escrow, 1, {"from": customer})

    escrow.sweepToken(stablecoin, {"from": stranger})

    assert (escrow.balance(), escrow.liabilitiesWei()) == (ONE_ETH, ONE_ETH)


# --- the per-token invariant, under random operations --------------------------------------------

MACHINE_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
ETH = ZERO_ADDRESS
AMOUNTS = (1, 10**6, 3 * 10**9)
INDICES = st.integers(0, 99)


@dataclass
class TokenInvoiceModel:
    invoice_id: int
    payer: object
    amount: int
    currency: str
    status: int = OPEN


class CurrencyMachine(RuleBasedStateMachine):
    """Random issue/pay/confirm/refund/withdraw/cancel/off-chain over invoices in ETH and two
    tokens, with tokens sent in directly and swept. After every step, per currency: the escrow's
    balance is at least its liabilities and exceeds them by exactly what was sent in and not swept,
    the liabilities and refund credits match the model, and every watched account holds in each
    currency exactly what the model says (a payment in one never moves another)."""

    escrow = issuer = manager = stranger = sender = None
    tokens: tuple = ()
    payers: tuple = ()
    treasury = None
    preloaded: tuple[TokenInvoiceModel, ...] = ()  # made before the snapshot, as they were then
    outcomes: Counter = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.invoices = [replace(invoice) for invoice in self.preloaded]
        self.currencies = (ETH, *(token.address for token in self.tokens))
        self.token_of = {token.address: token for token in self.tokens}
        self.refunds = {(c, p.address): 0 for c in self.currencies for p in self.payers}
        self.extra = dict.fromkeys(self.currencies, 0)
        self.watched = (*self.payers, self.treasury)
        accounts = (*self.watched, self.escrow)
        self.start = {(c, a.address): self._balance(c, a.address) for c in self.currencies for a in accounts}
        self.delta = dict.fromkeys(self.start, 0)

    def teardown(self) -> None:
        chain.revert()

    def _balance(self, currency: str, address: str) -> int:
        return web3.eth.get_balance(address) if currency == ETH else self.token_of[currency].balanceOf(address)

    def _move(self, currency: str, source, target, amount: int) -> None:
        self.delta[(currency, source.address)] -= amount
        self.delta[(currency, target.address)] += amount

    def _pick(self, index: int, aimed: bool, suited: tuple[int, ...]) -> TokenInvoiceModel | None:
        candidates = [i for i in self.invoices if i.status in suited] if aimed else []
        candidates = candidates or self.invoices
        return candidates[index % len(candidates)] if candidates else None

    @rule(currency_index=st.integers(0, 2), payer_index=st.integers(0, 1), amount=st.sampled_from(AMOUNTS))
    def issue(self, currency_index: int, payer_index: int, amount: int) -> None:
        currency, payer = self.currencies[currency_index], self.payers[payer_index]

        tx = self.escrow.issueInvoice(1, 1, payer, amount, currency, {"from": self.issuer})

        assert tx.events["InvoiceIssued"]["currency"] == currency
        self.invoices.append(TokenInvoiceModel(tx.return_value, payer, amount, currency))

    @rule(index=INDICES, aimed=st.booleans(), other_currency=st.sampled_from((False, False, True)))
    def pay(self, index: int, aimed: bool, other_currency: bool) -> None:
        invoice = self._pick(index, aimed, (OPEN,))
        if invoice is None:
            return
        sender = {"from": invoice.payer}
        paying_eth = (invoice.currency == ETH) != other_currency

        def send():
            if paying_eth:
                return self.escrow.pay(invoice.invoice_id, {**sender, "value": invoice.amount})
            return self.escrow.payToken(invoice.invoice_id, sender)

        # A settled invoice is refused for its status before its currency is looked at.
        if invoice.status == CANCELLED:
            with reverts_with("InvoiceIsCancelled", invoice.invoice_id):
                send()
        elif invoice.status == PAID_OFF_CHAIN:
            with reverts_with("InvoiceSettledOffChain", invoice.invoice_id):
                send()
        elif invoice.status != OPEN:
            with reverts_with("InvoiceAlreadyPaid", invoice.invoice_id):
                send()
        elif other_currency:
            with reverts_with("InvoiceCurrencyMismatch", invoice.invoice_id, invoice.currency):
                send()
        else:
            tx = send()
            assert tx.events["InvoicePaid"]["amount"] == invoice.amount
            invoice.status = PAID
            self._move(invoice.currency, invoice.payer, self.escrow, invoice.amount)
            self.outcomes["paid" if paying_eth else "paid in a token"] += 1

    @rule(index=INDICES, aimed=st.booleans())
    def confirm_delivery(self, index: int, aimed: bool) -> None:
        invoice = self._pick(index, aimed, (PAID,))
        if invoice is None:
            return
        if invoice.status != PAID:
            with reverts_with("InvoiceNotInEscrow", invoice.invoice_id, invoice.status):
                self.escrow.confirmDelivery(invoice.invoice_id, {"from": invoice.payer})
            return
        tx = self.escrow.confirmDelivery(invoice.invoice_id, {"from": invoice.payer})
        assert tx.events["InvoiceReleased"]["treasury"] == self.treasury.address
        invoice.status = RELEASED
        self._move(invoice.currency, self.escrow, self.treasury, invoice.amount)
        self.outcomes["released"] += 1

    @rule(index=INDICES, aimed=st.booleans())
    def refund(self, index: int, aimed: bool) -> None:
        invoice = self._pick(index, aimed, (PAID,))
        if invoice is None:
            return
        if invoice.status != PAID:
            with reverts_with("InvoiceNotInEscrow", invoice.invoice_id, invoice.status):
                self.escrow.refund(invoice.invoice_id, {"from": self.manager})
            return
        self.escrow.refund(invoice.invoice_id, {"from": self.manager})
        invoice.status = REFUNDED
        self.refunds[(invoice.currency, invoice.payer.address)] += invoice.amount
        self.outcomes["refunded"] += 1

    @rule(currency_index=st.integers(0, 2), payer_index=st.integers(0, 1))
    def withdraw(self, currency_index: int, payer_index: int) -> None:
        currency, payer = self.currencies[currency_index], self.payers[payer_index]
        owed = self.refunds[(currency, payer.address)]

        def send():
            if currency == ETH:
                return self.escrow.withdrawRefund({"from": payer})
            return self.escrow.withdrawTokenRefund(currency, {"from": payer})

        if owed == 0:
            with reverts_with("NothingToWithdraw", payer):
                send()
            return
        send()
        self.refunds[(currency, payer.address)] = 0
        self._move(currency, self.escrow, payer, owed)
        self.outcomes["withdrawn"] += 1

    @rule(index=INDICES, off_chain=st.booleans())
    def settle_without_paying(self, index: int, off_chain: bool) -> None:
        invoice = self._pick(index, True, (OPEN,))
        if invoice is None:
            return
        if invoice.status != OPEN:
            with reverts_with("InvoiceNotOpen", invoice.invoice_id, invoice.status):
                self.escrow.cancel(invoice.invoice_id, {"from": self.manager})
            return
        if off_chain:
            self.escrow.recordOffChainPayment(
                invoice.invoice_id, METHOD_BANK_TRANSFER, b"\x01" * 32, b"\x02" * 32, {"from": self.manager}
            )
            invoice.status = PAID_OFF_CHAIN
        else:
            self.escrow.cancel(invoice.invoice_id, {"from": self.manager})
            invoice.status = CANCELLED

    @rule(token_index=st.integers(0, 1), amount=st.sampled_from(AMOUNTS))
    def send_tokens_directly(self, token_index: int, amount: int) -> None:
        token = self.tokens[token_index]
        token.transfer(self.escrow, amount, {"from": self.sender})
        self.extra[token.address] += amount
        self.start[(token.address, self.escrow.address)] += amount

    @rule(token_index=st.integers(0, 1))
    def sweep_token(self, token_index: int) -> None:
        token = self.tokens[token_index]
        extra = self.extra[token.address]
        if extra == 0:
            with reverts_with("NothingToSweep"):
                self.escrow.sweepToken(token, {"from": self.stranger})
            return
        tx = self.escrow.sweepToken(token, {"from": self.stranger})
        assert tx.events["ForcedTokensSwept"]["amount"] == extra
        self.extra[token.address] = 0
        self._move(token.address, self.escrow, self.treasury, extra)
        self.outcomes["swept"] += 1

    def _liabilities(self, currency: str) -> int:
        held = sum(i.amount for i in self.invoices if i.currency == currency and i.status == PAID)
        return held + sum(self.refunds[(currency, p.address)] for p in self.payers)

    @invariant()
    def every_currency_covers_its_liabilities(self) -> None:
        for currency in self.currencies:
            on_chain = self.escrow.liabilitiesWei() if currency == ETH else self.escrow.tokenLiabilities(currency)
            balance = self._balance(currency, self.escrow.address)
            assert balance >= on_chain
            assert (on_chain, balance) == (
                self._liabilities(currency),
                self._liabilities(currency) + self.extra[currency],
            )

    @invariant()
    def every_refund_credit_matches_the_model(self) -> None:
        for currency, payer in self.refunds:
            on_chain = self.escrow.refundOf(payer) if currency == ETH else self.escrow.tokenRefundOf(currency, payer)
            assert on_chain == self.refunds[(currency, payer)]

    @invariant()
    def no_currency_moves_for_another(self) -> None:
        assert {key: self._balance(*key) for key in self.start} == {
            key: self.start[key] + self.delta[key] for key in self.start
        }


def preload(escrow, issuer, payers, tokens):
    """In each currency one invoice paid and one open, so that even a short example moves money."""
    for currency in (ETH, *(token.address for token in tokens)):
        for payer, amount, paid in zip(payers, AMOUNTS[1:], (True, False), strict=True):
            invoice_id = escrow.issueInvoice(1, 1, payer, amount, currency, {"from": issuer}).return_value
            if paid and currency == ETH:
                escrow.pay(invoice_id, {"from": payer, "value": amount})
            elif paid:
                escrow.payToken(invoice_id, {"from": payer})
            yield TokenInvoiceModel(invoice_id, payer, amount, currency, PAID if paid else OPEN)


@pytest.fixture(scope="module")
def machine_issuer(accounts):
    return accounts[9]


def test_each_currency_holds_what_it_owes_and_never_mixes_with_another(
    InvoiceEscrow, TestStablecoin, registry, admin, manager, stranger, treasury, customer, customer2, machine_issuer
):
    assert stranger.transfer(stranger, 0).gas_price == 0  # ETH balances are compared to the wei
    escrow = InvoiceEscrow.deploy(
        registry,
        machine_issuer,
        treasury,
        DISPUTE_WINDOW_SECONDS,
        PAYMENT_TERM_SECONDS,
        DISPUTE_RESOLUTION_SECONDS,
        TREASURY_DELAY_SECONDS,
        {"from": admin},
    )
    tokens = (
        TestStablecoin.deploy("Test Dollar", "TUSD", {"from": admin}),
        TestStablecoin.deploy("Test Euro", "TEUR", {"from": admin}),
    )
    for token in tokens:
        escrow.allowToken(token, True, {"from": admin})
        for holder in (customer, customer2, stranger):
            token.mint(holder, MINTED, {"from": admin})
            token.approve(escrow, 2**256 - 1, {"from": holder})
    CurrencyMachine.escrow, CurrencyMachine.issuer, CurrencyMachine.tokens = escrow, machine_issuer, tokens
    CurrencyMachine.manager, CurrencyMachine.stranger, CurrencyMachine.sender = manager, stranger, stranger
    CurrencyMachine.payers, CurrencyMachine.treasury = (customer, customer2), treasury
    CurrencyMachine.outcomes = Counter()
    CurrencyMachine.preloaded = tuple(preload(escrow, machine_issuer, (customer, customer2), tokens))
    chain.snapshot()

    run_state_machine_as_test(CurrencyMachine, settings=MACHINE_SETTINGS)

    outcomes = CurrencyMachine.outcomes
    wanted = ("paid", "paid in a token", "released", "refunded", "withdrawn", "swept")
    assert all(outcomes[outcome] > 0 for outcome in wanted), outcomes
