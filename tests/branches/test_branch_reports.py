# ruff: noqa: F811 - the fixtures imported from branch_fixtures are parameters here
"""Reports by branch computed from the chain: `chaincrm report --branch` over a seeded chain, from
the index and from the chain's logs, and the API's branch filter.

The story: lisbon (managed by lisbon_boss) takes on Ana (``newcomer``), porto (porto_boss) takes on
Bruno (``newcomer2``); the veteran agent is in no branch. Ana registers a customer, logs one
interaction and opens a deal she moves to qualified; Bruno logs two interactions, the veteran
one. Ten days later Ana leaves lisbon; ten days after that the story ends."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaincrm.api.errors import ApiError
from chaincrm.api.params import agents_chosen
from chaincrm.contracts.client import Crm
from chaincrm.contracts.interactions import InteractionEntry
from chaincrm.index.branches import roster_from_database
from chaincrm.index.indexer import Indexer
from chaincrm.models import InteractionKind, Outcome, Stage
from tests.branches.branch_fixtures import (  # noqa: F401 - fixtures
    People,
    advance_time,
    branch_anvil,
    branch_chain,
    cli_in,
    crm,
    people,
    register_customer,
)
from tests.cli.conftest import Cli

DAY = 86_400


@dataclass(frozen=True)
class Story:
    cli: Cli
    home: Path
    ana: str
    bruno: str
    veteran: str
    left_at: int  # when Ana left lisbon
    end_block: int


def log(crm: Crm, author: Any, customer_id: int) -> None:
    entry = InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))
    crm.registry.log_interaction(entry, author)


@pytest.fixture(scope="module")
def story(crm: Crm, people: People, tmp_path_factory: pytest.TempPathFactory) -> Story:
    directory = crm.branches
    lisbon = directory.create_branch("lisbon", people.manager)
    porto = directory.create_branch("porto", people.manager)
    directory.set_branch_manager(lisbon, people.lisbon_boss.address, people.manager)
    directory.set_branch_manager(porto, people.porto_boss.address, people.manager)
    ana, bruno, veteran = people.newcomer, people.newcomer2, people.veteran
    directory.add_staff(lisbon, ana.address, people.lisbon_boss)
    directory.add_staff(porto, bruno.address, people.porto_boss)

    ana_customer = register_customer(crm, ana)
    log(crm, ana, ana_customer)
    deal = crm.pipeline.open_deal(ana_customer, ana.address, 10**18, ana)
    crm.pipeline.move(deal, Stage.QUALIFIED, ana)
    bruno_customer = register_customer(crm, bruno)
    log(crm, bruno, bruno_customer)
    log(crm, bruno, bruno_customer)
    veteran_customer = register_customer(crm, veteran)
    log(crm, veteran, veteran_customer)
    directory.assign_customer(lisbon, ana_customer, people.lisbon_boss)

    advance_time(crm.chain, 10 * DAY)
    left = directory.remove_staff(lisbon, ana.address, people.lisbon_boss)
    advance_time(crm.chain, 10 * DAY)
    end_block = crm.chain.block_number()

    home = tmp_path_factory.mktemp("report-home")
    cli = cli_in(home, crm, people)
    with Indexer(crm.chain, crm.deployment, home / "index.sqlite", confirmations=0) as indexer:
        indexer.sync_once()
    return Story(
        cli=cli,
        home=home,
        ana=ana.address,
        bruno=bruno.address,
        veteran=veteran.address,
        left_at=crm.chain.block_timestamp(left["blockNumber"]),
        end_block=end_block,
    )


def report(story: Story, *args: object) -> dict[str, Any]:
    return story.cli("report", "--until", _end(story), *args, "--json").json()  # type: ignore[no-any-return]


def _end(story: Story) -> int:
    return story.left_at + 10 * DAY


def staff_rows(data: dict[str, Any]) -> list[tuple[str, int]]:
    return [(row["agent"], row["interactions"]) for row in data["staff"]]


@pytest.mark.parametrize("source", ["index", "chain"])
def test_a_report_by_branch_keeps_the_staff_of_that_branch(story: Story, source: str) -> None:
    data = report(story, "--branch", "lisbon", "--source", source)

    assert data["agents"] == [story.ana]
    assert staff_rows(data) == [(story.ana, 1)]
    assert data["deals_opened"] == 1


def test_the_index_and_the_chain_give_the_same_report_by_branch(story: Story) -> None:
    from_index = report(story, "--branch", "porto")
    from_chain = report(story, "--branch", "porto", "--source", "chain")

    assert from_index == from_chain
    assert staff_rows(from_index) == [(story.bruno, 2)]


def test_branches_by_name_and_id_add_up_and_leave_out_staff_of_no_branch(story: Story) -> None:
    data = report(story, "--branch", "lisbon", "--branch", "2")

    assert data["agents"] == sorted([story.ana, story.bruno])
    assert story.veteran not in [row["agent"] for row in data["staff"]]


def test_an_agent_who_left_before_the_window_is_not_counted_for_the_branch(story: Story) -> None:
    after = report(story, "--branch", "lisbon", "--since", story.left_at + 1)
    before = report(story, "--branch", "lisbon", "--since", story.left_at - DAY)

    assert after["agents"] == [] and after["staff"] == []
    assert before["agents"] == [story.ana]


def test_an_unknown_branch_is_one_line_listing_the_branches_on_chain(story: Story) -> None:
    result = story.cli("report", "--branch", "madrid")

    assert result.error == "error: unknown branch 'madrid' (branches: lisbon, porto)"


def test_the_index_holds_the_same_roster_as_the_chain(crm: Crm, story: Story) -> None:
    from_chain = crm.branches.roster(crm.deployment.block_number, story.end_block)

    from_index = roster_from_database(None, home=story.home)

    assert from_index == from_chain
    assert [(p.account, p.left_at) for p in from_index.periods] == [(story.ana, story.left_at), (story.bruno, None)]


def test_the_api_filter_takes_a_branch_from_the_index_roster(story: Story) -> None:
    roster = roster_from_database(None, home=story.home)

    chosen = agents_chosen([], ["porto"], roster)
    with pytest.raises(ApiError) as unknown:
        agents_chosen([], ["madrid"], roster)

    assert chosen == frozenset({story.bruno})
    assert unknown.value.status == 400
    assert "unknown branch 'madrid' (branches: lisbon, porto)" in str(unknown.value)
