"""CrmRegistry revokeAccessBySig: the customer's wallet revokes a staff grant by an EIP-712
`RevokeAccess` signature that anyone relays (the customer needs no ETH).

It records no new profile version (a signature cannot carry one): like a consent withdrawal that
ends a grant, the profile then needs a re-seal without the revoked staff member. The signature uses
the customer's one nonce, shared with AcceptWallet and SetConsent.

Messages are built and signed here with eth-account, independently of the contract and the SDK.
Refusals are checked by simulating the transaction (eth_call), except where the block time matters.
"""

from __future__ import annotations

import pytest
from brownie import chain

from tests.contracts.helpers import (
    ADMIN_TRANSFER_DELAY_SECONDS,
    KIND_CALL,
    OUTCOME_POSITIVE,
    PURPOSE_MARKETING,
    PURPOSE_SALES,
    PURPOSE_SUPPORT,
    REVOKE_ACCESS_TYPES,
    ZERO_ADDRESS,
    deadline_ahead,
    public_key_of,
    random_hash,
    readers_hash,
    readers_hash_after,
    reverts_with,
    set_next_block_timestamp,
    sign_registry_message,
    sign_set_consent,
)

RELAYERS = ["stranger", "customer", "agent2", "manager", "admin"]


def sign_revoke(
    registry, signer, customer_id: int, staff, nonce: int | None = None, deadline: int | None = None, **domain
) -> tuple[bytes, int]:
    """`signer`'s RevokeAccess signature for `staff` (by default at the current nonce)."""
    deadline = deadline_ahead() if deadline is None else deadline
    message = {
        "customerId": customer_id,
        "staff": str(getattr(staff, "address", staff)),
        "nonce": registry.nonces(customer_id) if nonce is None else nonce,
        "deadline": deadline,
    }
    return sign_registry_message(registry, signer, REVOKE_ACCESS_TYPES, message, **domain), deadline


def grant(registry, customer_id: int, staff, by, purpose: int = PURPOSE_SUPPORT) -> None:
    sealed_for = readers_hash_after(registry, customer_id, joining=[staff])
    registry.grantAccess(customer_id, staff, purpose, random_hash(), random_hash(), sealed_for, {"from": by})


@pytest.fixture
def granted(registry, manager, agent2, customer_id) -> int:
    """`customer_id` (wallet: `customer`; readers: agent, manager, customer) with agent2 granted
    support access by the manager."""
    grant(registry, customer_id, agent2, by=manager)
    return customer_id


# ---------------------------------------------------------------- the revocation


def test_a_relayer_revokes_a_grant_with_the_wallets_signature(registry, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    tx = registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})

    assert registry.hasActiveGrant(granted, agent2) is False
    assert tuple(registry.accessOf(granted, agent2)) == (PURPOSE_SUPPORT, False, tx.timestamp)
    assert agent2 not in registry.granteesOf(granted)
    assert registry.nonces(granted) == 1


def test_revoking_by_signature_emits_access_revoked_naming_the_wallet_as_actor(
    registry, customer, agent2, stranger, granted
):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    tx = registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})

    assert list(tx.events.keys()) == ["AccessRevoked"]
    event = tx.events["AccessRevoked"]
    assert event["customerId"] == granted
    assert event["staff"] == agent2
    assert event["purpose"] == PURPOSE_SUPPORT
    assert event["actor"] == customer


def test_revoking_by_signature_records_no_new_profile_version(registry, customer, agent2, stranger, granted):
    version = registry.customerOf(granted)["profileVersion"]
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})

    assert registry.customerOf(granted)["profileVersion"] == version


def test_revoking_by_signature_leaves_the_other_grants_and_the_consents(
    registry, customer, agent, agent2, stranger, granted
):
    registry.setConsent(granted, PURPOSE_MARKETING, True, {"from": customer})
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})

    assert list(registry.granteesOf(granted)) == [agent]
    assert tuple(registry.accessOf(granted, agent))[:2] == (PURPOSE_SALES, True)
    assert registry.hasConsent(granted, PURPOSE_MARKETING) is True


@pytest.mark.parametrize("relayer_name", RELAYERS)
def test_any_account_can_relay_the_signature(request, registry, customer, agent2, granted, relayer_name):
    relayer = request.getfixturevalue(relayer_name)
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    tx = registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": relayer})

    assert registry.hasActiveGrant(granted, agent2) is False
    assert tx.events["AccessRevoked"]["actor"] == customer


def test_the_revoked_staff_member_can_no_longer_log_interactions(registry, customer, agent2, stranger, granted):
    registry.logInteraction.call(granted, KIND_CALL, OUTCOME_POSITIVE, random_hash(), {"from": agent2})
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})

    with reverts_with("CallerWithoutAccess", granted, agent2):
        registry.logInteraction.call(granted, KIND_CALL, OUTCOME_POSITIVE, random_hash(), {"from": agent2})


def test_the_revoked_staff_member_is_no_longer_a_reader(registry, customer, agent, agent2, manager, stranger, granted):
    assert bytes(registry.readersHashOf(granted)) == readers_hash(agent, agent2, manager, customer)
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})

    assert bytes(registry.readersHashOf(granted)) == readers_hash(agent, manager, customer)
    assert agent2 not in registry.readersOf(granted)


def test_after_a_revocation_by_signature_the_profile_is_resealed_without_the_staff_member(
    registry, customer, agent, agent2, manager, stranger, granted
):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)
    registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})
    still_with_agent2 = readers_hash(agent, agent2, manager, customer)

    with reverts_with("ProfileReadersMismatch", granted, readers_hash(agent, manager, customer), still_with_agent2):
        registry.updateProfile.call(granted, random_hash(), random_hash(), still_with_agent2, {"from": customer})
    tx = registry.updateProfile(
        granted, random_hash(), random_hash(), readers_hash(agent, manager, customer), {"from": customer}
    )
    assert bytes(tx.events["ProfileUpdated"]["readersHash"]) == readers_hash(agent, manager, customer)


def test_a_signature_is_accepted_in_the_second_of_its_deadline(registry, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)
    set_next_block_timestamp(deadline)

    tx = registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})

    assert tx.timestamp == deadline
    assert registry.hasActiveGrant(granted, agent2) is False


# ---------------------------------------------------------------- refusals


def test_a_revocation_past_its_deadline_reverts(registry, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)
    set_next_block_timestamp(deadline + 1)

    with reverts_with("SignatureExpired", deadline):
        registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})
    assert registry.hasActiveGrant(granted, agent2) is True


def test_a_revocation_signed_by_another_key_than_the_wallet_reverts(
    registry, customer, customer2, agent2, stranger, granted
):
    signature, deadline = sign_revoke(registry, customer2, granted, agent2)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent2, deadline, signature, {"from": stranger})


def test_a_revocation_signed_by_the_revoked_staff_member_reverts(registry, customer, agent2, granted):
    signature, deadline = sign_revoke(registry, agent2, granted, agent2)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent2, deadline, signature, {"from": agent2})


def test_a_revocation_signed_for_another_chain_reverts(registry, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2, chain_id=chain.id + 1)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent2, deadline, signature, {"from": stranger})


def test_a_revocation_signed_for_another_registry_reverts(
    CrmRegistry, registry, admin, customer, agent2, stranger, granted
):
    other_registry = CrmRegistry.deploy(admin, ADMIN_TRANSFER_DELAY_SECONDS, {"from": admin})
    signature, deadline = sign_revoke(registry, customer, granted, agent2, verifying_contract=other_registry.address)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent2, deadline, signature, {"from": stranger})


def test_a_revocation_signed_for_another_customer_reverts(registry, register, customer, agent, stranger, granted):
    # The same wallet and the same staff member (the registering agent) on both customers.
    other = register(wallet=customer)
    signature, deadline = sign_revoke(registry, customer, granted, agent)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(other, agent, deadline, signature, {"from": stranger})


def test_a_revocation_signed_for_another_staff_member_reverts(registry, customer, agent, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent, deadline, signature, {"from": stranger})


def test_a_revocation_with_another_deadline_than_the_signed_one_reverts(registry, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent2, deadline + 1, signature, {"from": stranger})


def test_a_revocation_signed_for_a_later_nonce_reverts(registry, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2, nonce=1)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent2, deadline, signature, {"from": stranger})


def test_replaying_a_revocation_reverts(registry, manager, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)
    registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})
    grant(registry, granted, agent2, by=manager)

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent2, deadline, signature, {"from": stranger})
    assert registry.hasActiveGrant(granted, agent2) is True


def test_revoking_a_staff_member_without_a_grant_reverts(registry, customer, auditor, stranger, customer_id):
    signature, deadline = sign_revoke(registry, customer, customer_id, auditor)

    with reverts_with("AccessNotGranted", customer_id, auditor):
        registry.revokeAccessBySig.call(customer_id, auditor, deadline, signature, {"from": stranger})


def test_revoking_an_already_revoked_grant_by_a_fresh_signature_reverts(registry, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)
    registry.revokeAccessBySig(granted, agent2, deadline, signature, {"from": stranger})
    fresh, fresh_deadline = sign_revoke(registry, customer, granted, agent2)

    with reverts_with("AccessNotGranted", granted, agent2):
        registry.revokeAccessBySig.call(granted, agent2, fresh_deadline, fresh, {"from": stranger})


def test_revoking_by_signature_for_an_erased_customer_reverts(registry, manager, customer, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)
    registry.eraseCustomer(granted, random_hash(), {"from": manager})

    with reverts_with("CustomerIsErased", granted):
        registry.revokeAccessBySig.call(granted, agent2, deadline, signature, {"from": stranger})


def test_revoking_by_signature_for_an_unknown_customer_reverts(registry, customer, agent, stranger, customer_id):
    missing = registry.customerCount() + 1
    signature, deadline = sign_revoke(registry, customer, missing, agent)

    with reverts_with("CustomerUnknown", missing):
        registry.revokeAccessBySig.call(missing, agent, deadline, signature, {"from": stranger})


def test_revoking_by_signature_for_customer_zero_reverts(registry, customer, agent, stranger):
    signature, deadline = sign_revoke(registry, customer, 0, agent)

    with reverts_with("CustomerUnknown", 0):
        registry.revokeAccessBySig.call(0, agent, deadline, signature, {"from": stranger})


def test_revoking_by_signature_for_a_customer_without_a_wallet_reverts(
    registry, register, manager, customer, agent, stranger
):
    # The agent holds its registration grant; `customer` is only proposed, so it has no power yet.
    unbound = register()
    registry.proposeWallet(unbound, customer, {"from": manager})
    signature, deadline = sign_revoke(registry, customer, unbound, agent)

    with reverts_with("CallerNotCustomer", unbound, ZERO_ADDRESS):
        registry.revokeAccessBySig.call(unbound, agent, deadline, signature, {"from": stranger})


def test_a_revocation_signed_by_the_previous_wallet_reverts(registry, customer, customer2, agent2, stranger, granted):
    signature, deadline = sign_revoke(registry, customer, granted, agent2)
    registry.proposeWallet(granted, customer2, {"from": customer})
    registry.acceptWallet(granted, public_key_of(customer2), {"from": customer2})

    with reverts_with("SignatureInvalid", customer2):
        registry.revokeAccessBySig.call(granted, agent2, deadline, signature, {"from": stranger})


# ---------------------------------------------------------------- one nonce with SetConsent


def test_a_consent_signature_made_before_a_revocation_is_refused_after_it(
    registry, customer, agent2, stranger, granted
):
    consent, consent_deadline = sign_set_consent(registry, customer, granted)
    revocation, revocation_deadline = sign_revoke(registry, customer, granted, agent2)
    registry.revokeAccessBySig(granted, agent2, revocation_deadline, revocation, {"from": stranger})

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(granted, PURPOSE_MARKETING, True, consent_deadline, consent, {"from": stranger})
    assert registry.hasConsent(granted, PURPOSE_MARKETING) is False


def test_a_revocation_signed_before_a_consent_change_is_refused_after_it(registry, customer, agent2, stranger, granted):
    revocation, revocation_deadline = sign_revoke(registry, customer, granted, agent2)
    consent, consent_deadline = sign_set_consent(registry, customer, granted)
    registry.setConsentBySig(granted, PURPOSE_MARKETING, True, consent_deadline, consent, {"from": stranger})

    with reverts_with("SignatureInvalid", customer):
        registry.revokeAccessBySig.call(granted, agent2, revocation_deadline, revocation, {"from": stranger})
    assert registry.hasActiveGrant(granted, agent2) is True


def test_revocations_by_signature_take_consecutive_nonces(registry, customer, agent, agent2, stranger, granted):
    first, first_deadline = sign_revoke(registry, customer, granted, agent2)
    registry.revokeAccessBySig(granted, agent2, first_deadline, first, {"from": stranger})
    second, second_deadline = sign_revoke(registry, customer, granted, agent)

    registry.revokeAccessBySig(granted, agent, second_deadline, second, {"from": stranger})

    assert registry.nonces(granted) == 2
    assert list(registry.granteesOf(granted)) == []
