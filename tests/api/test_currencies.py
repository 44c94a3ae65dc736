"""Issue 11 through the REST API: an invoice in an ERC-20 in the token's own units, an invoice paid
off-chain (how and when, never the reference), a deal opened by an accepted offer with its
discount, and the KPIs naming each currency's symbol."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chaincrm.contracts.offers import sign_offer
from tests.api.conftest import ApiServer
from tests.portal.conftest import (
    TOKEN_DECIMALS,
    TOKEN_SYMBOL,
    deploy_stablecoin,
    new_invoice,
    new_token_invoice,
    record_off_chain_payment,
)

TOKEN_VALUE = 1_234_560_000  # 1234.56 TUSD
OFFER_VALUE_WEI = 3 * 10**18
DISCOUNT_BPS = 1_250  # 12.5%
ETH = {"address": None, "symbol": "ETH", "decimals": 18}


@dataclass(frozen=True)
class Issue11:
    token: str
    token_invoice: int
    off_chain_invoice: int
    offer_deal: int


@pytest.fixture(scope="module")
def issue11(api_server: ApiServer) -> Issue11:
    crm, accounts = api_server.crm, api_server.accounts
    token = deploy_stablecoin(crm, accounts.admin)
    token_invoice = new_token_invoice(crm, api_server.customer_id, accounts.agent, accounts.manager, token, TOKEN_VALUE)
    off_chain_invoice = new_invoice(crm, api_server.customer_id, accounts.agent)
    record_off_chain_payment(crm, off_chain_invoice, "card", accounts.manager)
    offer = sign_offer(
        accounts.manager,
        chain_id=crm.chain.chain_id,
        pipeline=crm.pipeline.address,
        customer_id=api_server.customer_id,
        discount_bps=DISCOUNT_BPS,
        expiry=crm.chain.block_timestamp(crm.chain.block_number()) + 86_400,
    )
    offer_deal = crm.pipeline.accept_offer(offer, accounts.customer, value=OFFER_VALUE_WEI)
    api_server.catch_up()
    return Issue11(token, token_invoice, off_chain_invoice, offer_deal)


def _one(api: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    answer = api.get(path, params=params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_token_invoice_reads_in_the_tokens_units_and_its_wei_fields_stay_null(
    issue11: Issue11, agent_api: httpx.Client
) -> None:
    found = _one(agent_api, f"/invoices/{issue11.token_invoice}")
    (item,) = [i for i in _one(agent_api, "/invoices", deal=found["deal"]["id"])["items"]]

    currency = {"address": issue11.token, "symbol": TOKEN_SYMBOL, "decimals": TOKEN_DECIMALS}
    for invoice in (found, item):
        assert invoice["currency"] == currency
        assert (invoice["amount"], invoice["amount_base_units"]) == ("1234.56", str(TOKEN_VALUE))
        assert invoice["amount_issued_base_units"] == str(TOKEN_VALUE)
        assert invoice["amount_wei"] is None
        assert (invoice["status"], invoice["off_chain"]) == ("open", None)
    assert found["amount_eth"] is None
    assert (found["deal"]["value_wei"], found["deal"]["value_base_units"]) == (None, str(TOKEN_VALUE))
    deal = _one(agent_api, f"/deals/{found['deal']['id']}")
    assert (deal["currency"], deal["value"], deal["value_wei"], deal["discount_bps"]) == (
        currency,
        "1234.56",
        None,
        0,
    )


def test_an_eth_invoice_keeps_its_wei_fields_and_says_eth(api_server: ApiServer, agent_api: httpx.Client) -> None:
    found = _one(agent_api, f"/invoices/{api_server.invoice_id}")

    assert found["currency"] == ETH
    assert found["amount_wei"] == found["amount_base_units"] == found["amount_issued_base_units"]
    assert found["amount"] == found["amount_eth"]
    assert found["points"] == {"redeemed": "0", "discount_base_units": "0", "awarded": "0", "restored": "0"}


def test_an_invoice_paid_off_chain_says_how_and_when_and_never_the_reference(
    issue11: Issue11, api_server: ApiServer, agent_api: httpx.Client
) -> None:
    found = _one(agent_api, f"/invoices/{issue11.off_chain_invoice}")
    listed = _one(agent_api, "/invoices", status="paid_off_chain")["items"]

    assert found["status"] == "paid_off_chain"
    assert found["off_chain"] == {"method": "card", "at": found["paid_at"]}
    assert found["paid_at"] is not None
    assert [item["off_chain"] for item in listed if item["id"] == issue11.off_chain_invoice] == [found["off_chain"]]
    assert "reference" not in str(found["off_chain"]) and "receipt" not in str(found)


def test_a_deal_opened_by_an_accepted_offer_carries_its_discount(issue11: Issue11, agent_api: httpx.Client) -> None:
    deal = _one(agent_api, f"/deals/{issue11.offer_deal}")
    listed = _one(agent_api, "/deals", stage="proposal")["items"]

    assert (deal["stage"], deal["discount_bps"], deal["currency"]) == ("proposal", DISCOUNT_BPS, ETH)
    assert (deal["value_wei"], deal["value"]) == (str(OFFER_VALUE_WEI), "3")
    assert [item["discount_bps"] for item in listed if item["id"] == issue11.offer_deal] == [DISCOUNT_BPS]


def test_the_kpis_name_each_currency_with_its_symbol_and_keep_them_apart(
    issue11: Issue11, agent_api: httpx.Client
) -> None:
    kpis = _one(agent_api, "/kpis")

    assert kpis["currencies"]["ETH"] == {"symbol": "ETH", "decimals": 18}
    assert kpis["currencies"][issue11.token] == {"symbol": TOKEN_SYMBOL, "decimals": TOKEN_DECIMALS}
    aging = {c["currency"]: c["amount"] for bucket in kpis["aging"] for c in bucket["amounts"]}
    assert int(aging[issue11.token]) >= TOKEN_VALUE
    assert kpis["offers"]["deals"] >= 1
    assert any(m["paid_off_chain"] != "0" for m in kpis["revenue_by_currency"])


def test_answers_accept_codes_this_version_does_not_know() -> None:
    from chaincrm.api.currency import method_label
    from chaincrm.api.models import InvoiceOut

    item = {
        "id": 1,
        "deal_id": 1,
        "customer_id": 1,
        "payer": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "status": "unknown(9)",
        "amount_wei": None,
        "currency": {"address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "symbol": "0x7099…79C8", "decimals": 0},
        "amount": str(2**256 - 1),
        "amount_base_units": str(2**256 - 1),
        "amount_issued_base_units": str(2**256 - 1),
        "off_chain": {"method": method_label(200), "at": int(time.time())},
        "points": {"redeemed": "0", "discount_base_units": "0", "awarded": "0", "restored": "0"},
        "due_at": 0,
        "overdue": False,
        "payment_reference": None,
        "issued_at": 0,
        "paid_at": None,
        "disputed_at": None,
        "resolve_by": None,
        "released_at": None,
        "refunded_at": None,
        "cancelled_at": None,
        "block_number": 1,
    }

    assert InvoiceOut.model_validate(item).off_chain.method == "unknown(200)"  # type: ignore[union-attr]
