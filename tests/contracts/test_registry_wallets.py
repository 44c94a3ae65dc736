"""CrmRegistry wallet binding by transaction: proposeWallet, acceptWallet, and the forged-consent attack.

A wallet has a customer's powers (consent, grants, erasure) only once the wallet itself accepted.
Binding by signature (acceptWalletBySig) is in test_registry_signatures.py.

Refusals are checked by simulating the transaction (eth_call): the same code path without mining a
block, which keeps the suite fast and clear of Brownie's receipt polling.
"""

from __future__ import annotations

import pytest
from brownie import web3

from tests.contracts.helpers import (
    PURPOSE_MARKETING,
    PURPOSE_SALES,
    PURPOSE_SUPPORT,
    ZERO_ADDRESS,
    new_public_key,
    public_key_of,
    random_hash,
    readers_hash,
    reverts_with,
)


def readers_hash_after(registry, customer_id: int, joining=()) -> bytes:
    """The readers hash a version must carry once `joining` became readers."""
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


RECOVERY_DELAY_SECONDS = 7 * 24 * 3600


def register_proposing(registry, agent, manager, wallet) -> int:
    """Register a customer through `agent`, proposing `wallet` at registration."""
    tx = registry.registerCustomer(
        random_hash(), random_hash(), readers_hash(agent, manager), wallet, PURPOSE_SALES, {"from": agent}
    )
    return tx.return_value


def decoded_event(registry, tx, name: str):
    """The event as web3 decodes it: Brownie decodes an empty `bytes` field as b"\\x00"."""
    contract = web3.eth.contract(address=registry.address, abi=registry.abi)
    receipt = web3.eth.get_transaction_receipt(tx.txid)
    (event,) = getattr(contract.events, name)().process_receipt(receipt)
    return event["args"]


@pytest.fixture(scope="module")
def customer_without_wallet(register) -> int:
    return register()


# ---------------------------------------------------------------- proposeWallet


def test_a_manager_proposes_a_wallet(registry, manager, customer, customer_without_wallet):
    tx = registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    assert registry.pendingWalletOf(customer_without_wallet) == customer
    event = tx.events["WalletProposed"]
    assert event["customerId"] == customer_without_wallet
    assert event["wallet"] == customer
    assert event["proposer"] == manager


def test_the_registrar_proposes_a_wallet_for_a_customer_without_one(registry, agent, customer, customer_without_wallet):
    tx = registry.proposeWallet(customer_without_wallet, customer, {"from": agent})

    assert registry.pendingWalletOf(customer_without_wallet) == customer
    assert tx.events["WalletProposed"]["proposer"] == agent


def test_an_agent_granted_access_later_proposes_a_wallet_for_a_customer_without_one(
    registry, manager, agent2, customer, customer_without_wallet
):
    grant(registry, customer_without_wallet, agent2, by=manager)

    tx = registry.proposeWallet(customer_without_wallet, customer, {"from": agent2})

    assert registry.pendingWalletOf(customer_without_wallet) == customer
    assert tx.events["WalletProposed"]["proposer"] == agent2


def test_the_current_wallet_proposes_its_successor(registry, customer, customer2, customer_id):
    tx = registry.proposeWallet(customer_id, customer2, {"from": customer})

    assert registry.pendingWalletOf(customer_id) == customer2
    event = tx.events["WalletProposed"]
    assert (event["customerId"], event["wallet"], event["proposer"]) == (customer_id, customer2, customer)


def test_a_proposed_wallet_has_no_power_until_it_accepts(registry, manager, customer, customer2, customer_id):
    readers_before = registry.readersOf(customer_id)

    registry.proposeWallet(customer_id, customer2, {"from": manager})

    assert registry.walletOf(customer_id) == customer
    assert registry.readersOf(customer_id) == readers_before
    with reverts_with("CallerNotCustomer", customer_id, customer2):
        registry.setConsent.call(customer_id, PURPOSE_MARKETING, True, {"from": customer2})


def test_a_new_proposal_replaces_the_pending_one(registry, manager, customer, customer2, customer_without_wallet):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    registry.proposeWallet(customer_without_wallet, customer2, {"from": manager})

    assert registry.pendingWalletOf(customer_without_wallet) == customer2
    with reverts_with("WalletNotProposed", customer_without_wallet, customer):
        registry.acceptWallet.call(customer_without_wallet, public_key_of(customer), {"from": customer})


def test_proposing_the_zero_address_withdraws_the_proposal_for_a_customer_without_a_wallet(
    registry, manager, customer, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    tx = registry.proposeWallet(customer_without_wallet, ZERO_ADDRESS, {"from": manager})

    assert registry.pendingWalletOf(customer_without_wallet) == ZERO_ADDRESS
    event = tx.events["WalletProposed"]
    assert (event["customerId"], event["wallet"], event["proposer"]) == (customer_without_wallet, ZERO_ADDRESS, manager)
    with reverts_with("WalletNotProposed", customer_without_wallet, customer):
        registry.acceptWallet.call(customer_without_wallet, public_key_of(customer), {"from": customer})


def test_the_current_wallet_withdraws_a_successor_proposal(registry, manager, customer, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    registry.proposeWallet(customer_id, ZERO_ADDRESS, {"from": customer})

    assert registry.pendingWalletOf(customer_id) == ZERO_ADDRESS
    assert registry.walletOf(customer_id) == customer


def test_proposing_a_wallet_is_refused_for_anyone_but_a_manager_a_granted_agent_or_the_wallet(
    registry, agent2, auditor, admin, customer2, stranger, customer_without_wallet
):
    for account in (agent2, auditor, admin, customer2, stranger):
        with reverts_with("CallerWithoutAccess", customer_without_wallet, account):
            registry.proposeWallet.call(customer_without_wallet, customer2, {"from": account})


def test_proposing_a_wallet_is_refused_for_an_auditor_with_a_grant(
    registry, manager, auditor, customer, customer_without_wallet
):
    grant(registry, customer_without_wallet, auditor, by=manager)

    with reverts_with("CallerWithoutAccess", customer_without_wallet, auditor):
        registry.proposeWallet.call(customer_without_wallet, customer, {"from": auditor})


def test_proposing_a_wallet_is_refused_for_an_agent_whose_grant_was_revoked(
    registry, manager, agent, customer, customer_without_wallet
):
    sealed_for = readers_hash(manager)
    registry.revokeAccess(customer_without_wallet, agent, random_hash(), random_hash(), sealed_for, {"from": manager})

    with reverts_with("CallerWithoutAccess", customer_without_wallet, agent):
        registry.proposeWallet.call(customer_without_wallet, customer, {"from": agent})


def test_proposing_a_wallet_is_refused_for_the_granted_agent_once_a_wallet_is_bound(
    registry, agent, stranger, customer_id
):
    assert registry.hasActiveGrant(customer_id, agent) is True

    with reverts_with("CallerWithoutAccess", customer_id, agent):
        registry.proposeWallet.call(customer_id, stranger, {"from": agent})


def test_proposing_a_wallet_is_refused_for_the_pending_wallet(registry, manager, customer2, stranger, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    with reverts_with("CallerWithoutAccess", customer_id, customer2):
        registry.proposeWallet.call(customer_id, stranger, {"from": customer2})


def test_proposing_a_wallet_is_refused_for_the_previous_wallet(registry, manager, customer, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": customer})
    registry.acceptWallet(customer_id, public_key_of(customer2), {"from": customer2})

    with reverts_with("CallerWithoutAccess", customer_id, customer):
        registry.proposeWallet.call(customer_id, customer, {"from": customer})


def test_proposing_a_staff_account_as_wallet_reverts(
    registry, agent, agent2, manager, auditor, customer_without_wallet
):
    for staff in (agent, agent2, manager, auditor):
        with reverts_with("WalletInvalid", customer_without_wallet, staff):
            registry.proposeWallet.call(customer_without_wallet, staff, {"from": manager})


def test_proposing_the_current_wallet_again_reverts(registry, manager, customer, customer_id):
    with reverts_with("WalletInvalid", customer_id, customer):
        registry.proposeWallet.call(customer_id, customer, {"from": manager})


# ---------------------------------------------------------------- acceptWallet


def test_the_proposed_wallet_accepts_with_its_public_key(registry, manager, customer, customer_without_wallet):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    registry.acceptWallet(customer_without_wallet, public_key_of(customer), {"from": customer})

    assert registry.walletOf(customer_without_wallet) == customer
    assert registry.pendingWalletOf(customer_without_wallet) == ZERO_ADDRESS
    record = registry.customerOf(customer_without_wallet)
    assert (record["wallet"], record["pendingWallet"]) == (customer.address, ZERO_ADDRESS)


def test_accepting_a_wallet_emits_wallet_accepted(registry, manager, customer, customer_without_wallet):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    tx = registry.acceptWallet(customer_without_wallet, public_key_of(customer), {"from": customer})

    event = tx.events["WalletAccepted"]
    assert event["customerId"] == customer_without_wallet
    assert event["previousWallet"] == ZERO_ADDRESS
    assert event["newWallet"] == customer
    assert bytes(event["publicKey"]) == public_key_of(customer)
    assert event["relayer"] == customer


def test_an_accepted_wallet_becomes_a_reader(registry, agent, manager, customer, customer_without_wallet):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    registry.acceptWallet(customer_without_wallet, public_key_of(customer), {"from": customer})

    assert bytes(registry.readersHashOf(customer_without_wallet)) == readers_hash(agent, manager, customer)


def test_an_accepted_wallet_holds_the_customers_powers(registry, manager, customer, customer_without_wallet):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})
    registry.acceptWallet(customer_without_wallet, public_key_of(customer), {"from": customer})

    tx = registry.setConsent(customer_without_wallet, PURPOSE_MARKETING, True, {"from": customer})

    assert tx.events["ConsentChanged"]["relayer"] == customer


def test_accepting_a_successor_replaces_the_wallet_and_names_the_previous_one(
    registry, customer, customer2, customer_id
):
    registry.proposeWallet(customer_id, customer2, {"from": customer})

    tx = registry.acceptWallet(customer_id, public_key_of(customer2), {"from": customer2})

    assert registry.walletOf(customer_id) == customer2
    event = tx.events["WalletAccepted"]
    assert (event["previousWallet"], event["newWallet"]) == (customer, customer2)


def test_the_previous_wallet_loses_the_customers_powers(registry, customer, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": customer})
    registry.acceptWallet(customer_id, public_key_of(customer2), {"from": customer2})

    with reverts_with("CallerNotCustomer", customer_id, customer):
        registry.setConsent.call(customer_id, PURPOSE_MARKETING, True, {"from": customer})
    assert customer.address not in registry.readersOf(customer_id)


def test_a_wallet_with_a_directory_key_accepts_with_an_empty_key(registry, manager, customer, customer_without_wallet):
    directory_key = new_public_key()
    registry.registerEncryptionKey(directory_key, {"from": customer})
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    tx = registry.acceptWallet(customer_without_wallet, b"", {"from": customer})

    assert registry.walletOf(customer_without_wallet) == customer
    assert decoded_event(registry, tx, "WalletAccepted")["publicKey"] == b""


def test_accepting_with_an_empty_key_without_a_directory_key_reverts(
    registry, manager, customer, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    with reverts_with("WalletWithoutEncryptionKey", customer):
        registry.acceptWallet.call(customer_without_wallet, b"", {"from": customer})


def test_accepting_with_a_key_that_does_not_hash_to_the_wallet_reverts(
    registry, manager, customer, customer2, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    with reverts_with("WalletKeyMismatch", customer):
        registry.acceptWallet.call(customer_without_wallet, public_key_of(customer2), {"from": customer})


def test_accepting_with_a_key_of_the_wrong_length_reverts(registry, manager, customer, customer_without_wallet):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    for length in (33, 63, 65):
        key = (public_key_of(customer) + b"\x00")[:length]
        with reverts_with("EncryptionKeyLengthInvalid", length):
            registry.acceptWallet.call(customer_without_wallet, key, {"from": customer})


def test_accepting_without_any_proposal_reverts(registry, customer, customer_without_wallet):
    with reverts_with("WalletNotProposed", customer_without_wallet, customer):
        registry.acceptWallet.call(customer_without_wallet, public_key_of(customer), {"from": customer})


def test_only_the_proposed_wallet_may_accept(
    registry, manager, agent, customer, customer2, stranger, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})

    for account in (customer2, stranger, manager, agent):
        with reverts_with("WalletNotProposed", customer_without_wallet, account):
            registry.acceptWallet.call(customer_without_wallet, public_key_of(account), {"from": account})


def test_accepting_twice_reverts(registry, manager, customer, customer_without_wallet):
    registry.proposeWallet(customer_without_wallet, customer, {"from": manager})
    registry.acceptWallet(customer_without_wallet, public_key_of(customer), {"from": customer})

    with reverts_with("WalletNotProposed", customer_without_wallet, customer):
        registry.acceptWallet.call(customer_without_wallet, public_key_of(customer), {"from": customer})


def test_a_proposal_for_one_customer_cannot_be_accepted_for_another(registry, manager, customer, register):
    proposed_for, other = register(), register()
    registry.proposeWallet(proposed_for, customer, {"from": manager})

    with reverts_with("WalletNotProposed", other, customer):
        registry.acceptWallet.call(other, public_key_of(customer), {"from": customer})


def test_a_wallet_that_became_staff_after_its_proposal_cannot_accept(
    registry, admin, manager, stranger, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, stranger, {"from": manager})
    registry.grantRole(registry.AGENT_ROLE(), stranger, {"from": admin})

    with reverts_with("WalletInvalid", customer_without_wallet, stranger):
        registry.acceptWallet.call(customer_without_wallet, public_key_of(stranger), {"from": stranger})


def test_one_wallet_may_be_bound_to_several_customers(registry, manager, customer, customer_id, register):
    other = register()
    registry.proposeWallet(other, customer, {"from": manager})

    registry.acceptWallet(other, public_key_of(customer), {"from": customer})

    assert (registry.walletOf(customer_id), registry.walletOf(other)) == (customer, customer)


# ---------------------------------------------------------------- the forged-consent attack


def test_an_agent_cannot_forge_consent_through_a_second_wallet_of_his_own(registry, agent, manager, customer, stranger):
    # The agent registers a customer and proposes `stranger`, a second wallet he controls, hoping
    # to give marketing consent, grant access and erase in the customer's name.
    customer_id = register_proposing(registry, agent, manager, stranger)

    # While it is only proposed, the second wallet has none of the customer's powers.
    with reverts_with("CallerNotCustomer", customer_id, stranger):
        registry.setConsent.call(customer_id, PURPOSE_MARKETING, True, {"from": stranger})
    with reverts_with("CallerNotManagerOrCustomer", customer_id, stranger):
        grant(registry, customer_id, manager, by=stranger, dry_run=True)
    with reverts_with("CallerNotManagerOrCustomer", customer_id, stranger):
        registry.eraseCustomer.call(customer_id, random_hash(), {"from": stranger})

    # A manager replaces the proposal with the real customer's wallet, which accepts.
    registry.proposeWallet(customer_id, customer, {"from": manager})
    registry.acceptWallet(customer_id, public_key_of(customer), {"from": customer})

    # The agent can no longer re-point the customer to his wallet, nor accept the old proposal.
    with reverts_with("CallerWithoutAccess", customer_id, agent):
        registry.proposeWallet.call(customer_id, stranger, {"from": agent})
    with reverts_with("WalletNotProposed", customer_id, stranger):
        registry.acceptWallet.call(customer_id, public_key_of(stranger), {"from": stranger})

    # A manager's new proposal changes nothing until that wallet accepts: the customer keeps
    # every power and can withdraw the proposal.
    registry.proposeWallet(customer_id, stranger, {"from": manager})
    assert registry.walletOf(customer_id) == customer
    with reverts_with("CallerNotCustomer", customer_id, stranger):
        registry.setConsent.call(customer_id, PURPOSE_MARKETING, True, {"from": stranger})
    registry.proposeWallet(customer_id, ZERO_ADDRESS, {"from": customer})
    with reverts_with("WalletNotProposed", customer_id, stranger):
        registry.acceptWallet.call(customer_id, public_key_of(stranger), {"from": stranger})
    assert registry.hasConsent(customer_id, PURPOSE_MARKETING) is False
    assert registry.walletOf(customer_id) == customer


def test_a_wallet_proposed_at_registration_has_none_of_the_customers_powers(
    registry, agent, manager, customer2, stranger
):
    customer_id = register_proposing(registry, agent, manager, stranger)
    acts = [
        ("CallerNotCustomer", registry.setConsent, (customer_id, PURPOSE_MARKETING, True)),
        (
            "CallerNotManagerOrCustomer",
            registry.grantAccess,
            (customer_id, manager, PURPOSE_SUPPORT, random_hash(), random_hash(), readers_hash(agent, manager)),
        ),
        (
            "CallerNotManagerOrCustomer",
            registry.revokeAccess,
            (customer_id, agent, random_hash(), random_hash(), readers_hash(manager)),
        ),
        ("CallerNotManagerOrCustomer", registry.eraseCustomer, (customer_id, random_hash())),
        ("CallerWithoutAccess", registry.proposeWallet, (customer_id, customer2)),
        (
            "CallerWithoutAccess",
            registry.updateProfile,
            (customer_id, random_hash(), random_hash(), readers_hash(agent, manager)),
        ),
    ]

    for error, function, args in acts:
        with reverts_with(error, customer_id, stranger):
            function.call(*args, {"from": stranger})


def test_a_manager_withdraws_a_wallet_an_agent_proposed_at_registration(registry, agent, manager, stranger):
    customer_id = register_proposing(registry, agent, manager, stranger)

    registry.proposeWallet(customer_id, ZERO_ADDRESS, {"from": manager})

    with reverts_with("WalletNotProposed", customer_id, stranger):
        registry.acceptWallet.call(customer_id, public_key_of(stranger), {"from": stranger})


# ---------------------------------------------------------------- four eyes and recovery


def test_an_agents_proposal_cannot_be_accepted_before_a_manager_approves_it(
    registry, agent, customer, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, customer, {"from": agent})

    with reverts_with("WalletNotApproved", customer_without_wallet, customer):
        registry.acceptWallet.call(customer_without_wallet, public_key_of(customer), {"from": customer})


def test_a_manager_approves_an_agents_proposal_and_the_wallet_accepts(
    registry, agent, manager, customer, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, customer, {"from": agent})

    tx = registry.approveWallet(customer_without_wallet, customer, {"from": manager})
    registry.acceptWallet(customer_without_wallet, public_key_of(customer), {"from": customer})

    event = tx.events["WalletApproved"]
    assert (event["customerId"], event["wallet"], event["approver"]) == (customer_without_wallet, customer, manager)
    assert registry.walletOf(customer_without_wallet) == customer


def test_approving_a_wallet_is_refused_for_anyone_but_a_manager(
    registry, agent, agent2, auditor, customer, stranger, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, customer, {"from": agent})

    for caller in (agent, agent2, auditor, customer, stranger):
        with reverts_with("AccessControlUnauthorizedAccount", caller, registry.MANAGER_ROLE()):
            registry.approveWallet.call(customer_without_wallet, customer, {"from": caller})


def test_approving_a_wallet_that_is_not_the_proposed_one_reverts(
    registry, agent, manager, customer, customer2, customer_without_wallet
):
    registry.proposeWallet(customer_without_wallet, customer, {"from": agent})

    with reverts_with("WalletNotProposed", customer_without_wallet, customer2):
        registry.approveWallet.call(customer_without_wallet, customer2, {"from": manager})


def test_one_agent_alone_cannot_bind_a_wallet_of_his_own_and_consent_for_the_customer(
    registry, agent, manager, stranger
):
    """The forged-consent attack with the agent accepting from his own second wallet."""
    own_second_wallet = stranger
    customer_id = register_proposing(registry, agent, manager, own_second_wallet)

    with reverts_with("WalletNotApproved", customer_id, own_second_wallet):
        registry.acceptWallet.call(customer_id, public_key_of(own_second_wallet), {"from": own_second_wallet})
    with reverts_with("CallerNotCustomer", customer_id, own_second_wallet):
        registry.setConsent.call(customer_id, PURPOSE_MARKETING, True, {"from": own_second_wallet})


def test_the_bound_wallet_moves_itself_at_once(registry, customer, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": customer})

    registry.acceptWallet(customer_id, public_key_of(customer2), {"from": customer2})

    assert registry.walletOf(customer_id) == customer2


def test_a_managers_replacement_of_a_bound_wallet_waits_for_the_recovery_delay(
    registry, manager, customer2, customer_id
):
    tx = registry.proposeWallet(customer_id, customer2, {"from": manager})
    acceptable_at = registry.walletProposalOf(customer_id)[2]

    with reverts_with("WalletNotYetAcceptable", customer_id, acceptable_at):
        registry.acceptWallet.call(customer_id, public_key_of(customer2), {"from": customer2})
    assert acceptable_at == tx.timestamp + RECOVERY_DELAY_SECONDS


def test_a_managers_replacement_is_accepted_after_the_recovery_delay(registry, manager, customer2, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})
    acceptable_at = registry.walletProposalOf(customer_id)[2]
    web3.provider.make_request("evm_setNextBlockTimestamp", [acceptable_at])

    registry.acceptWallet(customer_id, public_key_of(customer2), {"from": customer2})

    assert registry.walletOf(customer_id) == customer2


def test_the_bound_wallet_withdraws_a_managers_replacement_during_the_delay(
    registry, manager, customer, customer2, customer_id
):
    registry.proposeWallet(customer_id, customer2, {"from": manager})

    registry.proposeWallet(customer_id, ZERO_ADDRESS, {"from": customer})

    assert registry.pendingWalletOf(customer_id) == ZERO_ADDRESS
    with reverts_with("WalletNotProposed", customer_id, customer2):
        registry.acceptWallet.call(customer_id, public_key_of(customer2), {"from": customer2})
