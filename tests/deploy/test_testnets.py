"""`chaincrm deploy --network NAME` against Anvil started as each testnet (its chain id), and the
bad input around it: each one line, nothing sent, nothing written."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import load_record, record_path
from chaincrm.deploy.networks import load_networks
from chaincrm.deploy.plan import create_address
from tests.cli.conftest import PASSWORD, Cli
from tests.deploy.conftest import ChainFactory, LocalChain, written

STEPS = 7  # five contracts, then setLoyaltyProgram and setBranchDirectory
NETWORKS = sorted(load_networks().values(), key=lambda network: network.chain_id)


@pytest.mark.parametrize("network", NETWORKS, ids=[network.name for network in NETWORKS])
def test_a_deploy_to_each_testnets_chain_id_writes_that_chains_record(
    network: object,
    local_chain: ChainFactory,
    cli_on: Callable[[LocalChain | None], Cli],
    home: Path,
    deployer: LocalAccount,
) -> None:
    name, chain_id = network.name, network.chain_id  # type: ignore[attr-defined]
    chain = local_chain(chain_id=chain_id)

    deployed = cli_on(chain)("deploy", "--network", name, "--rpc-url", chain.url, "--yes", "--json").json()

    assert deployed["chain_id"] == chain_id
    assert deployed["network"] == name
    assert deployed["code_checked"] is True
    assert deployed["record"] == str(record_path(home, chain_id))
    assert load_record(record_path(home, chain_id)).branches == create_address(deployer.address, 4)
    assert chain.nonce(deployer.address) == STEPS
    crm = Crm.from_settings(Settings(rpc_url=chain.url, home=home))
    assert crm.escrow.loyalty_program() == deployed["loyalty"]


def test_the_home_networks_file_points_a_network_at_another_node(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    chain = local_chain(chain_id=560048)
    (home / "networks.toml").write_text(f'[networks.hoodi]\nrpc_url = "{chain.url}"\n')

    deployed = cli_on(None)("deploy", "--network", "hoodi", "--yes", "--json").json()

    assert deployed["chain_id"] == 560048
    assert written(home) == ["560048.json"]


def test_a_testnet_deploy_leaves_the_local_chains_record_alone(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    local, sepolia = local_chain(), local_chain(chain_id=11155111)
    on_local = cli_on(local)("deploy", "--json").json()

    on_sepolia = cli_on(local)("deploy", "--network", "sepolia", "--rpc-url", sepolia.url, "--yes", "--json").json()

    assert written(home) == ["11155111.json", "31337.json"]
    assert Crm.from_settings(Settings(rpc_url=local.url, home=home)).deployment.registry == on_local["registry"]
    assert Crm.from_settings(Settings(rpc_url=sepolia.url, home=home)).deployment.registry == on_sepolia["registry"]


def test_the_plan_shows_each_contracts_gas_and_the_cost_before_sending(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli]
) -> None:
    chain = local_chain(chain_id=421614)

    ran = cli_on(chain)("deploy", "--network", "arbitrum-sepolia", "--rpc-url", chain.url, "--yes")

    assert ran.exit_code == 0, ran.stderr
    for step in ("CrmRegistry", "InvoiceEscrow", "DealPipeline", "LoyaltyPoints", "BranchDirectory"):
        assert step in ran.stderr
    assert "CrmRegistry.setBranchDirectory" in ran.stderr
    assert "gas at 2 gwei (base fee 1 + tip 1)" in ran.stderr
    assert "ETH, at most" in ran.stderr


def test_a_deploy_waits_for_the_confirmations_asked(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    chain = local_chain(chain_id=11155111, block_time=0.2)

    deployed = cli_on(chain)(
        "deploy", "--network", "sepolia", "--rpc-url", chain.url, "--confirmations", "3", "--yes", "--json"
    ).json()

    last_step = int(chain.rpc("eth_getTransactionReceipt", [_last_tx(chain, deployed)])["blockNumber"], 16)
    assert int(chain.rpc("eth_blockNumber", []), 16) >= last_step + 2
    assert written(home) == ["11155111.json"]


def _last_tx(chain: LocalChain, deployed: dict[str, object]) -> str:
    """The deploy's last transaction: setBranchDirectory, the registry's last event's transaction."""
    logs = chain.rpc("eth_getLogs", [{"address": deployed["registry"], "fromBlock": "0x0", "toBlock": "latest"}])
    return str(logs[-1]["transactionHash"])


# ------------------------------------------------------------------ bad input: one line, nothing sent or written


def test_a_network_name_not_in_the_file_is_one_line_naming_the_known_ones(
    cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    refused = cli_on(None)("deploy", "--network", "goerli", "--yes")

    assert "no network named 'goerli'" in refused.error
    assert "known networks are arbitrum-sepolia, base-sepolia, hoodi, op-sepolia, sepolia" in refused.error
    assert written(home) == []


def test_a_node_serving_another_chain_than_the_network_is_one_line(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    chain = local_chain()

    refused = cli_on(chain)("deploy", "--network", "sepolia", "--rpc-url", chain.url, "--yes")

    assert f"the node at {chain.url} serves chain 31337, network sepolia is chain 11155111" in refused.error
    assert chain.nonce(deployer.address) == 0
    assert written(home) == []


def test_a_fee_above_the_cap_is_one_line_and_nothing_is_sent(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    chain = local_chain(chain_id=84532)

    refused = cli_on(chain)("deploy", "--network", "base-sepolia", "--rpc-url", chain.url, "--max-fee", "1.5", "--yes")

    assert "the next block needs 2 gwei per gas (base fee 1 + tip 1), above --max-fee 1.5 gwei" in refused.error
    assert chain.nonce(deployer.address) == 0
    assert written(home) == []


def test_a_cap_above_the_needed_fee_caps_the_max_fee(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    chain = local_chain(chain_id=84532)

    ran = cli_on(chain)("deploy", "--network", "base-sepolia", "--rpc-url", chain.url, "--max-fee", "2.5", "--yes")

    assert ran.exit_code == 0, ran.stderr
    assert "max fee 2.5 gwei" in ran.stderr
    assert written(home) == ["84532.json"]


def test_an_unreachable_rpc_url_is_one_line(cli_on: Callable[[LocalChain | None], Cli], home: Path) -> None:
    refused = cli_on(None)("deploy", "--network", "sepolia", "--rpc-url", "http://127.0.0.1:9", "--yes")

    assert "the chain at http://127.0.0.1:9 is not reachable" in refused.error
    assert written(home) == []


def test_an_unparsable_networks_file_is_one_line(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    (home / "networks.toml").write_text('[networks.sepolia\nrpc_url = "http://x"\n')

    refused = cli_on(local_chain())("deploy", "--network", "sepolia", "--yes")

    assert f"{home / 'networks.toml'} is not valid TOML" in refused.error
    assert written(home) == []


def test_a_testnet_deploy_not_run_from_a_terminal_needs_yes(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    chain = local_chain(chain_id=11155111)

    refused = cli_on(chain)("deploy", "--network", "sepolia", "--rpc-url", chain.url)

    assert "not run from a terminal: pass --yes to deploy to Sepolia (chain 11155111)" in refused.error
    assert chain.nonce(deployer.address) == 0
    assert written(home) == []


def test_a_deployer_without_the_funds_is_one_line(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    chain = local_chain(chain_id=11155111)
    chain.rpc("anvil_setBalance", [deployer.address, hex(10**15)])

    refused = cli_on(chain)("deploy", "--network", "sepolia", "--rpc-url", chain.url, "--yes")

    assert f"the deployer {deployer.address} holds 0.001000 ETH on chain 11155111" in refused.error
    assert "fund it first" in refused.error
    assert written(home) == []


def test_a_record_whose_chain_id_differs_from_the_nodes_is_one_line(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    chain = local_chain(chain_id=11155111)
    run = cli_on(chain)
    run("deploy", "--network", "sepolia", "--rpc-url", chain.url, "--yes")
    path = record_path(home, 11155111)
    record = json.loads(path.read_text()) | {"chain_id": 84532}
    path.write_text(json.dumps(record))

    refused = run("--rpc-url", chain.url, "deal", "list")

    assert "serves chain 11155111, the deployment record is for chain 84532" in refused.error
    assert json.loads(path.read_text()) == record


def test_a_chain_without_the_cancun_opcodes_is_one_line_and_nothing_is_sent(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    chain = local_chain(chain_id=11155111, args=("--hardfork", "shanghai"))

    refused = cli_on(chain)("deploy", "--network", "sepolia", "--rpc-url", chain.url, "--yes")

    assert "chain 11155111 does not run the opcodes the contracts use" in refused.error
    assert "NotActivated" in refused.error
    assert chain.nonce(deployer.address) == 0
    assert written(home) == []


def test_without_anvil_to_fork_the_chain_each_step_is_estimated_just_before_it_is_sent(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    chain = local_chain(chain_id=11155111)

    ran = cli_on(chain)(
        "deploy", "--network", "sepolia", "--rpc-url", chain.url, "--yes", env={"CHAINCRM_ANVIL": "/nonexistent/anvil"}
    )

    assert ran.exit_code == 0, ran.stderr
    assert "some steps cannot be estimated before the earlier ones land" in ran.stderr
    assert chain.nonce(deployer.address) == STEPS
    assert written(home) == ["11155111.json"]


@pytest.mark.parametrize(("answer", "deploys"), [("n", False), ("y", True)])
def test_on_a_terminal_the_deploy_asks_first(
    answer: str, deploys: bool, local_chain: ChainFactory, home: Path, deployer: LocalAccount
) -> None:
    chain = local_chain(chain_id=11155111)
    env = {
        **os.environ,
        "CHAINCRM_HOME": str(home),
        "CHAINCRM_PASSWORD": PASSWORD,
        "CHAINCRM_KEYSTORE": deployer.address,
    }
    terminal, its_end = pty.openpty()  # stdin is a terminal: the question is asked
    command = [
        str(Path(sys.executable).with_name("chaincrm")),
        "deploy",
        "--network",
        "sepolia",
        "--rpc-url",
        chain.url,
    ]
    process = subprocess.Popen(
        command, stdin=its_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    os.write(terminal, f"{answer}\n".encode())
    _, err = process.communicate(timeout=120)
    os.close(terminal)
    os.close(its_end)

    assert "Deploy to Sepolia (chain 11155111)? [y/N]" in err
    if deploys:
        assert process.returncode == 0, err
        assert chain.nonce(deployer.address) == STEPS
        assert written(home) == ["11155111.json"]
    else:
        assert process.returncode == 1
        assert (
            err.strip().splitlines()[-1].endswith("? [y/N]: aborted: nothing was sent")
        )  # the answer echoes on the tty
        assert chain.nonce(deployer.address) == 0
        assert written(home) == []
