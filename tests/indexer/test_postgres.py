"""The same index in PostgreSQL: a throwaway cluster in a temporary folder, skipped where none can
be started (no server binaries, or running as root without a `postgres` user to run it as)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.index.indexer import Indexer
from chaincrm.models import Stage
from chaincrm.services.anvil import free_port
from tests.indexer.conftest import MakeIndexer, dump, entry, register
from tests.sdk.conftest import Staff

PG_BIN = Path(os.environ.get("CHAINCRM_PG_BIN", "/usr/local/bin"))
DEAL_VALUE_WEI = 2**95  # beyond 64 bits: NUMERIC must keep it exact


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and runuser is missing: PostgreSQL refuses to run as root")
    return [runuser, "-u", "postgres", "--", *command]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not all((PG_BIN / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
        pytest.skip(f"no PostgreSQL server binaries in {PG_BIN} (set CHAINCRM_PG_BIN)")
    root = Path(tempfile.mkdtemp(prefix="chaincrm-pg-"))
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root without a `postgres` user: PostgreSQL refuses to run as root")
        os.chown(root, server_user.pw_uid, server_user.pw_gid)
    data, port = root / "data", free_port()
    try:
        subprocess.run(
            _as_server_user([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "chaincrm", "--no-sync"]),
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_server_user(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace').strip()[:200]}")
    try:
        yield f"postgresql://chaincrm@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
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
        assert dump(indexer.engine) == dump(sqlite.engine)
        assert indexer.timeline(customer_id) == sqlite.timeline(customer_id)
