"""`interaction list`, `customer timeline` and `deal show` read the event index when one follows this
deployment, the chain otherwise (or with --from-chain), say which and up to which block, and both
give the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaincrm.contracts.client import Crm
from chaincrm.index.indexer import Indexer
from tests.cli.conftest import Accounts, Cli

pytestmark = pytest.mark.usefixtures("snapshot")


def _log(cli: Cli, accounts: Accounts, customer: int, kind: str, outcome: str) -> None:
    run = cli(
        "interaction", "log", customer, "--kind", kind, "--outcome", outcome, "--note", f"{kind} {outcome}",
        "--keystore", accounts.agent.address, "--json",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr


def _index(crm: Crm, database: Path) -> int:
    with Indexer(crm.chain, crm.deployment, database, confirmations=0) as indexer:
        indexer.sync_once()
        state = indexer.state()
    assert state is not None
    return state.last_block


def _listed(cli: Cli, *args: object) -> list[dict[str, Any]]:
    run = cli("interaction", "list", *args, "--json")
    assert run.exit_code == 0, run.stderr
    rows: list[dict[str, Any]] = run.json()
    return rows


def _content(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in ("source", "as_of_block")} for row in rows]


def test_the_index_and_the_chain_list_the_same_interactions(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    _log(cli, accounts, customer_id, "call", "positive")
    _log(cli, accounts, customer_id, "email", "follow-up")
    _log(cli, accounts, customer_id, "meeting", "negative")
    database = tmp_path / "index.sqlite"
    last_block = _index(crm, database)

    for args in ((customer_id,), ()):
        from_index = _listed(cli, *args, "--database", database)
        from_chain = _listed(cli, *args, "--database", database, "--from-chain")

        assert {(row["source"], row["as_of_block"]) for row in from_index} == {("index", last_block)}
        assert {(row["source"], row["as_of_block"]) for row in from_chain} == {("chain", last_block)}
        assert len(from_index) >= 3
        assert _content(from_index) == _content(from_chain)


def test_the_index_reads_only_up_to_the_block_it_reached(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    _log(cli, accounts, customer_id, "call", "positive")
    database = tmp_path / "index.sqlite"
    last_block = _index(crm, database)
    _log(cli, accounts, customer_id, "email", "positive")  # after the index's last block

    from_index = _listed(cli, customer_id, "--database", database)
    from_chain = _listed(cli, customer_id, "--database", database, "--from-chain")

    assert [(row["kind"], row["source"], row["as_of_block"]) for row in from_index] == [("call", "index", last_block)]
    assert [row["kind"] for row in from_chain] == ["call", "email"]
    assert {row["source"] for row in from_chain} == {"chain"}
    assert from_chain[0]["as_of_block"] > last_block


def test_without_an_index_the_chain_is_read_and_nothing_is_created(
    cli: Cli, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    _log(cli, accounts, customer_id, "call", "positive")
    database = tmp_path / "missing.sqlite"

    rows = _listed(cli, customer_id, "--database", database)
    text = cli("interaction", "list", customer_id, "--database", database)

    assert [row["source"] for row in rows] == ["chain"]
    assert "Read from the chain up to block" in text.stdout
    assert not database.exists()


def test_an_index_of_another_deployment_is_not_read(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    _log(cli, accounts, customer_id, "call", "positive")
    database = tmp_path / "index.sqlite"
    _index(crm, database)
    from sqlalchemy import update

    from chaincrm.index import schema as db
    from chaincrm.index.database import open_database

    engine = open_database(database)
    with engine.begin() as conn:
        conn.execute(update(db.sync_state).values(registry="0x" + "11" * 20))
    engine.dispose()

    rows = _listed(cli, customer_id, "--database", database)

    assert [row["source"] for row in rows] == ["chain"]


def _shown(cli: Cli, *args: object) -> Any:
    run = cli(*args, "--json")
    assert run.exit_code == 0, run.stderr
    return run.json()


def _without_source(found: Any) -> Any:
    if isinstance(found, list):
        return _content(found)
    return {k: v for k, v in found.items() if k not in ("source", "as_of_block")}


def test_the_index_and_the_chain_give_the_same_timeline_and_deal(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, invoice_id: int, tmp_path: Path
) -> None:
    _log(cli, accounts, customer_id, "call", "positive")
    deal_id = crm.escrow.invoice(invoice_id).deal_id
    database = tmp_path / "index.sqlite"
    last_block = _index(crm, database)

    for command in (("customer", "timeline", customer_id), ("deal", "show", deal_id)):
        from_index = _shown(cli, *command, "--database", database)
        from_chain = _shown(cli, *command, "--database", database, "--from-chain")

        rows = from_index if isinstance(from_index, list) else [from_index]
        chain_rows = from_chain if isinstance(from_chain, list) else [from_chain]
        assert {(row["source"], row["as_of_block"]) for row in rows} == {("index", last_block)}
        assert {(row["source"], row["as_of_block"]) for row in chain_rows} == {("chain", last_block)}
        assert _without_source(from_index) == _without_source(from_chain)


def test_the_timeline_from_the_index_stops_at_the_block_it_reached(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    database = tmp_path / "index.sqlite"
    last_block = _index(crm, database)
    _log(cli, accounts, customer_id, "call", "positive")  # after the index's last block

    from_index = _shown(cli, "customer", "timeline", customer_id, "--database", database)
    text = cli("customer", "timeline", customer_id, "--database", database)

    assert not [row for row in from_index if row["what"].startswith("interaction")]
    assert {row["block_number"] <= last_block for row in from_index} == {True}
    assert f"Read from the index up to block {last_block}" in text.stdout


def test_deal_show_without_an_index_reads_the_chain(cli: Cli, deal_id: int, tmp_path: Path) -> None:
    database = tmp_path / "missing.sqlite"

    shown = _shown(cli, "deal", "show", deal_id, "--database", database)
    text = cli("deal", "show", deal_id, "--database", database)

    assert shown["source"] == "chain"
    assert "Read from the chain up to block" in text.stdout
    assert not database.exists()


def test_the_index_holds_every_event_the_timeline_shows(crm: Crm) -> None:
    from chaincrm.index.reads import _unindexed

    assert _unindexed(crm) == []
