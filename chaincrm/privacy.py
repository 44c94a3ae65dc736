"""Personal data, encrypted before it leaves the process, readable by key, erasable.

A customer's profile never goes anywhere in the clear. :func:`seal_profile` turns it into an
:class:`EncryptedDocument` (the bytes stored on IPFS) and :func:`open_profile` turns it back, for a
reader who holds one of the keys it was sealed to.

How a document is built:

* A fresh **data key** (32 random bytes) per sealed version. The profile's JSON, padded with spaces
  to a multiple of :data:`PADDING_BLOCK_BYTES` so the length says little about the contents, is
  encrypted with AES-256-GCM under a random 96-bit nonce. Each data key encrypts exactly once, so
  a nonce can never repeat under one key.
* The GCM **associated data** is :meth:`ProfileContext.associated_data`: a domain tag, then the
  chain id, the registry address, the customer id and the profile version, each fixed-width. A
  ciphertext copied onto another customer, version, registry or chain fails authentication.
* The data key is **wrapped** for every reader with ECIES on secp256k1 (``eciespy``'s default
  configuration, which ``eciesjs`` reads too) to the reader's 64-byte public key, the form the
  on-chain directory stores (no ``0x04`` prefix). Each public key must hash to its reader's
  address, so a directory entry pointing at somebody else's key is refused rather than trusted.
* The envelope also carries a **key commitment**, SHA-256 over a domain tag and the data key.
  AES-GCM alone is not key-committing: a dishonest sealer could wrap two different keys that both
  "authenticate" the same ciphertext. With the commitment every reader is sure to read the same
  plaintext, and :func:`rewrap` and :func:`rotate` can check a data key without decrypting.

The envelope (canonical JSON: sorted keys, no spaces, binary fields in standard base64)::

    {"ciphertext": "...", "customer_id": 7, "format": "chaincrm.profile.v1",
     "key_commitment": "...", "nonce": "...", "profile_version": 2,
     "wrapped_keys": {"0xAbc...": "...", "0xDef...": "..."}}

It holds no plaintext: no names, e-mails or other personal fields, in keys or values. It does
show who can read the document (reader addresses) and the customer id, which the chain shows
anyway.

Granting and revoking:

* :func:`rewrap` wraps the same data key for a larger set of readers (a grant). It refuses to
  drop a reader: a reader who had the key keeps it, so dropping them from the map would only
  look like a revocation.
* :func:`rotate` is the revocation: it seals the same profile as the next version under a new data
  key, wrapped only to the readers who remain. Versions the revoked reader could read before stay
  readable to them for as long as those documents exist; unpinning them is the erasure path.

Erasure: the wrapped keys live only inside the documents, so unpinning and removing every version
of a customer's document destroys every copy of their data keys. :func:`erasure_receipt` records
which keys (by :func:`data_key_fingerprint`) and which CIDs went, without any personal data; its
keccak256 goes on-chain.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import coincurve
import ecies
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chaincrm.addresses import AddressProblem, parse_address
from chaincrm.errors import ConfigError, PrivacyError

DOCUMENT_FORMAT = "chaincrm.profile.v1"
RECEIPT_FORMAT = "chaincrm.erasure-receipt.v1"

DATA_KEY_BYTES = 32
NONCE_BYTES = 12
PADDING_BLOCK_BYTES = 256
PUBLIC_KEY64_BYTES = 64
PRIVATE_KEY_BYTES = 32
ADDRESS_BYTES = 20
UINT256_BYTES = 32
UINT256_MAX = 2**256 - 1
FINGERPRINT_BYTES = 16

_AAD_DOMAIN = b"chaincrm/profile/v1\x00"
_KEY_COMMITMENT_DOMAIN = b"chaincrm/data-key-commitment/v1\x00"
_UNCOMPRESSED_POINT_PREFIX = b"\x04"
_QUOTED_VALUE_MAX_CHARS = 40

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_CID = re.compile(r"[A-Za-z0-9]{8,128}")
_FINGERPRINT = re.compile(rf"[0-9a-f]{{{2 * FINGERPRINT_BYTES}}}")
_PROFILE_FIELDS = ("name", "email", "phone", "address", "notes")
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
        return _canonical_json(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> CustomerProfile:
        """Parse what :meth:`to_json` wrote; unknown or missing fields are refused."""
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ConfigError("customer profile is not valid JSON") from None
        if not isinstance(fields, dict):
            raise ConfigError("customer profile is not a JSON object")
        unknown = sorted(set(fields) - set(_PROFILE_FIELDS))
        if unknown:
            raise ConfigError(f"customer profile has unknown fields: {', '.join(unknown)}")
        if "name" not in fields:
            raise ConfigError("customer profile has no name")
        return cls(**fields)


@dataclass(frozen=True)
class ProfileContext:
    """Where a profile version lives on-chain; bound into every ciphertext as associated data."""

    chain_id: int
    registry: str
    customer_id: int
    version: int

    def __post_init__(self) -> None:
        _require_uint256("chain id", self.chain_id, minimum=1)
        _require_uint256("customer id", self.customer_id)
        _require_uint256("profile version", self.version)
        object.__setattr__(self, "registry", _checksum("registry", self.registry))

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

    def wrapped_key_for(self, reader: str) -> bytes | None:
        """The wrapped data key for ``reader``, or None if the document was not sealed to them."""
        address = _checksum("reader address", reader)
        for entry in self.wrapped_keys:
            if entry.reader == address:
                return entry.wrapped
        return None

    def to_bytes(self) -> bytes:
        """Canonical JSON envelope; see the module docstring."""
        return _canonical_json(
            {
                "ciphertext": _b64(self.ciphertext),
                "customer_id": self.customer_id,
                "format": DOCUMENT_FORMAT,
                "key_commitment": _b64(self.key_commitment),
                "nonce": _b64(self.nonce),
                "profile_version": self.profile_version,
                "wrapped_keys": {entry.reader: _b64(entry.wrapped) for entry in self.wrapped_keys},
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> EncryptedDocument:
        """Parse an envelope; anything unexpected raises :class:`PrivacyError`."""
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise PrivacyError("document is not JSON") from None
        if not isinstance(fields, dict) or set(fields) != _DOCUMENT_FIELDS:
            raise PrivacyError("document is not a chaincrm encrypted profile")
        if fields["format"] != DOCUMENT_FORMAT:
            found = str(fields["format"])[:_QUOTED_VALUE_MAX_CHARS]
            raise PrivacyError(f"document format {found!r} is not {DOCUMENT_FORMAT}")
        customer_id = fields["customer_id"]
        profile_version = fields["profile_version"]
        if not _is_uint256(customer_id) or not _is_uint256(profile_version):
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
            entries[address] = WrappedKey(address, _unb64(value, "wrapped key"))
        return cls(
            customer_id=customer_id,
            profile_version=profile_version,
            nonce=_unb64(fields["nonce"], "nonce", length=NONCE_BYTES),
            ciphertext=_unb64(fields["ciphertext"], "ciphertext"),
            key_commitment=_unb64(fields["key_commitment"], "key commitment", length=32),
            wrapped_keys=tuple(entries[address] for address in sorted(entries)),
        )


class SealedProfile(NamedTuple):
    """What :func:`seal_profile` returns: the envelope to store and the data key inside it."""

    document: bytes
    data_key: bytes


class ErasureReceipt(NamedTuple):
    """What :func:`erasure_receipt` returns: the receipt and the keccak256 that goes on-chain."""

    receipt: bytes
    receipt_hash: bytes


def seal_profile(
    profile: CustomerProfile,
    *,
    readers: Mapping[str, bytes],
    context: ProfileContext,
) -> SealedProfile:
    """Encrypt ``profile`` under a fresh data key wrapped for each reader.

    ``readers`` maps each reader's address to their 64-byte public key (a 65-byte key with the
    ``0x04`` prefix is accepted too). Keep the returned data key only as long as it is needed:
    the document already carries it, wrapped, for every reader.
    """
    public_keys = _reader_public_keys(readers)
    data_key = AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, _pad(profile.to_json()), context.associated_data())
    document = EncryptedDocument(
        customer_id=context.customer_id,
        profile_version=context.version,
        nonce=nonce,
        ciphertext=ciphertext,
        key_commitment=_key_commitment(data_key),
        wrapped_keys=_wrap(data_key, public_keys),
    )
    return SealedProfile(document.to_bytes(), data_key)


def unwrap_data_key(document_bytes: bytes, *, reader_address: str, reader_private_key: bytes) -> bytes:
    """The document's data key, unwrapped with a reader's private key and checked."""
    document = EncryptedDocument.from_bytes(document_bytes)
    return _unwrap(document, reader_address, reader_private_key)


def open_profile(
    document_bytes: bytes,
    *,
    reader_address: str,
    reader_private_key: bytes,
    context: ProfileContext,
) -> CustomerProfile:
    """Decrypt a document for one reader.

    A document this reader cannot open raises a one-line :class:`PrivacyError`; a malformed
    argument (an address, a key of the wrong length) raises :class:`ConfigError`.
    """
    document = EncryptedDocument.from_bytes(document_bytes)
    _check_context(document, context)
    data_key = _unwrap(document, reader_address, reader_private_key)
    return _decrypt(document, data_key, context)


def rewrap(
    document_bytes: bytes,
    data_key: bytes,
    readers: Mapping[str, bytes],
) -> bytes:
    """The same document with its data key wrapped for ``readers`` (a grant).

    ``readers`` must include every current reader: removing one is a revocation, which only
    :func:`rotate` can do. The ciphertext is unchanged, so no context is needed.
    """
    document = EncryptedDocument.from_bytes(document_bytes)
    _check_commitment(document, data_key)
    public_keys = _reader_public_keys(readers)
    dropped = sorted(set(document.readers) - set(public_keys))
    if dropped:
        raise ConfigError(f"rewrap cannot revoke {', '.join(dropped)}: use rotate")
    return dataclasses.replace(document, wrapped_keys=_wrap(data_key, public_keys)).to_bytes()


def rotate(
    document_bytes: bytes,
    data_key: bytes,
    readers: Mapping[str, bytes],
    *,
    context: ProfileContext,
    next_version: int | None = None,
) -> SealedProfile:
    """Seal the document's profile again as a later version under a new data key (a revocation).

    ``context`` describes the document as it is; the result is sealed for
    ``context.with_version(next_version)`` (default: the next version) and only for ``readers``.
    """
    document = EncryptedDocument.from_bytes(document_bytes)
    _check_context(document, context)
    target = context.version + 1 if next_version is None else next_version
    if not isinstance(target, int) or target <= context.version:
        raise ConfigError(f"next version must be greater than {context.version}")
    profile = _decrypt(document, data_key, context)
    return seal_profile(profile, readers=readers, context=context.with_version(target))


ATTACHMENT_FORMAT = "chaincrm.attachment.v1"
_ATTACHMENT_AAD_DOMAIN = b"chaincrm/attachment/v1\x00"
_ATTACHMENT_FIELDS = frozenset({"ciphertext", "customer_id", "format", "key_commitment", "nonce", "wrapped_keys"})


def seal_attachment(data: bytes, *, readers: Mapping[str, bytes], context: ProfileContext) -> bytes:
    """Encrypt a document about a customer (meeting notes, a contract) for ``readers``.

    The same scheme as a profile (fresh data key, AES-256-GCM, ECIES-wrapped keys, key
    commitment) in an envelope of its own format; the associated data binds it to the chain, the
    registry and the customer (``context.version`` is not used: attachments are not versioned).
    """
    public_keys = _reader_public_keys(readers)
    data_key = AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, bytes(data), _attachment_aad(context))
    return _canonical_json(
        {
            "ciphertext": _b64(ciphertext),
            "customer_id": context.customer_id,
            "format": ATTACHMENT_FORMAT,
            "key_commitment": _b64(_key_commitment(data_key)),
            "nonce": _b64(nonce),
            "wrapped_keys": {entry.reader: _b64(entry.wrapped) for entry in _wrap(data_key, public_keys)},
        }
    )


def open_attachment(
    document_bytes: bytes, *, reader_address: str, reader_private_key: bytes, context: ProfileContext
) -> bytes:
    """Decrypt an attachment for one reader; anything else raises :class:`PrivacyError`."""
    try:
        fields = json.loads(document_bytes)
    except (ValueError, UnicodeDecodeError):
        raise PrivacyError("attachment is not JSON") from None
    if not isinstance(fields, dict) or set(fields) != _ATTACHMENT_FIELDS or fields["format"] != ATTACHMENT_FORMAT:
        raise PrivacyError("document is not a chaincrm encrypted attachment")
    if fields["customer_id"] != context.customer_id:
        raise PrivacyError(f"attachment belongs to customer {fields['customer_id']}, not {context.customer_id}")
    wrapped = fields["wrapped_keys"]
    if not isinstance(wrapped, dict) or not wrapped:
        raise PrivacyError("attachment has no wrapped keys")
    envelope = EncryptedDocument(
        customer_id=context.customer_id,
        profile_version=0,
        nonce=_unb64(fields["nonce"], "nonce", length=NONCE_BYTES),
        ciphertext=_unb64(fields["ciphertext"], "ciphertext"),
        key_commitment=_unb64(fields["key_commitment"], "key commitment", length=32),
        wrapped_keys=tuple(
            WrappedKey(to_checksum_address(r), _unb64(v, "wrapped key")) for r, v in sorted(wrapped.items())
        ),
    )
    data_key = _unwrap(envelope, reader_address, reader_private_key)
    try:
        return AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, _attachment_aad(context))
    except InvalidTag:
        raise PrivacyError("attachment ciphertext failed authentication") from None


def _attachment_aad(context: ProfileContext) -> bytes:
    return b"".join(
        (
            _ATTACHMENT_AAD_DOMAIN,
            context.chain_id.to_bytes(UINT256_BYTES, "big"),
            bytes.fromhex(context.registry[2:]),
            context.customer_id.to_bytes(UINT256_BYTES, "big"),
        )
    )


def data_key_fingerprint(key: bytes) -> str:
    """A short public name for a data key: the first 16 bytes of its commitment, in hex.

    It is a prefix of the ``key_commitment`` in the document the key belongs to, so an erasure
    receipt can be matched against a document without revealing anything about the key.
    """
    if not isinstance(key, bytes) or len(key) != DATA_KEY_BYTES:
        raise ConfigError("data key is not 32 bytes")
    return _key_commitment(key)[:FINGERPRINT_BYTES].hex()


def erasure_receipt(
    customer_id: int,
    destroyed: Sequence[tuple[str, str]],
    unpinned_cids: Sequence[str],
    at: datetime,
) -> ErasureReceipt:
    """A canonical JSON receipt of an erasure, and its keccak256 for the chain.

    ``destroyed`` lists ``(reader address, data key fingerprint)`` pairs. Every input is
    validated to a narrow shape (integers, addresses, hex, CIDs, a UTC time) so the receipt cannot
    carry personal data.
    """
    _require_uint256("customer id", customer_id)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ConfigError("erasure time must be timezone-aware")
    keys = []
    for reader, fingerprint in destroyed:
        if not isinstance(fingerprint, str) or _FINGERPRINT.fullmatch(fingerprint) is None:
            raise ConfigError("key fingerprint is not a data_key_fingerprint() value")
        keys.append({"key_fingerprint": fingerprint, "reader": _checksum("reader", reader)})
    for cid in unpinned_cids:
        if not isinstance(cid, str) or _CID.fullmatch(cid) is None:
            raise ConfigError("unpinned CID is not an alphanumeric CID")
    receipt = _canonical_json(
        {
            "customer_id": customer_id,
            "destroyed_keys": sorted(keys, key=lambda key: (key["reader"], key["key_fingerprint"])),
            "erased_at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "format": RECEIPT_FORMAT,
            "unpinned_cids": sorted(unpinned_cids),
        }
    )
    return ErasureReceipt(receipt, keccak(receipt))


def _reader_public_keys(readers: Mapping[str, bytes]) -> dict[str, bytes]:
    """Checksummed address -> 65-byte uncompressed public key, each checked against its address."""
    if not readers:
        raise ConfigError("a document needs at least one reader")
    public_keys: dict[str, bytes] = {}
    for reader, public_key in readers.items():
        address = _checksum("reader address", reader)
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
    address = _checksum("reader address", reader_address)
    wrapped = document.wrapped_key_for(address)
    if wrapped is None:
        raise PrivacyError(f"no wrapped key for {address}")
    if not isinstance(reader_private_key, bytes) or len(reader_private_key) != PRIVATE_KEY_BYTES:
        raise ConfigError("reader private key is not 32 bytes")
    try:
        data_key = ecies.decrypt(bytes(reader_private_key), wrapped)
    except ValueError:
        raise PrivacyError(f"wrapped key for {address} cannot be unwrapped with this key") from None
    _check_commitment(document, data_key)
    return data_key


def _check_context(document: EncryptedDocument, context: ProfileContext) -> None:
    if (document.customer_id, document.profile_version) != (context.customer_id, context.version):
        raise PrivacyError(
            f"document is customer {document.customer_id} version {document.profile_version},"
            f" expected customer {context.customer_id} version {context.version}"
        )


def _check_commitment(document: EncryptedDocument, data_key: bytes) -> None:
    if not isinstance(data_key, bytes) or len(data_key) != DATA_KEY_BYTES:
        raise PrivacyError("data key is not 32 bytes")
    if _key_commitment(data_key) != document.key_commitment:
        raise PrivacyError("data key does not belong to this document")


def _decrypt(document: EncryptedDocument, data_key: bytes, context: ProfileContext) -> CustomerProfile:
    _check_commitment(document, data_key)
    try:
        padded = AESGCM(data_key).decrypt(document.nonce, document.ciphertext, context.associated_data())
    except InvalidTag:
        raise PrivacyError("ciphertext failed authentication") from None
    try:
        return CustomerProfile.from_json(padded)
    except ConfigError:
        raise PrivacyError("decrypted profile is malformed") from None


def _key_commitment(data_key: bytes) -> bytes:
    return hashlib.sha256(_KEY_COMMITMENT_DOMAIN + data_key).digest()


def _pad(plaintext: bytes) -> bytes:
    """Trailing spaces up to the next block: still the same JSON, a coarser length."""
    padded_length = -(-len(plaintext) // PADDING_BLOCK_BYTES) * PADDING_BLOCK_BYTES
    return plaintext.ljust(padded_length, b" ")


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, what: str, *, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise PrivacyError(f"document {what} is not a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise PrivacyError(f"document {what} is not valid base64") from None
    if length is not None and len(data) != length:
        raise PrivacyError(f"document {what} is not {length} bytes")
    return data


def _checksum(what: str, address: str) -> str:
    """The checksummed form; a mixed-case address must already carry a valid checksum."""
    try:
        return parse_address(address)
    except AddressProblem as problem:
        if problem.kind == "checksum":
            raise ConfigError(f"{what} {address} has an invalid checksum") from None
        raise ConfigError(f"{what} is not a 0x-prefixed 20-byte hex address") from None


def _is_uint256(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT256_MAX


def _require_uint256(what: str, value: int, *, minimum: int = 0) -> None:
    if not _is_uint256(value) or value < minimum:
        raise ConfigError(f"{what} must be an integer from {minimum} to 2**256 - 1")
