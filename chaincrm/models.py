"""Typed, frozen domain models. Chain tuples become models here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class Role(IntEnum):
    """Staff roles; the value is only an order for display. The on-chain id is `role_id`."""

    ADMIN = 0
    MANAGER = 1
    AGENT = 2
    AUDITOR = 3
    INVOICE_ISSUER = 4

    @property
    def role_id(self) -> bytes:
        from eth_utils import keccak

        if self is Role.ADMIN:
            return b"\x00" * 32
        return keccak(text=f"{self.name}_ROLE")


class CustomerStatus(IntEnum):
    NONE = 0
    ACTIVE = 1
    ERASED = 2


class Stage(IntEnum):
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


class InvoiceStatus(IntEnum):
    NONE = 0
    OPEN = 1
    PAID = 2
    DISPUTED = 3
    RELEASED = 4
    REFUNDED = 5
    CANCELLED = 6


class Purpose(IntEnum):
    """Why staff may read a customer's data, or what the customer consents to."""

    SALES = 1
    SUPPORT = 2
    BILLING = 3
    MARKETING = 4
    AUDIT = 5


class InteractionKind(IntEnum):
    CALL = 1
    EMAIL = 2
    MEETING = 3
    CHAT = 4
    VISIT = 5
    NOTE = 6


class Outcome(IntEnum):
    NONE = 0
    POSITIVE = 1
    NEUTRAL = 2
    NEGATIVE = 3
    FOLLOW_UP = 4
    NO_ANSWER = 5


class DocumentKind(IntEnum):
    PROPOSAL = 1
    CONTRACT = 2
    MEETING_NOTES = 3
    OTHER = 4


class LossReason(IntEnum):
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


@dataclass(frozen=True)
class Customer:
    id: int
    wallet: ChecksumAddress | None
    profile_version: int
    registered_at: int
    status: CustomerStatus

    @classmethod
    def from_chain(cls, customer_id: int, raw: Any) -> Customer:
        wallet, version, registered_at, status = raw
        return cls(
            id=customer_id,
            wallet=None if wallet == ZERO_ADDRESS else to_checksum_address(wallet),
            profile_version=int(version),
            registered_at=int(registered_at),
            status=CustomerStatus(status),
        )


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

    @classmethod
    def from_chain(cls, deal_id: int, raw: Any) -> Deal:
        owner, customer_id, stage, value, invoice_id, opened_at = raw
        return cls(
            id=deal_id,
            customer_id=int(customer_id),
            owner=to_checksum_address(owner),
            stage=Stage(stage),
            value_wei=int(value),
            invoice_id=int(invoice_id) or None,
            opened_at=int(opened_at),
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

    @classmethod
    def from_chain(cls, invoice_id: int, raw: Any) -> Invoice:
        amount, due_at, paid_at, status, deal_id, payer, customer_id = raw
        return cls(
            id=invoice_id,
            deal_id=int(deal_id),
            customer_id=int(customer_id),
            payer=to_checksum_address(payer),
            amount_wei=int(amount),
            due_at=int(due_at),
            paid_at=int(paid_at) or None,
            status=InvoiceStatus(status),
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
