"""DealPipeline in ERC-20s: openDealIn, the manager's approval for a token deal, and the invoice's currency."""

from __future__ import annotations

import pytest

from tests.contracts.helpers import (
    APPROVAL_THRESHOLD_WEI,
    CANCELLED,
    CONTRACTING,
    LEAD,
    ONE_ETH,
    OPEN,
    PAID,
    PAYMENT_TERM_SECONDS,
    WON,
    ZERO_ADDRESS,
    private_key_of,
    random_hash,
    reverts_with,
)
from tests.contracts.offers_fixtures import (
    STABLECOIN_UNIT,
    UINT96_MAX,
    deploy_stablecoin,
    discounted,
    new_offer,
    sign_offer,
    to_contracting,
    win,
)

TOKEN_DEAL_VALUE = 1_000 * STABLECOIN_UNIT
DISCOUNT_BPS = 1_500


@pytest.fixture(scope="module")
def stablecoin(TestStablecoin, escrow, admin):
    return deploy_stablecoin(TestStablecoin, escrow, admin)


@pytest.fixture(scope="module")
def open_in(pipeline, agent, customer_id):
    """Open a deal of `agent` for `customer_id` in `currency` (by `agent` unless `by`)."""

    def _open_in(currency, value=TOKEN_DEAL_VALUE, by=None):
        return pipeline.openDealIn(customer_id, agent, value, currency, {"from": by or agent})

    return _open_in


@pytest.fixture(scope="module")
def token_deal_id(open_in, stablecoin) -> int:
    """A deal of `agent` in the stablecoin, at Lead."""
    return open_in(stablecoin).return_value


# --- openDealIn ---------------------------------------------------------------------------------


def test_a_deal_opened_in_currency_zero_is_in_eth(pipeline, agent, customer_id, open_in):
    tx = open_in(ZERO_ADDRESS, value=ONE_ETH)

    deal_id = tx.return_value
    assert pipeline.dealOf(deal_id).dict() == {
        "owner": agent.address,
        "customerId": customer_id,
        "discountBps": 0,
        "stage": LEAD,
        "valueWei": ONE_ETH,
        "invoiceId": 0,
        "openedAt": tx.timestamp,
        "currency": ZERO_ADDRESS,
    }
    assert "DealCurrency" not in tx.events


def test_open_deal_is_open_deal_in_eth(pipeline, agent, customer_id):
    deal_id = pipeline.openDeal(customer_id, agent, ONE_ETH, {"from": agent}).return_value

    assert pipeline.dealOf(deal_id)["currency"] == ZERO_ADDRESS


def test_a_deal_opened_in_an_allowed_token_records_the_token(pipeline, agent, customer_id, stablecoin, open_in):
    tx = open_in(stablecoin)

    deal_id = tx.return_value
    assert pipeline.dealOf(deal_id).dict() == {
        "owner": agent.address,
        "customerId": customer_id,
        "discountBps": 0,
        "stage": LEAD,
        "valueWei": TOKEN_DEAL_VALUE,
        "invoiceId": 0,
        "openedAt": tx.timestamp,
        "currency": stablecoin.address,
    }


def test_a_deal_opened_in_a_token_emits_deal_opened_deal_currency_and_the_stage_change(
    agent, customer_id, stablecoin, open_in
):
    tx = open_in(stablecoin)

    deal_id = tx.return_value
    assert dict(tx.events["DealOpened"]) == {
        "dealId": deal_id,
        "customerId": customer_id,
        "owner": agent.address,
        "valueWei": TOKEN_DEAL_VALUE,
        "actor": agent.address,
    }
    assert dict(tx.events["DealCurrency"]) == {"dealId": deal_id, "currency": stablecoin.address}
    assert dict(tx.events["DealStageChanged"]) == {
        "dealId": deal_id,
        "from": 0,
        "to": LEAD,
        "actor": agent.address,
        "at": tx.timestamp,
    }


def test_a_manager_opens_a_deal_in_a_token_for_an_agent(pipeline, manager, stablecoin, open_in):
    deal_id = open_in(stablecoin, by=manager).return_value

    assert pipeline.dealOf(deal_id)["currency"] == stablecoin.address


def test_a_token_deal_may_be_worth_more_than_the_approval_threshold_in_base_units(pipeline, stablecoin, open_in):
    deal_id = open_in(stablecoin, value=UINT96_MAX).return_value

    assert pipeline.dealOf(deal_id)["valueWei"] == UINT96_MAX


def test_a_deal_in_a_token_never_allowed_is_refused(pipeline, TestStablecoin, escrow, admin, open_in):
    token = deploy_stablecoin(TestStablecoin, escrow, admin, allowed=False)
    deals = pipeline.dealCount()

    with reverts_with("TokenNotAllowed", token):
        open_in(token)
    assert pipeline.dealCount() == deals


def test_a_deal_in_a_token_no_longer_allowed_is_refused(escrow, admin, stablecoin, open_in):
    escrow.allowToken(stablecoin, False, {"from": admin})

    with reverts_with("TokenNotAllowed", stablecoin):
        open_in(stablecoin)


def test_a_deal_in_an_account_that_is_not_a_token_is_refused(stranger, open_in):
    with reverts_with("TokenNotAllowed", stranger):
        open_in(stranger)


@pytest.mark.parametrize("caller", ["stranger", "customer", "auditor", "treasury"])
def test_opening_a_token_deal_without_a_staff_role_reverts(request, registry, stablecoin, open_in, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
        open_in(stablecoin, by=account)


def test_an_agent_without_a_grant_cannot_open_a_token_deal(pipeline, agent, agent2, customer_id, stablecoin):
    with reverts_with("CallerWithoutAccess", customer_id, agent2):
        pipeline.openDealIn(customer_id, agent, TOKEN_DEAL_VALUE, stablecoin, {"from": agent2})


def test_a_token_deal_owned_by_a_non_agent_is_refused(pipeline, manager, stranger, customer_id, stablecoin):
    with reverts_with("DealOwnerNotAgent", stranger):
        pipeline.openDealIn(customer_id, stranger, TOKEN_DEAL_VALUE, stablecoin, {"from": manager})


def test_a_token_deal_owned_by_an_agent_without_a_grant_is_refused(pipeline, manager, agent2, customer_id, stablecoin):
    with reverts_with("DealOwnerWithoutAccess", customer_id, agent2):
        pipeline.openDealIn(customer_id, agent2, TOKEN_DEAL_VALUE, stablecoin, {"from": manager})


@pytest.mark.parametrize("value", [0, UINT96_MAX + 1], ids=["zero", "above-uint96"])
def test_a_token_deal_without_a_valid_value_is_refused(stablecoin, open_in, value):
    with reverts_with("DealValueInvalid", value, UINT96_MAX):
        open_in(stablecoin, value=value)


def test_a_token_deal_for_an_erased_customer_is_refused(registry, manager, customer_id, stablecoin, open_in):
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    with reverts_with("CustomerIsErased", customer_id):
        open_in(stablecoin)


# --- Won: a token deal needs a manager -----------------------------------------------------------


def test_an_agent_moves_a_token_deal_up_to_contracting(pipeline, agent, token_deal_id):
    to_contracting(pipeline, token_deal_id, agent)

    assert pipeline.dealOf(token_deal_id)["stage"] == CONTRACTING


def test_an_agent_cannot_move_a_token_deal_to_won_even_below_the_threshold(pipeline, agent, token_deal_id):
    assert TOKEN_DEAL_VALUE < APPROVAL_THRESHOLD_WEI
    to_contracting(pipeline, token_deal_id, agent)

    with reverts_with("DealNeedsApproval", token_deal_id, TOKEN_DEAL_VALUE, APPROVAL_THRESHOLD_WEI):
        pipeline.moveStage(token_deal_id, WON, {"from": agent})
    assert pipeline.dealOf(token_deal_id)["stage"] == CONTRACTING


def test_an_agent_cannot_move_a_token_deal_to_won_with_no_threshold_either(pipeline, admin, agent, token_deal_id):
    pipeline.setApprovalThreshold(2**256 - 1, {"from": admin})
    to_contracting(pipeline, token_deal_id, agent)

    with reverts_with("DealNeedsApproval", token_deal_id, TOKEN_DEAL_VALUE, 2**256 - 1):
        pipeline.moveStage(token_deal_id, WON, {"from": agent})


def test_an_agent_still_moves_a_small_eth_deal_to_won(pipeline, agent, open_in):
    deal_id = open_in(ZERO_ADDRESS, value=ONE_ETH).return_value

    win(pipeline, deal_id, agent)

    assert pipeline.dealOf(deal_id)["stage"] == WON


def test_a_manager_moves_a_token_deal_to_won(pipeline, agent, manager, token_deal_id):
    to_contracting(pipeline, token_deal_id, agent)

    tx = pipeline.moveStage(token_deal_id, WON, {"from": manager})

    assert pipeline.dealOf(token_deal_id)["stage"] == WON
    assert dict(tx.events["DealStageChanged"]) == {
        "dealId": token_deal_id,
        "from": CONTRACTING,
        "to": WON,
        "actor": manager.address,
        "at": tx.timestamp,
    }


# --- the invoice carries the deal's currency -----------------------------------------------------


def test_the_invoice_of_a_won_token_deal_is_in_the_token(
    pipeline, escrow, agent, manager, customer, customer_id, stablecoin, token_deal_id
):
    to_contracting(pipeline, token_deal_id, agent)
    invoice_id = escrow.invoiceCount() + 1

    tx = pipeline.moveStage(token_deal_id, WON, {"from": manager})

    assert dict(tx.events["InvoiceIssued"]) == {
        "invoiceId": invoice_id,
        "dealId": token_deal_id,
        "customerId": customer_id,
        "payer": customer.address,
        "amount": TOKEN_DEAL_VALUE,
        "dueAt": tx.timestamp + PAYMENT_TERM_SECONDS,
        "paymentReference": escrow.paymentReference(invoice_id),
        "currency": stablecoin.address,
    }
    invoice = escrow.invoiceOf(invoice_id)
    assert invoice["currency"] == stablecoin.address
    assert invoice["amount"] == TOKEN_DEAL_VALUE
    assert invoice["status"] == OPEN
    assert pipeline.dealOf(token_deal_id)["invoiceId"] == invoice_id


def test_the_invoice_of_a_won_eth_deal_is_in_eth(pipeline, escrow, agent, open_in):
    deal_id = open_in(ZERO_ADDRESS, value=ONE_ETH).return_value

    invoice_id = win(pipeline, deal_id, agent)

    assert escrow.invoiceOf(invoice_id)["currency"] == ZERO_ADDRESS


def test_the_customer_pays_a_token_invoice_in_the_token(escrow, manager, customer, stablecoin, token_deal_id, pipeline):
    invoice_id = win(pipeline, token_deal_id, manager)
    stablecoin.mint(customer, TOKEN_DEAL_VALUE, {"from": customer})
    stablecoin.approve(escrow, TOKEN_DEAL_VALUE, {"from": customer})

    escrow.payToken(invoice_id, {"from": customer})

    assert escrow.invoiceOf(invoice_id)["status"] == PAID
    assert stablecoin.balanceOf(escrow) == TOKEN_DEAL_VALUE
    assert escrow.tokenLiabilities(stablecoin) == TOKEN_DEAL_VALUE


def test_a_token_invoice_is_not_paid_in_eth(pipeline, escrow, manager, customer, stablecoin, token_deal_id):
    invoice_id = win(pipeline, token_deal_id, manager)

    with reverts_with("InvoiceCurrencyMismatch", invoice_id, stablecoin):
        escrow.pay(invoice_id, {"from": customer, "value": TOKEN_DEAL_VALUE})


def test_a_token_deal_cannot_reach_won_once_its_token_is_no_longer_allowed(
    pipeline, escrow, admin, agent, manager, stablecoin, token_deal_id
):
    to_contracting(pipeline, token_deal_id, agent)
    escrow.allowToken(stablecoin, False, {"from": admin})

    with reverts_with("TokenNotAllowed", stablecoin):
        pipeline.moveStage(token_deal_id, WON, {"from": manager})


# --- reissueInvoice keeps the currency and the discount ------------------------------------------


@pytest.fixture(scope="module")
def discounted_token_deal_id(pipeline, agent, manager, customer, token_deal_id) -> int:
    """`token_deal_id`, discounted by DISCOUNT_BPS through an offer of `manager`."""
    offer = new_offer(pipeline.dealOf(token_deal_id)["customerId"], discount_bps=DISCOUNT_BPS)
    signature = sign_offer(pipeline, private_key_of(manager), offer)
    pipeline.acceptOffer(offer.as_tuple(), manager, signature, token_deal_id, 0, ZERO_ADDRESS, {"from": customer})
    return token_deal_id


def test_a_reissued_invoice_keeps_the_deals_currency_and_discount(
    pipeline, escrow, manager, customer, stablecoin, discounted_token_deal_id
):
    deal_id = discounted_token_deal_id
    first = win(pipeline, deal_id, manager)
    assert escrow.invoiceOf(first)["amount"] == discounted(TOKEN_DEAL_VALUE, DISCOUNT_BPS)

    tx = pipeline.reissueInvoice(deal_id, {"from": manager})

    second = tx.return_value
    assert second == first + 1
    assert escrow.invoiceOf(first)["status"] == CANCELLED
    invoice = escrow.invoiceOf(second)
    assert invoice["currency"] == stablecoin.address
    assert invoice["amount"] == discounted(TOKEN_DEAL_VALUE, DISCOUNT_BPS)
    assert invoice["payer"] == customer.address
    assert tx.events["InvoiceIssued"]["currency"] == stablecoin.address
    assert tx.events["InvoiceIssued"]["amount"] == discounted(TOKEN_DEAL_VALUE, DISCOUNT_BPS)
    assert list(pipeline.invoicesOf(deal_id)) == [first, second]
    assert pipeline.dealOf(deal_id)["invoiceId"] == second


def test_a_reissued_invoice_of_an_eth_deal_keeps_the_discount_and_stays_in_eth(
    pipeline, escrow, agent, manager, customer, customer_id, open_in
):
    deal_id = open_in(ZERO_ADDRESS, value=ONE_ETH).return_value
    offer = new_offer(customer_id, discount_bps=DISCOUNT_BPS)
    signature = sign_offer(pipeline, private_key_of(manager), offer)
    pipeline.acceptOffer(offer.as_tuple(), manager, signature, deal_id, 0, ZERO_ADDRESS, {"from": customer})
    first = win(pipeline, deal_id, agent)

    second = pipeline.reissueInvoice(deal_id, {"from": manager}).return_value

    invoice = escrow.invoiceOf(second)
    assert invoice["currency"] == ZERO_ADDRESS
    assert invoice["amount"] == discounted(ONE_ETH, DISCOUNT_BPS) == escrow.invoiceOf(first)["amount"]


def test_reissuing_a_token_invoice_after_its_token_was_disallowed_reverts(
    pipeline, escrow, admin, manager, stablecoin, token_deal_id
):
    first = win(pipeline, token_deal_id, manager)
    escrow.allowToken(stablecoin, False, {"from": admin})

    with reverts_with("TokenNotAllowed", stablecoin):
        pipeline.reissueInvoice(token_deal_id, {"from": manager})
    assert escrow.invoiceOf(first)["status"] == OPEN
