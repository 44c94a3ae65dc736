"""Typed, frozen domain models. Chain tuples become models here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class ChainCode(IntEnum):
    """A code the chain emits or stores. A value this version does not know decodes as
    ``unknown(N)`` instead of failing: events are permanent, so a view must survive any value the
    contracts ever accepted (or a later contract version adds)."""

    @classmethod
    def _missing_(cls, value: object) -> ChainCode | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"unknown({value})"
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        return self._name_ in type(self).__members__

    @property
    def label(self) -> str:
        """Lower-case name for display: ``follow_up``, ``unknown(9)``."""
        return self._name_.lower()


class Role(IntEnum):
    """Staff roles; the value is only an order for display. The on-chain id is `role_id`."""

    ADMIN = 0
    MANAGER = 1
    AGENT = 2
    AUDITOR = 3

    @property
    def role_id(self) -> bytes:
        from eth_utils import keccak

        if self is Role.ADMIN:
            return b"\x00" * 32
        return keccak(text=f"{self.name}_ROLE")


class CustomerStatus(ChainCode):
    NONE = 0
    ACTIVE = 1
    ERASED = 2


class Stage(ChainCode):
    NONE = 0
    LEAD = 1
    QUALIFIED = 2
    PROPOSAL = 3
    NEGOTIATION = 4
    CONTRACTING = 5
    WON = 6
    LOST = 7

    @property
    def is_final(self) -> bool:
        return self in (Stage.WON, Stage.LOST)


OPEN_STAGES = (Stage.LEAD, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING)


class InvoiceStatus(ChainCode):
    NONE = 0
    OPEN = 1
    PAID = 2
    DISPUTED = 3
    RELEASED = 4
    REFUNDED = 5
    CANCELLED = 6
    PAID_OFF_CHAIN = 7  # a manager recorded a payment made outside the chain (bank, card, other)


class Purpose(ChainCode):
    """Why staff may read a customer's data, or what the customer consents to."""

    SALES = 1
    SUPPORT = 2
    BILLING = 3
    MARKETING = 4
    AUDIT = 5
    PROFILING = 6
    THIRD_PARTY_SHARING = 7

    @property
    def basis(self) -> LawfulBasis:
        """The lawful basis the registry assigns this purpose (consent purposes need consent)."""
        return _PURPOSE_BASIS.get(int(self), LawfulBasis.NONE)

    @property
    def needs_consent(self) -> bool:
        return self.basis is LawfulBasis.CONSENT


class LawfulBasis(ChainCode):
    """Why data may be processed for a purpose (the registry's `lawfulBasisOf`)."""

    NONE = 0
    CONTRACT = 1
    LEGAL_OBLIGATION = 2
    CONSENT = 3


_PURPOSE_BASIS = {
    1: LawfulBasis.CONTRACT,
    2: LawfulBasis.CONTRACT,
    3: LawfulBasis.LEGAL_OBLIGATION,
    4: LawfulBasis.CONSENT,
    5: LawfulBasis.LEGAL_OBLIGATION,
    6: LawfulBasis.CONSENT,
    7: LawfulBasis.CONSENT,
}
CONSENT_PURPOSES = (Purpose.MARKETING, Purpose.PROFILING, Purpose.THIRD_PARTY_SHARING)


class InteractionKind(ChainCode):
    CALL = 1
    EMAIL = 2
    MEETING = 3
    CHAT = 4
    VISIT = 5
    NOTE = 6
    REMINDER = 7


class Outcome(ChainCode):
    NONE = 0
    POSITIVE = 1
    NEUTRAL = 2
    NEGATIVE = 3
    FOLLOW_UP = 4
    NO_ANSWER = 5


class DocumentKind(ChainCode):
    PROPOSAL = 1
    CONTRACT = 2
    MEETING_NOTES = 3
    OTHER = 4


class LossReason(ChainCode):
    PRICE = 1
    COMPETITOR = 2
    NO_BUDGET = 3
    NO_DECISION = 4
    OTHER = 5


@dataclass(frozen=True)
class ProfileVersion:
    version: int
    content_hash: bytes
    cid_digest: bytes
    readers_hash: bytes


@dataclass(frozen=True)
class Customer:
    id: int
    wallet: ChecksumAddress | None
    pending_wallet: ChecksumAddress | None
    profile_version: int
    registered_at: int
    consent_bits: int
    status: CustomerStatus

    @classmethod
    def from_chain(cls, customer_id: int, raw: Any) -> Customer:
        wallet, pending, version, registered_at, consent_bits, status = raw
        return cls(
            id=customer_id,
            wallet=_optional_address(wallet),
            pending_wallet=_optional_address(pending),
            profile_version=int(version),
            registered_at=int(registered_at),
            consent_bits=int(consent_bits),
            status=CustomerStatus(status),
        )

    def consents_to(self, purpose: Purpose) -> bool:
        return bool((self.consent_bits >> int(purpose)) & 1)

    @property
    def consents(self) -> tuple[Purpose, ...]:
        return tuple(purpose for purpose in CONSENT_PURPOSES if self.consents_to(purpose))


def _optional_address(value: str) -> ChecksumAddress | None:
    return None if value == ZERO_ADDRESS else to_checksum_address(value)


@dataclass(frozen=True)
class AccessGrant:
    customer_id: int
    staff: ChecksumAddress
    purpose: Purpose | None
    active: bool
    since: int

    @classmethod
    def from_chain(cls, customer_id: int, staff: str, raw: Any) -> AccessGrant:
        purpose, active, since = raw
        return cls(
            customer_id, to_checksum_address(staff), Purpose(purpose) if purpose else None, bool(active), int(since)
        )


@dataclass(frozen=True)
class Interaction:
    customer_id: int
    author: ChecksumAddress
    kind: InteractionKind
    outcome: Outcome
    content_hash: bytes
    at: int
    block_number: int
    tx_hash: str
    log_index: int
    position: int = 0  # index of the record inside a batch, 0 for a single interaction


@dataclass(frozen=True)
class Deal:
    id: int
    customer_id: int
    owner: ChecksumAddress
    stage: Stage
    value_wei: int
    invoice_id: int | None
    opened_at: int
    discount_bps: int = 0  # an accepted offer's discount, applied when the invoice is issued
    currency: ChecksumAddress | None = None  # the ERC-20 the deal is valued in; None for ETH

    @classmethod
    def from_chain(cls, deal_id: int, raw: Any) -> Deal:
        owner, customer_id, discount_bps, stage, value, invoice_id, opened_at, currency = raw
        return cls(
            id=deal_id,
            customer_id=int(customer_id),
            owner=to_checksum_address(owner),
            stage=Stage(stage),
            value_wei=int(value),
            invoice_id=int(invoice_id) or None,
            opened_at=int(opened_at),
            discount_bps=int(discount_bps),
            currency=_optional_address(currency),
        )


@dataclass(frozen=True)
class StageChange:
    deal_id: int
    from_stage: Stage
    to_stage: Stage
    actor: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Invoice:
    id: int
    deal_id: int
    customer_id: int
    payer: ChecksumAddress
    amount_wei: int
    due_at: int
    paid_at: int | None
    status: InvoiceStatus
    treasury_epoch: int = 0  # the treasury fixed at payment; 0 while unpaid
    currency: ChecksumAddress | None = None  # the ERC-20 it is payable in; None for ETH

    @classmethod
    def from_chain(cls, invoice_id: int, raw: Any) -> Invoice:
        amount, due_at, paid_at, status, deal_id, treasury_epoch, payer, customer_id, currency = raw
        return cls(
            id=invoice_id,
            deal_id=int(deal_id),
            customer_id=int(customer_id),
            payer=to_checksum_address(payer),
            amount_wei=int(amount),
            due_at=int(due_at),
            paid_at=int(paid_at) or None,
            status=InvoiceStatus(status),
            treasury_epoch=int(treasury_epoch),
            currency=_optional_address(currency),
        )

    def is_overdue(self, now: int) -> bool:
        return self.status is InvoiceStatus.OPEN and now > self.due_at


@dataclass(frozen=True)
class Deployment:
    """Where the CRM's contracts live on one chain: the record the SDK reads."""

    chain_id: int
    registry: ChecksumAddress
    pipeline: ChecksumAddress
    escrow: ChecksumAddress
    deployer: ChecksumAddress
    block_number: int
    deployed_at: int
    treasury: ChecksumAddress
    dispute_window_seconds: int
    payment_term_seconds: int
    dispute_resolution_seconds: int
    treasury_delay_seconds: int
    approval_threshold_wei: int
    loyalty: ChecksumAddress  # the LoyaltyPoints token the escrow mints and burns
    branches: ChecksumAddress | None = None  # the BranchDirectory; None in records from before branches
