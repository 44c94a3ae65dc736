"""Content documents: interaction notes with attachments, deal documents, off-chain payment
receipts, sealed under the customer's content-key ring (which travels inside the profile document:
:mod:`chaincrm.privacy.profiles`).

:func:`seal_content` encrypts bytes with AES-256-GCM under the ring's newest key and a random
96-bit nonce (NIST's bound for random nonces, 2**32 messages per key, is far beyond one customer's
notes in one epoch). The plaintext is length-prefixed (8 bytes) and zero-padded to a multiple of
:data:`~chaincrm.privacy.profiles.PADDING_BLOCK_BYTES`, so binary data loses its padding exactly.
The associated data is :meth:`ContentContext.associated_data` and then the epoch: a document moved
to another customer, registry, chain or kind, or relabelled with another epoch, fails
authentication. The envelope::

    {"ciphertext": "...", "customer_id": 7, "epoch": 1, "format": "chaincrm.content.v1",
     "kind": "interaction", "nonce": "..."}

No hash of any plaintext appears in the envelope: the chain records the CID digest of these
bytes, a hash of ciphertext under a random key and nonce, which nobody can recompute from a guess.
An interaction's plaintext is :meth:`InteractionContent.to_bytes`; a deal document is the file; a
payment receipt is the receipt JSON of :mod:`chaincrm.contracts.offchain`.
Parsing is strict (see :mod:`chaincrm.privacy.encoding`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.privacy.encoding import (
    UINT256_BYTES,
    b64,
    canonical_json,
    checked_address,
    is_uint256,
    require_uint256,
    strict_json,
    unb64,
)
from chaincrm.privacy.profiles import FIRST_EPOCH, NONCE_BYTES, PADDING_BLOCK_BYTES, KeyRing

CONTENT_FORMAT = "chaincrm.content.v1"
INTERACTION = "interaction"
DEAL_DOCUMENT = "deal-document"
PAYMENT_RECEIPT = "payment-receipt"
CONTENT_KINDS = (INTERACTION, DEAL_DOCUMENT, PAYMENT_RECEIPT)
LENGTH_PREFIX_BYTES = 8
GCM_TAG_BYTES = 16
MAX_ATTACHMENT_NAME_CHARS = 255

_CONTENT_AAD_DOMAIN = b"chaincrm/content/v1\x00"
_CONTENT_FIELDS = frozenset({"ciphertext", "customer_id", "epoch", "format", "kind", "nonce"})
_INTERACTION_FIELDS = frozenset({"attachments", "note"})
_ATTACHMENT_FIELDS = frozenset({"data", "name"})
_PATH_SEPARATORS = ("/", "\\")
_RELATIVE_NAMES = (".", "..")
_FIRST_PRINTABLE = 0x20
_DELETE = 0x7F


@dataclass(frozen=True)
class ContentContext:
    """Whose content a document is and what kind; bound into the ciphertext as associated data."""

    chain_id: int
    registry: str
    customer_id: int
    kind: str

    def __post_init__(self) -> None:
        require_uint256("chain id", self.chain_id, minimum=1)
        require_uint256("customer id", self.customer_id)
        if self.kind not in CONTENT_KINDS:
            raise ConfigError(f"content kind must be one of {', '.join(CONTENT_KINDS)}")
        object.__setattr__(self, "registry", checked_address("registry", self.registry))

    def associated_data(self) -> bytes:
        """Domain tag, chain id, registry, customer id (fixed-width), then the kind, length-prefixed.

        :func:`seal_content` appends the epoch (32 bytes, big-endian).
        """
        kind = self.kind.encode("ascii")
        return b"".join(
            (
                _CONTENT_AAD_DOMAIN,
                self.chain_id.to_bytes(UINT256_BYTES, "big"),
                bytes.fromhex(self.registry[2:]),
                self.customer_id.to_bytes(UINT256_BYTES, "big"),
                len(kind).to_bytes(1, "big"),
                kind,
            )
        )


@dataclass(frozen=True)
class Attachment:
    """A file attached to an interaction: a bare file name (no folders) and its bytes."""

    name: str
    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("attachment name is empty")
        if len(self.name) > MAX_ATTACHMENT_NAME_CHARS:
            raise ConfigError(f"attachment name is longer than {MAX_ATTACHMENT_NAME_CHARS} characters")
        if any(separator in self.name for separator in _PATH_SEPARATORS) or self.name in _RELATIVE_NAMES:
            raise ConfigError("attachment name must be a file name, not a path")
        if any(ord(character) < _FIRST_PRINTABLE or ord(character) == _DELETE for character in self.name):
            raise ConfigError("attachment name has a control character")
        try:
            self.name.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError("attachment name is not valid Unicode text") from None
        if not isinstance(self.data, bytes):
            raise ConfigError("attachment data must be bytes")


@dataclass(frozen=True)
class InteractionContent:
    """What an interaction records: a note (possibly empty) and attachments with distinct names."""

    note: str
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.note, str):
            raise ConfigError("interaction note must be a string")
        try:
            self.note.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError("interaction note is not valid Unicode text") from None
        if not isinstance(self.attachments, tuple | list):
            raise ConfigError("interaction attachments must be a tuple of Attachment")
        attachments = tuple(self.attachments)
        if not all(isinstance(attachment, Attachment) for attachment in attachments):
            raise ConfigError("interaction attachments must be a tuple of Attachment")
        if len({attachment.name for attachment in attachments}) != len(attachments):
            raise ConfigError("interaction has two attachments with the same name")
        object.__setattr__(self, "attachments", attachments)

    def to_bytes(self) -> bytes:
        """Canonical JSON: ``{"attachments": [{"data": base64, "name": ...}], "note": ...}``."""
        return canonical_json(
            {
                "attachments": [{"data": b64(item.data), "name": item.name} for item in self.attachments],
                "note": self.note,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> InteractionContent:
        """Parse what :meth:`to_bytes` wrote; anything else raises :class:`PrivacyError`."""
        fields = strict_json(raw, "interaction content")
        if not isinstance(fields, dict) or set(fields) != _INTERACTION_FIELDS:
            raise PrivacyError("interaction content is not a note with attachments")
        if not isinstance(fields["attachments"], list):
            raise PrivacyError("interaction content attachments are not a list")
        attachments = []
        for item in fields["attachments"]:
            if not isinstance(item, dict) or set(item) != _ATTACHMENT_FIELDS:
                raise PrivacyError("interaction content has an attachment that is not a name with data")
            attachments.append((item["name"], unb64(item["data"], "attachment data")))
        try:
            return cls(fields["note"], tuple(Attachment(name, data) for name, data in attachments))
        except ConfigError as problem:
            raise PrivacyError(f"interaction content is malformed: {problem}") from None


class _ContentEnvelope(NamedTuple):
    customer_id: int
    kind: str
    epoch: int
    nonce: bytes
    ciphertext: bytes


def seal_content(data: bytes, *, keyring: KeyRing, context: ContentContext) -> bytes:
    """Encrypt ``data`` under the ring's newest key: the content envelope to store (module docstring).

    Sealing the same bytes twice gives different documents (a fresh nonce each time).
    """
    if not isinstance(data, bytes):
        raise ConfigError("content to seal must be bytes")
    if not isinstance(keyring, KeyRing):
        raise ConfigError("keyring must be a KeyRing")
    epoch = keyring.current_epoch
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(keyring.current_key).encrypt(
        nonce, _pad_content(data), _content_associated_data(context, epoch)
    )
    return canonical_json(
        {
            "ciphertext": b64(ciphertext),
            "customer_id": context.customer_id,
            "epoch": epoch,
            "format": CONTENT_FORMAT,
            "kind": context.kind,
            "nonce": b64(nonce),
        }
    )


def open_content(document: bytes, *, keyring: KeyRing, context: ContentContext) -> bytes:
    """Decrypt a content document with the key of the epoch it names.

    A document of another customer or kind, an epoch the ring lacks, a ciphertext bound to another
    registry or chain, or any tampering raises :class:`PrivacyError`.
    """
    envelope = _parse_content(document)
    if (envelope.customer_id, envelope.kind) != (context.customer_id, context.kind):
        raise PrivacyError(
            f"content is customer {envelope.customer_id}'s {envelope.kind},"
            f" expected customer {context.customer_id}'s {context.kind}"
        )
    key = keyring.key(envelope.epoch)
    try:
        padded = AESGCM(key).decrypt(
            envelope.nonce, envelope.ciphertext, _content_associated_data(context, envelope.epoch)
        )
    except InvalidTag:
        raise PrivacyError("content ciphertext failed authentication") from None
    return _unpad_content(padded)


def content_epoch(document: bytes) -> int:
    """The epoch a content document was sealed under, read without any key."""
    return _parse_content(document).epoch


def _content_associated_data(context: ContentContext, epoch: int) -> bytes:
    return context.associated_data() + epoch.to_bytes(UINT256_BYTES, "big")


def _parse_content(raw: bytes) -> _ContentEnvelope:
    fields = strict_json(raw, "content document")
    if not isinstance(fields, dict) or set(fields) != _CONTENT_FIELDS:
        raise PrivacyError("document is not a chaincrm encrypted content document")
    if fields["format"] != CONTENT_FORMAT:
        raise PrivacyError(f"document format is not {CONTENT_FORMAT}")
    if not is_uint256(fields["customer_id"]):
        raise PrivacyError("content customer id is not a uint256")
    if fields["kind"] not in CONTENT_KINDS:
        raise PrivacyError(f"content kind is not one of {', '.join(CONTENT_KINDS)}")
    if not is_uint256(fields["epoch"]) or fields["epoch"] < FIRST_EPOCH:
        raise PrivacyError("content epoch is not a positive uint256")
    ciphertext = unb64(fields["ciphertext"], "ciphertext")
    padded_length = len(ciphertext) - GCM_TAG_BYTES
    if padded_length <= 0 or padded_length % PADDING_BLOCK_BYTES:
        raise PrivacyError("document ciphertext is not a whole number of padding blocks")
    return _ContentEnvelope(
        customer_id=fields["customer_id"],
        kind=fields["kind"],
        epoch=fields["epoch"],
        nonce=unb64(fields["nonce"], "nonce", length=NONCE_BYTES),
        ciphertext=ciphertext,
    )


def _pad_content(data: bytes) -> bytes:
    """Length prefix, data, zeros up to the next block (at least one block, even for no data)."""
    prefixed = len(data).to_bytes(LENGTH_PREFIX_BYTES, "big") + data
    padded_length = -(-len(prefixed) // PADDING_BLOCK_BYTES) * PADDING_BLOCK_BYTES
    return prefixed.ljust(padded_length, b"\x00")


def _unpad_content(padded: bytes) -> bytes:
    length = int.from_bytes(padded[:LENGTH_PREFIX_BYTES], "big")
    end = LENGTH_PREFIX_BYTES + length
    if end > len(padded) or any(padded[end:]):
        raise PrivacyError("decrypted content padding is malformed")
    return padded[LENGTH_PREFIX_BYTES:end]
