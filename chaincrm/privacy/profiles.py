"""Profile documents: a customer's profile and content-key ring, sealed for the readers the chain names.

:func:`seal_profile` turns a :class:`CustomerProfile` and the customer's :class:`KeyRing` into an
:class:`EncryptedDocument`; :func:`open_vault` turns it back, for a reader who holds one of the
keys it was sealed to. The profile document is the only place the customer's content keys live,
and only ever wrapped.

* A fresh **data key** (32 random bytes) per sealed version. The plaintext is canonical JSON::

      {"content_keys": {"1": "<base64 key>", "2": "..."}, "profile": {"address": "", "email": "", ...}}

  padded with spaces to a multiple of :data:`PADDING_BLOCK_BYTES` so the length says little about
  the contents, and encrypted with AES-256-GCM under a random 96-bit nonce. Each data key encrypts
  exactly once, so a nonce can never repeat under one key.
* The GCM **associated data** is :meth:`ProfileContext.associated_data`: a domain tag, then the
  chain id, the registry address, the customer id and the profile version, each fixed-width. A
  ciphertext copied onto another customer, version, registry or chain fails authentication.
* The data key is **wrapped** for every reader with ECIES on secp256k1 (``eciespy``'s default
  configuration, which ``eciesjs`` reads too) to the reader's 64-byte public key, the form the
  on-chain directory stores (no ``0x04`` prefix). Each public key must hash to its reader's
  address, so a directory entry pointing at somebody else's key is refused rather than trusted.
* A **key commitment**, SHA-256 over a domain tag and the data key. AES-GCM alone is not
  key-committing: a dishonest sealer could wrap two different keys that both "authenticate" the
  same ciphertext. With the commitment every reader is sure to read the same plaintext.

The envelope (canonical JSON: sorted keys, no spaces, binary fields in standard base64)::

    {"ciphertext": "...", "customer_id": 7, "format": "chaincrm.profile.v2",
     "key_commitment": "...", "nonce": "...", "profile_version": 2,
     "wrapped_keys": {"0xAbc...": "...", "0xDef...": "..."}}

It shows who can read the document (reader addresses) and the customer id, which the chain shows
anyway, and nothing else: no names, e-mails or content keys.

Readers are computed by the chain, not copied from the last version. A re-seal (a grant, a
revocation, an edit) is :func:`open_vault`, then :func:`seal_profile` of the next version for the
chain's current reader set, whose :func:`readers_hash` the registry records with the version. When
a reader is removed, seal with :meth:`KeyRing.rotated`: they keep the epochs they could read and
nothing after.

Parsing is strict (see :mod:`chaincrm.privacy.encoding`). The content keys sealed here encrypt
the customer's notes and documents (:mod:`chaincrm.privacy.content`); erasure destroys every
version of this document, and with it every copy of those keys (:mod:`chaincrm.privacy.receipts`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

import coincurve
import ecies
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.privacy.encoding import (
    ADDRESS_BYTES,
    UINT256_BYTES,
    b64,
    canonical_json,
    checked_address,
    is_uint256,
    require_uint256,
    strict_json,
    unb64,
)

DOCUMENT_FORMAT = "chaincrm.profile.v2"

DATA_KEY_BYTES = 32
CONTENT_KEY_BYTES = 32
NONCE_BYTES = 12
PADDING_BLOCK_BYTES = 256
PUBLIC_KEY64_BYTES = 64
PRIVATE_KEY_BYTES = 32
FINGERPRINT_BYTES = 16
KEY_COMMITMENT_BYTES = 32
FIRST_EPOCH = 1

_AAD_DOMAIN = b"chaincrm/profile/v2\x00"
_KEY_COMMITMENT_DOMAIN = b"chaincrm/data-key-commitment/v1\x00"
_UNCOMPRESSED_POINT_PREFIX = b"\x04"
_QUOTED_VALUE_MAX_CHARS = 40

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_EPOCH_TEXT = re.compile(r"[1-9][0-9]{0,77}")
_PROFILE_FIELDS = ("name", "email", "phone", "address", "notes")
_PLAINTEXT_FIELDS = frozenset({"content_keys", "profile"})
_DOCUMENT_FIELDS = frozenset(
    {
        "ciphertext",
        "customer_id",
        "format",
        "key_commitment",
        "nonce",
        "profile_version",
        "wrapped_keys",
    }
)


@dataclass(frozen=True)
class CustomerProfile:
    """A customer's personal data: the only plaintext this module handles.

    Only ``name`` is required. Error messages name the field at fault, never its value.
    """

    name: str
    email: str = ""
    phone: str = ""
    address: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        for field_name in _PROFILE_FIELDS:
            value = getattr(self, field_name)
            if not isinstance(value, str):
                raise ConfigError(f"customer {field_name} must be a string")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ConfigError(f"customer {field_name} is not valid Unicode text") from None
        if not self.name.strip():
            raise ConfigError("customer name is empty")
        if self.email and _EMAIL.fullmatch(self.email) is None:
            raise ConfigError("customer email is malformed")
        if self.phone and not any(character.isdigit() for character in self.phone):
            raise ConfigError("customer phone has no digits")

    def to_json(self) -> bytes:
        """Canonical UTF-8 JSON: sorted keys, no insignificant whitespace."""
        return canonical_json(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> CustomerProfile:
        """Parse what :meth:`to_json` wrote; unknown or missing fields are refused."""
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ConfigError("customer profile is not valid JSON") from None
        return cls._from_fields(fields)

    @classmethod
    def _from_fields(cls, fields: Any) -> CustomerProfile:
        if not isinstance(fields, dict):
            raise ConfigError("customer profile is not a JSON object")
        unknown = sorted(set(fields) - set(_PROFILE_FIELDS))
        if unknown:
            raise ConfigError(f"customer profile has unknown fields: {', '.join(unknown)}")
        if "name" not in fields:
            raise ConfigError("customer profile has no name")
        return cls(**fields)


@dataclass(frozen=True, repr=False)
class KeyRing:
    """A customer's content keys by epoch (1, 2, ...); the newest encrypts, every one decrypts.

    The mapping is copied into an immutable one sorted by epoch, so a ring never changes after it
    is built; :meth:`rotated` returns a new ring. Its ``repr`` shows epochs, never key material.
    """

    keys: Mapping[int, bytes]

    def __post_init__(self) -> None:
        if not isinstance(self.keys, Mapping) or not self.keys:
            raise ConfigError("a key ring needs at least one content key")
        for epoch, key in self.keys.items():
            require_uint256("content key epoch", epoch, minimum=FIRST_EPOCH)
            if not isinstance(key, bytes) or len(key) != CONTENT_KEY_BYTES:
                raise ConfigError(f"content key for epoch {epoch} is not {CONTENT_KEY_BYTES} bytes")
        object.__setattr__(self, "keys", MappingProxyType(dict(sorted(self.keys.items()))))

    @classmethod
    def fresh(cls) -> KeyRing:
        """A new customer's ring: epoch 1 with a random key."""
        return cls({FIRST_EPOCH: _random_key()})

    @property
    def epochs(self) -> tuple[int, ...]:
        """The epochs held, oldest first."""
        return tuple(self.keys)

    @property
    def current_epoch(self) -> int:
        """The newest epoch: the one new content is sealed under."""
        return max(self.keys)

    @property
    def current_key(self) -> bytes:
        """The newest content key."""
        return self.keys[self.current_epoch]

    def key(self, epoch: int) -> bytes:
        """The content key of ``epoch``; a :class:`PrivacyError` when the ring does not hold it."""
        key = self.keys.get(epoch) if is_uint256(epoch) else None
        if key is None:
            raise PrivacyError(f"content key epoch {epoch} is not in the key ring")
        return key

    def rotated(self) -> KeyRing:
        """This ring plus a new epoch with a random key (after a reader is removed)."""
        return KeyRing({**self.keys, self.current_epoch + 1: _random_key()})

    def fingerprints(self) -> tuple[str, ...]:
        """:func:`data_key_fingerprint` of each key, oldest epoch first: for erasure receipts."""
        return tuple(data_key_fingerprint(key) for key in self.keys.values())

    def __hash__(self) -> int:
        return hash(tuple(self.keys.items()))

    def __reduce__(self) -> tuple[type[KeyRing], tuple[dict[int, bytes]]]:
        # A mappingproxy cannot be pickled or deep-copied; rebuild from a plain dict instead.
        return KeyRing, (dict(self.keys),)

    def __repr__(self) -> str:
        return f"KeyRing(epochs={self.epochs})"


@dataclass(frozen=True)
class Vault:
    """What a profile document holds: the customer's profile and their content key ring."""

    profile: CustomerProfile
    keyring: KeyRing


@dataclass(frozen=True)
class ProfileContext:
    """Where a profile version lives on-chain; bound into every ciphertext as associated data."""

    chain_id: int
    registry: str
    customer_id: int
    version: int

    def __post_init__(self) -> None:
        require_uint256("chain id", self.chain_id, minimum=1)
        require_uint256("customer id", self.customer_id)
        require_uint256("profile version", self.version)
        object.__setattr__(self, "registry", checked_address("registry", self.registry))

    def associated_data(self) -> bytes:
        """Domain tag, chain id, registry, customer id, version: fixed-width, big-endian."""
        return b"".join(
            (
                _AAD_DOMAIN,
                self.chain_id.to_bytes(UINT256_BYTES, "big"),
                bytes.fromhex(self.registry[2:]),
                self.customer_id.to_bytes(UINT256_BYTES, "big"),
                self.version.to_bytes(UINT256_BYTES, "big"),
            )
        )

    def with_version(self, version: int) -> ProfileContext:
        """The same customer at another profile version."""
        return dataclasses.replace(self, version=version)


@dataclass(frozen=True)
class WrappedKey:
    """A document's data key, ECIES-encrypted to one reader."""

    reader: str
    wrapped: bytes


@dataclass(frozen=True)
class EncryptedDocument:
    """The envelope stored on IPFS. Parsed from untrusted bytes, so parsing is strict."""

    customer_id: int
    profile_version: int
    nonce: bytes
    ciphertext: bytes
    key_commitment: bytes
    wrapped_keys: tuple[WrappedKey, ...]

    @property
    def readers(self) -> tuple[str, ...]:
        """Checksummed addresses that hold a wrapped copy of the data key, sorted."""
        return tuple(entry.reader for entry in self.wrapped_keys)

    @property
    def readers_hash(self) -> bytes:
        """:func:`readers_hash` of :attr:`readers`: compare it with the version's on-chain hash."""
        return readers_hash(self.readers)

    def wrapped_key_for(self, reader: str) -> bytes | None:
        """The wrapped data key for ``reader``, or None if the document was not sealed to them."""
        address = checked_address("reader address", reader)
        for entry in self.wrapped_keys:
            if entry.reader == address:
                return entry.wrapped
        return None

    def to_bytes(self) -> bytes:
        """Canonical JSON envelope; see the module docstring."""
        return canonical_json(
            {
                "ciphertext": b64(self.ciphertext),
                "customer_id": self.customer_id,
                "format": DOCUMENT_FORMAT,
                "key_commitment": b64(self.key_commitment),
                "nonce": b64(self.nonce),
                "profile_version": self.profile_version,
                "wrapped_keys": {entry.reader: b64(entry.wrapped) for entry in self.wrapped_keys},
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> EncryptedDocument:
        """Parse an envelope; anything unexpected raises :class:`PrivacyError`."""
        fields = strict_json(raw, "document")
        if not isinstance(fields, dict) or set(fields) != _DOCUMENT_FIELDS:
            raise PrivacyError("document is not a chaincrm encrypted profile")
        if fields["format"] != DOCUMENT_FORMAT:
            found = str(fields["format"])[:_QUOTED_VALUE_MAX_CHARS]
            raise PrivacyError(f"document format {found!r} is not {DOCUMENT_FORMAT}")
        customer_id = fields["customer_id"]
        profile_version = fields["profile_version"]
        if not is_uint256(customer_id) or not is_uint256(profile_version):
            raise PrivacyError("document customer id or profile version is not a uint256")
        wrapped = fields["wrapped_keys"]
        if not isinstance(wrapped, dict) or not wrapped:
            raise PrivacyError("document has no wrapped keys")
        entries: dict[str, WrappedKey] = {}
        for reader, value in wrapped.items():
            try:
                address = to_checksum_address(reader)
            except (TypeError, ValueError):
                raise PrivacyError("document has a wrapped key for an invalid address") from None
            if address in entries:
                raise PrivacyError(f"document has two wrapped keys for {address}")
            entries[address] = WrappedKey(address, unb64(value, "wrapped key"))
        return cls(
            customer_id=customer_id,
            profile_version=profile_version,
            nonce=unb64(fields["nonce"], "nonce", length=NONCE_BYTES),
            ciphertext=unb64(fields["ciphertext"], "ciphertext"),
            key_commitment=unb64(fields["key_commitment"], "key commitment", length=KEY_COMMITMENT_BYTES),
            wrapped_keys=tuple(entries[address] for address in sorted(entries)),
        )


class SealedProfile(NamedTuple):
    """What :func:`seal_profile` returns: the envelope to store and the data key inside it."""

    document: bytes
    data_key: bytes


def seal_profile(
    profile: CustomerProfile,
    *,
    readers: Mapping[str, bytes],
    context: ProfileContext,
    keyring: KeyRing,
) -> SealedProfile:
    """Encrypt ``profile`` and ``keyring`` under a fresh data key wrapped for each reader.

    ``readers`` maps each reader's address to their 64-byte public key (a 65-byte key with the
    ``0x04`` prefix is accepted too): the chain's reader set for this version, whose
    :func:`readers_hash` the registry checks. Keep the returned data key only as long as it is
    needed: the document already carries it, wrapped, for every reader.
    """
    if not isinstance(profile, CustomerProfile):
        raise ConfigError("profile must be a CustomerProfile")
    if not isinstance(keyring, KeyRing):
        raise ConfigError("keyring must be a KeyRing")
    public_keys = _reader_public_keys(readers)
    data_key = _random_key()
    nonce = os.urandom(NONCE_BYTES)
    plaintext = _pad(_vault_plaintext(profile, keyring))
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, context.associated_data())
    document = EncryptedDocument(
        customer_id=context.customer_id,
        profile_version=context.version,
        nonce=nonce,
        ciphertext=ciphertext,
        key_commitment=_key_commitment(data_key),
        wrapped_keys=_wrap(data_key, public_keys),
    )
    return SealedProfile(document.to_bytes(), data_key)


def open_vault(
    document_bytes: bytes,
    *,
    reader_address: str,
    reader_private_key: bytes,
    context: ProfileContext,
) -> Vault:
    """Decrypt a profile document for one reader: the profile and the content key ring.

    A document this reader cannot open raises a one-line :class:`PrivacyError`; a malformed
    argument (an address, a key of the wrong length) raises :class:`ConfigError`.
    """
    document = EncryptedDocument.from_bytes(document_bytes)
    _check_context(document, context)
    data_key = _unwrap(document, reader_address, reader_private_key)
    try:
        padded = AESGCM(data_key).decrypt(document.nonce, document.ciphertext, context.associated_data())
    except InvalidTag:
        raise PrivacyError("ciphertext failed authentication") from None
    return _parse_vault(padded)


def open_profile(
    document_bytes: bytes,
    *,
    reader_address: str,
    reader_private_key: bytes,
    context: ProfileContext,
) -> CustomerProfile:
    """The profile in a document, for one reader: :func:`open_vault` without the key ring."""
    return open_vault(
        document_bytes,
        reader_address=reader_address,
        reader_private_key=reader_private_key,
        context=context,
    ).profile


def unwrap_data_key(document_bytes: bytes, *, reader_address: str, reader_private_key: bytes) -> bytes:
    """The document's data key, unwrapped with a reader's private key and checked."""
    document = EncryptedDocument.from_bytes(document_bytes)
    return _unwrap(document, reader_address, reader_private_key)


def readers_hash(readers: Iterable[str]) -> bytes:
    """keccak256 of a reader set, exactly as the registry computes it.

    The registry records ``keccak256(abi.encodePacked(readers))`` where ``readers`` is an
    ``address[]`` sorted ascending. ``abi.encodePacked`` pads each *array element* to 32 bytes
    (unlike a lone packed ``address``, which stays 20), so the hash is over the addresses sorted by
    integer value (not by checksummed text, whose letter case would reorder them), each left-padded
    with zeros to 32 bytes, concatenated. No readers hash to ``keccak256("")``. A reader listed
    twice is a :class:`ConfigError`: the chain's set never repeats one.
    """
    if isinstance(readers, str | bytes):
        raise ConfigError("readers must be a collection of addresses, not one address")
    addresses: set[str] = set()
    for reader in readers:
        address = checked_address("reader address", reader)
        if address in addresses:
            raise ConfigError(f"reader {address} is listed twice")
        addresses.add(address)
    ordered = sorted(addresses, key=lambda address: int(address, 16))
    return keccak(b"".join(bytes.fromhex(address[2:]).rjust(UINT256_BYTES, b"\x00") for address in ordered))


def data_key_fingerprint(key: bytes) -> str:
    """A short public name for a data key or content key: the first 16 bytes of its commitment, in hex.

    For a data key it is a prefix of the ``key_commitment`` in the document the key belongs to, so
    an erasure receipt can be matched against a document without revealing anything about the key.
    """
    if not isinstance(key, bytes) or len(key) != DATA_KEY_BYTES:
        raise ConfigError("data key is not 32 bytes")
    return _key_commitment(key)[:FINGERPRINT_BYTES].hex()


def _vault_plaintext(profile: CustomerProfile, keyring: KeyRing) -> bytes:
    return canonical_json(
        {
            "content_keys": {str(epoch): b64(key) for epoch, key in keyring.keys.items()},
            "profile": dataclasses.asdict(profile),
        }
    )


def _parse_vault(padded: bytes) -> Vault:
    """The decrypted plaintext, as strictly as the envelope: it was written by another client."""
    fields = strict_json(padded, "decrypted profile")
    if not isinstance(fields, dict) or set(fields) != _PLAINTEXT_FIELDS:
        raise PrivacyError("decrypted profile is malformed")
    content_keys = fields["content_keys"]
    if not isinstance(content_keys, dict) or not content_keys:
        raise PrivacyError("decrypted profile has no content keys")
    keys: dict[int, bytes] = {}
    for epoch, key in content_keys.items():
        if _EPOCH_TEXT.fullmatch(epoch) is None:
            raise PrivacyError("decrypted profile has a content key epoch that is not a positive integer")
        keys[int(epoch)] = unb64(key, "content key", length=CONTENT_KEY_BYTES)
    try:
        return Vault(CustomerProfile._from_fields(fields["profile"]), KeyRing(keys))
    except (ConfigError, TypeError):
        raise PrivacyError("decrypted profile is malformed") from None


def _reader_public_keys(readers: Mapping[str, bytes]) -> dict[str, bytes]:
    """Checksummed address -> 65-byte uncompressed public key, each checked against its address."""
    if not readers:
        raise ConfigError("a document needs at least one reader")
    public_keys: dict[str, bytes] = {}
    for reader, public_key in readers.items():
        address = checked_address("reader address", reader)
        if address in public_keys:
            raise ConfigError(f"reader {address} is listed twice")
        point = _uncompressed_point(address, public_key)
        if _address_of_point(point) != address:
            raise ConfigError(f"public key given for {address} belongs to another address")
        public_keys[address] = point
    return public_keys


def _uncompressed_point(address: str, public_key: bytes) -> bytes:
    if not isinstance(public_key, bytes):
        raise ConfigError(f"public key for {address} is not bytes")
    if len(public_key) == PUBLIC_KEY64_BYTES:
        point = _UNCOMPRESSED_POINT_PREFIX + public_key
    elif len(public_key) == PUBLIC_KEY64_BYTES + 1 and public_key[:1] == _UNCOMPRESSED_POINT_PREFIX:
        point = public_key
    else:
        raise ConfigError(f"public key for {address} is not 64 bytes")
    try:
        coincurve.PublicKey(point)
    except ValueError:
        raise ConfigError(f"public key for {address} is not a secp256k1 point") from None
    return point


def _address_of_point(point: bytes) -> str:
    return to_checksum_address(keccak(point[1:])[-ADDRESS_BYTES:])


def _wrap(data_key: bytes, public_keys: Mapping[str, bytes]) -> tuple[WrappedKey, ...]:
    return tuple(WrappedKey(address, ecies.encrypt(public_keys[address], data_key)) for address in sorted(public_keys))


def _unwrap(document: EncryptedDocument, reader_address: str, reader_private_key: bytes) -> bytes:
    address = checked_address("reader address", reader_address)
    wrapped = document.wrapped_key_for(address)
    if wrapped is None:
        raise PrivacyError(f"no wrapped key for {address}")
    if not isinstance(reader_private_key, bytes) or len(reader_private_key) != PRIVATE_KEY_BYTES:
        raise ConfigError("reader private key is not 32 bytes")
    try:
        data_key = ecies.decrypt(bytes(reader_private_key), wrapped)
    except ValueError:
        raise PrivacyError(f"wrapped key for {address} cannot be unwrapped with this key") from None
    if len(data_key) != DATA_KEY_BYTES or _key_commitment(data_key) != document.key_commitment:
        raise PrivacyError("data key does not belong to this document")
    return data_key


def _check_context(document: EncryptedDocument, context: ProfileContext) -> None:
    if (document.customer_id, document.profile_version) != (context.customer_id, context.version):
        raise PrivacyError(
            f"document is customer {document.customer_id} version {document.profile_version},"
            f" expected customer {context.customer_id} version {context.version}"
        )


def _key_commitment(data_key: bytes) -> bytes:
    return hashlib.sha256(_KEY_COMMITMENT_DOMAIN + data_key).digest()


def _random_key() -> bytes:
    return AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)


def _pad(plaintext: bytes) -> bytes:
    """Trailing spaces up to the next block: still the same JSON, a coarser length."""
    padded_length = -(-len(plaintext) // PADDING_BLOCK_BYTES) * PADDING_BLOCK_BYTES
    return plaintext.ljust(padded_length, b" ")
