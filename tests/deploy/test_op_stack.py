"""OP-stack chains: the L1 data fee through the GasPriceOracle predeploy, tested on `anvil --optimism`.

Anvil 1.7.1's --optimism mode takes OP deposit transactions but has NO code at the GasPriceOracle
predeploy (0x420000000000000000000000000000000000000F): eth_getCode answers 0x, so no real L1 fee can
be read there. The deploy then says the L1 fee is unknown (tested below). To test the reading itself,
one test puts a ten-byte stand-in at the predeploy with anvil_setCode that answers every call with
1,000 wei per byte of its calldata: it is NOT OP's oracle and its figures are not OP's formula; it
only shows that `chaincrm deploy` calls getL1Fee(bytes) with each unsigned transaction and adds the
answers to the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eth_abi import encode

from chaincrm.contracts.client import connect
from chaincrm.deploy.fees import GAS_PRICE_ORACLE, GET_L1_FEE_SELECTOR, l1_fee
from tests.cli.conftest import Cli
from tests.deploy.conftest import ChainFactory, LocalChain, written

STAND_IN_ORACLE = "0x366103e8025f5260205ff3"
"""CALLDATASIZE PUSH2 1000 MUL PUSH0 MSTORE PUSH1 32 PUSH0 RETURN: 1,000 wei per calldata byte."""


def test_anvil_optimism_has_no_gas_price_oracle_code(local_chain: ChainFactory) -> None:
    chain = local_chain(chain_id=11155420, args=("--optimism",))

    assert chain.code(GAS_PRICE_ORACLE) == b""


def test_on_an_op_chain_without_the_oracle_the_l1_fee_is_said_to_be_unknown(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    chain = local_chain(chain_id=11155420, args=("--optimism",))

    ran = cli_on(chain)("deploy", "--network", "op-sepolia", "--rpc-url", chain.url, "--yes")

    assert ran.exit_code == 0, ran.stderr
    assert f"L1 data fee: unknown, no GasPriceOracle at {GAS_PRICE_ORACLE} on this chain" in ran.stderr
    assert written(home) == ["11155420.json"]


def test_the_l1_fee_is_read_from_the_predeploy_with_the_unsigned_transaction(local_chain: ChainFactory) -> None:
    chain = local_chain(chain_id=84532, args=("--optimism",))
    chain.rpc("anvil_setCode", [GAS_PRICE_ORACLE, STAND_IN_ORACLE])
    tx = b"\x02" + bytes(100)

    fee = l1_fee(connect(chain.url), tx)

    assert fee == 1000 * len(GET_L1_FEE_SELECTOR + encode(["bytes"], [tx]))


def test_the_deploy_shows_and_counts_the_l1_fee_of_each_step(
    local_chain: ChainFactory, cli_on: Callable[[LocalChain | None], Cli], home: Path
) -> None:
    chain = local_chain(chain_id=84532, args=("--optimism",))
    chain.rpc("anvil_setCode", [GAS_PRICE_ORACLE, STAND_IN_ORACLE])

    ran = cli_on(chain)("deploy", "--network", "base-sepolia", "--rpc-url", chain.url, "--yes", "--json")

    deployed = ran.json()
    assert "L1 data fee (ETH)" in ran.stderr
    assert "(GasPriceOracle.getL1Fee)" in ran.stderr
    assert deployed["l1_fee_wei"] > 1000 * 20_000  # the registry's creation alone is over 20 kB
    assert deployed["l1_fee_wei"] % 1000 == 0
    assert deployed["estimated_cost_wei"] == deployed["estimated_gas"] * 2 * 10**9 + deployed["l1_fee_wei"]
