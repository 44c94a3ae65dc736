"""Personal data, encrypted before it leaves the process, readable by key, erasable (trust model v2).

Two kinds of document go to IPFS, and nothing about a customer goes anywhere in the clear:

* ``profiles``: profile documents (a customer's profile and content-key ring, sealed for the
  readers the chain computes), :class:`EncryptedDocument`, :class:`KeyRing`, :class:`Vault`;
* ``content``: content documents (interaction notes and attachments, deal documents) sealed under
  the ring, :class:`InteractionContent`, :class:`Attachment`;
* ``receipts``: erasure receipts, which name the keys and documents an erasure destroyed;
* ``encoding``: the canonical and strict JSON and base64 they share.

The lifecycle on the chain and IPFS: ``customers`` (:class:`~chaincrm.privacy.customers.CustomerData`,
the facade) over ``versions`` (profile versions: read, add, update, re-seal, grant, revoke),
``wallets`` (wallet binding and the wallet's consent, sent or signed for a relayer) and
``erasure``; ``notes`` seals, logs and reads what staff write about customers.
"""

from __future__ import annotations

from chaincrm.privacy.content import (
    CONTENT_FORMAT,
    CONTENT_KINDS,
    GCM_TAG_BYTES,
    LENGTH_PREFIX_BYTES,
    MAX_ATTACHMENT_NAME_CHARS,
    Attachment,
    ContentContext,
    InteractionContent,
    content_epoch,
    open_content,
    seal_content,
)
from chaincrm.privacy.encoding import (
    ADDRESS_BYTES,
    UINT256_BYTES,
    UINT256_MAX,
)
from chaincrm.privacy.profiles import (
    CONTENT_KEY_BYTES,
    DATA_KEY_BYTES,
    DOCUMENT_FORMAT,
    FINGERPRINT_BYTES,
    FIRST_EPOCH,
    KEY_COMMITMENT_BYTES,
    NONCE_BYTES,
    PADDING_BLOCK_BYTES,
    PRIVATE_KEY_BYTES,
    PUBLIC_KEY64_BYTES,
    CustomerProfile,
    EncryptedDocument,
    KeyRing,
    ProfileContext,
    SealedProfile,
    Vault,
    WrappedKey,
    data_key_fingerprint,
    open_profile,
    open_vault,
    readers_hash,
    seal_profile,
    unwrap_data_key,
)
from chaincrm.privacy.receipts import (
    ERASED_DOCUMENT_KINDS,
    RECEIPT_FORMAT,
    ErasureReceipt,
    erasure_receipt,
)

__all__ = [
    "ADDRESS_BYTES",
    "Attachment",
    "CONTENT_FORMAT",
    "CONTENT_KEY_BYTES",
    "CONTENT_KINDS",
    "ContentContext",
    "CustomerProfile",
    "DATA_KEY_BYTES",
    "DOCUMENT_FORMAT",
    "ERASED_DOCUMENT_KINDS",
    "EncryptedDocument",
    "ErasureReceipt",
    "FINGERPRINT_BYTES",
    "FIRST_EPOCH",
    "GCM_TAG_BYTES",
    "InteractionContent",
    "KEY_COMMITMENT_BYTES",
    "KeyRing",
    "LENGTH_PREFIX_BYTES",
    "MAX_ATTACHMENT_NAME_CHARS",
    "NONCE_BYTES",
    "PADDING_BLOCK_BYTES",
    "PRIVATE_KEY_BYTES",
    "PUBLIC_KEY64_BYTES",
    "ProfileContext",
    "RECEIPT_FORMAT",
    "SealedProfile",
    "UINT256_BYTES",
    "UINT256_MAX",
    "Vault",
    "WrappedKey",
    "content_epoch",
    "data_key_fingerprint",
    "erasure_receipt",
    "open_content",
    "open_profile",
    "open_vault",
    "readers_hash",
    "seal_content",
    "seal_profile",
    "unwrap_data_key",
]
