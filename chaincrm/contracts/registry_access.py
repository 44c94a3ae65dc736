"""CrmRegistry's access control over a customer's data: staff grants, readers and consent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.contracts.registry_base import RegistryBase
from chaincrm.models import AccessGrant, Purpose

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chaincrm.chain import Sender
    from chaincrm.contracts.registry_customers import SealedVersion
    from chaincrm.contracts.signatures import AccessRevocation, ConsentChange


class AccessMixin(RegistryBase):
    """Who may read a customer's data (grants, the readers a version is sealed for) and for which
    purposes the customer consents."""

    # ------------------------------------------------------------------ grants

    def grant_access(
        self, customer_id: int, staff: str, purpose: Purpose, version: SealedVersion, sender: Sender
    ) -> TxReceipt:
        fn = self.contract.functions.grantAccess(customer_id, to_checksum_address(staff), int(purpose), *version.hashes)
        return self.chain.transact(fn, sender)

    def revoke_access(self, customer_id: int, staff: str, version: SealedVersion, sender: Sender) -> TxReceipt:
        fn = self.contract.functions.revokeAccess(customer_id, to_checksum_address(staff), *version.hashes)
        return self.chain.transact(fn, sender)

    def revoke_access_by_sig(self, revocation: AccessRevocation, sender: Sender) -> TxReceipt:
        """Relay the customer's signed revocation. It records no new version: a reader re-seals after."""
        fn = self.contract.functions.revokeAccessBySig(
            revocation.customer_id, revocation.staff, revocation.deadline, revocation.signature
        )
        return self.chain.transact(fn, sender)

    def access_of(self, customer_id: int, staff: str) -> AccessGrant:
        raw = self.chain.call(self.contract.functions.accessOf(customer_id, to_checksum_address(staff)))
        return AccessGrant.from_chain(customer_id, staff, raw)

    def has_active_grant(self, customer_id: int, account: str) -> bool:
        fn = self.contract.functions.hasActiveGrant(customer_id, to_checksum_address(account))
        return bool(self.chain.call(fn))

    def grantees_of(self, customer_id: int) -> list[str]:
        """Staff with an active grant on the customer now."""
        return [to_checksum_address(a) for a in self.chain.call(self.contract.functions.granteesOf(customer_id))]

    def grants_of(self, customer_id: int, from_block: int = 0) -> list[AccessGrant]:
        """Every staff member ever granted access to the customer, with the grant's current state."""
        granted = self.chain.logs.events(
            self.contract.events.AccessGranted, from_block=from_block, argument_filters={"customerId": customer_id}
        )
        staff = dict.fromkeys(log["args"]["staff"] for log in granted)
        return [self.access_of(customer_id, account) for account in staff]

    # ------------------------------------------------------------------ readers

    def readers_of(self, customer_id: int) -> tuple[str, ...]:
        """Who the next version must be sealed for, as the chain computes it (sorted)."""
        return tuple(to_checksum_address(a) for a in self.chain.call(self.contract.functions.readersOf(customer_id)))

    def readers_hash_of(self, customer_id: int) -> bytes:
        return bytes(self.chain.call(self.contract.functions.readersHashOf(customer_id)))

    # ------------------------------------------------------------------ consent

    def set_consent(self, customer_id: int, purpose: Purpose, granted: bool, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.setConsent(customer_id, int(purpose), granted), sender)

    def set_consent_by_sig(self, consent: ConsentChange, sender: Sender) -> TxReceipt:
        fn = self.contract.functions.setConsentBySig(
            consent.customer_id, int(consent.purpose), consent.granted, consent.deadline, consent.signature
        )
        return self.chain.transact(fn, sender)

    def has_consent(self, customer_id: int, purpose: Purpose) -> bool:
        return bool(self.chain.call(self.contract.functions.hasConsent(customer_id, int(purpose))))
