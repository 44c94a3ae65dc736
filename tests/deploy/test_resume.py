"""An interrupted deploy resumes from its journal, or says exactly what was deployed.

Anvil mines a block a second (--block-time 1), so a deploy takes several seconds; the deploy runs
as a separate `chaincrm` process, and the test kills it, or kills Anvil (started with --state, so
it writes its chain to disk as it exits and reloads it when started again), once the journal shows
two steps mined. Then `chaincrm deploy` runs again with the same options.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from chaincrm.contracts.deployment import load_record, record_path
from chaincrm.deploy.journal import journal_path
from chaincrm.deploy.plan import create_address
from tests.cli.conftest import PASSWORD, Cli
from tests.deploy.conftest import ChainFactory, LocalChain, written

STEPS = 7
CHAIN_ID = 11155111
CHAINCRM = str(Path(sys.executable).with_name("chaincrm"))


def _start_deploy(home: Path, chain: LocalChain, deployer: LocalAccount) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CHAINCRM_HOME": str(home),
        "CHAINCRM_PASSWORD": PASSWORD,
        "CHAINCRM_KEYSTORE": deployer.address,
        "CHAINCRM_RPC_URL": chain.url,
    }
    command = [CHAINCRM, "deploy", "--network", "sepolia", "--rpc-url", chain.url, "--yes", "--json"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _mined_steps(home: Path) -> int:
    try:
        journal = json.loads(journal_path(home, CHAIN_ID).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return sum(step["status"] == "mined" for step in journal["steps"])


def _wait_for_mined(home: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while _mined_steps(home) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the deploy did not get going"
        time.sleep(0.05)


def _kill_deploy_after(home: Path, chain: LocalChain, deployer: LocalAccount, *, mined: int) -> None:
    """Start `chaincrm deploy` and kill it (kill -9) once `mined` of its steps are mined."""
    process = _start_deploy(home, chain, deployer)
    _wait_for_mined(home, mined, process)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _planned(deployer: LocalAccount) -> list[str]:
    return [create_address(deployer.address, nonce) for nonce in range(5)]


@pytest.fixture
def slow_chain(local_chain: ChainFactory) -> LocalChain:
    return local_chain(chain_id=CHAIN_ID, state=True, block_time=1)


def test_a_deploy_killed_midway_resumes_from_the_first_unfinished_step(
    slow_chain: LocalChain, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    _kill_deploy_after(home, slow_chain, deployer, mined=2)
    assert journal_path(home, CHAIN_ID).is_file()

    ran = cli_on(slow_chain)("deploy", "--network", "sepolia", "--rpc-url", slow_chain.url, "--yes", "--json")

    deployed = ran.json()
    assert deployed["resumed"] is True
    assert "already deployed: CrmRegistry at" in ran.stderr
    assert [deployed[key] for key in ("registry", "escrow", "pipeline", "loyalty", "branches")] == _planned(deployer)
    assert slow_chain.nonce(deployer.address) == STEPS  # nothing sent twice
    assert written(home) == [f"{CHAIN_ID}.json"]
    assert deployed["code_checked"] is True


def test_a_deploy_whose_node_dies_says_what_was_deployed_and_resumes_after_a_restart(
    slow_chain: LocalChain, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    process = _start_deploy(home, slow_chain, deployer)
    _wait_for_mined(home, 2, process)
    slow_chain.stop()  # SIGTERM: Anvil saves its chain to the --state file
    _, died = process.communicate(timeout=60)

    assert process.returncode == 1
    error = died.strip().splitlines()[-1]  # --json: the error is one JSON line, after the progress
    line = json.loads(error)["error"]["message"]
    assert line.startswith(f"the chain at {slow_chain.url} is not reachable; the unfinished deploy on chain {CHAIN_ID}")
    assert f"CrmRegistry at {_planned(deployer)[0]}: mined in block" in line
    assert "CrmRegistry.setBranchDirectory: not sent" in line

    while_down = cli_on(slow_chain)("deploy", "--network", "sepolia", "--rpc-url", slow_chain.url, "--yes")
    assert f"CrmRegistry at {_planned(deployer)[0]}: mined in block" in while_down.error
    assert "rerun `chaincrm deploy` with the same options to resume" in while_down.error

    slow_chain.start()
    ran = cli_on(slow_chain)("deploy", "--network", "sepolia", "--rpc-url", slow_chain.url, "--yes", "--json")

    deployed = ran.json()
    assert deployed["resumed"] is True
    assert [deployed[key] for key in ("registry", "escrow", "pipeline", "loyalty", "branches")] == _planned(deployer)
    assert slow_chain.nonce(deployer.address) == STEPS
    assert load_record(record_path(home, CHAIN_ID)).branches == _planned(deployer)[4]
    assert written(home) == [f"{CHAIN_ID}.json"]


def test_a_resume_with_other_settings_is_one_line_and_sends_nothing(
    slow_chain: LocalChain, cli_on: Callable[[LocalChain | None], Cli], home: Path, deployer: LocalAccount
) -> None:
    _kill_deploy_after(home, slow_chain, deployer, mined=1)
    time.sleep(1.5)  # a step sent just before the kill is mined
    nonce = slow_chain.nonce(deployer.address)

    refused = cli_on(slow_chain)(
        "deploy", "--network", "sepolia", "--rpc-url", slow_chain.url, "--approval-threshold", "3", "--yes"
    )

    assert "used other settings (approval_threshold_wei)" in refused.error
    assert slow_chain.nonce(deployer.address) == nonce
    assert written(home) == [f"{CHAIN_ID}.partial.json"]
