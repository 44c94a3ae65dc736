"""Fixtures for CLI tests: one real stack (Anvil + the embedded IPFS node) per session, started and
stopped by `chaincrm.services.stack`, with the CRM deployed and keystores for every named account.

Commands run in-process through click's CliRunner, but through `chaincrm.cli.main`, the console
script's entry point, so that errors are printed exactly as a user sees them. A test that changes
the chain asks for `snapshot`, which rewinds Anvil afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.chain.keystores import create_keystore
from chaincrm.cli import main
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy, save_record
from chaincrm.models import Purpose, Role, Stage
from chaincrm.privacy import CustomerProfile
from chaincrm.privacy.customers import CustomerData, public_key64
from chaincrm.services import stack
from chaincrm.services.anvil import dev_private_keys, free_port
from chaincrm.storage import KuboStore
from chaincrm.storage.node import api_address
from tests.support import forget_reverted_transactions

PASSWORD = "correct horse battery staple"
SCRYPT_N_FOR_TESTS = 2**4  # milliseconds to unlock; production keeps eth-account's 2**18
PROFILE = CustomerProfile(
    name="Ada Okafor", email="ada.okafor@example.org", phone="+351 912 345 678", address="1 Rua Nova"
)
DEAL_VALUE_WEI = 15 * 10**17


def pytest_configure(config: pytest.Config) -> None:
    # ipfshttpclient 0.7.0 passes `strict` to urllib3 2.x; chaincrm.storage silences it at import,
    # but pytest drops filters set while it collects.
    config.addinivalue_line("filterwarnings", "ignore:The 'strict' parameter is no longer needed:FutureWarning")


# ------------------------------------------------------------------ running the command


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.exit_code == 0, self.stderr
        return json.loads(self.stdout)

    @property
    def error(self) -> str:
        """The one line a refused command prints (exit 1): asserts it is exactly one line."""
        assert self.exit_code == 1, (self.exit_code, self.stdout, self.stderr)
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("error: ")
        return lines[0]

    @property
    def usage_error(self) -> str:
        """The one line a usage error prints (exit 2): asserts it is exactly one line."""
        assert self.exit_code == 2, (self.exit_code, self.stdout, self.stderr)
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("error: ") and "--help" in lines[0]
        return lines[0]


class _ConsoleScript:
    """What CliRunner invokes: `chaincrm.cli.main` with argv set, as the console script runs it."""

    name = "chaincrm"

    def main(self, args: Sequence[str], prog_name: str, **_: Any) -> None:
        with mock.patch.object(sys, "argv", [prog_name, *args]):
            main()


Cli = Callable[..., Run]


def cli_for(environment: Mapping[str, str | None]) -> Cli:
    runner = CliRunner()

    def run(*args: object, input: str | None = None, env: Mapping[str, str | None] | None = None) -> Run:
        result = runner.invoke(
            _ConsoleScript(),  # type: ignore[arg-type]
            [str(arg) for arg in args],
            input=input,
            env={**environment, **(env or {})},
            catch_exceptions=False,  # a real bug fails the test with its traceback
        )
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


def environment_for(settings: Settings) -> dict[str, str | None]:
    return {
        "CHAINCRM_HOME": str(settings.home),
        "CHAINCRM_RPC_URL": settings.rpc_url,
        "CHAINCRM_IPFS_API": settings.ipfs_api,
        "CHAINCRM_PASSWORD": PASSWORD,
        "CHAINCRM_KEYSTORE": None,
        "CHAINCRM_CONFIRMATIONS": None,
    }


def two_free_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


def settings_for(home: Path, chain_port: int, ipfs_port: int) -> Settings:
    return Settings(rpc_url=f"http://127.0.0.1:{chain_port}", ipfs_api=api_address(ipfs_port), home=home)


# ------------------------------------------------------------------ the session's stack


@dataclass(frozen=True)
class Accounts:
    admin: LocalAccount
    agent: LocalAccount
    manager: LocalAccount
    customer: LocalAccount
    stranger: LocalAccount
    treasury: LocalAccount
    marketer: LocalAccount  # a second agent, with a key and no grants: the one access is granted to


@pytest.fixture(scope="session")
def accounts() -> Accounts:
    return Accounts(*(Account.from_key(key) for key in dev_private_keys(7)))


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A stack on free ports in a temporary home, stopped at the end, also on failure."""
    chain_port, ipfs_port = two_free_ports()
    settings = settings_for(tmp_path_factory.mktemp("home"), chain_port, ipfs_port)
    try:
        stack.up(settings, chain_port=chain_port, ipfs_port=ipfs_port)
        yield settings
    finally:
        stack.down(settings)


@pytest.fixture(scope="session")
def crm(settings: Settings, accounts: Accounts) -> Crm:
    """The CRM deployed, roles granted, encryption keys published, keystores written.

    The manager is also an agent; the marketer is an agent. Every one of them published a key; the
    customer did too, but a customer's wallet is bound only by its own acceptance."""
    for account in (getattr(accounts, field.name) for field in dataclasses.fields(accounts)):
        create_keystore(settings.keystore_dir, PASSWORD, private_key=bytes(account.key), scrypt_n=SCRYPT_N_FOR_TESTS)
    deployment = deploy(connect(settings.rpc_url), accounts.admin, treasury=accounts.treasury.address)
    save_record(deployment, settings.deployment_path)
    crm = Crm.from_settings(settings)
    crm.registry.grant_role(Role.AGENT, accounts.agent.address, accounts.admin)
    crm.registry.grant_role(Role.AGENT, accounts.manager.address, accounts.admin)
    crm.registry.grant_role(Role.MANAGER, accounts.manager.address, accounts.admin)
    crm.registry.grant_role(Role.AGENT, accounts.marketer.address, accounts.admin)
    for account in (accounts.agent, accounts.manager, accounts.customer, accounts.marketer):
        crm.registry.register_encryption_key(public_key64(account), account)
    return crm


@pytest.fixture(scope="session")
def store(settings: Settings) -> Iterator[KuboStore]:
    with KuboStore(settings.ipfs_api) as store:
        yield store


@pytest.fixture(scope="session")
def cli(settings: Settings, crm: Crm) -> Cli:
    """Run `chaincrm ARGS...` against the session's stack; returns a Run."""
    return cli_for(environment_for(settings))


@pytest.fixture
def snapshot(crm: Crm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Undo a test's transactions (Anvil's evm_snapshot / evm_revert)."""
    provider = crm.chain.w3.provider
    snapshot_id = provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield
    finally:
        provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]
        crm.chain.nonces.reset_all()
        forget_reverted_transactions(crm.chain, tmp_path_factory.getbasetemp())


# ------------------------------------------------------------------ records tests start from


@pytest.fixture
def proposed_customer_id(snapshot: None, crm: Crm, store: KuboStore, accounts: Accounts) -> int:
    """A customer registered by the agent (granted for sales), the customer's wallet proposed and
    approved by the manager but not accepted: readable by the agent and the manager."""
    data = CustomerData(crm, store)
    customer_id = data.add(PROFILE, wallet=accounts.customer.address, purpose=Purpose.SALES, agent=accounts.agent)
    data.approve_wallet(customer_id.customer_id, accounts.customer.address, accounts.manager)
    return customer_id.customer_id


@pytest.fixture
def customer_id(proposed_customer_id: int, crm: Crm, store: KuboStore, accounts: Accounts) -> int:
    """The same customer once its wallet accepted and the agent re-sealed: readable by the agent,
    the manager and the customer."""
    data = CustomerData(crm, store)
    data.accept_wallet(proposed_customer_id, accounts.customer)
    assert data.reseal(proposed_customer_id, accounts.agent) is not None
    return proposed_customer_id


@pytest.fixture
def deal_id(customer_id: int, crm: Crm, accounts: Accounts) -> int:
    """An open deal (lead) of the agent's with the customer."""
    return crm.pipeline.open_deal(customer_id, accounts.agent.address, DEAL_VALUE_WEI, accounts.agent)


@pytest.fixture
def invoice_id(deal_id: int, crm: Crm, accounts: Accounts) -> int:
    """The open invoice of a deal the agent won."""
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        crm.pipeline.move(deal_id, stage, accounts.agent)
    invoice = crm.pipeline.deal(deal_id).invoice_id
    assert invoice is not None
    return invoice


def balance(crm: Crm, address: str) -> int:
    return int(crm.chain.w3.eth.get_balance(address))  # type: ignore[arg-type]


def advance_time(crm: Crm, seconds: int) -> None:
    """Let `seconds` of chain time pass (the next block is mined that much later)."""
    provider = crm.chain.w3.provider
    provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]
