"""CrmRegistry readers: readersOf and readersHashOf, computed from the chain's state, never copied.

The readers of a customer are the accepted wallet, every manager with a published key, and every
grantee that still holds a staff role and a published key; sorted ascending, hashed as
keccak256(abi.encodePacked(address[])).

Refusals are checked by simulating the transaction (eth_call): the same code path without mining a
block, which keeps the suite fast and clear of Brownie's receipt polling.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.contracts.helpers import (
    PURPOSE_AUDIT,
    PURPOSE_SUPPORT,
    public_key_of,
    random_hash,
    readers_hash,
    reverts_with,
)


def addresses(*accounts) -> tuple[str, ...]:
    """Checksummed addresses sorted as the registry sorts readers (by numeric value)."""
    return tuple(sorted((account.address for account in accounts), key=lambda address: int(address, 16)))


def readers_hash_after(registry, customer_id: int, joining=()) -> bytes:
    readers = {str(reader).lower() for reader in registry.readersOf(customer_id)}
    readers |= {str(getattr(account, "address", account)).lower() for account in joining}
    return readers_hash(*readers)


def grant(registry, customer_id: int, staff, by, purpose: int = PURPOSE_SUPPORT, dry_run: bool = False):
    """Grant `staff` access, re-sealing the profile for the reader set that results.

    With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals.
    """
    sealed_for = readers_hash_after(registry, customer_id, joining=[staff])
    send = registry.grantAccess.call if dry_run else registry.grantAccess
    return send(customer_id, staff, purpose, random_hash(), random_hash(), sealed_for, {"from": by})


@pytest.fixture(scope="module")
def manager2(accounts):
    """An account the tests make a second manager."""
    return accounts[9]


def appoint_manager(registry, admin, account, publish_key: bool = True) -> None:
    registry.grantRole(registry.MANAGER_ROLE(), account, {"from": admin})
    if publish_key:
        registry.registerEncryptionKey(public_key_of(account), {"from": account})


# ---------------------------------------------------------------- who reads


def test_the_readers_are_the_wallet_the_managers_and_the_grantees(registry, agent, manager, customer, customer_id):
    readers = registry.readersOf(customer_id)

    assert readers == addresses(agent, manager, customer)


def test_the_readers_are_sorted_ascending(registry, manager, agent2, auditor, customer_id):
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_AUDIT)
    grant(registry, customer_id, agent2, by=manager)

    readers = registry.readersOf(customer_id)

    assert list(readers) == sorted(readers, key=lambda address: int(address, 16))
    assert len(readers) == len(set(readers)) == 5


def test_the_readers_hash_is_the_keccak_of_the_packed_sorted_readers(registry, customer_id):
    readers = registry.readersOf(customer_id)

    packed = b"".join(bytes.fromhex(address[2:]).rjust(32, b"\x00") for address in readers)
    assert bytes(registry.readersHashOf(customer_id)) == keccak(packed)


def test_a_customer_without_a_wallet_is_read_by_the_registrar_and_the_managers(registry, agent, manager, register):
    customer_id = register()

    readers = registry.readersOf(customer_id)

    assert readers == addresses(agent, manager)


def test_a_pending_wallet_is_not_a_reader(registry, manager, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    readers = registry.readersOf(customer_id)

    assert customer2.address not in readers


def test_a_grantee_becomes_a_reader(registry, agent, agent2, manager, customer, customer_id):
    grant(registry, customer_id, agent2, by=manager)

    readers = registry.readersOf(customer_id)

    assert readers == addresses(agent, agent2, manager, customer)


def test_a_grantee_whose_staff_role_was_revoked_drops_out(registry, admin, agent, manager, customer, customer_id):
    registry.revokeRole(registry.AGENT_ROLE(), agent, {"from": admin})

    readers = registry.readersOf(customer_id)

    assert readers == addresses(manager, customer)
    assert bytes(registry.readersHashOf(customer_id)) == readers_hash(manager, customer)


def test_a_grantee_who_renounced_the_role_drops_out(registry, agent, manager, customer, customer_id):
    registry.renounceRole(registry.AGENT_ROLE(), agent, {"from": agent})

    readers = registry.readersOf(customer_id)

    assert readers == addresses(manager, customer)


def test_a_grantee_whose_role_changed_to_another_staff_role_stays_a_reader(
    registry, admin, agent, manager, customer, customer_id
):
    registry.grantRole(registry.AUDITOR_ROLE(), agent, {"from": admin})
    registry.revokeRole(registry.AGENT_ROLE(), agent, {"from": admin})

    readers = registry.readersOf(customer_id)

    assert readers == addresses(agent, manager, customer)


def test_a_revoked_grantee_drops_out(registry, manager, agent, customer, customer_id):
    registry.revokeAccess(
        customer_id, agent, random_hash(), random_hash(), readers_hash(manager, customer), {"from": manager}
    )

    readers = registry.readersOf(customer_id)

    assert readers == addresses(manager, customer)


# ---------------------------------------------------------------- managers, the standing readers


def test_a_manager_reads_every_customer_without_a_grant(registry, manager, register):
    customers = [register(), register()]

    readers = [registry.readersOf(customer_id) for customer_id in customers]

    assert all(manager.address in each for each in readers)
    assert all(registry.hasActiveGrant(customer_id, manager) is False for customer_id in customers)


def test_a_new_manager_with_a_key_becomes_a_reader_of_existing_customers(
    registry, admin, agent, manager, manager2, customer, customer_id
):
    appoint_manager(registry, admin, manager2)

    readers = registry.readersOf(customer_id)

    assert readers == addresses(agent, manager, manager2, customer)


def test_a_manager_without_a_published_key_is_not_a_reader(registry, admin, manager2, customer_id):
    appoint_manager(registry, admin, manager2, publish_key=False)

    readers = registry.readersOf(customer_id)

    assert manager2.address not in readers


def test_a_manager_becomes_a_reader_when_publishing_a_key(registry, admin, manager2, customer_id):
    appoint_manager(registry, admin, manager2, publish_key=False)

    registry.registerEncryptionKey(public_key_of(manager2), {"from": manager2})

    assert manager2.address in registry.readersOf(customer_id)


def test_a_revoked_manager_drops_out(registry, admin, agent, manager, customer, customer_id):
    registry.revokeRole(registry.MANAGER_ROLE(), manager, {"from": admin})

    readers = registry.readersOf(customer_id)

    assert readers == addresses(agent, customer)


def test_a_revoked_manager_with_a_grant_drops_out(registry, admin, agent, manager, customer, customer_id):
    unchanged = bytes(registry.readersHashOf(customer_id))
    registry.grantAccess(
        customer_id, manager, PURPOSE_SUPPORT, random_hash(), random_hash(), unchanged, {"from": manager}
    )

    registry.revokeRole(registry.MANAGER_ROLE(), manager, {"from": admin})

    assert registry.readersOf(customer_id) == addresses(agent, customer)


def test_a_manager_with_a_grant_is_counted_once(registry, manager, customer_id):
    unchanged = bytes(registry.readersHashOf(customer_id))

    registry.grantAccess(
        customer_id, manager, PURPOSE_SUPPORT, random_hash(), random_hash(), unchanged, {"from": manager}
    )

    assert list(registry.readersOf(customer_id)).count(manager.address) == 1


def test_the_next_version_must_be_sealed_for_a_new_manager(registry, admin, agent, manager, manager2, customer_id):
    sealed_before = bytes(registry.readersHashOf(customer_id))
    appoint_manager(registry, admin, manager2)

    with reverts_with(
        "ProfileReadersMismatch",
        customer_id,
        readers_hash_after(registry, customer_id),
        sealed_before,
    ):
        registry.updateProfile.call(customer_id, random_hash(), random_hash(), sealed_before, {"from": agent})


def test_the_managers_view_lists_the_current_managers(registry, admin, manager, manager2):
    appoint_manager(registry, admin, manager2, publish_key=False)

    current = registry.managers()

    assert sorted(current) == sorted([manager.address, manager2.address])


def test_unknown_customers_are_read_by_the_managers_only(registry, manager, customer_id):
    missing = registry.customerCount() + 1

    readers = registry.readersOf(missing)

    assert readers == (manager.address,)
