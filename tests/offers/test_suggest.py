"""`suggest`: who qualifies for which rule, with the figures, from the chain and from the index alike."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError
from chaincrm.index.indexer import Indexer
from chaincrm.offers.rules import Rule
from chaincrm.offers.suggest import (
    CHAIN,
    INDEX,
    Histories,
    histories_from_chain,
    read_histories,
    resolve_currencies,
    seen_currencies,
    suggest,
)
from tests.offers.conftest import ONE_ETH, advance, new_customer, released_invoices, won_invoice
from tests.sdk.conftest import Staff

LOYAL = Rule(name="loyal", discount_bps=500, min_released_invoices=3, window_days=365)
BIG = Rule(name="big", discount_bps=750, min_paid=Decimal("2.5"), window_days=365)
RECENT = Rule(name="recent", discount_bps=100, min_released_invoices=1, window_days=1)


@dataclass(frozen=True)
class Story:
    loyal: int  # 3 released invoices of 1 ETH, wallet bound
    small: int  # 0.5 ETH paid (and a 3 ETH invoice paid then refunded), wallet bound
    unbound: int  # wallet proposed but never accepted
    erased: int


@pytest.fixture(scope="module")
def story(crm: Crm, staff: Staff) -> Story:
    loyal = new_customer(crm, staff, staff.customer)
    released_invoices(crm, staff, loyal, staff.customer, 3)
    small = new_customer(crm, staff, staff.customer2)
    crm.escrow.pay(won_invoice(crm, staff, small, ONE_ETH // 2), staff.customer2)
    refunded = won_invoice(crm, staff, small, 3 * ONE_ETH)
    crm.escrow.pay(refunded, staff.customer2)
    crm.escrow.refund(refunded, staff.manager)
    unbound = new_customer(crm, staff, staff.stranger, accept=False)  # no wallet: no deal can be won
    erased = new_customer(crm, staff)
    crm.registry.erase_customer(erased, b"\x01" * 32, staff.manager)
    return Story(loyal, small, unbound, erased)


def _currencies(crm: Crm, histories: Histories, rules: list[Rule]) -> dict:
    return resolve_currencies(crm, rules, seen_currencies(histories))


def test_a_customer_with_enough_released_invoices_and_payments_qualifies_with_the_figures(
    crm: Crm, story: Story
) -> None:
    histories = histories_from_chain(crm)
    found = suggest(histories, [LOYAL, BIG], _currencies(crm, histories, [LOYAL, BIG]))

    rows = [(s.customer_id, s.rule.name, s.figures.describe()) for s in found.suggestions]
    assert rows == [
        (story.loyal, "big", "3 ETH paid"),  # the best discount first
        (story.loyal, "loyal", "3 released invoices"),
    ]
    assert found.source == CHAIN
    assert found.suggestions[0].figures.as_dict()["paid"] == "3"


def test_everyone_else_is_left_out_with_the_reason(crm: Crm, story: Story) -> None:
    histories = histories_from_chain(crm)
    found = suggest(histories, [LOYAL, BIG], _currencies(crm, histories, [LOYAL, BIG]))
    reasons = {left.customer_id: left.reason for left in found.left_out}

    assert reasons[story.small] == (
        "meets no rule: 'loyal' needs >= 3 released invoices, last 365 days: has 0 released invoices; "
        "'big' needs >= 2.5 ETH paid, last 365 days: has 0.5 ETH paid"
    )  # the refunded 3 ETH is not counted as paid
    assert reasons[story.unbound] == "no bound wallet: offers are accepted from it"
    assert reasons[story.erased] == "erased"
    assert story.loyal not in reasons


def test_the_index_gives_the_same_suggestions_as_the_chain(crm: Crm, story: Story, tmp_path: Path) -> None:
    database = tmp_path / "index.sqlite"
    with Indexer(crm.chain, crm.deployment, database, confirmations=0) as indexer:
        indexer.sync_once()
    from_index = read_histories(crm, database=database, home=tmp_path)
    from_chain = histories_from_chain(crm, to_block=from_index.end_block)
    rules = [LOYAL, BIG, RECENT]

    assert from_index.source == INDEX
    assert suggest(from_index, rules, _currencies(crm, from_index, rules)).suggestions == (
        suggest(from_chain, rules, _currencies(crm, from_chain, rules)).suggestions
    )
    assert read_histories(crm, database=database, home=tmp_path, from_chain=True).source == CHAIN


def test_without_an_index_the_chain_is_read(crm: Crm, story: Story, tmp_path: Path) -> None:
    assert read_histories(crm, database=None, home=tmp_path).source == CHAIN


def test_a_window_counts_only_what_happened_inside_it(crm: Crm, story: Story, snapshot: None) -> None:
    histories = histories_from_chain(crm)
    assert [s.customer_id for s in suggest(histories, [RECENT], {}).suggestions] == [story.loyal]

    advance(crm, 2 * 86_400)
    later = histories_from_chain(crm)
    assert suggest(later, [RECENT], {}).suggestions == ()


def test_a_token_symbol_nobody_paid_in_is_refused(crm: Crm, story: Story) -> None:
    rule = Rule(name="usdc", discount_bps=100, min_paid=Decimal(1), currency="USDC")
    with pytest.raises(ConfigError, match="no allow-listed or paid-in token has the symbol 'USDC'"):
        resolve_currencies(crm, [rule], seen_currencies(histories_from_chain(crm)))
