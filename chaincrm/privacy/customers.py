"""The customer-data lifecycle: encrypted profiles on IPFS, readers computed by the chain, erasable.

Every operation prepares what it can off-chain first (decrypt, re-seal, store on IPFS) and asks
the contract before it sends anything, so bad input changes nothing. Each on-chain profile version
points at a document sealed for exactly the readers the registry computed at that moment
(``readersOf``); the registry records the hash of that set and refuses any other, and
:meth:`CustomerData.verified_document` refuses a document wrapped for anyone else.

The profile document also carries the customer's content-key ring (notes, attachments, deal
documents are encrypted under it: see :mod:`chaincrm.privacy.notes`). A re-seal that drops a reader starts
a new content-key epoch; one that adds a reader hands it the whole ring.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys
from eth_utils import to_checksum_address

from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import SealedVersion
from chaincrm.contracts.signatures import ConsentChange, WalletAcceptance, sign_consent_change, sign_wallet_acceptance
from chaincrm.errors import ConfigError, ContractRevert, PrivacyError, StorageError
from chaincrm.models import CustomerStatus, Purpose
from chaincrm.privacy import (
    CustomerProfile,
    EncryptedDocument,
    KeyRing,
    ProfileContext,
    Vault,
    erasure_receipt,
    open_vault,
    readers_hash,
    seal_profile,
)
from chaincrm.storage import Cid, DocumentStore, cid_to_digest, content_hash, digest_to_cid, get_verified

T = TypeVar("T")

FINGERPRINT_HEX_CHARS = 32
DEFAULT_SIGNATURE_LIFETIME_SECONDS = 7 * 24 * 3600


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
        """(version, bytes) of a profile document, checked against the hashes the chain holds,
        including the reader set it was recorded for."""
        customer = self.crm.registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            raise PrivacyError(f"customer {customer_id} was erased: their data keys no longer exist")
        version = version or customer.profile_version
        if not 1 <= version <= customer.profile_version:
            raise ConfigError(f"customer {customer_id} has profile versions 1 to {customer.profile_version}")
        recorded = self.crm.registry.profile(customer_id, version)
        data = get_verified(self.store, digest_to_cid(recorded.cid_digest), recorded.content_hash)
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
        version = self._version(cid, sealed.document, readers)
        try:
            customer_id = registry.register_customer(*version.hashes, wallet_address, purpose, agent)
        except ContractRevert:
            self.store.unpin(cid)
            raise
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

        self._send_or_unpin(cid, lambda: registry.grant_access(customer_id, staff, purpose, version, granter))
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
        self._send_or_unpin(cid, lambda: registry.revoke_access(customer_id, staff, version, revoker))
        return ProfileRef(customer_id, current + 1, cid, readers)

    # ------------------------------------------------------------------ wallet binding

    def propose_wallet(self, customer_id: int, wallet: str | None, proposer: LocalAccount) -> None:
        """Propose a wallet: the bound wallet moving itself, a manager, or (for a customer without
        a wallet) an agent with a grant, whose proposal a manager must approve."""
        self.crm.registry.propose_wallet(customer_id, wallet, proposer)

    def approve_wallet(self, customer_id: int, wallet: str, manager: LocalAccount) -> None:
        """A manager approves an agent's proposal: one agent alone cannot bind a wallet."""
        self.crm.registry.approve_wallet(customer_id, wallet, manager)

    def accept_wallet(self, customer_id: int, wallet: LocalAccount) -> None:
        """The proposed wallet accepts by its own transaction (it pays the gas)."""
        self.crm.registry.accept_wallet(customer_id, public_key64(wallet), wallet)

    def sign_wallet_acceptance(
        self, customer_id: int, wallet: LocalAccount, lifetime_seconds: int = DEFAULT_SIGNATURE_LIFETIME_SECONDS
    ) -> WalletAcceptance:
        """The wallet's EIP-712 acceptance, for staff to relay (the customer needs no ETH)."""
        pending = self.crm.registry.customer(customer_id).pending_wallet
        if pending != wallet.address:
            raise ConfigError(f"{wallet.address} is not the wallet proposed for customer {customer_id}")
        return sign_wallet_acceptance(
            wallet,
            chain_id=self.crm.chain.chain_id,
            registry=self.crm.registry.address,
            customer_id=customer_id,
            public_key=public_key64(wallet),
            nonce=self.crm.registry.nonce_of(customer_id),
            deadline=self._deadline(lifetime_seconds),
        )

    def relay_wallet_acceptance(self, acceptance: WalletAcceptance, relayer: LocalAccount) -> ProfileRef | None:
        """Send a signed acceptance, then re-seal so that the customer can read their data."""
        self._check_domain(acceptance.chain_id, acceptance.registry)
        self.crm.registry.accept_wallet_by_sig(acceptance, relayer)
        return self._reseal_if_reader(acceptance.customer_id, relayer)

    # ------------------------------------------------------------------ consent

    def set_consent(self, customer_id: int, purpose: Purpose, granted: bool, wallet: LocalAccount) -> ProfileRef | None:
        """The customer's own consent change; a withdrawal that removed readers re-seals without them."""
        self.crm.registry.set_consent(customer_id, purpose, granted, wallet)
        return self._reseal_if_reader(customer_id, wallet)

    def sign_consent_change(
        self,
        customer_id: int,
        purpose: Purpose,
        granted: bool,
        wallet: LocalAccount,
        lifetime_seconds: int = DEFAULT_SIGNATURE_LIFETIME_SECONDS,
    ) -> ConsentChange:
        if self.crm.registry.customer(customer_id).wallet != wallet.address:
            raise ConfigError(f"{wallet.address} is not customer {customer_id}'s wallet")
        return sign_consent_change(
            wallet,
            chain_id=self.crm.chain.chain_id,
            registry=self.crm.registry.address,
            customer_id=customer_id,
            purpose=purpose,
            granted=granted,
            nonce=self.crm.registry.nonce_of(customer_id),
            deadline=self._deadline(lifetime_seconds),
        )

    def relay_consent_change(self, change: ConsentChange, relayer: LocalAccount) -> ProfileRef | None:
        self._check_domain(change.chain_id, change.registry)
        self.crm.registry.set_consent_by_sig(change, relayer)
        return self._reseal_if_reader(change.customer_id, relayer)

    # ------------------------------------------------------------------ erasure

    def erase(self, customer_id: int, actor: LocalAccount) -> Erasure:
        """Destroy every document tied to the customer (profile versions, which hold every wrapped
        key, interaction notes and attachments, deal documents), then record the receipt.

        The contract is asked first (a dry run) so that an unauthorised caller destroys nothing.
        """
        from chaincrm.privacy.notes import documents_of

        customer = self.crm.registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            raise ConfigError(f"customer {customer_id} is already erased")
        probe = self.crm.registry.contract.functions.eraseCustomer(customer_id, b"\x01" * 32)
        self.crm.chain.gas_limit(probe, actor)  # raises the named error for a caller who may not erase
        documents = documents_of(self.crm, customer_id)
        destroyed: list[tuple[str, str]] = []
        for kind, cid in documents:
            if kind != "profile":
                continue
            try:
                parsed = EncryptedDocument.from_bytes(self.store.get(cid))
            except (StorageError, PrivacyError):
                continue  # already gone from this node: nothing left to destroy here
            fingerprint = parsed.key_commitment[: FINGERPRINT_HEX_CHARS // 2].hex()
            destroyed.extend((reader, fingerprint) for reader in parsed.readers)
        for _, cid in documents:
            if self.store.has(cid):
                self.store.unpin(cid)
        self.store.gc()
        receipt = erasure_receipt(
            customer_id, destroyed, [(kind, str(cid)) for kind, cid in documents], datetime.now(UTC)
        )
        receipt_cid = self.store.put(receipt.receipt)
        tx = self.crm.registry.erase_customer(customer_id, receipt.receipt_hash, actor)
        unpinned = tuple(cid for _, cid in documents)
        return Erasure(customer_id, receipt_cid, receipt.receipt_hash, unpinned, tx["transactionHash"].to_0x_hex())

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
        recorded = self._send_or_unpin(cid, lambda: registry.update_profile(customer_id, *version.hashes, sealer))
        return ProfileRef(customer_id, recorded, cid, readers)

    def _seal(
        self, customer_id: int, profile: CustomerProfile, keyring: KeyRing, readers: tuple[str, ...], number: int
    ) -> tuple[SealedVersion, Cid]:
        keys = self._reader_keys(customer_id, readers)
        sealed = seal_profile(profile, readers=keys, context=self.context(customer_id, number), keyring=keyring)
        cid = self.store.put(sealed.document)
        return self._version(cid, sealed.document, readers), cid

    def _reseal_if_reader(self, customer_id: int, sealer: LocalAccount) -> ProfileRef | None:
        """Re-seal after a change of readers, when `sealer` can read the current version and is
        still among the chain's readers (a relayer whose grant the change just ended is not)."""
        if sealer.address not in self.crm.registry.readers_of(customer_id):
            return None
        try:
            return self.reseal(customer_id, sealer)
        except PrivacyError:
            return None  # a reader re-seals it later (`chaincrm customer reseal`)

    def _send_or_unpin(self, cid: Cid, send: Callable[[], T]) -> T:
        """Send; unpin the new document only when the transaction is known not to have mined
        (a revert). A timeout leaves it pinned: the transaction may still mine and point at it."""
        try:
            return send()
        except ContractRevert:
            self.store.unpin(cid)
            raise

    def _version(self, cid: Cid, document: bytes, readers: tuple[str, ...]) -> SealedVersion:
        return SealedVersion(content_hash(document), cid_to_digest(cid), readers_hash(readers))

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

    def _deadline(self, lifetime_seconds: int) -> int:
        """A signature deadline in chain time: a development chain's clock may run ahead of the wall's."""
        latest = self.crm.chain.rpc(lambda: self.crm.chain.w3.eth.get_block("latest"))
        return max(int(latest["timestamp"]), int(time.time())) + lifetime_seconds

    def _check_domain(self, chain_id: int, registry: str) -> None:
        if chain_id != self.crm.chain.chain_id or to_checksum_address(registry) != self.crm.registry.address:
            raise ConfigError("the signed message is for another chain or registry")
