"""The REST API's request and response models (pydantic), at the boundary only.

Conventions, as the CLI's JSON and the portal's: codes by lower-case name (``follow_up``;
``unknown(N)`` for a code this version does not know), wei as decimal strings (a JavaScript
number cannot hold them), times as Unix seconds, addresses checksummed, hashes ``0x`` hex.
Money is in its own currency (:mod:`chaincrm.api.currency`): ``currency`` says which, ``amount``
is exact decimal text in whole units, ``*_base_units`` the integer (wei or the token's smallest
unit); the ``*_wei`` fields keep meaning wei, so they are null for an amount in an ERC-20.
Request bodies are strict: no unknown field, ids are JSON integers from 1 to 2**64-1, wei a
decimal string or an integer below 2**256.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator

from chaincrm.models import InteractionKind, LossReason, Outcome, Stage

MAX_ID = 2**64 - 1
MAX_WEI = 2**256 - 1
MAX_NOTE_CHARS = 100_000

E = TypeVar("E", bound=IntEnum)


def names_of(enum: type[E], *, exclude: tuple[E, ...] = ()) -> dict[str, E]:
    """Each member by its lower-case name (``follow_up``); a dash is accepted for an underscore."""
    return {member.name.lower(): member for member in enum if member not in exclude}


def code_type(enum: type[E], *, exclude: tuple[E, ...] = ()) -> Any:
    """A field that takes a member's name and gives the member (serialised back as its name)."""
    names = names_of(enum, exclude=exclude)

    def parse(value: Any) -> E:
        if isinstance(value, enum) and value in names.values():
            return value
        if isinstance(value, str) and value.replace("-", "_") in names:
            return names[value.replace("-", "_")]
        raise ValueError(f"must be one of {', '.join(names)}")

    return Annotated[
        enum,
        PlainValidator(parse),
        PlainSerializer(lambda member: member.name.lower(), return_type=str),
        WithJsonSchema({"type": "string", "enum": list(names)}),
    ]


def _wei(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a whole number of wei: a decimal string or an integer")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_WEI)):
            raise ValueError("must be a whole number of wei in decimal digits")
        value = int(value)
    if not 0 < value <= MAX_WEI:
        raise ValueError("must be from 1 to 2**256-1 wei")
    return value


Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID, description="A record id (uint64 on chain).")]
WeiIn = Annotated[
    int,
    PlainValidator(_wei),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,78}$", "description": "Wei, a decimal string."}),
]
Address = Annotated[
    str, Field(description="A checksummed address.", examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"])
]


def _checksummed(value: Any) -> str:
    from chaincrm.chain.addresses import AddressProblem, parse_address

    if not isinstance(value, str):
        raise ValueError("must be an address string")
    try:
        return str(parse_address(value))
    except AddressProblem:
        raise ValueError("must be an address: 0x and 40 hex digits (EIP-55 if mixed case)") from None


AddressIn = Annotated[
    str, PlainValidator(_checksummed), WithJsonSchema({"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"})
]
WeiOut = Annotated[str, Field(description="Wei as a decimal string.", pattern="^[0-9]+$")]
BaseUnitsOut = Annotated[
    str, Field(description="Base units of the currency (wei, or the token's smallest unit), a decimal string.")
]
UnitsOut = Annotated[str, Field(description="Exact whole units of the currency, decimal text.", examples=["1234.56"])]
if TYPE_CHECKING:  # what handlers get: the members
    KindName = InteractionKind
    OutcomeName = Outcome
    MoveStage = Stage
    ReasonName = LossReason
else:
    KindName = code_type(InteractionKind)
    OutcomeName = code_type(Outcome)
    MoveStage = code_type(Stage, exclude=(Stage.NONE, Stage.LOST))  # lost: POST /deals/{id}/lose, with a reason
    ReasonName = code_type(LossReason)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ requests


class InteractionIn(Strict):
    customer_id: Id
    kind: KindName
    outcome: OutcomeName = Outcome.NONE
    note: str | None = Field(
        None,
        max_length=MAX_NOTE_CHARS,
        description="Encrypted for the customer's readers and stored on IPFS; never on-chain. Without it an empty "
        "note is sealed, so every interaction has a document.",
    )


_UNITS = re.compile(r"[0-9]{1,78}(?:\.[0-9]{1,78})?")


def _units(value: Any) -> str:
    if not isinstance(value, str) or _UNITS.fullmatch(value) is None:
        raise ValueError('must be a decimal string of whole units, such as "1234.56"')
    return value


def _currency(value: Any) -> str:
    address = _checksummed(value)
    if int(address, 16) == 0:
        raise ValueError("must be a token's address (null or absent for ETH)")
    return address


UnitsIn = Annotated[
    str,
    PlainValidator(_units),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?$",
            "description": "Whole units of the currency, decimal text.",
        }
    ),
]
OptionalWeiIn = Annotated[
    int | None,
    PlainValidator(lambda value: None if value is None else _wei(value)),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,78}$", "description": "Wei, a decimal string."}),
]
CurrencyIn = Annotated[
    str, PlainValidator(_currency), WithJsonSchema({"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"})
]


class DealIn(Strict):
    """A deal in ETH (``value_wei``, or ``value`` in ETH) or in an allow-listed ERC-20 (``currency``
    and ``value`` in the token's whole units, such as ``"1234.56"``)."""

    customer_id: Id
    value_wei: OptionalWeiIn = Field(None, description="The value in wei, for a deal in ETH (or give `value`).")
    currency: CurrencyIn | None = Field(
        None, description="The allow-listed ERC-20 the deal is valued in; null or absent for ETH."
    )
    value: UnitsIn | None = Field(
        None, description="The value in the currency's whole units (decimal text), instead of `value_wei`."
    )
    owner: AddressIn | None = Field(None, description="The deal's owner (an agent); default: the key's staff.")

    @model_validator(mode="after")
    def _one_value(self) -> DealIn:
        if (self.value_wei is None) == (self.value is None):
            raise ValueError("give the deal's value once: value_wei (wei, ETH only) or value (whole units)")
        if self.value_wei is not None and self.currency is not None:
            raise ValueError("value_wei is wei, for a deal in ETH: give value for a deal in a token")
        return self


class StageIn(Strict):
    stage: MoveStage


class LoseIn(Strict):
    reason: ReasonName


# ------------------------------------------------------------------ read answers


class Page(BaseModel):
    as_of_block: int | None = Field(description="The last block the index had read.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Consents(BaseModel):
    marketing: bool
    profiling: bool
    third_party_sharing: bool


class CustomerOut(BaseModel):
    id: int
    status: str
    wallet: Address | None
    pending_wallet: Address | None
    registrar: Address | None
    registered_at: int
    profile_version: int
    consents: Consents
    erased_at: int | None
    block_number: int


class CustomerAnswer(CustomerOut):
    as_of_block: int | None


class CustomerPage(Page):
    items: list[CustomerOut]


class InteractionOut(BaseModel):
    customer_id: int
    author: Address
    kind: str
    outcome: str
    content_hash: str
    at: int
    block_number: int
    tx_hash: str
    log_index: int
    position: int


class InteractionPage(Page):
    items: list[InteractionOut]


class StageChangeOut(BaseModel):
    from_stage: str = Field(serialization_alias="from")
    to_stage: str = Field(serialization_alias="to")
    actor: Address | None
    at: int
    block_number: int
    tx_hash: str


class CurrencyOut(BaseModel):
    """ETH (``address`` null, 18 decimals) or an ERC-20, as read from the token (a token without
    a symbol shows its short address, with 0 decimals)."""

    address: Address | None
    symbol: str
    decimals: int


class DealOut(BaseModel):
    id: int
    customer_id: int
    owner: Address
    value_wei: WeiOut | None = Field(description="Wei; null for a deal in an ERC-20 (see `value_base_units`).")
    currency: CurrencyOut
    value: UnitsOut
    value_base_units: BaseUnitsOut
    discount_bps: int = Field(description="An accepted offer's discount in basis points, applied at invoicing.")
    stage: str
    opened_at: int
    closed_at: int | None
    lost_reason: str | None
    invoice_id: int | None
    invoices: int
    block_number: int


class DealAnswer(DealOut):
    stage_changes: list[StageChangeOut]
    as_of_block: int | None


class DealPage(Page):
    items: list[DealOut]


class OffChainOut(BaseModel):
    """How a manager recorded the invoice paid outside the chain (the payment's reference is only
    in the encrypted receipt, never here)."""

    method: str = Field(description="bank_transfer, card, other; unknown(N) for another code.")
    at: int


class PointsOut(BaseModel):
    """Loyalty points on the invoice, in point base units (18 decimals), as decimal strings."""

    redeemed: BaseUnitsOut
    discount_base_units: BaseUnitsOut = Field(
        description="What the redeemed points took off, in the invoice's currency."
    )
    awarded: BaseUnitsOut
    restored: BaseUnitsOut


class InvoiceOut(BaseModel):
    id: int
    deal_id: int
    customer_id: int
    payer: Address
    status: str
    amount_wei: WeiOut | None = Field(description="Wei; null for an invoice in an ERC-20 (see `amount_base_units`).")
    currency: CurrencyOut
    amount: UnitsOut = Field(description="What is due, or what was paid after a points discount.")
    amount_base_units: BaseUnitsOut
    amount_issued_base_units: BaseUnitsOut
    off_chain: OffChainOut | None
    points: PointsOut
    due_at: int
    overdue: bool
    payment_reference: str | None
    issued_at: int
    paid_at: int | None
    disputed_at: int | None
    resolve_by: int | None
    released_at: int | None
    refunded_at: int | None
    cancelled_at: int | None
    block_number: int


class InvoicePage(Page):
    items: list[InvoiceOut]


class InvoiceDeal(BaseModel):
    id: int
    stage: str | None
    value_wei: WeiOut | None
    value_base_units: BaseUnitsOut
    owner: Address


class EscrowTermsOut(BaseModel):
    address: Address
    dispute_window_seconds: int
    dispute_resolution_seconds: int
    released_by: str
    dispute_window_ends_at: int | None
    resolve_by: int | None


class InvoiceAnswer(BaseModel):
    """The invoice as the portal's payment page shows it (chaincrm.portal.reads.invoice)."""

    id: int
    status: str
    amount_wei: WeiOut | None
    amount_eth: str | None
    currency: CurrencyOut
    amount: UnitsOut
    amount_base_units: BaseUnitsOut
    amount_issued_base_units: BaseUnitsOut
    off_chain: OffChainOut | None
    points: PointsOut
    due_at: int
    overdue: bool
    payer: Address
    customer_id: int
    payment_reference: str | None
    deal: InvoiceDeal | None
    escrow: EscrowTermsOut
    paid_at: int | None
    released_at: int | None
    refunded_at: int | None
    cancelled_at: int | None
    disputed_at: int | None
    chain_id: int
    as_of_block: int | None


class FunnelStepOut(BaseModel):
    stage: str
    deals: int
    of_previous: float | None
    of_first: float | None


class StageTimeOut(BaseModel):
    stage: str
    deals: int
    median_seconds: float | None
    p90_seconds: float | None


CurrencyKey = Annotated[str, Field(description='"ETH", or the token\'s checksummed address.')]


class AmountOut(BaseModel):
    currency: CurrencyKey
    amount: BaseUnitsOut


class StaffRowOut(BaseModel):
    agent: Address
    interactions: int
    stage_moves: int
    deals_moved: int
    deals_won: int
    revenue_won_wei: WeiOut = Field(description="ETH deals only; every currency: `revenue_won`.")
    revenue_won: list[AmountOut]


class AgingOut(BaseModel):
    bucket: str
    invoices: int
    amount_wei: WeiOut = Field(description="ETH invoices only; every currency: `amounts`.")
    amounts: list[AmountOut]


class OverdueOut(BaseModel):
    invoice_id: int
    deal_id: int
    customer_id: int
    owner: str
    amount_wei: BaseUnitsOut = Field(description="In `currency`'s base units (wei for ETH).")
    currency: CurrencyKey
    due_at: int
    days_past_due: int


class MonthOut(BaseModel):
    month: str
    paid_wei: WeiOut
    released_wei: WeiOut
    refunded_wei: WeiOut


class CurrencyShown(BaseModel):
    symbol: str
    decimals: int


class CurrencyMonthOut(BaseModel):
    month: str
    currency: CurrencyKey
    paid: BaseUnitsOut
    paid_off_chain: BaseUnitsOut
    released: BaseUnitsOut
    refunded: BaseUnitsOut


class LoyaltyOut(BaseModel):
    points_minted: BaseUnitsOut
    points_redeemed: BaseUnitsOut
    points_restored: BaseUnitsOut
    points_outstanding: BaseUnitsOut | None
    discounts: list[AmountOut]


class OfferRevenueOut(BaseModel):
    currency: CurrencyKey
    paid: BaseUnitsOut
    paid_off_chain: BaseUnitsOut
    released: BaseUnitsOut
    discount_granted: BaseUnitsOut


class OffersOut(BaseModel):
    accepted: int
    deals: int
    revenue: list[OfferRevenueOut]


class KpiAnswer(BaseModel):
    """The figures of `chaincrm report --json` (definitions: chaincrm.reports.figures)."""

    as_of: int
    block_number: int
    since: int | None
    until: int | None
    agents: list[Address] | None
    deals_opened: int
    won: int
    lost: int
    win_rate: float | None
    funnel: list[FunnelStepOut]
    time_in_stage: list[StageTimeOut]
    staff: list[StaffRowOut]
    aging: list[AgingOut]
    overdue: list[OverdueOut]
    revenue_by_month: list[MonthOut]
    refunds_owed_wei: WeiOut | None
    currencies: dict[str, CurrencyShown] = Field(description="Each currency the figures name: its symbol, decimals.")
    revenue_by_currency: list[CurrencyMonthOut]
    refunds_owed: list[AmountOut] | None
    loyalty: LoyaltyOut
    offers: OffersOut
    as_of_block: int | None


# ------------------------------------------------------------------ write answers


class Sent(BaseModel):
    tx_hash: str
    block_number: int
    gas_used: int


class InteractionSent(Sent):
    customer_id: int
    kind: str
    outcome: str
    content_hash: str
    cid: str


class DealSent(Sent):
    deal_id: int
    stage: str
    invoice_id: int | None = Field(description="The invoice issued when the deal was won (or re-issued).")


class LostSent(Sent):
    deal_id: int
    reason: str


class InvoiceSent(Sent):
    invoice_id: int
    status: str


class ErrorBody(BaseModel):
    code: str
    message: str
    revert: dict[str, Any] | None = None


class ErrorAnswer(BaseModel):
    error: ErrorBody


__all__ = [
    "AgingOut",
    "AmountOut",
    "Consents",
    "CurrencyMonthOut",
    "CurrencyOut",
    "CurrencyShown",
    "CustomerAnswer",
    "CustomerOut",
    "CustomerPage",
    "DealAnswer",
    "DealIn",
    "DealOut",
    "DealPage",
    "DealSent",
    "ErrorAnswer",
    "ErrorBody",
    "EscrowTermsOut",
    "FunnelStepOut",
    "InteractionIn",
    "InteractionOut",
    "InteractionPage",
    "InteractionSent",
    "InvoiceAnswer",
    "InvoiceDeal",
    "InvoiceOut",
    "InvoicePage",
    "InvoiceSent",
    "KpiAnswer",
    "LoseIn",
    "LoyaltyOut",
    "LostSent",
    "MAX_ID",
    "MAX_WEI",
    "MonthOut",
    "OffChainOut",
    "OfferRevenueOut",
    "OffersOut",
    "OverdueOut",
    "Page",
    "PointsOut",
    "Sent",
    "StaffRowOut",
    "StageChangeOut",
    "StageIn",
    "StageTimeOut",
    "Strict",
    "code_type",
    "names_of",
]
