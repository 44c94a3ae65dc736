"""The same index in PostgreSQL: a private server from PyPI's `pgserver` (PostgreSQL in a wheel,
pinned in requirements.txt) in a temporary folder, so the test runs wherever the set-up ran.

Without `pgserver` installed the test is skipped with the reason, except under `CI=true`, where it
fails: CI must run it. A server that is installed but does not start is a failure everywhere."""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.index.indexer import Indexer
from chaincrm.models import Stage
from tests.indexer.conftest import MakeIndexer, dump, entry, register
from tests.sdk.conftest import Staff

DEAL_VALUE_WEI = 2**95  # beyond 64 bits: NUMERIC must keep it exact


def _pgserver() -> ModuleType:
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI runners).
            warnings.simplefilter("ignore")
            return importlib.import_module("pgserver")
    except ImportError as exc:
        missing = f"PostgreSQL test needs pgserver (pip install -r requirements.txt): {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing}; under CI=true this test must run", pytrace=False)
    pytest.skip(missing)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pgserver = _pgserver()
    # A short folder: the server's Unix socket lives inside it, and socket paths are capped at ~100 bytes.
    root = Path(tempfile.mkdtemp(prefix="chaincrm-pg-"))
    try:
        server = pgserver.get_server(root / "data", cleanup_mode="stop")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise  # installed but not starting is a failure, never a skip
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def test_a_postgresql_index_holds_the_same_rows_as_a_sqlite_one(
    postgres_url: str, chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer)
    crm.registry.log_interactions([entry(customer_id) for _ in range(4)], staff.agent)
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, DEAL_VALUE_WEI, staff.agent)
    crm.pipeline.move(deal_id, Stage.QUALIFIED, staff.agent)
    sqlite = make_indexer(chain, crm)
    sqlite.sync_once()

    with Indexer(chain, crm.deployment, postgres_url, confirmations=0) as indexer:
        indexer.sync_once()
        assert indexer.engine.dialect.name == "postgresql"
        assert dump(indexer.engine) == dump(sqlite.engine)
        assert indexer.timeline(customer_id) == sqlite.timeline(customer_id)
