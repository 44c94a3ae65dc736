"""Invoices: GET /invoices (by status, overdue, customer, deal), GET /invoices/{id} (as the
payment page shows it); POST /invoices/{id}/release, /refund, /cancel (a manager)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import Response
from web3.types import TxReceipt

from chaincrm.api.answers import answer, decode_cursor, next_cursor
from chaincrm.api.auth import Author, api_key, api_of, author
from chaincrm.api.errors import ApiError
from chaincrm.api.models import MAX_ID, InvoiceAnswer, InvoiceOut, InvoicePage, InvoiceSent
from chaincrm.api.params import DEFAULT, MAX_INDEXED_ID, Cursor, IdFilter, Limit, code_named, id_is
from chaincrm.api.routers.deals import WRITE_ERRORS
from chaincrm.api.state import ApiState
from chaincrm.api.writes import perform
from chaincrm.contracts.escrow import Escrow
from chaincrm.index import schema as db
from chaincrm.models import InvoiceStatus, Role
from chaincrm.portal import reads

router = APIRouter(prefix="/invoices", tags=["invoices"])
InvoiceId = Annotated[int, Path(ge=1, le=MAX_ID)]
reader = [Depends(api_key)]
MANAGER = author(Role.MANAGER)


def invoice_out(row: Any, now: int) -> InvoiceOut:
    status = InvoiceStatus(row["status"])
    return InvoiceOut(
        id=row["id"],
        deal_id=row["deal_id"],
        customer_id=row["customer_id"],
        payer=row["payer"],
        status=status.label,
        amount_wei=str(row["amount_wei"]),
        due_at=row["due_at"],
        overdue=status is InvoiceStatus.OPEN and now > row["due_at"],
        payment_reference=row["payment_reference"],
        issued_at=row["issued_at"],
        paid_at=row["paid_at"],
        disputed_at=row["disputed_at"],
        resolve_by=row["resolve_by"],
        released_at=row["released_at"],
        refunded_at=row["refunded_at"],
        cancelled_at=row["cancelled_at"],
        block_number=row["block_number"],
    )


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
    i = db.invoices

    def read(conn: Connection) -> InvoicePage:
        query = select(i).order_by(i.c.id).limit(limit + 1)
        if wanted is not None:
            query = query.where(i.c.status == int(wanted))
        if overdue is True:
            query = query.where(i.c.status == int(InvoiceStatus.OPEN), i.c.due_at < now)
        elif overdue is False:
            query = query.where((i.c.status != int(InvoiceStatus.OPEN)) | (i.c.due_at >= now))
        if customer is not None:
            query = query.where(id_is(i.c.customer_id, customer))
        if deal is not None:
            query = query.where(id_is(i.c.deal_id, deal))
        if after is not None:
            query = query.where(i.c.id > after[0])
        rows, cursor_after = next_cursor(conn.execute(query).mappings().all(), limit, lambda row: [row["id"]])
        return InvoicePage(
            items=[invoice_out(row, now) for row in rows],
            next_cursor=cursor_after,
            as_of_block=reads.as_of_block(conn),
        )

    return answer(request, await portal.read(read))


@router.get("/{invoice_id}", response_model=InvoiceAnswer, dependencies=reader, summary="An invoice")
async def get_invoice(request: Request, invoice_id: InvoiceId) -> Response:
    portal = api_of(request).portal
    if invoice_id > MAX_INDEXED_ID:
        raise ApiError(404, "invoice_unknown", f"invoice {invoice_id} does not exist (as far as the index read)")
    found = await portal.read(lambda conn: reads.invoice(conn, invoice_id, portal.terms, portal.clock.now()))
    if found is None:
        raise ApiError(404, "invoice_unknown", f"invoice {invoice_id} does not exist (as far as the index read)")
    return answer(request, InvoiceAnswer.model_validate(found))


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

__all__ = ["ACTIONS", "invoice_out", "router"]
