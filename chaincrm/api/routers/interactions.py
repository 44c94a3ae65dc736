"""Interactions: GET /interactions in chain order (by customer, agent, time); POST /interactions
logs one with its note encrypted for the customer's readers, as `chaincrm interaction log`."""

from __future__ import annotations

from typing import Annotated, Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Depends
from sqlalchemy import Connection, literal, tuple_
from starlette.requests import Request
from starlette.responses import Response

from chaincrm.api.answers import answer_data, decode_cursor, page_answer
from chaincrm.api.auth import Author, api_key, api_of, author
from chaincrm.api.errors import StrictJsonRoute
from chaincrm.api.models import InteractionIn, InteractionPage, InteractionSent
from chaincrm.api.params import DEFAULT, Agents, Cursor, IdFilter, Limit, Since, Until, agents_chosen, id_is, window
from chaincrm.api.routers.customers import interaction_item
from chaincrm.api.routers.deals import WRITE_ERRORS
from chaincrm.api.state import ApiState
from chaincrm.api.writes import perform
from chaincrm.index import schema as db
from chaincrm.index.queries import select_interactions
from chaincrm.models import Role
from chaincrm.privacy.content import InteractionContent
from chaincrm.privacy.notes import CustomerNotes

router = APIRouter(prefix="/interactions", tags=["interactions"], route_class=StrictJsonRoute)


@router.get("", response_model=InteractionPage, dependencies=[Depends(api_key)], summary="Interactions, chain order")
async def list_interactions(
    request: Request,
    customer: IdFilter = None,
    agent: Agents = [],  # noqa: B006 - FastAPI copies the default
    since: Since = None,
    until: Until = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> Response:
    """Oldest first, in the order the chain logged them (block, log, record in a batch): page
    through with `cursor` to follow every new interaction. `agent` is the author."""
    window(since, until)
    authors = agents_chosen(agent)
    after = decode_cursor(cursor, 3)
    t = db.interactions
    key = (t.c.block_number, t.c.log_index, t.c.position)

    def read(conn: Connection) -> dict[str, Any]:
        query = select_interactions().order_by(*key).limit(limit + 1)
        if customer is not None:
            query = query.where(id_is(t.c.customer_id, customer))
        if authors is not None:
            query = query.where(t.c.author.in_(sorted(authors)))
        if since is not None:
            query = query.where(t.c.at >= since)
        if until is not None:
            query = query.where(t.c.at <= until)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*(literal(value) for value in after)))
        found = conn.execute(query).all()
        return page_answer(conn, found, limit, lambda row: [row[6], row[8], row[9]], interaction_item)

    return answer_data(request, await api_of(request).portal.read(read))


@router.post(
    "",
    response_model=InteractionSent,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Log an interaction (an agent with a grant on the customer)",
)
async def log_interaction(
    request: Request, body: InteractionIn, writer: Annotated[Author, Depends(author(Role.AGENT))]
) -> Response:
    """The note is encrypted with the customer's content key and stored on IPFS; the chain gets
    the CID digest of the ciphertext only."""

    def send(state: ApiState, account: LocalAccount) -> InteractionSent:
        crm = state.portal.crm
        notes = CustomerNotes(crm, state.store_for(account.address))
        content = InteractionContent(body.note or "")
        stored = notes.log_interaction(body.customer_id, body.kind, body.outcome, content, account)
        receipt = crm.chain.wait(stored.tx_hash)
        return InteractionSent(
            tx_hash=stored.tx_hash,
            block_number=stored.block_number,
            gas_used=int(receipt["gasUsed"]),
            customer_id=body.customer_id,
            kind=body.kind.label,
            outcome=body.outcome.label,
            content_hash="0x" + stored.digest.hex(),
            cid=str(stored.cid),
        )

    return await perform(request, writer, body, send, 201)


__all__ = ["router"]
