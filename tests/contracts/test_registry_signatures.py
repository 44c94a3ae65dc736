"""CrmRegistry EIP-712 signatures: acceptWalletBySig and setConsentBySig, relayed by anyone.

Messages are built and signed here with eth-account, independently of the contract: the domain
is ("chaincrm CrmRegistry", "2", chain id, registry), and the two types share one nonce per customer.

Refusals are checked by simulating the transaction (eth_call): the same code path without mining a
block, which keeps the suite fast and clear of Brownie's receipt polling.
"""

from __future__ import annotations

import pytest
from brownie import chain, web3
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from tests.contracts.helpers import (
    ACCEPT_WALLET_TYPES,
    ADMIN_TRANSFER_DELAY_SECONDS,
    PURPOSE_MARKETING,
    PURPOSE_PROFILING,
    PURPOSE_SALES,
    REGISTRY_DOMAIN_NAME,
    REGISTRY_DOMAIN_VERSION,
    SET_CONSENT_TYPES,
    ZERO_ADDRESS,
    deadline_ahead,
    new_public_key,
    public_key_of,
    random_hash,
    readers_hash_after,
    registry_domain,
    reverts_with,
    set_next_block_timestamp,
    sign_registry_message,
    sign_set_consent,
)

# ERC-5267 fields bitmap: name, version, chainId, verifyingContract (no salt, no extensions).
EIP712_FIELDS = b"\x0f"
# CustomerRecord's nonce, the top 16 bits of the record's single slot; _customers is mapping slot 9
# (the test checks the slot holds the wallet before writing to it).
CUSTOMERS_MAPPING_SLOT = 9
NONCE_SHIFT_BITS = 240
MAX_NONCE = 2**16 - 1
ADDRESS_MASK = 2**160 - 1


def sign_accept_wallet(
    registry,
    signer,
    customer_id: int,
    wallet=None,
    public_key: bytes | None = None,
    nonce: int | None = None,
    deadline: int | None = None,
    **domain_overrides,
) -> tuple[bytes, int]:
    """`signer`'s AcceptWallet signature (by default for itself, its own key, the current nonce)."""
    deadline = deadline_ahead() if deadline is None else deadline
    message = {
        "customerId": customer_id,
        "wallet": (wallet or signer).address,
        "publicKey": public_key_of(signer) if public_key is None else public_key,
        "nonce": registry.nonces(customer_id) if nonce is None else nonce,
        "deadline": deadline,
    }
    return sign_registry_message(registry, signer, ACCEPT_WALLET_TYPES, message, **domain_overrides), deadline


@pytest.fixture
def pending_customer(registry, register, manager, customer) -> int:
    """A new customer without a wallet, for whom `customer` is proposed."""
    customer_id = register()
    registry.proposeWallet(customer_id, customer, {"from": manager})
    return customer_id


# ---------------------------------------------------------------- the domain


def test_the_domain_separator_binds_name_version_chain_and_registry(registry):
    expected = encode_typed_data(
        registry_domain(registry),
        SET_CONSENT_TYPES,
        {
            "customerId": 0,
            "purpose": 0,
            "granted": False,
            "nonce": 0,
            "deadline": 0,
        },
    ).header

    separator = bytes(registry.DOMAIN_SEPARATOR())

    assert separator == bytes(expected)


def test_the_registry_publishes_its_eip712_domain(registry):
    fields, name, version, chain_id, verifying_contract, salt, extensions = registry.eip712Domain()

    assert bytes(fields) == EIP712_FIELDS
    assert (name, version, chain_id, verifying_contract) == (
        REGISTRY_DOMAIN_NAME,
        REGISTRY_DOMAIN_VERSION,
        chain.id,
        registry.address,
    )
    assert (bytes(salt), tuple(extensions)) == (b"\x00" * 32, ())


def test_a_customer_starts_at_nonce_zero(registry, customer_id):
    nonce = registry.nonces(customer_id)

    assert nonce == 0


# ---------------------------------------------------------------- acceptWalletBySig


def test_a_relayer_binds_the_proposed_wallet_with_its_signature(registry, customer, stranger, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)

    registry.acceptWalletBySig(
        pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
    )

    assert registry.walletOf(pending_customer) == customer
    assert registry.pendingWalletOf(pending_customer) == ZERO_ADDRESS


def test_accepting_by_signature_emits_wallet_accepted_naming_the_relayer(
    registry, customer, stranger, pending_customer
):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)

    tx = registry.acceptWalletBySig(
        pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
    )

    event = tx.events["WalletAccepted"]
    assert event["customerId"] == pending_customer
    assert event["previousWallet"] == ZERO_ADDRESS
    assert event["newWallet"] == customer
    assert bytes(event["publicKey"]) == public_key_of(customer)
    assert event["relayer"] == stranger


def test_accepting_by_signature_advances_the_nonce(registry, customer, stranger, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)

    registry.acceptWalletBySig(
        pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
    )

    assert registry.nonces(pending_customer) == 1


def test_the_wallet_relays_its_own_signature(registry, customer, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)

    tx = registry.acceptWalletBySig(
        pending_customer, customer, public_key_of(customer), deadline, signature, {"from": customer}
    )

    assert tx.events["WalletAccepted"]["relayer"] == customer


def test_a_wallet_with_a_directory_key_accepts_by_signature_with_an_empty_key(
    registry, customer, stranger, pending_customer
):
    registry.registerEncryptionKey(new_public_key(), {"from": customer})
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer, public_key=b"")

    registry.acceptWalletBySig(pending_customer, customer, b"", deadline, signature, {"from": stranger})

    assert registry.walletOf(pending_customer) == customer


def test_accepting_by_signature_with_an_empty_key_and_no_directory_key_reverts(
    registry, customer, stranger, pending_customer
):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer, public_key=b"")

    with reverts_with("WalletWithoutEncryptionKey", customer):
        registry.acceptWalletBySig.call(pending_customer, customer, b"", deadline, signature, {"from": stranger})


def test_accepting_by_signature_with_a_key_that_does_not_hash_to_the_wallet_reverts(
    registry, customer, customer2, stranger, pending_customer
):
    other_key = public_key_of(customer2)
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer, public_key=other_key)

    with reverts_with("WalletKeyMismatch", customer):
        registry.acceptWalletBySig.call(pending_customer, customer, other_key, deadline, signature, {"from": stranger})


def test_a_signature_by_another_account_than_the_wallet_reverts(
    registry, customer, customer2, stranger, pending_customer
):
    signature, deadline = sign_accept_wallet(
        registry, customer2, pending_customer, wallet=customer, public_key=public_key_of(customer)
    )

    with reverts_with("SignatureInvalid", customer):
        registry.acceptWalletBySig.call(
            pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )


def test_a_valid_signature_of_a_wallet_that_was_not_proposed_reverts(registry, customer2, stranger, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer2, pending_customer)

    with reverts_with("WalletNotProposed", pending_customer, customer2):
        registry.acceptWalletBySig.call(
            pending_customer, customer2, public_key_of(customer2), deadline, signature, {"from": stranger}
        )


def test_an_empty_signature_reverts(registry, customer, stranger, pending_customer):
    with reverts_with("SignatureInvalid", customer):
        registry.acceptWalletBySig.call(
            pending_customer, customer, public_key_of(customer), deadline_ahead(), b"", {"from": stranger}
        )


def test_a_signature_over_other_fields_than_those_sent_reverts(
    registry, customer, customer2, stranger, pending_customer
):
    registry.registerEncryptionKey(new_public_key(), {"from": customer})  # so the empty key is acceptable
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)
    signed = {"wallet": customer, "publicKey": public_key_of(customer), "deadline": deadline}
    tampered = {"publicKey": b"", "deadline": deadline + 1, "wallet": customer2}

    for field, value in tampered.items():
        sent = {**signed, field: value}
        with reverts_with("SignatureInvalid", sent["wallet"]):
            registry.acceptWalletBySig.call(
                pending_customer, sent["wallet"], sent["publicKey"], sent["deadline"], signature, {"from": stranger}
            )


def test_a_signature_for_another_customer_reverts(registry, manager, customer, stranger, pending_customer, register):
    other = register()
    registry.proposeWallet(other, customer, {"from": manager})
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)

    with reverts_with("SignatureInvalid", customer):
        registry.acceptWalletBySig.call(
            other, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )


def test_a_signature_for_another_chain_reverts(registry, customer, stranger, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer, chain_id=chain.id + 1)

    with reverts_with("SignatureInvalid", customer):
        registry.acceptWalletBySig.call(
            pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )


def test_a_signature_for_another_registry_reverts(CrmRegistry, registry, admin, customer, stranger, pending_customer):
    other_registry = CrmRegistry.deploy(admin, ADMIN_TRANSFER_DELAY_SECONDS, {"from": admin})
    signature, deadline = sign_accept_wallet(
        registry, customer, pending_customer, verifying_contract=other_registry.address
    )

    with reverts_with("SignatureInvalid", customer):
        registry.acceptWalletBySig.call(
            pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )


def test_a_signature_with_a_nonce_other_than_the_current_one_reverts(registry, customer, stranger, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer, nonce=1)

    with reverts_with("SignatureInvalid", customer):
        registry.acceptWalletBySig.call(
            pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )


def test_a_signature_is_accepted_in_the_second_of_its_deadline(registry, customer, stranger, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)
    set_next_block_timestamp(deadline)

    tx = registry.acceptWalletBySig(
        pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
    )

    assert tx.timestamp == deadline
    assert registry.walletOf(pending_customer) == customer


def test_a_signature_past_its_deadline_reverts(registry, customer, stranger, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)
    set_next_block_timestamp(deadline + 1)

    with reverts_with("SignatureExpired", deadline):
        registry.acceptWalletBySig(
            pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )


def test_replaying_an_accept_wallet_signature_reverts(
    registry, manager, customer, customer2, stranger, pending_customer
):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)
    registry.acceptWalletBySig(
        pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
    )
    # The customer moves to another wallet; then someone proposes the first wallet again.
    registry.proposeWallet(pending_customer, customer2, {"from": customer})
    registry.acceptWallet(pending_customer, public_key_of(customer2), {"from": customer2})
    registry.proposeWallet(pending_customer, customer, {"from": manager})

    with reverts_with("SignatureInvalid", customer):
        registry.acceptWalletBySig.call(
            pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )
    assert registry.walletOf(pending_customer) == customer2


def test_accepting_by_signature_for_an_erased_customer_reverts(registry, customer, stranger, manager, pending_customer):
    signature, deadline = sign_accept_wallet(registry, customer, pending_customer)
    registry.eraseCustomer(pending_customer, random_hash(), {"from": manager})

    with reverts_with("CustomerIsErased", pending_customer):
        registry.acceptWalletBySig.call(
            pending_customer, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )


def test_accepting_by_signature_for_an_unknown_customer_reverts(registry, customer, stranger, customer_id):
    missing = registry.customerCount() + 1
    signature, deadline = sign_accept_wallet(registry, customer, missing)

    with reverts_with("CustomerUnknown", missing):
        registry.acceptWalletBySig.call(
            missing, customer, public_key_of(customer), deadline, signature, {"from": stranger}
        )


# ---------------------------------------------------------------- setConsentBySig


def test_a_relayer_gives_consent_with_the_wallets_signature(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id)

    registry.setConsentBySig(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})

    assert registry.hasConsent(customer_id, PURPOSE_MARKETING) is True
    assert registry.nonces(customer_id) == 1


def test_consent_by_signature_emits_consent_changed_naming_the_relayer(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id)

    tx = registry.setConsentBySig(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})

    event = tx.events["ConsentChanged"]
    assert event["customerId"] == customer_id
    assert event["purpose"] == PURPOSE_MARKETING
    assert event["granted"] is True
    assert event["relayer"] == stranger


def test_withdrawing_consent_by_signature_revokes_its_grants_in_the_wallets_name(
    registry, manager, agent2, customer, stranger, customer_id
):
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})
    sealed_for = readers_hash_after(registry, customer_id, joining=[agent2])
    registry.grantAccess(
        customer_id, agent2, PURPOSE_MARKETING, random_hash(), random_hash(), sealed_for, {"from": manager}
    )
    signature, deadline = sign_set_consent(registry, customer, customer_id, granted=False)

    tx = registry.setConsentBySig(customer_id, PURPOSE_MARKETING, False, deadline, signature, {"from": stranger})

    assert registry.hasActiveGrant(customer_id, agent2) is False
    event = tx.events["AccessRevoked"]
    assert (event["customerId"], event["staff"], event["purpose"], event["actor"]) == (
        customer_id,
        agent2,
        PURPOSE_MARKETING,
        customer,
    )
    assert tx.events["ConsentChanged"]["relayer"] == stranger


def test_a_consent_signature_by_another_account_than_the_wallet_reverts(
    registry, customer, customer2, stranger, customer_id
):
    signature, deadline = sign_set_consent(registry, customer2, customer_id)

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})


def test_a_consent_signature_by_a_pending_wallet_reverts(registry, manager, customer, customer2, stranger, customer_id):
    registry.proposeWallet(customer_id, customer2, {"from": manager})
    signature, deadline = sign_set_consent(registry, customer2, customer_id)

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})


def test_a_consent_signature_for_a_customer_without_a_wallet_reverts(registry, customer, stranger, pending_customer):
    signature, deadline = sign_set_consent(registry, customer, pending_customer)

    with reverts_with("CallerNotCustomer", pending_customer, ZERO_ADDRESS):
        registry.setConsentBySig.call(
            pending_customer, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger}
        )


def test_a_consent_signature_of_the_previous_wallet_reverts(registry, customer, customer2, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id)
    registry.proposeWallet(customer_id, customer2, {"from": customer})
    registry.acceptWallet(customer_id, public_key_of(customer2), {"from": customer2})

    with reverts_with("SignatureInvalid", customer2):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})


def test_a_consent_signature_over_other_fields_than_those_sent_reverts(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id, purpose=PURPOSE_MARKETING, granted=True)
    signed = {"purpose": PURPOSE_MARKETING, "granted": True, "deadline": deadline}
    tampered = {"purpose": PURPOSE_PROFILING, "granted": False, "deadline": deadline + 1}

    for field, value in tampered.items():
        sent = {**signed, field: value}
        with reverts_with("SignatureInvalid", customer):
            registry.setConsentBySig.call(
                customer_id, sent["purpose"], sent["granted"], sent["deadline"], signature, {"from": stranger}
            )


def test_a_consent_signature_for_another_chain_reverts(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id, chain_id=chain.id + 1)

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})


def test_a_consent_signature_for_another_registry_reverts(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id, verifying_contract=stranger.address)

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})


def test_a_consent_signature_for_another_customer_reverts(registry, customer, stranger, customer_id, register):
    other = register(wallet=customer)
    signature, deadline = sign_set_consent(registry, customer, customer_id)

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(other, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})


def test_a_consent_signature_past_its_deadline_reverts(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id)
    set_next_block_timestamp(deadline + 1)

    with reverts_with("SignatureExpired", deadline):
        registry.setConsentBySig(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})


def test_replaying_a_consent_signature_reverts(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id, granted=True)
    registry.setConsentBySig(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})
    registry.setConsent(customer_id, PURPOSE_MARKETING, False, {"from": customer})

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})
    assert registry.hasConsent(customer_id, PURPOSE_MARKETING) is False


def test_a_consent_signature_for_a_purpose_without_consent_reverts(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id, purpose=PURPOSE_SALES)

    with reverts_with("PurposeInvalid", PURPOSE_SALES):
        registry.setConsentBySig.call(customer_id, PURPOSE_SALES, True, deadline, signature, {"from": stranger})


def test_a_consent_signature_that_changes_nothing_reverts(registry, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id, granted=False)

    with reverts_with("ConsentUnchanged", customer_id, PURPOSE_MARKETING, False):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, False, deadline, signature, {"from": stranger})


def test_consent_by_signature_for_an_erased_customer_reverts(registry, manager, customer, stranger, customer_id):
    signature, deadline = sign_set_consent(registry, customer, customer_id)
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    with reverts_with("CustomerIsErased", customer_id):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})


# ---------------------------------------------------------------- one nonce per customer


def test_two_consent_signatures_for_the_same_nonce_cannot_both_be_used(registry, customer, stranger, customer_id):
    marketing, deadline = sign_set_consent(registry, customer, customer_id, purpose=PURPOSE_MARKETING)
    profiling, _ = sign_set_consent(registry, customer, customer_id, purpose=PURPOSE_PROFILING, deadline=deadline)
    registry.setConsentBySig(customer_id, PURPOSE_MARKETING, True, deadline, marketing, {"from": stranger})

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(customer_id, PURPOSE_PROFILING, True, deadline, profiling, {"from": stranger})


def test_an_accept_wallet_signature_consumes_the_nonce_a_consent_signature_was_made_for(
    registry, customer, stranger, pending_customer
):
    consent, consent_deadline = sign_set_consent(registry, customer, pending_customer, nonce=0)
    accept, accept_deadline = sign_accept_wallet(registry, customer, pending_customer, nonce=0)
    registry.acceptWalletBySig(
        pending_customer, customer, public_key_of(customer), accept_deadline, accept, {"from": stranger}
    )

    with reverts_with("SignatureInvalid", customer):
        registry.setConsentBySig.call(
            pending_customer, PURPOSE_MARKETING, True, consent_deadline, consent, {"from": stranger}
        )


def test_transactions_by_the_wallet_leave_the_nonce_unchanged(registry, customer, customer_id):
    registry.setConsent(customer_id, PURPOSE_MARKETING, True, {"from": customer})

    nonce = registry.nonces(customer_id)

    assert nonce == 0


def _record_slot(customer_id: int) -> int:
    return int.from_bytes(keccak(customer_id.to_bytes(32, "big") + CUSTOMERS_MAPPING_SLOT.to_bytes(32, "big")), "big")


def set_nonce(registry, customer_id: int, wallet, nonce: int) -> None:
    """Write the customer's nonce in storage (65,535 signatures would take minutes to send)."""
    slot = _record_slot(customer_id)
    word = int.from_bytes(web3.eth.get_storage_at(registry.address, slot), "big")
    assert word & ADDRESS_MASK == int(wallet.address, 16), "the record's slot moved: update CUSTOMERS_MAPPING_SLOT"
    word = (word & ((1 << NONCE_SHIFT_BITS) - 1)) | (nonce << NONCE_SHIFT_BITS)
    web3.provider.make_request(
        "anvil_setStorageAt", [registry.address, hex(slot), "0x" + word.to_bytes(32, "big").hex()]
    )
    assert registry.nonces(customer_id) == nonce


def test_the_last_nonce_below_the_bound_is_still_usable(registry, customer, stranger, customer_id):
    set_nonce(registry, customer_id, customer, MAX_NONCE - 1)
    signature, deadline = sign_set_consent(registry, customer, customer_id)

    registry.setConsentBySig(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})

    assert registry.nonces(customer_id) == MAX_NONCE


def test_a_signature_once_the_nonces_are_exhausted_reverts(registry, customer, stranger, customer_id):
    set_nonce(registry, customer_id, customer, MAX_NONCE)
    signature, deadline = sign_set_consent(registry, customer, customer_id)

    with reverts_with("SignatureNoncesExhausted", customer_id):
        registry.setConsentBySig.call(customer_id, PURPOSE_MARKETING, True, deadline, signature, {"from": stranger})
