"""Issue 11 in the console: deal cards and invoice rows in their currency's units and symbol, an
accepted offer's discount on its deal's card, and an invoice paid off-chain."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chaincrm.contracts.offers import sign_offer
from tests.cli.conftest import Accounts
from tests.console.conftest import ConsoleServer, StaffClient
from tests.portal.conftest import deploy_stablecoin, new_invoice, new_token_invoice, record_off_chain_payment

TOKEN_VALUE = 1_234_560_000  # 1234.56 TUSD
OFFER_VALUE_WEI = 3 * 10**18
DISCOUNT_BPS = 1_250


@dataclass(frozen=True)
class Issue11:
    token_invoice: int
    token_deal: int
    off_chain_invoice: int
    offer_deal: int


@pytest.fixture(scope="module")
def issue11(console_server: ConsoleServer, accounts: Accounts) -> Issue11:
    crm, agent, manager = console_server.crm, console_server.staff, console_server.manager
    token = deploy_stablecoin(crm, accounts.admin)
    token_invoice = new_token_invoice(crm, console_server.ada_id, agent, manager, token, TOKEN_VALUE)
    off_chain_invoice = new_invoice(crm, console_server.ada_id, agent)
    record_off_chain_payment(crm, off_chain_invoice, "bank_transfer", manager)
    offer = sign_offer(
        manager,
        chain_id=crm.chain.chain_id,
        pipeline=crm.pipeline.address,
        customer_id=console_server.ada_id,
        discount_bps=DISCOUNT_BPS,
        expiry=crm.chain.block_timestamp(crm.chain.block_number()) + 86_400,
    )
    offer_deal = crm.pipeline.accept_offer(offer, accounts.customer, value=OFFER_VALUE_WEI)
    console_server.indexed()
    return Issue11(token_invoice, crm.escrow.invoice(token_invoice).deal_id, off_chain_invoice, offer_deal)


def _card(html: str, deal_id: int) -> str:
    return html.split(f'data-deal-id="{deal_id}"', 1)[1].split("</li>", 1)[0]


def _row(html: str, invoice_id: int) -> str:
    return html.split(f'data-invoice-id="{invoice_id}"', 1)[1].split("</tr>", 1)[0]


def test_a_deal_card_shows_its_value_in_the_tokens_units_and_an_offers_discount(
    issue11: Issue11, staff: StaffClient
) -> None:
    html = staff.get("/staff/").text

    assert '<p class="deal-value">1234.56 TUSD</p>' in _card(html, issue11.token_deal)
    offered = _card(html, issue11.offer_deal)
    assert '<p class="deal-value">3 ETH</p>' in offered
    assert "offer: 12.5% off" in offered
    assert "deal-discount" not in _card(html, issue11.token_deal)


def test_invoice_rows_show_their_currency_and_an_off_chain_payment(issue11: Issue11, staff: StaffClient) -> None:
    html = staff.get("/staff/invoices").text
    paid_off_chain = staff.get("/staff/invoices", params={"status": "paid_off_chain"}).text

    assert '<td class="num invoice-amount">1234.56 TUSD</td>' in _row(html, issue11.token_invoice)
    row = _row(html, issue11.off_chain_invoice)
    assert "paid off-chain" in row and "by bank transfer" in row
    assert f'data-invoice-id="{issue11.off_chain_invoice}"' in paid_off_chain
    assert f'data-invoice-id="{issue11.token_invoice}"' not in paid_off_chain
    current = html.split('<tr data-bucket="current">', 1)[1].split("</tr>", 1)[0]
    assert "1234.56 TUSD" in current  # beside the ETH amount, never added to it


def test_the_customer_timeline_tells_the_offer_and_the_token_amounts(
    issue11: Issue11, console_server: ConsoleServer, staff: StaffClient
) -> None:
    html = staff.get(f"/staff/customers/{console_server.ada_id}").text

    assert "offer accepted" in html and f"deal {issue11.offer_deal}: 12.5% off" in html
    assert f"invoice {issue11.token_invoice}, 1234.56 TUSD" in html
    assert "invoice paid off-chain" in html and f"invoice {issue11.off_chain_invoice} by bank transfer" in html
