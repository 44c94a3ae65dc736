"""Fixtures for the off-chain index: the SDK's session Anvil and module deployment, plus helpers
that build an indexer over a fresh SQLite file and read a whole index back for comparison."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select
from web3 import HTTPProvider, Web3

from chaincrm import index_schema as db
from chaincrm.chain import Chain
from chaincrm.client import Crm, chain_for
from chaincrm.indexer import Indexer, open_database
from chaincrm.models import InteractionKind, Outcome, Purpose
from chaincrm.registry import InteractionEntry
from tests.sdk.conftest import Staff, anvil_node, chain, crm, snapshot, staff  # noqa: F401 - fixtures

MakeIndexer = Callable[..., Indexer]


@pytest.fixture
def make_indexer(tmp_path: Path) -> Iterator[MakeIndexer]:
    """Indexers over SQLite files in the test's folder (`name` picks the file), closed afterwards."""
    made: list[Indexer] = []

    def make(over: Chain, deployed: Crm, name: str = "index", **options: Any) -> Indexer:
        options.setdefault("confirmations", 0)
        indexer = Indexer(over, deployed.deployment, tmp_path / f"{name}.sqlite", **options)
        made.append(indexer)
        return indexer

    yield make
    for indexer in made:
        indexer.close()


def entry(customer_id: int, kind: InteractionKind = InteractionKind.CALL) -> InteractionEntry:
    return InteractionEntry(customer_id, kind, Outcome.POSITIVE, os.urandom(32))


def register(deployed: Crm, people: Staff, *, wallet: str | None = None) -> int:
    return deployed.registry.register_customer(os.urandom(32), os.urandom(32), wallet, Purpose.SALES, people.agent)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every event and state table, without surrogate ids, in a stable order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in (*db.EVENT_TABLES, *db.STATE_TABLES):
            columns = [column for column in table.columns if column.name != "id" or table in db.STATE_TABLES]
            rows = conn.execute(select(*columns)).all()
            tables[table.name] = sorted(tuple(row) for row in rows)
    return tables


def sqlite_engine(path: Path) -> Engine:
    return open_database(path)


# ------------------------------------------------------------------ fault injection in the transport


class RefusingProvider(HTTPProvider):
    """A node that refuses eth_getLogs over more than `max_span` blocks, the way hosted nodes do,
    or times out on them (`timeout=True`)."""

    def __init__(self, url: str, max_span: int, *, timeout: bool = False) -> None:
        super().__init__(url, exception_retry_configuration=None)
        self.max_span = max_span
        self.timeout = timeout
        self.spans: list[int] = []

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_getLogs":
            span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
            self.spans.append(span)
            if span > self.max_span:
                if self.timeout:
                    raise requests.ReadTimeout("read timed out")
                return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "query exceeds block range"}}
        return super().make_request(method, params)


def chain_over(provider: HTTPProvider) -> Chain:
    return chain_for(Web3(provider))
