"""The index as a source: the same records as the chain, and `report --verify` proving it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Executable, delete, update
from web3.exceptions import Web3RPCError

from chaincrm.config import Settings
from chaincrm.contracts.deployment import deploy, save_record
from chaincrm.errors import ConfigError
from chaincrm.index import schema as ix
from chaincrm.index.indexer import open_database
from chaincrm.models import Stage
from chaincrm.reports.kpis import history_from_chain, history_from_index
from tests.reports.conftest import DAY, ETH, Run, Story, cli_in
from tests.sdk.conftest import Staff
from tests.support import forget_reverted_transactions


def test_the_index_yields_exactly_the_records_the_chain_does(settings: Settings, story: Story) -> None:
    engine = open_database(None, home=settings.home)
    with engine.connect() as connection:
        from_index = history_from_index(connection)
    engine.dispose()

    from_chain = history_from_chain(story.crm, to_block=from_index.end_block)

    assert from_index == from_chain
    assert len(from_index.interactions) == 6 and len(from_index.stage_changes) == 31


def test_the_chain_source_halves_a_block_range_the_node_refuses(
    settings: Settings, story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_database(None, home=settings.home)
    with engine.connect() as connection:
        from_index = history_from_index(connection)
    engine.dispose()
    eth, widest = story.crm.chain.w3.eth, 8
    get_logs, refused, served = eth.get_logs, [], []

    def narrow_node(params: dict) -> object:
        if params["toBlock"] - params["fromBlock"] + 1 > widest:
            refused.append((params["fromBlock"], params["toBlock"]))
            raise Web3RPCError("limit exceeded", rpc_response={"error": {"code": -32005, "message": "range too wide"}})
        served.append((params["fromBlock"], params["toBlock"]))
        return get_logs(params)

    monkeypatch.setattr(eth, "get_logs", narrow_node)
    monkeypatch.setattr(story.crm.chain.logs, "range", story.crm.chain.logs.max_range)

    from_chain = history_from_chain(story.crm, to_block=from_index.end_block)

    assert from_chain == from_index
    assert refused
    assert served[0][0] == story.crm.deployment.block_number and served[-1][1] == from_index.end_block
    assert all(high + 1 == low for (_, high), (low, _) in zip(served, served[1:], strict=False))


def test_verify_shows_every_figure_matching_and_exits_0(report_cli: Run) -> None:
    result = report_cli("--verify", "--json")

    assert result.exit_code == 0, result.output
    checks = json.loads(result.stdout)["verify"]
    assert len(checks) > 50
    assert all(check["match"] for check in checks)
    assert {"kpi": "win rate", "index": "0.800000", "chain": "0.800000", "match": True} in checks


def test_verify_prints_a_table_of_kpi_index_chain_and_match(report_cli: Run) -> None:
    result = report_cli("--verify")

    assert result.exit_code == 0, result.output
    assert "KPI" in result.stdout and "index" in result.stdout and "chain" in result.stdout
    assert "✓" in result.stdout and "✗" not in result.stdout


def tampered(settings: Settings, tmp_path: Path, statement: Executable) -> Settings:
    """A copy of the story's home whose index was changed by `statement`."""
    home = tmp_path / "home"
    shutil.copytree(settings.home, home)
    engine = open_database(None, home=home)
    with engine.begin() as connection:
        assert connection.execute(statement).rowcount == 1
    engine.dispose()
    return Settings(rpc_url=settings.rpc_url, home=home)


def wrong_figures(result: Result) -> dict[str, tuple[str, str]]:
    checks = json.loads(result.stdout)["verify"]
    return {check["kpi"]: (check["index"], check["chain"]) for check in checks if not check["match"]}


def test_verify_reports_a_tampered_stage_time_and_exits_1(settings: Settings, tmp_path: Path) -> None:
    changes = ix.stage_changes.c
    later = (
        update(ix.stage_changes)
        .where(changes.deal_id == 1, changes.to_stage == int(Stage.QUALIFIED))
        .values(at=changes.at + 600)
    )

    result = cli_in(tampered(settings, tmp_path, later))("--verify", "--json")

    assert result.exit_code == 1
    wrong = wrong_figures(result)
    # Deal 1 stayed 1h in lead and 2h in qualified; the index now says 1h10m and 1h50m, which moves
    # both medians (lead 1h -> 1h5m, qualified 3h -> 2h55m) and nothing else.
    assert wrong == {
        "time in lead: median s": ("3900.000", "3600.000"),
        "time in qualified: median s": ("10500.000", "10800.000"),
    }
    assert "2 of" in result.stderr and "differ between the index and the chain" in result.stderr


def test_verify_reports_an_interaction_missing_from_the_index(settings: Settings, story: Story, tmp_path: Path) -> None:
    rows = ix.interactions.c
    first_of_batch = delete(ix.interactions).where(rows.author == story.agent_b, rows.position == 1)

    result = cli_in(tampered(settings, tmp_path, first_of_batch))("--verify", "--json")

    assert result.exit_code == 1
    assert wrong_figures(result) == {f"staff {story.agent_b}: interactions": ("2", "3")}


def test_verify_reports_a_deal_missing_from_the_index(settings: Settings, tmp_path: Path) -> None:
    events = ix.deal_events.c
    forget_deal_2 = delete(ix.deal_events).where(events.deal_id == 2, events.kind == "opened")

    result = cli_in(tampered(settings, tmp_path, forget_deal_2))("--verify", "--json")

    assert result.exit_code == 1
    wrong = wrong_figures(result)
    assert wrong["deals opened"] == ("5", "6")
    assert wrong["funnel won"] == ("3", "4")


def test_the_report_reads_the_index_by_default(report_cli: Run, story: Story) -> None:
    data = json.loads(report_cli("--json", "--until", story.end).stdout)

    assert data["block_number"] == story.end_block
    assert [step["deals"] for step in data["funnel"]] == [6, 6, 5, 4, 4, 4]
    assert (data["won"], data["lost"], data["win_rate"]) == (4, 1, 0.8)
    assert data["refunds_owed_wei"] == "0"  # credited at 37d, withdrawn at 38d


def test_verify_covers_the_refunds_owed(report_cli: Run, story: Story) -> None:
    result = report_cli("--verify", "--until", story.t0 + 37 * DAY, "--json")

    assert result.exit_code == 0, result.output
    checks = {check["kpi"]: check for check in json.loads(result.stdout)["verify"]}
    assert checks["refunds owed wei"] == {"kpi": "refunds owed wei", "index": str(5 * ETH), "chain": str(5 * ETH),
                                          "match": True}  # fmt: skip


def test_a_report_without_an_index_says_how_to_build_one(settings: Settings, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(settings.home / "deployment.json", home)

    result = cli_in(Settings(rpc_url=settings.rpc_url, home=home))("--json")

    assert isinstance(result.exception, ConfigError)
    assert "(`chaincrm index`)" in str(result.exception)


def test_an_index_of_another_deployment_is_refused(
    settings: Settings, story: Story, staff: Staff, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(settings.home, home)
    provider = story.crm.chain.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        save_record(deploy(story.crm.chain, staff.admin, treasury=staff.treasury.address), home / "deployment.json")
        result = cli_in(Settings(rpc_url=settings.rpc_url, home=home))("--json")
    finally:
        provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        story.crm.chain.nonces.reset_all()
        forget_reverted_transactions(story.crm.chain, tmp_path)

    assert isinstance(result.exception, ConfigError)
    assert "follows another deployment" in str(result.exception)
