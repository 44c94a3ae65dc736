"""CrmRegistry as a customer registry: registration, profiles, wallets, access, consent, erasure."""

from __future__ import annotations

import pytest
from brownie import chain, web3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.helpers import (
    PURPOSE_SALES,
    PURPOSE_SUPPORT,
    ZERO_ADDRESS,
    ZERO_HASH,
    new_public_key,
    random_hash,
    reverts_with,
)

# CustomerStatus, as the contract's enum numbers it.
NONE, ACTIVE, ERASED = range(3)
HIGHEST_PURPOSE = 255
SECONDS_BETWEEN_GRANT_AND_REVOCATION = 3600
# The erased bitmap packs 256 customers per word: ids 255 and 256 sit in different words.
CUSTOMERS_PER_WORD = 256


@pytest.fixture(scope="module")
def staff_keys(registry, agent, agent2, manager, auditor) -> None:
    """Every staff member has published an encryption key, so each can be granted access."""
    for member in (agent, agent2, manager, auditor):
        registry.registerEncryptionKey(new_public_key(), {"from": member})


@pytest.fixture(scope="module")
def customer_without_wallet(register) -> int:
    return register()


@pytest.fixture(scope="module")
def writes(registry, agent, manager, customer, auditor, staff_keys):
    """Every write on a customer, each made by a caller it would otherwise accept."""
    return {
        "updateProfile": lambda cid: registry.updateProfile(cid, random_hash(), random_hash(), {"from": customer}),
        "setCustomerWallet": lambda cid: registry.setCustomerWallet(cid, customer, {"from": manager}),
        "grantAccess": lambda cid: registry.grantAccess(cid, auditor, PURPOSE_SUPPORT, {"from": manager}),
        "revokeAccess": lambda cid: registry.revokeAccess(cid, agent, {"from": manager}),
        "setConsent": lambda cid: registry.setConsent(cid, PURPOSE_SALES, True, {"from": customer}),
        "eraseCustomer": lambda cid: registry.eraseCustomer(cid, random_hash(), {"from": manager}),
    }


WRITE_NAMES = (
    "updateProfile",
    "setCustomerWallet",
    "grantAccess",
    "revokeAccess",
    "setConsent",
    "eraseCustomer",
)


def unknown_id(registry, which: str) -> int:
    return 0 if which == "zero" else registry.customerCount() + 1


# ---------------------------------------------------------------- registerCustomer


def test_registering_customers_hands_out_sequential_ids(registry, agent, customer):
    before = registry.customerCount()

    first = registry.registerCustomer(random_hash(), random_hash(), customer, PURPOSE_SALES, {"from": agent})
    second = registry.registerCustomer(random_hash(), random_hash(), customer, PURPOSE_SALES, {"from": agent})

    assert (first.return_value, second.return_value) == (before + 1, before + 2)
    assert registry.customerCount() == before + 2


def test_registering_a_customer_stores_its_record(registry, agent, customer):
    tx = registry.registerCustomer(random_hash(), random_hash(), customer, PURPOSE_SALES, {"from": agent})

    record = registry.customerOf(tx.return_value).dict()
    assert record == {
        "wallet": customer.address,
        "profileVersion": 1,
        "registeredAt": tx.timestamp,
        "status": ACTIVE,
    }
    assert registry.statusOf(tx.return_value) == ACTIVE
    assert registry.walletOf(tx.return_value) == customer


def test_registering_a_customer_stores_the_first_profile_version(registry, agent, customer):
    content_hash, cid_digest = random_hash(), random_hash()

    tx = registry.registerCustomer(content_hash, cid_digest, customer, PURPOSE_SALES, {"from": agent})

    profile = registry.profileOf(tx.return_value, 1)
    assert bytes(profile["contentHash"]) == content_hash
    assert bytes(profile["cidDigest"]) == cid_digest


def test_registering_a_customer_grants_the_registrar_access_for_the_purpose(registry, agent, customer):
    tx = registry.registerCustomer(random_hash(), random_hash(), customer, PURPOSE_SUPPORT, {"from": agent})

    grant = registry.accessOf(tx.return_value, agent)
    assert tuple(grant) == (PURPOSE_SUPPORT, True, tx.timestamp)


def test_registering_a_customer_emits_registered_profile_updated_and_access_granted_in_order(registry, agent, customer):
    tx = registry.registerCustomer(random_hash(), random_hash(), customer, PURPOSE_SALES, {"from": agent})

    assert [event.name for event in tx.events] == ["CustomerRegistered", "ProfileUpdated", "AccessGranted"]


def test_registering_a_customer_emits_customer_registered(registry, agent, customer):
    tx = registry.registerCustomer(random_hash(), random_hash(), customer, PURPOSE_SALES, {"from": agent})

    event = tx.events["CustomerRegistered"]
    assert event["customerId"] == tx.return_value
    assert event["registrar"] == agent
    assert event["wallet"] == customer
    assert event["at"] == tx.timestamp == chain[tx.block_number].timestamp


def test_registering_a_customer_emits_the_first_profile_updated(registry, agent, customer):
    content_hash, cid_digest = random_hash(), random_hash()

    tx = registry.registerCustomer(content_hash, cid_digest, customer, PURPOSE_SALES, {"from": agent})

    event = tx.events["ProfileUpdated"]
    assert event["customerId"] == tx.return_value
    assert event["version"] == 1
    assert event["actor"] == agent
    assert bytes(event["contentHash"]) == content_hash
    assert bytes(event["cidDigest"]) == cid_digest


def test_registering_a_customer_emits_access_granted_to_the_registrar(registry, agent, customer):
    tx = registry.registerCustomer(random_hash(), random_hash(), customer, PURPOSE_SUPPORT, {"from": agent})

    event = tx.events["AccessGranted"]
    assert event["customerId"] == tx.return_value
    assert event["staff"] == agent
    assert event["purpose"] == PURPOSE_SUPPORT
    assert event["actor"] == agent


def test_a_customer_may_be_registered_without_a_wallet(registry, agent):
    tx = registry.registerCustomer(random_hash(), random_hash(), ZERO_ADDRESS, PURPOSE_SALES, {"from": agent})

    assert registry.walletOf(tx.return_value) == ZERO_ADDRESS
    assert tx.events["CustomerRegistered"]["wallet"] == ZERO_ADDRESS
    assert registry.statusOf(tx.return_value) == ACTIVE


def test_registering_a_customer_with_an_empty_content_hash_reverts(registry, agent, customer):
    with reverts_with("ProfileHashMissing"):
        registry.registerCustomer(ZERO_HASH, random_hash(), customer, PURPOSE_SALES, {"from": agent})


def test_registering_a_customer_with_an_empty_cid_digest_reverts(registry, agent, customer):
    with reverts_with("ProfileHashMissing"):
        registry.registerCustomer(random_hash(), ZERO_HASH, customer, PURPOSE_SALES, {"from": agent})


def test_registering_a_customer_with_purpose_zero_reverts(registry, agent, customer):
    with reverts_with("PurposeInvalid", 0):
        registry.registerCustomer(random_hash(), random_hash(), customer, 0, {"from": agent})


@pytest.mark.parametrize("caller", ["admin", "manager", "auditor", "customer", "stranger"])
def test_registering_a_customer_is_refused_for_anyone_without_the_agent_role(registry, request, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
        registry.registerCustomer(random_hash(), random_hash(), account, PURPOSE_SALES, {"from": account})


# ---------------------------------------------------------------- updateProfile


def test_the_registrar_updates_the_profile_to_version_two(registry, agent, customer_id):
    content_hash, cid_digest = random_hash(), random_hash()

    tx = registry.updateProfile(customer_id, content_hash, cid_digest, {"from": agent})

    assert tx.return_value == 2
    assert registry.customerOf(customer_id)["profileVersion"] == 2
    profile = registry.profileOf(customer_id, 2)
    assert (bytes(profile["contentHash"]), bytes(profile["cidDigest"])) == (content_hash, cid_digest)


def test_updating_a_profile_emits_profile_updated(registry, agent, customer_id):
    content_hash, cid_digest = random_hash(), random_hash()

    tx = registry.updateProfile(customer_id, content_hash, cid_digest, {"from": agent})

    event = tx.events["ProfileUpdated"]
    assert event["customerId"] == customer_id
    assert event["version"] == 2
    assert event["actor"] == agent
    assert bytes(event["contentHash"]) == content_hash
    assert bytes(event["cidDigest"]) == cid_digest


def test_the_customer_wallet_updates_its_own_profile(registry, customer, customer_id):
    tx = registry.updateProfile(customer_id, random_hash(), random_hash(), {"from": customer})

    assert tx.return_value == 2
    assert tx.events["ProfileUpdated"]["actor"] == customer


@pytest.mark.parametrize("writer", ["agent2", "manager"])
def test_an_agent_or_manager_granted_access_later_updates_the_profile(
    registry, request, writer, manager, customer_id, staff_keys
):
    account = request.getfixturevalue(writer)
    registry.grantAccess(customer_id, account, PURPOSE_SUPPORT, {"from": manager})

    tx = registry.updateProfile(customer_id, random_hash(), random_hash(), {"from": account})

    assert tx.events["ProfileUpdated"]["actor"] == account


def test_an_auditor_granted_access_may_not_update_the_profile(registry, manager, auditor, customer_id, staff_keys):
    registry.grantAccess(customer_id, auditor, PURPOSE_SUPPORT, {"from": manager})

    with reverts_with("CallerWithoutAccess", customer_id, auditor):
        registry.updateProfile(customer_id, random_hash(), random_hash(), {"from": auditor})


def test_a_former_agent_may_not_update_the_profile_through_a_grant_that_outlived_its_role(
    registry, admin, agent, customer_id
):
    registry.revokeRole(registry.AGENT_ROLE(), agent, {"from": admin})

    with reverts_with("CallerWithoutAccess", customer_id, agent):
        registry.updateProfile(customer_id, random_hash(), random_hash(), {"from": agent})


def test_profile_versions_increment_and_every_version_stays_readable(registry, agent, customer, customer_id):
    first = registry.profileOf(customer_id, 1)
    versions = {1: (bytes(first["contentHash"]), bytes(first["cidDigest"]))}

    for updater in (agent, customer, agent):
        hashes = (random_hash(), random_hash())
        tx = registry.updateProfile(customer_id, *hashes, {"from": updater})
        versions[tx.return_value] = hashes

    assert sorted(versions) == [1, 2, 3, 4]
    assert registry.customerOf(customer_id)["profileVersion"] == 4
    for version, hashes in versions.items():
        profile = registry.profileOf(customer_id, version)
        assert (bytes(profile["contentHash"]), bytes(profile["cidDigest"])) == hashes


def test_a_profile_version_never_recorded_reads_as_zero_hashes(registry, customer_id):
    profile = registry.profileOf(customer_id, 2)

    assert (bytes(profile["contentHash"]), bytes(profile["cidDigest"])) == (ZERO_HASH, ZERO_HASH)


@pytest.mark.parametrize("caller", ["agent2", "manager", "auditor", "customer2", "stranger"])
def test_updating_a_profile_is_refused_for_anyone_without_access_or_the_wallet(registry, request, caller, customer_id):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerWithoutAccess", customer_id, account):
        registry.updateProfile(customer_id, random_hash(), random_hash(), {"from": account})


def test_updating_a_profile_is_refused_after_access_was_revoked(registry, manager, agent, customer_id):
    registry.revokeAccess(customer_id, agent, {"from": manager})

    with reverts_with("CallerWithoutAccess", customer_id, agent):
        registry.updateProfile(customer_id, random_hash(), random_hash(), {"from": agent})


def test_updating_a_profile_with_an_empty_content_hash_reverts(registry, agent, customer_id):
    with reverts_with("ProfileHashMissing"):
        registry.updateProfile(customer_id, ZERO_HASH, random_hash(), {"from": agent})


def test_updating_a_profile_with_an_empty_cid_digest_reverts(registry, agent, customer_id):
    with reverts_with("ProfileHashMissing"):
        registry.updateProfile(customer_id, random_hash(), ZERO_HASH, {"from": agent})


# ---------------------------------------------------------------- setCustomerWallet


def test_a_manager_sets_the_customer_wallet(registry, manager, customer, customer2, customer_id):
    tx = registry.setCustomerWallet(customer_id, customer2, {"from": manager})

    assert registry.walletOf(customer_id) == customer2
    assert registry.customerOf(customer_id)["wallet"] == customer2
    event = tx.events["CustomerWalletChanged"]
    assert event["customerId"] == customer_id
    assert event["previousWallet"] == customer
    assert event["newWallet"] == customer2
    assert event["actor"] == manager


def test_a_manager_gives_a_wallet_to_a_customer_registered_without_one(
    registry, manager, customer2, customer_without_wallet
):
    tx = registry.setCustomerWallet(customer_without_wallet, customer2, {"from": manager})

    assert registry.walletOf(customer_without_wallet) == customer2
    assert tx.events["CustomerWalletChanged"]["previousWallet"] == ZERO_ADDRESS


def test_the_current_wallet_moves_the_customer_to_a_new_wallet(registry, customer, customer2, customer_id):
    tx = registry.setCustomerWallet(customer_id, customer2, {"from": customer})

    assert registry.walletOf(customer_id) == customer2
    event = tx.events["CustomerWalletChanged"]
    assert (event["previousWallet"], event["newWallet"], event["actor"]) == (customer, customer2, customer)


def test_the_previous_wallet_loses_control_after_a_wallet_change(registry, customer, customer2, customer_id):
    registry.setCustomerWallet(customer_id, customer2, {"from": customer})

    with reverts_with("CallerNotManagerOrCustomer", customer_id, customer):
        registry.setCustomerWallet(customer_id, customer, {"from": customer})


@pytest.mark.parametrize("caller", ["agent", "auditor", "admin", "customer2", "stranger"])
def test_setting_the_wallet_is_refused_for_anyone_but_a_manager_or_the_wallet(registry, request, caller, customer_id):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotManagerOrCustomer", customer_id, account):
        registry.setCustomerWallet(customer_id, account, {"from": account})


# ---------------------------------------------------------------- grantAccess


def test_a_manager_grants_access_to_staff_with_a_key(registry, manager, auditor, customer_id, staff_keys):
    tx = registry.grantAccess(customer_id, auditor, PURPOSE_SUPPORT, {"from": manager})

    assert tuple(registry.accessOf(customer_id, auditor)) == (PURPOSE_SUPPORT, True, tx.timestamp)
    event = tx.events["AccessGranted"]
    assert event["customerId"] == customer_id
    assert event["staff"] == auditor
    assert event["purpose"] == PURPOSE_SUPPORT
    assert event["actor"] == manager


def test_the_customer_grants_access_to_staff_with_a_key(registry, customer, agent2, customer_id, staff_keys):
    tx = registry.grantAccess(customer_id, agent2, PURPOSE_SALES, {"from": customer})

    assert tuple(registry.accessOf(customer_id, agent2)) == (PURPOSE_SALES, True, tx.timestamp)
    assert tx.events["AccessGranted"]["actor"] == customer


def test_access_revoked_earlier_may_be_granted_again_for_another_purpose(
    registry, manager, agent, customer_id, staff_keys
):
    registry.revokeAccess(customer_id, agent, {"from": manager})

    tx = registry.grantAccess(customer_id, agent, PURPOSE_SUPPORT, {"from": manager})

    assert tuple(registry.accessOf(customer_id, agent)) == (PURPOSE_SUPPORT, True, tx.timestamp)


@pytest.mark.parametrize("caller", ["agent", "agent2", "auditor", "admin", "customer2", "stranger"])
def test_granting_access_is_refused_for_anyone_but_a_manager_or_the_customer(
    registry, request, caller, auditor, customer_id, staff_keys
):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotManagerOrCustomer", customer_id, account):
        registry.grantAccess(customer_id, auditor, PURPOSE_SUPPORT, {"from": account})


def test_granting_access_for_purpose_zero_reverts(registry, manager, auditor, customer_id, staff_keys):
    with reverts_with("PurposeInvalid", 0):
        registry.grantAccess(customer_id, auditor, 0, {"from": manager})


@pytest.mark.parametrize("grantee", ["admin", "customer2", "stranger"])
def test_granting_access_to_an_account_that_is_not_staff_reverts(registry, request, grantee, manager, customer_id):
    account = request.getfixturevalue(grantee)
    registry.registerEncryptionKey(new_public_key(), {"from": account})

    with reverts_with("GranteeNotStaff", account):
        registry.grantAccess(customer_id, account, PURPOSE_SUPPORT, {"from": manager})


def test_granting_access_to_staff_without_an_encryption_key_reverts(registry, admin, manager, stranger, customer_id):
    # A newly appointed auditor: the module's staff may already have published keys.
    registry.grantRole(registry.AUDITOR_ROLE(), stranger, {"from": admin})

    with reverts_with("GranteeWithoutEncryptionKey", stranger):
        registry.grantAccess(customer_id, stranger, PURPOSE_SUPPORT, {"from": manager})


def test_granting_access_already_granted_reverts(registry, manager, agent, customer_id, staff_keys):
    with reverts_with("AccessAlreadyGranted", customer_id, agent):
        registry.grantAccess(customer_id, agent, PURPOSE_SUPPORT, {"from": manager})


# ---------------------------------------------------------------- revokeAccess


def test_a_manager_revokes_access_and_the_grant_becomes_inactive(registry, manager, agent, customer_id):
    chain.sleep(SECONDS_BETWEEN_GRANT_AND_REVOCATION)  # so `since` visibly moves to the revocation

    tx = registry.revokeAccess(customer_id, agent, {"from": manager})

    assert tuple(registry.accessOf(customer_id, agent)) == (PURPOSE_SALES, False, tx.timestamp)
    event = tx.events["AccessRevoked"]
    assert event["customerId"] == customer_id
    assert event["staff"] == agent
    assert event["purpose"] == PURPOSE_SALES
    assert event["actor"] == manager


def test_the_customer_revokes_access(registry, customer, agent, customer_id):
    tx = registry.revokeAccess(customer_id, agent, {"from": customer})

    assert registry.accessOf(customer_id, agent)["active"] is False
    assert tx.events["AccessRevoked"]["actor"] == customer


def test_revoking_access_emits_the_purpose_it_was_granted_for(registry, manager, auditor, customer_id, staff_keys):
    registry.grantAccess(customer_id, auditor, PURPOSE_SUPPORT, {"from": manager})

    tx = registry.revokeAccess(customer_id, auditor, {"from": manager})

    assert tx.events["AccessRevoked"]["purpose"] == PURPOSE_SUPPORT


def test_revoking_access_never_granted_reverts(registry, manager, agent2, customer_id):
    with reverts_with("AccessNotGranted", customer_id, agent2):
        registry.revokeAccess(customer_id, agent2, {"from": manager})


def test_revoking_access_twice_reverts(registry, manager, agent, customer_id):
    registry.revokeAccess(customer_id, agent, {"from": manager})

    with reverts_with("AccessNotGranted", customer_id, agent):
        registry.revokeAccess(customer_id, agent, {"from": manager})


@pytest.mark.parametrize("caller", ["agent", "agent2", "auditor", "admin", "customer2", "stranger"])
def test_revoking_access_is_refused_for_anyone_but_a_manager_or_the_customer(
    registry, request, caller, agent, customer_id
):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotManagerOrCustomer", customer_id, account):
        registry.revokeAccess(customer_id, agent, {"from": account})


# ---------------------------------------------------------------- setConsent / hasConsent


def test_the_customer_gives_consent_for_a_purpose(registry, customer, customer_id):
    tx = registry.setConsent(customer_id, PURPOSE_SALES, True, {"from": customer})

    assert registry.hasConsent(customer_id, PURPOSE_SALES) is True
    event = tx.events["ConsentChanged"]
    assert event["customerId"] == customer_id
    assert event["purpose"] == PURPOSE_SALES
    assert event["granted"] is True


def test_the_customer_withdraws_consent_for_a_purpose(registry, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_SALES, True, {"from": customer})

    tx = registry.setConsent(customer_id, PURPOSE_SALES, False, {"from": customer})

    assert registry.hasConsent(customer_id, PURPOSE_SALES) is False
    event = tx.events["ConsentChanged"]
    assert (event["customerId"], event["purpose"], event["granted"]) == (customer_id, PURPOSE_SALES, False)


def test_consent_is_absent_before_the_customer_gives_it(registry, customer_id):
    consent = registry.hasConsent(customer_id, PURPOSE_SALES)

    assert consent is False


def test_consent_for_one_purpose_does_not_imply_another(registry, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_SALES, True, {"from": customer})

    consent = registry.hasConsent(customer_id, PURPOSE_SUPPORT)

    assert consent is False


def test_consent_for_one_customer_does_not_leak_to_another(registry, customer, customer_id, register):
    other = register(wallet=customer)
    registry.setConsent(customer_id, PURPOSE_SALES, True, {"from": customer})

    consent = registry.hasConsent(other, PURPOSE_SALES)

    assert consent is False


def test_consent_for_the_highest_purpose_is_recorded(registry, customer, customer_id):
    registry.setConsent(customer_id, HIGHEST_PURPOSE, True, {"from": customer})

    assert registry.hasConsent(customer_id, HIGHEST_PURPOSE) is True
    assert registry.hasConsent(customer_id, HIGHEST_PURPOSE - 1) is False


@pytest.mark.parametrize("caller", ["manager", "agent", "admin", "customer2", "stranger"])
def test_setting_consent_is_refused_for_anyone_but_the_customer_wallet(registry, request, caller, customer_id):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotCustomer", customer_id, account):
        registry.setConsent(customer_id, PURPOSE_SALES, True, {"from": account})


def test_nobody_sets_consent_for_a_customer_without_a_wallet(registry, stranger, customer_without_wallet):
    with reverts_with("CallerNotCustomer", customer_without_wallet, stranger):
        registry.setConsent(customer_without_wallet, PURPOSE_SALES, True, {"from": stranger})


def test_setting_consent_for_purpose_zero_reverts(registry, customer, customer_id):
    with reverts_with("PurposeInvalid", 0):
        registry.setConsent(customer_id, 0, True, {"from": customer})


def test_giving_consent_already_given_reverts(registry, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_SALES, True, {"from": customer})

    with reverts_with("ConsentUnchanged", customer_id, PURPOSE_SALES, True):
        registry.setConsent(customer_id, PURPOSE_SALES, True, {"from": customer})


def test_withdrawing_consent_never_given_reverts(registry, customer, customer_id):
    with reverts_with("ConsentUnchanged", customer_id, PURPOSE_SALES, False):
        registry.setConsent(customer_id, PURPOSE_SALES, False, {"from": customer})


# ---------------------------------------------------------------- eraseCustomer


def test_a_manager_erases_a_customer(registry, manager, customer_id):
    receipt = random_hash()

    tx = registry.eraseCustomer(customer_id, receipt, {"from": manager})

    assert registry.statusOf(customer_id) == ERASED
    event = tx.events["CustomerErased"]
    assert event["customerId"] == customer_id
    assert event["actor"] == manager
    assert bytes(event["receiptHash"]) == receipt
    assert event["at"] == tx.timestamp == chain[tx.block_number].timestamp


def test_the_customer_erases_itself(registry, customer, customer_id):
    tx = registry.eraseCustomer(customer_id, random_hash(), {"from": customer})

    assert registry.statusOf(customer_id) == ERASED
    assert tx.events["CustomerErased"]["actor"] == customer


def test_erasing_a_customer_clears_its_consents(registry, manager, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_SALES, True, {"from": customer})
    registry.setConsent(customer_id, HIGHEST_PURPOSE, True, {"from": customer})

    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    assert registry.hasConsent(customer_id, PURPOSE_SALES) is False
    assert registry.hasConsent(customer_id, HIGHEST_PURPOSE) is False


def test_an_erased_customer_reads_as_erased_and_keeps_its_count(registry, manager, customer, customer_id):
    before = registry.customerCount()

    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    record = registry.customerOf(customer_id).dict()
    assert record["status"] == ERASED
    assert record["wallet"] == customer.address
    assert registry.customerCount() == before


def test_erasing_a_customer_leaves_its_neighbours_active(registry, manager, register):
    previous, erased, following = register(), register(), register()

    registry.eraseCustomer(erased, random_hash(), {"from": manager})

    assert [registry.statusOf(i) for i in (previous, erased, following)] == [ACTIVE, ERASED, ACTIVE]


def test_erasing_without_a_receipt_reverts(registry, manager, customer_id):
    with reverts_with("ErasureReceiptMissing", customer_id):
        registry.eraseCustomer(customer_id, ZERO_HASH, {"from": manager})


@pytest.mark.parametrize("caller", ["agent", "auditor", "admin", "customer2", "stranger"])
def test_erasing_is_refused_for_anyone_but_a_manager_or_the_customer(registry, request, caller, customer_id):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotManagerOrCustomer", customer_id, account):
        registry.eraseCustomer(customer_id, random_hash(), {"from": account})


@pytest.mark.parametrize("write", WRITE_NAMES)
def test_every_write_on_an_erased_customer_reverts(registry, manager, customer_id, writes, write):
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    with reverts_with("CustomerIsErased", customer_id):
        writes[write](customer_id)


@pytest.mark.parametrize("write", WRITE_NAMES)
def test_every_write_is_accepted_from_the_same_caller_while_the_customer_is_active(
    registry, customer_id, writes, write
):
    # The control for the test above: each write fails there only because of the erasure.
    tx = writes[write](customer_id)

    assert tx.status == 1


# ---------------------------------------------------------------- unknown customers


@pytest.mark.parametrize("which", ["zero", "next"])
@pytest.mark.parametrize("write", WRITE_NAMES)
def test_every_write_on_an_unknown_customer_reverts(registry, customer_id, writes, write, which):
    missing = unknown_id(registry, which)

    with reverts_with("CustomerUnknown", missing):
        writes[write](missing)


@pytest.mark.parametrize("which", ["zero", "next"])
def test_reading_an_unknown_customer_reverts(registry, customer_id, which):
    missing = unknown_id(registry, which)

    with reverts_with("CustomerUnknown", missing):
        registry.customerOf(missing)


@pytest.mark.parametrize("which", ["zero", "next"])
def test_an_unknown_customer_has_status_none_and_empty_views(registry, agent, customer_id, which):
    missing = unknown_id(registry, which)

    assert registry.statusOf(missing) == NONE
    assert registry.walletOf(missing) == ZERO_ADDRESS
    assert tuple(registry.accessOf(missing, agent)) == (0, False, 0)
    assert registry.hasConsent(missing, PURPOSE_SALES) is False


# ---------------------------------------------------------------- property: the erased bitmap

# The crowd fills word 0 of the bitmap up to id 252, so random registrations cross into word 1.
CROWD_SIZE = CUSTOMERS_PER_WORD - 4
MAX_OPERATIONS = 10
REGISTER = -1
# Enough for registerCustomer and eraseCustomer; a transaction sent with a fixed gas limit skips
# the estimate round trip. Anvil here runs with a zero base fee.
GAS_PER_WRITE = 300_000
# Anvil mines on arrival but may answer eth_sendTransaction a moment before the receipt exists.
RECEIPT_POLL_SECONDS = 0.005


def send(function, *args, sender) -> None:
    """Send a write straight through web3 and require that it succeeded.

    Brownie's transaction handling (receipt decoding, an undo snapshot per transaction) costs about
    30 ms a transaction; the crowd and the property below send hundreds of writes whose events no
    test reads.
    """
    tx_hash = function(*args).transact({"from": sender.address, "gas": GAS_PER_WRITE, "gasPrice": 0})
    receipt = web3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=RECEIPT_POLL_SECONDS)
    assert receipt["status"] == 1


def register_quietly(raw_registry, agent) -> None:
    send(
        raw_registry.functions.registerCustomer, random_hash(), random_hash(), ZERO_ADDRESS, PURPOSE_SALES, sender=agent
    )


@pytest.fixture(scope="module")
def raw_registry(registry):
    """The registry as a plain web3 contract, for `send`."""
    return web3.eth.contract(address=registry.address, abi=registry.abi)


@pytest.fixture(scope="module")
def crowd(registry, raw_registry, agent) -> None:
    """Register customers until CROWD_SIZE exist; all of them are active."""
    sent = [
        raw_registry.functions.registerCustomer(random_hash(), random_hash(), ZERO_ADDRESS, PURPOSE_SALES).transact(
            {"from": agent.address, "gas": GAS_PER_WRITE, "gasPrice": 0}
        )
        for _ in range(CROWD_SIZE - registry.customerCount())
    ]
    for tx_hash in sent:
        assert web3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=RECEIPT_POLL_SECONDS)["status"] == 1
    assert registry.customerCount() == CROWD_SIZE


def statuses_of(registry, customer_ids: list[int]) -> list[int]:
    """statusOf for many ids in one JSON-RPC batch (one call each costs ~5 ms through Brownie)."""
    calls = [
        ("eth_call", [{"to": registry.address, "data": registry.statusOf.encode_input(customer_id)}, "latest"])
        for customer_id in customer_ids
    ]
    return [int(response["result"], 16) for response in web3.provider.make_batch_request(calls)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operations=st.lists(
        # REGISTER, or the id of a customer to erase (which may be unknown or already erased).
        st.one_of(st.just(REGISTER), st.integers(min_value=0, max_value=CROWD_SIZE + MAX_OPERATIONS)),
        max_size=MAX_OPERATIONS,
    )
)
def test_status_of_agrees_with_a_model_over_random_registrations_and_erasures(
    registry, raw_registry, agent, manager, crowd, operations
):
    # Every customer registered by the module's fixtures is active.
    model = {customer_id: ACTIVE for customer_id in range(1, registry.customerCount() + 1)}
    try:
        for operation in operations:
            if operation == REGISTER:
                register_quietly(raw_registry, agent)
                model[len(model) + 1] = ACTIVE
            elif model.get(operation, NONE) == ACTIVE:
                send(raw_registry.functions.eraseCustomer, operation, random_hash(), sender=manager)
                model[operation] = ERASED
            else:
                error = "CustomerIsErased" if model.get(operation) == ERASED else "CustomerUnknown"
                with reverts_with(error, operation):
                    registry.eraseCustomer.call(operation, random_hash(), {"from": manager})

        checked = list(range(len(model) + 3))
        statuses = statuses_of(registry, checked)

        assert registry.customerCount() == len(model)
        assert statuses == [model.get(customer_id, NONE) for customer_id in checked]
    finally:
        chain.revert()
