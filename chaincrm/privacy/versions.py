"""A customer's profile versions on the chain and IPFS: read them, add a customer, edit, re-seal,
grant and revoke access (each of which records a version sealed for the new reader set).

Every operation prepares what it can off-chain first (decrypt, re-seal, store on IPFS) and asks
the contract before it sends anything, so bad input changes nothing. Each on-chain profile version
points at a document sealed for exactly the readers the registry computed at that moment
(``readersOf``); the registry records the hash of that set and refuses any other, and
:meth:`ProfileVersions.document` refuses a document wrapped for anyone else.

The profile document also carries the customer's content-key ring (notes, attachments, deal
documents are encrypted under it: see :mod:`chaincrm.privacy.notes`). A re-seal that drops a reader
starts a new content-key epoch; one that adds a reader hands it the whole ring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from eth_utils import to_checksum_address

from chaincrm.contracts.registry import SealedVersion
from chaincrm.errors import (
    ConfigError,
    ContractRevert,
    PrivacyError,
    TransactionCancelled,
    TransactionReplaced,
)
from chaincrm.models import CustomerStatus, Purpose
from chaincrm.privacy.profiles import (
    CustomerProfile,
    EncryptedDocument,
    KeyRing,
    ProfileContext,
    Vault,
    open_vault,
    readers_hash,
    seal_profile,
)
from chaincrm.storage import Cid, DocumentStore, cid_to_digest, content_hash, digest_to_cid, get_checked

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm

T = TypeVar("T")


@dataclass(frozen=True)
class ProfileRef:
    """A profile version as recorded: its number, its document and the readers it is sealed for."""

    customer_id: int
    version: int
    cid: Cid
    readers: tuple[str, ...]


def send_or_unpin(store: DocumentStore, cid: Cid, send: Callable[[], T]) -> T:
    """Send the transaction that points at `cid`; unpin the document only when the transaction is
    known, for good, not to have mined: a revert, or a transaction cancelled or replaced by another
    at its nonce. A transaction still pending (TransactionPending: not final) leaves it pinned: it
    may still mine and point at it."""
    try:
        return send()
    except (ContractRevert, TransactionCancelled, TransactionReplaced):
        store.unpin(cid)
        raise


class ProfileVersions:
    """Customers' encrypted profile versions for one CRM deployment and one document store."""

    def __init__(self, crm: Crm, store: DocumentStore) -> None:
        self.crm = crm
        self.store = store

    # ------------------------------------------------------------------ reading

    def context(self, customer_id: int, version: int) -> ProfileContext:
        return ProfileContext(self.crm.chain.chain_id, self.crm.registry.address, customer_id, version)

    def document(self, customer_id: int, version: int | None = None) -> tuple[int, bytes]:
        """(version, bytes) of a profile document, checked against the hashes the chain holds,
        including the reader set it was recorded for."""
        customer = self.crm.registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            raise PrivacyError(f"customer {customer_id} was erased: their data keys no longer exist")
        version = version or customer.profile_version
        if not 1 <= version <= customer.profile_version:
            raise ConfigError(f"customer {customer_id} has profile versions 1 to {customer.profile_version}")
        recorded = self.crm.registry.profile(customer_id, version)
        data = get_checked(self.store, digest_to_cid(recorded.cid_digest), recorded.content_hash)
        sealed_for = EncryptedDocument.from_bytes(data).readers
        if readers_hash(sealed_for) != recorded.readers_hash:
            raise PrivacyError(
                f"profile version {version} of customer {customer_id} is sealed for readers other than the ones "
                "the chain recorded for it: not trusted (a current reader can re-seal it with `customer reseal`)"
            )
        return version, data

    def vault(self, customer_id: int, reader: LocalAccount, version: int | None = None) -> Vault:
        """The decrypted profile and content-key ring, as `reader`."""
        version, document = self.document(customer_id, version)
        return open_vault(
            document,
            reader_address=reader.address,
            reader_private_key=bytes(reader.key),
            context=self.context(customer_id, version),
        )

    def read(self, customer_id: int, reader: LocalAccount, version: int | None = None) -> CustomerProfile:
        """Decrypt a profile as `reader` (the customer, a manager, or staff who were granted access)."""
        return self.vault(customer_id, reader, version).profile

    def readers(self, customer_id: int) -> tuple[str, ...]:
        """Who the current version is sealed for."""
        _, document = self.document(customer_id)
        return EncryptedDocument.from_bytes(document).readers

    def is_stale(self, customer_id: int) -> bool:
        """True when the chain's readers changed since the current version was sealed (a role or a
        consent was withdrawn, a wallet accepted): a reader should re-seal it."""
        customer = self.crm.registry.customer(customer_id)
        recorded = self.crm.registry.profile(customer_id, customer.profile_version)
        return recorded.readers_hash != self.crm.registry.readers_hash_of(customer_id)

    # ------------------------------------------------------------------ writing

    def add(self, profile: CustomerProfile, *, wallet: str | None, purpose: Purpose, agent: LocalAccount) -> ProfileRef:
        """Register a customer, sealed for the registering agent and the managers. A wallet given
        here is only proposed: it is a reader once it accepts (and the profile is re-sealed)."""
        wallet_address = to_checksum_address(wallet) if wallet else None
        if purpose.needs_consent:
            raise ConfigError(
                f"purpose {purpose.label} needs the customer's consent, which a new customer has not given"
            )
        registry = self.crm.registry
        readers = tuple(sorted({agent.address, *(m for m in registry.managers() if registry.encryption_key_of(m))}))
        keys = self._reader_keys(0, readers)
        probe = registry._register_fn(b"\x01" * 32, b"\x01" * 32, readers_hash(readers), wallet_address, purpose)
        self.crm.chain.gas_limit(probe, agent)  # a caller who may not register stores nothing
        keyring = KeyRing.fresh()
        expected_id = registry.customer_count() + 1
        sealed = seal_profile(profile, readers=keys, context=self.context(expected_id, 1), keyring=keyring)
        cid = self.store.put(sealed.document)
        version = _sealed_version(cid, sealed.document, readers)
        customer_id = send_or_unpin(
            self.store, cid, lambda: registry.register_customer(*version.hashes, wallet_address, purpose, agent)
        )
        if customer_id != expected_id:  # another registration came first: seal again for the real id
            self.store.unpin(cid)
            return self._reseal(customer_id, profile, keyring, agent, 2)
        return ProfileRef(customer_id, 1, cid, readers)

    def update(self, customer_id: int, profile: CustomerProfile, editor: LocalAccount) -> ProfileRef:
        """A new version of the profile for the chain's current readers, under a new data key."""
        current, vault = self._vault_for_writer(customer_id, editor, "change it")
        keyring = self._keyring_for(customer_id, vault.keyring)
        return self._reseal(customer_id, profile, keyring, editor, current + 1)

    def reseal(self, customer_id: int, sealer: LocalAccount) -> ProfileRef | None:
        """Re-seal the current version for the chain's readers if they changed; None if not stale."""
        if not self.is_stale(customer_id):
            return None
        current, vault = self._vault_for_writer(customer_id, sealer, "re-seal it")
        keyring = self._keyring_for(customer_id, vault.keyring)
        return self._reseal(customer_id, vault.profile, keyring, sealer, current + 1)

    def reseal_if_reader(self, customer_id: int, sealer: LocalAccount) -> ProfileRef | None:
        """Re-seal after a change of readers, when `sealer` can read the current version and is
        still among the chain's readers (a relayer whose grant the change just ended is not);
        None when it is not stale or `sealer` cannot (a reader does it later: `customer reseal`)."""
        if sealer.address not in self.crm.registry.readers_of(customer_id):
            return None
        try:
            return self.reseal(customer_id, sealer)
        except PrivacyError:
            return None

    def grant(self, customer_id: int, staff: str, purpose: Purpose, granter: LocalAccount) -> ProfileRef:
        """Grant `staff` access for `purpose` and record the version re-sealed for them, in one
        transaction. The granter (a manager or the customer) must be a reader: the key reaches the
        new reader through them."""
        staff = to_checksum_address(staff)
        registry = self.crm.registry
        if registry.encryption_key_of(staff) is None:
            raise ConfigError(f"{staff} has not published an encryption key (`chaincrm key publish`)")
        if purpose.needs_consent and not registry.has_consent(customer_id, purpose):
            raise ConfigError(f"customer {customer_id} has not consented to {purpose.label}, so it cannot be granted")
        current, vault = self._vault_for_writer(customer_id, granter, "pass its key on")
        # grantAccess refuses anyone who is not staff with a key, so after it `staff` is a reader.
        readers = tuple(sorted({*registry.readers_of(customer_id), staff}))
        keyring = self._keyring_for(customer_id, vault.keyring, readers)
        version, cid = self._seal(customer_id, vault.profile, keyring, readers, current + 1)
        send_or_unpin(self.store, cid, lambda: registry.grant_access(customer_id, staff, purpose, version, granter))
        return ProfileRef(customer_id, current + 1, cid, readers)

    def revoke(self, customer_id: int, staff: str, revoker: LocalAccount) -> ProfileRef:
        """Revoke `staff`'s access and record the version re-sealed without them (a new content-key
        epoch), in one transaction."""
        staff = to_checksum_address(staff)
        registry = self.crm.registry
        if not registry.has_active_grant(customer_id, staff):
            registry.customer(customer_id)  # CustomerUnknown / erased first
            raise ConfigError(f"{staff} holds no active grant on customer {customer_id}")
        current, vault = self._vault_for_writer(customer_id, revoker, "re-seal it without them")
        remaining = [reader for reader in registry.readers_of(customer_id) if reader != staff]
        # A manager or the wallet stays a reader whatever the grant says.
        if staff in registry.managers() or staff == registry.customer(customer_id).wallet:
            remaining.append(staff)
        readers = tuple(sorted(set(remaining)))
        keyring = self._keyring_for(customer_id, vault.keyring, readers)
        version, cid = self._seal(customer_id, vault.profile, keyring, readers, current + 1)
        send_or_unpin(self.store, cid, lambda: registry.revoke_access(customer_id, staff, version, revoker))
        return ProfileRef(customer_id, current + 1, cid, readers)

    # ------------------------------------------------------------------ internals

    def _vault_for_writer(self, customer_id: int, writer: LocalAccount, what: str) -> tuple[int, Vault]:
        current, document = self.document(customer_id)
        try:
            vault = open_vault(
                document,
                reader_address=writer.address,
                reader_private_key=bytes(writer.key),
                context=self.context(customer_id, current),
            )
        except PrivacyError:
            raise PrivacyError(
                f"{writer.address} cannot read customer {customer_id}'s profile, so cannot {what}"
            ) from None
        return current, vault

    def _keyring_for(self, customer_id: int, keyring: KeyRing, readers: tuple[str, ...] | None = None) -> KeyRing:
        """The same ring when nobody loses access; a new epoch when a reader of the current version
        is not among the next version's readers."""
        next_readers = set(readers if readers is not None else self.crm.registry.readers_of(customer_id))
        if set(self.readers(customer_id)) - next_readers:
            return keyring.rotated()
        return keyring

    def _reseal(
        self, customer_id: int, profile: CustomerProfile, keyring: KeyRing, sealer: LocalAccount, version_number: int
    ) -> ProfileRef:
        readers = self.crm.registry.readers_of(customer_id)
        version, cid = self._seal(customer_id, profile, keyring, readers, version_number)
        registry = self.crm.registry
        recorded = send_or_unpin(self.store, cid, lambda: registry.update_profile(customer_id, *version.hashes, sealer))
        return ProfileRef(customer_id, recorded, cid, readers)

    def _seal(
        self, customer_id: int, profile: CustomerProfile, keyring: KeyRing, readers: tuple[str, ...], number: int
    ) -> tuple[SealedVersion, Cid]:
        keys = self._reader_keys(customer_id, readers)
        sealed = seal_profile(profile, readers=keys, context=self.context(customer_id, number), keyring=keyring)
        cid = self.store.put(sealed.document)
        return _sealed_version(cid, sealed.document, readers), cid

    def _reader_keys(self, customer_id: int, readers: tuple[str, ...]) -> dict[str, bytes]:
        registry = self.crm.registry
        wallet = registry.customer(customer_id).wallet if customer_id else None
        keys: dict[str, bytes] = {}
        for reader in readers:
            key = (
                registry.wallet_public_key(customer_id, reader, self.crm.deployment.block_number)
                if reader == wallet
                else registry.encryption_key_of(reader)
            )
            if key is None:
                raise ConfigError(f"{reader} has not published an encryption key (`chaincrm key publish`)")
            keys[reader] = key
        return keys


def _sealed_version(cid: Cid, document: bytes, readers: tuple[str, ...]) -> SealedVersion:
    return SealedVersion(content_hash(document), cid_to_digest(cid), readers_hash(readers))
