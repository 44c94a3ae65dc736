"""`chaincrm staff add|remove|key|show|list` and `chaincrm key publish`."""

from __future__ import annotations

import pytest

from chaincrm.contracts.client import Crm
from chaincrm.models import Role
from chaincrm.privacy.customers import CustomerData, public_key64
from chaincrm.storage import KuboStore
from tests.cli.conftest import Accounts, Cli

pytestmark = pytest.mark.usefixtures("snapshot")


def test_staff_add_gives_the_role(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    added = cli(
        "staff", "add", accounts.stranger.address, "--role", "auditor", "--keystore", accounts.admin.address, "--json"
    ).json()

    assert added["address"] == accounts.stranger.address and added["role"] == "auditor" and added["changed"] is True
    assert set(added) == {"address", "role", "changed", "tx_hash", "block_number", "gas_used"}
    assert crm.registry.has_role(Role.AUDITOR, accounts.stranger.address)


def test_staff_add_of_a_role_already_held_sends_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    block = crm.chain.w3.eth.block_number

    added = cli(
        "staff", "add", accounts.agent.address, "--role", "agent", "--keystore", accounts.admin.address, "--json"
    ).json()

    assert added == {"address": accounts.agent.address, "role": "agent", "changed": False}
    assert crm.chain.w3.eth.block_number == block


def test_staff_add_by_someone_who_is_not_an_admin_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts
) -> None:
    refused = cli(
        "staff", "add", accounts.stranger.address, "--role", "manager", "--keystore", accounts.manager.address
    )

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert not crm.registry.has_role(Role.MANAGER, accounts.stranger.address)


def test_staff_add_with_an_unknown_role_is_a_usage_error(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    refused = cli("staff", "add", accounts.stranger.address, "--role", "admin", "--keystore", accounts.admin.address)

    assert "Invalid value for '--role'" in refused.usage_error
    assert crm.registry.roles_of(accounts.stranger.address) == []


def test_staff_add_with_a_bad_address_is_a_usage_error(cli: Cli, accounts: Accounts) -> None:
    refused = cli("staff", "add", "0xnot-an-address", "--role", "agent", "--keystore", accounts.admin.address)

    assert "is not an address" in refused.usage_error


def test_staff_add_with_a_mistyped_checksum_is_a_usage_error(cli: Cli, accounts: Accounts) -> None:
    address = accounts.stranger.address
    letter = next(i for i, c in enumerate(address) if i > 1 and c.isalpha())
    mistyped = address[:letter] + address[letter].swapcase() + address[letter + 1 :]

    refused = cli("staff", "add", mistyped, "--role", "agent", "--keystore", accounts.admin.address)

    assert "invalid checksum" in refused.usage_error


def test_staff_key_publishes_the_callers_account_public_key(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    published = cli("staff", "key", "--keystore", accounts.stranger.address, "--json").json()

    assert published["changed"] is True
    assert published["public_key"] == "0x" + public_key64(accounts.stranger).hex()
    assert crm.registry.encryption_key_of(accounts.stranger.address) == public_key64(accounts.stranger)


def test_staff_key_when_already_published_sends_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    block = crm.chain.w3.eth.block_number

    published = cli("staff", "key", "--keystore", accounts.agent.address, "--json").json()

    assert published["changed"] is False
    assert crm.chain.w3.eth.block_number == block


def test_key_publish_is_the_same_command_as_staff_key(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    cli("key", "publish", "--keystore", accounts.stranger.address)

    assert crm.registry.encryption_key_of(accounts.stranger.address) == public_key64(accounts.stranger)


def test_staff_show_lists_roles_and_the_published_key(cli: Cli, accounts: Accounts) -> None:
    shown = cli("staff", "show", accounts.manager.address, "--json").json()

    assert shown == {
        "address": accounts.manager.address,
        "roles": ["manager", "agent"],
        "public_key": "0x" + public_key64(accounts.manager).hex(),
    }


def test_staff_show_of_an_unknown_account_has_no_roles_and_no_key(cli: Cli, accounts: Accounts) -> None:
    shown = cli("staff", "show", accounts.treasury.address)

    assert "none" in shown.stdout and "not published" in shown.stdout


# ------------------------------------------------------------------ remove


def test_staff_remove_takes_the_role_away(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    removed = cli(
        "staff", "remove", accounts.marketer.address, "--role", "agent", "--keystore", accounts.admin.address, "--json"
    ).json()

    assert (removed["changed"], removed["resealed"], removed["needs_reseal"]) == (True, [], [])
    assert not crm.registry.has_role(Role.AGENT, accounts.marketer.address)


def test_staff_remove_of_a_role_not_held_sends_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    block = crm.chain.w3.eth.block_number

    removed = cli(
        "staff", "remove", accounts.stranger.address, "--role", "agent", "--keystore", accounts.admin.address, "--json"
    ).json()

    assert removed == {"address": accounts.stranger.address, "role": "agent", "changed": False}
    assert crm.chain.w3.eth.block_number == block


def test_staff_remove_by_someone_who_is_not_an_admin_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    refused = cli("staff", "remove", accounts.agent.address, "--role", "agent", "--keystore", accounts.manager.address)

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert crm.registry.has_role(Role.AGENT, accounts.agent.address)


def test_staff_remove_by_an_admin_who_cannot_read_names_the_customers_a_manager_must_reseal(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    removed = cli("staff", "remove", accounts.agent.address, "--role", "agent", "--keystore", accounts.admin.address)

    assert f"cannot read (customers {customer_id})" in removed.stdout
    assert "chaincrm customer reseal --all-stale" in removed.stdout
    assert CustomerData(crm, store).is_stale(customer_id)


def test_staff_remove_by_an_admin_who_reads_reseals_without_the_removed_agent(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    data = CustomerData(crm, store)
    crm.registry.grant_role(Role.MANAGER, accounts.admin.address, accounts.admin)
    crm.registry.register_encryption_key(public_key64(accounts.admin), accounts.admin)
    data.reseal(customer_id, accounts.manager)  # the admin, now a manager, is a reader

    removed = cli(
        "staff", "remove", accounts.agent.address, "--role", "agent", "--keystore", accounts.admin.address, "--json"
    ).json()

    (resealed,) = removed["resealed"]
    assert resealed["customer_id"] == customer_id and accounts.agent.address not in resealed["readers"]
    assert removed["needs_reseal"] == [] and not data.is_stale(customer_id)
    shown = cli("customer", "show", customer_id, "--keystore", accounts.agent.address)
    assert f"not readable by {accounts.agent.address}" in shown.stdout


# ------------------------------------------------------------------ list


def test_staff_list_gives_every_role_holder_with_roles_and_key(cli: Cli, accounts: Accounts) -> None:
    listed = {row["address"]: row for row in cli("staff", "list", "--json").json()}

    assert listed[accounts.manager.address]["roles"] == ["manager", "agent"]
    assert listed[accounts.admin.address] == {"address": accounts.admin.address, "roles": ["admin"], "public_key": None}
    assert listed[accounts.marketer.address]["public_key"] == "0x" + public_key64(accounts.marketer).hex()
    assert accounts.customer.address not in listed


def test_staff_list_leaves_out_someone_whose_role_was_removed(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    crm.registry.revoke_role(Role.AGENT, accounts.marketer.address, accounts.admin)

    listed = [row["address"] for row in cli("staff", "list", "--json").json()]

    assert accounts.marketer.address not in listed
