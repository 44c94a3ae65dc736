"""`chaincrm key new|list`: keystores in the home, passwords from the environment or a prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from chaincrm.chain.keystores import load_signer
from chaincrm.config import Settings
from tests.cli.conftest import PASSWORD, SCRYPT_N_FOR_TESTS, Accounts, Cli, cli_for, environment_for

ANVIL_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.fixture
def home(tmp_path: Path) -> tuple[Settings, Cli]:
    own = Settings(home=tmp_path / "home")
    return own, cli_for(environment_for(own))


def test_key_new_creates_a_keystore_unlocked_by_the_password_from_the_environment(home: tuple[Settings, Cli]) -> None:
    own, run = home

    created = run("key", "new", "--scrypt-n", SCRYPT_N_FOR_TESTS, "--json").json()

    assert set(created) == {"address", "path"}
    assert Path(created["path"]).parent == own.keystore_dir
    assert load_signer(created["path"], password=PASSWORD).address == created["address"]


def test_key_new_asks_for_the_password_twice_without_the_environment(home: tuple[Settings, Cli]) -> None:
    _, run = home

    created = run(
        "key",
        "new",
        "--scrypt-n",
        SCRYPT_N_FOR_TESTS,
        "--json",
        input="s3cret\ns3cret\n",
        env={"CHAINCRM_PASSWORD": None},
    )

    assert load_signer(created.json()["path"], password="s3cret").address == created.json()["address"]


def test_key_new_with_a_dev_account_imports_anvils_public_test_key(home: tuple[Settings, Cli]) -> None:
    _, run = home

    created = run("key", "new", "--dev-account", 0, "--scrypt-n", SCRYPT_N_FOR_TESTS, "--json").json()

    assert created["address"] == ANVIL_ACCOUNT_0


def test_key_new_never_replaces_an_existing_keystore(home: tuple[Settings, Cli]) -> None:
    own, run = home
    first = run("key", "new", "--dev-account", 0, "--scrypt-n", SCRYPT_N_FOR_TESTS, "--json").json()
    before = Path(first["path"]).read_bytes()

    refused = run("key", "new", "--dev-account", 0, "--scrypt-n", SCRYPT_N_FOR_TESTS)

    assert "already exists" in refused.error
    assert Path(first["path"]).read_bytes() == before


def test_key_new_refuses_an_empty_password_and_writes_nothing(home: tuple[Settings, Cli]) -> None:
    own, run = home

    refused = run("key", "new", env={"CHAINCRM_PASSWORD": ""})

    assert "password must not be empty" in refused.error
    assert not own.keystore_dir.exists() or not any(own.keystore_dir.iterdir())


def test_key_list_shows_every_keystore_in_the_home(home: tuple[Settings, Cli]) -> None:
    _, run = home
    created = [run("key", "new", "--dev-account", i, "--scrypt-n", SCRYPT_N_FOR_TESTS, "--json").json() for i in (1, 0)]

    listed = run("key", "list", "--json").json()

    assert sorted(listed, key=lambda k: k["address"]) == sorted(created, key=lambda k: k["address"])


def test_key_list_prints_a_table(home: tuple[Settings, Cli]) -> None:
    _, run = home
    run("key", "new", "--dev-account", 0, "--scrypt-n", SCRYPT_N_FOR_TESTS)

    listed = run("key", "list")

    assert ANVIL_ACCOUNT_0 in listed.stdout and "address" in listed.stdout


def test_a_keystore_can_be_named_by_its_file(cli: Cli, settings: Settings, accounts: Accounts) -> None:
    path = settings.keystore_dir / f"{accounts.agent.address}.json"

    shown = cli("key", "publish", "--keystore", path, "--json").json()

    assert shown["address"] == accounts.agent.address and shown["changed"] is False


def test_an_unknown_keystore_is_one_line(cli: Cli) -> None:
    nobody = Account.create().address

    refused = cli("key", "publish", "--keystore", nobody)

    assert f"no keystore for {nobody}" in refused.error


def test_a_keystore_named_by_the_environment_is_used(cli: Cli, accounts: Accounts) -> None:
    shown = cli("key", "publish", "--json", env={"CHAINCRM_KEYSTORE": accounts.manager.address}).json()

    assert shown["address"] == accounts.manager.address
