"""GET /customers, /customers/{id}, /customers/{id}/timeline: public records, never personal data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy import Connection, bindparam, select, tuple_
from starlette.requests import Request
from starlette.responses import Response

from chaincrm.api.answers import Labels, answer, answer_data, as_of_block, decode_cursor, id_page, page_answer
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
from chaincrm.index.queries import select_interactions
from chaincrm.models import CustomerStatus, Interaction, InteractionKind, Outcome, Purpose
from chaincrm.portal.reads import label

router = APIRouter(prefix="/customers", tags=["customers"], dependencies=[Depends(api_key)])
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]


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


_KINDS = Labels(InteractionKind)
_OUTCOMES = Labels(Outcome)


def interaction_item(row: Any) -> dict[str, Any]:
    """A row of `select_interactions` as InteractionOut's fields, in its order."""
    return {
        "customer_id": row[0],
        "author": row[1],
        "kind": _KINDS[row[2]],
        "outcome": _OUTCOMES[row[3]],
        "content_hash": row[4].lower(),
        "at": row[5],
        "block_number": row[6],
        "tx_hash": row[7],
        "log_index": row[8],
        "position": row[9],
    }


_STATUSES = Labels(CustomerStatus)


def customer_item(row: Any) -> dict[str, Any]:
    """A customers row as CustomerOut's fields, in its order (as `customer_out`, without models)."""
    bits = int(row["consent_bits"])
    return {
        "id": row["id"],
        "status": _STATUSES[row["status"]],
        "wallet": row["wallet"],
        "pending_wallet": row["pending_wallet"],
        "registrar": row["registrar"],
        "registered_at": row["registered_at"],
        "profile_version": row["profile_version"],
        "consents": {
            "marketing": bool(bits >> Purpose.MARKETING & 1),
            "profiling": bool(bits >> Purpose.PROFILING & 1),
            "third_party_sharing": bool(bits >> Purpose.THIRD_PARTY_SHARING & 1),
        },
        "erased_at": row["erased_at"],
        "block_number": row["block_number"],
    }


@router.get("", response_model=CustomerPage, summary="Customers by id")
async def list_customers(
    request: Request, status: str | None = None, limit: Limit = DEFAULT, cursor: Cursor = None
) -> Response:
    wanted = code_named(CustomerStatus, status, "status")
    after = decode_cursor(cursor, 1)
    c = db.customers

    def read(conn: Connection) -> dict[str, Any]:
        query = id_page(c, after, limit)
        if wanted is not None:
            query = query.where(c.c.status == int(wanted))
        return page_answer(conn, conn.execute(query).mappings().all(), limit, lambda row: [row["id"]], customer_item)

    return answer_data(request, await api_of(request).portal.read(read))


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


_t = db.interactions
_TIMELINE = (  # statements built once: a request binds its values, SQLAlchemy compiles nothing
    select_interactions()
    .where(_t.c.customer_id == bindparam("customer"))
    .order_by(*db.interaction_timeline_order())
    .limit(bindparam("limit"))
)
_TIMELINE_OLDER = _TIMELINE.where(
    tuple_(_t.c.at, _t.c.block_number, _t.c.log_index, _t.c.position)
    < tuple_(bindparam("at"), bindparam("block_number"), bindparam("log_index"), bindparam("position"))
)
_CUSTOMER_EXISTS = select(db.customers.c.id).where(db.customers.c.id == bindparam("customer"))


@router.get(
    "/{customer_id}/timeline", response_model=InteractionPage, summary="A customer's interactions, newest first"
)
async def timeline(
    request: Request, customer_id: CustomerId, limit: Limit = DEFAULT, cursor: Cursor = None
) -> Response:
    """Newest first, ties in reverse chain order (as `chaincrm customer timeline`); the index's
    (customer_id, at, block_number, log_index, position) index serves each page, cursor or not."""
    after = decode_cursor(cursor, 4)
    values: dict[str, int] = {"customer": customer_id, "limit": limit + 1}
    if after is not None:
        values.update(zip(("at", "block_number", "log_index", "position"), after, strict=True))

    def read(conn: Connection) -> dict[str, Any] | None:
        if customer_id > MAX_INDEXED_ID:
            return None
        rows = conn.execute(_TIMELINE if after is None else _TIMELINE_OLDER, values).all()
        if not rows and after is None and conn.execute(_CUSTOMER_EXISTS, values).first() is None:
            return None
        return page_answer(conn, rows, limit, lambda row: [row[5], row[6], row[8], row[9]], interaction_item)

    page = await api_of(request).portal.read(read)
    if page is None:
        raise ApiError(404, "customer_unknown", f"customer {customer_id} does not exist (as far as the index read)")
    return answer_data(request, page)


__all__ = ["customer_item", "customer_out", "interaction_item", "interaction_out", "router"]
