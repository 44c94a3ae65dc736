"""Deals: GET /deals (by stage, agent, branch, customer, opening time), GET /deals/{id} with its
stage changes; POST /deals, /deals/{id}/stage, /deals/{id}/lose, /deals/{id}/reissue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from eth_account.signers.local import LocalAccount
from fastapi import APIRouter, Depends, Path
from sqlalchemy import Connection, select
from starlette.requests import Request
from starlette.responses import Response
from web3.logs import DISCARD

from chaincrm.api.answers import Labels, answer, answer_data, as_of_block, decode_cursor, id_page, next_cursor
from chaincrm.api.auth import Author, api_key, api_of, author
from chaincrm.api.currency import amount_text, currencies_of, currency_json, wei_or_none
from chaincrm.api.errors import ApiError, StrictJsonRoute
from chaincrm.api.models import (
    MAX_ID,
    DealAnswer,
    DealIn,
    DealOut,
    DealPage,
    DealSent,
    ErrorAnswer,
    LoseIn,
    LostSent,
    StageChangeOut,
    StageIn,
)
from chaincrm.api.params import (
    DEFAULT,
    Agents,
    Branches,
    Cursor,
    IdFilter,
    Limit,
    Since,
    Until,
    agents_chosen,
    branch_roster,
    code_named,
    id_is,
    window,
)
from chaincrm.api.state import ApiState
from chaincrm.api.writes import perform
from chaincrm.chain import emitted_by
from chaincrm.contracts.client import Crm
from chaincrm.contracts.tokens import Tokens
from chaincrm.currency import TokenInfo, parse_amount
from chaincrm.errors import ConfigError
from chaincrm.index import schema as db
from chaincrm.models import LossReason, Role, Stage
from chaincrm.portal.reads import label

router = APIRouter(prefix="/deals", tags=["deals"], route_class=StrictJsonRoute)
DealId = Annotated[int, Path(ge=1, le=MAX_ID)]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorAnswer} for code in (400, 401, 403, 404, 409, 503)
}
reader = [Depends(api_key)]


def deal_out(row: Any, known: Mapping[str, TokenInfo]) -> DealOut:
    """A deals row as DealOut, its currency displayed from `known`."""
    return DealOut.model_validate(deal_item(row, known))


_STAGES = Labels(Stage)
_REASONS = Labels(LossReason)


def deal_item(row: Any, known: Mapping[str, TokenInfo]) -> dict[str, Any]:
    """A deals row as DealOut's fields, in its order (without a model per item)."""
    reason = row["lost_reason"]
    currency = currency_json(row["currency"], known)
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "owner": row["owner"],
        "value_wei": wei_or_none(row["value_wei"], row["currency"]),
        "currency": currency,
        "value": amount_text(row["value_wei"], currency),
        "value_base_units": str(row["value_wei"]),
        "discount_bps": row["discount_bps"] or 0,
        "stage": _STAGES[row["stage"]],
        "opened_at": row["opened_at"],
        "closed_at": row["closed_at"],
        "lost_reason": None if reason is None else _REASONS[reason],
        "invoice_id": row["invoice_id"],
        "invoices": row["invoices"],
        "block_number": row["block_number"],
    }


@router.get("", response_model=DealPage, dependencies=reader, summary="Deals by id, filtered")
async def list_deals(
    request: Request,
    stage: str | None = None,
    agent: Agents = [],  # noqa: B006 - FastAPI copies the default
    branch: Branches = [],  # noqa: B006
    customer: IdFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> Response:
    """`agent` and `branch` keep the deals whose owner is one of them (a branch: its staff at some
    moment between `since` and `until`, from the index); `since`/`until` bound the opening time."""
    wanted = code_named(Stage, stage, "stage")
    window(since, until)
    roster = await branch_roster(api_of(request).portal, branch)
    owners = agents_chosen(agent, branch, roster, since=since, until=until)
    after = decode_cursor(cursor, 1)
    d = db.deals

    def read(conn: Connection) -> tuple[Sequence[Any], int | None]:
        query = id_page(d, after, limit)
        if wanted is not None:
            query = query.where(d.c.stage == int(wanted))
        if owners is not None:
            query = query.where(d.c.owner.in_(sorted(owners)))
        if customer is not None:
            query = query.where(id_is(d.c.customer_id, customer))
        if since is not None:
            query = query.where(d.c.opened_at >= since)
        if until is not None:
            query = query.where(d.c.opened_at <= until)
        return conn.execute(query).mappings().all(), as_of_block(conn)

    portal = api_of(request).portal
    rows, as_of = await portal.read(read)
    known = await currencies_of(portal.crm.chain, {row["currency"] for row in rows})
    page, cursor_after = next_cursor(rows, limit, lambda row: [row["id"]])
    items = [deal_item(row, known) for row in page]
    return answer_data(request, {"as_of_block": as_of, "next_cursor": cursor_after, "items": items})


@router.get("/{deal_id}", response_model=DealAnswer, dependencies=reader, summary="A deal and its stage changes")
async def get_deal(request: Request, deal_id: DealId) -> Response:
    s = db.stage_changes

    def read(conn: Connection) -> tuple[Any, list[StageChangeOut], int | None] | None:
        row = conn.execute(select(db.deals).where(id_is(db.deals.c.id, deal_id))).mappings().first()
        if row is None:
            return None
        changes = conn.execute(
            select(s).where(id_is(s.c.deal_id, deal_id)).order_by(s.c.block_number, s.c.log_index)
        ).mappings()
        return (
            row,
            [
                StageChangeOut(
                    from_stage=str(label(Stage, change["from_stage"])),
                    to_stage=str(label(Stage, change["to_stage"])),
                    actor=change["actor"],
                    at=change["at"],
                    block_number=change["block_number"],
                    tx_hash=change["tx_hash"],
                )
                for change in changes
            ],
            as_of_block(conn),
        )

    portal = api_of(request).portal
    found = await portal.read(read)
    if found is None:
        raise ApiError(404, "deal_unknown", f"deal {deal_id} does not exist (as far as the index read)")
    row, stage_changes, as_of = found
    known = await currencies_of(portal.crm.chain, [row["currency"]])
    return answer(
        request, DealAnswer(**deal_out(row, known).model_dump(), stage_changes=stage_changes, as_of_block=as_of)
    )


# ------------------------------------------------------------------ writes

AGENT_OR_MANAGER = author(Role.AGENT, Role.MANAGER)
MANAGER = author(Role.MANAGER)


def _tx(receipt: Any) -> dict[str, Any]:
    return {
        "tx_hash": receipt["transactionHash"].to_0x_hex(),
        "block_number": int(receipt["blockNumber"]),
        "gas_used": int(receipt["gasUsed"]),
    }


@router.post(
    "", response_model=DealSent, status_code=201, responses=WRITE_ERRORS, summary="Open a deal (an agent or manager)"
)
async def open_deal(request: Request, body: DealIn, writer: Annotated[Author, Depends(AGENT_OR_MANAGER)]) -> Response:
    """In ETH: `value_wei`, or `value` in ETH. In an ERC-20: `currency` (allow-listed by the
    escrow's admin, else 409 `TokenNotAllowed`) and `value` in the token's whole units."""

    def send(state: ApiState, account: LocalAccount) -> DealSent:
        crm = state.portal.crm
        owner = body.owner or account.address
        value = body.value_wei if body.value_wei is not None else _base_units(crm, body, owner, account)
        before = crm.chain.block_number("latest")
        deal_id = crm.pipeline.open_deal_in(body.customer_id, owner, value, body.currency, account)
        return DealSent(**_tx(_opened_receipt(crm, deal_id, before)), deal_id=deal_id, stage="lead", invoice_id=None)

    return await perform(request, writer, body, send, 201)


def _opened_receipt(crm: Crm, deal_id: int, from_block: int) -> Any:
    """The receipt of the transaction that opened `deal_id` (mined after `from_block`)."""
    pipeline = crm.pipeline
    (log,) = crm.chain.logs.events(
        pipeline.contract.events.DealOpened, from_block=from_block, argument_filters={"dealId": deal_id}
    )
    return crm.chain.w3.eth.get_transaction_receipt(log["transactionHash"])


def _base_units(crm: Crm, body: DealIn, owner: str, account: LocalAccount) -> int:
    """`value` in base units of the deal's currency; a token the contract refuses (not allow-listed)
    is refused by a dry run before its decimals are read."""
    if body.currency is not None:
        probe = crm.pipeline.contract.functions.openDealIn(body.customer_id, owner, 1, body.currency)
        crm.chain.gas_limit(probe, account)
    currency = Tokens(crm.chain).info(body.currency)
    try:
        return parse_amount(str(body.value), currency, what="value")
    except ConfigError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None


@router.post("/{deal_id}/stage", response_model=DealSent, responses=WRITE_ERRORS, summary="Move a deal")
async def move_deal(
    request: Request, deal_id: DealId, body: StageIn, writer: Annotated[Author, Depends(AGENT_OR_MANAGER)]
) -> Response:
    """Moving to `won` issues the deal's invoice in the same transaction (`invoice_id`)."""

    def send(state: ApiState, account: LocalAccount) -> DealSent:
        pipeline = state.portal.crm.pipeline
        receipt = pipeline.move(deal_id, body.stage, account)
        invoice_id = pipeline.deal(deal_id).invoice_id if body.stage is Stage.WON else None
        return DealSent(**_tx(receipt), deal_id=deal_id, stage=body.stage.label, invoice_id=invoice_id)

    return await perform(request, writer, body, send)


@router.post("/{deal_id}/lose", response_model=LostSent, responses=WRITE_ERRORS, summary="Mark a deal lost")
async def lose_deal(
    request: Request, deal_id: DealId, body: LoseIn, writer: Annotated[Author, Depends(AGENT_OR_MANAGER)]
) -> Response:
    def send(state: ApiState, account: LocalAccount) -> LostSent:
        receipt = state.portal.crm.pipeline.mark_lost(deal_id, body.reason, account)
        return LostSent(**_tx(receipt), deal_id=deal_id, reason=body.reason.label)

    return await perform(request, writer, body, send)


@router.post(
    "/{deal_id}/reissue",
    response_model=DealSent,
    responses=WRITE_ERRORS,
    summary="Cancel a won deal's unpaid invoice and issue a new one (a manager)",
)
async def reissue(request: Request, deal_id: DealId, writer: Annotated[Author, Depends(MANAGER)]) -> Response:
    def send(state: ApiState, account: LocalAccount) -> DealSent:
        pipeline = state.portal.crm.pipeline
        receipt = state.portal.crm.chain.transact(pipeline.contract.functions.reissueInvoice(deal_id), account)
        events = emitted_by(
            pipeline.address, pipeline.contract.events.DealInvoiced().process_receipt(receipt, errors=DISCARD)
        )
        return DealSent(**_tx(receipt), deal_id=deal_id, stage="won", invoice_id=int(events[-1]["args"]["invoiceId"]))

    return await perform(request, writer, None, send)


__all__ = ["deal_item", "deal_out", "router"]
