"""The payment page, /pay/<invoice>, in Chromium with the test wallet installed as an extension.

Every test that must move no money checks it three ways: the wallet sent nothing, the payer's
balance and nonce on the chain did not change, and the invoice is still open.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from playwright.sync_api import Page, expect

from chaincrm.models import InvoiceStatus
from chaincrm.units import WEI_PER_ETH
from tests.browser.actions import (
    connect,
    expect_confirmed,
    expect_message,
    expect_status,
    message,
    pay,
    record_texts,
    recorded_texts,
    scroll_overflow,
)
from tests.browser.conftest import PHONE, Browsing, Portal, Watch, screenshot
from tests.browser.wallet import MAINNET, OTHER_WALLET, UNRECOGNIZED_CHAIN, USER_REJECTED, TestWallet

PAY_SELECTOR = function_signature_to_4byte_selector("pay(uint256)")
LOW_BALANCE_WEI = 10**18  # 1 ETH: less than an invoice of 1.75 ETH


@pytest.fixture
def invoice_id(portal: Portal) -> int:
    """A fresh open invoice of 1.75 ETH for the customer, indexed."""
    return portal.new_invoice()


def open_invoice(page: Page, portal: Portal, invoice_id: int) -> None:
    page.goto(f"{portal.url}/pay/{invoice_id}")
    expect(page.locator("#invoice-id")).to_contain_text(str(invoice_id))


class Untouched:
    """The payer's balance and nonce, and the invoice, before a step that must move no money."""

    def __init__(self, portal: Portal, invoice_id: int, payer: str) -> None:
        self.portal, self.invoice_id, self.payer = portal, invoice_id, payer
        self.balance = portal.balance(payer)
        self.nonce = portal.nonce(payer)
        self.status = portal.crm.escrow.invoice(invoice_id).status

    def check(self, wallet: TestWallet) -> None:
        assert wallet.sent == []
        assert self.portal.balance(self.payer) == self.balance
        assert self.portal.nonce(self.payer) == self.nonce
        assert self.portal.crm.escrow.invoice(self.invoice_id).status is self.status


# ------------------------------------------------------------------ what the page shows


def test_the_payment_page_shows_the_amount_due_date_status_deal_and_escrow_terms(
    page: Page, portal: Portal, wallet: TestWallet
) -> None:
    invoice = portal.invoice(portal.invoice_id)
    amount = Decimal(portal.crm.escrow.invoice(portal.invoice_id).amount_wei) / WEI_PER_ETH

    open_invoice(page, portal, portal.invoice_id)
    connect(page, portal.customer.address)

    expect(page.locator("#invoice-amount")).to_have_text(f"{amount.normalize():f} ETH")
    expect(page.locator("#invoice-status")).to_have_text("open")
    expect(page.locator("#invoice-due")).not_to_be_empty()
    expect(page.locator("#invoice-deal")).to_contain_text(f"Deal {invoice['deal']['id']} — won")
    expect(page.locator("#escrow-terms")).to_contain_text("7 days")
    expect(page.locator("button#pay")).to_be_enabled()
    expect(message(page)).to_have_attribute("data-kind", "")
    screenshot(page, "payment-page")


def test_the_payment_page_loads_nothing_from_outside_the_portal(
    page: Page, watch: Watch, portal: Portal, invoice_id: int
) -> None:
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)

    assert f"{portal.url}/static/vendor/ethers.min.js" in watch.urls
    assert watch.foreign_urls() == []


def test_an_unknown_invoice_shows_one_message_and_no_wallet_prompt(
    page: Page, watch: Watch, portal: Portal, wallet: TestWallet
) -> None:
    watch.expect_console_error("status of 404")

    response = page.goto(f"{portal.url}/pay/999999")

    assert response is not None and response.status == 404
    expect(message(page)).to_have_attribute("data-kind", "invoice_unknown")
    expect(message(page)).to_have_text("invoice 999999 does not exist")
    assert wallet.requests == []


def test_a_browser_without_a_wallet_is_told_so(browsing: Browsing, portal: Portal) -> None:
    page = browsing.open([], ethereum=None)

    open_invoice(page, portal, portal.invoice_id)

    expect_message(page, "no_wallet")
    expect(page.locator("button#pay")).to_be_disabled()


# ------------------------------------------------------------------ paying


def test_paying_shows_the_transaction_pending_then_confirmed_and_the_invoice_paid(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    amount = portal.crm.escrow.invoice(invoice_id).amount_wei
    balance = portal.balance(portal.customer.address)
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)
    record_texts(page, "#tx-state")

    pay(page)

    expect_confirmed(page)
    assert len(wallet.sent) == 1
    tx_hash = wallet.sent[0]
    receipt = portal.crm.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    sent = portal.crm.chain.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 1
    assert sent["to"] == to_checksum_address(portal.crm.escrow.address)
    assert sent["value"] == amount
    assert bytes(sent["input"]) == PAY_SELECTOR + invoice_id.to_bytes(32, "big")
    assert recorded_texts(page, "#tx-state")[-2:] == ["pending", "confirmed"]
    expect(page.locator("#tx-hash")).to_have_text(tx_hash)
    expect(page.locator("#tx-block")).to_have_text(str(receipt["blockNumber"]))
    expect_status(page, "paid")
    assert portal.crm.escrow.invoice(invoice_id).status is InvoiceStatus.PAID
    assert portal.invoice(invoice_id)["status"] == "paid"
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert portal.balance(portal.customer.address) == balance - amount - fee
    screenshot(page, "payment-page-paid")


def test_the_wrong_account_is_told_which_account_must_pay_and_cannot_pay(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    wallet.select(portal.stranger)
    untouched = Untouched(portal, invoice_id, portal.stranger.address)
    open_invoice(page, portal, invoice_id)

    connect(page, portal.stranger.address)

    expect_message(page, "wrong_account")
    expect(message(page)).to_contain_text(portal.customer.address, ignore_case=True)
    expect(page.locator("button#pay")).to_be_disabled()
    untouched.check(wallet)


def test_switching_to_the_payers_account_in_the_wallet_enables_paying(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    wallet.select(portal.stranger)
    open_invoice(page, portal, invoice_id)
    connect(page, portal.stranger.address)
    expect_message(page, "wrong_account")

    wallet.select(portal.customer)

    expect(page.locator("#account")).to_contain_text(portal.customer.address, ignore_case=True)
    expect(page.locator("button#pay")).to_be_enabled()
    expect(message(page)).not_to_have_attribute("data-kind", "wrong_account")


def test_a_wallet_on_another_chain_adds_the_chain_switches_and_then_pays(
    browsing: Browsing, portal: Portal, invoice_id: int
) -> None:
    chain_id = portal.crm.chain.chain_id
    wallet = TestWallet([portal.customer], rpc_url=portal.settings.rpc_url, chain_id=chain_id, start_on_mainnet=True)
    page = browsing.open([wallet])
    open_invoice(page, portal, invoice_id)

    connect(page, portal.customer.address)

    expect(page.locator("button#pay")).to_be_enabled()
    chain_requests = ("wallet_switchEthereumChain", "wallet_addEthereumChain")
    asked = [(r.method, r.error_code) for r in wallet.requests if r.method in chain_requests]
    assert asked == [
        ("wallet_switchEthereumChain", UNRECOGNIZED_CHAIN),
        ("wallet_addEthereumChain", None),
        ("wallet_switchEthereumChain", None),
    ]
    added = next(r.params[0] for r in wallet.requests if r.method == "wallet_addEthereumChain")
    assert added["chainId"] == hex(chain_id)
    assert added["rpcUrls"] == [portal.settings.rpc_url]
    assert (added["nativeCurrency"]["symbol"], added["nativeCurrency"]["decimals"]) == ("ETH", 18)
    assert wallet.chain_id == chain_id
    pay(page)
    expect_confirmed(page)
    expect_status(page, "paid")
    assert portal.crm.escrow.invoice(invoice_id).status is InvoiceStatus.PAID
    wallet.close()


def test_refusing_to_switch_chains_shows_wrong_network_and_cannot_pay(
    browsing: Browsing, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    wallet.chain_id = MAINNET  # it knows the local chain but is on mainnet, and the user says no
    wallet.refuse_switching = True
    page = browsing.open([wallet])
    untouched = Untouched(portal, invoice_id, portal.customer.address)
    open_invoice(page, portal, invoice_id)

    page.locator("button#connect").click()

    expect_message(page, "wrong_network")
    expect(page.locator("button#pay")).to_be_disabled()
    assert [r.error_code for r in wallet.requests if r.method == "wallet_switchEthereumChain"] == [USER_REJECTED]
    untouched.check(wallet)


def test_rejecting_the_payment_in_the_wallet_shows_rejected_and_moves_no_money(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)
    untouched = Untouched(portal, invoice_id, portal.customer.address)
    wallet.reject_next(method="eth_sendTransaction")

    pay(page)

    expect_message(page, "rejected")
    assert [r.error_code for r in wallet.requests if r.method == "eth_sendTransaction"] == [USER_REJECTED]
    untouched.check(wallet)
    expect(page.locator("#invoice-status")).to_have_text("open")


def test_an_invoice_paid_meanwhile_shows_already_paid_and_is_not_paid_twice(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)
    portal.crm.chain.nonces.reset(portal.customer.address)
    portal.crm.escrow.pay(invoice_id, portal.customer)  # from another device, say
    portal.wait_for_invoice(invoice_id, "paid")
    untouched = Untouched(portal, invoice_id, portal.customer.address)

    pay(page)

    expect_message(page, "already_paid")
    untouched.check(wallet)


def test_insufficient_funds_show_a_message_and_move_no_money(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int, low_balance: None
) -> None:
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)
    untouched = Untouched(portal, invoice_id, portal.customer.address)

    pay(page)

    expect_message(page, "insufficient_funds")
    untouched.check(wallet)
    assert portal.balance(portal.customer.address) == LOW_BALANCE_WEI


@pytest.fixture
def low_balance(portal: Portal) -> Iterator[None]:
    """The customer's wallet holds 1 ETH for the test (then its balance is put back)."""
    address = portal.customer.address
    before = portal.balance(address)
    portal.rpc("anvil_setBalance", [address, hex(LOW_BALANCE_WEI)])
    try:
        yield
    finally:
        portal.rpc("anvil_setBalance", [address, hex(before)])


def test_a_cancelled_invoice_shows_cancelled_and_is_not_paid(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)
    portal.crm.escrow.cancel(invoice_id, portal.manager)
    portal.wait_for_invoice(invoice_id, "cancelled")
    untouched = Untouched(portal, invoice_id, portal.customer.address)

    pay(page)

    expect_message(page, "cancelled")
    untouched.check(wallet)


def test_an_unreachable_node_shows_node_unreachable_and_moves_no_money(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)
    untouched = Untouched(portal, invoice_id, portal.customer.address)
    wallet.node_unreachable()

    pay(page)

    expect_message(page, "node_unreachable")
    untouched.check(wallet)


# ------------------------------------------------------------------ after paying


def paid_on_page(page: Page, portal: Portal, invoice_id: int) -> None:
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)
    pay(page)
    expect_confirmed(page)
    expect_status(page, "paid")


def test_the_payer_confirms_delivery_and_the_escrow_releases_the_invoice(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    paid_on_page(page, portal, invoice_id)

    page.locator("button#confirm-delivery").click()

    expect_status(page, "released")
    assert len(wallet.sent) == 2
    assert portal.crm.escrow.invoice(invoice_id).status is InvoiceStatus.RELEASED
    expect(page.locator("#tx-hash")).to_have_text(wallet.sent[1])
    expect(page.locator("button#dispute")).to_be_hidden()


def test_the_payer_opens_a_dispute_and_the_invoice_is_disputed_on_chain(
    page: Page, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    paid_on_page(page, portal, invoice_id)

    page.locator("button#dispute").click()

    expect_status(page, "disputed")
    assert len(wallet.sent) == 2
    assert portal.crm.escrow.invoice(invoice_id).status is InvoiceStatus.DISPUTED
    expect(page.locator("#tx-hash")).to_have_text(wallet.sent[1])
    expect(page.locator("button#confirm-delivery")).to_be_hidden()


# ------------------------------------------------------------------ wallets and screens


def test_several_wallets_are_offered_in_a_picker_and_the_chosen_one_pays(
    browsing: Browsing, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    chain_id = portal.crm.chain.chain_id
    other = TestWallet([portal.stranger], rpc_url=portal.settings.rpc_url, chain_id=chain_id, info=OTHER_WALLET)
    page = browsing.open([other, wallet])  # the other wallet is also window.ethereum
    open_invoice(page, portal, invoice_id)

    options = page.locator("#wallet-picker button.wallet-option")
    expect(options).to_have_count(2)
    page.locator(f'#wallet-picker button.wallet-option[data-rdns="{wallet.info.rdns}"]').click()

    expect(page.locator("#account")).to_contain_text(portal.customer.address, ignore_case=True)
    pay(page)
    expect_confirmed(page)
    expect_status(page, "paid")
    assert len(wallet.sent) == 1
    assert [r.method for r in other.requests] == []
    other.close()


def test_at_a_phones_width_the_page_does_not_scroll_sideways_and_pays(
    browsing: Browsing, portal: Portal, wallet: TestWallet, invoice_id: int
) -> None:
    page = browsing.open([wallet], viewport=PHONE)
    open_invoice(page, portal, invoice_id)
    connect(page, portal.customer.address)

    assert scroll_overflow(page) <= 0
    screenshot(page, "payment-page-phone")
    pay(page)
    expect_confirmed(page)
    expect_status(page, "paid")
    assert scroll_overflow(page) <= 0
    page.set_viewport_size({"width": 360, "height": 740})
    assert scroll_overflow(page) <= 0
    assert portal.crm.escrow.invoice(invoice_id).status is InvoiceStatus.PAID
