"""GET /kpis: the figures of `chaincrm report`, from the same code (chaincrm.reports) over the
portal's index, with the same filters (window, agents, on-chain branches from the index)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from chaincrm.api.answers import etag_of, matches
from chaincrm.api.auth import api_key, api_of
from chaincrm.api.errors import ApiError
from chaincrm.api.models import KpiAnswer
from chaincrm.api.params import Agents, Branches, Since, Until, agents_chosen, branch_roster, window
from chaincrm.currency import tokens_info
from chaincrm.errors import ConfigError
from chaincrm.index import schema as db
from chaincrm.index.database import database_errors
from chaincrm.reports.figures import compute, report_currencies, with_tokens
from chaincrm.reports.filters import ReportFilter
from chaincrm.reports.history import history_from_index
from chaincrm.reports.render import report_json

router = APIRouter(prefix="/kpis", tags=["kpis"], dependencies=[Depends(api_key)])


def _head(conn: Connection) -> tuple[int, str] | None:
    """The index's last block and its hash: what the figures depend on besides the query."""
    last = select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1).scalar_subquery()
    row = conn.execute(select(db.blocks.c.number, db.blocks.c.hash).where(db.blocks.c.number == last)).first()
    return None if row is None else (int(row[0]), str(row[1]))


@router.get("", response_model=KpiAnswer, summary="The KPIs of `chaincrm report`")
async def kpis(
    request: Request,
    since: Since = None,
    until: Until = None,
    agent: Agents = [],  # noqa: B006 - FastAPI copies the default
    branch: Branches = [],  # noqa: B006
) -> Response:
    """Computed from the whole event history at the index's last block (so slower than the lists:
    a 304 for a matching If-None-Match costs one query, the ETag being the block and the query)."""
    window(since, until)
    portal = api_of(request).portal
    roster = await branch_roster(portal, branch)
    report_filter = ReportFilter(
        since=since, until=until, agents=agents_chosen(agent, branch, roster, since=since, until=until)
    )
    query = str(request.url.query)
    head = await portal.read(_head)
    if head is None:
        raise ApiError(503, "index_unavailable", "the index holds no block yet: try again shortly")
    if matches(request, _tag(head, query)):
        return Response(status_code=304, headers={"ETag": _tag(head, query)})

    def figures() -> tuple[tuple[int, str] | None, KpiAnswer]:
        with database_errors(portal.engine), portal.engine.connect() as conn:  # one snapshot: head and history
            at = _head(conn)
            history = history_from_index(conn)
        report = compute(history, report_filter)
        report = with_tokens(report, tokens_info(portal.crm.chain, report_currencies(report)).values())
        return at, KpiAnswer(**report_json(report), as_of_block=history.end_block)

    try:
        at, found = await run_in_threadpool(figures)
    except ConfigError:
        raise ApiError(503, "index_unavailable", "the index cannot be read now: try again shortly") from None
    body = found.model_dump_json().encode()
    return Response(body, media_type="application/json", headers={"ETag": _tag(at, query)})


def _tag(head: tuple[int, str] | None, query: str) -> str:
    return etag_of(repr(("kpis", head, query)).encode())


__all__ = ["router"]
