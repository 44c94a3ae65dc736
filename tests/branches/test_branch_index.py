# ruff: noqa: F811 - the fixtures imported from branch_fixtures are parameters here
"""The branch tables of the index against a real Anvil: what each event leaves in them, an index
kept up to date pass by pass equals one rebuilt from the chain, and a reorg that drops branch
events leaves the same tables as a fresh rebuild."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chaincrm.contracts.branches import encode_branch_name
from chaincrm.contracts.client import Crm
from chaincrm.index import schema as db
from chaincrm.index.indexer import Indexer
from tests.branches.branch_fixtures import (  # noqa: F401 - fixtures
    People,
    advance_time,
    branch_anvil,
    branch_chain,
    crm,
    people,
    register_customer,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("snapshot")

BRANCH_TABLES = (db.branch_events, db.branches, db.branch_staff, db.branch_customers)


@pytest.fixture
def indexers(tmp_path: Path, crm: Crm) -> Iterator[Any]:
    made: list[Indexer] = []

    def make(name: str, confirmations: int = 0) -> Indexer:
        indexer = Indexer(crm.chain, crm.deployment, tmp_path / f"{name}.sqlite", confirmations=confirmations)
        made.append(indexer)
        return indexer

    yield make
    for indexer in made:
        indexer.close()


def tables(indexer: Indexer) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the branch tables (and the state tables), without surrogate ids, sorted."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with indexer.engine.connect() as conn:
        for table in (*BRANCH_TABLES, *db.STATE_TABLES):
            columns = [c for c in table.columns if c.name != "id" or table in db.STATE_TABLES]
            found[table.name] = sorted((tuple(row) for row in conn.execute(select(*columns)).all()), key=repr)
    return found


def rows(indexer: Indexer, table: Any) -> list[dict[str, Any]]:
    with indexer.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(table)).mappings()]


def test_each_directory_event_lands_in_the_branch_tables(crm: Crm, people: People, indexers: Any) -> None:
    directory = crm.branches
    lisbon = directory.create_branch("lisbon", people.manager)
    directory.set_branch_manager(lisbon, people.lisbon_boss.address, people.manager)
    joined = directory.add_staff(lisbon, people.newcomer.address, people.lisbon_boss)
    left = directory.remove_staff(lisbon, people.newcomer.address, people.lisbon_boss)
    customer_id = register_customer(crm, people.veteran)
    directory.assign_customer(lisbon, customer_id, people.lisbon_boss)
    index = indexers("index")

    index.sync_once()

    (branch,) = rows(index, db.branches)
    assert (branch["id"], branch["name"], branch["manager"], branch["creator"]) == (
        lisbon,
        "0x" + encode_branch_name("lisbon").hex(),
        people.lisbon_boss.address,
        people.manager.address,
    )
    (stay,) = rows(index, db.branch_staff)
    assert (stay["account"], stay["joined_block"], stay["left_block"], stay["added_by"], stay["removed_by"]) == (
        people.newcomer.address,
        joined["blockNumber"],
        left["blockNumber"],
        people.lisbon_boss.address,
        people.lisbon_boss.address,
    )
    assert stay["joined_at"] == crm.chain.block_timestamp(joined["blockNumber"])
    assert stay["left_at"] == crm.chain.block_timestamp(left["blockNumber"])
    (assigned,) = rows(index, db.branch_customers)
    assert (assigned["customer_id"], assigned["branch_id"]) == (customer_id, lisbon)
    kinds = [
        row["kind"] for row in sorted(rows(index, db.branch_events), key=lambda r: (r["block_number"], r["log_index"]))
    ]
    assert kinds == ["created", "manager_set", "staff_joined", "staff_left", "customer_assigned"]


def test_an_index_kept_up_pass_by_pass_equals_one_rebuilt_from_the_chain(
    crm: Crm, people: People, indexers: Any
) -> None:
    directory = crm.branches
    following = indexers("following")
    lisbon = directory.create_branch("lisbon", people.manager)
    porto = directory.create_branch("porto", people.manager)
    following.sync_once()
    directory.set_branch_manager(lisbon, people.lisbon_boss.address, people.manager)
    directory.add_staff(lisbon, people.newcomer.address, people.lisbon_boss)
    following.sync_once()
    advance_time(crm.chain, 3_600)
    directory.remove_staff(lisbon, people.newcomer.address, people.lisbon_boss)
    directory.add_staff(porto, people.newcomer.address, people.manager)
    customer_id = register_customer(crm, people.veteran)
    directory.assign_customer(lisbon, customer_id, people.manager)
    following.sync_once()
    directory.assign_customer(porto, customer_id, people.manager)
    directory.set_branch_manager(lisbon, None, people.manager)
    directory.remove_staff(porto, people.newcomer.address, people.manager)
    directory.add_staff(lisbon, people.newcomer.address, people.manager)
    following.sync_once()

    rebuilt = indexers("rebuilt")
    rebuilt.sync_once()

    assert tables(following) == tables(rebuilt)
    stays = [(r["branch_id"], r["left_block"] is None) for r in rows(rebuilt, db.branch_staff)]
    assert sorted(stays) == [(lisbon, False), (lisbon, True), (porto, False)]
    assert [(r["customer_id"], r["branch_id"]) for r in rows(rebuilt, db.branch_customers)] == [(customer_id, porto)]


def test_branch_events_a_reorg_drops_leave_the_tables_a_rebuild_makes(crm: Crm, people: People, indexers: Any) -> None:
    directory = crm.branches
    lisbon = directory.create_branch("lisbon", people.manager)
    directory.add_staff(lisbon, people.newcomer.address, people.manager)
    following = indexers("following", confirmations=3)
    fork = crm.chain.request("evm_snapshot", [])
    directory.remove_staff(lisbon, people.newcomer.address, people.manager)
    directory.create_branch("porto", people.manager)
    following.sync_once()
    assert len(rows(following, db.branches)) == 2

    crm.chain.request("evm_revert", [fork])
    crm.chain.nonces.reset_all()
    for _ in range(3):
        crm.chain.request("evm_mine", [])
    directory.create_branch("faro", people.manager)
    report = following.sync_once()
    rebuilt = indexers("rebuilt")
    rebuilt.sync_once()

    assert report.rolled_back_from is not None
    assert tables(following) == tables(rebuilt)
    assert [(row["id"], row["name"]) for row in sorted(rows(following, db.branches), key=lambda r: r["id"])] == [
        (1, "0x" + encode_branch_name("lisbon").hex()),
        (2, "0x" + encode_branch_name("faro").hex()),
    ]
    (stay,) = rows(following, db.branch_staff)
    assert stay["left_block"] is None
