"""The sample consortium-chain configs in docs/consortium: they parse, agree with each other, and the
genesis loads (in Anvil: no Besu can be installed here) with the hardfork the contracts need.

What this does not test: Besu itself, QBFT consensus, several validators, permissioning. See
docs/consortium/README.md, "What was tested".
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector

from chaincrm.contracts.client import connect
from chaincrm.contracts.deployment import deploy
from chaincrm.errors import ChainError
from chaincrm.services.anvil import anvil_executable, dev_private_keys, free_port
from tests.support import wait_for

BESU = Path(__file__).resolve().parents[2] / "docs" / "consortium" / "besu"
CHAIN_ID = 24120


def test_the_genesis_and_the_qbft_config_file_describe_the_same_chain() -> None:
    genesis = json.loads((BESU / "genesis.json").read_text())
    generator = json.loads((BESU / "qbftConfigFile.json").read_text())

    assert genesis["config"] == generator["genesis"]["config"]
    assert genesis["config"]["chainId"] == CHAIN_ID
    assert genesis["config"]["shanghaiTime"] == 0 and genesis["config"]["cancunTime"] == 0
    assert genesis["config"]["qbft"]["blockperiodseconds"] > 0


def test_the_genesis_extra_data_names_the_sample_validators() -> None:
    genesis = json.loads((BESU / "genesis.json").read_text())
    validators = json.loads((BESU / "validators.json").read_text())

    vanity, listed, vote, round_, seals = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))

    assert vanity == bytes(32) and vote == [] and round_ == b"" and seals == []
    assert ["0x" + address.hex() for address in listed] == validators


def test_the_node_config_and_the_permissions_parse_and_name_the_same_nodes() -> None:
    node = tomllib.loads((BESU / "config.toml").read_text())
    permissions = tomllib.loads((BESU / "permissions_config.toml").read_text())
    static_nodes = json.loads((BESU / "static-nodes.json").read_text())

    assert node["discovery-enabled"] is False and node["rpc-http-host"] == "127.0.0.1"
    assert node["permissions-nodes-config-file-enabled"] is True and node["min-gas-price"] == 0
    assert "QBFT" in node["rpc-http-api"]
    assert permissions["nodes-allowlist"] == static_nodes


@pytest.fixture(params=["cancun", "shanghai"])
def genesis_chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Anvil started from the sample genesis, with the hardfork asked for."""
    port = free_port()
    log = (tmp_path / "anvil.log").open("wb")
    command = [anvil_executable(), "--init", str(BESU / "genesis.json"), "--hardfork", request.param]
    process = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url) or None, "Anvil from the sample genesis")
        yield request.param, url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _answers(url: str) -> bool:
    try:
        connect(url).request("eth_chainId", [])
    except ChainError:
        return False
    return True


def test_the_contracts_run_on_the_sample_genesis_from_cancun_on(genesis_chain: tuple[str, str]) -> None:
    hardfork, url = genesis_chain
    chain = connect(url)
    admin = Account.from_key(dev_private_keys(1)[0])
    deployment = deploy(chain, admin, treasury=admin.address)  # constructors use neither TLOAD nor MCOPY
    pay = function_signature_to_4byte_selector("pay(uint256)") + (12345).to_bytes(32, "big")

    with pytest.raises(ChainError) as refused:  # the escrow's reentrancy guard is transient storage (TLOAD)
        chain.request("eth_call", [{"to": deployment.escrow, "data": "0x" + pay.hex()}, "latest"])

    assert chain.chain_id == CHAIN_ID
    if hardfork == "cancun":
        assert "execution reverted" in str(refused.value)  # InvoiceUnknown(12345): the code ran
    else:
        assert "NotActivated" in str(refused.value)  # TLOAD does not exist before Cancun
