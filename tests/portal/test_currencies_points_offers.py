"""Issue 11 over HTTP: invoices in an ERC-20 shown in the token's units, invoices paid off-chain,
loyalty points in the customer's area and on the payment page, and the offer page (whose offer
never reaches the server)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from chaincrm.currency import units_text
from tests.portal.conftest import (
    ETH_REDEEM_WAD,
    LOYAL_POINTS,
    TOKEN_DECIMALS,
    TOKEN_REDEEM_WAD,
    TOKEN_SYMBOL,
    Commerce,
    PortalServer,
    new_invoice,
    new_token_invoice,
    record_off_chain_payment,
    sign_in,
    wait_for,
)

TOKEN_VALUE = 1_234_560_000  # 1234.56 TUSD


def indexed(client: httpx.Client, invoice_id: int, status: str) -> dict[str, Any]:
    def seen() -> bool:
        answer = client.get(f"/api/invoices/{invoice_id}")
        return answer.status_code == 200 and answer.json()["status"] == status

    wait_for(seen, f"invoice {invoice_id} {status} in the index")
    return dict(client.get(f"/api/invoices/{invoice_id}").json())


def test_a_token_invoice_is_shown_in_the_tokens_units_and_symbol(
    portal_server: PortalServer, commerce: Commerce, client: httpx.Client
) -> None:
    crm = portal_server.crm
    invoice_id = new_token_invoice(
        crm, commerce.loyal_id, portal_server.agent, portal_server.manager, commerce.token, TOKEN_VALUE
    )

    invoice = indexed(client, invoice_id, "open")
    page = client.get(f"/pay/{invoice_id}")

    assert invoice["currency"] == {
        "address": commerce.token,
        "symbol": TOKEN_SYMBOL,
        "decimals": TOKEN_DECIMALS,
        "name": "Test Dollar",
    }
    assert (invoice["amount"], invoice["amount_text"], invoice["unit"]) == (str(TOKEN_VALUE), "1234.56", "TUSD")
    assert invoice["amount_eth"] is None
    assert invoice["loyalty"]["redeem_wad"] == str(TOKEN_REDEEM_WAD)
    assert page.status_code == 200
    assert '<p id="invoice-amount" class="amount">1234.56 TUSD</p>' in page.text
    assert "Pay 1234.56 TUSD" in page.text


def test_an_eth_invoice_keeps_its_eth_fields_and_offers_points_while_open(
    portal_server: PortalServer, commerce: Commerce, client: httpx.Client
) -> None:
    invoice = indexed(client, portal_server.invoice_id, "open")

    assert invoice["currency"] is None
    assert invoice["unit"] == "ETH"
    assert invoice["amount_text"] == invoice["amount_eth"]
    assert invoice["amount"] == invoice["amount_wei"]
    assert invoice["loyalty"] == {
        "points": portal_server.crm.deployment.loyalty,
        "symbol": "CRMP",
        "decimals": 18,
        "earn_wad": str(100 * 10**18),
        "redeem_wad": str(ETH_REDEEM_WAD),
    }


def test_an_invoice_paid_off_chain_says_how_and_when_and_has_no_pay_button(
    portal_server: PortalServer, commerce: Commerce, client: httpx.Client
) -> None:
    crm = portal_server.crm
    invoice_id = new_invoice(crm, commerce.loyal_id, portal_server.agent)
    record_off_chain_payment(crm, invoice_id, "bank_transfer", portal_server.manager)
    at = crm.chain.block_timestamp(crm.chain.block_number())

    invoice = indexed(client, invoice_id, "paid_off_chain")
    page = client.get(f"/pay/{invoice_id}")

    assert invoice["off_chain"] == {"method": "bank_transfer", "at": at}
    assert invoice["paid_at"] == at
    assert invoice["loyalty"] is None
    assert "Paid by bank transfer" in page.text
    assert re.search(r'<button type="button" id="pay"[^>]* hidden>', page.text)


def test_the_customers_area_shows_the_points_balance_and_history(
    portal_server: PortalServer, commerce: Commerce
) -> None:
    with httpx.Client(base_url=portal_server.url, timeout=30) as client:
        assert sign_in(client, commerce.loyal, portal_server.crm.chain.chain_id).status_code == 200
        me = client.get("/api/me").json()

    points = me["points"]
    assert points["token"] == portal_server.crm.deployment.loyalty
    assert (points["symbol"], points["decimals"], points["transferable"]) == ("CRMP", 18, False)
    assert int(points["balance"]) >= LOYAL_POINTS  # other tests may add theirs
    assert points["balance_text"] == units_text(int(points["balance"]), 18)
    first = points["history"][0]
    assert (first["kind"], first["points"], first["discount"]) == ("awarded", str(LOYAL_POINTS), None)
    (customer,) = me["customers"]
    assert all("unit" in invoice and "amount_text" in invoice for invoice in customer["invoices"])
    assert all("unit" in deal and "value_text" in deal and "discount_bps" in deal for deal in customer["deals"])


def test_the_offer_page_is_served_without_inline_script_and_never_sees_the_offer(
    portal_server: PortalServer, client: httpx.Client
) -> None:
    page = client.get("/offers/accept")

    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[-1].split(";", 1)[0]
    assert '<script type="module" src="/static/offer.js"></script>' in page.text
    scripts = re.findall(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", page.text, re.S)
    assert all("application/json" in attrs or not body.strip() for attrs, body in scripts)
    assert client.get("/static/offer.js").status_code == 200
