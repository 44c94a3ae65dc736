"""`chaincrm customer add|show|update|grant|revoke|erase|consent|timeline`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaincrm.client import Crm
from chaincrm.customers import CustomerData
from chaincrm.devchain import free_port
from chaincrm.documents import KuboStore
from chaincrm.ipfs_node import api_address
from chaincrm.models import CustomerStatus, Purpose
from tests.cli.conftest import PROFILE, Accounts, Cli, Run

pytestmark = pytest.mark.usefixtures("snapshot")

SHOW_KEYS = {"customer_id", "wallet", "status", "profile_version", "registered_at", "profile", "readers", "consent"}
REF_KEYS = {"customer_id", "profile_version", "cid", "readers"}


def _add(cli: Cli, accounts: Accounts, *extra: object) -> Run:
    return cli("customer", "add", "--keystore", accounts.agent.address, *extra)


# ------------------------------------------------------------------ add


def test_customer_add_registers_a_customer_readable_by_the_agent_and_the_customer(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts
) -> None:
    added = _add(
        cli,
        accounts,
        "--name",
        "Brigitte Moreau",
        "--email",
        "b.moreau@example.org",
        "--wallet",
        accounts.customer.address,
        "--json",
    ).json()

    assert set(added) == REF_KEYS
    assert added["customer_id"] == crm.registry.customer_count() and added["profile_version"] == 1
    assert added["readers"] == sorted([accounts.agent.address, accounts.customer.address])
    assert CustomerData(crm, store).read(added["customer_id"], accounts.customer).email == "b.moreau@example.org"


def test_customer_add_takes_fields_from_a_json_file_and_options_win(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, tmp_path: Path
) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"name": "Chidi Nakamura", "phone": "+351 911 000 111", "notes": "prefers calls"}))

    added = _add(cli, accounts, "--from-json", profile, "--notes", "prefers e-mail", "--json").json()

    read = CustomerData(crm, store).read(added["customer_id"], accounts.agent)
    assert (read.name, read.phone, read.notes) == ("Chidi Nakamura", "+351 911 000 111", "prefers e-mail")


def test_customer_add_without_a_name_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    count = crm.registry.customer_count()

    refused = _add(cli, accounts, "--email", "nobody@example.org")

    assert "a customer needs a name" in refused.error
    assert crm.registry.customer_count() == count


def test_customer_add_with_a_malformed_email_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    count = crm.registry.customer_count()

    refused = _add(cli, accounts, "--name", "Dara", "--email", "not-an-email")

    assert "customer email is malformed" in refused.error
    assert crm.registry.customer_count() == count


def test_customer_add_with_a_missing_json_file_is_one_line(
    cli: Cli, crm: Crm, accounts: Accounts, tmp_path: Path
) -> None:
    count = crm.registry.customer_count()

    refused = _add(cli, accounts, "--from-json", tmp_path / "missing.json")

    assert "missing.json does not exist" in refused.error
    assert crm.registry.customer_count() == count


def test_customer_add_with_unknown_json_fields_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, tmp_path: Path
) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"name": "Emeka", "ssn": "123"}))
    count = crm.registry.customer_count()

    refused = _add(cli, accounts, "--from-json", profile)

    assert "unknown fields: ssn" in refused.error
    assert crm.registry.customer_count() == count


def test_customer_add_by_someone_who_is_not_an_agent_stores_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts
) -> None:
    count, pins = crm.registry.customer_count(), store.pins()

    refused = cli("customer", "add", "--name", "Farah", "--keystore", accounts.stranger.address)

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert crm.registry.customer_count() == count
    assert store.pins() == pins


def test_customer_add_when_the_ipfs_service_is_down_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    count = crm.registry.customer_count()

    refused = cli(
        "--ipfs-api",
        api_address(free_port()),
        "customer",
        "add",
        "--name",
        "Goran",
        "--keystore",
        accounts.agent.address,
    )

    assert "is not reachable" in refused.error
    assert crm.registry.customer_count() == count


def test_customer_add_when_the_chain_is_down_is_one_line(cli: Cli, accounts: Accounts) -> None:
    refused = cli(
        "--rpc-url",
        f"http://127.0.0.1:{free_port()}",
        "customer",
        "add",
        "--name",
        "Hana",
        "--keystore",
        accounts.agent.address,
    )

    assert "is not reachable" in refused.error


def test_customer_add_with_a_wrong_password_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    count = crm.registry.customer_count()

    refused = cli(
        "customer", "add", "--name", "Ilse", "--keystore", accounts.agent.address, env={"CHAINCRM_PASSWORD": "wrong"}
    )

    assert "wrong password" in refused.error
    assert crm.registry.customer_count() == count


# ------------------------------------------------------------------ show


def test_customer_show_decrypts_the_profile_for_the_customer(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    shown = cli("customer", "show", customer_id, "--keystore", accounts.customer.address, "--json").json()

    assert set(shown) == SHOW_KEYS
    assert shown["profile"] == {
        "name": PROFILE.name,
        "email": PROFILE.email,
        "phone": PROFILE.phone,
        "address": PROFILE.address,
        "notes": "",
    }
    assert (
        shown["wallet"] == accounts.customer.address and shown["status"] == "active" and shown["profile_version"] == 1
    )
    assert shown["consent"] == {"sales": False, "support": False, "billing": False, "marketing": False, "audit": False}


def test_customer_show_prints_the_profile_and_the_chain_facts(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    shown = cli("customer", "show", customer_id, "--keystore", accounts.agent.address)

    assert PROFILE.name in shown.stdout and PROFILE.email in shown.stdout
    assert accounts.customer.address in shown.stdout and "active" in shown.stdout


def test_customer_show_by_someone_without_access_is_refused(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    refused = cli("customer", "show", customer_id, "--keystore", accounts.manager.address)

    assert f"{accounts.manager.address} cannot read customer {customer_id}'s profile" in refused.error
    assert PROFILE.name not in refused.stdout + refused.stderr


def test_customer_show_of_an_unknown_customer_is_one_line(cli: Cli, accounts: Accounts) -> None:
    refused = cli("customer", "show", 999, "--keystore", accounts.agent.address)

    assert "CustomerUnknown(customerId=999)" in refused.error


def test_customer_show_with_a_wrong_password_is_one_line(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    refused = cli(
        "customer", "show", customer_id, "--keystore", accounts.customer.address, env={"CHAINCRM_PASSWORD": "nope"}
    )

    assert "wrong password" in refused.error


def test_customer_show_when_the_ipfs_service_is_down_is_one_line(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    refused = cli(
        "--ipfs-api", api_address(free_port()), "customer", "show", customer_id, "--keystore", accounts.customer.address
    )

    assert "is not reachable" in refused.error


def test_customer_show_with_a_customer_id_that_is_not_a_number_is_a_usage_error(cli: Cli) -> None:
    refused = cli("customer", "show", "ada")

    assert "Invalid value for 'CUSTOMER'" in refused.usage_error


# ------------------------------------------------------------------ update


def test_customer_update_changes_only_the_given_fields(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    updated = cli(
        "customer", "update", customer_id, "--phone", "+351 900 000 001", "--keystore", accounts.agent.address, "--json"
    ).json()

    assert set(updated) == REF_KEYS and updated["profile_version"] == 2
    read = CustomerData(crm, store).read(customer_id, accounts.customer)
    assert (read.name, read.phone) == (PROFILE.name, "+351 900 000 001")


def test_customer_update_with_nothing_to_change_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "update", customer_id, "--keystore", accounts.agent.address)

    assert "nothing to update" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 1


def test_customer_update_by_someone_without_access_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "update", customer_id, "--notes", "x", "--keystore", accounts.manager.address)

    assert "cannot read customer" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 1


# ------------------------------------------------------------------ grant and revoke


def test_customer_grant_lets_a_manager_read_the_profile(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    granted = cli(
        "customer",
        "grant",
        customer_id,
        accounts.manager.address,
        "--purpose",
        "support",
        "--keystore",
        accounts.customer.address,
        "--json",
    ).json()

    assert accounts.manager.address in granted["readers"]
    assert crm.registry.access_of(customer_id, accounts.manager.address).purpose is Purpose.SUPPORT
    shown = cli("customer", "show", customer_id, "--keystore", accounts.manager.address, "--json").json()
    assert shown["profile"]["name"] == PROFILE.name


def test_customer_grant_by_a_stranger_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int) -> None:
    refused = cli("customer", "grant", customer_id, accounts.manager.address, "--keystore", accounts.stranger.address)

    assert "cannot read customer" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 1
    assert not crm.registry.access_of(customer_id, accounts.manager.address).active


def test_customer_grant_to_someone_without_a_published_key_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "grant", customer_id, accounts.stranger.address, "--keystore", accounts.customer.address)

    assert "has not published an encryption key" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 1


def test_customer_revoke_stops_a_reader_reading_later_versions(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    cli("customer", "grant", customer_id, accounts.manager.address, "--keystore", accounts.customer.address)

    revoked = cli(
        "customer", "revoke", customer_id, accounts.manager.address, "--keystore", accounts.customer.address, "--json"
    ).json()

    assert accounts.manager.address not in revoked["readers"]
    assert not crm.registry.access_of(customer_id, accounts.manager.address).active
    assert "cannot read" in cli("customer", "show", customer_id, "--keystore", accounts.manager.address).error


def test_customer_revoke_of_someone_without_access_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "revoke", customer_id, accounts.manager.address, "--keystore", accounts.customer.address)

    assert f"{accounts.manager.address} has no access to customer {customer_id}" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 1


# ------------------------------------------------------------------ erase


def test_customer_erase_destroys_the_profile_and_records_a_receipt(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    erased = cli("customer", "erase", customer_id, "--yes", "--keystore", accounts.customer.address, "--json").json()

    assert set(erased) == {"customer_id", "receipt_cid", "receipt_hash", "unpinned", "tx_hash"}
    assert crm.registry.status_of(customer_id) is CustomerStatus.ERASED
    assert not set(erased["unpinned"]) & store.pins()
    shown = cli("customer", "show", customer_id, "--json").json()
    assert shown["status"] == "erased" and shown["profile"] is None


def test_customer_erase_asks_first_and_a_no_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    declined = cli("customer", "erase", customer_id, "--keystore", accounts.customer.address, input="n\n")

    assert declined.exit_code == 130
    assert crm.registry.status_of(customer_id) is CustomerStatus.ACTIVE


def test_customer_erase_by_an_agent_changes_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    pins = store.pins()

    refused = cli("customer", "erase", customer_id, "--yes", "--keystore", accounts.agent.address)

    assert "CallerNotManagerOrCustomer" in refused.error
    assert crm.registry.status_of(customer_id) is CustomerStatus.ACTIVE
    assert store.pins() == pins


# ------------------------------------------------------------------ consent and timeline


def test_customer_consent_is_given_and_withdrawn_by_the_customer(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    given = cli(
        "customer", "consent", customer_id, "--purpose", "marketing", "--keystore", accounts.customer.address, "--json"
    ).json()
    assert given["granted"] is True and crm.registry.has_consent(customer_id, Purpose.MARKETING)

    cli(
        "customer",
        "consent",
        customer_id,
        "--purpose",
        "marketing",
        "--withdraw",
        "--keystore",
        accounts.customer.address,
    )

    assert not crm.registry.has_consent(customer_id, Purpose.MARKETING)


def test_customer_consent_by_staff_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "consent", customer_id, "--purpose", "marketing", "--keystore", accounts.agent.address)

    assert "CallerNotCustomer" in refused.error
    assert not crm.registry.has_consent(customer_id, Purpose.MARKETING)


def test_customer_consent_for_an_unknown_purpose_is_a_usage_error(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "consent", customer_id, "--purpose", "spam", "--keystore", accounts.customer.address)

    assert "Invalid value for '--purpose'" in refused.usage_error


def test_customer_timeline_lists_what_the_chain_recorded_oldest_first(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    entries = cli("customer", "timeline", customer_id, "--json").json()

    assert entries[0]["what"] == "registered" and entries[0]["actor"] == accounts.agent.address
    assert set(entries[0]) == {"at", "block_number", "what", "detail", "actor", "tx_hash"}
