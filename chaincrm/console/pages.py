"""The console's HTML pages: the board, customers, a customer's timeline, invoices, the report.

Every page first passes :meth:`Pages.guard`: ``?token=`` opens a session and redirects without it;
otherwise the session cookie must be valid, else the 401 page and nothing read. Pages are
server-rendered; the board's script reads its data from JSON in the page (no inline script: the
CSP forbids it). Every answer is ``Cache-Control: no-store`` (pages hold decrypted names).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chaincrm.console import reads
from chaincrm.console.auth import COOKIE_NAME, COOKIE_PATH, StaffRefused, StaffSession
from chaincrm.console.moves import REASONS_BY_NAME
from chaincrm.console.report import CHART_NAMES
from chaincrm.console.state import Console
from chaincrm.currency import ETH, TokenInfo, currency_key, tokens_info
from chaincrm.errors import ChainCrmError, ConfigError
from chaincrm.models import InvoiceStatus, Role
from chaincrm.portal.reads import BadId, eth_text, parse_id

PAGE_SIZE = 50
INVOICE_PAGE_SIZE = 100
MAX_QUERY_CHARS = 100
NO_STORE = {"Cache-Control": "no-store"}
INVOICE_STATUSES = {status.label: status for status in InvoiceStatus if status is not InvoiceStatus.NONE}


# ---------------------------------------------------------------------- template filters


def eth_filter(wei: int | str | None) -> str:
    return "—" if wei is None else f"{eth_text(int(wei))} ETH"


def time_filter(at: int | None) -> str:
    return "—" if at is None else datetime.fromtimestamp(int(at), UTC).strftime("%Y-%m-%d %H:%M UTC")


def short_filter(address: str | None) -> str:
    return "—" if not address else f"{address[:6]}…{address[-4:]}"


# ---------------------------------------------------------------------- pages


class Pages:
    def __init__(self, console: Console) -> None:
        self.console = console

    # -- access

    async def guard(self, request: Request) -> StaffSession | Response:
        """The request's session; or the redirect that opens one; or the 401 page."""
        auth = self.console.auth
        offered = request.query_params.get("token")
        if offered is not None:
            if not auth.token_matches(offered):
                return self.refused(request, StaffRefused("token_refused", "this access token is not valid", 401))
            session = auth.open()
            rest = [(key, value) for key, value in request.query_params.multi_items() if key != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303, headers=NO_STORE)
            response.set_cookie(
                COOKIE_NAME,
                session.id,
                max_age=auth.lifetime,
                path=COOKIE_PATH,
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="strict",
            )
            return response
        try:
            return auth.session(request.cookies.get(COOKIE_NAME))
        except StaffRefused as exc:
            return self.refused(request, exc)

    def refused(self, request: Request, exc: StaffRefused) -> Response:
        error = {"code": exc.code, "message": exc.message}
        return self.render(request, "refused.html", {}, None, error=error, status=exc.status)

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        session: StaffSession | None,
        *,
        as_of_block: int | None = None,
        error: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        full = {
            **context,
            "config": self.console.base_context(as_of_block),
            "csrf": session.csrf if session else "",
            "signed_in": session is not None,
            "error": error,
        }
        response = self.console.templates.TemplateResponse(request, name, full, status_code=status)
        response.headers.update(NO_STORE)
        return response

    async def _read(self, query: Callable[[Connection], Any]) -> Any:
        return await self.console.portal.read(query)

    async def _currencies(self, addresses: Iterable[str | None]) -> dict[str, TokenInfo]:
        """How the tokens among `addresses` are displayed (read from each token once, in a worker thread)."""
        keys = sorted({currency_key(address) for address in addresses} - {ETH})
        if not keys:
            return {}
        return await run_in_threadpool(tokens_info, self.console.portal.crm.chain, keys)

    async def _names(self, customer_ids: set[int]) -> dict[int, str]:
        """Decrypted names of those of `customer_ids` the staff member reads."""
        console = self.console
        roles = await run_in_threadpool(console.roles.now)
        manager = Role.MANAGER in roles
        readable = await self._read(lambda conn: reads.readable(conn, console.staff.address, manager=manager))
        wanted = [(customer_id, version) for customer_id, version in readable if customer_id in customer_ids]
        if not wanted:
            return {}
        return await run_in_threadpool(console.names.names, wanted)

    # -- the board

    async def board(self, request: Request) -> Response:
        session = await self.guard(request)
        if isinstance(session, Response):
            return session
        columns = await self._read(reads.board)
        counts = await self._read(reads.deal_counts)
        as_of = await self.console.portal.as_of_block()
        names = await self._names({deal["customer_id"] for deals in columns.values() for deal in deals})
        known = await self._currencies(deal["currency"] for deals in columns.values() for deal in deals)
        for deals in columns.values():
            for deal in deals:
                deal["value_text"] = reads.money(deal["value_wei"], deal["currency"], known)
                deal["discount"] = reads.discount_text(deal["discount_bps"]) if deal["discount_bps"] else None
        roles = await run_in_threadpool(self.console.roles.now)
        data = {
            "staff": self.console.staff.address,
            "stages": list(columns),
            "loss_reasons": list(REASONS_BY_NAME),
        }
        context = {
            "page": "board",
            "columns": columns,
            "counts": counts,
            "names": names,
            "roles": [role.name.lower() for role in roles],
            "data": data,
        }
        return self.render(request, "board.html", context, session, as_of_block=as_of)

    # -- customers

    async def customers(self, request: Request) -> Response:
        session = await self.guard(request)
        if isinstance(session, Response):
            return session
        query = request.query_params.get("q", "").strip()[:MAX_QUERY_CHARS]
        page = _page_number(request.query_params.get("page"))
        found: list[dict[str, Any]]
        names: dict[int, str]
        searched_by = ""
        total = None
        if query.isascii() and query.isdigit():
            searched_by = "id"
            try:
                ids = [parse_id(query)]
            except BadId:
                ids = []
            found = await self._read(lambda conn: reads.customers(conn, ids=ids))
            names = await self._names({row["id"] for row in found})
        elif query:
            searched_by = "name"
            needle = query.casefold()
            everyone = await self._names_of_all_readable()
            matches = sorted(customer_id for customer_id, name in everyone.items() if needle in name.casefold())
            found = await self._read(lambda conn: reads.customers(conn, ids=matches, limit=PAGE_SIZE))
            names = {customer_id: everyone[customer_id] for customer_id in matches}
        else:
            found = await self._read(lambda conn: reads.customers(conn, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE))
            total = await self._read(reads.customer_total)
            names = await self._names({row["id"] for row in found})
        context = {
            "page": "customers",
            "query": query,
            "searched_by": searched_by,
            "customers": found,
            "names": names,
            "page_number": page,
            "has_next": total is not None and page * PAGE_SIZE < total,
            "total": total,
        }
        as_of = await self.console.portal.as_of_block()
        return self.render(request, "customers.html", context, session, as_of_block=as_of)

    async def _names_of_all_readable(self) -> dict[int, str]:
        console = self.console
        roles = await run_in_threadpool(console.roles.now)
        manager = Role.MANAGER in roles
        readable = await self._read(lambda conn: reads.readable(conn, console.staff.address, manager=manager))
        return await run_in_threadpool(console.names.names, readable)

    async def customer(self, request: Request) -> Response:
        session = await self.guard(request)
        if isinstance(session, Response):
            return session
        text = request.path_params["customer_id"]
        try:
            customer_id = parse_id(text)
        except BadId:
            return self._not_found(request, session, "invalid_id", f"not a customer id: {text[:40]}")
        record = await self._read(lambda conn: reads.customer(conn, customer_id))
        if record is None:
            return self._not_found(request, session, "customer_unknown", f"customer {customer_id} is not in the index")
        known = await self._currencies(await self._read(lambda conn: reads.customer_currencies(conn, customer_id)))
        entries = await self._read(lambda conn: reads.timeline(conn, customer_id, known=known))
        profile, profile_note = None, ""
        names = await self._names({customer_id})
        if customer_id in names:
            try:
                profile = await run_in_threadpool(self.console.names.profile, customer_id)
            except ChainCrmError:
                profile_note = "the profile cannot be read now (IPFS or the node): try again shortly"
        else:
            profile_note = "you are not among this customer's readers: the profile stays encrypted"
        context = {
            "page": "customers",
            "customer": record,
            "profile": profile,
            "profile_note": profile_note,
            "timeline": entries,
        }
        as_of = await self.console.portal.as_of_block()
        return self.render(request, "customer.html", context, session, as_of_block=as_of)

    def _not_found(self, request: Request, session: StaffSession, code: str, text: str) -> Response:
        error = {"code": code, "message": text}
        return self.render(request, "not_found.html", {"page": ""}, session, error=error, status=404)

    # -- invoices

    async def invoices(self, request: Request) -> Response:
        session = await self.guard(request)
        if isinstance(session, Response):
            return session
        params = request.query_params
        status_text = params.get("status", "")
        status = INVOICE_STATUSES.get(status_text)
        overdue = params.get("overdue") in ("1", "true")
        page = _page_number(params.get("page"))
        now = self.console.portal.clock.now()
        rows = await self._read(
            lambda conn: reads.invoices(
                conn,
                now,
                status=status,
                overdue=overdue,
                limit=INVOICE_PAGE_SIZE + 1,
                offset=(page - 1) * INVOICE_PAGE_SIZE,
            )
        )
        buckets = await self._read(lambda conn: reads.aging(conn, now))
        known = await self._currencies(
            [row["currency"] for row in rows] + [c for bucket in buckets for c, _ in bucket["amounts"]]
        )
        for row in rows:
            row["amount_text"] = reads.money(row["amount_wei"], row["currency"], known)
        for bucket in buckets:
            texts = [reads.money(amount, currency, known) for currency, amount in bucket["amounts"]]
            bucket["amount_text"] = ", ".join(texts) if texts else reads.money(0, None, known)
        context = {
            "page": "invoices",
            "invoices": rows[:INVOICE_PAGE_SIZE],
            "has_next": len(rows) > INVOICE_PAGE_SIZE,
            "page_number": page,
            "aging": buckets,
            "statuses": list(INVOICE_STATUSES),
            "status": status.label if status else "",
            "overdue": overdue,
            "now": now,
        }
        as_of = await self.console.portal.as_of_block()
        return self.render(request, "invoices.html", context, session, as_of_block=as_of)

    # -- the report

    async def report(self, request: Request) -> Response:
        session = await self.guard(request)
        if isinstance(session, Response):
            return session
        try:
            report, tables = await run_in_threadpool(self.console.reports.current)
        except ConfigError:
            context: dict[str, Any] = {"page": "report", "report": None, "tables": [], "charts": CHART_NAMES}
            return self.render(request, "report.html", context, session)
        context = {"page": "report", "report": report, "tables": tables, "charts": CHART_NAMES}
        return self.render(request, "report.html", context, session, as_of_block=report.end_block)

    async def chart(self, request: Request) -> Response:
        session = await self.guard(request)
        if isinstance(session, Response):
            return session
        name = request.path_params["name"]
        try:
            png = await run_in_threadpool(self.console.reports.chart, name)
        except ConfigError:
            png = None
        if png is None:
            return Response("no such chart", status_code=404, media_type="text/plain", headers=NO_STORE)
        return Response(png, media_type="image/png", headers=NO_STORE)


def _page_number(text: str | None) -> int:
    if text and text.isascii() and text.isdigit() and len(text) < 7:
        return max(1, int(text))
    return 1


__all__ = ["Pages", "eth_filter", "short_filter", "time_filter"]
