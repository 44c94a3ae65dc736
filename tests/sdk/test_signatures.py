"""EIP-712 messages a customer signs for staff to relay: round trips and refusals, and a signed
revocation relayed on a real Anvil."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.chain import emitted_by
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import SealedVersion
from chaincrm.contracts.signatures import (
    AccessRevocation,
    ConsentChange,
    WalletAcceptance,
    sign_access_revocation,
    sign_consent_change,
    sign_wallet_acceptance,
)
from chaincrm.errors import ConfigError, ContractRevert, PrivacyError
from chaincrm.models import Purpose
from chaincrm.privacy import CustomerProfile, readers_hash
from chaincrm.privacy.customers import CustomerData, public_key64
from chaincrm.storage import KuboStore
from chaincrm.storage.node import NodeHandle
from tests.sdk.conftest import Staff

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _acceptance() -> WalletAcceptance:
    wallet = Account.create()
    return sign_wallet_acceptance(
        wallet, chain_id=31337, registry=REGISTRY, customer_id=7, public_key=b"\x01" * 64, nonce=0, deadline=2**40
    )


def test_a_signed_acceptance_survives_its_json_form() -> None:
    acceptance = _acceptance()

    assert WalletAcceptance.from_json(acceptance.to_json()) == acceptance


def test_a_signed_consent_change_survives_its_json_form() -> None:
    change = sign_consent_change(
        Account.create(),
        chain_id=1,
        registry=REGISTRY,
        customer_id=3,
        purpose=Purpose.MARKETING,
        granted=False,
        nonce=4,
        deadline=99,
    )

    assert ConsentChange.from_json(change.to_json()) == change


def test_the_acceptance_signature_recovers_to_the_wallet() -> None:
    from eth_account.messages import encode_typed_data

    from chaincrm.contracts.signatures import ACCEPT_WALLET_TYPES, domain

    acceptance = _acceptance()
    message = encode_typed_data(
        domain(acceptance.chain_id, acceptance.registry),
        ACCEPT_WALLET_TYPES,
        {
            "customerId": acceptance.customer_id,
            "wallet": acceptance.wallet,
            "publicKey": acceptance.public_key,
            "nonce": acceptance.nonce,
            "deadline": acceptance.deadline,
        },
    )

    assert Account.recover_message(message, signature=acceptance.signature) == acceptance.wallet


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"type": "SetConsent"}',
        '{"type": "AcceptWallet", "chain_id": 1}',
    ],
)
def test_a_malformed_signed_message_is_one_clear_error(text: str) -> None:
    with pytest.raises(ConfigError):
        WalletAcceptance.from_json(text)


def test_a_field_of_the_wrong_type_is_refused() -> None:
    import json

    fields = json.loads(_acceptance().to_json())
    fields["customer_id"] = "seven"

    with pytest.raises(ConfigError, match="customer_id"):
        WalletAcceptance.from_json(json.dumps(fields))


# ---------------------------------------------------------------- RevokeAccess, against a real Anvil

SIGNATURE_LIFETIME_SECONDS = 3600


def test_a_signed_revocation_survives_its_json_form() -> None:
    revocation = sign_access_revocation(
        Account.create(), chain_id=1, registry=REGISTRY, customer_id=3, staff=REGISTRY.lower(), nonce=4, deadline=99
    )

    assert AccessRevocation.from_json(revocation.to_json()) == revocation
    assert revocation.staff == REGISTRY


def test_a_revocation_json_with_a_malformed_staff_address_is_refused() -> None:
    import json

    revocation = sign_access_revocation(
        Account.create(), chain_id=1, registry=REGISTRY, customer_id=3, staff=REGISTRY, nonce=0, deadline=99
    )
    fields = json.loads(revocation.to_json())
    fields["staff"] = "0x1234"

    with pytest.raises(ConfigError, match="staff"):
        AccessRevocation.from_json(json.dumps(fields))


def _chain_now(crm: Crm) -> int:
    return int(crm.chain.w3.eth.get_block("latest")["timestamp"])


def _customer_with_a_grant(crm: Crm, staff: Staff, wallet: LocalAccount) -> int:
    """A customer whose 0-ETH `wallet` accepted by a relayed signature, with agent2 granted support."""
    registry = crm.registry
    managers = [m for m in registry.managers() if registry.encryption_key_of(m)]
    first = SealedVersion(os.urandom(32), os.urandom(32), readers_hash(sorted({staff.agent.address, *managers})))
    customer_id = registry.register_customer(*first.hashes, wallet.address, Purpose.SALES, staff.agent)
    registry.approve_wallet(customer_id, wallet.address, staff.manager)
    acceptance = sign_wallet_acceptance(
        wallet,
        chain_id=crm.chain.chain_id,
        registry=registry.address,
        customer_id=customer_id,
        public_key=public_key64(wallet),
        nonce=registry.nonce_of(customer_id),
        deadline=_chain_now(crm) + SIGNATURE_LIFETIME_SECONDS,
    )
    registry.accept_wallet_by_sig(acceptance, staff.agent)
    readers = sorted({*registry.readers_of(customer_id), staff.agent2.address})
    version = SealedVersion(os.urandom(32), os.urandom(32), readers_hash(readers))
    registry.grant_access(customer_id, staff.agent2.address, Purpose.SUPPORT, version, staff.manager)
    return customer_id


def _revocation(crm: Crm, wallet: LocalAccount, customer_id: int, staff_address: str) -> AccessRevocation:
    """The wallet's revocation of `staff_address`'s grant, at the customer's current nonce."""
    return sign_access_revocation(
        wallet,
        chain_id=crm.chain.chain_id,
        registry=crm.registry.address,
        customer_id=customer_id,
        staff=staff_address,
        nonce=crm.registry.nonce_of(customer_id),
        deadline=_chain_now(crm) + SIGNATURE_LIFETIME_SECONDS,
    )


def test_a_signed_revocation_relayed_by_another_account_revokes_the_grant(
    crm: Crm, staff: Staff, snapshot: None
) -> None:
    wallet = Account.create()  # no ETH: the relayer pays
    registry = crm.registry
    customer_id = _customer_with_a_grant(crm, staff, wallet)
    nonce = registry.nonce_of(customer_id)
    revocation = _revocation(crm, wallet, customer_id, staff.agent2.address)

    receipt = registry.revoke_access_by_sig(AccessRevocation.from_json(revocation.to_json()), staff.stranger)

    events = emitted_by(registry.address, registry.contract.events.AccessRevoked().process_receipt(receipt))
    assert [dict(event["args"]) for event in events] == [
        {
            "customerId": customer_id,
            "staff": staff.agent2.address,
            "purpose": int(Purpose.SUPPORT),
            "actor": wallet.address,
        }
    ]
    assert receipt["from"] == staff.stranger.address
    assert registry.has_active_grant(customer_id, staff.agent2.address) is False
    assert staff.agent2.address not in registry.readers_of(customer_id)
    assert registry.nonce_of(customer_id) == nonce + 1
    assert crm.chain.w3.eth.get_balance(wallet.address) == 0


def test_a_replayed_signed_revocation_is_refused_by_name(crm: Crm, staff: Staff, snapshot: None) -> None:
    wallet = Account.create()
    registry = crm.registry
    customer_id = _customer_with_a_grant(crm, staff, wallet)
    revocation = _revocation(crm, wallet, customer_id, staff.agent2.address)
    registry.revoke_access_by_sig(revocation, staff.stranger)
    readers = sorted({*registry.readers_of(customer_id), staff.agent2.address})
    version = SealedVersion(os.urandom(32), os.urandom(32), readers_hash(readers))
    registry.grant_access(customer_id, staff.agent2.address, Purpose.SUPPORT, version, staff.manager)

    with pytest.raises(ContractRevert) as refused:
        registry.revoke_access_by_sig(revocation, staff.stranger)

    assert (refused.value.name, refused.value.args_by_name) == ("SignatureInvalid", {"signer": wallet.address})
    assert registry.has_active_grant(customer_id, staff.agent2.address) is True


def _bound_customer(data: CustomerData, staff: Staff, profile: CustomerProfile) -> int:
    """A customer with a real encrypted profile, registered by the agent; `customer` accepted and
    the profile was re-sealed for it."""
    added = data.add(profile, wallet=staff.customer.address, purpose=Purpose.SALES, agent=staff.agent)
    data.approve_wallet(added.customer_id, staff.customer.address, staff.manager)
    data.accept_wallet(added.customer_id, staff.customer)
    data.reseal(added.customer_id, staff.agent)
    return added.customer_id


def test_a_relayed_revocation_is_resealed_without_the_revoked_staff_member(
    crm: Crm, staff: Staff, ipfs_node: NodeHandle, snapshot: None
) -> None:
    profile = CustomerProfile(name="Revocation Test", email="revocation@example.org")
    with KuboStore(ipfs_node.api_addr) as store:
        data = CustomerData(crm, store)
        customer_id = _bound_customer(data, staff, profile)
        data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.customer)
        assert data.read(customer_id, staff.agent2) == profile
        revocation = data.wallets.sign_access_revocation(customer_id, staff.agent2.address, staff.customer)

        ref = data.wallets.relay_access_revocation(revocation, staff.manager)

        assert ref is not None and staff.agent2.address not in ref.readers
        assert not crm.registry.has_active_grant(customer_id, staff.agent2.address)
        with pytest.raises(PrivacyError):
            data.read(customer_id, staff.agent2)
        assert data.read(customer_id, staff.customer) == profile


def test_signing_a_revocation_for_staff_without_a_grant_is_refused(
    crm: Crm, staff: Staff, ipfs_node: NodeHandle, snapshot: None
) -> None:
    with KuboStore(ipfs_node.api_addr) as store:
        data = CustomerData(crm, store)
        profile = CustomerProfile(name="Revocation Test")
        customer_id = _bound_customer(data, staff, profile)

        with pytest.raises(ConfigError, match="no active grant"):
            data.wallets.sign_access_revocation(customer_id, staff.auditor.address, staff.customer)
