"""GET /customers, /customers/{id}, /customers/{id}/timeline: public records, never personal data."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import Response

from chaincrm.api.answers import answer, decode_cursor, next_cursor
from chaincrm.api.auth import api_key, api_of
from chaincrm.api.errors import ApiError
from chaincrm.api.models import (
    MAX_ID,
    Consents,
    CustomerAnswer,
    CustomerOut,
    CustomerPage,
    InteractionOut,
    InteractionPage,
)
from chaincrm.api.params import DEFAULT, MAX_INDEXED_ID, Cursor, Limit, code_named, id_is
from chaincrm.index import schema as db
from chaincrm.index.queries import customer_timeline
from chaincrm.models import CustomerStatus, Interaction, InteractionKind, Outcome, Purpose
from chaincrm.portal.reads import as_of_block, label

router = APIRouter(prefix="/customers", tags=["customers"], dependencies=[Depends(api_key)])
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]
_KEY_ONLY = Interaction(0, "0x0", InteractionKind.CALL, Outcome.NONE, b"", 0, 0, "", 0)  # type: ignore[arg-type]


def customer_out(row: Any) -> CustomerOut:
    bits = int(row["consent_bits"])
    return CustomerOut(
        id=row["id"],
        status=str(label(CustomerStatus, row["status"])),
        wallet=row["wallet"],
        pending_wallet=row["pending_wallet"],
        registrar=row["registrar"],
        registered_at=row["registered_at"],
        profile_version=row["profile_version"],
        consents=Consents(
            marketing=bool(bits >> Purpose.MARKETING & 1),
            profiling=bool(bits >> Purpose.PROFILING & 1),
            third_party_sharing=bool(bits >> Purpose.THIRD_PARTY_SHARING & 1),
        ),
        erased_at=row["erased_at"],
        block_number=row["block_number"],
    )


def interaction_out(item: Interaction) -> InteractionOut:
    return InteractionOut(
        customer_id=item.customer_id,
        author=item.author,
        kind=item.kind.label,
        outcome=item.outcome.label,
        content_hash="0x" + item.content_hash.hex(),
        at=item.at,
        block_number=item.block_number,
        tx_hash=item.tx_hash,
        log_index=item.log_index,
        position=item.position,
    )


@router.get("", response_model=CustomerPage, summary="Customers by id")
async def list_customers(
    request: Request, status: str | None = None, limit: Limit = DEFAULT, cursor: Cursor = None
) -> Response:
    wanted = code_named(CustomerStatus, status, "status")
    after = decode_cursor(cursor, 1)
    c = db.customers

    def read(conn: Connection) -> CustomerPage:
        query = select(c).order_by(c.c.id).limit(limit + 1)
        if wanted is not None:
            query = query.where(c.c.status == int(wanted))
        if after is not None:
            query = query.where(c.c.id > after[0])
        rows, cursor_after = next_cursor(conn.execute(query).mappings().all(), limit, lambda row: [row["id"]])
        return CustomerPage(
            items=[customer_out(row) for row in rows], next_cursor=cursor_after, as_of_block=as_of_block(conn)
        )

    return answer(request, await api_of(request).portal.read(read))


@router.get("/{customer_id}", response_model=CustomerAnswer, summary="A customer's public record")
async def get_customer(request: Request, customer_id: CustomerId) -> Response:
    def read(conn: Connection) -> CustomerAnswer | None:
        row = conn.execute(select(db.customers).where(id_is(db.customers.c.id, customer_id))).mappings().first()
        if row is None:
            return None
        return CustomerAnswer(**customer_out(row).model_dump(), as_of_block=as_of_block(conn))

    found = await api_of(request).portal.read(read)
    if found is None:
        raise ApiError(404, "customer_unknown", f"customer {customer_id} does not exist (as far as the index read)")
    return answer(request, found)


@router.get(
    "/{customer_id}/timeline", response_model=InteractionPage, summary="A customer's interactions, newest first"
)
async def timeline(
    request: Request, customer_id: CustomerId, limit: Limit = DEFAULT, cursor: Cursor = None
) -> Response:
    after = decode_cursor(cursor, 4)
    older = None
    if after is not None:
        older = replace(_KEY_ONLY, at=after[0], block_number=after[1], log_index=after[2], position=after[3])

    def read(conn: Connection) -> InteractionPage | None:
        if customer_id > MAX_INDEXED_ID:
            return None
        found = customer_timeline(conn, customer_id, limit=limit + 1, older_than=older)
        if not found and older is None:
            exists = conn.execute(select(db.customers.c.id).where(id_is(db.customers.c.id, customer_id))).first()
            if exists is None:
                return None
        items, cursor_after = next_cursor(
            found, limit, lambda item: [item.at, item.block_number, item.log_index, item.position]
        )
        return InteractionPage(
            items=[interaction_out(item) for item in items], next_cursor=cursor_after, as_of_block=as_of_block(conn)
        )

    page = await api_of(request).portal.read(read)
    if page is None:
        raise ApiError(404, "customer_unknown", f"customer {customer_id} does not exist (as far as the index read)")
    return answer(request, page)


__all__ = ["customer_out", "interaction_out", "router"]
