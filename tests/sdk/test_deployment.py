"""Deployment records: written atomically, checked against the node, never crossed between chains."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import (
    DAY_SECONDS,
    check_record,
    legacy_record_path,
    load_record,
    record_for,
    record_path,
    save_record,
)
from chaincrm.errors import ChainError, ConfigError


def test_the_record_holds_the_settings_the_contracts_were_deployed_with(crm: Crm) -> None:
    escrow, pipeline, deployment = crm.escrow.contract.functions, crm.pipeline.contract.functions, crm.deployment

    on_chain = {
        "dispute_window_seconds": escrow.disputeWindowSeconds().call(),
        "payment_term_seconds": escrow.paymentTermSeconds().call(),
        "dispute_resolution_seconds": escrow.disputeResolutionSeconds().call(),
        "treasury_delay_seconds": escrow.treasuryDelaySeconds().call(),
        "approval_threshold_wei": pipeline.approvalThresholdWei().call(),
        "treasury": escrow.treasury().call(),
    }

    assert on_chain == {name: getattr(deployment, name) for name in on_chain}
    assert deployment.treasury_delay_seconds == deployment.dispute_window_seconds + DAY_SECONDS
    assert escrow.issuer().call() == deployment.pipeline


def test_a_saved_record_loads_back_equal(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"

    save_record(crm.deployment, path)

    assert load_record(path) == crm.deployment


def test_a_record_for_another_chain_is_not_overwritten_by_accident(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    save_record(replace(crm.deployment, chain_id=5), path)

    with pytest.raises(ConfigError) as raised:
        save_record(crm.deployment, path)

    assert "chain 5" in str(raised.value)
    assert json.loads(path.read_text())["chain_id"] == 5


def test_force_replaces_a_record_for_another_chain(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    save_record(replace(crm.deployment, chain_id=5), path)

    save_record(crm.deployment, path, force=True)

    assert load_record(path).chain_id == crm.deployment.chain_id


def test_a_record_for_another_chain_id_is_refused_by_the_node_check(crm: Crm) -> None:
    with pytest.raises(ChainError) as raised:
        check_record(crm.chain, replace(crm.deployment, chain_id=11155111))

    assert "11155111" in str(raised.value)


def test_an_address_without_code_is_refused(crm: Crm) -> None:
    with pytest.raises(ChainError) as raised:
        check_record(crm.chain, replace(crm.deployment, escrow="0x000000000000000000000000000000000000dEaD"))

    assert "no escrow contract" in str(raised.value)


def test_a_missing_record_says_how_to_deploy(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_record(tmp_path / "nope.json")

    assert "deploy first" in str(raised.value)


def test_a_malformed_record_is_one_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text('{"chain_id": 1}')

    with pytest.raises(ConfigError):
        load_record(path)


def test_a_record_from_before_trust_model_v2_is_refused_with_the_reason(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    old = asdict(crm.deployment)
    for added in ("dispute_resolution_seconds", "treasury_delay_seconds", "approval_threshold_wei"):
        del old[added]
    path.write_text(json.dumps(old))

    with pytest.raises(ConfigError) as raised:
        load_record(path)

    assert "before trust model v2" in str(raised.value)
    assert "deploy again" in str(raised.value)


def test_the_loyalty_points_are_deployed_and_connected_to_the_escrow(crm: Crm) -> None:
    from chaincrm.chain.artifacts import load_artifact

    points = crm.chain.w3.eth.contract(address=crm.deployment.loyalty, abi=load_artifact("LoyaltyPoints").abi)

    assert points.functions.minter().call() == crm.deployment.escrow
    assert crm.escrow.loyalty_program() == crm.deployment.loyalty


def test_a_record_from_before_loyalty_points_is_refused_with_the_reason(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    old = asdict(crm.deployment)
    del old["loyalty"]
    path.write_text(json.dumps(old))

    with pytest.raises(ConfigError) as raised:
        load_record(path)

    assert "loyalty points" in str(raised.value)
    assert "deploy again" in str(raised.value)


def test_a_loyalty_address_without_code_is_refused(crm: Crm) -> None:
    with pytest.raises(ChainError) as raised:
        check_record(crm.chain, replace(crm.deployment, loyalty="0x000000000000000000000000000000000000dEaD"))

    assert "no loyalty points contract" in str(raised.value)


def test_the_branch_directory_is_deployed_and_named_in_the_registry(crm: Crm) -> None:
    from chaincrm.chain.artifacts import load_artifact

    directory = crm.chain.w3.eth.contract(address=crm.deployment.branches, abi=load_artifact("BranchDirectory").abi)
    registry = crm.chain.w3.eth.contract(address=crm.deployment.registry, abi=load_artifact("CrmRegistry").abi)

    assert directory.functions.registry().call() == crm.deployment.registry
    assert registry.functions.branchDirectory().call() == crm.deployment.branches


def test_a_record_from_before_branches_loads_without_a_directory(crm: Crm, tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    old = asdict(crm.deployment)
    del old["branches"]
    path.write_text(json.dumps(old))

    loaded = load_record(path)

    assert loaded.branches is None
    check_record(crm.chain, loaded)


def test_a_branch_directory_address_without_code_is_refused(crm: Crm) -> None:
    with pytest.raises(ChainError) as raised:
        check_record(crm.chain, replace(crm.deployment, branches="0x000000000000000000000000000000000000dEaD"))

    assert "no branch directory contract" in str(raised.value)


def test_each_chain_has_its_own_record_in_the_home(crm: Crm, tmp_path: Path) -> None:
    save_record(replace(crm.deployment, chain_id=11155111), record_path(tmp_path, 11155111))
    save_record(crm.deployment, record_path(tmp_path, 31337))

    assert record_for(tmp_path, crm.chain) == tmp_path / "deployments" / "31337.json"
    assert load_record(record_for(tmp_path, crm.chain)) == crm.deployment


def test_an_old_home_keeps_working_with_its_one_record(crm: Crm, tmp_path: Path) -> None:
    save_record(crm.deployment, legacy_record_path(tmp_path))

    assert record_for(tmp_path, crm.chain) == legacy_record_path(tmp_path)
    assert Crm.from_settings(Settings(rpc_url=crm.chain.endpoint, home=tmp_path)).deployment == crm.deployment


def test_an_old_record_is_read_only_for_the_chain_it_names(crm: Crm, tmp_path: Path) -> None:
    save_record(replace(crm.deployment, chain_id=1), legacy_record_path(tmp_path))
    save_record(replace(crm.deployment, chain_id=11155111), record_path(tmp_path, 11155111))

    with pytest.raises(ConfigError) as raised:
        load_record(record_for(tmp_path, crm.chain))

    assert "no deployment record at" in str(raised.value)
    assert "31337.json" in str(raised.value)
    assert "this home has records for chain 11155111" in str(raised.value)


def test_a_record_whose_chain_differs_from_the_nodes_is_one_clear_line(crm: Crm, tmp_path: Path) -> None:
    path = record_path(tmp_path, 31337)
    save_record(replace(crm.deployment, chain_id=11155111), path)

    with pytest.raises(ChainError) as raised:
        Crm.from_settings(Settings(rpc_url=crm.chain.endpoint, home=tmp_path))

    assert str(raised.value) == (
        f"the node at {crm.chain.endpoint} serves chain 31337, the deployment record is for chain 11155111"
    )
