"""`interaction list` reads the event index when one follows this deployment, the chain otherwise
(or with --from-chain), says which and up to which block, and both give the same rows."""

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
