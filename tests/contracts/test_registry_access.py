"""CrmRegistry access grants: grantAccess and revokeAccess, each atomic with its re-sealed profile version.

A grant or revocation records, in the same transaction, the profile version sealed for the reader
set the change produces: `readersHash` must equal that set's hash, or the whole change reverts.

Refusals are checked by simulating the transaction (eth_call): the same code path without mining a
block, which keeps the suite fast and clear of Brownie's receipt polling.
"""

from __future__ import annotations

import coincurve
from brownie import accounts

from tests.contracts.helpers import (
    PURPOSE_AUDIT,
    PURPOSE_BILLING,
    PURPOSE_SALES,
    PURPOSE_SUPPORT,
    ZERO_HASH,
    random_hash,
    readers_hash,
    reverts_with,
)

FIRST_INVALID_PURPOSE = 8
MAX_GRANTEES_PER_CUSTOMER = 16
SECONDS_BETWEEN_GRANT_AND_REVOCATION = 3600
# Private keys of throwaway staff accounts for the grantee limit: 1000, 1001, ... as 32-byte keys.
FIRST_THROWAWAY_KEY = 1000


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


def revoke(registry, customer_id: int, staff, by, dry_run: bool = False):
    """Revoke `staff`'s access, re-sealing the profile for the reader set that results.

    With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals.
    """
    sealed_for = readers_hash_after(registry, customer_id, leaving=[staff])
    send = registry.revokeAccess.call if dry_run else registry.revokeAccess
    return send(customer_id, staff, random_hash(), random_hash(), sealed_for, {"from": by})


def new_staff(registry, admin, count: int) -> list:
    """`count` fresh agents, each with its own published key (gas is free on this Anvil)."""
    staff = []
    for index in range(count):
        private_key = (FIRST_THROWAWAY_KEY + index).to_bytes(32, "big")
        account = accounts.add(private_key)
        registry.grantRole(registry.AGENT_ROLE(), account, {"from": admin})
        public_key = coincurve.PrivateKey(private_key).public_key.format(compressed=False)[1:]
        registry.registerEncryptionKey(public_key, {"from": account})
        staff.append(account)
    return staff


# ---------------------------------------------------------------- grantAccess


def test_a_manager_grants_access_to_staff_with_a_key(registry, manager, agent2, customer_id):
    tx = grant(registry, customer_id, agent2, by=manager, purpose=PURPOSE_SUPPORT)

    assert tuple(registry.accessOf(customer_id, agent2)) == (PURPOSE_SUPPORT, True, tx.timestamp)
    assert registry.hasActiveGrant(customer_id, agent2) is True
    assert agent2.address in registry.granteesOf(customer_id)


def test_granting_access_emits_access_granted(registry, manager, agent2, customer_id):
    tx = grant(registry, customer_id, agent2, by=manager, purpose=PURPOSE_SUPPORT)

    event = tx.events["AccessGranted"]
    assert event["customerId"] == customer_id
    assert event["staff"] == agent2
    assert event["purpose"] == PURPOSE_SUPPORT
    assert event["actor"] == manager


def test_granting_access_records_the_version_sealed_for_the_new_reader_set(
    registry, manager, agent, agent2, customer, customer_id
):
    content_hash, cid_digest = random_hash(), random_hash()
    sealed_for = readers_hash(agent, agent2, manager, customer)

    tx = registry.grantAccess(
        customer_id, agent2, PURPOSE_SUPPORT, content_hash, cid_digest, sealed_for, {"from": manager}
    )

    assert [event.name for event in tx.events] == ["AccessGranted", "ProfileUpdated"]
    event = tx.events["ProfileUpdated"]
    assert (event["customerId"], event["version"], event["actor"]) == (customer_id, 2, manager)
    assert (bytes(event["contentHash"]), bytes(event["cidDigest"]), bytes(event["readersHash"])) == (
        content_hash,
        cid_digest,
        sealed_for,
    )
    assert registry.customerOf(customer_id)["profileVersion"] == 2
    assert bytes(registry.profileOf(customer_id, 2)["readersHash"]) == sealed_for


def test_the_customer_wallet_grants_access(registry, customer, agent2, customer_id):
    tx = grant(registry, customer_id, agent2, by=customer, purpose=PURPOSE_SALES)

    assert tuple(registry.accessOf(customer_id, agent2)) == (PURPOSE_SALES, True, tx.timestamp)
    assert tx.events["AccessGranted"]["actor"] == customer
    assert tx.events["ProfileUpdated"]["actor"] == customer


def test_an_auditor_is_granted_access_for_an_audit(registry, manager, auditor, customer_id):
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_AUDIT)

    assert tuple(registry.accessOf(customer_id, auditor))[:2] == (PURPOSE_AUDIT, True)


def test_granting_access_with_the_readers_hash_from_before_the_grant_reverts(
    registry, manager, agent, agent2, customer, customer_id
):
    before = readers_hash(agent, manager, customer)

    with reverts_with("ProfileReadersMismatch", customer_id, readers_hash(agent, agent2, manager, customer), before):
        registry.grantAccess.call(
            customer_id, agent2, PURPOSE_SUPPORT, random_hash(), random_hash(), before, {"from": manager}
        )


def test_granting_access_to_a_manager_leaves_the_readers_unchanged(registry, manager, customer_id):
    unchanged = bytes(registry.readersHashOf(customer_id))

    tx = registry.grantAccess(
        customer_id, manager, PURPOSE_SUPPORT, random_hash(), random_hash(), unchanged, {"from": manager}
    )

    assert bytes(tx.events["ProfileUpdated"]["readersHash"]) == unchanged
    assert registry.hasActiveGrant(customer_id, manager) is True


def test_granting_access_without_a_profile_hash_reverts(registry, manager, agent2, customer_id):
    sealed_for = readers_hash_after(registry, customer_id, joining=[agent2])

    for content_hash, cid_digest in ((ZERO_HASH, random_hash()), (random_hash(), ZERO_HASH)):
        with reverts_with("ProfileHashMissing"):
            registry.grantAccess.call(
                customer_id, agent2, PURPOSE_SUPPORT, content_hash, cid_digest, sealed_for, {"from": manager}
            )


def test_granting_access_is_refused_for_anyone_but_a_manager_or_the_customer(
    registry, agent, agent2, auditor, admin, customer2, stranger, customer_id
):
    for account in (agent, agent2, auditor, admin, customer2, stranger):
        with reverts_with("CallerNotManagerOrCustomer", customer_id, account):
            grant(registry, customer_id, auditor, by=account, purpose=PURPOSE_AUDIT, dry_run=True)


def test_granting_access_is_refused_for_the_pending_wallet(registry, manager, customer2, auditor, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    with reverts_with("CallerNotManagerOrCustomer", customer_id, customer2):
        grant(registry, customer_id, auditor, by=customer2, purpose=PURPOSE_AUDIT, dry_run=True)


def test_granting_access_for_a_purpose_out_of_range_reverts(registry, manager, agent2, customer_id):
    for purpose in (0, FIRST_INVALID_PURPOSE):
        with reverts_with("PurposeInvalid", purpose):
            grant(registry, customer_id, agent2, by=manager, purpose=purpose, dry_run=True)


def test_granting_access_to_an_account_that_is_not_staff_reverts(
    registry, admin, customer, customer2, stranger, manager, customer_id
):
    for account in (admin, customer, customer2, stranger):
        with reverts_with("GranteeNotStaff", account):
            grant(registry, customer_id, account, by=manager, dry_run=True)


def test_granting_access_to_a_former_agent_reverts(registry, admin, manager, agent2, customer_id):
    registry.revokeRole(registry.AGENT_ROLE(), agent2, {"from": admin})

    with reverts_with("GranteeNotStaff", agent2):
        grant(registry, customer_id, agent2, by=manager, dry_run=True)


def test_granting_access_to_staff_without_an_encryption_key_reverts(registry, admin, manager, stranger, customer_id):
    registry.grantRole(registry.AUDITOR_ROLE(), stranger, {"from": admin})

    with reverts_with("GranteeWithoutEncryptionKey", stranger):
        grant(registry, customer_id, stranger, by=manager, purpose=PURPOSE_AUDIT, dry_run=True)


def test_granting_access_already_granted_reverts(registry, manager, agent, customer_id):
    with reverts_with("AccessAlreadyGranted", customer_id, agent):
        registry.grantAccess.call(
            customer_id,
            agent,
            PURPOSE_BILLING,
            random_hash(),
            random_hash(),
            registry.readersHashOf(customer_id),
            {"from": manager},
        )


def test_access_revoked_earlier_may_be_granted_again_for_another_purpose(registry, manager, agent, customer_id):
    revoke(registry, customer_id, agent, by=manager)

    tx = grant(registry, customer_id, agent, by=manager, purpose=PURPOSE_BILLING)

    assert tuple(registry.accessOf(customer_id, agent)) == (PURPOSE_BILLING, True, tx.timestamp)


def test_a_customer_holds_at_most_sixteen_grantees(registry, admin, manager, customer_id):
    # The registrar holds one grant already; fifteen more fill the set.
    extra = new_staff(registry, admin, MAX_GRANTEES_PER_CUSTOMER)
    for staff in extra[:-1]:
        grant(registry, customer_id, staff, by=manager)
    assert len(registry.granteesOf(customer_id)) == MAX_GRANTEES_PER_CUSTOMER

    with reverts_with("GranteeLimitReached", customer_id, MAX_GRANTEES_PER_CUSTOMER):
        grant(registry, customer_id, extra[-1], by=manager, dry_run=True)


def test_a_revocation_frees_a_place_among_the_sixteen_grantees(registry, admin, manager, agent, customer_id):
    extra = new_staff(registry, admin, MAX_GRANTEES_PER_CUSTOMER)
    for staff in extra[:-1]:
        grant(registry, customer_id, staff, by=manager)
    revoke(registry, customer_id, agent, by=manager)

    grant(registry, customer_id, extra[-1], by=manager)

    assert len(registry.granteesOf(customer_id)) == MAX_GRANTEES_PER_CUSTOMER
    assert registry.hasActiveGrant(customer_id, extra[-1]) is True


# ---------------------------------------------------------------- revokeAccess


def test_a_manager_revokes_access_and_the_grant_becomes_inactive(chain, registry, manager, agent, customer_id):
    chain.sleep(SECONDS_BETWEEN_GRANT_AND_REVOCATION)  # so `since` visibly moves to the revocation

    tx = revoke(registry, customer_id, agent, by=manager)

    assert tuple(registry.accessOf(customer_id, agent)) == (PURPOSE_SALES, False, tx.timestamp)
    assert registry.hasActiveGrant(customer_id, agent) is False
    assert registry.granteesOf(customer_id) == ()


def test_revoking_access_emits_access_revoked_with_the_purpose_it_was_granted_for(
    registry, manager, auditor, customer_id
):
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_AUDIT)

    tx = revoke(registry, customer_id, auditor, by=manager)

    event = tx.events["AccessRevoked"]
    assert event["customerId"] == customer_id
    assert event["staff"] == auditor
    assert event["purpose"] == PURPOSE_AUDIT
    assert event["actor"] == manager


def test_revoking_access_records_the_version_sealed_without_the_revoked_staff(
    registry, manager, agent, customer, customer_id
):
    sealed_for = readers_hash(manager, customer)

    tx = registry.revokeAccess(customer_id, agent, random_hash(), random_hash(), sealed_for, {"from": manager})

    assert [event.name for event in tx.events] == ["AccessRevoked", "ProfileUpdated"]
    assert bytes(tx.events["ProfileUpdated"]["readersHash"]) == sealed_for
    assert bytes(registry.profileOf(customer_id, 2)["readersHash"]) == sealed_for
    assert agent.address not in registry.readersOf(customer_id)


def test_the_customer_wallet_revokes_access(registry, customer, agent, customer_id):
    tx = revoke(registry, customer_id, agent, by=customer)

    assert registry.accessOf(customer_id, agent)["active"] is False
    assert tx.events["AccessRevoked"]["actor"] == customer


def test_revoking_access_with_the_readers_hash_from_before_the_revocation_reverts(
    registry, manager, agent, customer, customer_id
):
    before = readers_hash(agent, manager, customer)

    with reverts_with("ProfileReadersMismatch", customer_id, readers_hash(manager, customer), before):
        registry.revokeAccess.call(customer_id, agent, random_hash(), random_hash(), before, {"from": manager})


def test_revoking_a_managers_grant_leaves_the_manager_a_reader(registry, manager, customer_id):
    unchanged = bytes(registry.readersHashOf(customer_id))
    registry.grantAccess(
        customer_id, manager, PURPOSE_SUPPORT, random_hash(), random_hash(), unchanged, {"from": manager}
    )

    registry.revokeAccess(customer_id, manager, random_hash(), random_hash(), unchanged, {"from": manager})

    assert manager.address in registry.readersOf(customer_id)


def test_revoking_access_never_granted_reverts(registry, manager, agent2, customer_id):
    with reverts_with("AccessNotGranted", customer_id, agent2):
        revoke(registry, customer_id, agent2, by=manager, dry_run=True)


def test_revoking_access_twice_reverts(registry, manager, agent, customer_id):
    revoke(registry, customer_id, agent, by=manager)

    with reverts_with("AccessNotGranted", customer_id, agent):
        revoke(registry, customer_id, agent, by=manager, dry_run=True)


def test_revoking_access_is_refused_for_anyone_but_a_manager_or_the_customer(
    registry, agent, agent2, auditor, admin, customer2, stranger, customer_id
):
    for account in (agent, agent2, auditor, admin, customer2, stranger):
        with reverts_with("CallerNotManagerOrCustomer", customer_id, account):
            revoke(registry, customer_id, agent, by=account, dry_run=True)


def test_revoking_access_is_refused_for_the_pending_wallet(registry, manager, customer2, agent, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    with reverts_with("CallerNotManagerOrCustomer", customer_id, customer2):
        revoke(registry, customer_id, agent, by=customer2, dry_run=True)
