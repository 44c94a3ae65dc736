"""`chaincrm customer add|show|list|update|reseal|grant|revoke|erase|propose-wallet|accept-wallet|
sign-wallet-acceptance|relay|consent|timeline`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaincrm.contracts.client import Crm
from chaincrm.models import CustomerStatus, Purpose
from chaincrm.privacy.customers import CustomerData, public_key64
from chaincrm.services.anvil import free_port
from chaincrm.storage import KuboStore
from chaincrm.storage.node import api_address
from tests.cli.conftest import PROFILE, Accounts, Cli, Run, balance

pytestmark = pytest.mark.usefixtures("snapshot")

SHOW_KEYS = {
    "customer_id",
    "status",
    "wallet",
    "pending_wallet",
    "registered_at",
    "profile_version",
    "stale",
    "readers",
    "versions",
    "grants",
    "consent",
    "profile",
    "profile_problem",
}
REF_KEYS = {"customer_id", "profile_version", "cid", "readers"}
NO_CONSENT = {"marketing": False, "profiling": False, "third-party-sharing": False}


def _add(cli: Cli, accounts: Accounts, *extra: object) -> Run:
    return cli("customer", "add", "--keystore", accounts.agent.address, *extra)


# ------------------------------------------------------------------ add


def test_customer_add_registers_a_customer_readable_by_the_agent_and_the_managers(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts
) -> None:
    added = _add(cli, accounts, "--name", "Brigitte Moreau", "--email", "b.moreau@example.org", "--json").json()

    assert set(added) == REF_KEYS | {"proposed_wallet"}
    assert added["customer_id"] == crm.registry.customer_count() and added["profile_version"] == 1
    assert sorted(added["readers"]) == sorted([accounts.agent.address, accounts.manager.address])
    assert CustomerData(crm, store).read(added["customer_id"], accounts.manager).email == "b.moreau@example.org"


def test_customer_add_with_a_wallet_only_proposes_it(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    added = _add(cli, accounts, "--name", "Brigitte", "--wallet", accounts.customer.address, "--json").json()

    record = crm.registry.customer(added["customer_id"])
    assert (record.wallet, record.pending_wallet) == (None, accounts.customer.address)
    assert added["proposed_wallet"] == accounts.customer.address
    assert accounts.customer.address not in added["readers"]


def test_customer_add_with_a_wallet_says_the_wallet_must_accept(cli: Cli, accounts: Accounts) -> None:
    added = _add(cli, accounts, "--name", "Brigitte", "--wallet", accounts.customer.address)

    assert f"wallet {accounts.customer.address} PROPOSED, not bound" in added.stdout
    assert "customer accept-wallet" in added.stdout


def test_customer_add_with_a_staff_wallet_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    count = crm.registry.customer_count()

    refused = _add(cli, accounts, "--name", "Brigitte", "--wallet", accounts.manager.address)

    assert f"WalletInvalid(customerId={count + 1}, wallet={accounts.manager.address})" in refused.error
    assert crm.registry.customer_count() == count


def test_customer_add_for_a_purpose_that_needs_consent_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    count = crm.registry.customer_count()

    refused = _add(cli, accounts, "--name", "Brigitte", "--purpose", "marketing")

    assert "purpose marketing needs the customer's consent" in refused.error
    assert crm.registry.customer_count() == count


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

    refused = cli("customer", "add", "--name", "Farah", "--keystore", accounts.customer.address)

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
    assert (shown["wallet"], shown["pending_wallet"], shown["status"]) == (accounts.customer.address, None, "active")
    assert (shown["profile_version"], shown["stale"], shown["profile_problem"]) == (2, False, None)
    assert shown["consent"] == NO_CONSENT


def test_customer_show_gives_the_public_record_of_versions_readers_and_grants(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    shown = cli("customer", "show", customer_id, "--json").json()

    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert sorted(shown["readers"]) == sorted(
        [accounts.agent.address, accounts.manager.address, accounts.customer.address]
    )
    assert shown["grants"] == [
        {
            "staff": accounts.agent.address,
            "purpose": "sales",
            "purpose_with_basis": "sales (contract)",
            "active": True,
            "since": shown["grants"][0]["since"],
        }
    ]


def test_customer_show_prints_the_profile_and_the_chain_facts(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    shown = cli("customer", "show", customer_id, "--keystore", accounts.agent.address)

    assert PROFILE.name in shown.stdout and PROFILE.email in shown.stdout
    assert accounts.customer.address in shown.stdout and "active" in shown.stdout and "sales (contract)" in shown.stdout


def test_customer_show_by_someone_without_access_gives_the_public_record_and_says_why_not_the_profile(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    shown = cli("customer", "show", customer_id, "--keystore", accounts.marketer.address, "--json").json()

    assert shown["profile"] is None
    assert shown["profile_problem"].startswith(f"not readable by {accounts.marketer.address}")
    assert shown["wallet"] == accounts.customer.address
    assert PROFILE.name not in json.dumps(shown)


def test_customer_show_without_a_keystore_gives_the_public_record(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    shown = cli("customer", "show", customer_id, "--json").json()

    assert shown["profile"] is None and "pass --keystore" in shown["profile_problem"]
    assert shown["status"] == "active"


def test_customer_show_of_a_customer_whose_wallet_is_proposed_gives_the_pending_wallet(
    cli: Cli, accounts: Accounts, proposed_customer_id: int
) -> None:
    shown = cli("customer", "show", proposed_customer_id, "--keystore", accounts.agent.address, "--json").json()

    assert (shown["wallet"], shown["pending_wallet"]) == (None, accounts.customer.address)
    assert shown["profile"]["name"] == PROFILE.name


def test_customer_show_marks_a_version_sealed_for_other_readers_than_the_chains_as_stale(
    cli: Cli, crm: Crm, accounts: Accounts, proposed_customer_id: int
) -> None:
    crm.registry.accept_wallet(proposed_customer_id, public_key64(accounts.customer), accounts.customer)

    shown = cli("customer", "show", proposed_customer_id)

    assert "stale: run `chaincrm customer reseal" in shown.stdout


def test_customer_show_of_an_unknown_customer_is_one_line(cli: Cli, accounts: Accounts) -> None:
    refused = cli("customer", "show", 999, "--keystore", accounts.agent.address)

    assert "CustomerUnknown(customerId=999)" in refused.error


def test_customer_show_of_a_version_that_does_not_exist_is_one_line(cli: Cli, customer_id: int) -> None:
    refused = cli("customer", "show", customer_id, "--version", 9)

    assert f"customer {customer_id} has profile versions 1 to 2" in refused.error


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


# ------------------------------------------------------------------ list


def test_customer_list_gives_every_public_record(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    second = _add(cli, accounts, "--name", "Jun", "--wallet", accounts.stranger.address, "--json").json()

    listed = cli("customer", "list", "--json").json()

    assert [(r["customer_id"], r["wallet"], r["pending_wallet"]) for r in listed] == [
        (customer_id, accounts.customer.address, None),
        (second["customer_id"], None, accounts.stranger.address),
    ]
    assert "Customers" in cli("customer", "list").stdout


def test_customer_list_stale_gives_only_customers_to_reseal(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    second = _add(cli, accounts, "--name", "Jun", "--json").json()["customer_id"]
    crm.registry.propose_wallet(second, accounts.stranger.address, accounts.manager)
    crm.registry.accept_wallet(second, public_key64(accounts.stranger), accounts.stranger)

    stale = cli("customer", "list", "--stale", "--json").json()

    assert [r["customer_id"] for r in stale] == [second]


# ------------------------------------------------------------------ update and reseal


def test_customer_update_changes_only_the_given_fields(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    updated = cli(
        "customer", "update", customer_id, "--phone", "+351 900 000 001", "--keystore", accounts.agent.address, "--json"
    ).json()

    assert set(updated) == REF_KEYS and updated["profile_version"] == 3
    read = CustomerData(crm, store).read(customer_id, accounts.customer)
    assert (read.name, read.phone) == (PROFILE.name, "+351 900 000 001")


def test_customer_update_with_nothing_to_change_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "update", customer_id, "--keystore", accounts.agent.address)

    assert "nothing to update" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 2


def test_customer_update_by_someone_without_access_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "update", customer_id, "--notes", "x", "--keystore", accounts.marketer.address)

    assert f"{accounts.marketer.address} cannot read customer {customer_id}'s profile" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 2


def test_customer_reseal_by_a_reader_seals_a_stale_profile_for_the_chains_readers(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, proposed_customer_id: int
) -> None:
    crm.registry.accept_wallet(proposed_customer_id, public_key64(accounts.customer), accounts.customer)

    resealed = cli("customer", "reseal", proposed_customer_id, "--keystore", accounts.manager.address, "--json").json()

    assert accounts.customer.address in resealed["readers"] and resealed["profile_version"] == 2
    assert CustomerData(crm, store).read(proposed_customer_id, accounts.customer).name == PROFILE.name


def test_customer_reseal_of_a_profile_that_is_not_stale_sends_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    block = crm.chain.w3.eth.block_number

    resealed = cli("customer", "reseal", customer_id, "--keystore", accounts.agent.address)

    assert resealed.stdout.startswith(f"Customer {customer_id} is not stale")
    assert crm.chain.w3.eth.block_number == block


def test_customer_reseal_by_someone_who_cannot_read_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, proposed_customer_id: int
) -> None:
    crm.registry.accept_wallet(proposed_customer_id, public_key64(accounts.customer), accounts.customer)

    refused = cli("customer", "reseal", proposed_customer_id, "--keystore", accounts.customer.address)

    assert f"{accounts.customer.address} cannot read customer {proposed_customer_id}'s profile" in refused.error
    assert crm.registry.customer(proposed_customer_id).profile_version == 1


def test_customer_reseal_all_stale_reseals_what_the_caller_reads_and_names_the_rest(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, proposed_customer_id: int
) -> None:
    crm.registry.accept_wallet(proposed_customer_id, public_key64(accounts.customer), accounts.customer)
    others = CustomerData(crm, store).add(
        PROFILE, wallet=accounts.stranger.address, purpose=Purpose.SALES, agent=accounts.marketer
    )
    crm.registry.approve_wallet(others.customer_id, accounts.stranger.address, accounts.manager)
    crm.registry.accept_wallet(others.customer_id, public_key64(accounts.stranger), accounts.stranger)

    resealed = cli("customer", "reseal", "--all-stale", "--keystore", accounts.agent.address, "--json").json()

    assert [ref["customer_id"] for ref in resealed["resealed"]] == [proposed_customer_id]
    assert resealed["unreadable"] == [others.customer_id]


def test_customer_reseal_without_a_customer_or_all_stale_is_refused(cli: Cli, accounts: Accounts) -> None:
    refused = cli("customer", "reseal", "--keystore", accounts.agent.address)

    assert "give a CUSTOMER or --all-stale" in refused.error


# ------------------------------------------------------------------ grant and revoke


def _grant(cli: Cli, customer: int, staff: str, granter: str, *extra: object) -> Run:
    return cli("customer", "grant", customer, staff, "--keystore", granter, *extra)


def test_customer_grant_by_a_manager_lets_the_staff_member_read_the_profile(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    granted = _grant(
        cli, customer_id, accounts.marketer.address, accounts.manager.address, "--purpose", "support", "--json"
    ).json()

    assert accounts.marketer.address in granted["readers"]
    assert crm.registry.access_of(customer_id, accounts.marketer.address).purpose is Purpose.SUPPORT
    shown = cli("customer", "show", customer_id, "--keystore", accounts.marketer.address, "--json").json()
    assert shown["profile"]["name"] == PROFILE.name


def test_customer_grant_by_the_customer_lets_the_staff_member_read_the_profile(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    _grant(cli, customer_id, accounts.marketer.address, accounts.customer.address)

    shown = cli("customer", "show", customer_id, "--keystore", accounts.marketer.address, "--json").json()

    assert shown["profile"]["name"] == PROFILE.name


def test_customer_grant_by_a_manager_of_a_customer_without_a_wallet_works(
    cli: Cli, accounts: Accounts, proposed_customer_id: int
) -> None:
    granted = _grant(cli, proposed_customer_id, accounts.marketer.address, accounts.manager.address, "--json").json()

    assert accounts.marketer.address in granted["readers"]


def test_customer_grant_prints_the_purpose_with_its_lawful_basis(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    granted = _grant(cli, customer_id, accounts.marketer.address, accounts.manager.address, "--purpose", "billing")

    assert f"shared with {accounts.marketer.address} for billing (legal-obligation)" in granted.stdout


def test_customer_grant_by_an_agent_who_reads_the_profile_stores_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    pins = store.pins()

    refused = _grant(cli, customer_id, accounts.marketer.address, accounts.agent.address)

    assert f"CallerNotManagerOrCustomer(customerId={customer_id}, caller={accounts.agent.address})" in refused.error
    assert not crm.registry.has_active_grant(customer_id, accounts.marketer.address)
    assert store.pins() == pins


def test_customer_grant_by_a_stranger_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int) -> None:
    refused = _grant(cli, customer_id, accounts.marketer.address, accounts.stranger.address)

    assert "cannot read customer" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 2
    assert not crm.registry.has_active_grant(customer_id, accounts.marketer.address)


def test_customer_grant_to_someone_without_a_published_key_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = _grant(cli, customer_id, accounts.stranger.address, accounts.customer.address)

    assert "has not published an encryption key" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 2


def test_customer_grant_for_marketing_without_consent_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = _grant(cli, customer_id, accounts.marketer.address, accounts.manager.address, "--purpose", "marketing")

    assert f"customer {customer_id} has not consented to marketing" in refused.error
    assert not crm.registry.has_active_grant(customer_id, accounts.marketer.address)


def test_customer_revoke_by_a_manager_stops_the_reader_reading_later_versions(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    _grant(cli, customer_id, accounts.marketer.address, accounts.manager.address)

    revoked = cli(
        "customer", "revoke", customer_id, accounts.marketer.address, "--keystore", accounts.manager.address, "--json"
    ).json()

    assert accounts.marketer.address not in revoked["readers"]
    assert not crm.registry.has_active_grant(customer_id, accounts.marketer.address)
    shown = cli("customer", "show", customer_id, "--keystore", accounts.marketer.address, "--json").json()
    assert shown["profile"] is None


def test_customer_revoke_by_the_customer_stops_the_reader(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    _grant(cli, customer_id, accounts.marketer.address, accounts.manager.address)

    cli("customer", "revoke", customer_id, accounts.marketer.address, "--keystore", accounts.customer.address)

    assert accounts.marketer.address not in crm.registry.readers_of(customer_id)


def test_customer_revoke_of_someone_without_a_grant_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("customer", "revoke", customer_id, accounts.marketer.address, "--keystore", accounts.manager.address)

    assert f"{accounts.marketer.address} holds no active grant on customer {customer_id}" in refused.error
    assert crm.registry.customer(customer_id).profile_version == 2


def test_customer_revoke_by_an_agent_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int) -> None:
    _grant(cli, customer_id, accounts.marketer.address, accounts.manager.address)

    refused = cli("customer", "revoke", customer_id, accounts.marketer.address, "--keystore", accounts.agent.address)

    assert "CallerNotManagerOrCustomer" in refused.error
    assert crm.registry.has_active_grant(customer_id, accounts.marketer.address)


# ------------------------------------------------------------------ erase


def test_customer_erase_by_the_customer_destroys_the_profile_and_records_a_receipt(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    erased = cli("customer", "erase", customer_id, "--yes", "--keystore", accounts.customer.address, "--json").json()

    assert set(erased) == {"customer_id", "receipt_cid", "receipt_hash", "unpinned", "unreadable_batches", "tx_hash"}
    assert crm.registry.status_of(customer_id) is CustomerStatus.ERASED
    assert not set(erased["unpinned"]) & store.pins()
    shown = cli("customer", "show", customer_id, "--json").json()
    assert shown["status"] == "erased" and shown["profile"] is None and shown["wallet"] is None


def test_customer_erase_by_a_manager_erases(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int) -> None:
    cli("customer", "erase", customer_id, "--yes", "--keystore", accounts.manager.address)

    assert crm.registry.status_of(customer_id) is CustomerStatus.ERASED


def test_customer_erase_asks_first_and_a_no_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    declined = cli("customer", "erase", customer_id, "--keystore", accounts.customer.address, input="n\n")

    assert declined.exit_code == 1
    assert declined.stderr.strip().splitlines()[-1] == "aborted: nothing was erased"
    assert crm.registry.status_of(customer_id) is CustomerStatus.ACTIVE


def test_customer_erase_by_an_agent_changes_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    pins = store.pins()

    refused = cli("customer", "erase", customer_id, "--yes", "--keystore", accounts.agent.address)

    assert "CallerNotManagerOrCustomer" in refused.error
    assert crm.registry.status_of(customer_id) is CustomerStatus.ACTIVE
    assert store.pins() == pins


# ------------------------------------------------------------------ the forged-consent attack


@pytest.fixture
def forged(cli: Cli, accounts: Accounts) -> int:
    """A customer the agent registered proposing a second wallet of his own (the stranger's)."""
    return _add(cli, accounts, "--name", "Lena", "--wallet", accounts.stranger.address, "--json").json()["customer_id"]


def test_a_wallet_an_agent_proposed_cannot_give_consent(cli: Cli, crm: Crm, accounts: Accounts, forged: int) -> None:
    refused = cli("customer", "consent", forged, "--purpose", "marketing", "--keystore", accounts.stranger.address)

    assert refused.error == f"error: CallerNotCustomer(customerId={forged}, caller={accounts.stranger.address})"
    assert not crm.registry.has_consent(forged, Purpose.MARKETING)


def test_a_wallet_an_agent_proposed_cannot_sign_a_consent_for_relaying(
    cli: Cli, accounts: Accounts, forged: int
) -> None:
    refused = cli(
        "customer", "consent", forged, "--purpose", "marketing", "--sign-only", "--keystore", accounts.stranger.address
    )

    assert f"{accounts.stranger.address} is not customer {forged}'s wallet" in refused.error


def test_a_wallet_an_agent_proposed_cannot_erase_the_customer(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, forged: int
) -> None:
    pins = store.pins()

    refused = cli("customer", "erase", forged, "--yes", "--keystore", accounts.stranger.address)

    assert f"CallerNotManagerOrCustomer(customerId={forged}, caller={accounts.stranger.address})" in refused.error
    assert crm.registry.status_of(forged) is CustomerStatus.ACTIVE and store.pins() == pins


def test_a_wallet_an_agent_proposed_cannot_grant_access(cli: Cli, crm: Crm, accounts: Accounts, forged: int) -> None:
    refused = _grant(cli, forged, accounts.marketer.address, accounts.stranger.address)

    assert f"{accounts.stranger.address} cannot read customer {forged}'s profile" in refused.error
    assert not crm.registry.has_active_grant(forged, accounts.marketer.address)


def test_a_wallet_an_agent_proposed_cannot_read_the_profile(cli: Cli, accounts: Accounts, forged: int) -> None:
    shown = cli("customer", "show", forged, "--keystore", accounts.stranger.address, "--json").json()

    assert shown["profile"] is None and shown["pending_wallet"] == accounts.stranger.address


# ------------------------------------------------------------------ wallet binding


def test_customer_propose_wallet_by_a_manager_leaves_it_pending(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    proposed = cli(
        "customer", "propose-wallet", customer_id, accounts.stranger.address, "--keystore", accounts.manager.address
    )

    assert "not bound until it accepts" in proposed.stdout
    record = crm.registry.customer(customer_id)
    assert (record.wallet, record.pending_wallet) == (accounts.customer.address, accounts.stranger.address)


def test_customer_propose_wallet_by_an_agent_once_a_wallet_is_bound_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli(
        "customer", "propose-wallet", customer_id, accounts.stranger.address, "--keystore", accounts.agent.address
    )

    assert refused.error == f"error: CallerWithoutAccess(customerId={customer_id}, caller={accounts.agent.address})"
    assert crm.registry.customer(customer_id).pending_wallet is None


def test_customer_propose_wallet_withdraw_drops_the_proposal(
    cli: Cli, crm: Crm, accounts: Accounts, proposed_customer_id: int
) -> None:
    cli("customer", "propose-wallet", proposed_customer_id, "--withdraw", "--keystore", accounts.agent.address)

    assert crm.registry.customer(proposed_customer_id).pending_wallet is None


def test_customer_propose_wallet_with_an_address_and_withdraw_is_refused(
    cli: Cli, accounts: Accounts, proposed_customer_id: int
) -> None:
    refused = cli(
        "customer",
        "propose-wallet",
        proposed_customer_id,
        accounts.stranger.address,
        "--withdraw",
        "--keystore",
        accounts.agent.address,
    )

    assert "give the wallet's ADDRESS, or --withdraw" in refused.error


def test_customer_accept_wallet_by_the_wallet_binds_it_and_asks_a_reader_to_reseal(
    cli: Cli, crm: Crm, accounts: Accounts, proposed_customer_id: int
) -> None:
    accepted = cli(
        "customer", "accept-wallet", proposed_customer_id, "--keystore", accounts.customer.address, "--json"
    ).json()

    assert (accepted["wallet"], accepted["stale"], accepted["resealed"]) == (accounts.customer.address, True, None)
    assert crm.registry.customer(proposed_customer_id).wallet == accounts.customer.address


def test_customer_accept_wallet_by_another_account_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, proposed_customer_id: int
) -> None:
    refused = cli("customer", "accept-wallet", proposed_customer_id, "--keystore", accounts.stranger.address)

    assert (
        refused.error
        == f"error: WalletNotProposed(customerId={proposed_customer_id}, wallet={accounts.stranger.address})"
    )
    assert crm.registry.customer(proposed_customer_id).wallet is None


@pytest.fixture
def penniless(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int) -> str:
    """A new wallet with 0 ETH (its keystore made with `key new`), proposed by the customer's bound wallet
    as its successor."""
    address = cli("key", "new", "--scrypt-n", 16, "--json").json()["address"]
    crm.registry.propose_wallet(customer_id, address, accounts.customer)
    assert balance(crm, address) == 0
    return address


def test_a_wallet_with_no_ether_binds_itself_by_a_signed_acceptance_staff_relay(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, penniless: str, tmp_path: Path
) -> None:
    signed = tmp_path / "acceptance.json"
    cli("customer", "sign-wallet-acceptance", customer_id, "--out", signed, "--keystore", penniless)

    relayed = cli("customer", "relay", customer_id, signed, "--keystore", accounts.agent.address, "--json").json()

    assert crm.registry.customer(customer_id).wallet == penniless and balance(crm, penniless) == 0
    assert relayed["type"] == "AcceptWallet" and penniless in relayed["resealed"]["readers"]
    shown = cli("customer", "show", customer_id, "--keystore", penniless, "--json").json()
    assert shown["profile"]["name"] == PROFILE.name


def test_customer_accept_wallet_with_a_signature_relays_it(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, penniless: str, tmp_path: Path
) -> None:
    signed = tmp_path / "acceptance.json"
    cli("customer", "sign-wallet-acceptance", customer_id, "--out", signed, "--keystore", penniless)

    cli("customer", "accept-wallet", customer_id, "--signature", signed, "--keystore", accounts.manager.address)

    assert crm.registry.customer(customer_id).wallet == penniless


def test_customer_sign_wallet_acceptance_prints_the_signed_message(
    cli: Cli, crm: Crm, customer_id: int, penniless: str
) -> None:
    signed = json.loads(cli("customer", "sign-wallet-acceptance", customer_id, "--keystore", penniless).stdout)

    assert (signed["type"], signed["customer_id"], signed["wallet"]) == ("AcceptWallet", customer_id, penniless)
    assert signed["registry"] == crm.registry.address and signed["nonce"] == crm.registry.nonce_of(customer_id)


def test_customer_sign_wallet_acceptance_by_a_wallet_not_proposed_is_refused(
    cli: Cli, accounts: Accounts, customer_id: int, penniless: str
) -> None:
    refused = cli("customer", "sign-wallet-acceptance", customer_id, "--keystore", accounts.stranger.address)

    assert f"{accounts.stranger.address} is not the wallet proposed for customer {customer_id}" in refused.error


def test_customer_relay_of_a_message_for_another_customer_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, penniless: str, tmp_path: Path
) -> None:
    signed = tmp_path / "acceptance.json"
    cli("customer", "sign-wallet-acceptance", customer_id, "--out", signed, "--keystore", penniless)

    refused = cli("customer", "relay", customer_id + 1, signed, "--keystore", accounts.agent.address)

    assert f"is signed for customer {customer_id}, not {customer_id + 1}" in refused.error
    assert crm.registry.customer(customer_id).wallet == accounts.customer.address


def test_customer_relay_of_a_tampered_acceptance_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, penniless: str, tmp_path: Path
) -> None:
    signed = tmp_path / "acceptance.json"
    cli("customer", "sign-wallet-acceptance", customer_id, "--out", signed, "--keystore", penniless)
    message = json.loads(signed.read_text())
    signed.write_text(json.dumps(message | {"deadline": message["deadline"] + 1}))

    refused = cli("customer", "relay", customer_id, signed, "--keystore", accounts.agent.address)

    assert "SignatureInvalid" in refused.error
    assert crm.registry.customer(customer_id).wallet == accounts.customer.address


def test_customer_relay_of_an_acceptance_a_second_time_is_refused(
    cli: Cli, accounts: Accounts, customer_id: int, penniless: str, tmp_path: Path
) -> None:
    signed = tmp_path / "acceptance.json"
    cli("customer", "sign-wallet-acceptance", customer_id, "--out", signed, "--keystore", penniless)
    cli("customer", "relay", customer_id, signed, "--keystore", accounts.agent.address)

    refused = cli("customer", "relay", customer_id, signed, "--keystore", accounts.agent.address)

    assert "WalletNotProposed" in refused.error or "SignatureInvalid" in refused.error


def test_customer_relay_of_a_file_that_is_not_a_signed_message_is_one_line(
    cli: Cli, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')

    refused = cli("customer", "relay", customer_id, junk, "--keystore", accounts.agent.address)

    assert "is not an AcceptWallet, SetConsent or RevokeAccess message" in refused.error


# ------------------------------------------------------------------ consent


def _consent(cli: Cli, customer: int, purpose: str, keystore: str, *extra: object) -> Run:
    return cli("customer", "consent", customer, "--purpose", purpose, "--keystore", keystore, *extra)


def test_customer_consent_is_given_and_withdrawn_by_the_customer(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    given = _consent(cli, customer_id, "marketing", accounts.customer.address, "--json").json()
    assert (given["granted"], given["basis"]) == (True, "consent")
    assert crm.registry.has_consent(customer_id, Purpose.MARKETING)

    _consent(cli, customer_id, "marketing", accounts.customer.address, "--withdraw")

    assert not crm.registry.has_consent(customer_id, Purpose.MARKETING)


def test_customer_consent_prints_the_purpose_with_its_lawful_basis(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    given = _consent(cli, customer_id, "third-party-sharing", accounts.customer.address)

    assert f"Customer {customer_id} gave consent for third-party-sharing (consent)" in given.stdout


@pytest.mark.parametrize(
    "purpose, basis", [("sales", "contract"), ("support", "contract"), ("billing", "legal obligation")]
)
def test_customer_consent_for_a_purpose_that_rests_on_another_basis_is_one_line(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, purpose: str, basis: str
) -> None:
    nonce = crm.registry.nonce_of(customer_id)

    refused = _consent(cli, customer_id, purpose, accounts.customer.address)

    assert f"purpose {purpose} rests on {basis}, not consent" in refused.error
    assert crm.registry.nonce_of(customer_id) == nonce


def test_customer_consent_by_staff_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = _consent(cli, customer_id, "marketing", accounts.agent.address)

    assert "CallerNotCustomer" in refused.error
    assert not crm.registry.has_consent(customer_id, Purpose.MARKETING)


def test_customer_consent_for_an_unknown_purpose_is_a_usage_error(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    refused = _consent(cli, customer_id, "spam", accounts.customer.address)

    assert "Invalid value for '--purpose'" in refused.usage_error


def test_withdrawing_consent_reseals_the_profile_without_the_marketing_reader(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    data = CustomerData(crm, store)
    crm.registry.set_consent(customer_id, Purpose.MARKETING, True, accounts.customer)
    data.grant(customer_id, accounts.marketer.address, Purpose.MARKETING, accounts.manager)

    withdrawn = _consent(cli, customer_id, "marketing", accounts.customer.address, "--withdraw", "--json").json()

    assert withdrawn["resealed"] is not None and accounts.marketer.address not in withdrawn["resealed"]["readers"]
    assert not crm.registry.has_active_grant(customer_id, accounts.marketer.address)
    assert not data.is_stale(customer_id)
    shown = cli("customer", "show", customer_id, "--keystore", accounts.marketer.address, "--json").json()
    assert shown["profile"] is None


def test_a_signed_consent_change_relayed_by_staff_costs_the_customer_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    signed = tmp_path / "consent.json"
    _consent(cli, customer_id, "profiling", accounts.customer.address, "--sign-only", "--out", signed)
    before = balance(crm, accounts.customer.address)

    relayed = cli("customer", "relay", customer_id, signed, "--keystore", accounts.agent.address, "--json").json()

    assert (relayed["type"], relayed["purpose"], relayed["granted"]) == ("SetConsent", "profiling", True)
    assert crm.registry.has_consent(customer_id, Purpose.PROFILING)
    assert balance(crm, accounts.customer.address) == before


def test_a_relayed_consent_withdrawal_by_the_agent_whose_grant_it_ends_still_records_it(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    data = CustomerData(crm, store)
    crm.registry.set_consent(customer_id, Purpose.MARKETING, True, accounts.customer)
    data.grant(customer_id, accounts.marketer.address, Purpose.MARKETING, accounts.manager)
    signed = tmp_path / "consent.json"
    _consent(cli, customer_id, "marketing", accounts.customer.address, "--withdraw", "--sign-only", "--out", signed)

    relayed = cli("customer", "relay", customer_id, signed, "--keystore", accounts.marketer.address, "--json").json()

    assert not crm.registry.has_consent(customer_id, Purpose.MARKETING)
    assert (relayed["resealed"], relayed["stale"]) == (None, True)


def test_a_signed_revocation_relayed_by_a_manager_ends_the_grant_and_reseals_without_the_staff_member(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    CustomerData(crm, store).grant(customer_id, accounts.marketer.address, Purpose.SUPPORT, accounts.manager)
    signed = tmp_path / "revoke.json"
    cli(
        "customer",
        "revoke",
        customer_id,
        accounts.marketer.address,
        "--sign-only",
        "--out",
        signed,
        "--keystore",
        accounts.customer.address,
    )
    before = balance(crm, accounts.customer.address)

    relayed = cli("customer", "relay", customer_id, signed, "--keystore", accounts.manager.address, "--json").json()

    assert (relayed["type"], relayed["staff"], relayed["stale"]) == ("RevokeAccess", accounts.marketer.address, False)
    assert accounts.marketer.address not in relayed["resealed"]["readers"]
    assert not crm.registry.has_active_grant(customer_id, accounts.marketer.address)
    assert balance(crm, accounts.customer.address) == before


def test_a_revocation_signed_by_another_wallet_is_refused_before_anything_is_signed(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    CustomerData(crm, store).grant(customer_id, accounts.marketer.address, Purpose.SUPPORT, accounts.manager)
    out = tmp_path / "revoke.json"

    refused = cli(
        "customer",
        "revoke",
        customer_id,
        accounts.marketer.address,
        "--sign-only",
        "--out",
        out,
        "--keystore",
        accounts.stranger.address,
    )

    assert refused.error == f"error: {accounts.stranger.address} is not customer {customer_id}'s wallet"
    assert not out.exists()
    assert crm.registry.has_active_grant(customer_id, accounts.marketer.address)


def test_customer_revoke_out_without_sign_only_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    refused = cli(
        "customer",
        "revoke",
        customer_id,
        accounts.agent.address,
        "--out",
        tmp_path / "x.json",
        "--keystore",
        accounts.customer.address,
    )

    assert "--out goes with --sign-only" in refused.error
    assert crm.registry.has_active_grant(customer_id, accounts.agent.address)


def test_customer_consent_out_without_sign_only_is_refused(
    cli: Cli, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    refused = _consent(cli, customer_id, "marketing", accounts.customer.address, "--out", tmp_path / "x.json")

    assert "--out goes with --sign-only" in refused.error
    assert not (tmp_path / "x.json").exists()


def test_customer_timeline_lists_what_the_chain_recorded_oldest_first(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    entries = cli("customer", "timeline", customer_id, "--json").json()

    assert entries[0]["what"] == "registered" and entries[0]["actor"] == accounts.agent.address
    assert set(entries[0]) == {
        "at",
        "block_number",
        "what",
        "detail",
        "actor",
        "tx_hash",
        "values",
        "source",
        "as_of_block",
    }
    profile = next(entry for entry in entries if entry["values"].get("readers_hash"))
    assert len(profile["values"]["readers_hash"]) == 66  # full precision in --json
