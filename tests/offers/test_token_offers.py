"""Offers in an ERC-20: `min_paid` counted in the token (by symbol or address, in its decimals),
and an offer accepted for a new deal valued in the token."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.client import Crm
from chaincrm.contracts.offers import sign_offer
from chaincrm.index.indexer import Indexer
from chaincrm.models import Stage
from chaincrm.offers.rules import Rule
from chaincrm.offers.suggest import histories_from_chain, read_histories, resolve_currencies, seen_currencies, suggest
from tests.offers.conftest import PATH_TO_WON, new_customer
from tests.sdk.conftest import Staff

TOKEN_UNIT = 10**6  # TestStablecoin has 6 decimals


@pytest.fixture(scope="module")
def token(crm: Crm, staff: Staff) -> str:
    artifact = load_artifact("TestStablecoin")
    factory = crm.chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    address = to_checksum_address(
        crm.chain.transact(factory.constructor("Test USD", "TUSD"), staff.admin)["contractAddress"]
    )
    crm.chain.transact(crm.escrow.contract.functions.allowToken(address, True), staff.admin)
    return address


@pytest.fixture(scope="module")
def payer(crm: Crm, staff: Staff, token: str) -> int:
    """A customer who paid 3 TUSD for a deal valued in the token."""
    customer_id = new_customer(crm, staff, staff.customer)
    pipeline = crm.pipeline.contract
    crm.chain.transact(
        pipeline.functions.openDealIn(customer_id, staff.agent.address, 3 * TOKEN_UNIT, token), staff.agent
    )
    deal_id = crm.pipeline.deal_count()
    for stage in PATH_TO_WON:  # a deal in a token is won by a manager (no threshold in its units)
        crm.pipeline.move(deal_id, stage, staff.manager if stage is Stage.WON else staff.agent)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    erc20 = crm.chain.w3.eth.contract(address=token, abi=load_artifact("TestStablecoin").abi)  # type: ignore[arg-type]
    crm.chain.transact(erc20.functions.mint(staff.customer.address, 3 * TOKEN_UNIT), staff.customer)
    crm.chain.transact(erc20.functions.approve(crm.escrow.address, 3 * TOKEN_UNIT), staff.customer)
    crm.chain.transact(crm.escrow.contract.functions.payToken(invoice_id), staff.customer)
    return customer_id


def _rules(currency: str) -> list[Rule]:
    return [
        Rule(name="token", discount_bps=300, min_paid=Decimal("2.5"), currency=currency),
        Rule(name="ether", discount_bps=900, min_paid=Decimal("0.1")),
    ]


@pytest.mark.parametrize("by", ["symbol", "address"])
def test_a_payment_in_a_token_counts_for_a_rule_in_that_token_only(crm: Crm, token: str, payer: int, by: str) -> None:
    rules = _rules("TUSD" if by == "symbol" else token)
    histories = histories_from_chain(crm)
    found = suggest(histories, rules, resolve_currencies(crm, rules, seen_currencies(histories)))

    assert [(s.customer_id, s.rule.name, s.figures.describe()) for s in found.suggestions] == [
        (payer, "token", "3 TUSD paid")
    ]


def test_the_index_reads_the_token_payments_as_the_chain_does(crm: Crm, token: str, payer: int, tmp_path: Path) -> None:
    database = tmp_path / "index.sqlite"
    with Indexer(crm.chain, crm.deployment, database, confirmations=0) as indexer:
        indexer.sync_once()
    from_index = read_histories(crm, database=database, home=tmp_path)
    rules = _rules("TUSD")

    assert from_index.source == "index"
    assert [p.currency for h in from_index.customers for p in h.payments] == [token]
    found = suggest(from_index, rules, resolve_currencies(crm, rules, seen_currencies(from_index)))
    assert [s.figures.describe() for s in found.suggestions] == ["3 TUSD paid"]


def test_an_offer_opens_a_deal_valued_in_the_token(
    crm: Crm, staff: Staff, token: str, payer: int, snapshot: None
) -> None:
    offer = sign_offer(
        staff.manager, chain_id=crm.chain.chain_id, pipeline=crm.pipeline.address, customer_id=payer,
        discount_bps=300, expiry=2**40,
    )  # fmt: skip
    deal_id = crm.pipeline.accept_offer(offer, staff.customer, value=2 * TOKEN_UNIT, currency=token)

    deal = crm.pipeline.deal(deal_id)
    assert (deal.currency, deal.value_wei, deal.discount_bps, deal.stage) == (
        token,
        2 * TOKEN_UNIT,
        300,
        Stage.PROPOSAL,
    )
