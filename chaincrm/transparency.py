"""The customer's own view: everything the CRM holds about the records of one wallet.

Which customer records belong to a wallet is read from the registry's events straight from the
node (``CustomerRegistered`` indexes the wallet, ``CustomerWalletChanged`` the new one), then
confirmed against the record's current wallet, so no index is needed and a wallet that was
replaced sees nothing of the record any more. Every other view is scoped to those records: asking
for another customer's id is refused before anything is read.

The profile is decrypted with the wallet's own key (it is one of the document's readers); the
rest is public chain data, gathered and typed here so that the customer sees who touched their
record, when, and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.client import Crm
from chaincrm.customers import CustomerData
from chaincrm.documents import DocumentStore
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.models import (
    AccessGrant,
    Customer,
    CustomerStatus,
    Deal,
    Interaction,
    Invoice,
    Purpose,
    StageChange,
)
from chaincrm.privacy import CustomerProfile, EncryptedDocument


@dataclass(frozen=True)
class OwnProfile:
    """A customer record as its owner sees it; `profile` is None once the record was erased."""

    customer: Customer
    profile: CustomerProfile | None
    readers: tuple[ChecksumAddress, ...]  # who can decrypt the current profile version
    erasure_receipt_hash: bytes | None
    erased_at: int | None
    sealed_for_owner: bool  # False: the profile exists but was not sealed for the wallet's key


@dataclass(frozen=True)
class DealHistory:
    deal: Deal
    changes: tuple[StageChange, ...]


@dataclass(frozen=True)
class InvoiceEvent:
    """Something that happened to an invoice: issued, paid, disputed, released, refunded, cancelled."""

    invoice_id: int
    what: str
    amount_wei: int | None
    by: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class InvoiceHistory:
    invoice: Invoice
    events: tuple[InvoiceEvent, ...]


@dataclass(frozen=True)
class AccessEvent:
    """A grant (`granted`) or a revocation of a staff member's access, with its purpose."""

    customer_id: int
    staff: ChecksumAddress
    purpose: Purpose
    granted: bool
    actor: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class AccessHistory:
    """Who may read the record now, who could before, and every grant and revocation."""

    customer_id: int
    events: tuple[AccessEvent, ...]
    active: tuple[AccessGrant, ...]  # staff whose on-chain grant is active now
    former: tuple[ChecksumAddress, ...]  # staff who were granted access and no longer have it
    readers: tuple[ChecksumAddress, ...]  # the keys the current profile version is sealed to


@dataclass(frozen=True)
class ConsentChange:
    customer_id: int
    purpose: Purpose
    granted: bool
    at: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Consents:
    customer_id: int
    given: tuple[Purpose, ...]  # what the customer consents to now
    changes: tuple[ConsentChange, ...]


@dataclass(frozen=True)
class CustomerRecords:
    """Everything at once for one customer record."""

    profile: OwnProfile
    interactions: tuple[Interaction, ...]
    deals: tuple[DealHistory, ...]
    invoices: tuple[InvoiceHistory, ...]
    access: AccessHistory
    consents: Consents


def customer_ids_of(crm: Crm, wallet: str, from_block: int | None = None) -> tuple[int, ...]:
    """The ids of every customer record whose wallet is `wallet` now, read from the chain's events."""
    wallet = to_checksum_address(wallet)
    start = crm.deployment.block_number if from_block is None else from_block
    events = crm.registry.contract.events
    candidates: set[int] = set()
    candidates.update(
        int(log["args"]["customerId"])
        for log in crm.chain.rpc(
            lambda: events.CustomerRegistered().get_logs(from_block=start, argument_filters={"wallet": wallet})
        )
    )
    candidates.update(
        int(log["args"]["customerId"])
        for log in crm.chain.rpc(
            lambda: events.CustomerWalletChanged().get_logs(from_block=start, argument_filters={"newWallet": wallet})
        )
    )
    return tuple(sorted(i for i in candidates if crm.registry.customer(i).wallet == wallet))


class CustomerView:
    """The records of one wallet, read as that wallet: decrypted profile, history, access, consent."""

    def __init__(self, crm: Crm, store: DocumentStore, owner: LocalAccount) -> None:
        self.crm = crm
        self.store = store
        self.owner = owner
        self.wallet = to_checksum_address(owner.address)
        self._ids: tuple[int, ...] | None = None
        self._timestamps: dict[int, int] = {}

    @property
    def _from_block(self) -> int:
        return self.crm.deployment.block_number

    # ------------------------------------------------------------------ which records

    def customer_ids(self) -> tuple[int, ...]:
        """The wallet's customer records; a wallet without any is a ConfigError with one clear line."""
        if self._ids is None:
            self._ids = customer_ids_of(self.crm, self.wallet, self._from_block)
        if not self._ids:
            raise ConfigError(
                f"wallet {self.wallet} has no customer record in the CRM at {self.crm.registry.address} "
                f"on chain {self.crm.chain.chain_id}"
            )
        return self._ids

    def require_own(self, customer_id: int) -> None:
        """Refuse a customer id that is not one of the wallet's records."""
        if customer_id not in self.customer_ids():
            raise ConfigError(f"customer {customer_id} is not a record of wallet {self.wallet}")

    def selected(self, customer_id: int | None) -> tuple[int, ...]:
        """`customer_id` if it is the wallet's, or all of the wallet's records."""
        if customer_id is None:
            return self.customer_ids()
        self.require_own(customer_id)
        return (customer_id,)

    # ------------------------------------------------------------------ views

    def profile(self, customer_id: int) -> OwnProfile:
        """The decrypted profile; a PrivacyError if it was not sealed for the wallet's key."""
        own = self._profile(customer_id)
        if not own.sealed_for_owner:
            raise PrivacyError(
                f"customer {customer_id}'s profile is not sealed for {self.wallet} "
                f"(readers: {', '.join(own.readers)}): publish your key (`chaincrm key publish`) and ask "
                "the CRM to share it with you"
            )
        return own

    def _profile(self, customer_id: int) -> OwnProfile:
        self.require_own(customer_id)
        customer = self.crm.registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            erased = self._logs(self.crm.registry.contract.events.CustomerErased, customerId=customer_id)
            receipt_hash = bytes(erased[-1]["args"]["receiptHash"]) if erased else None
            erased_at = int(erased[-1]["args"]["at"]) if erased else None
            return OwnProfile(customer, None, (), receipt_hash, erased_at, sealed_for_owner=True)
        data = CustomerData(self.crm, self.store)
        version, document = data.document(customer_id)
        readers = tuple(to_checksum_address(r) for r in EncryptedDocument.from_bytes(document).readers)
        if self.wallet not in readers:
            return OwnProfile(customer, None, readers, None, None, sealed_for_owner=False)
        profile = data.read(customer_id, self.owner, version)
        return OwnProfile(customer, profile, readers, None, None, sealed_for_owner=True)

    def interactions(self, customer_id: int) -> tuple[Interaction, ...]:
        self.require_own(customer_id)
        return tuple(self.crm.registry.interactions(customer_id, from_block=self._from_block))

    def deals(self, customer_id: int) -> tuple[DealHistory, ...]:
        self.require_own(customer_id)
        opened = self._logs(self.crm.pipeline.contract.events.DealOpened, customerId=customer_id)
        deal_ids = sorted({int(log["args"]["dealId"]) for log in opened})
        return tuple(
            DealHistory(
                self.crm.pipeline.deal(deal_id),
                tuple(self.crm.pipeline.stage_changes(deal_id, from_block=self._from_block)),
            )
            for deal_id in deal_ids
        )

    def invoices(self, customer_id: int) -> tuple[InvoiceHistory, ...]:
        self.require_own(customer_id)
        events = self.crm.escrow.contract.events
        issued = self._logs(events.InvoiceIssued, customerId=customer_id)
        histories = []
        for issue in sorted(issued, key=lambda log: int(log["args"]["invoiceId"])):
            invoice_id = int(issue["args"]["invoiceId"])
            amount = int(issue["args"]["amount"])
            found = [self._invoice_event(issue, invoice_id, "issued", amount, self.crm.pipeline.address)]
            for event_name, what, by_key, amount_key in (
                ("InvoicePaid", "paid", "payer", "amount"),
                ("InvoiceDisputed", "disputed", "payer", None),
                ("InvoiceReleased", "released", "actor", "amount"),
                ("InvoiceRefunded", "refunded", "actor", "amount"),
                ("InvoiceCancelled", "cancelled", "actor", None),
            ):
                for log in self._logs(getattr(events, event_name), invoiceId=invoice_id):
                    paid = int(log["args"][amount_key]) if amount_key else None
                    found.append(self._invoice_event(log, invoice_id, what, paid, log["args"][by_key]))
            found.sort(key=lambda e: (e.block_number, e.at))
            histories.append(InvoiceHistory(self.crm.escrow.invoice(invoice_id), tuple(found)))
        return tuple(histories)

    def access(self, customer_id: int) -> AccessHistory:
        self.require_own(customer_id)
        events = self.crm.registry.contract.events
        found: list[tuple[int, AccessEvent]] = []
        for event, granted in ((events.AccessGranted, True), (events.AccessRevoked, False)):
            for log in self._logs(event, customerId=customer_id):
                args = log["args"]
                found.append(
                    (
                        int(log["logIndex"]),
                        AccessEvent(
                            customer_id=customer_id,
                            staff=to_checksum_address(args["staff"]),
                            purpose=Purpose(args["purpose"]),
                            granted=granted,
                            actor=to_checksum_address(args["actor"]),
                            at=self._timestamp(int(log["blockNumber"])),
                            block_number=int(log["blockNumber"]),
                            tx_hash=log["transactionHash"].to_0x_hex(),
                        ),
                    )
                )
        found.sort(key=lambda pair: (pair[1].block_number, pair[0]))
        history = tuple(event for _, event in found)
        staff = list(dict.fromkeys(event.staff for event in history))
        grants = [self.crm.registry.access_of(customer_id, account) for account in staff]
        readers: tuple[ChecksumAddress, ...] = ()
        if self.crm.registry.status_of(customer_id) is CustomerStatus.ACTIVE:
            _, document = CustomerData(self.crm, self.store).document(customer_id)
            readers = tuple(to_checksum_address(r) for r in EncryptedDocument.from_bytes(document).readers)
        return AccessHistory(
            customer_id=customer_id,
            events=history,
            active=tuple(grant for grant in grants if grant.active),
            former=tuple(grant.staff for grant in grants if not grant.active),
            readers=readers,
        )

    def consents(self, customer_id: int) -> Consents:
        self.require_own(customer_id)
        logs = self._logs(self.crm.registry.contract.events.ConsentChanged, customerId=customer_id)
        changes = tuple(
            ConsentChange(
                customer_id=customer_id,
                purpose=Purpose(log["args"]["purpose"]),
                granted=bool(log["args"]["granted"]),
                at=self._timestamp(int(log["blockNumber"])),
                block_number=int(log["blockNumber"]),
                tx_hash=log["transactionHash"].to_0x_hex(),
            )
            for log in sorted(logs, key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
        )
        given = tuple(purpose for purpose in Purpose if self.crm.registry.has_consent(customer_id, purpose))
        return Consents(customer_id, given, changes)

    def everything(self, customer_id: int) -> CustomerRecords:
        """All the views; a profile not sealed for the wallet is shown as such, not refused."""
        return CustomerRecords(
            profile=self._profile(customer_id),
            interactions=self.interactions(customer_id),
            deals=self.deals(customer_id),
            invoices=self.invoices(customer_id),
            access=self.access(customer_id),
            consents=self.consents(customer_id),
        )

    # ------------------------------------------------------------------ internals

    def _invoice_event(self, log: Any, invoice_id: int, what: str, amount: int | None, by: str) -> InvoiceEvent:
        block_number = int(log["blockNumber"])
        args = log["args"]
        at = int(args["at"]) if "at" in args else self._timestamp(block_number)
        return InvoiceEvent(
            invoice_id, what, amount, to_checksum_address(by), at, block_number, log["transactionHash"].to_0x_hex()
        )

    def _logs(self, event: Any, **filters: int) -> list[Any]:
        """`event`'s logs since the deployment, filtered on indexed arguments, in chain order."""
        found = self.crm.chain.rpc(lambda: event().get_logs(from_block=self._from_block, argument_filters=filters))
        return sorted(found, key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))

    def _timestamp(self, block_number: int) -> int:
        if block_number not in self._timestamps:
            block = self.crm.chain.rpc(lambda: self.crm.chain.w3.eth.get_block(block_number))
            self._timestamps[block_number] = int(block["timestamp"])
        return self._timestamps[block_number]
