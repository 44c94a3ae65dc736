"""`create_console`: the staff console's routes, mounted at ``/staff`` by the portal's app.

It runs inside the portal's app (``chaincrm serve --staff``): the same index, node connection,
security headers (CSP 'self') and error handlers. Pages are under ``/staff/``, their scripts and
styles under ``/staff/static``, the JSON actions under ``/staff/api/``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from chaincrm.console.api import Actions
from chaincrm.console.auth import StaffAuth
from chaincrm.console.moves import Mover
from chaincrm.console.names import NameBook
from chaincrm.console.pages import Pages, eth_filter, short_filter, time_filter
from chaincrm.console.report import ReportBook
from chaincrm.console.state import Console, StaffRoles
from chaincrm.errors import ConfigError
from chaincrm.models import Role
from chaincrm.portal.state import Portal

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STAFF_ROLES = (Role.AGENT, Role.MANAGER)


def create_console(portal: Portal) -> Router:
    """The console for `portal.config.staff`, opened by `portal.config.staff_token`. A ConfigError
    when either is missing or the account holds no staff role (agent or manager) on chain."""
    config = portal.config
    staff, token = config.staff, config.staff_token
    if staff is None or token is None:
        raise ConfigError("the staff console needs the staff member's keystore and an access token")
    try:
        auth = StaffAuth(token)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    roles = StaffRoles(portal, staff.address)
    if not set(roles.now()) & set(STAFF_ROLES):
        raise ConfigError(
            f"{staff.address} is neither an agent nor a manager on chain: it cannot use the staff console"
        )
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.filters.update(eth=eth_filter, time=time_filter, short=short_filter)
    console = Console(
        portal=portal,
        staff=staff,
        auth=auth,
        names=NameBook(portal.crm, config.settings.ipfs_api, staff),
        mover=Mover(portal.crm, staff),
        reports=ReportBook(portal.engine, portal.crm.chain),
        roles=roles,
        templates=templates,
    )
    pages, actions = Pages(console), Actions(console)
    return Router(
        routes=[
            Route("/", pages.board, methods=["GET"]),
            Route("/customers", pages.customers, methods=["GET"]),
            Route("/customers/{customer_id}", pages.customer, methods=["GET"]),
            Route("/invoices", pages.invoices, methods=["GET"]),
            Route("/report", pages.report, methods=["GET"]),
            Route("/report/charts/{name}.png", pages.chart, methods=["GET"]),
            Route("/api/deals/{deal_id}/move", actions.move, methods=["POST"]),
            Route("/api/{rest:path}", actions.not_found, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="console-static"),
        ]
    )


__all__ = ["create_console"]
