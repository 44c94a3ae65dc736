"""EIP-712 messages a customer signs for staff to relay: round trips and refusals."""

from __future__ import annotations

import pytest
from eth_account import Account

from chaincrm.contracts.signatures import ConsentChange, WalletAcceptance, sign_consent_change, sign_wallet_acceptance
from chaincrm.errors import ConfigError
from chaincrm.models import Purpose

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
