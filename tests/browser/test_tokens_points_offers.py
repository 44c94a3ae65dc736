"""Issue 11 in Chromium with the test wallet: a token invoice paid by a signed permit in one
transaction (and by "approve, then pay" when the wallet cannot sign typed data), loyalty points
redeemed at payment and refused when too many, the points token added to the wallet
(wallet_watchAsset), a manager's offer accepted from its link, and an invoice paid off-chain."""

from __future__ import annotations

import time

import pytest
from eth_utils import function_signature_to_4byte_selector
from playwright.sync_api import Page, expect

from chaincrm.contracts.offers import sign_offer
from chaincrm.models import InvoiceStatus, Stage
from chaincrm.offers.status import accept_link
from tests.browser.actions import (
    connect,
    expect_confirmed,
    expect_message,
    expect_status,
    message,
    pay,
    scroll_overflow,
    sign_in,
)
from tests.browser.conftest import PHONE, Browsing, Portal, screenshot
from tests.browser.wallet import TestWallet
from tests.portal.conftest import (
    ETH_REDEEM_WAD,
    TOKEN_DECIMALS,
    TOKEN_REDEEM_WAD,
    Commerce,
    new_invoice,
    new_token_invoice,
    points_of,
    record_off_chain_payment,
    token_balance,
)

PERMIT_SELECTOR = function_signature_to_4byte_selector(
    "payTokenWithPermit(uint256,uint256,uint256,uint8,bytes32,bytes32)"
)
PAY_TOKEN_SELECTOR = function_signature_to_4byte_selector("payToken(uint256)")
APPROVE_SELECTOR = function_signature_to_4byte_selector("approve(address,uint256)")
PAY_WITH_POINTS_SELECTOR = function_signature_to_4byte_selector("payWithPoints(uint256,uint256)")
ACCEPT_SELECTOR = function_signature_to_4byte_selector(
    "acceptOffer((uint256,uint16,uint64,uint32,uint256),address,bytes,uint256,uint256,address)"
)
TOKEN_VALUE = 250 * 10**TOKEN_DECIMALS  # 250 TUSD
DAY_SECONDS = 86_400


@pytest.fixture
def loyal_wallet(browsing: Browsing, portal: Portal, commerce: Commerce) -> TestWallet:
    """The loyal customer's wallet extension (it holds stablecoins and points), closed after the
    pages that use it."""
    made = TestWallet([commerce.loyal], rpc_url=portal.settings.rpc_url, chain_id=portal.crm.chain.chain_id)
    browsing.after_close.append(made.close)
    return made


def sent_input(portal: Portal, tx_hash: str) -> bytes:
    return bytes(portal.crm.chain.w3.eth.get_transaction(tx_hash)["input"])  # type: ignore[arg-type]


def open_page(page: Page, portal: Portal, invoice_id: int) -> None:
    page.goto(f"{portal.url}/pay/{invoice_id}")
    expect(page.locator("#invoice-id")).to_contain_text(str(invoice_id))


def token_invoice(portal: Portal, commerce: Commerce, value: int = TOKEN_VALUE) -> int:
    invoice_id = new_token_invoice(portal.crm, commerce.loyal_id, portal.agent, portal.manager, commerce.token, value)
    portal.wait_for_invoice(invoice_id, "open")
    return invoice_id


# ------------------------------------------------------------------ paying in a token


def test_a_token_invoice_is_paid_by_a_signed_permit_in_one_transaction(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    invoice_id = token_invoice(portal, commerce)
    before = token_balance(portal.crm, commerce.token, commerce.loyal.address)
    page = browsing.open([loyal_wallet])
    open_page(page, portal, invoice_id)
    expect(page.locator("#invoice-amount")).to_have_text("250 TUSD")

    connect(page, commerce.loyal.address)
    expect(page.locator("#pay-method")).to_contain_text("one transaction")
    expect(page.locator("button#pay")).to_have_text("Pay 250 TUSD")
    pay(page)

    expect_confirmed(page)
    expect_status(page, "paid")
    (tx_hash,) = loyal_wallet.sent
    assert sent_input(portal, tx_hash)[:4] == PERMIT_SELECTOR
    ((method, typed, _),) = [entry for entry in loyal_wallet.signed if entry[0] == "eth_signTypedData_v4"]
    assert typed["primaryType"] == "Permit"
    assert typed["domain"]["verifyingContract"].lower() == commerce.token.lower()
    assert typed["message"]["spender"].lower() == portal.crm.escrow.address.lower()
    assert int(typed["message"]["value"]) == TOKEN_VALUE
    assert portal.crm.escrow.invoice(invoice_id).status is InvoiceStatus.PAID
    assert token_balance(portal.crm, commerce.token, commerce.loyal.address) == before - TOKEN_VALUE
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "payment-page-token-paid")


def test_a_wallet_without_typed_data_approves_then_pays_in_two_transactions(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    invoice_id = token_invoice(portal, commerce)
    loyal_wallet.typed_data_unsupported = True
    page = browsing.open([loyal_wallet])
    open_page(page, portal, invoice_id)
    connect(page, commerce.loyal.address)

    pay(page)

    expect_status(page, "paid")
    expect(page.locator("#pay-method")).to_contain_text("two transactions")
    approve, paid = loyal_wallet.sent
    assert sent_input(portal, approve)[:4] == APPROVE_SELECTOR
    assert sent_input(portal, paid)[:4] == PAY_TOKEN_SELECTOR
    assert portal.crm.escrow.invoice(invoice_id).status is InvoiceStatus.PAID


# ------------------------------------------------------------------ loyalty points


def test_points_redeemed_at_payment_take_their_discount_off_and_are_burned(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    invoice_id = token_invoice(portal, commerce)
    points_before = points_of(portal.crm, commerce.loyal.address)
    tokens_before = token_balance(portal.crm, commerce.token, commerce.loyal.address)
    page = browsing.open([loyal_wallet])
    open_page(page, portal, invoice_id)
    connect(page, commerce.loyal.address)
    expect(page.locator("#points-box")).to_be_visible()
    expect(page.locator("#points-box")).to_contain_text("cannot be transferred")

    page.locator("#points-input").fill("100")  # 100 points x 0.10 TUSD = 10 TUSD off

    expect(page.locator("#points-discount")).to_have_text("10 TUSD")
    expect(page.locator("#points-left")).to_have_text("240 TUSD")
    expect(page.locator("button#pay")).to_have_text("Pay 240 TUSD")
    screenshot(page, "payment-page-points")
    page.set_viewport_size(PHONE)
    assert scroll_overflow(page) <= 0
    pay(page)

    expect_status(page, "paid")
    discount = 100 * 10**18 * TOKEN_REDEEM_WAD // 10**18
    assert discount == 10 * 10**TOKEN_DECIMALS
    assert portal.crm.escrow.invoice(invoice_id).amount_wei == TOKEN_VALUE - discount
    assert points_of(portal.crm, commerce.loyal.address) == points_before - 100 * 10**18
    assert token_balance(portal.crm, commerce.token, commerce.loyal.address) == tokens_before - (TOKEN_VALUE - discount)
    expect(page.locator("#invoice-amount")).to_have_text("240 TUSD")


def test_points_on_an_eth_invoice_are_sent_with_pay_with_points_and_the_rest_in_eth(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    invoice_id = new_invoice(portal.crm, commerce.loyal_id, portal.agent)
    portal.wait_for_invoice(invoice_id, "open")
    amount = portal.crm.escrow.invoice(invoice_id).amount_wei
    page = browsing.open([loyal_wallet])
    open_page(page, portal, invoice_id)
    connect(page, commerce.loyal.address)

    page.locator("#points-input").fill("10")  # 10 x 0.01 ETH = 0.1 ETH off
    pay(page)

    expect_status(page, "paid")
    (tx_hash,) = loyal_wallet.sent
    sent = portal.crm.chain.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    assert bytes(sent["input"])[:4] == PAY_WITH_POINTS_SELECTOR
    assert sent["value"] == amount - 10 * ETH_REDEEM_WAD


def test_more_points_than_held_are_refused_with_one_message_and_nothing_is_sent(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    invoice_id = token_invoice(portal, commerce, 10_000 * 10**TOKEN_DECIMALS)
    page = browsing.open([loyal_wallet])
    open_page(page, portal, invoice_id)
    connect(page, commerce.loyal.address)

    page.locator("#points-input").fill("1000000")
    expect_message(page, "points_insufficient")  # said as soon as it is typed
    pay(page)

    expect(page.locator("button#pay")).not_to_have_attribute("aria-busy", "true")  # the payment's checks ran
    expect_message(page, "points_insufficient")
    expect(message(page)).to_contain_text("nothing was sent")
    assert loyal_wallet.sent == []
    assert portal.crm.escrow.invoice(invoice_id).status is InvoiceStatus.OPEN


def test_points_worth_the_whole_invoice_are_refused_and_use_the_most_leaves_something_to_pay(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    invoice_id = token_invoice(portal, commerce, 5 * 10**TOKEN_DECIMALS)  # 5 TUSD
    page = browsing.open([loyal_wallet])
    open_page(page, portal, invoice_id)
    connect(page, commerce.loyal.address)

    page.locator("#points-input").fill("60")  # 6 TUSD off a 5 TUSD invoice
    pay(page)

    expect(page.locator("button#pay")).not_to_have_attribute("aria-busy", "true")
    expect_message(page, "points_discount_too_large")
    assert loyal_wallet.sent == []
    page.locator("button#points-max").click()
    expect(page.locator("#points-input")).to_have_value("49.99999")
    expect(page.locator("#points-left")).to_have_text("0.000001 TUSD")
    expect(message(page)).not_to_have_attribute("data-kind", "points_discount_too_large")


def test_add_to_wallet_asks_the_wallet_to_watch_the_points_token(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    page = browsing.open([loyal_wallet])
    browsing.watch(page).expect_console_error("status of 401")
    page.goto(f"{portal.url}/me")
    sign_in(page, commerce.loyal.address)
    loyalty = page.locator("#loyalty")
    expect(loyalty).to_contain_text("cannot be transferred")
    expect(loyalty.locator('.points-entry[data-kind="awarded"]')).to_contain_text("175 CRMP earned on invoice")

    page.locator("button#watch-asset").click()

    expect_message(page, "done")
    assert loyal_wallet.watched == [{"address": portal.crm.deployment.loyalty, "symbol": "CRMP", "decimals": 18}]
    (params,) = [r.params for r in loyal_wallet.requests if r.method == "wallet_watchAsset"]
    assert params == {"type": "ERC20", "options": loyal_wallet.watched[0]}
    screenshot(page, "customer-area-points")


# ------------------------------------------------------------------ offers


def offer_link(portal: Portal, customer_id: int, *, days: int = 7, max_uses: int = 1) -> tuple[str, object]:
    chain = portal.crm.chain
    expiry = chain.block_timestamp(chain.block_number()) + days * DAY_SECONDS
    offer = sign_offer(
        portal.manager,
        chain_id=chain.chain_id,
        pipeline=portal.crm.pipeline.address,
        customer_id=customer_id,
        discount_bps=1_000,
        expiry=expiry,
        max_uses=max_uses,
    )
    return accept_link(portal.url, offer), offer


def test_an_offer_is_accepted_from_its_link_as_a_new_deal(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    link, offer = offer_link(portal, commerce.loyal_id)
    page = browsing.open([loyal_wallet])
    browsing.watch(page).expect_console_error("status of 401")  # /api/me before signing in
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(link)
    expect(page.locator("#offer-discount")).to_have_text("10% off")
    expect(page.locator("#offer-uses")).to_contain_text("once")

    connect(page, commerce.loyal.address)
    expect(page.locator("#offer-state")).to_have_text("valid")
    page.locator("#offer-value").fill("1.5")
    page.locator("button#accept").click()

    expect_message(page, "done")
    expect(page.locator("#offer-uses")).to_contain_text("Used 1 of 1")
    (tx_hash,) = loyal_wallet.sent
    assert sent_input(portal, tx_hash)[:4] == ACCEPT_SELECTOR
    assert portal.crm.pipeline.offer_uses(offer.digest) == 1  # type: ignore[attr-defined]
    deal = portal.crm.pipeline.deal(portal.crm.pipeline.deal_count())
    assert (deal.customer_id, deal.stage, deal.value_wei, deal.discount_bps) == (
        commerce.loyal_id,
        Stage.PROPOSAL,
        15 * 10**17,
        1_000,
    )
    fragment = link.split("#", 1)[1]
    assert all(fragment not in url for url in requested)  # the offer never reached the server
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "offer-accepted")


def test_an_offer_is_applied_to_an_open_deal_chosen_after_signing_in(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    deal_id = portal.crm.pipeline.open_deal(commerce.loyal_id, portal.agent.address, 3 * 10**18, portal.agent)
    portal.wait_for_index(portal.crm.chain.block_number())
    link, offer = offer_link(portal, commerce.loyal_id)
    page = browsing.open([loyal_wallet], viewport=PHONE)
    browsing.watch(page).expect_console_error("status of 401")
    page.goto(link)
    connect(page, commerce.loyal.address)

    page.locator("button#list-deals").click()
    expect(page.locator(f'#offer-deal option[value="{deal_id}"]')).to_have_count(1)
    page.locator("#target-deal").check()
    page.locator("#offer-deal").select_option(str(deal_id))
    assert scroll_overflow(page) <= 0
    page.locator("button#accept").click()

    expect_message(page, "done")
    expect(message(page)).to_contain_text(f"deal {deal_id}")
    assert portal.crm.pipeline.deal(deal_id).discount_bps == 1_000
    assert portal.crm.pipeline.offer_uses(offer.digest) == 1  # type: ignore[attr-defined]
    assert scroll_overflow(page) <= 0


def test_an_offer_opened_with_another_wallet_says_whose_it_is_and_sends_nothing(
    browsing: Browsing, portal: Portal, commerce: Commerce, wallet: TestWallet
) -> None:
    link, _ = offer_link(portal, commerce.loyal_id)
    page = browsing.open([wallet])
    browsing.watch(page).expect_console_error("status of 401")
    page.goto(link)

    connect(page, portal.customer.address)

    expect_message(page, "wrong_account")
    expect(message(page)).to_contain_text(commerce.loyal.address)
    expect(page.locator("#accept-form")).to_be_hidden()
    assert wallet.sent == []


def test_a_used_up_offer_is_refused_before_anything_is_sent(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    link, offer = offer_link(portal, commerce.loyal_id)
    portal.crm.chain.nonces.reset(commerce.loyal.address)  # the test wallet sent from it too
    portal.crm.pipeline.accept_offer(offer, commerce.loyal, value=10**18)  # type: ignore[arg-type]
    page = browsing.open([loyal_wallet])
    browsing.watch(page).expect_console_error("status of 401")
    page.goto(link)

    connect(page, commerce.loyal.address)

    expect_message(page, "offer_used_up")
    expect(page.locator("#offer-state")).to_have_text("used up")
    assert loyal_wallet.sent == []


def test_a_damaged_offer_link_says_so(browsing: Browsing, portal: Portal, wallet: TestWallet) -> None:
    page = browsing.open([wallet])

    page.goto(f"{portal.url}/offers/accept#bm90LWFuLW9mZmVy")

    expect_message(page, "offer_invalid")
    expect(page.locator("button#connect")).to_be_disabled()
    assert wallet.requests == []


# ------------------------------------------------------------------ paid off-chain


def test_an_invoice_paid_off_chain_shows_how_and_when_and_no_pay_button(
    browsing: Browsing, portal: Portal, commerce: Commerce, loyal_wallet: TestWallet
) -> None:
    invoice_id = new_invoice(portal.crm, commerce.loyal_id, portal.agent)
    record_off_chain_payment(portal.crm, invoice_id, "card", portal.manager)
    portal.wait_for_invoice(invoice_id, "paid_off_chain")
    day = time.strftime("%-d %b %Y", time.gmtime(portal.crm.escrow.invoice(invoice_id).paid_at or 0))
    page = browsing.open([loyal_wallet])

    open_page(page, portal, invoice_id)

    expect(page.locator("#off-chain")).to_have_text(f"Paid by card on {day}")
    expect(page.locator("button#pay")).to_be_hidden()
    expect(page.locator("#invoice-status")).to_have_text("paid_off_chain")
    expect(page.locator("button#connect")).to_be_hidden()
    expect(page.locator("#escrow-terms")).to_contain_text("paid outside the chain")
    expect(message(page)).to_have_attribute("data-kind", "")
    assert loyal_wallet.requests == []
    screenshot(page, "payment-page-paid-off-chain")
