"""`chaincrm deploy`: on the session's chain, into a home of each test's own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chaincrm.chain.keystores import keystore_path
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import DAY_SECONDS, record_path
from chaincrm.services.anvil import free_port
from tests.cli.conftest import Accounts, Cli, cli_for, environment_for

RUN_FIELDS = ("record", "network", "resumed", "code_checked", "estimated_gas", "estimated_cost_wei", "l1_fee_wei")
"""What `deploy --json` prints besides the record itself."""


@pytest.fixture
def fresh(tmp_path: Path, settings: Settings, accounts: Accounts, cli: Cli) -> tuple[Settings, Cli]:
    """A home with only the admin's keystore, on the session's chain and IPFS node."""
    own = Settings(rpc_url=settings.rpc_url, ipfs_api=settings.ipfs_api, home=tmp_path / "home")
    own.keystore_dir.mkdir(parents=True)
    source = keystore_path(accounts.admin.address, settings.keystore_dir)
    shutil.copy(source, own.keystore_dir / source.name)
    return own, cli_for(environment_for(own))


def test_deploy_writes_the_deployment_record_for_this_chain(
    fresh: tuple[Settings, Cli], accounts: Accounts, snapshot: None
) -> None:
    own, run = fresh

    deployed = run(
        "deploy", "--keystore", accounts.admin.address, "--treasury", accounts.treasury.address, "--json"
    ).json()

    record = record_path(own.home, 31337)
    assert json.loads(record.read_text()) == {key: value for key, value in deployed.items() if key not in RUN_FIELDS}
    assert deployed["record"] == str(record)
    assert deployed["code_checked"] is True
    assert not own.deployment_path.exists()
    assert deployed["chain_id"] == 31337
    assert deployed["deployer"] == accounts.admin.address
    assert deployed["treasury"] == accounts.treasury.address


def test_deploy_makes_the_deployer_the_treasury_by_default(
    fresh: tuple[Settings, Cli], accounts: Accounts, snapshot: None
) -> None:
    _, run = fresh

    deployed = run("deploy", "--keystore", accounts.admin.address, "--json").json()

    assert deployed["treasury"] == accounts.admin.address


def test_deploy_uses_sane_defaults_for_the_v2_settings(
    fresh: tuple[Settings, Cli], accounts: Accounts, snapshot: None
) -> None:
    _, run = fresh

    deployed = run("deploy", "--keystore", accounts.admin.address, "--json").json()

    assert deployed["dispute_resolution_seconds"] == 14 * DAY_SECONDS
    assert deployed["treasury_delay_seconds"] == deployed["dispute_window_seconds"] + DAY_SECONDS
    assert deployed["approval_threshold_wei"] == 10 * 10**18


def test_deploy_connects_the_loyalty_points_to_the_escrow(
    fresh: tuple[Settings, Cli], accounts: Accounts, snapshot: None
) -> None:
    own, run = fresh

    deployed = run("deploy", "--keystore", accounts.admin.address, "--json").json()

    assert Crm.from_settings(own).escrow.loyalty_program() == deployed["loyalty"]


def test_deploy_takes_the_dispute_resolution_treasury_delay_and_approval_threshold(
    fresh: tuple[Settings, Cli], accounts: Accounts, snapshot: None
) -> None:
    own, run = fresh

    run(
        "deploy",
        "--keystore",
        accounts.admin.address,
        "--dispute-resolution-days",
        "3",
        "--treasury-delay-days",
        "10",
        "--approval-threshold",
        "2.5",
    )

    crm = Crm.from_settings(own)
    escrow = crm.escrow.contract.functions
    assert crm.chain.call(escrow.disputeResolutionSeconds()) == 3 * DAY_SECONDS
    assert crm.chain.call(escrow.treasuryDelaySeconds()) == 10 * DAY_SECONDS
    assert crm.pipeline.approval_threshold_wei() == 25 * 10**17


def test_deploy_with_a_treasury_delay_within_the_dispute_window_writes_nothing(
    fresh: tuple[Settings, Cli], accounts: Accounts, snapshot: None
) -> None:
    own, run = fresh

    refused = run("deploy", "--keystore", accounts.admin.address, "--treasury-delay-days", "7")

    assert "is not longer than the dispute window" in refused.error
    assert not (own.home / "deployments").exists()


def test_a_deployed_crm_is_usable_by_the_next_command(
    fresh: tuple[Settings, Cli], accounts: Accounts, snapshot: None
) -> None:
    _, run = fresh
    run("deploy", "--keystore", accounts.admin.address)

    assert run("deal", "list", "--json").json() == []


def _record_for_mainnet(settings: Settings, own: Settings) -> str:
    """A home from before per-chain records, whose one record is for chain 1."""
    record = json.loads(settings.deployment_path.read_text()) | {"chain_id": 1}
    own.deployment_path.write_text(json.dumps(record))
    return own.deployment_path.read_text()


def test_deploy_leaves_an_old_record_for_another_chain_alone_and_writes_this_chains(
    fresh: tuple[Settings, Cli], settings: Settings, accounts: Accounts, snapshot: None
) -> None:
    own, run = fresh
    before = _record_for_mainnet(settings, own)

    run("deploy", "--keystore", accounts.admin.address)

    assert own.deployment_path.read_text() == before
    assert json.loads(record_path(own.home, 31337).read_text())["chain_id"] == 31337


def test_deploy_still_takes_force_from_older_scripts(
    fresh: tuple[Settings, Cli], settings: Settings, accounts: Accounts, snapshot: None
) -> None:
    own, run = fresh
    _record_for_mainnet(settings, own)

    run("deploy", "--keystore", accounts.admin.address, "--force")

    assert json.loads(record_path(own.home, 31337).read_text())["chain_id"] == 31337


def test_deploy_without_a_keystore_is_one_line_and_writes_nothing(fresh: tuple[Settings, Cli]) -> None:
    own, run = fresh

    refused = run("deploy")

    assert "no signer: pass --keystore" in refused.error
    assert not (own.home / "deployments").exists()


def test_deploy_with_a_wrong_password_is_one_line_and_writes_nothing(
    fresh: tuple[Settings, Cli], accounts: Accounts
) -> None:
    own, run = fresh

    refused = run("deploy", "--keystore", accounts.admin.address, env={"CHAINCRM_PASSWORD": "wrong"})

    assert "wrong password for keystore" in refused.error
    assert not (own.home / "deployments").exists()


def test_deploy_when_the_chain_is_down_is_one_line_and_writes_nothing(
    fresh: tuple[Settings, Cli], accounts: Accounts
) -> None:
    own, run = fresh

    refused = run("--rpc-url", f"http://127.0.0.1:{free_port()}", "deploy", "--keystore", accounts.admin.address)

    assert "is not reachable" in refused.error
    assert not (own.home / "deployments").exists()


def test_deploy_with_a_bad_treasury_address_is_a_usage_error(fresh: tuple[Settings, Cli], accounts: Accounts) -> None:
    own, run = fresh

    refused = run("deploy", "--keystore", accounts.admin.address, "--treasury", "0x1234")

    assert "Invalid value for '--treasury'" in refused.usage_error
    assert not (own.home / "deployments").exists()
