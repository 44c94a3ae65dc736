"""CrmRegistry consent by transaction: setConsent, hasConsent, and what withdrawing consent revokes.

Purposes 4 (marketing), 6 (profiling) and 7 (third-party sharing) need the customer's consent;
the others rest on the contract or a legal obligation and cannot be consented to. Consent by
signature (setConsentBySig) is in test_registry_signatures.py.

Refusals are checked by simulating the transaction (eth_call): the same code path without mining a
block, which keeps the suite fast and clear of Brownie's receipt polling.
"""

from __future__ import annotations

import pytest

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
    random_hash,
    readers_hash,
    reverts_with,
)

CONSENT_PURPOSES = [PURPOSE_MARKETING, PURPOSE_PROFILING, PURPOSE_THIRD_PARTY]
FIRST_INVALID_PURPOSE = 8
HIGHEST_UINT8 = 255


def readers_hash_after(registry, customer_id: int, joining=()) -> bytes:
    """The readers hash a version must carry once `joining` became readers."""
    readers = {str(reader).lower() for reader in registry.readersOf(customer_id)}
    readers |= {str(getattr(account, "address", account)).lower() for account in joining}
    return readers_hash(*readers)


def grant(registry, customer_id: int, staff, by, purpose: int, dry_run: bool = False):
    """Grant `staff` access, re-sealing the profile for the reader set that results.

    With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals.
    """
    sealed_for = readers_hash_after(registry, customer_id, joining=[staff])
    send = registry.grantAccess.call if dry_run else registry.grantAccess
    return send(customer_id, staff, purpose, random_hash(), random_hash(), sealed_for, {"from": by})


@pytest.fixture
def marketing_grants(registry, manager, customer, agent2, auditor, customer_id) -> None:
    """The customer consents to marketing; agent2 and the auditor are granted access for it."""
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})
    grant(registry, customer_id, agent2, by=manager, purpose=PURPOSE_MARKETING)
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_MARKETING)


# ---------------------------------------------------------------- giving and withdrawing


def test_the_customer_gives_consent_for_each_purpose_that_needs_it(registry, customer, customer_id):
    for purpose in CONSENT_PURPOSES:
        registry.setConsent(customer_id, purpose, True, {"from": customer})

    assert [registry.hasConsent(customer_id, purpose) for purpose in CONSENT_PURPOSES] == [True, True, True]
    assert registry.customerOf(customer_id)["consentBits"] == sum(1 << purpose for purpose in CONSENT_PURPOSES)


def test_giving_consent_emits_consent_changed(registry, customer, customer_id):
    tx = registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})

    event = tx.events["ConsentChanged"]
    assert event["customerId"] == customer_id
    assert event["purpose"] == PURPOSE_MARKETING
    assert event["granted"] is True
    assert event["relayer"] == customer


def test_the_customer_withdraws_consent(registry, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})

    tx = registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    assert registry.hasConsent(customer_id, PURPOSE_MARKETING) is False
    event = tx.events["ConsentChanged"]
    assert (event["customerId"], event["purpose"], event["granted"], event["relayer"]) == (
        customer_id,
        PURPOSE_MARKETING,
        False,
        customer,
    )


def test_consent_is_absent_before_the_customer_gives_it(registry, customer_id):
    consents = [registry.hasConsent(customer_id, purpose) for purpose in CONSENT_PURPOSES]

    assert consents == [False, False, False]


def test_consent_for_one_purpose_does_not_imply_another(registry, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})

    consents = (
        registry.hasConsent(customer_id, PURPOSE_PROFILING),
        registry.hasConsent(customer_id, PURPOSE_THIRD_PARTY),
    )

    assert consents == (False, False)


def test_consent_for_one_customer_does_not_leak_to_another(registry, customer, customer_id, register):
    other = register(wallet=customer)
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})

    consent = registry.hasConsent(other, PURPOSE_MARKETING)

    assert consent is False


def test_consent_for_a_purpose_out_of_range_reads_as_absent(registry, customer_id):
    consent = registry.hasConsent(customer_id, HIGHEST_UINT8)

    assert consent is False


def test_setting_consent_for_a_purpose_that_does_not_need_it_reverts(registry, customer, customer_id):
    for purpose in (
        0,
        PURPOSE_SALES,
        PURPOSE_SUPPORT,
        PURPOSE_BILLING,
        PURPOSE_AUDIT,
        FIRST_INVALID_PURPOSE,
        HIGHEST_UINT8,
    ):
        with reverts_with("PurposeInvalid", purpose):
            registry.setConsent.call(customer_id, purpose, True, {"from": customer})


def test_giving_consent_already_given_reverts(registry, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})

    with reverts_with("ConsentUnchanged", customer_id, PURPOSE_MARKETING, True):
        registry.setConsent.call(customer_id, PURPOSE_MARKETING, True, {"from": customer})


def test_withdrawing_consent_never_given_reverts(registry, customer, customer_id):
    with reverts_with("ConsentUnchanged", customer_id, PURPOSE_MARKETING, False):
        registry.setConsent.call(customer_id, PURPOSE_MARKETING, False, {"from": customer})


def test_setting_consent_is_refused_for_anyone_but_the_customer_wallet(
    registry, manager, agent, auditor, admin, customer2, stranger, customer_id
):
    for account in (manager, agent, auditor, admin, customer2, stranger):
        with reverts_with("CallerNotCustomer", customer_id, account):
            registry.setConsent.call(customer_id, PURPOSE_MARKETING, True, {"from": account})


def test_setting_consent_is_refused_for_the_pending_wallet(registry, manager, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    with reverts_with("CallerNotCustomer", customer_id, customer2):
        registry.setConsent.call(customer_id, PURPOSE_MARKETING, True, {"from": customer2})


def test_nobody_sets_consent_for_a_customer_without_a_wallet(registry, manager, register):
    customer_without_wallet = register()

    with reverts_with("CallerNotCustomer", customer_without_wallet, manager):
        registry.setConsent.call(customer_without_wallet, PURPOSE_MARKETING, True, {"from": manager})


# ---------------------------------------------------------------- consent and grants


def test_a_grant_for_a_purpose_that_needs_consent_is_refused_without_it(registry, manager, agent2, customer_id):
    for purpose in CONSENT_PURPOSES:
        with reverts_with("PurposeNeedsConsent", customer_id, purpose):
            grant(registry, customer_id, agent2, by=manager, purpose=purpose, dry_run=True)


def test_a_grant_needs_consent_even_when_the_customer_grants_it(registry, customer, agent2, customer_id):
    with reverts_with("PurposeNeedsConsent", customer_id, PURPOSE_MARKETING):
        grant(registry, customer_id, agent2, by=customer, purpose=PURPOSE_MARKETING, dry_run=True)


def test_a_grant_for_a_purpose_the_customer_consented_to_is_accepted(
    registry, manager, customer, agent2, auditor, customer_id
):
    grantees = dict(zip(CONSENT_PURPOSES, (agent2, auditor, manager), strict=True))
    for purpose in CONSENT_PURPOSES:
        registry.setConsent(customer_id, purpose, True, {"from": customer})

    for purpose, staff in grantees.items():
        grant(registry, customer_id, staff, by=manager, purpose=purpose)

    assert {p: tuple(registry.accessOf(customer_id, s))[:2] for p, s in grantees.items()} == {
        purpose: (purpose, True) for purpose in CONSENT_PURPOSES
    }


def test_withdrawing_consent_deactivates_every_grant_for_that_purpose(
    registry, customer, agent2, auditor, customer_id, marketing_grants
):
    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    for staff in (agent2, auditor):
        assert registry.hasActiveGrant(customer_id, staff) is False
        assert tuple(registry.accessOf(customer_id, staff))[:2] == (PURPOSE_MARKETING, False)
        assert staff.address not in registry.granteesOf(customer_id)


def test_withdrawing_consent_emits_access_revoked_in_the_wallets_name_for_each_grant(
    registry, customer, agent2, auditor, customer_id, marketing_grants
):
    tx = registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    assert [event.name for event in tx.events] == ["ConsentChanged", "AccessRevoked", "AccessRevoked"]
    revoked = {event["staff"]: event for event in tx.events["AccessRevoked"]}
    assert set(revoked) == {agent2.address, auditor.address}
    for event in revoked.values():
        assert (event["customerId"], event["purpose"], event["actor"]) == (customer_id, PURPOSE_MARKETING, customer)


def test_withdrawing_consent_leaves_grants_for_other_purposes(registry, customer, agent, customer_id, marketing_grants):
    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    assert registry.hasActiveGrant(customer_id, agent) is True
    assert tuple(registry.accessOf(customer_id, agent))[:2] == (PURPOSE_SALES, True)
    assert registry.granteesOf(customer_id) == (agent.address,)


def test_withdrawing_one_consent_leaves_grants_under_another_consent(
    registry, manager, customer, agent2, auditor, customer_id
):
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})
    registry.setConsent(customer_id, PURPOSE_PROFILING, True, {"from": customer})
    grant(registry, customer_id, agent2, by=manager, purpose=PURPOSE_MARKETING)
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_PROFILING)

    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    assert registry.hasActiveGrant(customer_id, agent2) is False
    assert registry.hasActiveGrant(customer_id, auditor) is True


def test_withdrawing_consent_shrinks_the_readers(
    registry, customer, agent, agent2, auditor, manager, customer_id, marketing_grants
):
    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    assert bytes(registry.readersHashOf(customer_id)) == readers_hash(agent, manager, customer)
    assert agent2.address not in registry.readersOf(customer_id)
    assert auditor.address not in registry.readersOf(customer_id)


def test_after_a_withdrawal_the_next_version_must_be_sealed_without_the_revoked_staff(
    registry, customer, agent, manager, customer_id, marketing_grants
):
    sealed_with_grantees = bytes(registry.readersHashOf(customer_id))
    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    with reverts_with(
        "ProfileReadersMismatch", customer_id, readers_hash(agent, manager, customer), sealed_with_grantees
    ):
        registry.updateProfile.call(customer_id, random_hash(), random_hash(), sealed_with_grantees, {"from": customer})


def test_an_agent_whose_grant_fell_with_the_consent_can_no_longer_log(
    registry, customer, agent2, customer_id, marketing_grants
):
    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    with reverts_with("CallerWithoutAccess", customer_id, agent2):
        registry.logInteraction.call(customer_id, KIND_CALL, OUTCOME_POSITIVE, random_hash(), {"from": agent2})


def test_giving_consent_again_does_not_restore_a_deactivated_grant(
    registry, customer, agent2, customer_id, marketing_grants
):
    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})

    assert registry.hasActiveGrant(customer_id, agent2) is False


def test_a_grant_deactivated_by_withdrawal_may_be_granted_again_after_new_consent(
    registry, manager, customer, agent2, customer_id, marketing_grants
):
    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})

    tx = grant(registry, customer_id, agent2, by=manager, purpose=PURPOSE_MARKETING)

    assert tuple(registry.accessOf(customer_id, agent2)) == (PURPOSE_MARKETING, True, tx.timestamp)
