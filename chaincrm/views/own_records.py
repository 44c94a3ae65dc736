"""The customer's own view: everything the CRM holds about the records of one wallet.

Which records belong to a wallet (trust model v2): a wallet is bound to a customer only by its own
acceptance (``WalletAccepted``, by its transaction or its relayed signature), so a wallet's records
are those whose current wallet it is, found from the registry's ``WalletAccepted`` events and
confirmed against ``customerOf``; an erased record stays visible, as erased, to the wallet it had
when it was erased. A wallet that was only *proposed* sees nothing: it must accept first. Every
other view is scoped to those records: asking for another customer's id is refused before
anything is read.

Every log read here is checked to come from the deployment's own contract (a look-alike event from
another address is ignored), and every code is decoded whatever its value: a kind, outcome,
purpose, stage, reason or status this version does not know reads ``unknown(N)``.

What the customer sees:

* the profile, decrypted with the wallet's key once a reader re-sealed it for the wallet;
* each interaction, with its note and attachments decrypted under the customer's content keys
  (which travel inside the profile), or why one cannot be read;
* deals with every stage change, document and invoice (a deal may have several: a re-issue cancels
  the unpaid one), each invoice's history (paid to which treasury, disputed until when, refunded),
  and the refunds credited to the payer and not yet withdrawn;
* every grant and revocation with its purpose and that purpose's lawful basis (contract, legal
  obligation, consent), who can read the record now and why (the wallet, the managers as standing
  readers, staff by grant), and who could before;
* each consent purpose, given or not, and every change with who sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.chain import emitted_by
from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError, PrivacyError, StorageError
from chaincrm.models import (
    CONSENT_PURPOSES,
    ZERO_ADDRESS,
    AccessGrant,
    Customer,
    CustomerStatus,
    Deal,
    DocumentKind,
    Interaction,
    Invoice,
    LawfulBasis,
    LossReason,
    Purpose,
    StageChange,
)
from chaincrm.privacy import CustomerProfile, EncryptedDocument, InteractionContent, KeyRing, open_content
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.notes import INTERACTION, CustomerNotes
from chaincrm.storage import DocumentStore, digest_to_cid

# ------------------------------------------------------------------ what the views return


@dataclass(frozen=True)
class OwnProfile:
    """A customer record as its owner sees it; `profile` is None when it cannot be read (`why`)."""

    customer: Customer
    profile: CustomerProfile | None
    readers: tuple[ChecksumAddress, ...]  # who can decrypt the current profile version
    erasure_receipt_hash: bytes | None
    erased_at: int | None
    sealed_for_owner: bool  # False: the current version is not sealed for the wallet (yet)
    why: str | None = None  # why `profile` is None while the record is active


@dataclass(frozen=True)
class InteractionView:
    """An interaction as a reader sees it: the chain's record and its decrypted content, or why the
    content cannot be read (`content` None)."""

    interaction: Interaction
    content: InteractionContent | None
    unreadable: str | None

    @property
    def attachment_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.content.attachments) if self.content is not None else ()


@dataclass(frozen=True)
class DealDocument:
    deal_id: int
    kind: DocumentKind
    cid: str
    actor: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class DealHistory:
    deal: Deal
    changes: tuple[StageChange, ...]
    invoice_ids: tuple[int, ...]  # every invoice issued for it, oldest first (a re-issue adds one)
    documents: tuple[DealDocument, ...] = ()
    lost_reason: LossReason | None = None


@dataclass(frozen=True)
class InvoiceEvent:
    """Something that happened to an invoice: issued, paid, disputed, released, refunded, cancelled.

    `to` is where the money went or is fixed to go (paid: the treasury fixed at payment; released:
    that treasury; refunded: the payer, as a credit to withdraw); `until` is a dispute's resolution
    deadline."""

    invoice_id: int
    what: str
    amount_wei: int | None
    by: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str
    to: ChecksumAddress | None = None
    until: int | None = None


@dataclass(frozen=True)
class InvoiceHistory:
    invoice: Invoice
    events: tuple[InvoiceEvent, ...]
    treasury: ChecksumAddress | None = None  # fixed when it was paid


@dataclass(frozen=True)
class RefundWithdrawal:
    payer: ChecksumAddress
    amount_wei: int
    at: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class RefundAccount:
    """Refunds credited to one payer of the customer's invoices: what is owed now, and every
    withdrawal (a withdrawal takes everything credited to the payer, whichever invoice)."""

    payer: ChecksumAddress
    owed_wei: int
    credited: tuple[InvoiceEvent, ...]
    withdrawals: tuple[RefundWithdrawal, ...]


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
    by_consent_withdrawal: bool = False  # the customer withdrew the consent the grant rested on

    @property
    def basis(self) -> LawfulBasis:
        return self.purpose.basis


@dataclass(frozen=True)
class Reader:
    """Someone the chain lets read the record now, and why: the customer's `wallet`, a `manager`
    (a standing reader of every customer) or staff with a `grant` for `purpose`."""

    address: ChecksumAddress
    why: str
    purpose: Purpose | None = None


@dataclass(frozen=True)
class AccessHistory:
    """Who may read the record now, who could before, and every grant and revocation."""

    customer_id: int
    events: tuple[AccessEvent, ...]
    active: tuple[AccessGrant, ...]  # staff whose on-chain grant is active now
    former: tuple[ChecksumAddress, ...]  # staff who were granted access and no longer have it
    readers: tuple[ChecksumAddress, ...]  # the keys the current profile version is sealed to
    readers_now: tuple[Reader, ...] = ()  # the chain's readers (`readersOf`), with the reason for each


@dataclass(frozen=True)
class ConsentChange:
    customer_id: int
    purpose: Purpose
    granted: bool
    at: int
    block_number: int
    tx_hash: str
    relayer: ChecksumAddress | None = None  # who sent it: the wallet, or whoever relayed its signature


@dataclass(frozen=True)
class ConsentState:
    purpose: Purpose
    given: bool
    since: int | None  # when it was last given or withdrawn; None: never asked


@dataclass(frozen=True)
class Consents:
    customer_id: int
    given: tuple[Purpose, ...]  # what the customer consents to now
    changes: tuple[ConsentChange, ...]
    states: tuple[ConsentState, ...] = ()  # each purpose that needs consent, given or not


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


# ------------------------------------------------------------------ notes


class NoteReader:
    """Decrypts interaction documents as one reader. The customer's content-key ring is opened once
    per customer (from the current profile version); a note that cannot be read (the ring lacks its
    epoch, the document is gone or is not one) is reported, never raised."""

    def __init__(self, crm: Crm, store: DocumentStore, reader: LocalAccount) -> None:
        self.notes = CustomerNotes(crm, store)
        self.store = store
        self.reader = reader
        self._rings: dict[int, KeyRing | str] = {}

    def read(self, interaction: Interaction) -> InteractionView:
        ring = self._ring(interaction.customer_id)
        if isinstance(ring, str):
            return InteractionView(interaction, None, ring)
        try:
            cid = digest_to_cid(interaction.content_hash)
            if not self.store.has(cid):
                return InteractionView(interaction, None, f"document {cid} is not stored (erased, or never stored)")
            context = self.notes.context(interaction.customer_id, INTERACTION)
            plain = open_content(self.store.get(cid), keyring=ring, context=context)
            return InteractionView(interaction, InteractionContent.from_bytes(plain), None)
        except (StorageError, PrivacyError, ConfigError) as problem:
            return InteractionView(interaction, None, str(problem))

    def _ring(self, customer_id: int) -> KeyRing | str:
        if customer_id not in self._rings:
            try:
                self._rings[customer_id] = self.notes.keyring(customer_id, self.reader)
            except (StorageError, PrivacyError, ConfigError) as problem:
                self._rings[customer_id] = f"{self.reader.address} cannot open customer {customer_id}'s keys: {problem}"
        return self._rings[customer_id]


# ------------------------------------------------------------------ which records


@dataclass(frozen=True)
class WalletRecords:
    """The records a wallet holds (`owned`) and the ones it was proposed for but has not accepted."""

    owned: tuple[int, ...]
    pending: tuple[int, ...]


def records_of(crm: Crm, wallet: str, from_block: int | None = None) -> WalletRecords:
    """The wallet's customer records, from the registry's events, confirmed against the chain."""
    wallet = to_checksum_address(wallet)
    registry = crm.registry
    start = crm.deployment.block_number if from_block is None else from_block
    events = registry.contract.events

    def logs(event: Any, **filters: Any) -> list[Any]:
        found = crm.chain.rpc(lambda: event().get_logs(from_block=start, argument_filters=filters))
        return sorted(emitted_by(registry.address, found), key=lambda log: (log["blockNumber"], log["logIndex"]))

    accepted = {int(log["args"]["customerId"]) for log in logs(events.WalletAccepted, newWallet=wallet)}
    proposed = {int(log["args"]["customerId"]) for log in logs(events.WalletProposed, wallet=wallet)}
    owned: list[int] = []
    for customer_id in sorted(accepted):
        customer = registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            # Erasure clears the wallet: the record stays the wallet's if it held it then.
            history = logs(events.WalletAccepted, customerId=customer_id)
            if history and to_checksum_address(history[-1]["args"]["newWallet"]) == wallet:
                owned.append(customer_id)
        elif customer.wallet == wallet:
            owned.append(customer_id)
    pending = [
        customer_id
        for customer_id in sorted(proposed - set(owned))
        if registry.customer(customer_id).pending_wallet == wallet
    ]
    return WalletRecords(tuple(owned), tuple(pending))


def customer_ids_of(crm: Crm, wallet: str, from_block: int | None = None) -> tuple[int, ...]:
    """The ids of every customer record the wallet holds (it accepted, and was not replaced)."""
    return records_of(crm, wallet, from_block).owned


# ------------------------------------------------------------------ the view


class CustomerView:
    """The records of one wallet, read as that wallet: decrypted profile and notes, history,
    access, consent, refunds."""

    def __init__(self, crm: Crm, store: DocumentStore, owner: LocalAccount) -> None:
        self.crm = crm
        self.store = store
        self.owner = owner
        self.wallet = to_checksum_address(owner.address)
        self._records: WalletRecords | None = None
        self._timestamps: dict[int, int] = {}
        self._notes: NoteReader | None = None

    @property
    def _from_block(self) -> int:
        return self.crm.deployment.block_number

    # ------------------------------------------------------------------ which records

    def records(self) -> WalletRecords:
        if self._records is None:
            self._records = records_of(self.crm, self.wallet, self._from_block)
        return self._records

    def customer_ids(self) -> tuple[int, ...]:
        """The wallet's customer records. None is one ConfigError line; so is a wallet that was
        proposed but has not accepted, which sees nothing until it does."""
        records = self.records()
        if records.owned:
            return records.owned
        if records.pending:
            first = records.pending[0]
            which = ", ".join(map(str, records.pending))
            raise ConfigError(
                f"wallet {self.wallet} was proposed for customer {which} but has not accepted: it sees nothing "
                f"until it does (`chaincrm customer accept-wallet {first} --keystore {self.wallet}`, or sign an "
                f"acceptance for staff to relay: `chaincrm customer sign-wallet-acceptance {first}`)"
            )
        raise ConfigError(
            f"wallet {self.wallet} has no customer record in the CRM at {self.crm.registry.address} "
            f"on chain {self.crm.chain.chain_id}"
        )

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
        """The decrypted profile; a PrivacyError if the current version is not sealed for the wallet."""
        own = self._profile(customer_id)
        if own.profile is None and own.customer.status is not CustomerStatus.ERASED:
            raise PrivacyError(own.why or f"customer {customer_id}'s profile cannot be read")
        return own

    def _profile(self, customer_id: int) -> OwnProfile:
        self.require_own(customer_id)
        customer = self.crm.registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            erased = self._logs(self.crm.registry, "CustomerErased", customerId=customer_id)
            receipt_hash = bytes(erased[-1]["args"]["receiptHash"]) if erased else None
            erased_at = int(erased[-1]["args"]["at"]) if erased else None
            return OwnProfile(customer, None, (), receipt_hash, erased_at, sealed_for_owner=True)
        data = CustomerData(self.crm, self.store)
        try:
            version, document = data.document(customer_id)
        except (PrivacyError, StorageError) as problem:
            return OwnProfile(customer, None, (), None, None, sealed_for_owner=False, why=str(problem))
        readers = tuple(to_checksum_address(r) for r in EncryptedDocument.from_bytes(document).readers)
        if self.wallet not in readers:
            why = (
                f"customer {customer_id}'s profile is not sealed for {self.wallet} yet (readers: "
                f"{', '.join(readers)}): your wallet was accepted after version {version}; a reader re-seals "
                f"it for you (`chaincrm customer reseal {customer_id}`)"
            )
            return OwnProfile(customer, None, readers, None, None, sealed_for_owner=False, why=why)
        profile = data.read(customer_id, self.owner, version)
        return OwnProfile(customer, profile, readers, None, None, sealed_for_owner=True)

    def interactions(self, customer_id: int) -> tuple[InteractionView, ...]:
        """Every interaction with the customer, its note and attachments decrypted where possible."""
        self.require_own(customer_id)
        found = self.crm.registry.interactions(customer_id, from_block=self._from_block)
        if self.crm.registry.status_of(customer_id) is CustomerStatus.ERASED:
            return tuple(InteractionView(i, None, "the customer was erased: no key exists any more") for i in found)
        if self._notes is None:
            self._notes = NoteReader(self.crm, self.store, self.owner)
        return tuple(self._notes.read(interaction) for interaction in found)

    def deals(self, customer_id: int) -> tuple[DealHistory, ...]:
        self.require_own(customer_id)
        pipeline = self.crm.pipeline
        opened = self._logs(pipeline, "DealOpened", customerId=customer_id)
        deal_ids = sorted({int(log["args"]["dealId"]) for log in opened})
        if not deal_ids:
            return ()
        documents: dict[int, list[DealDocument]] = {}
        for log in self._logs(pipeline, "DealDocumentAttached", dealId=deal_ids):
            args = log["args"]
            document = DealDocument(
                deal_id=int(args["dealId"]),
                kind=DocumentKind(args["documentKind"]),
                cid=str(digest_to_cid(bytes(args["cidDigest"]))),
                actor=to_checksum_address(args["actor"]),
                at=self._timestamp(int(log["blockNumber"])),
                block_number=int(log["blockNumber"]),
                tx_hash=log["transactionHash"].to_0x_hex(),
            )
            documents.setdefault(document.deal_id, []).append(document)
        reasons = {
            int(log["args"]["dealId"]): LossReason(log["args"]["reason"])
            for log in self._logs(pipeline, "DealLost", dealId=deal_ids)
        }
        return tuple(
            DealHistory(
                deal=pipeline.deal(deal_id),
                changes=tuple(pipeline.stage_changes(deal_id, from_block=self._from_block)),
                invoice_ids=tuple(pipeline.invoices_of(deal_id)),
                documents=tuple(documents.get(deal_id, ())),
                lost_reason=reasons.get(deal_id),
            )
            for deal_id in deal_ids
        )

    def invoices(self, customer_id: int) -> tuple[InvoiceHistory, ...]:
        self.require_own(customer_id)
        escrow = self.crm.escrow
        issued = self._logs(escrow, "InvoiceIssued", customerId=customer_id)
        invoice_ids = sorted({int(log["args"]["invoiceId"]) for log in issued})
        if not invoice_ids:
            return ()
        found: dict[int, list[InvoiceEvent]] = {}
        for log in issued:
            args = log["args"]
            event = self._invoice_event(log, "issued", int(args["amount"]), self.crm.pipeline.address)
            found.setdefault(event.invoice_id, []).append(event)
        for event_name, what in (
            ("InvoicePaid", "paid"),
            ("InvoiceDisputed", "disputed"),
            ("InvoiceReleased", "released"),
            ("InvoiceRefunded", "refunded"),
            ("InvoiceCancelled", "cancelled"),
        ):
            for log in self._logs(escrow, event_name, invoiceId=invoice_ids):
                event = self._escrow_event(log, what)
                found.setdefault(event.invoice_id, []).append(event)
        histories = []
        for invoice_id in invoice_ids:
            events = sorted(found.get(invoice_id, ()), key=lambda e: (e.block_number, e.at))
            invoice = escrow.invoice(invoice_id)
            treasury = next((e.to for e in events if e.what == "paid"), None)
            histories.append(InvoiceHistory(invoice, tuple(events), treasury))
        return tuple(histories)

    def refunds(
        self, customer_id: int, invoices: tuple[InvoiceHistory, ...] | None = None
    ) -> tuple[RefundAccount, ...]:
        """Per payer of the customer's invoices: refunds credited to it and what it still may withdraw."""
        histories = self.invoices(customer_id) if invoices is None else invoices
        payers = sorted({history.invoice.payer for history in histories})
        accounts = []
        for payer in payers:
            credited = tuple(
                event
                for history in histories
                if history.invoice.payer == payer
                for event in history.events
                if event.what == "refunded"
            )
            withdrawals = tuple(
                RefundWithdrawal(
                    payer=payer,
                    amount_wei=int(log["args"]["amount"]),
                    at=self._timestamp(int(log["blockNumber"])),
                    block_number=int(log["blockNumber"]),
                    tx_hash=log["transactionHash"].to_0x_hex(),
                )
                for log in self._logs(self.crm.escrow, "RefundWithdrawn", payer=payer)
            )
            owed = self.crm.escrow.refund_of(payer)
            if credited or withdrawals or owed:
                accounts.append(RefundAccount(payer, owed, credited, withdrawals))
        return tuple(accounts)

    def access(self, customer_id: int) -> AccessHistory:
        self.require_own(customer_id)
        registry = self.crm.registry
        withdrawals = {
            (log["transactionHash"].to_0x_hex(), int(log["args"]["purpose"]))
            for log in self._logs(registry, "ConsentChanged", customerId=customer_id)
            if not log["args"]["granted"]
        }
        found: list[tuple[int, AccessEvent]] = []
        for event_name, granted in (("AccessGranted", True), ("AccessRevoked", False)):
            for log in self._logs(registry, event_name, customerId=customer_id):
                args = log["args"]
                tx_hash = log["transactionHash"].to_0x_hex()
                event = AccessEvent(
                    customer_id=customer_id,
                    staff=to_checksum_address(args["staff"]),
                    purpose=Purpose(args["purpose"]),
                    granted=granted,
                    actor=to_checksum_address(args["actor"]),
                    at=self._timestamp(int(log["blockNumber"])),
                    block_number=int(log["blockNumber"]),
                    tx_hash=tx_hash,
                    by_consent_withdrawal=not granted and (tx_hash, int(args["purpose"])) in withdrawals,
                )
                found.append((int(log["logIndex"]), event))
        ordered = sorted(found, key=lambda pair: (pair[1].block_number, pair[0]))
        history = tuple(event for _, event in ordered)
        staff = list(dict.fromkeys(event.staff for event in history))
        grants = [registry.access_of(customer_id, account) for account in staff]
        sealed_for: tuple[ChecksumAddress, ...] = ()
        readers_now: tuple[Reader, ...] = ()
        if registry.status_of(customer_id) is CustomerStatus.ACTIVE:
            try:
                _, document = CustomerData(self.crm, self.store).document(customer_id)
                sealed_for = tuple(to_checksum_address(r) for r in EncryptedDocument.from_bytes(document).readers)
            except (PrivacyError, StorageError):
                sealed_for = ()
            readers_now = self._readers_now(customer_id, grants)
        return AccessHistory(
            customer_id=customer_id,
            events=history,
            active=tuple(grant for grant in grants if grant.active),
            former=tuple(grant.staff for grant in grants if not grant.active),
            readers=sealed_for,
            readers_now=readers_now,
        )

    def consents(self, customer_id: int) -> Consents:
        self.require_own(customer_id)
        logs = self._logs(self.crm.registry, "ConsentChanged", customerId=customer_id)
        changes = tuple(
            ConsentChange(
                customer_id=customer_id,
                purpose=Purpose(log["args"]["purpose"]),
                granted=bool(log["args"]["granted"]),
                at=self._timestamp(int(log["blockNumber"])),
                block_number=int(log["blockNumber"]),
                tx_hash=log["transactionHash"].to_0x_hex(),
                relayer=_address(log["args"]["relayer"]),
            )
            for log in logs
        )
        customer = self.crm.registry.customer(customer_id)
        last = {int(change.purpose): change.at for change in changes}
        states = tuple(
            ConsentState(purpose, customer.consents_to(purpose), last.get(int(purpose))) for purpose in CONSENT_PURPOSES
        )
        return Consents(customer_id, customer.consents, changes, states)

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

    # ------------------------------------------------------------------ internals

    def _readers_now(self, customer_id: int, grants: list[AccessGrant]) -> tuple[Reader, ...]:
        registry = self.crm.registry
        managers = set(registry.managers())
        purposes = {grant.staff: grant.purpose for grant in grants if grant.active}
        readers = []
        for reader in registry.readers_of(customer_id):
            address = to_checksum_address(reader)
            if address == self.wallet:
                readers.append(Reader(address, "wallet"))
            elif address in managers:
                readers.append(Reader(address, "manager"))
            else:
                readers.append(Reader(address, "grant", purposes.get(address)))
        return tuple(readers)

    def _invoice_event(self, log: Any, what: str, amount: int | None, by: str, **extra: Any) -> InvoiceEvent:
        block_number = int(log["blockNumber"])
        args = log["args"]
        at = int(args["at"]) if "at" in args else self._timestamp(block_number)
        return InvoiceEvent(
            invoice_id=int(args["invoiceId"]),
            what=what,
            amount_wei=amount,
            by=to_checksum_address(by),
            at=at,
            block_number=block_number,
            tx_hash=log["transactionHash"].to_0x_hex(),
            **extra,
        )

    def _escrow_event(self, log: Any, what: str) -> InvoiceEvent:
        args = log["args"]
        amount = int(args["amount"]) if "amount" in args else None
        if what == "paid":
            return self._invoice_event(log, what, amount, args["payer"], to=_address(args["treasury"]))
        if what == "disputed":
            return self._invoice_event(log, what, None, args["payer"], until=int(args["resolveBy"]))
        if what == "released":
            return self._invoice_event(log, what, amount, args["actor"], to=_address(args["treasury"]))
        if what == "refunded":
            return self._invoice_event(log, what, amount, args["actor"], to=_address(args["payer"]))
        return self._invoice_event(log, what, None, args["actor"])

    def _logs(self, contract: Any, event: str, **filters: Any) -> list[Any]:
        """`event`'s logs from `contract` (a Registry, Pipeline or Escrow) since the deployment,
        filtered on indexed arguments, in chain order; a log from another address is dropped."""
        kind = getattr(contract.contract.events, event)
        found = self.crm.chain.rpc(lambda: kind().get_logs(from_block=self._from_block, argument_filters=filters))
        own = emitted_by(contract.address, found)
        return sorted(own, key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))

    def _timestamp(self, block_number: int) -> int:
        if block_number not in self._timestamps:
            block = self.crm.chain.rpc(lambda: self.crm.chain.w3.eth.get_block(block_number))
            self._timestamps[block_number] = int(block["timestamp"])
        return self._timestamps[block_number]


def _address(value: str) -> ChecksumAddress | None:
    return None if value == ZERO_ADDRESS or int(value, 16) == 0 else to_checksum_address(value)


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
