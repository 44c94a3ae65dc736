"""The customer-data lifecycle: encrypted profiles on IPFS, readable by key, erasable with proof.

Every operation prepares what it can off-chain first (decrypt, re-encrypt, store on IPFS) and
checks that the caller is allowed before it sends anything, so bad input changes nothing. Each
on-chain profile version points at a document sealed for exactly that version; a grant or a
revocation seals a new version under a new data key for the new set of readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys
from eth_utils import to_checksum_address

from chaincrm.client import Crm
from chaincrm.documents import Cid, DocumentStore, cid_to_digest, content_hash, digest_to_cid, get_verified
from chaincrm.errors import ConfigError, PrivacyError, StorageError
from chaincrm.models import ZERO_ADDRESS, CustomerStatus, Purpose
from chaincrm.privacy import (
    CustomerProfile,
    EncryptedDocument,
    ProfileContext,
    erasure_receipt,
    open_attachment,
    open_profile,
    rotate,
    seal_attachment,
    seal_profile,
    unwrap_data_key,
)

FINGERPRINT_HEX_CHARS = 32


@dataclass(frozen=True)
class ProfileRef:
    customer_id: int
    version: int
    cid: Cid
    readers: tuple[str, ...]


@dataclass(frozen=True)
class Erasure:
    customer_id: int
    receipt_cid: Cid
    receipt_hash: bytes
    unpinned: tuple[Cid, ...]
    tx_hash: str


def public_key64(account: LocalAccount) -> bytes:
    """The account's secp256k1 public key, the form the on-chain directory stores."""
    return eth_keys.PrivateKey(bytes(account.key)).public_key.to_bytes()


class CustomerData:
    """Customers' encrypted profiles for one CRM deployment and one document store."""

    def __init__(self, crm: Crm, store: DocumentStore) -> None:
        self.crm = crm
        self.store = store

    # ------------------------------------------------------------------ reading

    def context(self, customer_id: int, version: int) -> ProfileContext:
        return ProfileContext(self.crm.chain.chain_id, self.crm.registry.address, customer_id, version)

    def document(self, customer_id: int, version: int | None = None) -> tuple[int, bytes]:
        """(version, bytes) of a profile document, checked against the hash the chain holds."""
        customer = self.crm.registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            raise PrivacyError(f"customer {customer_id} was erased: their data keys no longer exist")
        version = version or customer.profile_version
        if not 1 <= version <= customer.profile_version:
            raise ConfigError(f"customer {customer_id} has profile versions 1 to {customer.profile_version}")
        recorded = self.crm.registry.profile(customer_id, version)
        return version, get_verified(self.store, digest_to_cid(recorded.cid_digest), recorded.content_hash)

    def read(self, customer_id: int, reader: LocalAccount, version: int | None = None) -> CustomerProfile:
        """Decrypt a profile as `reader` (staff who were granted access, or the customer)."""
        version, document = self.document(customer_id, version)
        return open_profile(
            document,
            reader_address=reader.address,
            reader_private_key=bytes(reader.key),
            context=self.context(customer_id, version),
        )

    def readers(self, customer_id: int) -> tuple[str, ...]:
        _, document = self.document(customer_id)
        return EncryptedDocument.from_bytes(document).readers

    # ------------------------------------------------------------------ writing

    def add(self, profile: CustomerProfile, *, wallet: str | None, purpose: Purpose, agent: LocalAccount) -> ProfileRef:
        """Register a customer with a profile sealed for the agent and, if known, the customer."""
        wallet_address = to_checksum_address(wallet) if wallet else None
        probe = self.crm.registry.contract.functions.registerCustomer(
            b"\x01" * 32, b"\x01" * 32, wallet_address or ZERO_ADDRESS, int(purpose)
        )
        self.crm.chain.gas_limit(probe, agent)  # a caller who may not register stores nothing
        readers = self._reader_keys((agent.address,))
        if wallet_address is not None:
            customer_key = self.crm.registry.encryption_key_of(wallet_address)
            if customer_key is not None:
                readers[wallet_address] = customer_key
        expected_id = self.crm.registry.customer_count() + 1
        version = 1
        cid = self._publish(seal_profile(profile, readers=readers, context=self.context(expected_id, version)).document)
        content = self._hashes(cid)
        customer_id = self.crm.registry.register_customer(content[0], content[1], wallet_address, purpose, agent)
        if customer_id != expected_id:  # another registration came first: seal again for the real id
            self.store.unpin(cid)
            version = 2
            sealed = seal_profile(profile, readers=readers, context=self.context(customer_id, version))
            cid = self._publish(sealed.document)
            self.crm.registry.update_profile(customer_id, *self._hashes(cid), agent)
        return ProfileRef(customer_id, version, cid, tuple(sorted(readers)))

    def update(self, customer_id: int, profile: CustomerProfile, editor: LocalAccount) -> ProfileRef:
        """A new version of the profile for the same readers, under a new data key."""
        current, document = self.document(customer_id)
        readers = self._reader_keys(EncryptedDocument.from_bytes(document).readers)
        if editor.address not in readers:
            raise PrivacyError(f"{editor.address} cannot read customer {customer_id}'s profile and so cannot change it")
        sealed = seal_profile(profile, readers=readers, context=self.context(customer_id, current + 1))
        return self._new_version(customer_id, current + 1, sealed.document, editor, tuple(sorted(readers)))

    def grant(self, customer_id: int, staff: str, purpose: Purpose, granter: LocalAccount) -> ProfileRef:
        """Record the grant on-chain and seal the next version so that `staff` can read it.

        The granter (a manager or the customer) must be able to read the profile: the data key
        reaches the new reader through them.
        """
        staff = to_checksum_address(staff)
        current, document = self.document(customer_id)
        readers = self._reader_keys(EncryptedDocument.from_bytes(document).readers)
        staff_key = self.crm.registry.encryption_key_of(staff)
        if staff_key is None:
            raise ConfigError(f"{staff} has not published an encryption key (`chaincrm staff key`)")
        data_key = self._data_key(document, granter, customer_id)
        readers[staff] = staff_key
        sealed = rotate(document, data_key, readers, context=self.context(customer_id, current))
        if not self.crm.registry.access_of(customer_id, staff).active:
            self.crm.chain.gas_limit(
                self.crm.registry.contract.functions.grantAccess(customer_id, staff, int(purpose)), granter
            )
            self.crm.registry.grant_access(customer_id, staff, purpose, granter)
        return self._new_version(customer_id, current + 1, sealed.document, granter, tuple(sorted(readers)))

    def revoke(self, customer_id: int, staff: str, revoker: LocalAccount) -> ProfileRef:
        """Revoke on-chain and rotate the data key: `staff` cannot read any later version."""
        staff = to_checksum_address(staff)
        current, document = self.document(customer_id)
        readers = self._reader_keys(EncryptedDocument.from_bytes(document).readers)
        data_key = self._data_key(document, revoker, customer_id)
        readers.pop(staff, None)
        if not readers:
            raise ConfigError(f"revoking {staff} would leave nobody able to read customer {customer_id}'s profile")
        sealed = rotate(document, data_key, readers, context=self.context(customer_id, current))
        if self.crm.registry.access_of(customer_id, staff).active:
            self.crm.registry.revoke_access(customer_id, staff, revoker)
        return self._new_version(customer_id, current + 1, sealed.document, revoker, tuple(sorted(readers)))

    def erase(self, customer_id: int, actor: LocalAccount) -> Erasure:
        """Destroy every wrapped key (unpin and collect every version), then record the receipt.

        The erasure is allowed for a manager or the customer; the contract is asked first (a
        dry run) so that an unauthorised caller destroys nothing.
        """
        customer = self.crm.registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            raise ConfigError(f"customer {customer_id} is already erased")
        probe = self.crm.registry.contract.functions.eraseCustomer(customer_id, b"\x01" * 32)
        self.crm.chain.gas_limit(probe, actor)  # raises the named error for a caller who may not erase
        destroyed: list[tuple[str, str]] = []
        cids: list[Cid] = []
        for version in range(1, customer.profile_version + 1):
            recorded = self.crm.registry.profile(customer_id, version)
            cid = digest_to_cid(recorded.cid_digest)
            cids.append(cid)
            try:
                parsed = EncryptedDocument.from_bytes(self.store.get(cid))
                fingerprint = parsed.key_commitment[: FINGERPRINT_HEX_CHARS // 2].hex()
                destroyed.extend((reader, fingerprint) for reader in parsed.readers)
            except (StorageError, PrivacyError):
                pass  # already gone from this node: nothing left to destroy here
        for cid in cids:
            if self.store.has(cid):
                self.store.unpin(cid)
        self.store.gc()
        receipt = erasure_receipt(customer_id, destroyed, cids, datetime.now(UTC))
        receipt_cid = self.store.put(receipt.receipt)
        tx = self.crm.registry.erase_customer(customer_id, receipt.receipt_hash, actor)
        return Erasure(customer_id, receipt_cid, receipt.receipt_hash, tuple(cids), tx["transactionHash"].to_0x_hex())

    # ------------------------------------------------------------------ attachments

    def seal_attachment(self, customer_id: int, data: bytes, author: LocalAccount) -> bytes:
        """Encrypt a document about a customer for everyone who can read their profile and the author."""
        _, document = self.document(customer_id)
        readers = self._reader_keys(EncryptedDocument.from_bytes(document).readers)
        if author.address not in readers:
            readers[author.address] = public_key64(author)
        return seal_attachment(data, readers=readers, context=self.context(customer_id, 0))

    def open_attachment(self, customer_id: int, cid: Cid, expected_hash: bytes, reader: LocalAccount) -> bytes:
        """Read an attachment back, check it against the hash the chain holds, and decrypt it."""
        document = get_verified(self.store, cid, expected_hash)
        return open_attachment(
            document,
            reader_address=reader.address,
            reader_private_key=bytes(reader.key),
            context=self.context(customer_id, 0),
        )

    # ------------------------------------------------------------------ internals

    def _new_version(
        self, customer_id: int, version: int, document: bytes, sender: LocalAccount, readers: tuple[str, ...]
    ) -> ProfileRef:
        cid = self._publish(document)
        try:
            recorded = self.crm.registry.update_profile(customer_id, *self._hashes(cid), sender)
        except Exception:
            self.store.unpin(cid)
            raise
        return ProfileRef(customer_id, recorded, cid, readers)

    def _publish(self, document: bytes) -> Cid:
        return self.store.put(document)

    def _hashes(self, cid: Cid) -> tuple[bytes, bytes]:
        return content_hash(self.store.get(cid)), cid_to_digest(cid)

    def _reader_keys(self, readers: tuple[str, ...]) -> dict[str, bytes]:
        keys: dict[str, bytes] = {}
        for reader in readers:
            key = self.crm.registry.encryption_key_of(reader)
            if key is None:
                raise ConfigError(f"{reader} has not published an encryption key (`chaincrm key publish`)")
            keys[reader] = key
        return keys

    def _data_key(self, document: bytes, reader: LocalAccount, customer_id: int) -> bytes:
        try:
            return unwrap_data_key(document, reader_address=reader.address, reader_private_key=bytes(reader.key))
        except PrivacyError:
            raise PrivacyError(
                f"{reader.address} cannot read customer {customer_id}'s profile, so cannot pass its key on"
            ) from None
