"""chaincrm.privacy: profile documents with their key ring, reader sets, content documents, erasure receipts."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import pickle
from datetime import UTC, datetime

import eth_abi
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincrm.chain.keystores import LocalSigner
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.privacy import (
    Attachment,
    ContentContext,
    CustomerProfile,
    EncryptedDocument,
    InteractionContent,
    KeyRing,
    ProfileContext,
    SealedProfile,
    Vault,
    content_epoch,
    data_key_fingerprint,
    erasure_receipt,
    open_content,
    open_profile,
    open_vault,
    readers_hash,
    seal_content,
    seal_profile,
    unwrap_data_key,
)

CHAIN_ID = 31337
OTHER_CHAIN_ID = 1
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_REGISTRY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CUSTOMER_ID = 7
ERASED_AT = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
OTHER_CID = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
FINGERPRINT = "aa" * 16

# Two addresses whose checksummed text sorts the other way round from their integer values
# ("0xC..." < "0xb..." as text, 0xb... < 0xC... as numbers).
LOWER_B = "0xb000000000000000000000000000000000002222"
UPPER_C = "0xC000000000000000000000000000000000000000"
# keccak256(abi.encodePacked(address[])) returned by a Solidity 0.8.37 contract on Anvil for
# [REGISTRY, LOWER_B, UPPER_C] and for [REGISTRY]: an independent reference, not this module.
SOLIDITY_HASH_OF_THREE = bytes.fromhex("dfc74c4243230acc1b281db60bc1ec81b8d39b2d145f7e2b06349878925264c5")
SOLIDITY_HASH_OF_ONE = bytes.fromhex("bc6a4497b953a9c1590fe377d9146b84eedce1cd5fe2ea7701ccc0e3f9208c52")

SECRET_NAME = "Zebulon Quarrington-Vex"
SECRET_EMAIL = "zebulon.qv@example-private.org"
SECRET_PHONE = "+44 20 7946 0958"
SECRET_ADDRESS = "17 Wisteria Lane, Thornbury"
SECRET_NOTES = "prefers calls after 6pm; allergic to penicillin"
SECRET_NOTE = "Called Zebulon Quarrington-Vex about the penicillin allergy; wants a callback after 6pm"
SECRET_FILE_NAME = "quarrington-vex-passport-scan.pdf"
SECRET_FILE = b"%PDF-1.7 passport number 502135790 Quarrington-Vex"


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
def keyring() -> KeyRing:
    return KeyRing.fresh().rotated()


@pytest.fixture(scope="module")
def readers(agent: LocalSigner, manager: LocalSigner, customer: LocalSigner) -> dict[str, bytes]:
    return {signer.address: signer.public_key64 for signer in (agent, manager, customer)}


@pytest.fixture(scope="module")
def sealed(
    profile: CustomerProfile, readers: dict[str, bytes], context: ProfileContext, keyring: KeyRing
) -> SealedProfile:
    return seal_profile(profile, readers=readers, context=context, keyring=keyring)


def _open(document: bytes, signer: LocalSigner, context: ProfileContext) -> Vault:
    return open_vault(
        document,
        reader_address=signer.address,
        reader_private_key=signer.encryption_private_key,
        context=context,
    )


def _edit(document: bytes, **changes: object) -> bytes:
    fields = json.loads(document)
    fields.update(changes)
    return json.dumps(fields).encode()


def _without(document: bytes, field: str) -> bytes:
    fields = json.loads(document)
    del fields[field]
    return json.dumps(fields).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _with_plaintext(sealed: SealedProfile, plaintext: bytes, context: ProfileContext) -> bytes:
    """The sealed document with its plaintext replaced, encrypted under its own data key."""
    nonce = os.urandom(12)
    ciphertext = AESGCM(sealed.data_key).encrypt(nonce, plaintext, context.associated_data())
    return _edit(sealed.document, nonce=_b64(nonce), ciphertext=_b64(ciphertext))


def _plaintext(content_keys: object, profile: object) -> bytes:
    return json.dumps({"content_keys": content_keys, "profile": profile}).encode()


# Opening: who can, who cannot.


def test_a_listed_reader_opens_the_profile(
    sealed: SealedProfile, agent: LocalSigner, context: ProfileContext, profile: CustomerProfile
) -> None:
    opened = open_profile(
        sealed.document,
        reader_address=agent.address,
        reader_private_key=agent.encryption_private_key,
        context=context,
    )

    assert opened == profile


def test_the_customer_opens_their_own_profile(
    sealed: SealedProfile, customer: LocalSigner, context: ProfileContext, profile: CustomerProfile
) -> None:
    vault = _open(sealed.document, customer, context)

    assert vault.profile == profile


def test_opening_the_vault_returns_the_profile_and_the_key_ring(
    sealed: SealedProfile,
    manager: LocalSigner,
    context: ProfileContext,
    profile: CustomerProfile,
    keyring: KeyRing,
) -> None:
    vault = _open(sealed.document, manager, context)

    assert vault == Vault(profile=profile, keyring=keyring)


def test_a_reader_outside_the_set_gets_a_privacy_error(
    sealed: SealedProfile, stranger: LocalSigner, context: ProfileContext
) -> None:
    with pytest.raises(PrivacyError) as raised:
        _open(sealed.document, stranger, context)

    assert str(raised.value) == f"no wrapped key for {stranger.address}"


def test_a_listed_address_with_the_wrong_private_key_is_refused(
    sealed: SealedProfile, agent: LocalSigner, stranger: LocalSigner, context: ProfileContext
) -> None:
    with pytest.raises(PrivacyError) as raised:
        open_vault(
            sealed.document,
            reader_address=agent.address,
            reader_private_key=stranger.encryption_private_key,
            context=context,
        )

    assert str(raised.value) == f"wrapped key for {agent.address} cannot be unwrapped with this key"


def test_a_private_key_of_the_wrong_length_is_a_config_error(
    sealed: SealedProfile, agent: LocalSigner, context: ProfileContext
) -> None:
    with pytest.raises(ConfigError) as raised:
        open_vault(sealed.document, reader_address=agent.address, reader_private_key=b"\x01" * 31, context=context)

    assert str(raised.value) == "reader private key is not 32 bytes"


def test_unwrapping_returns_the_data_key_the_seal_returned(sealed: SealedProfile, manager: LocalSigner) -> None:
    unwrapped = unwrap_data_key(
        sealed.document, reader_address=manager.address, reader_private_key=manager.encryption_private_key
    )

    assert unwrapped == sealed.data_key


# Binding: a document opens only as the customer, version, registry and chain it was sealed for.


def test_a_document_opened_as_another_customer_is_refused_before_decryption(
    sealed: SealedProfile, agent: LocalSigner
) -> None:
    other_customer = ProfileContext(CHAIN_ID, REGISTRY, customer_id=CUSTOMER_ID + 1, version=1)

    with pytest.raises(PrivacyError) as raised:
        _open(sealed.document, agent, other_customer)

    assert str(raised.value) == "document is customer 7 version 1, expected customer 8 version 1"


def test_a_ciphertext_moved_to_another_customer_id_fails_authentication(
    sealed: SealedProfile, agent: LocalSigner
) -> None:
    other_customer = ProfileContext(CHAIN_ID, REGISTRY, customer_id=CUSTOMER_ID + 1, version=1)
    moved = _edit(sealed.document, customer_id=other_customer.customer_id)

    with pytest.raises(PrivacyError) as raised:
        _open(moved, agent, other_customer)

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_ciphertext_moved_to_another_version_fails_authentication(
    sealed: SealedProfile, agent: LocalSigner, context: ProfileContext
) -> None:
    moved = _edit(sealed.document, profile_version=2)

    with pytest.raises(PrivacyError) as raised:
        _open(moved, agent, context.with_version(2))

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_document_replayed_onto_another_registry_fails_authentication(
    sealed: SealedProfile, agent: LocalSigner
) -> None:
    other_registry = ProfileContext(CHAIN_ID, OTHER_REGISTRY, customer_id=CUSTOMER_ID, version=1)

    with pytest.raises(PrivacyError) as raised:
        _open(sealed.document, agent, other_registry)

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_document_replayed_onto_another_chain_fails_authentication(sealed: SealedProfile, agent: LocalSigner) -> None:
    other_chain = ProfileContext(OTHER_CHAIN_ID, REGISTRY, customer_id=CUSTOMER_ID, version=1)

    with pytest.raises(PrivacyError) as raised:
        _open(sealed.document, agent, other_chain)

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_tampered_ciphertext_is_refused(sealed: SealedProfile, agent: LocalSigner, context: ProfileContext) -> None:
    ciphertext = bytearray(base64.b64decode(json.loads(sealed.document)["ciphertext"]))
    ciphertext[0] ^= 0x01
    tampered = _edit(sealed.document, ciphertext=_b64(bytes(ciphertext)))

    with pytest.raises(PrivacyError) as raised:
        _open(tampered, agent, context)

    assert str(raised.value) == "ciphertext failed authentication"


def test_a_wrapped_key_from_another_document_is_refused(
    sealed: SealedProfile,
    profile: CustomerProfile,
    readers: dict[str, bytes],
    agent: LocalSigner,
    context: ProfileContext,
    keyring: KeyRing,
) -> None:
    other = seal_profile(profile, readers=readers, context=context, keyring=keyring)
    spliced = _edit(sealed.document, wrapped_keys=json.loads(other.document)["wrapped_keys"])

    with pytest.raises(PrivacyError) as raised:
        _open(spliced, agent, context)

    assert str(raised.value) == "data key does not belong to this document"


# Re-sealing: the reader set comes from the chain, the key ring travels with the profile.


def test_a_reader_added_at_a_reseal_receives_the_whole_key_ring(
    sealed: SealedProfile,
    readers: dict[str, bytes],
    manager: LocalSigner,
    stranger: LocalSigner,
    context: ProfileContext,
    keyring: KeyRing,
) -> None:
    vault = _open(sealed.document, manager, context)
    next_version = context.with_version(2)
    resealed = seal_profile(
        vault.profile,
        readers={**readers, stranger.address: stranger.public_key64},
        context=next_version,
        keyring=vault.keyring,
    )

    opened = _open(resealed.document, stranger, next_version)

    assert opened.keyring == keyring
    assert opened.keyring.key(1) == keyring.key(1)


def test_a_reader_removed_at_a_reseal_cannot_open_the_new_version(
    sealed: SealedProfile,
    agent: LocalSigner,
    manager: LocalSigner,
    customer: LocalSigner,
    context: ProfileContext,
) -> None:
    vault = _open(sealed.document, manager, context)
    remaining = {signer.address: signer.public_key64 for signer in (manager, customer)}
    next_version = context.with_version(2)
    resealed = seal_profile(vault.profile, readers=remaining, context=next_version, keyring=vault.keyring.rotated())

    with pytest.raises(PrivacyError) as raised:
        _open(resealed.document, agent, next_version)

    assert str(raised.value) == f"no wrapped key for {agent.address}"


def test_a_reseal_with_a_rotated_ring_keeps_every_older_epoch(
    sealed: SealedProfile, manager: LocalSigner, readers: dict[str, bytes], context: ProfileContext
) -> None:
    vault = _open(sealed.document, manager, context)
    rotated = vault.keyring.rotated()
    next_version = context.with_version(2)
    resealed = seal_profile(vault.profile, readers=readers, context=next_version, keyring=rotated)

    opened = _open(resealed.document, manager, next_version)

    assert opened.keyring.epochs == (1, 2, 3)
    assert [opened.keyring.key(epoch) for epoch in (1, 2)] == [vault.keyring.key(epoch) for epoch in (1, 2)]


def test_each_seal_uses_a_fresh_data_key_and_nonce(
    profile: CustomerProfile, readers: dict[str, bytes], context: ProfileContext, keyring: KeyRing
) -> None:
    first = seal_profile(profile, readers=readers, context=context, keyring=keyring)
    second = seal_profile(profile, readers=readers, context=context, keyring=keyring)

    assert first.data_key != second.data_key
    assert EncryptedDocument.from_bytes(first.document).nonce != EncryptedDocument.from_bytes(second.document).nonce


def test_a_65_byte_public_key_with_the_0x04_prefix_is_accepted(
    profile: CustomerProfile, agent: LocalSigner, context: ProfileContext, keyring: KeyRing
) -> None:
    prefixed = {agent.address: b"\x04" + agent.public_key64}

    document, _ = seal_profile(profile, readers=prefixed, context=context, keyring=keyring)

    assert _open(document, agent, context).profile == profile


def test_sealing_to_a_public_key_of_another_address_is_refused(
    profile: CustomerProfile, agent: LocalSigner, stranger: LocalSigner, context: ProfileContext, keyring: KeyRing
) -> None:
    misdirected = {agent.address: stranger.public_key64}

    with pytest.raises(ConfigError) as raised:
        seal_profile(profile, readers=misdirected, context=context, keyring=keyring)

    assert str(raised.value) == f"public key given for {agent.address} belongs to another address"


def test_sealing_to_no_readers_is_refused(profile: CustomerProfile, context: ProfileContext, keyring: KeyRing) -> None:
    with pytest.raises(ConfigError) as raised:
        seal_profile(profile, readers={}, context=context, keyring=keyring)

    assert str(raised.value) == "a document needs at least one reader"


# What the envelope shows and hides.


def test_the_envelope_contains_none_of_the_plaintext(sealed: SealedProfile) -> None:
    secrets = (SECRET_NAME, SECRET_EMAIL, SECRET_PHONE, SECRET_ADDRESS, SECRET_NOTES)
    # Words of six characters or more: shorter ones turn up in base64 by chance.
    words = [word for secret in secrets for word in secret.split() if len(word) >= 6]

    found = [
        needle
        for needle in (*secrets, *words)
        if needle.encode() in sealed.document or needle.lower().encode() in sealed.document.lower()
    ]

    assert found == []


def test_the_envelope_contains_none_of_the_content_keys(sealed: SealedProfile, keyring: KeyRing) -> None:
    forms = [form for key in keyring.keys.values() for form in (key, key.hex().encode(), _b64(key).encode())]

    found = [form for form in forms if form in sealed.document]

    assert found == []


def test_the_envelope_has_exactly_the_documented_fields(sealed: SealedProfile) -> None:
    fields = json.loads(sealed.document)

    assert sorted(fields) == [
        "ciphertext",
        "customer_id",
        "format",
        "key_commitment",
        "nonce",
        "profile_version",
        "wrapped_keys",
    ]
    assert fields["format"] == "chaincrm.profile.v2"
    assert len(base64.b64decode(fields["nonce"])) == 12


def test_padding_hides_profile_lengths_within_a_block(
    readers: dict[str, bytes], context: ProfileContext, keyring: KeyRing
) -> None:
    short = CustomerProfile(name="Al")
    longer = CustomerProfile(name="Alexandra Konstantinopoulou", notes="a" * 40)

    documents = [seal_profile(p, readers=readers, context=context, keyring=keyring).document for p in (short, longer)]

    assert {len(EncryptedDocument.from_bytes(document).ciphertext) for document in documents} == {256 + 16}


def test_a_document_lists_its_readers_sorted_with_their_hash(sealed: SealedProfile, readers: dict[str, bytes]) -> None:
    document = EncryptedDocument.from_bytes(sealed.document)

    assert document.readers == tuple(sorted(readers))
    assert document.readers_hash == readers_hash(readers)


# Strict parsing of the envelope.


def test_a_document_that_is_not_an_envelope_is_refused(agent: LocalSigner, context: ProfileContext) -> None:
    not_an_envelope = json.dumps({"name": "x"}).encode()

    with pytest.raises(PrivacyError) as raised:
        _open(not_an_envelope, agent, context)

    assert str(raised.value) == "document is not a chaincrm encrypted profile"


def test_a_version_1_document_is_refused_by_its_format(sealed: SealedProfile) -> None:
    old = _edit(sealed.document, format="chaincrm.profile.v1")

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(old)

    assert str(raised.value) == "document format 'chaincrm.profile.v1' is not chaincrm.profile.v2"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda doc: _edit(doc, content_keys={}), id="an extra field"),
        pytest.param(lambda doc: _without(doc, "key_commitment"), id="a missing field"),
        pytest.param(lambda doc: b"[" + doc + b"]", id="a list around the envelope"),
    ],
)
def test_an_envelope_with_other_fields_is_refused(sealed: SealedProfile, change: object) -> None:
    altered = change(sealed.document)  # type: ignore[operator]

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(altered)

    assert str(raised.value) == "document is not a chaincrm encrypted profile"


def test_an_envelope_with_a_repeated_field_is_refused(sealed: SealedProfile) -> None:
    repeated = sealed.document[:-1] + b',"customer_id":8}'

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(repeated)

    assert str(raised.value) == "document is not JSON"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_id": "7"}, "document customer id or profile version is not a uint256"),
        ({"customer_id": True}, "document customer id or profile version is not a uint256"),
        ({"profile_version": 1.0}, "document customer id or profile version is not a uint256"),
        ({"profile_version": -1}, "document customer id or profile version is not a uint256"),
        ({"nonce": 12}, "document nonce is not a base64 string"),
        ({"wrapped_keys": ["0x00"]}, "document has no wrapped keys"),
        ({"wrapped_keys": {}}, "document has no wrapped keys"),
    ],
    ids=[
        "id as text",
        "id as bool",
        "version as float",
        "negative version",
        "nonce as number",
        "keys as list",
        "no keys",
    ],
)
def test_an_envelope_field_of_the_wrong_type_is_refused(
    sealed: SealedProfile, changes: dict[str, object], message: str
) -> None:
    altered = _edit(sealed.document, **changes)

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(altered)

    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nonce", "!!!!!!!!!!!!!!!!", "document nonce is not valid base64"),
        ("ciphertext", "abc", "document ciphertext is not valid base64"),
        ("key_commitment", "QUJD RA==", "document key commitment is not valid base64"),
    ],
)
def test_an_envelope_field_with_bad_base64_is_refused(
    sealed: SealedProfile, field: str, value: str, message: str
) -> None:
    altered = _edit(sealed.document, **{field: value})

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(altered)

    assert str(raised.value) == message


def test_a_wrapped_key_with_bad_base64_is_refused(sealed: SealedProfile, agent: LocalSigner) -> None:
    wrapped = json.loads(sealed.document)["wrapped_keys"]
    altered = _edit(sealed.document, wrapped_keys={**wrapped, agent.address: "%%%"})

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(altered)

    assert str(raised.value) == "document wrapped key is not valid base64"


@pytest.mark.parametrize(
    ("field", "length", "message"),
    [
        ("nonce", 16, "document nonce is not 12 bytes"),
        ("key_commitment", 31, "document key commitment is not 32 bytes"),
    ],
)
def test_an_envelope_field_of_the_wrong_length_is_refused(
    sealed: SealedProfile, field: str, length: int, message: str
) -> None:
    altered = _edit(sealed.document, **{field: _b64(b"\x00" * length)})

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(altered)

    assert str(raised.value) == message


def test_a_wrapped_key_for_an_invalid_address_is_refused(sealed: SealedProfile) -> None:
    altered = _edit(sealed.document, wrapped_keys={"0x1234": _b64(b"key")})

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(altered)

    assert str(raised.value) == "document has a wrapped key for an invalid address"


def test_two_wrapped_keys_for_one_address_in_different_cases_are_refused(
    sealed: SealedProfile, agent: LocalSigner
) -> None:
    altered = _edit(sealed.document, wrapped_keys={agent.address.lower(): _b64(b"a"), agent.address: _b64(b"b")})

    with pytest.raises(PrivacyError) as raised:
        EncryptedDocument.from_bytes(altered)

    assert str(raised.value) == f"document has two wrapped keys for {agent.address}"


# Strict parsing of the decrypted plaintext (written by another client, authenticated but untrusted).


@pytest.mark.parametrize(
    ("plaintext", "message"),
    [
        (json.dumps({"profile": {"name": "Ada"}}).encode(), "decrypted profile is malformed"),
        (_plaintext({}, {"name": "Ada"}), "decrypted profile has no content keys"),
        (
            _plaintext({"01": _b64(b"k" * 32)}, {"name": "Ada"}),
            "decrypted profile has a content key epoch that is not a positive integer",
        ),
        (_plaintext({"1": _b64(b"k" * 16)}, {"name": "Ada"}), "document content key is not 32 bytes"),
        (_plaintext({"1": "not base64!"}, {"name": "Ada"}), "document content key is not valid base64"),
        (_plaintext({"1": _b64(b"k" * 32)}, {"name": "Ada", "ssn": "1"}), "decrypted profile is malformed"),
        (_plaintext({"1": _b64(b"k" * 32)}, {"name": 7}), "decrypted profile is malformed"),
        (b"\xff\xfe not json", "decrypted profile is not JSON"),
    ],
    ids=["no key ring", "empty key ring", "padded epoch", "short key", "bad base64", "extra field", "name", "binary"],
)
def test_a_decrypted_plaintext_out_of_format_is_refused(
    sealed: SealedProfile, agent: LocalSigner, context: ProfileContext, plaintext: bytes, message: str
) -> None:
    document = _with_plaintext(sealed, plaintext, context)

    with pytest.raises(PrivacyError) as raised:
        _open(document, agent, context)

    assert str(raised.value) == message


# The key ring.


def test_a_fresh_key_ring_holds_one_random_key_at_epoch_1() -> None:
    first, second = KeyRing.fresh(), KeyRing.fresh()

    assert (first.epochs, first.current_epoch) == ((1,), 1)
    assert len(first.current_key) == 32
    assert first.current_key != second.current_key


def test_rotating_adds_the_next_epoch_and_keeps_the_older_keys() -> None:
    ring = KeyRing.fresh()

    rotated = ring.rotated()

    assert rotated.epochs == (1, 2)
    assert rotated.key(1) == ring.key(1)
    assert rotated.current_key != ring.key(1)
    assert ring.epochs == (1,)


def test_asking_a_ring_for_an_epoch_it_lacks_is_a_privacy_error() -> None:
    ring = KeyRing({2: b"k" * 32})

    with pytest.raises(PrivacyError) as raised:
        ring.key(1)

    assert str(raised.value) == "content key epoch 1 is not in the key ring"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({}, "a key ring needs at least one content key"),
        ({0: b"k" * 32}, "content key epoch must be an integer from 1 to 2**256 - 1"),
        ({True: b"k" * 32}, "content key epoch must be an integer from 1 to 2**256 - 1"),
        ({1: b"k" * 31}, "content key for epoch 1 is not 32 bytes"),
        ({1: "k" * 32}, "content key for epoch 1 is not 32 bytes"),
    ],
    ids=["empty", "epoch 0", "epoch as bool", "short key", "key as text"],
)
def test_a_key_ring_refuses_bad_epochs_and_keys(keys: dict[int, bytes], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        KeyRing(keys)

    assert str(raised.value) == message


def test_a_key_ring_is_a_sorted_copy_unaffected_by_its_source() -> None:
    source = {3: b"c" * 32, 1: b"a" * 32}
    ring = KeyRing(source)

    source[4] = b"d" * 32

    assert ring.epochs == (1, 3)
    assert ring.current_epoch == 3
    with pytest.raises(TypeError):
        ring.keys[5] = b"e" * 32  # type: ignore[index]


def test_key_rings_with_the_same_keys_are_equal_and_hash_alike() -> None:
    one = KeyRing({1: b"a" * 32, 2: b"b" * 32})
    other = KeyRing({2: b"b" * 32, 1: b"a" * 32})

    assert one == other
    assert hash(one) == hash(other)


def test_a_key_ring_survives_a_deep_copy_and_a_pickle(keyring: KeyRing) -> None:
    copied = copy.deepcopy(keyring)
    unpickled = pickle.loads(pickle.dumps(keyring))

    assert copied == unpickled == keyring


def test_a_key_ring_repr_shows_epochs_and_no_key_material() -> None:
    key = bytes(range(32))
    ring = KeyRing({1: key})

    shown = repr(ring)

    assert shown == "KeyRing(epochs=(1,))"


def test_ring_fingerprints_name_each_key_in_epoch_order(keyring: KeyRing) -> None:
    fingerprints = keyring.fingerprints()

    assert fingerprints == (data_key_fingerprint(keyring.key(1)), data_key_fingerprint(keyring.key(2)))


# The reader-set hash the registry records.


def test_readers_hash_matches_solidity_for_addresses_whose_text_order_differs() -> None:
    hashed = readers_hash([UPPER_C, REGISTRY, LOWER_B])

    assert hashed == SOLIDITY_HASH_OF_THREE


def test_readers_hash_of_one_reader_matches_solidity() -> None:
    assert readers_hash([REGISTRY]) == SOLIDITY_HASH_OF_ONE


def test_readers_hash_equals_keccak_of_the_abi_encoded_sorted_array_elements(readers: dict[str, bytes]) -> None:
    ordered = sorted(readers, key=lambda address: int(address, 16))
    # abi.encode(address[]) is offset, length, then the elements padded to 32 bytes: the elements
    # alone are what abi.encodePacked(address[]) produces.
    elements = eth_abi.encode(["address[]"], [ordered])[64:]

    assert readers_hash(readers) == keccak(elements)


def test_readers_hash_ignores_input_order_and_letter_case() -> None:
    forward = readers_hash([REGISTRY, LOWER_B, UPPER_C])
    shuffled = readers_hash([UPPER_C.lower(), LOWER_B, REGISTRY.upper().replace("0X", "0x")])

    assert forward == shuffled


def test_readers_hash_of_no_readers_is_the_keccak_of_nothing() -> None:
    assert readers_hash([]) == keccak(b"")


def test_readers_hash_refuses_a_reader_listed_twice() -> None:
    with pytest.raises(ConfigError) as raised:
        readers_hash([REGISTRY, REGISTRY.lower()])

    assert str(raised.value) == f"reader {REGISTRY} is listed twice"


def test_readers_hash_refuses_a_single_string_in_place_of_a_collection() -> None:
    with pytest.raises(ConfigError) as raised:
        readers_hash(REGISTRY)

    assert str(raised.value) == "readers must be a collection of addresses, not one address"


# The profile itself.


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


# Fingerprints and erasure receipts.


def test_a_key_fingerprint_is_a_prefix_of_the_documents_key_commitment(sealed: SealedProfile) -> None:
    fingerprint = data_key_fingerprint(sealed.data_key)

    assert EncryptedDocument.from_bytes(sealed.document).key_commitment.hex().startswith(fingerprint)
    assert len(fingerprint) == 32


def test_the_erasure_receipt_hash_is_the_keccak_of_its_bytes(agent: LocalSigner) -> None:
    receipt, receipt_hash = erasure_receipt(CUSTOMER_ID, [(agent.address, FINGERPRINT)], [("profile", CID)], ERASED_AT)

    assert receipt_hash == keccak(receipt)


def test_the_erasure_receipt_records_keys_documents_and_time_and_nothing_else(
    sealed: SealedProfile, agent: LocalSigner
) -> None:
    fingerprint = data_key_fingerprint(sealed.data_key)

    receipt, _ = erasure_receipt(
        CUSTOMER_ID, [(agent.address, fingerprint)], [("profile", CID), ("interaction", OTHER_CID)], ERASED_AT
    )

    assert json.loads(receipt) == {
        "customer_id": CUSTOMER_ID,
        "destroyed_keys": [{"key_fingerprint": fingerprint, "reader": agent.address}],
        "documents": [{"cid": OTHER_CID, "kind": "interaction"}, {"cid": CID, "kind": "profile"}],
        "erased_at": "2025-03-01T12:00:00Z",
        "format": "chaincrm.erasure-receipt.v2",
    }


def test_the_erasure_receipt_does_not_depend_on_input_order_or_repeats(
    agent: LocalSigner, manager: LocalSigner
) -> None:
    destroyed = [(agent.address, "aa" * 16), (manager.address, "bb" * 16)]
    documents = [("profile", CID), ("deal-document", OTHER_CID)]

    forward = erasure_receipt(CUSTOMER_ID, destroyed, documents, ERASED_AT)
    backward = erasure_receipt(CUSTOMER_ID, destroyed[::-1] * 2, documents[::-1], ERASED_AT)

    assert forward == backward


def test_an_erasure_receipt_refuses_free_text_in_place_of_a_cid() -> None:
    with pytest.raises(ConfigError) as raised:
        erasure_receipt(CUSTOMER_ID, [], [("interaction", SECRET_NAME)], ERASED_AT)

    assert str(raised.value) == "erased document CID is not an alphanumeric CID"


def test_an_erasure_receipt_refuses_an_unknown_document_kind() -> None:
    with pytest.raises(ConfigError) as raised:
        erasure_receipt(CUSTOMER_ID, [], [(SECRET_NOTES, CID)], ERASED_AT)

    assert (
        str(raised.value)
        == "erased document kind must be one of profile, interaction, deal-document, payment-receipt, unreadable-batch"
    )


def test_an_erasure_receipt_refuses_free_text_in_place_of_a_fingerprint(agent: LocalSigner) -> None:
    with pytest.raises(ConfigError) as raised:
        erasure_receipt(CUSTOMER_ID, [(agent.address, SECRET_NAME)], [], ERASED_AT)

    assert str(raised.value) == "key fingerprint is not a data_key_fingerprint() value"


def test_an_erasure_receipt_refuses_a_time_without_a_zone() -> None:
    with pytest.raises(ConfigError) as raised:
        erasure_receipt(CUSTOMER_ID, [], [], datetime(2025, 3, 1, 12, 0, 0))

    assert str(raised.value) == "erasure time must be a timezone-aware datetime"


# Content documents: fixtures and helpers.


@pytest.fixture(scope="module")
def content_ring() -> KeyRing:
    return KeyRing.fresh()


@pytest.fixture(scope="module")
def content_context() -> ContentContext:
    return ContentContext(chain_id=CHAIN_ID, registry=REGISTRY, customer_id=CUSTOMER_ID, kind="interaction")


@pytest.fixture(scope="module")
def interaction() -> InteractionContent:
    return InteractionContent(note=SECRET_NOTE, attachments=(Attachment(SECRET_FILE_NAME, SECRET_FILE),))


@pytest.fixture(scope="module")
def sealed_note(interaction: InteractionContent, content_ring: KeyRing, content_context: ContentContext) -> bytes:
    return seal_content(interaction.to_bytes(), keyring=content_ring, context=content_context)


def _content_context(**changes: object) -> ContentContext:
    fields: dict[str, object] = {
        "chain_id": CHAIN_ID,
        "registry": REGISTRY,
        "customer_id": CUSTOMER_ID,
        "kind": "interaction",
    }
    fields.update(changes)
    return ContentContext(**fields)  # type: ignore[arg-type]


def _ciphertext_length(document: bytes) -> int:
    return len(base64.b64decode(json.loads(document)["ciphertext"]))


# Content documents: opening with the ring, across epochs.


def test_content_opens_with_the_ring_it_was_sealed_under(
    sealed_note: bytes, interaction: InteractionContent, content_ring: KeyRing, content_context: ContentContext
) -> None:
    opened = open_content(sealed_note, keyring=content_ring, context=content_context)

    assert InteractionContent.from_bytes(opened) == interaction


def test_content_is_sealed_under_the_newest_epoch(content_ring: KeyRing, content_context: ContentContext) -> None:
    rotated = content_ring.rotated().rotated()

    document = seal_content(b"note", keyring=rotated, context=content_context)

    assert content_epoch(document) == 3


def test_a_rotated_ring_still_opens_content_sealed_under_an_older_epoch(
    sealed_note: bytes, interaction: InteractionContent, content_ring: KeyRing, content_context: ContentContext
) -> None:
    rotated = content_ring.rotated()

    opened = open_content(sealed_note, keyring=rotated, context=content_context)

    assert opened == interaction.to_bytes()


def test_content_sealed_under_epoch_1_is_unreadable_with_a_ring_that_lacks_epoch_1(
    sealed_note: bytes, content_ring: KeyRing, content_context: ContentContext
) -> None:
    later_only = KeyRing({2: content_ring.rotated().key(2)})

    with pytest.raises(PrivacyError) as raised:
        open_content(sealed_note, keyring=later_only, context=content_context)

    assert str(raised.value) == "content key epoch 1 is not in the key ring"


def test_content_is_unreadable_with_another_customers_ring(sealed_note: bytes, content_context: ContentContext) -> None:
    with pytest.raises(PrivacyError) as raised:
        open_content(sealed_note, keyring=KeyRing.fresh(), context=content_context)

    assert str(raised.value) == "content ciphertext failed authentication"


# Content binding: customer, kind, registry, chain and epoch.


def test_content_opened_as_another_customers_is_refused_before_decryption(
    sealed_note: bytes, content_ring: KeyRing
) -> None:
    with pytest.raises(PrivacyError) as raised:
        open_content(sealed_note, keyring=content_ring, context=_content_context(customer_id=CUSTOMER_ID + 1))

    assert str(raised.value) == "content is customer 7's interaction, expected customer 8's interaction"


def test_an_interaction_opened_as_a_deal_document_is_refused(sealed_note: bytes, content_ring: KeyRing) -> None:
    with pytest.raises(PrivacyError) as raised:
        open_content(sealed_note, keyring=content_ring, context=_content_context(kind="deal-document"))

    assert str(raised.value) == "content is customer 7's interaction, expected customer 7's deal-document"


def test_content_moved_to_another_customer_fails_authentication(sealed_note: bytes, content_ring: KeyRing) -> None:
    moved = _edit(sealed_note, customer_id=CUSTOMER_ID + 1)

    with pytest.raises(PrivacyError) as raised:
        open_content(moved, keyring=content_ring, context=_content_context(customer_id=CUSTOMER_ID + 1))

    assert str(raised.value) == "content ciphertext failed authentication"


def test_content_relabelled_as_another_kind_fails_authentication(sealed_note: bytes, content_ring: KeyRing) -> None:
    relabelled = _edit(sealed_note, kind="deal-document")

    with pytest.raises(PrivacyError) as raised:
        open_content(relabelled, keyring=content_ring, context=_content_context(kind="deal-document"))

    assert str(raised.value) == "content ciphertext failed authentication"


def test_content_replayed_onto_another_registry_fails_authentication(sealed_note: bytes, content_ring: KeyRing) -> None:
    with pytest.raises(PrivacyError) as raised:
        open_content(sealed_note, keyring=content_ring, context=_content_context(registry=OTHER_REGISTRY))

    assert str(raised.value) == "content ciphertext failed authentication"


def test_content_replayed_onto_another_chain_fails_authentication(sealed_note: bytes, content_ring: KeyRing) -> None:
    with pytest.raises(PrivacyError) as raised:
        open_content(sealed_note, keyring=content_ring, context=_content_context(chain_id=OTHER_CHAIN_ID))

    assert str(raised.value) == "content ciphertext failed authentication"


def test_content_relabelled_with_another_epoch_fails_authentication(
    content_ring: KeyRing, content_context: ContentContext
) -> None:
    ring = KeyRing({1: content_ring.key(1), 2: content_ring.key(1)})  # the same key under two epochs
    relabelled = _edit(seal_content(b"note", keyring=ring, context=content_context), epoch=1)

    with pytest.raises(PrivacyError) as raised:
        open_content(relabelled, keyring=ring, context=content_context)

    assert str(raised.value) == "content ciphertext failed authentication"


def test_a_tampered_content_ciphertext_is_refused(
    sealed_note: bytes, content_ring: KeyRing, content_context: ContentContext
) -> None:
    ciphertext = bytearray(base64.b64decode(json.loads(sealed_note)["ciphertext"]))
    ciphertext[-1] ^= 0x01
    tampered = _edit(sealed_note, ciphertext=_b64(bytes(ciphertext)))

    with pytest.raises(PrivacyError) as raised:
        open_content(tampered, keyring=content_ring, context=content_context)

    assert str(raised.value) == "content ciphertext failed authentication"


# What sealed content shows and hides.


def test_identical_notes_seal_to_different_bytes(
    interaction: InteractionContent, content_ring: KeyRing, content_context: ContentContext
) -> None:
    first = seal_content(interaction.to_bytes(), keyring=content_ring, context=content_context)
    second = seal_content(interaction.to_bytes(), keyring=content_ring, context=content_context)

    assert json.loads(first)["nonce"] != json.loads(second)["nonce"]
    assert json.loads(first)["ciphertext"] != json.loads(second)["ciphertext"]


def test_no_hash_of_the_plaintext_or_the_note_appears_in_the_sealed_bytes(
    sealed_note: bytes, interaction: InteractionContent
) -> None:
    digests = [
        hash_function(plaintext)
        for plaintext in (interaction.to_bytes(), SECRET_NOTE.encode())
        for hash_function in (lambda data: hashlib.sha256(data).digest(), keccak)
    ]
    forms = [
        form
        for digest in digests
        for form in (digest, digest.hex().encode(), digest.hex().upper().encode(), _b64(digest).encode())
    ]

    found = [form for form in forms if form in sealed_note]

    assert found == []


def test_no_plaintext_appears_in_the_sealed_bytes(sealed_note: bytes) -> None:
    secrets = (SECRET_NOTE, SECRET_FILE_NAME, SECRET_FILE.decode())
    # Words of six characters or more: shorter ones turn up in base64 by chance.
    words = [word for secret in secrets for word in secret.replace(";", " ").split() if len(word) >= 6]
    as_stored = [_b64(SECRET_FILE), _b64(SECRET_FILE_NAME.encode())]

    found = [needle for needle in (*secrets, *words, *as_stored) if needle.lower().encode() in sealed_note.lower()]

    assert found == []


def test_the_content_envelope_has_exactly_the_documented_fields(sealed_note: bytes) -> None:
    fields = json.loads(sealed_note)

    assert sorted(fields) == ["ciphertext", "customer_id", "epoch", "format", "kind", "nonce"]
    assert (fields["format"], fields["customer_id"], fields["kind"], fields["epoch"]) == (
        "chaincrm.content.v1",
        CUSTOMER_ID,
        "interaction",
        1,
    )
    assert len(base64.b64decode(fields["nonce"])) == 12


@pytest.mark.parametrize("size", [0, 1, 100, 248])
def test_padding_hides_content_lengths_within_a_block(
    content_ring: KeyRing, content_context: ContentContext, size: int
) -> None:
    document = seal_content(b"x" * size, keyring=content_ring, context=content_context)

    assert _ciphertext_length(document) == 256 + 16


def test_content_one_byte_past_a_block_takes_a_second_block(
    content_ring: KeyRing, content_context: ContentContext
) -> None:
    document = seal_content(b"x" * 249, keyring=content_ring, context=content_context)

    assert _ciphertext_length(document) == 512 + 16


@pytest.mark.parametrize("data", [b"", b"\x00", b"pdf\x00\x00\x00", b" trailing spaces  "], ids=repr)
def test_binary_content_ending_in_padding_like_bytes_round_trips_exactly(
    content_ring: KeyRing, content_context: ContentContext, data: bytes
) -> None:
    document = seal_content(data, keyring=content_ring, context=content_context)

    assert open_content(document, keyring=content_ring, context=content_context) == data


def test_a_decrypted_length_prefix_beyond_the_padding_is_refused(
    content_ring: KeyRing, content_context: ContentContext
) -> None:
    nonce = os.urandom(12)
    lying = (10_000).to_bytes(8, "big").ljust(256, b"\x00")
    aad = content_context.associated_data() + (1).to_bytes(32, "big")
    document = _edit(
        seal_content(b"", keyring=content_ring, context=content_context),
        nonce=_b64(nonce),
        ciphertext=_b64(AESGCM(content_ring.key(1)).encrypt(nonce, lying, aad)),
    )

    with pytest.raises(PrivacyError) as raised:
        open_content(document, keyring=content_ring, context=content_context)

    assert str(raised.value) == "decrypted content padding is malformed"


def test_the_epoch_is_readable_without_a_key(sealed_note: bytes) -> None:
    assert content_epoch(sealed_note) == 1


# Strict parsing of the content envelope.


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"content_hash": "00"}, "document is not a chaincrm encrypted content document"),
        ({"format": "chaincrm.profile.v2"}, "document format is not chaincrm.content.v1"),
        ({"customer_id": "7"}, "content customer id is not a uint256"),
        ({"customer_id": False}, "content customer id is not a uint256"),
        ({"kind": "diary"}, "content kind is not one of interaction, deal-document, payment-receipt"),
        ({"epoch": 0}, "content epoch is not a positive uint256"),
        ({"epoch": 1.0}, "content epoch is not a positive uint256"),
        ({"nonce": 12}, "document nonce is not a base64 string"),
    ],
    ids=[
        "extra field",
        "profile format",
        "id as text",
        "id as bool",
        "unknown kind",
        "epoch 0",
        "epoch as float",
        "nonce",
    ],
)
def test_a_content_envelope_with_wrong_fields_or_types_is_refused(
    sealed_note: bytes, changes: dict[str, object], message: str
) -> None:
    altered = _edit(sealed_note, **changes)

    with pytest.raises(PrivacyError) as raised:
        content_epoch(altered)

    assert str(raised.value) == message


def test_a_content_envelope_missing_a_field_is_refused(sealed_note: bytes) -> None:
    fields = json.loads(sealed_note)
    del fields["epoch"]

    with pytest.raises(PrivacyError) as raised:
        content_epoch(json.dumps(fields).encode())

    assert str(raised.value) == "document is not a chaincrm encrypted content document"


def test_a_content_envelope_with_a_repeated_field_is_refused(sealed_note: bytes) -> None:
    repeated = sealed_note[:-1] + b',"epoch":2}'

    with pytest.raises(PrivacyError) as raised:
        content_epoch(repeated)

    assert str(raised.value) == "content document is not JSON"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nonce", "****************", "document nonce is not valid base64"),
        ("ciphertext", "AAA", "document ciphertext is not valid base64"),
    ],
)
def test_a_content_envelope_with_bad_base64_is_refused(
    sealed_note: bytes, field: str, value: str, message: str
) -> None:
    altered = _edit(sealed_note, **{field: value})

    with pytest.raises(PrivacyError) as raised:
        content_epoch(altered)

    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("field", "length", "message"),
    [
        ("nonce", 16, "document nonce is not 12 bytes"),
        ("ciphertext", 16, "document ciphertext is not a whole number of padding blocks"),
        ("ciphertext", 256 + 15, "document ciphertext is not a whole number of padding blocks"),
    ],
    ids=["long nonce", "tag only", "short block"],
)
def test_a_content_envelope_field_of_the_wrong_length_is_refused(
    sealed_note: bytes, field: str, length: int, message: str
) -> None:
    altered = _edit(sealed_note, **{field: _b64(b"\x00" * length)})

    with pytest.raises(PrivacyError) as raised:
        content_epoch(altered)

    assert str(raised.value) == message


def test_a_content_context_refuses_an_unknown_kind() -> None:
    with pytest.raises(ConfigError) as raised:
        _content_context(kind="profile")

    assert str(raised.value) == "content kind must be one of interaction, deal-document, payment-receipt"


def test_sealing_text_instead_of_bytes_is_refused(content_ring: KeyRing, content_context: ContentContext) -> None:
    with pytest.raises(ConfigError) as raised:
        seal_content(SECRET_NOTE, keyring=content_ring, context=content_context)  # type: ignore[arg-type]

    assert str(raised.value) == "content to seal must be bytes"


# Interaction content and attachments.


def test_an_interaction_round_trips_through_bytes(interaction: InteractionContent) -> None:
    assert InteractionContent.from_bytes(interaction.to_bytes()) == interaction


def test_an_interaction_serialises_to_canonical_json_with_base64_data() -> None:
    content = InteractionContent("hi", (Attachment("a.bin", b"\x00\xff"),))

    raw = content.to_bytes()

    assert raw == b'{"attachments":[{"data":"AP8=","name":"a.bin"}],"note":"hi"}'


def test_an_interaction_with_an_empty_note_and_no_attachments_is_allowed() -> None:
    empty = InteractionContent(note="")

    assert InteractionContent.from_bytes(empty.to_bytes()) == empty


def test_an_interaction_keeps_attachments_given_as_a_list_as_a_tuple() -> None:
    attachment = Attachment("a.txt", b"a")

    content = InteractionContent("", [attachment])  # type: ignore[arg-type]

    assert content.attachments == (attachment,)


@pytest.mark.parametrize(
    ("note", "attachments", "message"),
    [
        (None, (), "interaction note must be a string"),
        ("\ud800", (), "interaction note is not valid Unicode text"),
        ("", ("a.txt",), "interaction attachments must be a tuple of Attachment"),
        ("", "a.txt", "interaction attachments must be a tuple of Attachment"),
        ("", (Attachment("a", b"1"), Attachment("a", b"2")), "interaction has two attachments with the same name"),
    ],
    ids=["note none", "lone surrogate", "name for attachment", "text for tuple", "same name twice"],
)
def test_an_interaction_with_bad_fields_is_refused(note: object, attachments: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        InteractionContent(note, attachments)  # type: ignore[arg-type]

    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("", b"", "attachment name is empty"),
        ("x" * 256, b"", "attachment name is longer than 255 characters"),
        ("../etc/passwd", b"", "attachment name must be a file name, not a path"),
        ("reports\\q3.pdf", b"", "attachment name must be a file name, not a path"),
        ("..", b"", "attachment name must be a file name, not a path"),
        ("a\x00.pdf", b"", "attachment name has a control character"),
        ("a.pdf", "text", "attachment data must be bytes"),
    ],
    ids=["empty", "256 chars", "slash", "backslash", "dot dot", "nul", "text data"],
)
def test_an_attachment_with_a_bad_name_or_data_is_refused(name: str, data: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Attachment(name, data)  # type: ignore[arg-type]

    assert str(raised.value) == message


def test_an_attachment_name_of_255_characters_is_allowed() -> None:
    assert Attachment("x" * 255, b"").name == "x" * 255


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "interaction content is not JSON"),
        (b'{"note":"hi"}', "interaction content is not a note with attachments"),
        (b'{"attachments":[],"note":"hi","extra":1}', "interaction content is not a note with attachments"),
        (b'{"attachments":{},"note":"hi"}', "interaction content attachments are not a list"),
        (
            b'{"attachments":[{"name":"a"}],"note":"hi"}',
            "interaction content has an attachment that is not a name with data",
        ),
        (b'{"attachments":[{"data":"***","name":"a"}],"note":"hi"}', "document attachment data is not valid base64"),
        (
            b'{"attachments":[{"data":"","name":"a/b"}],"note":"hi"}',
            "interaction content is malformed: attachment name must be a file name, not a path",
        ),
        (b'{"attachments":[],"note":7}', "interaction content is malformed: interaction note must be a string"),
        (b'{"attachments":[],"note":"a","note":"b"}', "interaction content is not JSON"),
    ],
    ids=["not json", "missing field", "extra field", "dict", "no data", "bad base64", "path", "note", "repeated"],
)
def test_interaction_bytes_out_of_format_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(PrivacyError) as raised:
        InteractionContent.from_bytes(raw)

    assert str(raised.value) == message


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=2000), kind=st.sampled_from(["interaction", "deal-document", "payment-receipt"]))
def test_any_bytes_survive_seal_and_open(data: bytes, kind: str) -> None:
    ring = KeyRing.fresh()
    content_context = _content_context(kind=kind)

    document = seal_content(data, keyring=ring, context=content_context)

    assert open_content(document, keyring=ring, context=content_context) == data


# Properties.


_profiles = st.builds(
    CustomerProfile,
    name=st.text(min_size=1, max_size=80).filter(lambda name: name.strip() != ""),
    email=st.one_of(st.just(""), st.emails()),
    phone=st.one_of(st.just(""), st.from_regex(r"\+?[0-9][0-9 ]{0,18}", fullmatch=True)),
    address=st.text(max_size=200),
    notes=st.text(max_size=1000),
)


@settings(max_examples=50, deadline=None)
@given(random_profile=_profiles, epochs=st.integers(min_value=1, max_value=5))
def test_any_valid_profile_and_ring_survive_seal_and_open(random_profile: CustomerProfile, epochs: int) -> None:
    reader = _signer("property reader")
    context = ProfileContext(CHAIN_ID, REGISTRY, customer_id=CUSTOMER_ID, version=3)
    ring = KeyRing.fresh()
    for _ in range(epochs - 1):
        ring = ring.rotated()
    document, _ = seal_profile(
        random_profile, readers={reader.address: reader.public_key64}, context=context, keyring=ring
    )

    opened = _open(document, reader, context)

    assert opened == Vault(random_profile, ring)
