"""Fixtures for deploy tests: Anvils of our own, started as each testnet (its chain id, OP-stack
with --optimism, state kept with --state), and a home holding the deployer's keystore.

Every chain here is a real Anvil on a free loopback port; nothing is mocked. A test asks
`local_chain(...)` for as many chains as it needs; they are stopped at the end, also on failure.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.chain.keystores import create_keystore
from chaincrm.config import Settings
from chaincrm.services import supervisor
from chaincrm.services.anvil import DEFAULT_MNEMONIC, anvil_executable, dev_private_keys, free_port
from tests.cli.conftest import PASSWORD, SCRYPT_N_FOR_TESTS, Cli, cli_for, environment_for


@dataclass
class LocalChain:
    """One Anvil of a test's own."""

    port: int
    chain_id: int
    args: tuple[str, ...]
    state: Path | None
    pid: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalChain:
        command = [
            anvil_executable(),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--mnemonic", DEFAULT_MNEMONIC,
            *self.args,
        ]  # fmt: skip
        if self.state is not None:
            command += ["--state", str(self.state)]
        process = supervisor.spawn(command, detach=False)
        exit_code = supervisor.wait_until_ready(process, self._answers, name=f"anvil at {self.url}", timeout_seconds=30)
        assert exit_code is None, f"anvil exited with {exit_code}"
        self.pid = process.pid
        return self

    def stop(self) -> None:
        """SIGTERM: Anvil writes its --state file as it exits."""
        if self.pid:
            supervisor.stop(self.pid)
            self.pid = 0

    def rpc(self, method: str, params: list[Any]) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        assert "error" not in answer, answer
        return answer["result"]

    def nonce(self, address: str) -> int:
        return int(self.rpc("eth_getTransactionCount", [address, "latest"]), 16)

    def code(self, address: str) -> bytes:
        return bytes.fromhex(self.rpc("eth_getCode", [address, "latest"])[2:])

    def _answers(self) -> bool:
        try:
            self.rpc("eth_chainId", [])
        except OSError:
            return False
        return True


ChainFactory = Callable[..., LocalChain]


@pytest.fixture
def local_chain(tmp_path: Path) -> Iterator[ChainFactory]:
    """Start an Anvil: `local_chain(chain_id=11155111, args=("--optimism",), state=True, block_time=1)`."""
    started: list[LocalChain] = []

    def start(
        *, chain_id: int = 31337, args: tuple[str, ...] = (), state: bool = False, block_time: float | None = None
    ) -> LocalChain:
        extra = (*args, *(("--block-time", str(block_time)) if block_time else ()))
        state_file = tmp_path / f"anvil-{len(started)}.json" if state else None
        chain = LocalChain(free_port(), chain_id, extra, state_file)
        started.append(chain)
        return chain.start()

    try:
        yield start
    finally:
        for chain in started:
            chain.stop()


@pytest.fixture(scope="session")
def deployer() -> LocalAccount:
    return Account.from_key(dev_private_keys(1)[0])


@pytest.fixture
def home(tmp_path: Path, deployer: LocalAccount) -> Path:
    """A home holding only the deployer's keystore."""
    home = tmp_path / "home"
    create_keystore(home / "keystores", PASSWORD, private_key=bytes(deployer.key), scrypt_n=SCRYPT_N_FOR_TESTS)
    return home


@pytest.fixture
def cli_on(home: Path, deployer: LocalAccount) -> Callable[[LocalChain | None], Cli]:
    """`chaincrm` in the home, signing with the deployer's keystore, its --rpc-url the given chain
    (or a port nothing listens on)."""

    def make(chain: LocalChain | None) -> Cli:
        url = chain.url if chain is not None else f"http://127.0.0.1:{free_port()}"
        return cli_for(environment_for(Settings(rpc_url=url, home=home)) | {"CHAINCRM_KEYSTORE": deployer.address})

    return make


def written(home: Path) -> list[str]:
    """What a command left in the home's deployments folder."""
    folder = home / "deployments"
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []
