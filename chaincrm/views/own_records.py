"""The customer's own view: everything the CRM holds about the records of one wallet.

Which records are the wallet's comes from the chain (:mod:`chaincrm.views.wallet_records`): the
ones it accepted. Every other view is scoped to those records: asking for another customer's id is
refused before anything is read.

Every log read here is checked to come from the deployment's own contract (a look-alike event from
another address is ignored: :mod:`chaincrm.views.logs`), and every code is decoded whatever its
value: a kind, outcome, purpose, stage, reason or status this version does not know reads
``unknown(N)``.

What the customer sees, each from its own module:

* the profile, decrypted with the wallet's key once a reader re-sealed it for the wallet
  (:mod:`~chaincrm.views.own_profile`);
* each interaction, logged singly or anchored in a batch, with its note and attachments decrypted
  under the customer's content keys (which travel inside the profile), or why one cannot be read
  (:mod:`~chaincrm.views.note_reader`);
* deals with every stage change, document and invoice (:mod:`~chaincrm.views.deal_history`); each
  invoice's history (paid to which treasury, disputed until when, refunded), and the refunds
  credited to the payer and not yet withdrawn (:mod:`~chaincrm.views.invoice_history`);
* every grant and revocation with its purpose and that purpose's lawful basis (contract, legal
  obligation, consent), who can read the record now and why (the wallet, the managers as standing
  readers, staff by grant), and who could before; each consent purpose, given or not, and every
  change with who sent it (:mod:`~chaincrm.views.access_history`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.errors import PrivacyError
from chaincrm.models import CustomerStatus
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.erasure import interactions_of
from chaincrm.storage import DocumentStore
from chaincrm.views.access_history import (
    AccessEvent,
    AccessHistory,
    ConsentChange,
    Consents,
    ConsentState,
    Reader,
    access_history,
    consents_of,
)
from chaincrm.views.deal_history import DealDocument, DealHistory, deal_histories
from chaincrm.views.invoice_events import InvoiceEvent
from chaincrm.views.invoice_history import (
    InvoiceHistory,
    RefundAccount,
    RefundWithdrawal,
    invoice_histories,
    refund_accounts,
)
from chaincrm.views.logs import DeploymentLogs
from chaincrm.views.note_reader import InteractionView, NoteReader
from chaincrm.views.own_profile import OwnProfile, own_profile
from chaincrm.views.wallet_records import RecordScope, WalletRecords, customer_ids_of, records_of

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm


@dataclass(frozen=True)
class CustomerRecords:
    """Everything at once for one customer record."""

    profile: OwnProfile
    interactions: tuple[InteractionView, ...]
    deals: tuple[DealHistory, ...]
    invoices: tuple[InvoiceHistory, ...]
    access: AccessHistory
    consents: Consents
    refunds: tuple[RefundAccount, ...] = ()


class CustomerView:
    """The records of one wallet, read as that wallet: decrypted profile and notes, history,
    access, consent, refunds. Each view checks the id is the wallet's, then asks its module."""

    def __init__(self, crm: Crm, store: DocumentStore, owner: LocalAccount) -> None:
        self.crm = crm
        self.store = store
        self.owner = owner
        self.wallet = to_checksum_address(owner.address)
        self.scope = RecordScope(crm, self.wallet)
        self.logs = DeploymentLogs(crm)
        self.data = CustomerData(crm, store)
        self._notes: NoteReader | None = None

    # ------------------------------------------------------------------ which records

    def records(self) -> WalletRecords:
        return self.scope.records()

    def customer_ids(self) -> tuple[int, ...]:
        """The wallet's customer records; none (or only proposed) is one ConfigError line."""
        return self.scope.customer_ids()

    def require_own(self, customer_id: int) -> None:
        """Refuse a customer id that is not one of the wallet's records."""
        self.scope.require_own(customer_id)

    def selected(self, customer_id: int | None) -> tuple[int, ...]:
        """`customer_id` if it is the wallet's, or all of the wallet's records."""
        return self.scope.selected(customer_id)

    # ------------------------------------------------------------------ views

    def profile(self, customer_id: int) -> OwnProfile:
        """The decrypted profile; a PrivacyError if the current version is not sealed for the wallet."""
        own = self._profile(customer_id)
        if own.profile is None and own.customer.status is not CustomerStatus.ERASED:
            raise PrivacyError(own.why or f"customer {customer_id}'s profile cannot be read")
        return own

    def interactions(self, customer_id: int) -> tuple[InteractionView, ...]:
        """Every interaction with the customer, logged singly or anchored in a batch (read from the
        batch documents: StorageError if one is unavailable), its note and attachments decrypted
        where possible."""
        self.require_own(customer_id)
        found = interactions_of(self.crm, self.store, customer_id, from_block=self.logs.from_block)
        if self.crm.registry.status_of(customer_id) is CustomerStatus.ERASED:
            return tuple(InteractionView(i, None, "the customer was erased: no key exists any more") for i in found)
        if self._notes is None:
            self._notes = NoteReader(self.crm, self.store, self.owner)
        return tuple(self._notes.read(interaction) for interaction in found)

    def deals(self, customer_id: int) -> tuple[DealHistory, ...]:
        self.require_own(customer_id)
        return deal_histories(self.logs, customer_id)

    def invoices(self, customer_id: int) -> tuple[InvoiceHistory, ...]:
        self.require_own(customer_id)
        return invoice_histories(self.logs, customer_id)

    def refunds(
        self, customer_id: int, invoices: tuple[InvoiceHistory, ...] | None = None
    ) -> tuple[RefundAccount, ...]:
        """Per payer of the customer's invoices: refunds credited to it and what it still may withdraw."""
        histories = self.invoices(customer_id) if invoices is None else invoices
        return refund_accounts(self.logs, histories)

    def access(self, customer_id: int) -> AccessHistory:
        self.require_own(customer_id)
        return access_history(self.data, self.logs, customer_id, self.wallet)

    def consents(self, customer_id: int) -> Consents:
        self.require_own(customer_id)
        return consents_of(self.logs, customer_id)

    def everything(self, customer_id: int) -> CustomerRecords:
        """All the views; a profile not sealed for the wallet is shown as such, not refused."""
        invoices = self.invoices(customer_id)
        return CustomerRecords(
            profile=self._profile(customer_id),
            interactions=self.interactions(customer_id),
            deals=self.deals(customer_id),
            invoices=invoices,
            access=self.access(customer_id),
            consents=self.consents(customer_id),
            refunds=self.refunds(customer_id, invoices),
        )

    def _profile(self, customer_id: int) -> OwnProfile:
        self.require_own(customer_id)
        return own_profile(self.data, self.logs, customer_id, self.owner)


__all__ = [
    "AccessEvent",
    "AccessHistory",
    "ConsentChange",
    "ConsentState",
    "Consents",
    "CustomerRecords",
    "CustomerView",
    "DealDocument",
    "DealHistory",
    "InteractionView",
    "InvoiceEvent",
    "InvoiceHistory",
    "NoteReader",
    "OwnProfile",
    "Reader",
    "RefundAccount",
    "RefundWithdrawal",
    "WalletRecords",
    "customer_ids_of",
    "records_of",
]
