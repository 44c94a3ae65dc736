"""`chaincrm api-key create|list|revoke`: a key printed once, stored hashed, listed without it,
revoked for good."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chaincrm.api.database import open_integration
from chaincrm.api.keys import ApiKeys, KeyRefused, digest_of, metadata
from chaincrm.config import Settings
from tests.cli.conftest import Accounts, Cli

KEY_FIELDS = {"id", "name", "staff", "read_only", "hint", "created_at", "revoked_at"}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "integration.sqlite"


def keys_in(settings: Settings, database: Path) -> ApiKeys:
    return ApiKeys(open_integration(database, settings.home, metadata))


def create_key(cli: Cli, staff: str, database: Path, *options: str) -> dict[str, Any]:
    """`api-key create --staff STAFF [options] --integration-database DATABASE --json`, parsed."""
    created: dict[str, Any] = cli(
        "api-key", "create", "--staff", staff, *options, "--integration-database", database, "--json"
    ).json()
    return created


def test_creating_a_key_prints_it_once_and_stores_its_hash(
    cli: Cli, settings: Settings, accounts: Accounts, database: Path
) -> None:
    created = create_key(cli, accounts.agent.address, database, "--name", "erp")

    key = created["key"]
    assert set(created) == KEY_FIELDS | {"key"}
    assert key.startswith("ck_") and len(key) == 3 + 43
    assert (created["staff"], created["name"], created["read_only"], created["revoked_at"]) == (
        accounts.agent.address,
        "erp",
        False,
        None,
    )
    assert created["hint"] == key[:9]
    stored = database.read_bytes()
    assert key.encode() not in stored and key[3:].encode() not in stored
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT digest FROM api_keys").fetchall() == [(digest_of(key),)]
    assert keys_in(settings, database).verify(key).id == created["id"]


def test_a_read_only_key_is_recorded_as_such(cli: Cli, accounts: Accounts, database: Path) -> None:
    created = create_key(cli, accounts.manager.address, database, "--read-only")

    assert created["read_only"] is True


def test_the_list_never_shows_a_key(cli: Cli, accounts: Accounts, database: Path) -> None:
    first = create_key(cli, accounts.agent.address, database)
    second = create_key(cli, accounts.manager.address, database, "--read-only")

    listed = cli("api-key", "list", "--integration-database", database, "--json")
    shown = cli("api-key", "list", "--integration-database", database)

    assert [row["id"] for row in listed.json()] == [first["id"], second["id"]]
    assert all(set(row) == KEY_FIELDS for row in listed.json())
    for key in (first["key"], second["key"]):
        assert key not in listed.stdout and key not in shown.stdout
        assert key[3:9] in shown.stdout  # the hint
    assert "read-only" in shown.stdout and accounts.manager.address in shown.stdout


def test_revoking_a_key_refuses_it_from_then_on(
    cli: Cli, settings: Settings, accounts: Accounts, database: Path
) -> None:
    created = create_key(cli, accounts.agent.address, database)

    revoked = cli("api-key", "revoke", created["id"], "--integration-database", database, "--json").json()

    assert revoked["id"] == created["id"] and isinstance(revoked["revoked_at"], int)
    with pytest.raises(KeyRefused) as refused:
        keys_in(settings, database).verify(created["key"])
    assert refused.value.code == "api_key_revoked"


def test_the_environment_names_the_database(cli: Cli, accounts: Accounts, database: Path) -> None:
    env = {"CHAINCRM_INTEGRATION_DATABASE": str(database)}
    created = cli("api-key", "create", "--staff", accounts.agent.address, "--json", env=env).json()

    listed = cli("api-key", "list", "--integration-database", database, "--json").json()

    assert [row["id"] for row in listed] == [created["id"]]


def test_revoking_an_unknown_key_is_one_line(cli: Cli, database: Path) -> None:
    run = cli("api-key", "revoke", "42", "--integration-database", database)

    assert run.error == "error: there is no API key 42 (see `chaincrm api-key list`)"


def test_a_key_for_a_malformed_address_is_a_usage_error(cli: Cli, database: Path) -> None:
    run = cli("api-key", "create", "--staff", "0x1234", "--integration-database", database)

    assert "is not an address" in run.usage_error
    assert not database.exists()
