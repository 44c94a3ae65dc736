"""The customer-data lifecycle in one place: :class:`CustomerData`, the facade the CLI and tools use.

Each job lives in its own module, and :class:`CustomerData` hands every call to it:

* profile versions: read, add, edit, re-seal, grant and revoke access
  (:class:`~chaincrm.privacy.versions.ProfileVersions`);
* the wallet's acts: binding (propose, approve, accept, signed acceptance) and consent
  (:class:`~chaincrm.privacy.wallets.CustomerWallets`);
* erasure (:func:`~chaincrm.privacy.erasure.erase_customer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaincrm.privacy.erasure import Erasure, erase_customer
from chaincrm.privacy.versions import ProfileRef, ProfileVersions
from chaincrm.privacy.wallets import DEFAULT_SIGNATURE_LIFETIME_SECONDS, CustomerWallets, public_key64

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm
    from chaincrm.contracts.signatures import AccessRevocation, ConsentChange, WalletAcceptance
    from chaincrm.models import Purpose
    from chaincrm.privacy.profiles import CustomerProfile, ProfileContext, Vault
    from chaincrm.storage import DocumentStore


class CustomerData:
    """Customers' encrypted profiles, wallets, consent and erasure, for one CRM deployment and one
    document store."""

    def __init__(self, crm: Crm, store: DocumentStore) -> None:
        self.crm = crm
        self.store = store
        self.versions = ProfileVersions(crm, store)
        self.wallets = CustomerWallets(crm, self.versions)
        self.sign_consent_change = self.wallets.sign_consent_change
        """The wallet's EIP-712 consent change, for staff to relay: :meth:`CustomerWallets.sign_consent_change`."""

    # ------------------------------------------------------------------ profile versions: reading

    def context(self, customer_id: int, version: int) -> ProfileContext:
        return self.versions.context(customer_id, version)

    def document(self, customer_id: int, version: int | None = None) -> tuple[int, bytes]:
        """(version, bytes) of a profile document, checked against the chain's hashes and reader set."""
        return self.versions.document(customer_id, version)

    def vault(self, customer_id: int, reader: LocalAccount, version: int | None = None) -> Vault:
        """The decrypted profile and content-key ring, as `reader`."""
        return self.versions.vault(customer_id, reader, version)

    def read(self, customer_id: int, reader: LocalAccount, version: int | None = None) -> CustomerProfile:
        """Decrypt a profile as `reader` (the customer, a manager, or staff who were granted access)."""
        return self.versions.read(customer_id, reader, version)

    def readers(self, customer_id: int) -> tuple[str, ...]:
        """Who the current version is sealed for."""
        return self.versions.readers(customer_id)

    def is_stale(self, customer_id: int) -> bool:
        """True when the chain's readers changed since the current version was sealed."""
        return self.versions.is_stale(customer_id)

    # ------------------------------------------------------------------ profile versions: writing

    def add(self, profile: CustomerProfile, *, wallet: str | None, purpose: Purpose, agent: LocalAccount) -> ProfileRef:
        """Register a customer, sealed for the registering agent and the managers."""
        return self.versions.add(profile, wallet=wallet, purpose=purpose, agent=agent)

    def update(self, customer_id: int, profile: CustomerProfile, editor: LocalAccount) -> ProfileRef:
        """A new version of the profile for the chain's current readers, under a new data key."""
        return self.versions.update(customer_id, profile, editor)

    def reseal(self, customer_id: int, sealer: LocalAccount) -> ProfileRef | None:
        """Re-seal the current version for the chain's readers if they changed; None if not stale."""
        return self.versions.reseal(customer_id, sealer)

    def reseal_if_reader(self, customer_id: int, sealer: LocalAccount) -> ProfileRef | None:
        """Re-seal if stale and `sealer` is among the chain's readers and can open the current version."""
        return self.versions.reseal_if_reader(customer_id, sealer)

    def grant(self, customer_id: int, staff: str, purpose: Purpose, granter: LocalAccount) -> ProfileRef:
        """Grant `staff` access for `purpose` and record the version re-sealed for them."""
        return self.versions.grant(customer_id, staff, purpose, granter)

    def revoke(self, customer_id: int, staff: str, revoker: LocalAccount) -> ProfileRef:
        """Revoke `staff`'s access and record the version re-sealed without them."""
        return self.versions.revoke(customer_id, staff, revoker)

    # ------------------------------------------------------------------ wallet binding

    def propose_wallet(self, customer_id: int, wallet: str | None, proposer: LocalAccount) -> None:
        self.wallets.propose_wallet(customer_id, wallet, proposer)

    def approve_wallet(self, customer_id: int, wallet: str, manager: LocalAccount) -> None:
        self.wallets.approve_wallet(customer_id, wallet, manager)

    def accept_wallet(self, customer_id: int, wallet: LocalAccount) -> None:
        self.wallets.accept_wallet(customer_id, wallet)

    def sign_wallet_acceptance(
        self, customer_id: int, wallet: LocalAccount, lifetime_seconds: int = DEFAULT_SIGNATURE_LIFETIME_SECONDS
    ) -> WalletAcceptance:
        return self.wallets.sign_wallet_acceptance(customer_id, wallet, lifetime_seconds)

    def relay_wallet_acceptance(self, acceptance: WalletAcceptance, relayer: LocalAccount) -> ProfileRef | None:
        return self.wallets.relay_wallet_acceptance(acceptance, relayer)

    # ------------------------------------------------------------------ consent

    def set_consent(self, customer_id: int, purpose: Purpose, granted: bool, wallet: LocalAccount) -> ProfileRef | None:
        return self.wallets.set_consent(customer_id, purpose, granted, wallet)

    def relay_consent_change(self, change: ConsentChange, relayer: LocalAccount) -> ProfileRef | None:
        return self.wallets.relay_consent_change(change, relayer)

    def sign_access_revocation(
        self,
        customer_id: int,
        staff: str,
        wallet: LocalAccount,
        lifetime_seconds: int = DEFAULT_SIGNATURE_LIFETIME_SECONDS,
    ) -> AccessRevocation:
        return self.wallets.sign_access_revocation(customer_id, staff, wallet, lifetime_seconds)

    def relay_access_revocation(self, revocation: AccessRevocation, relayer: LocalAccount) -> ProfileRef | None:
        return self.wallets.relay_access_revocation(revocation, relayer)

    # ------------------------------------------------------------------ erasure

    def erase(self, customer_id: int, actor: LocalAccount) -> Erasure:
        """Destroy every document tied to the customer, then record the receipt on-chain."""
        return erase_customer(self.crm, self.store, customer_id, actor)


__all__ = ["DEFAULT_SIGNATURE_LIFETIME_SECONDS", "CustomerData", "Erasure", "ProfileRef", "public_key64"]
