"""Personal data, encrypted before it leaves the process, readable by key, erasable (trust model v2).

Two kinds of document go to IPFS, and nothing about a customer goes anywhere in the clear:

* ``profiles``: profile documents (a customer's profile and content-key ring, sealed for the
  readers the chain computes), :class:`EncryptedDocument`, :class:`KeyRing`, :class:`Vault`;
* ``content``: content documents (interaction notes and attachments, deal documents, off-chain
  payment receipts) sealed under the ring, :class:`InteractionContent`, :class:`Attachment`;
* ``receipts``: erasure receipts, which name the keys and documents an erasure destroyed;
* ``encoding``: the canonical and strict JSON and base64 they share.

The lifecycle on the chain and IPFS: ``customers`` (:class:`~chaincrm.privacy.customers.CustomerData`,
the facade) over ``versions`` (profile versions: read, add, update, re-seal, grant, revoke),
``wallets`` (wallet binding and the wallet's consent, sent or signed for a relayer) and
``erasure``; ``notes`` seals, logs and reads what staff write about customers.

Each name below is loaded from its module on first use (PEP 562), so importing one module of the
package does not load every other (the ciphers, the erasure receipts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaincrm._lazy import lazy_getattr

if TYPE_CHECKING:
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

_LAZY = {
    "CONTENT_FORMAT": "content",
    "CONTENT_KINDS": "content",
    "GCM_TAG_BYTES": "content",
    "LENGTH_PREFIX_BYTES": "content",
    "MAX_ATTACHMENT_NAME_CHARS": "content",
    "Attachment": "content",
    "ContentContext": "content",
    "InteractionContent": "content",
    "content_epoch": "content",
    "open_content": "content",
    "seal_content": "content",
    "ADDRESS_BYTES": "encoding",
    "UINT256_BYTES": "encoding",
    "UINT256_MAX": "encoding",
    "CONTENT_KEY_BYTES": "profiles",
    "DATA_KEY_BYTES": "profiles",
    "DOCUMENT_FORMAT": "profiles",
    "FINGERPRINT_BYTES": "profiles",
    "FIRST_EPOCH": "profiles",
    "KEY_COMMITMENT_BYTES": "profiles",
    "NONCE_BYTES": "profiles",
    "PADDING_BLOCK_BYTES": "profiles",
    "PRIVATE_KEY_BYTES": "profiles",
    "PUBLIC_KEY64_BYTES": "profiles",
    "CustomerProfile": "profiles",
    "EncryptedDocument": "profiles",
    "KeyRing": "profiles",
    "ProfileContext": "profiles",
    "SealedProfile": "profiles",
    "Vault": "profiles",
    "WrappedKey": "profiles",
    "data_key_fingerprint": "profiles",
    "open_profile": "profiles",
    "open_vault": "profiles",
    "readers_hash": "profiles",
    "seal_profile": "profiles",
    "unwrap_data_key": "profiles",
    "ERASED_DOCUMENT_KINDS": "receipts",
    "RECEIPT_FORMAT": "receipts",
    "ErasureReceipt": "receipts",
    "erasure_receipt": "receipts",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


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
