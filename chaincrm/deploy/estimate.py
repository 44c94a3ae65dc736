"""Gas estimates for the steps of a deploy, each on the state the earlier steps leave.

The steps depend on each other (the pipeline's constructor asks the escrow for its issuer, the
admin's calls need the contracts), so estimating each against today's chain would fail. As Foundry
scripts do, the plan runs first on a local Anvil forked from the chain at its latest block, from
the deployer (impersonated, its balance topped up on the fork only): each step's ``eth_estimateGas``
there is its estimate, and the fork's receipts prove the whole plan goes through before anything
real is sent. Without Anvil, only the first step is estimated on the chain itself: the others
would be estimated against a chain without their predecessors (a call to an address with no code
yet "succeeds" for 21,000 gas), so they are estimated just before each is sent.
"""

from __future__ import annotations

import time
from typing import Any

from chaincrm.chain import Connection
from chaincrm.chain.transport import HttpTransport
from chaincrm.deploy.plan import Step
from chaincrm.errors import ChainError, ConfigError, NodeError

FORK_STARTUP_SECONDS = 60.0
FORK_BALANCE_WEI = 10**24
RECEIPT_POLLS = 500
RECEIPT_POLL_SECONDS = 0.01


def estimate_steps(node: Connection, rpc_url: str, deployer: str, steps: tuple[Step, ...]) -> list[int | None]:
    """The gas each step needs: from a fork of the chain when Anvil is installed, else one by one."""
    if not steps:
        return []
    try:
        return _on_fork(rpc_url, deployer, steps)
    except NodeError as exc:
        if "not installed" not in str(exc) and "is not an executable" not in str(exc):
            raise ChainError(f"cannot simulate the deploy on a fork of {node.endpoint}: {exc}") from None
    return [_estimate(node, deployer, steps[0]), *(None for _ in steps[1:])]


def _estimate(node: Connection, deployer: str, step: Step) -> int | None:
    try:
        return int(node.request("eth_estimateGas", [_tx(deployer, step)]), 16)
    except ChainError:
        return None


def _tx(deployer: str, step: Step) -> dict[str, str]:
    tx = {"from": deployer, "data": "0x" + step.data.hex(), "nonce": hex(step.nonce)}
    if not step.creates:
        tx["to"] = step.address
    return tx


def _on_fork(rpc_url: str, deployer: str, steps: tuple[Step, ...]) -> list[int | None]:
    from chaincrm.services import supervisor
    from chaincrm.services.anvil import anvil_executable

    port = supervisor.free_port()
    command = [
        anvil_executable(),
        "--host", supervisor.LOOPBACK_HOST,
        "--port", str(port),
        "--fork-url", rpc_url,
        "--auto-impersonate",
        "--no-storage-caching",
        "--silent",
    ]  # fmt: skip
    process = supervisor.spawn(command, detach=False)
    fork = HttpTransport(f"http://{supervisor.LOOPBACK_HOST}:{port}", timeout=FORK_STARTUP_SECONDS)
    try:
        exit_code = supervisor.wait_until_ready(
            process, lambda: _answers(fork), name="the Anvil fork", timeout_seconds=FORK_STARTUP_SECONDS
        )
        if exit_code is not None:
            raise ChainError(f"Anvil could not fork the chain at {rpc_url} (it exited with code {exit_code})")
        _call(fork, "anvil_setBalance", [deployer, hex(FORK_BALANCE_WEI)])
        gases: list[int | None] = []
        for step in steps:
            tx = _tx(deployer, step)
            gas = int(_call(fork, "eth_estimateGas", [tx], step=step), 16)
            tx_hash = _call(fork, "eth_sendTransaction", [{**tx, "gas": hex(gas)}], step=step)
            receipt = None
            for _ in range(RECEIPT_POLLS):  # Anvil answers the send before its block is sealed
                receipt = _call(fork, "eth_getTransactionReceipt", [tx_hash], step=step)
                if receipt is not None:
                    break
                time.sleep(RECEIPT_POLL_SECONDS)
            if receipt is None or int(receipt["status"], 16) != 1:
                raise ConfigError(f"{_what(step)} fails on a fork of the chain: nothing was sent")
            gases.append(gas)
        return gases
    finally:
        supervisor.stop(process.pid)


def _what(step: Step) -> str:
    return f"deploying {step.name}" if step.creates else f"{step.contract}.{step.name}"


def _answers(fork: HttpTransport) -> bool:
    try:
        fork.make_request("eth_chainId", [])
    except (OSError, ChainError):
        return False
    return True


def _call(fork: HttpTransport, method: str, params: list[object], *, step: Step | None = None) -> Any:
    answer = fork.make_request(method, params)
    error = answer.get("error")
    if error:
        where = f"{_what(step)} fails on a fork of the chain" if step else f"the Anvil fork refused {method}"
        raise ConfigError(f"{where}: {error.get('message')}: nothing was sent")
    return answer.get("result")


__all__ = ["estimate_steps"]
