"""`chaincrm index`: one pass with a JSON summary, and a bad database as one error."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from chaincrm.cli.context import App
from chaincrm.cli.index import index_command
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.errors import ConfigError
from chaincrm.services.anvil import AnvilNode
from tests.indexer.conftest import entry, register
from tests.sdk.conftest import Staff


def _app(anvil_node: AnvilNode, crm: Crm, home: Path) -> App:
    save_record(crm.deployment, home / "deployment.json")
    return App(Settings(rpc_url=anvil_node.url, home=home))


def test_one_pass_prints_a_json_summary_and_writes_the_default_file(
    anvil_node: AnvilNode, crm: Crm, staff: Staff, tmp_path: Path, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    crm.registry.log_interactions([entry(customer_id) for _ in range(3)], staff.agent)
    app = _app(anvil_node, crm, tmp_path)

    result = CliRunner().invoke(index_command, ["--confirmations", "0", "--json"], obj=app)

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["database"] == str(tmp_path / "index.sqlite")
    assert (summary["passes"], summary["interactions"], summary["stopped"], summary["foreign_logs"]) == (1, 3, False, 0)
    assert summary["last_block"] == summary["last_final_block"] == crm.chain.w3.eth.block_number


def test_a_database_url_of_another_kind_is_refused(anvil_node: AnvilNode, crm: Crm, tmp_path: Path) -> None:
    app = _app(anvil_node, crm, tmp_path)

    result = CliRunner().invoke(index_command, ["--database", "mysql://localhost/crm"], obj=app)

    assert isinstance(result.exception, ConfigError)
    assert "SQLite and PostgreSQL, not mysql" in str(result.exception)
