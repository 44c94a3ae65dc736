"""The runtime-code check after a deploy, and which EVM features the compiled contracts need."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaincrm.deploy.code import evm_features, immutable_slots, matches_runtime, metadata_start
from chaincrm.deploy.runner import _runtime_code

CONTRACTS = ("CrmRegistry", "InvoiceEscrow", "DealPipeline", "LoyaltyPoints", "BranchDirectory")
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def deployed_code(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The code each contract has on a chain after `chaincrm deploy` (immutables filled in)."""
    from eth_account import Account

    from chaincrm.contracts.client import connect
    from chaincrm.contracts.deployment import deploy
    from chaincrm.services.anvil import AnvilOptions, anvil, dev_private_keys, free_port

    with anvil(AnvilOptions(port=free_port())) as node:
        chain = connect(node.url)
        deployer = Account.from_key(dev_private_keys(1)[0])
        deployment = deploy(chain, deployer, treasury=deployer.address)
        addresses = (
            deployment.registry,
            deployment.escrow,
            deployment.pipeline,
            deployment.loyalty,
            deployment.branches,
        )
        return dict(zip(CONTRACTS, chain.codes([str(a) for a in addresses]), strict=True))


@pytest.mark.parametrize("name", CONTRACTS)
def test_the_code_on_chain_is_the_compiled_runtime_code_with_its_immutables(
    name: str, deployed_code: dict[str, bytes]
) -> None:
    assert matches_runtime(_runtime_code(name), deployed_code[name])


def test_the_pipeline_has_immutables_the_check_masks(deployed_code: dict[str, bytes]) -> None:
    expected = _runtime_code("DealPipeline")

    assert immutable_slots(expected)
    assert expected != deployed_code["DealPipeline"]  # the immutables differ, and only they


def test_another_contracts_code_does_not_match(deployed_code: dict[str, bytes]) -> None:
    assert not matches_runtime(_runtime_code("InvoiceEscrow"), deployed_code["DealPipeline"])


def test_one_byte_changed_outside_the_immutables_does_not_match(deployed_code: dict[str, bytes]) -> None:
    expected = _runtime_code("DealPipeline")
    slots = {offset for slot in immutable_slots(expected) for offset in range(slot, slot + 32)}
    at = next(i for i in range(100, len(expected)) if i not in slots)
    tampered = bytearray(deployed_code["DealPipeline"])
    tampered[at] ^= 0x01

    assert not matches_runtime(expected, bytes(tampered))


def test_the_contracts_need_shanghai_and_cancun_opcodes() -> None:
    """What the README's table of supported chains rests on (compiled for evm_version prague)."""
    features = {name: evm_features(_runtime_code(name)) for name in CONTRACTS}

    assert all(found.get("PUSH0") for found in features.values())
    assert features["InvoiceEscrow"].get("TSTORE") and features["InvoiceEscrow"].get("TLOAD")
    assert features["CrmRegistry"].get("MCOPY")
    text = README.read_text()
    assert "PUSH0" in text and "MCOPY" in text and "TSTORE" in text


def test_the_metadata_is_not_read_as_code() -> None:
    code = _runtime_code("LoyaltyPoints")

    assert metadata_start(code) < len(code)
    assert code[metadata_start(code)] == 0xA2
