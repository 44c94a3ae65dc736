"""chaincrm.privacy: sealing, opening, granting, revoking and erasing customer profiles."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.keys import LocalSigner
from chaincrm.privacy import (
    CustomerProfile,
    EncryptedDocument,
    ProfileContext,
    data_key_fingerprint,
    erasure_receipt,
    open_profile,
    rewrap,
    rotate,
    seal_profile,
    unwrap_data_key,
)

CHAIN_ID = 31337
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_REGISTRY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CUSTOMER_ID = 7
ERASED_AT = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

SECRET_NAME = "Zebulon Quarrington-Vex"
SECRET_EMAIL = "zebulon.qv@example-private.org"
SECRET_PHONE = "+44 20 7946 0958"
SECRET_ADDRESS = "17 Wisteria Lane, Thornbury"
SECRET_NOTES = "prefers calls after 6pm; allergic to penicillin"


def _signer(name: str) -> LocalSigner:
    return LocalSigner.from_account(Account.from_key(keccak(text=f"chaincrm test {name}")))


@pytest.fixture(scope="module")
def agent() -> LocalSigner:
    return _signer("agent")


@pytest.fixture(scope="module")
def manager() -> LocalSigner:
    return _signer("manager")


@pytest.fixture(scope="module")
def customer() -> LocalSigner:
    return _signer("customer")


@pytest.fixture(scope="module")
def stranger() -> LocalSigner:
    return _signer("stranger")


@pytest.fixture(scope="module")
def context() -> ProfileContext:
    return ProfileContext(chain_id=CHAIN_ID, registry=REGISTRY, customer_id=CUSTOMER_ID, version=1)


@pytest.fixture(scope="module")
def profile() -> CustomerProfile:
    return CustomerProfile(
        name=SECRET_NAME,
        email=SECRET_EMAIL,
        phone=SECRET_PHONE,
        address=SECRET_ADDRESS,
        notes=SECRET_NOTES,
    )


@pytest.fixture(scope="module")
def readers(agent: LocalSigner, manager: LocalSigner, customer: LocalSigner) -> dict[str, bytes]:
    return {signer.address: signer.public_key64 for signer in (agent, manager, customer)}


@pytest.fixture(scope="module")
def sealed(profile: CustomerProfile, readers: dict[str, bytes], context: ProfileContext) -> tuple[bytes, bytes]:
    return seal_profile(profile, readers=readers, context=context)


def _open(document: bytes, signer: LocalSigner, context: ProfileContext) -> CustomerProfile:
    return open_profile(
        document,
        reader_address=signer.address,
        reader_private_key=signer.encryption_private_key,
        context=context,
    )


def _edit(document: bytes, **changes: object) -> bytes:
    fields = json.loads(document)
    fields.update(changes)
    return json.dumps(fields).encode()


def test_a_granted_reader_opens_the_profile(
    sealed: tuple[bytes, bytes],
    agent: LocalSigner,
    context: ProfileContext,
    profile: CustomerProfile,
) -> None:
    document, _ = sealed

    opened = _open(document, agent, context)

    assert opened == profile


def test_the_customer_opens_their_own_profile(
    sealed: tuple[bytes, bytes],
    customer: LocalSigner,
    context: ProfileContext,
    profile: CustomerProfile,
) -> None:
    document, _ = sealed

    opened = _open(document, customer, context)

    assert opened == profile


def test_a_reader_not_granted_gets_a_privacy_error(
    sealed: tuple[bytes, bytes], stranger: LocalSigner, context: ProfileContext
) -> None:
    document, _ = sealed

    with pytest.raises(PrivacyError) as raised:
        _open(document, stranger, context)

    assert str(raised.value) == f"no wrapped key for {stranger.address}"


def test_a_granted_address_with_the_wrong_private_key_is_refused(
    sealed: tuple[bytes, bytes], agent: LocalSigner, stranger: LocalSigner, context: ProfileContext
) -> None:
    document, _ = sealed

    with pytest.raises(PrivacyError) as raised:
        open_profile(
            document,
            reader_address=agent.address,
            reader_private_key=stranger.encryption_private_key,
            context=context,
        )

    assert str(raised.value) == (f"wrapped key for {agent.address} cannot be unwrapped with this key")


def test_a_tampered_ciphertext_is_refused(
    sealed: tuple[bytes, bytes], agent: LocalSigner, context: ProfileContext
) -> None:
    document, _ = sealed
    ciphertext = bytearray(base64.b64decode(json.loads(document)["ciphertext"]))
    ciphertext[0] ^= 0x01
    tampered = _edit(document, ciphertext=base64.b64encode(bytes(ciphertext)).decode())

    with pytest.raises(PrivacyError) as raised:
        _open(tampered, agent, context)

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_ciphertext_moved_to_another_customer_id_fails_authentication(
    sealed: tuple[bytes, bytes], agent: LocalSigner, context: ProfileContext
) -> None:
    document, _ = sealed
    other_customer = ProfileContext(CHAIN_ID, REGISTRY, customer_id=CUSTOMER_ID + 1, version=1)
    moved = _edit(document, customer_id=other_customer.customer_id)

    with pytest.raises(PrivacyError) as raised:
        _open(moved, agent, other_customer)

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_ciphertext_moved_to_another_version_fails_authentication(
    sealed: tuple[bytes, bytes], agent: LocalSigner, context: ProfileContext
) -> None:
    document, _ = sealed
    moved = _edit(document, profile_version=2)

    with pytest.raises(PrivacyError) as raised:
        _open(moved, agent, context.with_version(2))

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_document_replayed_onto_another_registry_fails_authentication(
    sealed: tuple[bytes, bytes], agent: LocalSigner
) -> None:
    document, _ = sealed
    other_registry = ProfileContext(CHAIN_ID, OTHER_REGISTRY, customer_id=CUSTOMER_ID, version=1)

    with pytest.raises(PrivacyError) as raised:
        _open(document, agent, other_registry)

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_document_opened_as_another_customer_is_refused_before_decryption(
    sealed: tuple[bytes, bytes], agent: LocalSigner
) -> None:
    document, _ = sealed
    other_customer = ProfileContext(CHAIN_ID, REGISTRY, customer_id=CUSTOMER_ID + 1, version=1)

    with pytest.raises(PrivacyError) as raised:
        _open(document, agent, other_customer)

    assert str(raised.value) == "document is customer 7 version 1, expected customer 8 version 1"


def test_a_wrapped_key_from_another_document_is_refused(
    sealed: tuple[bytes, bytes],
    profile: CustomerProfile,
    readers: dict[str, bytes],
    agent: LocalSigner,
    context: ProfileContext,
) -> None:
    document, _ = sealed
    other_document, _ = seal_profile(profile, readers=readers, context=context)
    foreign_keys = json.loads(other_document)["wrapped_keys"]
    spliced = _edit(document, wrapped_keys=foreign_keys)

    with pytest.raises(PrivacyError) as raised:
        _open(spliced, agent, context)

    assert str(raised.value) == "data key does not belong to this document"


def test_a_document_that_is_not_an_envelope_is_refused(agent: LocalSigner, context: ProfileContext) -> None:
    not_an_envelope = json.dumps({"name": "x"}).encode()

    with pytest.raises(PrivacyError) as raised:
        _open(not_an_envelope, agent, context)

    assert str(raised.value) == "document is not a chaincrm encrypted profile"


def test_the_envelope_contains_none_of_the_plaintext(sealed: tuple[bytes, bytes]) -> None:
    document, _ = sealed
    secrets = (SECRET_NAME, SECRET_EMAIL, SECRET_PHONE, SECRET_ADDRESS, SECRET_NOTES)
    # Words of six characters or more: shorter ones turn up in base64 by chance.
    words = [word for secret in secrets for word in secret.split() if len(word) >= 6]

    found = [
        needle
        for needle in (*secrets, *words)
        if needle.encode() in document or needle.lower().encode() in document.lower()
    ]

    assert found == []


def test_the_envelope_has_exactly_the_documented_fields(sealed: tuple[bytes, bytes]) -> None:
    document, _ = sealed

    fields = json.loads(document)

    assert sorted(fields) == [
        "ciphertext",
        "customer_id",
        "format",
        "key_commitment",
        "nonce",
        "profile_version",
        "wrapped_keys",
    ]
    assert fields["format"] == "chaincrm.profile.v1"
    assert len(base64.b64decode(fields["nonce"])) == 12


def test_ciphertext_length_is_padded_to_a_block(readers: dict[str, bytes], context: ProfileContext) -> None:
    short = CustomerProfile(name="Al")
    longer = CustomerProfile(name="Alexandra Konstantinopoulou", notes="a" * 100)

    documents = [seal_profile(p, readers=readers, context=context).document for p in (short, longer)]

    lengths = {len(EncryptedDocument.from_bytes(document).ciphertext) for document in documents}

    assert lengths == {256 + 16}


def test_each_seal_uses_a_fresh_data_key_and_nonce(
    profile: CustomerProfile, readers: dict[str, bytes], context: ProfileContext
) -> None:
    first_document, first_key = seal_profile(profile, readers=readers, context=context)
    second_document, second_key = seal_profile(profile, readers=readers, context=context)

    first = EncryptedDocument.from_bytes(first_document)
    second = EncryptedDocument.from_bytes(second_document)
    assert first_key != second_key
    assert first.nonce != second.nonce


def test_a_64_byte_public_key_is_accepted_with_or_without_the_0x04_prefix(
    profile: CustomerProfile, agent: LocalSigner, context: ProfileContext
) -> None:
    prefixed = {agent.address: b"\x04" + agent.public_key64}

    document, _ = seal_profile(profile, readers=prefixed, context=context)

    assert _open(document, agent, context) == profile


def test_sealing_to_a_public_key_of_another_address_is_refused(
    profile: CustomerProfile, agent: LocalSigner, stranger: LocalSigner, context: ProfileContext
) -> None:
    misdirected = {agent.address: stranger.public_key64}

    with pytest.raises(ConfigError) as raised:
        seal_profile(profile, readers=misdirected, context=context)

    assert str(raised.value) == f"public key given for {agent.address} belongs to another address"


def test_sealing_to_no_readers_is_refused(profile: CustomerProfile, context: ProfileContext) -> None:
    with pytest.raises(ConfigError) as raised:
        seal_profile(profile, readers={}, context=context)

    assert str(raised.value) == "a document needs at least one reader"


def test_unwrapping_returns_the_data_key_the_seal_returned(sealed: tuple[bytes, bytes], manager: LocalSigner) -> None:
    document, data_key = sealed

    unwrapped = unwrap_data_key(
        document, reader_address=manager.address, reader_private_key=manager.encryption_private_key
    )

    assert unwrapped == data_key


def test_rewrap_lets_a_newly_granted_reader_open_the_same_version(
    sealed: tuple[bytes, bytes],
    readers: dict[str, bytes],
    stranger: LocalSigner,
    context: ProfileContext,
    profile: CustomerProfile,
) -> None:
    document, data_key = sealed

    granted = rewrap(document, data_key, {**readers, stranger.address: stranger.public_key64})

    assert _open(granted, stranger, context) == profile
    assert EncryptedDocument.from_bytes(granted).ciphertext == (EncryptedDocument.from_bytes(document).ciphertext)


def test_rewrap_refuses_to_drop_a_reader(sealed: tuple[bytes, bytes], agent: LocalSigner, manager: LocalSigner) -> None:
    document, data_key = sealed

    with pytest.raises(ConfigError) as raised:
        rewrap(document, data_key, {manager.address: manager.public_key64})

    assert str(raised.value).startswith("rewrap cannot revoke ")
    assert agent.address in str(raised.value)


def test_rewrap_with_another_documents_key_is_refused(sealed: tuple[bytes, bytes], readers: dict[str, bytes]) -> None:
    document, data_key = sealed
    wrong_key = bytes(reversed(data_key))

    with pytest.raises(PrivacyError) as raised:
        rewrap(document, wrong_key, readers)

    assert str(raised.value) == "data key does not belong to this document"


def test_after_rotation_the_revoked_reader_cannot_open_the_new_version(
    sealed: tuple[bytes, bytes],
    agent: LocalSigner,
    manager: LocalSigner,
    customer: LocalSigner,
    context: ProfileContext,
) -> None:
    document, data_key = sealed
    remaining = {signer.address: signer.public_key64 for signer in (manager, customer)}

    rotated, _ = rotate(document, data_key, remaining, context=context)

    with pytest.raises(PrivacyError) as raised:
        _open(rotated, agent, context.with_version(2))
    assert str(raised.value) == f"no wrapped key for {agent.address}"


def test_after_rotation_the_remaining_readers_open_the_new_version(
    sealed: tuple[bytes, bytes],
    manager: LocalSigner,
    customer: LocalSigner,
    context: ProfileContext,
    profile: CustomerProfile,
) -> None:
    document, data_key = sealed
    remaining = {signer.address: signer.public_key64 for signer in (manager, customer)}

    rotated, _ = rotate(document, data_key, remaining, context=context)

    assert _open(rotated, manager, context.with_version(2)) == profile
    assert _open(rotated, customer, context.with_version(2)) == profile


def test_rotation_seals_the_next_version_under_a_new_data_key(
    sealed: tuple[bytes, bytes], manager: LocalSigner, context: ProfileContext
) -> None:
    document, data_key = sealed

    rotated, new_key = rotate(document, data_key, {manager.address: manager.public_key64}, context=context)

    assert new_key != data_key
    assert EncryptedDocument.from_bytes(rotated).profile_version == context.version + 1


def test_rotation_to_an_earlier_version_is_refused(
    sealed: tuple[bytes, bytes], readers: dict[str, bytes], context: ProfileContext
) -> None:
    document, data_key = sealed

    with pytest.raises(ConfigError) as raised:
        rotate(document, data_key, readers, context=context, next_version=context.version)

    assert str(raised.value) == f"next version must be greater than {context.version}"


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        CustomerProfile(name="   ", email=SECRET_EMAIL)

    assert str(raised.value) == "customer name is empty"


def test_a_malformed_email_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as raised:
        CustomerProfile(name=SECRET_NAME, email="zebulon-at-example")

    assert str(raised.value) == "customer email is malformed"


def test_a_profile_round_trips_through_json(profile: CustomerProfile) -> None:
    assert CustomerProfile.from_json(profile.to_json()) == profile


def test_profile_json_with_unknown_fields_is_refused() -> None:
    raw = json.dumps({"name": "Ada", "ssn": "000-00-0000"})

    with pytest.raises(ConfigError) as raised:
        CustomerProfile.from_json(raw)

    assert str(raised.value) == "customer profile has unknown fields: ssn"


def test_a_key_fingerprint_is_a_prefix_of_the_documents_key_commitment(
    sealed: tuple[bytes, bytes],
) -> None:
    document, data_key = sealed

    fingerprint = data_key_fingerprint(data_key)

    assert EncryptedDocument.from_bytes(document).key_commitment.hex().startswith(fingerprint)
    assert len(fingerprint) == 32


def test_the_erasure_receipt_hash_is_the_keccak_of_its_bytes(sealed: tuple[bytes, bytes], agent: LocalSigner) -> None:
    _, data_key = sealed

    receipt, receipt_hash = erasure_receipt(
        CUSTOMER_ID, [(agent.address, data_key_fingerprint(data_key))], [CID], ERASED_AT
    )

    assert receipt_hash == keccak(receipt)
    assert len(receipt_hash) == 32


def test_the_erasure_receipt_records_keys_cids_and_time_and_no_personal_data(
    sealed: tuple[bytes, bytes], agent: LocalSigner
) -> None:
    _, data_key = sealed
    fingerprint = data_key_fingerprint(data_key)

    receipt, _ = erasure_receipt(CUSTOMER_ID, [(agent.address, fingerprint)], [CID], ERASED_AT)

    assert json.loads(receipt) == {
        "customer_id": CUSTOMER_ID,
        "destroyed_keys": [{"key_fingerprint": fingerprint, "reader": agent.address}],
        "erased_at": "2025-03-01T12:00:00Z",
        "format": "chaincrm.erasure-receipt.v1",
        "unpinned_cids": [CID],
    }


def test_the_erasure_receipt_does_not_depend_on_input_order(agent: LocalSigner, manager: LocalSigner) -> None:
    destroyed = [(agent.address, "aa" * 16), (manager.address, "bb" * 16)]
    cids = [CID, "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"]

    forward = erasure_receipt(CUSTOMER_ID, destroyed, cids, ERASED_AT)
    backward = erasure_receipt(CUSTOMER_ID, destroyed[::-1], cids[::-1], ERASED_AT)

    assert forward == backward


def test_an_erasure_receipt_refuses_free_text_in_place_of_a_cid(agent: LocalSigner) -> None:
    with pytest.raises(ConfigError) as raised:
        erasure_receipt(CUSTOMER_ID, [], [SECRET_NAME], ERASED_AT)

    assert str(raised.value) == "unpinned CID is not an alphanumeric CID"


_profiles = st.builds(
    CustomerProfile,
    name=st.text(min_size=1, max_size=80).filter(lambda name: name.strip() != ""),
    email=st.one_of(st.just(""), st.emails()),
    phone=st.one_of(st.just(""), st.from_regex(r"\+?[0-9][0-9 ]{0,18}", fullmatch=True)),
    address=st.text(max_size=200),
    notes=st.text(max_size=1000),
)


@settings(max_examples=50, deadline=None)
@given(random_profile=_profiles)
def test_any_valid_profile_survives_seal_and_open(random_profile: CustomerProfile) -> None:
    reader = _signer("property reader")
    context = ProfileContext(CHAIN_ID, REGISTRY, customer_id=CUSTOMER_ID, version=3)
    document, _ = seal_profile(random_profile, readers={reader.address: reader.public_key64}, context=context)

    opened = _open(document, reader, context)

    assert opened == random_profile
