"""POST /deals in a currency: an allow-listed ERC-20 (`currency`, `value` in its whole units) or
ETH (`value_wei`, or `value` in ETH); a token the escrow does not allow comes back as the
contract's TokenNotAllowed, and an Idempotency-Key still sends one transaction."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from chaincrm.models import Stage
from tests.api.conftest import ApiServer, error_of, sent_count
from tests.portal.conftest import TOKEN_SYMBOL, deploy_stablecoin

ZERO_ADDRESS = "0x" + "00" * 20
TOKEN = "the module's stablecoin"  # replaced by its address


@pytest.fixture(scope="module")
def token(api_server: ApiServer) -> str:
    return deploy_stablecoin(api_server.crm, api_server.accounts.admin)


@pytest.fixture(scope="module")
def refused_token(api_server: ApiServer) -> str:
    """A stablecoin the escrow allowed and then took off its allow-list."""
    crm, admin = api_server.crm, api_server.accounts.admin
    address = deploy_stablecoin(crm, admin)
    crm.escrow.allow_token(address, admin, allowed=False)
    return address


def test_a_deal_in_an_allow_listed_token_is_opened_in_its_base_units(
    api_server: ApiServer, agent_api: httpx.Client, token: str
) -> None:
    body = {"customer_id": api_server.customer_id, "currency": token, "value": "1234.56"}

    answer = agent_api.post("/deals", json=body)

    assert answer.status_code == 201, answer.text
    sent = answer.json()
    deal = api_server.crm.pipeline.deal(sent["deal_id"])
    assert (deal.currency, deal.value_wei, deal.stage) == (token, 1_234_560_000, Stage.LEAD)
    receipt = api_server.crm.chain.w3.eth.get_transaction_receipt(sent["tx_hash"])
    assert (receipt["blockNumber"], receipt["gasUsed"]) == (sent["block_number"], sent["gas_used"])
    api_server.catch_up()
    read = agent_api.get(f"/deals/{sent['deal_id']}").json()
    assert read["currency"] == {"address": token, "symbol": TOKEN_SYMBOL, "decimals": 6}
    assert (read["value"], read["value_base_units"], read["value_wei"]) == ("1234.56", "1234560000", None)


def test_a_deal_in_eth_may_be_given_in_eth_instead_of_wei(api_server: ApiServer, agent_api: httpx.Client) -> None:
    answer = agent_api.post("/deals", json={"customer_id": api_server.customer_id, "value": "0.25"})

    assert answer.status_code == 201, answer.text
    deal = api_server.crm.pipeline.deal(answer.json()["deal_id"])
    assert (deal.currency, deal.value_wei) == (None, 25 * 10**16)


def test_a_token_the_escrow_does_not_allow_is_refused_with_the_decoded_revert_and_nothing_is_sent(
    api_server: ApiServer, agent_api: httpx.Client, refused_token: str
) -> None:
    agent = api_server.accounts.agent
    before = sent_count(api_server.crm, agent.address)

    answer = agent_api.post(
        "/deals", json={"customer_id": api_server.customer_id, "currency": refused_token, "value": "10"}
    )

    assert answer.status_code == 409
    error = error_of(answer)
    assert error["code"] == "contract_refused"
    assert error["revert"] == {"name": "TokenNotAllowed", "args": {"token": refused_token}}
    assert sent_count(api_server.crm, agent.address) == before


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"currency": TOKEN, "value": "1.1234567"}, "more decimals than"),
        ({"currency": TOKEN, "value": "0"}, "more than 0"),
        ({"currency": TOKEN, "value": "0.000"}, "more than 0"),
        ({"currency": TOKEN, "value": 12.5}, "value"),
        ({"currency": TOKEN, "value": "1e3"}, "value"),
        ({"currency": TOKEN, "value": " 12"}, "value"),
        ({"value": "12", "value_wei": "12"}, "once"),
        ({"currency": TOKEN, "value_wei": "12"}, "value_wei is wei"),
        ({"currency": TOKEN}, "once"),
        ({"currency": ZERO_ADDRESS, "value": "12"}, "currency"),
        ({"currency": "0xabc", "value": "12"}, "currency"),
    ],
)
def test_a_bad_currency_or_value_is_one_400_naming_it_and_sends_nothing(
    api_server: ApiServer, agent_api: httpx.Client, token: str, fields: dict[str, Any], named: str
) -> None:
    agent = api_server.accounts.agent
    before = sent_count(api_server.crm, agent.address)
    body = {"customer_id": api_server.customer_id, **fields}
    if body.get("currency") == TOKEN:
        body["currency"] = token

    answer = agent_api.post("/deals", json=body)

    assert answer.status_code == 400, answer.text
    error = error_of(answer)
    assert error["code"] == "invalid_request" and named in str(error["message"])
    assert sent_count(api_server.crm, agent.address) == before


def test_a_token_deal_retried_with_its_idempotency_key_is_opened_once(
    api_server: ApiServer, agent_api: httpx.Client, token: str
) -> None:
    agent = api_server.accounts.agent
    body = {"customer_id": api_server.customer_id, "currency": token, "value": "5"}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    before = sent_count(api_server.crm, agent.address)

    first = agent_api.post("/deals", json=body, headers=headers)
    retry = agent_api.post("/deals", json=body, headers=headers)
    in_eth = agent_api.post("/deals", json={**body, "currency": None}, headers=headers)

    assert first.status_code == retry.status_code == 201, first.text
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    assert in_eth.status_code == 409 and error_of(in_eth)["code"] == "idempotency_key_reused"
    assert sent_count(api_server.crm, agent.address) == before + 1
    assert api_server.crm.pipeline.deal(first.json()["deal_id"]).value_wei == 5 * 10**6
