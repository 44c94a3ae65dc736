"""Invoices: GET /invoices (by status, overdue, customer, deal), GET /invoices/{id} (as the
payment page shows it); POST /invoices/{id}/release, /refund, /cancel (a manager)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Annotated, Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import Connection, Select, bindparam, select
from starlette.requests import Request
from starlette.responses import Response
from web3.types import TxReceipt

from chaincrm.api.answers import Labels, answer, answer_data, as_of_block, decode_cursor, next_cursor
from chaincrm.api.auth import Author, api_key, api_of, author
from chaincrm.api.currency import amount_text, currencies_of, currency_json, method_label, wei_or_none
from chaincrm.api.errors import ApiError
from chaincrm.api.models import MAX_ID, InvoiceAnswer, InvoiceOut, InvoicePage, InvoiceSent
from chaincrm.api.params import DEFAULT, MAX_INDEXED_ID, Cursor, IdFilter, Limit, code_named
from chaincrm.api.routers.deals import WRITE_ERRORS
from chaincrm.api.state import ApiState
from chaincrm.api.writes import perform
from chaincrm.contracts.escrow import Escrow
from chaincrm.currency import TokenInfo
from chaincrm.index import schema as db
from chaincrm.models import InvoiceStatus, Role
from chaincrm.portal import reads

router = APIRouter(prefix="/invoices", tags=["invoices"])
InvoiceId = Annotated[int, Path(ge=1, le=MAX_ID)]
reader = [Depends(api_key)]
MANAGER = author(Role.MANAGER)


def invoice_out(row: Any, now: int, known: Mapping[str, TokenInfo]) -> InvoiceOut:
    """An invoices row (every column) as InvoiceOut, its currency displayed from `known`."""
    return InvoiceOut.model_validate(invoice_item(tuple(row[c.name] for c in _ITEM_COLUMNS), now, known))


_i = db.invoices
_STATUSES = Labels(InvoiceStatus)
_OPEN = int(InvoiceStatus.OPEN)


_ITEM_COLUMNS = (  # what InvoiceOut's fields are made of, in its order (overdue is worked out)
    _i.c.id,
    _i.c.deal_id,
    _i.c.customer_id,
    _i.c.payer,
    _i.c.status,
    _i.c.amount_wei,
    _i.c.due_at,
    _i.c.payment_reference,
    _i.c.issued_at,
    _i.c.paid_at,
    _i.c.disputed_at,
    _i.c.resolve_by,
    _i.c.released_at,
    _i.c.refunded_at,
    _i.c.cancelled_at,
    _i.c.block_number,
    _i.c.currency,
    _i.c.amount_issued,
    _i.c.off_chain_method,
    _i.c.points_redeemed,
    _i.c.points_discount,
    _i.c.points_awarded,
    _i.c.points_restored,
)
_CURRENCY = 16  # the index of `currency` in _ITEM_COLUMNS


def invoice_item(row: Any, now: int, known: Mapping[str, TokenInfo]) -> dict[str, Any]:
    """A row of _ITEM_COLUMNS as InvoiceOut's fields, in its order, without a model per item."""
    currency = currency_json(row[16], known)
    method = row[18]
    return {
        "id": row[0],
        "deal_id": row[1],
        "customer_id": row[2],
        "payer": row[3],
        "status": _STATUSES[row[4]],
        "amount_wei": wei_or_none(row[5], row[16]),
        "currency": currency,
        "amount": amount_text(row[5], currency),
        "amount_base_units": str(row[5]),
        "amount_issued_base_units": str(row[17]),
        "off_chain": None if method is None else {"method": method_label(method), "at": row[9]},
        "points": points_json(row[19], row[20], row[21], row[22]),
        "due_at": row[6],
        "overdue": row[4] == _OPEN and now > row[6],
        "payment_reference": row[7],
        "issued_at": row[8],
        "paid_at": row[9],
        "disputed_at": row[10],
        "resolve_by": row[11],
        "released_at": row[12],
        "refunded_at": row[13],
        "cancelled_at": row[14],
        "block_number": row[15],
    }


def points_json(
    redeemed: int | None, discount: int | None, awarded: int | None, restored: int | None
) -> dict[str, str]:
    return {
        "redeemed": str(redeemed or 0),
        "discount_base_units": str(discount or 0),
        "awarded": str(awarded or 0),
        "restored": str(restored or 0),
    }


@cache
def _list_statement(status: bool, overdue: bool | None, customer: bool, deal: bool, after: bool) -> Select[Any]:
    """The list's statement for one combination of filters, built once (values are bound)."""
    query = select(*_ITEM_COLUMNS).order_by(_i.c.id).limit(bindparam("limit"))
    if status:
        query = query.where(_i.c.status == bindparam("status"))
    if overdue is True:
        query = query.where(_i.c.status == _OPEN, _i.c.due_at < bindparam("now"))
    elif overdue is False:
        query = query.where((_i.c.status != _OPEN) | (_i.c.due_at >= bindparam("now")))
    if customer:
        query = query.where(_i.c.customer_id == bindparam("customer"))
    if deal:
        query = query.where(_i.c.deal_id == bindparam("deal"))
    if after:
        query = query.where(_i.c.id > bindparam("after"))
    return query


@router.get("", response_model=InvoicePage, dependencies=reader, summary="Invoices by id, filtered")
async def list_invoices(
    request: Request,
    status: str | None = None,
    overdue: Annotated[bool | None, Query(description="true: open and past due now (chain time).")] = None,
    customer: IdFilter = None,
    deal: IdFilter = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> Response:
    wanted = code_named(InvoiceStatus, status, "status")
    after = decode_cursor(cursor, 1)
    portal = api_of(request).portal
    now = portal.clock.now()
    query = _list_statement(wanted is not None, overdue, customer is not None, deal is not None, after is not None)
    values = {
        "limit": limit + 1,
        "status": None if wanted is None else int(wanted),
        "now": now,
        "customer": customer,
        "deal": deal,
        "after": None if after is None else after[0],
    }
    # ids the index's signed 64-bit columns cannot hold match nothing (see params.id_is)
    nothing = any(value is not None and value > MAX_INDEXED_ID for value in (customer, deal))

    def read(conn: Connection) -> tuple[Sequence[Any], int | None]:
        return ([] if nothing else conn.execute(query, values).all()), as_of_block(conn)

    found, as_of = await portal.read(read)
    known = await currencies_of(portal.crm.chain, {row[_CURRENCY] for row in found})
    page, cursor_after = next_cursor(found, limit, lambda row: [row[0]])
    items = [invoice_item(row, now, known) for row in page]
    return answer_data(request, {"as_of_block": as_of, "next_cursor": cursor_after, "items": items})


@router.get("/{invoice_id}", response_model=InvoiceAnswer, dependencies=reader, summary="An invoice")
async def get_invoice(request: Request, invoice_id: InvoiceId) -> Response:
    portal = api_of(request).portal
    if invoice_id > MAX_INDEXED_ID:
        raise ApiError(404, "invoice_unknown", f"invoice {invoice_id} does not exist (as far as the index read)")

    def read(conn: Connection) -> tuple[dict[str, Any], Any] | None:
        found = reads.invoice(conn, invoice_id, portal.terms, portal.clock.now())
        if found is None:
            return None
        return found, conn.execute(select(*_DETAIL_COLUMNS).where(_i.c.id == invoice_id)).one()

    read_back = await portal.read(read)
    if read_back is None:
        raise ApiError(404, "invoice_unknown", f"invoice {invoice_id} does not exist (as far as the index read)")
    found, row = read_back
    return answer(
        request,
        InvoiceAnswer.model_validate(invoice_answer(found, row, await currencies_of(portal.crm.chain, [row.currency]))),
    )


_DETAIL_COLUMNS = (
    _i.c.currency,
    _i.c.amount_wei,
    _i.c.amount_issued,
    _i.c.off_chain_method,
    _i.c.paid_at,
    _i.c.points_redeemed,
    _i.c.points_discount,
    _i.c.points_awarded,
    _i.c.points_restored,
)


def invoice_answer(found: dict[str, Any], row: Any, known: Mapping[str, TokenInfo]) -> dict[str, Any]:
    """The payment page's invoice (chaincrm.portal.reads.invoice) with the API's money fields."""
    currency = currency_json(row.currency, known)
    method = row.off_chain_method
    deal = found["deal"]
    if deal is not None:
        value = int(deal["value_wei"])
        deal = {**deal, "value_wei": wei_or_none(value, row.currency), "value_base_units": str(value)}
    return {
        **found,
        "amount_wei": wei_or_none(row.amount_wei, row.currency),
        "currency": currency,
        "amount": amount_text(row.amount_wei, currency),
        "amount_base_units": str(row.amount_wei),
        "amount_issued_base_units": str(row.amount_issued),
        "off_chain": None if method is None else {"method": method_label(method), "at": row.paid_at},
        "points": points_json(row.points_redeemed, row.points_discount, row.points_awarded, row.points_restored),
        "deal": deal,
    }


# ------------------------------------------------------------------ staff actions

Action = Callable[[Escrow, int, LocalAccount], TxReceipt]
ACTIONS: dict[str, tuple[Action, InvoiceStatus, str]] = {
    "release": (Escrow.release, InvoiceStatus.RELEASED, "Release a paid invoice's funds to the treasury"),
    "refund": (Escrow.refund, InvoiceStatus.REFUNDED, "Credit a paid invoice's funds back to its payer"),
    "cancel": (Escrow.cancel, InvoiceStatus.CANCELLED, "Cancel an unpaid invoice"),
}


def _action_route(name: str, action: Action, status: InvoiceStatus, summary: str) -> None:
    async def act(request: Request, invoice_id: InvoiceId, writer: Annotated[Author, Depends(MANAGER)]) -> Response:
        def send(state: ApiState, account: LocalAccount) -> InvoiceSent:
            receipt = action(state.portal.crm.escrow, invoice_id, account)
            return InvoiceSent(
                tx_hash=receipt["transactionHash"].to_0x_hex(),
                block_number=int(receipt["blockNumber"]),
                gas_used=int(receipt["gasUsed"]),
                invoice_id=invoice_id,
                status=status.label,
            )

        return await perform(request, writer, None, send)

    act.__name__ = f"{name}_invoice"
    router.add_api_route(
        f"/{{invoice_id}}/{name}",
        act,
        methods=["POST"],
        response_model=InvoiceSent,
        responses=WRITE_ERRORS,
        summary=f"{summary} (a manager)",
        operation_id=f"{name}_invoice",
    )


for _name, (_action, _status, _summary) in ACTIONS.items():
    _action_route(_name, _action, _status, _summary)

__all__ = ["ACTIONS", "invoice_answer", "invoice_item", "invoice_out", "points_json", "router"]
