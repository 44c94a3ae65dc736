"""CrmRegistry as a customer registry: registration, profile versions, views, erasure.

Wallet binding, signatures, access grants, readers and consent have their own modules
(test_registry_wallets.py, test_registry_signatures.py, test_registry_access.py,
test_registry_readers.py, test_registry_consent.py).

Refusals are checked by simulating the transaction (eth_call): the same code path without mining a
block, which keeps the suite fast and clear of Brownie's receipt polling.
"""

from __future__ import annotations

import pytest
from brownie import chain, web3
from brownie.exceptions import VirtualMachineError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contracts.helpers import (
    KIND_CALL,
    OUTCOME_POSITIVE,
    PURPOSE_AUDIT,
    PURPOSE_BILLING,
    PURPOSE_MARKETING,
    PURPOSE_PROFILING,
    PURPOSE_SALES,
    PURPOSE_SUPPORT,
    PURPOSE_THIRD_PARTY,
    ZERO_ADDRESS,
    ZERO_HASH,
    public_key_of,
    random_hash,
    readers_hash,
    reverts_with,
)

# CustomerStatus and LawfulBasis, as the contract's enums number them.
NONE, ACTIVE, ERASED = range(3)
BASIS_NONE, BASIS_CONTRACT, BASIS_LEGAL_OBLIGATION, BASIS_CONSENT = range(4)
FIRST_INVALID_PURPOSE = 8
HIGHEST_UINT8 = 255
# The erased bitmap packs 256 customers per word: ids 255 and 256 sit in different words.
CUSTOMERS_PER_WORD = 256


def readers_hash_after(registry, customer_id: int, joining=(), leaving=()) -> bytes:
    """The readers hash a version must carry once `joining` became readers and `leaving` stopped."""
    readers = {str(reader).lower() for reader in registry.readersOf(customer_id)}
    readers |= {str(getattr(account, "address", account)).lower() for account in joining}
    readers -= {str(getattr(account, "address", account)).lower() for account in leaving}
    return readers_hash(*readers)


def grant(registry, customer_id: int, staff, by, purpose: int = PURPOSE_SUPPORT, dry_run: bool = False):
    """Grant `staff` access, re-sealing the profile for the reader set that results.

    With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals.
    """
    sealed_for = readers_hash_after(registry, customer_id, joining=[staff])
    send = registry.grantAccess.call if dry_run else registry.grantAccess
    return send(customer_id, staff, purpose, random_hash(), random_hash(), sealed_for, {"from": by})


def update(registry, customer_id: int, by, dry_run: bool = False):
    """Record a new profile version sealed for the current readers.

    With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals.
    """
    send = registry.updateProfile.call if dry_run else registry.updateProfile
    return send(customer_id, random_hash(), random_hash(), registry.readersHashOf(customer_id), {"from": by})


def register_raw(
    registry, agent, manager, proposed_wallet=ZERO_ADDRESS, purpose=PURPOSE_SALES, readers=None, dry_run: bool = False
):
    """registerCustomer as the module's agent, sealed for the agent and the manager unless told.

    With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals.
    """
    sealed_for = readers_hash(agent, manager) if readers is None else readers
    send = registry.registerCustomer.call if dry_run else registry.registerCustomer
    return send(random_hash(), random_hash(), sealed_for, proposed_wallet, purpose, {"from": agent})


@pytest.fixture(scope="module")
def manager2(accounts):
    """An account the tests make a second manager."""
    return accounts[9]


def unknown_id(registry, which: str) -> int:
    return 0 if which == "zero" else registry.customerCount() + 1


# ---------------------------------------------------------------- registerCustomer


def test_registering_customers_hands_out_sequential_ids(registry, agent, manager):
    before = registry.customerCount()

    first = register_raw(registry, agent, manager)
    second = register_raw(registry, agent, manager)

    assert (first.return_value, second.return_value) == (before + 1, before + 2)
    assert registry.customerCount() == before + 2


def test_registering_a_customer_stores_an_active_record_without_a_wallet(registry, agent, manager):
    tx = register_raw(registry, agent, manager)

    record = registry.customerOf(tx.return_value).dict()
    assert record == {
        "wallet": ZERO_ADDRESS,
        "pendingWallet": ZERO_ADDRESS,
        "profileVersion": 1,
        "registeredAt": tx.timestamp,
        "consentBits": 0,
        "status": ACTIVE,
    }
    assert registry.statusOf(tx.return_value) == ACTIVE


def test_registering_a_customer_stores_the_first_profile_version_with_its_readers_hash(registry, agent, manager):
    content_hash, cid_digest, sealed_for = random_hash(), random_hash(), readers_hash(agent, manager)

    tx = registry.registerCustomer(content_hash, cid_digest, sealed_for, ZERO_ADDRESS, PURPOSE_SALES, {"from": agent})

    profile = registry.profileOf(tx.return_value, 1)
    assert bytes(profile["contentHash"]) == content_hash
    assert bytes(profile["cidDigest"]) == cid_digest
    assert bytes(profile["readersHash"]) == sealed_for


def test_registering_a_customer_grants_the_registrar_access_for_the_purpose(registry, agent, manager):
    tx = register_raw(registry, agent, manager, purpose=PURPOSE_SUPPORT)

    assert tuple(registry.accessOf(tx.return_value, agent)) == (PURPOSE_SUPPORT, True, tx.timestamp)
    assert registry.hasActiveGrant(tx.return_value, agent) is True
    assert registry.granteesOf(tx.return_value) == (agent.address,)


def test_every_purpose_without_consent_is_accepted_at_registration(registry, agent, manager):
    purposes = (PURPOSE_SALES, PURPOSE_SUPPORT, PURPOSE_BILLING, PURPOSE_AUDIT)

    granted = [
        registry.accessOf(register_raw(registry, agent, manager, purpose=p).return_value, agent)[0] for p in purposes
    ]

    assert tuple(granted) == purposes


def test_registering_a_customer_emits_registered_access_granted_and_profile_updated_in_order(registry, agent, manager):
    tx = register_raw(registry, agent, manager)

    assert [event.name for event in tx.events] == ["CustomerRegistered", "AccessGranted", "ProfileUpdated"]


def test_registering_a_customer_with_a_proposed_wallet_also_emits_wallet_proposed_before_the_profile(
    registry, agent, manager, customer
):
    tx = register_raw(registry, agent, manager, proposed_wallet=customer)

    assert [event.name for event in tx.events] == [
        "CustomerRegistered",
        "AccessGranted",
        "WalletProposed",
        "ProfileUpdated",
    ]


def test_registering_a_customer_emits_customer_registered(registry, agent, manager):
    tx = register_raw(registry, agent, manager)

    event = tx.events["CustomerRegistered"]
    assert event["customerId"] == tx.return_value
    assert event["registrar"] == agent
    assert event["at"] == tx.timestamp == chain[tx.block_number].timestamp


def test_registering_a_customer_emits_access_granted_to_the_registrar(registry, agent, manager):
    tx = register_raw(registry, agent, manager, purpose=PURPOSE_SUPPORT)

    event = tx.events["AccessGranted"]
    assert event["customerId"] == tx.return_value
    assert event["staff"] == agent
    assert event["purpose"] == PURPOSE_SUPPORT
    assert event["actor"] == agent


def test_registering_a_customer_emits_the_first_profile_updated(registry, agent, manager):
    content_hash, cid_digest, sealed_for = random_hash(), random_hash(), readers_hash(agent, manager)

    tx = registry.registerCustomer(content_hash, cid_digest, sealed_for, ZERO_ADDRESS, PURPOSE_SALES, {"from": agent})

    event = tx.events["ProfileUpdated"]
    assert event["customerId"] == tx.return_value
    assert event["version"] == 1
    assert event["actor"] == agent
    assert bytes(event["contentHash"]) == content_hash
    assert bytes(event["cidDigest"]) == cid_digest
    assert bytes(event["readersHash"]) == sealed_for


def test_a_wallet_proposed_at_registration_is_only_pending(registry, agent, manager, customer):
    tx = register_raw(registry, agent, manager, proposed_wallet=customer)

    customer_id = tx.return_value
    assert registry.pendingWalletOf(customer_id) == customer
    assert registry.customerOf(customer_id)["pendingWallet"] == customer
    assert registry.walletOf(customer_id) == ZERO_ADDRESS
    assert customer.address not in registry.readersOf(customer_id)


def test_a_wallet_proposed_at_registration_emits_wallet_proposed_by_the_registrar(registry, agent, manager, customer):
    tx = register_raw(registry, agent, manager, proposed_wallet=customer)

    event = tx.events["WalletProposed"]
    assert event["customerId"] == tx.return_value
    assert event["wallet"] == customer
    assert event["proposer"] == agent


def test_a_customer_registered_without_a_proposed_wallet_has_no_pending_wallet(registry, agent, manager):
    tx = register_raw(registry, agent, manager)

    assert registry.pendingWalletOf(tx.return_value) == ZERO_ADDRESS
    assert "WalletProposed" not in tx.events


def test_registering_with_a_readers_hash_other_than_registrar_and_managers_reverts(
    registry, agent, agent2, manager, customer
):
    wrong_sets = {
        "the registrar only": readers_hash(agent),
        "the manager only": readers_hash(manager),
        "with the proposed wallet": readers_hash(agent, manager, customer),
        "with another agent": readers_hash(agent, manager, agent2),
        "nobody": readers_hash(),
    }
    next_id = registry.customerCount() + 1

    for wrong in wrong_sets.values():
        with reverts_with("ProfileReadersMismatch", next_id, readers_hash(agent, manager), wrong):
            register_raw(registry, agent, manager, proposed_wallet=customer, readers=wrong, dry_run=True)


def test_a_manager_without_a_published_key_is_not_among_the_registration_readers(
    registry, admin, agent, manager, stranger
):
    registry.grantRole(registry.MANAGER_ROLE(), stranger, {"from": admin})

    tx = register_raw(registry, agent, manager, readers=readers_hash(agent, manager))

    assert bytes(registry.profileOf(tx.return_value, 1)["readersHash"]) == readers_hash(agent, manager)


def test_every_manager_with_a_published_key_is_among_the_registration_readers(
    registry, admin, agent, manager, manager2
):
    registry.grantRole(registry.MANAGER_ROLE(), manager2, {"from": admin})
    registry.registerEncryptionKey(public_key_of(manager2), {"from": manager2})
    next_id = registry.customerCount() + 1

    with reverts_with(
        "ProfileReadersMismatch", next_id, readers_hash(agent, manager, manager2), readers_hash(agent, manager)
    ):
        register_raw(registry, agent, manager, readers=readers_hash(agent, manager), dry_run=True)
    tx = register_raw(registry, agent, manager, readers=readers_hash(agent, manager, manager2))
    assert registry.readersOf(tx.return_value) == tuple(
        sorted([agent.address, manager.address, manager2.address], key=lambda a: int(a, 16))
    )


def test_registering_a_customer_with_an_empty_content_hash_reverts(registry, agent, manager):
    with reverts_with("ProfileHashMissing"):
        registry.registerCustomer.call(
            ZERO_HASH, random_hash(), readers_hash(agent, manager), ZERO_ADDRESS, PURPOSE_SALES, {"from": agent}
        )


def test_registering_a_customer_with_an_empty_cid_digest_reverts(registry, agent, manager):
    with reverts_with("ProfileHashMissing"):
        registry.registerCustomer.call(
            random_hash(), ZERO_HASH, readers_hash(agent, manager), ZERO_ADDRESS, PURPOSE_SALES, {"from": agent}
        )


def test_registering_a_customer_for_a_purpose_out_of_range_reverts(registry, agent, manager):
    for purpose in (0, FIRST_INVALID_PURPOSE, HIGHEST_UINT8):
        with reverts_with("PurposeInvalid", purpose):
            register_raw(registry, agent, manager, purpose=purpose, dry_run=True)


def test_registering_a_customer_for_a_purpose_that_needs_consent_reverts(registry, agent, manager):
    next_id = registry.customerCount() + 1

    for purpose in (PURPOSE_MARKETING, PURPOSE_PROFILING, PURPOSE_THIRD_PARTY):
        with reverts_with("PurposeNeedsConsent", next_id, purpose):
            register_raw(registry, agent, manager, purpose=purpose, dry_run=True)


def test_registering_a_customer_as_an_agent_without_a_published_key_reverts(registry, admin, manager, stranger):
    registry.grantRole(registry.AGENT_ROLE(), stranger, {"from": admin})

    with reverts_with("GranteeWithoutEncryptionKey", stranger):
        register_raw(registry, stranger, manager, readers=readers_hash(stranger, manager), dry_run=True)


def test_registering_a_customer_with_a_staff_account_as_proposed_wallet_reverts(
    registry, agent, agent2, manager, auditor
):
    next_id = registry.customerCount() + 1

    for staff in (agent, agent2, manager, auditor):
        with reverts_with("WalletInvalid", next_id, staff):
            register_raw(registry, agent, manager, proposed_wallet=staff, dry_run=True)


def test_registering_a_customer_is_refused_for_anyone_without_the_agent_role(
    registry, admin, manager, auditor, customer, stranger
):
    for account in (admin, manager, auditor, customer, stranger):
        with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
            register_raw(registry, account, manager, readers=readers_hash(account, manager), dry_run=True)


# ---------------------------------------------------------------- updateProfile


def test_the_registrar_updates_the_profile_to_version_two(registry, agent, customer_id):
    content_hash, cid_digest, sealed_for = random_hash(), random_hash(), bytes(registry.readersHashOf(customer_id))

    tx = registry.updateProfile(customer_id, content_hash, cid_digest, sealed_for, {"from": agent})

    assert tx.return_value == 2
    assert registry.customerOf(customer_id)["profileVersion"] == 2
    profile = registry.profileOf(customer_id, 2)
    assert (bytes(profile["contentHash"]), bytes(profile["cidDigest"]), bytes(profile["readersHash"])) == (
        content_hash,
        cid_digest,
        sealed_for,
    )


def test_updating_a_profile_emits_profile_updated(registry, agent, customer_id):
    content_hash, cid_digest, sealed_for = random_hash(), random_hash(), bytes(registry.readersHashOf(customer_id))

    tx = registry.updateProfile(customer_id, content_hash, cid_digest, sealed_for, {"from": agent})

    event = tx.events["ProfileUpdated"]
    assert event["customerId"] == customer_id
    assert event["version"] == 2
    assert event["actor"] == agent
    assert bytes(event["contentHash"]) == content_hash
    assert bytes(event["cidDigest"]) == cid_digest
    assert bytes(event["readersHash"]) == sealed_for


def test_the_customer_wallet_updates_its_own_profile(registry, customer, customer_id):
    tx = update(registry, customer_id, by=customer)

    assert tx.return_value == 2
    assert tx.events["ProfileUpdated"]["actor"] == customer


def test_a_manager_updates_the_profile_without_a_grant(registry, manager, customer_id):
    assert registry.hasActiveGrant(customer_id, manager) is False

    tx = update(registry, customer_id, by=manager)

    assert tx.events["ProfileUpdated"]["actor"] == manager


def test_an_agent_granted_access_later_updates_the_profile(registry, agent2, manager, customer_id):
    grant(registry, customer_id, agent2, by=manager)

    tx = update(registry, customer_id, by=agent2)

    assert tx.events["ProfileUpdated"]["actor"] == agent2


def test_an_auditor_granted_access_may_not_update_the_profile(registry, manager, auditor, customer_id):
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_AUDIT)

    with reverts_with("CallerWithoutAccess", customer_id, auditor):
        update(registry, customer_id, by=auditor, dry_run=True)


def test_a_former_agent_may_not_update_the_profile_through_a_grant_that_outlived_its_role(
    registry, admin, agent, customer_id
):
    registry.revokeRole(registry.AGENT_ROLE(), agent, {"from": admin})

    with reverts_with("CallerWithoutAccess", customer_id, agent):
        update(registry, customer_id, by=agent, dry_run=True)


def test_a_pending_wallet_may_not_update_the_profile(registry, agent, manager, stranger):
    customer_id = register_raw(registry, agent, manager, proposed_wallet=stranger).return_value

    with reverts_with("CallerWithoutAccess", customer_id, stranger):
        update(registry, customer_id, by=stranger, dry_run=True)


def test_updating_a_profile_is_refused_for_anyone_without_access_or_the_wallet(
    registry, agent2, auditor, admin, customer2, stranger, customer_id
):
    for account in (agent2, auditor, admin, customer2, stranger):
        with reverts_with("CallerWithoutAccess", customer_id, account):
            update(registry, customer_id, by=account, dry_run=True)


def test_updating_a_profile_is_refused_after_access_was_revoked(registry, manager, agent, customer_id):
    sealed_for = readers_hash_after(registry, customer_id, leaving=[agent])
    registry.revokeAccess(customer_id, agent, random_hash(), random_hash(), sealed_for, {"from": manager})

    with reverts_with("CallerWithoutAccess", customer_id, agent):
        update(registry, customer_id, by=agent, dry_run=True)


def test_updating_a_profile_sealed_for_other_readers_reverts(registry, agent, customer, manager, customer_id):
    stale = readers_hash(agent, manager)  # the registration's readers, before the wallet accepted

    with reverts_with("ProfileReadersMismatch", customer_id, readers_hash(agent, manager, customer), stale):
        registry.updateProfile.call(customer_id, random_hash(), random_hash(), stale, {"from": agent})


def test_updating_a_profile_with_an_empty_content_hash_reverts(registry, agent, customer_id):
    with reverts_with("ProfileHashMissing"):
        registry.updateProfile.call(
            customer_id, ZERO_HASH, random_hash(), registry.readersHashOf(customer_id), {"from": agent}
        )


def test_updating_a_profile_with_an_empty_cid_digest_reverts(registry, agent, customer_id):
    with reverts_with("ProfileHashMissing"):
        registry.updateProfile.call(
            customer_id, random_hash(), ZERO_HASH, registry.readersHashOf(customer_id), {"from": agent}
        )


def test_profile_versions_increment_and_every_version_stays_readable(registry, agent, customer, customer_id):
    first = registry.profileOf(customer_id, 1)
    versions = {1: (bytes(first["contentHash"]), bytes(first["cidDigest"]))}

    for updater in (agent, customer, agent):
        hashes = (random_hash(), random_hash())
        tx = registry.updateProfile(customer_id, *hashes, registry.readersHashOf(customer_id), {"from": updater})
        versions[tx.return_value] = hashes

    assert sorted(versions) == [1, 2, 3, 4]
    assert registry.customerOf(customer_id)["profileVersion"] == 4
    for version, hashes in versions.items():
        profile = registry.profileOf(customer_id, version)
        assert (bytes(profile["contentHash"]), bytes(profile["cidDigest"])) == hashes


def test_a_profile_version_never_recorded_reads_as_zero_hashes(registry, customer_id):
    profile = registry.profileOf(customer_id, 2)

    assert tuple(bytes(field) for field in profile) == (ZERO_HASH, ZERO_HASH, ZERO_HASH)


# ---------------------------------------------------------------- lawfulBasisOf


def test_each_purpose_has_its_lawful_basis(registry):
    expected = {
        0: BASIS_NONE,
        PURPOSE_SALES: BASIS_CONTRACT,
        PURPOSE_SUPPORT: BASIS_CONTRACT,
        PURPOSE_BILLING: BASIS_LEGAL_OBLIGATION,
        PURPOSE_MARKETING: BASIS_CONSENT,
        PURPOSE_AUDIT: BASIS_LEGAL_OBLIGATION,
        PURPOSE_PROFILING: BASIS_CONSENT,
        PURPOSE_THIRD_PARTY: BASIS_CONSENT,
        FIRST_INVALID_PURPOSE: BASIS_NONE,
        HIGHEST_UINT8: BASIS_NONE,
    }

    bases = {purpose: registry.lawfulBasisOf(purpose) for purpose in expected}

    assert bases == expected


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


def test_the_customer_wallet_erases_its_customer(registry, customer, customer_id):
    tx = registry.eraseCustomer(customer_id, random_hash(), {"from": customer})

    assert registry.statusOf(customer_id) == ERASED
    assert tx.events["CustomerErased"]["actor"] == customer


def test_erasing_a_customer_clears_its_wallet(registry, manager, customer_id):
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    assert registry.walletOf(customer_id) == ZERO_ADDRESS
    assert registry.customerOf(customer_id)["wallet"] == ZERO_ADDRESS


def test_erasing_a_customer_clears_its_pending_wallet(registry, manager, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    assert registry.pendingWalletOf(customer_id) == ZERO_ADDRESS
    assert registry.customerOf(customer_id)["pendingWallet"] == ZERO_ADDRESS


def test_erasing_a_customer_deactivates_every_grant(registry, manager, agent, agent2, auditor, customer_id):
    grant(registry, customer_id, agent2, by=manager)
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_AUDIT)

    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    assert registry.granteesOf(customer_id) == ()
    for staff in (agent, agent2, auditor):
        assert registry.hasActiveGrant(customer_id, staff) is False
        assert registry.accessOf(customer_id, staff)["active"] is False


def test_erasing_a_customer_emits_access_revoked_for_each_grantee_before_customer_erased(
    registry, manager, agent, auditor, customer_id
):
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_AUDIT)

    tx = registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    assert [event.name for event in tx.events] == ["AccessRevoked", "AccessRevoked", "CustomerErased"]
    revoked = {
        event["staff"]: (event["customerId"], event["purpose"], event["actor"]) for event in tx.events["AccessRevoked"]
    }
    assert revoked == {
        agent.address: (customer_id, PURPOSE_SALES, manager.address),
        auditor.address: (customer_id, PURPOSE_AUDIT, manager.address),
    }


def test_erasing_a_customer_clears_its_consents(registry, manager, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})
    registry.setConsent(customer_id, PURPOSE_THIRD_PARTY, True, {"from": customer})

    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    assert registry.hasConsent(customer_id, PURPOSE_MARKETING) is False
    assert registry.hasConsent(customer_id, PURPOSE_THIRD_PARTY) is False
    assert registry.customerOf(customer_id)["consentBits"] == 0


def test_an_erased_customer_is_read_only_by_the_managers(registry, manager, customer_id):
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    assert registry.readersOf(customer_id) == (manager.address,)


def test_an_erased_customer_reads_as_erased_and_keeps_its_count_and_versions(registry, manager, customer_id):
    before = registry.customerCount()

    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    record = registry.customerOf(customer_id).dict()
    assert record["status"] == ERASED
    assert record["profileVersion"] == 1
    assert registry.customerCount() == before


def test_erasing_a_customer_leaves_its_neighbours_active(registry, manager, register):
    previous, erased, following = register(), register(), register()

    registry.eraseCustomer(erased, random_hash(), {"from": manager})

    assert [registry.statusOf(i) for i in (previous, erased, following)] == [ACTIVE, ERASED, ACTIVE]


def test_erasing_without_a_receipt_reverts(registry, manager, customer_id):
    with reverts_with("ErasureReceiptMissing", customer_id):
        registry.eraseCustomer.call(customer_id, ZERO_HASH, {"from": manager})


def test_erasing_a_customer_twice_reverts(registry, manager, customer_id):
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    with reverts_with("CustomerIsErased", customer_id):
        registry.eraseCustomer.call(customer_id, random_hash(), {"from": manager})


def test_erasing_is_refused_for_anyone_but_a_manager_or_the_customer(
    registry, agent, agent2, auditor, admin, customer2, stranger, customer_id
):
    for account in (agent, agent2, auditor, admin, customer2, stranger):
        with reverts_with("CallerNotManagerOrCustomer", customer_id, account):
            registry.eraseCustomer.call(customer_id, random_hash(), {"from": account})


def test_erasing_is_refused_for_a_pending_wallet(registry, manager, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    with reverts_with("CallerNotManagerOrCustomer", customer_id, customer2):
        registry.eraseCustomer.call(customer_id, random_hash(), {"from": customer2})


# ---------------------------------------------------------------- writes after erasure, writes on unknown ids


@pytest.fixture
def writes(registry, agent, manager, customer, customer2, auditor):
    """Every transaction-path write on a customer, as (function, arguments, sender), each from a
    caller it accepts while the customer is active; `customer2` must have been proposed first.

    (The signature paths are covered in test_registry_signatures.py.) The readers hashes are
    computed when the entry is built, so each write is correctly sealed for an active customer.
    """

    def _writes(cid: int) -> dict:
        return {
            "updateProfile": (
                registry.updateProfile,
                (cid, random_hash(), random_hash(), readers_hash_after(registry, cid)),
                customer,
            ),
            "proposeWallet": (registry.proposeWallet, (cid, customer2), manager),
            "acceptWallet": (registry.acceptWallet, (cid, public_key_of(customer2)), customer2),
            "grantAccess": (
                registry.grantAccess,
                (
                    cid,
                    auditor,
                    PURPOSE_AUDIT,
                    random_hash(),
                    random_hash(),
                    readers_hash_after(registry, cid, [auditor]),
                ),
                manager,
            ),
            "revokeAccess": (
                registry.revokeAccess,
                (cid, agent, random_hash(), random_hash(), readers_hash_after(registry, cid, leaving=[agent])),
                manager,
            ),
            "setConsent": (registry.setConsent, (cid, PURPOSE_MARKETING, True), customer),
            "eraseCustomer": (registry.eraseCustomer, (cid, random_hash()), manager),
            "logInteraction": (registry.logInteraction, (cid, KIND_CALL, OUTCOME_POSITIVE, random_hash()), agent),
        }

    return _writes


def test_every_write_on_an_erased_customer_reverts(registry, manager, customer2, customer_id, writes):
    registry.proposeWallet(customer_id, customer2, {"from": manager})  # so acceptWallet had a proposal
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    for function, args, sender in writes(customer_id).values():
        with reverts_with("CustomerIsErased", customer_id):
            function.call(*args, {"from": sender})


def test_every_write_would_be_accepted_from_the_same_caller_while_the_customer_is_active(
    registry, customer, customer2, customer_id, writes
):
    # The control for the test above: each write fails there only because of the erasure. Each is
    # simulated (eth_call) from the same state, since some would change what the next one needs.
    registry.proposeWallet(customer_id, customer2, {"from": customer})

    refused = []
    for name, (function, args, sender) in writes(customer_id).items():
        try:
            function.call(*args, {"from": sender})
        except VirtualMachineError as error:
            refused.append((name, error.revert_msg))

    assert refused == []


@pytest.mark.parametrize("which", ["zero", "next"])
def test_every_write_on_an_unknown_customer_reverts(registry, customer_id, writes, which):
    missing = unknown_id(registry, which)

    for function, args, sender in writes(missing).values():
        with reverts_with("CustomerUnknown", missing):
            function.call(*args, {"from": sender})


# ---------------------------------------------------------------- views of unknown customers


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
    assert registry.pendingWalletOf(missing) == ZERO_ADDRESS
    assert tuple(registry.accessOf(missing, agent)) == (0, False, 0)
    assert registry.hasActiveGrant(missing, agent) is False
    assert registry.granteesOf(missing) == ()
    assert registry.hasConsent(missing, PURPOSE_MARKETING) is False
    assert registry.nonces(missing) == 0


# ---------------------------------------------------------------- property: the erased bitmap

# The crowd fills word 0 of the bitmap up to id 252, so random registrations cross into word 1.
CROWD_SIZE = CUSTOMERS_PER_WORD - 4
MAX_OPERATIONS = 10
REGISTER = -1
# Enough for registerCustomer and eraseCustomer; a transaction sent with a fixed gas limit skips
# the estimate round trip. Anvil here runs with a zero base fee.
GAS_PER_WRITE = 400_000
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


def register_quietly(raw_registry, agent, manager) -> None:
    send(
        raw_registry.functions.registerCustomer,
        random_hash(),
        random_hash(),
        readers_hash(agent, manager),
        ZERO_ADDRESS,
        PURPOSE_SALES,
        sender=agent,
    )


@pytest.fixture(scope="module")
def raw_registry(registry):
    """The registry as a plain web3 contract, for `send`."""
    return web3.eth.contract(address=registry.address, abi=registry.abi)


@pytest.fixture(scope="module")
def crowd(registry, raw_registry, agent, manager) -> None:
    """Register customers until CROWD_SIZE exist; all of them are active."""
    sealed_for = readers_hash(agent, manager)
    sent = [
        raw_registry.functions.registerCustomer(
            random_hash(), random_hash(), sealed_for, ZERO_ADDRESS, PURPOSE_SALES
        ).transact({"from": agent.address, "gas": GAS_PER_WRITE, "gasPrice": 0})
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


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
                register_quietly(raw_registry, agent, manager)
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
        chain.revert()  # to the isolation fixture's snapshot: each example starts from the crowd
