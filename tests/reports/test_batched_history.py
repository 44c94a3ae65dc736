# ruff: noqa: F811 - the fixtures are imported here, so fixture arguments redefine them
"""Interactions anchored in batches in the reports read from the chain: the History and every KPI
from the chain (plus IPFS) equal the index's, `report --source chain/--verify`, `interaction list
--from-chain` and the customer timeline from the chain count them, and a batch document IPFS
cannot give stops the chain side in one line instead of counting fewer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.errors import StorageError
from chaincrm.index.indexer import Indexer, open_database
from chaincrm.reports.figures import compute
from chaincrm.reports.history import history_from_chain, history_from_index
from chaincrm.reports.reconcile import reconcile_with_chain
from chaincrm.reports.records import History
from chaincrm.services.anvil import AnvilNode
from chaincrm.storage import KuboStore
from chaincrm.storage.node import NodeHandle
from tests.batches.batch_documents import document, store_and_anchor, value
from tests.cli.conftest import cli_for, environment_for
from tests.indexer.conftest import entry, register
from tests.sdk.conftest import Staff, crm, snapshot  # noqa: F401 - fixtures
from tests.sdk.ipfs_fixtures import document_store, free_port, ipfs_node  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.usefixtures("snapshot"),
    pytest.mark.filterwarnings("ignore:The 'strict' parameter is no longer needed:FutureWarning"),
]


@dataclass(frozen=True)
class Batched:
    """A home whose deployment logged interactions singly, packed and anchored in batches, and its
    index built with the batches' documents."""

    settings: Settings
    indexed: History
    customers: tuple[int, int]
    batched: int  # records the batches count


@pytest.fixture
def batched(
    crm: Crm, staff: Staff, anvil_node: AnvilNode, document_store: KuboStore, ipfs_node: NodeHandle, tmp_path: Path
) -> Batched:
    one, two = register(crm, staff), register(crm, staff)
    stranger = register(crm, staff, agent=staff.agent2)  # the agent holds no grant: refused
    crm.registry.log_interaction(entry(one), staff.agent)
    sevens = [value(one) for _ in range(7)]
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, sevens, seconds_apart=0))
    crm.registry.log_interactions([entry(one), entry(two)], staff.agent)
    mixed = [value(two), value(stranger), value(one)]
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, mixed, seconds_apart=0))
    home = tmp_path / "home"
    home.mkdir()
    save_record(crm.deployment, home / "deployment.json")
    with Indexer(crm.chain, crm.deployment, home / "index.sqlite", confirmations=0, documents=document_store) as ix:
        ix.sync_once()
    engine = open_database(None, home=home)
    with engine.connect() as connection:
        indexed = history_from_index(connection)
    engine.dispose()
    settings = Settings(rpc_url=anvil_node.url, home=home, ipfs_api=ipfs_node.api_addr)
    return Batched(settings, indexed, (one, two), 9)


def test_the_history_from_the_chain_and_ipfs_equals_the_index_with_its_batched_records(
    crm: Crm, document_store: KuboStore, batched: Batched
) -> None:
    from_chain = history_from_chain(crm, to_block=batched.indexed.end_block, store=document_store)

    assert from_chain == batched.indexed
    assert len(from_chain.interactions) == 1 + 2 + batched.batched


def test_every_figure_recomputed_from_the_chain_matches_the_index(
    crm: Crm, staff: Staff, document_store: KuboStore, batched: Batched
) -> None:
    report = compute(batched.indexed)
    checks = reconcile_with_chain(crm, batched.indexed, report, store=document_store)

    assert [check.kpi for check in checks if not check.matches] == []
    (interactions,) = [check for check in checks if check.kpi == f"staff {staff.agent.address}: interactions"]
    assert interactions.chain_value == str(1 + 2 + batched.batched)


def test_the_chain_side_without_the_batch_documents_says_so_in_one_line(
    crm: Crm, batched: Batched, document_store: KuboStore
) -> None:
    with pytest.raises(StorageError) as without_store:
        history_from_chain(crm, store=None)
    down = KuboStore(f"/ip4/127.0.0.1/tcp/{free_port()}/http", timeout_seconds=2)
    with down, pytest.raises(StorageError) as ipfs_down:
        reconcile_with_chain(crm, batched.indexed, compute(batched.indexed), store=down)
    for refused in (without_store.value, ipfs_down.value):
        assert "2 of 2 anchored interaction batch(es)" in str(refused) and "\n" not in str(refused)


def test_report_verify_and_the_chain_source_count_the_batched_records(staff: Staff, batched: Batched) -> None:
    run = cli_for(environment_for(batched.settings))

    verified = run("report", "--verify", "--json")
    assert verified.exit_code == 0, verified.stderr
    assert all(check["match"] for check in verified.json()["verify"])
    from_chain = run("report", "--source", "chain", "--json")
    assert from_chain.exit_code == 0, from_chain.stderr
    (row,) = [row for row in from_chain.json()["staff"] if row["agent"] == staff.agent.address]
    assert row["interactions"] == 1 + 2 + batched.batched


def test_report_verify_with_ipfs_down_fails_in_one_line(batched: Batched) -> None:
    down = {"CHAINCRM_IPFS_API": f"/ip4/127.0.0.1/tcp/{free_port()}/http"}
    run = cli_for(environment_for(batched.settings) | down)

    refused = run("report", "--verify")

    assert refused.exit_code != 0
    assert "anchored interaction batch(es)" in refused.error and "cannot be counted from the chain" in refused.error


def test_interaction_list_and_the_timeline_from_the_chain_equal_the_index(batched: Batched) -> None:
    run = cli_for(environment_for(batched.settings))
    one, _ = batched.customers

    for args in (("interaction", "list"), ("interaction", "list", one), ("customer", "timeline", one)):
        indexed, chained = run(*args, "--json"), run(*args, "--from-chain", "--json")
        assert indexed.exit_code == chained.exit_code == 0, chained.stderr
        strip = [{k: v for k, v in row.items() if k not in ("source", "as_of_block")} for row in indexed.json()]
        assert [{k: v for k, v in row.items() if k not in ("source", "as_of_block")} for row in chained.json()] == strip
        assert {row["source"] for row in chained.json()} == {"chain"}
    assert len(run("interaction", "list", "--from-chain", "--json").json()) == 1 + 2 + batched.batched


def test_index_prints_its_batch_figures(crm: Crm, batched: Batched, tmp_path: Path) -> None:
    run = cli_for(environment_for(batched.settings))

    fresh = run("index", "--database", tmp_path / "fresh.sqlite", "--confirmations", 0, "--json")
    assert fresh.exit_code == 0, fresh.stderr
    summary = fresh.json()
    assert (summary["batches_checked"], summary["batches_unavailable"], summary["batch_records"]) == (2, 0, 9)
    human = run("index", "--database", tmp_path / "human.sqlite", "--confirmations", 0)
    assert "batch_records" in human.stdout and "batches_unavailable" in human.stdout

    down = {"CHAINCRM_IPFS_API": f"/ip4/127.0.0.1/tcp/{free_port()}/http"}
    run_down = cli_for(environment_for(batched.settings) | down)
    missing = run_down("index", "--database", tmp_path / "down.sqlite", "--confirmations", 0, "--json").json()
    assert (missing["batches_checked"], missing["batches_unavailable"], missing["batch_records"]) == (0, 2, 0)
