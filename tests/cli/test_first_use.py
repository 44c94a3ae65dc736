"""What a new user hits: every mistake is one line and a non-zero exit, settings are honoured,
`--json` keeps one contract (errors included), and start-up imports nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import requests

from chaincrm.cli.commands import BENCH_INDEX_INTERACTIONS
from chaincrm.config import Settings, find_home
from chaincrm.contracts.client import Crm, provider_for
from chaincrm.errors import ConfigError
from tests.cli.conftest import SCRYPT_N_FOR_TESTS, Accounts, Cli, cli_for, environment_for

TOO_BIG_ID = 2**256
HEAVY_MODULES = ("web3", "eth_account", "chaincrm.storage", "chaincrm.privacy", "sqlalchemy", "rich.table")


# ------------------------------------------------------------------ refused before anything is sent


def test_a_deal_value_above_what_an_invoice_holds_is_one_usage_line_and_sends_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    deals_before = crm.pipeline.deal_count()

    refused = cli("deal", "open", customer_id, "--value", "1e80", "--keystore", accounts.agent.address)

    assert "uint96" in refused.usage_error
    assert crm.pipeline.deal_count() == deals_before


@pytest.mark.parametrize(
    "command",
    [("invoice", "show"), ("customer", "show"), ("deal", "show"), ("verify", "payment")],
    ids=" ".join,
)
def test_an_id_beyond_what_the_contracts_store_is_one_usage_line(cli: Cli, command: tuple[str, str]) -> None:
    refused = cli(*command, TOO_BIG_ID)

    assert "2^64-1" in refused.usage_error


def test_a_malformed_rpc_url_is_one_line(cli: Cli) -> None:
    refused = cli("--rpc-url", "not-a-url", "invoice", "show", 1)

    assert "not-a-url" in refused.error


def test_a_malformed_rpc_url_in_the_environment_does_not_stop_help(cli: Cli) -> None:
    shown = cli("invoice", "show", "--help", env={"CHAINCRM_RPC_URL": "not-a-url"})

    assert shown.exit_code == 0


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("http://127.0.0.1:8545", "HTTPProvider"),
        ("wss://node.example.org/v3", "LegacyWebSocketProvider"),
        ("/run/geth/geth.ipc", "IPCProvider"),
        ("ipc:///run/geth/geth.ipc", "IPCProvider"),
    ],
)
def test_each_kind_of_rpc_endpoint_gets_its_provider(url: str, provider: str) -> None:
    assert type(provider_for(url)).__name__ == provider


@pytest.mark.parametrize("url", ["not-a-url", "ftp://host/x", "http://", "127.0.0.1:8545"])
def test_an_endpoint_that_is_neither_a_url_nor_an_ipc_path_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="RPC URL"):
        Settings(rpc_url=url)


def test_a_node_dropping_in_the_middle_of_a_command_is_one_line(cli: Cli, invoice_id: int) -> None:
    dropped = requests.ConnectionError("Connection aborted: RemoteDisconnected")

    with mock.patch("chaincrm.contracts.escrow.Escrow.is_overdue", side_effect=dropped):
        refused = cli("invoice", "show", invoice_id)

    assert "stopped answering" in refused.error


def test_a_report_file_that_cannot_be_written_is_one_line_naming_it(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    refused = cli("report", "--html", blocker / "report.html")

    assert str(blocker) in refused.error


def test_a_benchmark_file_that_cannot_be_written_is_one_line_before_it_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    refused = cli_for({})("bench", "gas", "--out", blocker / "gas.json")

    assert str(blocker) in refused.error


def test_an_index_database_in_a_missing_folder_is_refused_and_not_created(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent-dir"

    refused = cli("index", "--database", missing / "x.sqlite")

    assert str(missing) in refused.error and "does not exist" in refused.error
    assert not missing.exists()


# ------------------------------------------------------------------ exits


def test_key_new_without_a_password_or_a_terminal_is_one_line_and_exit_1(tmp_path: Path) -> None:
    run = cli_for(environment_for(Settings(home=tmp_path / "home")))

    refused = run("key", "new", "--scrypt-n", SCRYPT_N_FOR_TESTS, input="", env={"CHAINCRM_PASSWORD": None})

    assert "CHAINCRM_PASSWORD" in refused.error
    assert not (tmp_path / "home" / "keystores").exists() or not any((tmp_path / "home" / "keystores").iterdir())


def test_key_new_reads_a_piped_password_twice(tmp_path: Path) -> None:
    run = cli_for(environment_for(Settings(home=tmp_path / "home")))

    differing = run("key", "new", "--scrypt-n", SCRYPT_N_FOR_TESTS, input="one\ntwo\n", env={"CHAINCRM_PASSWORD": None})

    assert "differ" in differing.error


# ------------------------------------------------------------------ --json


def test_an_error_with_json_is_one_json_line_with_the_decoded_revert(cli: Cli) -> None:
    refused = cli("invoice", "show", 999, "--json")

    assert refused.exit_code == 1 and refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])["error"]
    assert error["code"] == "revert"
    assert error["revert"] == {"name": "InvoiceUnknown", "args": {"invoiceId": "999"}}
    assert error["message"] == "InvoiceUnknown(invoiceId=999)"


def test_a_usage_mistake_with_json_is_a_json_line_and_exit_2(cli: Cli) -> None:
    refused = cli("invoice", "show", 0, "--json")

    assert refused.exit_code == 2
    assert json.loads(refused.stderr)["error"]["code"] == "usage"


def test_interaction_log_with_json_and_no_note_is_refused_without_asking(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    refused = cli(
        "interaction", "log", customer_id, "--kind", "call", "--keystore", accounts.agent.address, "--json", input="x\n"
    )

    assert refused.exit_code == 1
    assert json.loads(refused.stderr)["error"]["message"].startswith("no note")
    assert "Note:" not in refused.stderr


# ------------------------------------------------------------------ settings honoured


def test_demo_runs_in_the_home_and_on_the_endpoints_given_to_the_group(tmp_path: Path) -> None:
    with mock.patch("chaincrm.cli.demo.run_demo") as run_demo:
        cli_for({"CHAINCRM_HOME": None})(
            "--home",
            tmp_path / "demo-home",
            "--rpc-url",
            "http://127.0.0.1:18546",
            "--ipfs-api",
            "/ip4/127.0.0.1/tcp/15002/http",
            "demo",
        )

    settings = run_demo.call_args.args[0]
    assert settings.home == tmp_path / "demo-home"
    assert (settings.rpc_url, settings.ipfs_api) == ("http://127.0.0.1:18546", "/ip4/127.0.0.1/tcp/15002/http")


def test_bench_index_help_states_the_default_it_uses() -> None:
    shown = cli_for({})("bench", "index", "--help")

    flat = " ".join(shown.stdout.split())
    assert f"{BENCH_INDEX_INTERACTIONS:,} interactions" in flat
    assert f"default: {BENCH_INDEX_INTERACTIONS}" in flat
    assert "1,000,000 interactions" not in flat


def test_report_reads_the_index_named_by_the_environment(cli: Cli, tmp_path: Path) -> None:
    named = tmp_path / "elsewhere.sqlite"

    refused = cli("report", env={"CHAINCRM_INDEX_DATABASE": str(named)})

    assert str(named) in refused.error


# ------------------------------------------------------------------ where home is


def test_home_is_the_nearest_chaincrm_folder_upward(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".chaincrm").mkdir(parents=True)
    (project / "src" / "deep").mkdir(parents=True)

    assert find_home(project / "src" / "deep") == (project / ".chaincrm").resolve()


def test_home_without_a_project_is_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))

    assert find_home(tmp_path) == tmp_path / "user" / ".chaincrm"


def test_the_cli_finds_the_project_home_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / ".chaincrm" / "keystores").mkdir(parents=True)
    (project / "docs").mkdir()
    monkeypatch.chdir(project / "docs")

    created = cli_for({"CHAINCRM_HOME": None, "CHAINCRM_PASSWORD": "pw"})(
        "key", "new", "--scrypt-n", SCRYPT_N_FOR_TESTS, "--json"
    ).json()

    assert Path(created["path"]).parent == (project / ".chaincrm" / "keystores").resolve()


def test_home_given_explicitly_wins_over_a_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".chaincrm").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAINCRM_HOME", str(tmp_path / "mine"))

    assert Settings.from_env().home == tmp_path / "mine"
    assert Settings.from_env(home=tmp_path / "flag").home == tmp_path / "flag"


# ------------------------------------------------------------------ display and start-up


def test_tables_written_to_a_pipe_are_not_squashed_to_80_columns(cli: Cli, accounts: Accounts, deal_id: int) -> None:
    listed = cli("deal", "list")

    assert accounts.agent.address in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) > 80


@pytest.mark.parametrize("argv", [["--version"], ["--help"]], ids=" ".join)
def test_version_and_help_import_nothing_heavy(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        f"sys.argv = ['chaincrm', *{argv!r}]\n"
        "from chaincrm.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules), file=sys.stderr)\n"
    )

    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True)

    assert ran.stderr.strip().splitlines()[-1] == "[]"
