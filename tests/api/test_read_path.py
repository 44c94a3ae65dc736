"""The busiest reads' fast path: bodies built without a model per item still match their response
models exactly; the key cache never serves a key the database changed; the API closes with the portal."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.routing import Mount

from chaincrm.api.key_cache import VerifiedKeys
from chaincrm.api.keys import ApiKeys, KeyRefused
from chaincrm.api.models import CustomerPage, DealPage, InteractionPage, InvoicePage
from chaincrm.api.state import ApiState
from chaincrm.models import InteractionKind, Outcome
from chaincrm.portal import create_app
from chaincrm.portal.state import Portal
from chaincrm.privacy import InteractionContent
from chaincrm.privacy.notes import CustomerNotes
from tests.api.conftest import ApiServer, integration_engine

PAGES: list[tuple[str, dict[str, Any], type[BaseModel]]] = [
    ("/customers/{customer}/timeline", {}, InteractionPage),
    ("/customers/{customer}/timeline", {"limit": 1}, InteractionPage),
    ("/invoices", {}, InvoicePage),
    ("/invoices", {"status": "open", "limit": 1}, InvoicePage),
    ("/invoices", {"overdue": "false", "customer": "{customer}"}, InvoicePage),
    ("/interactions", {"customer": "{customer}"}, InteractionPage),
    ("/customers", {}, CustomerPage),
    ("/customers", {"limit": 1}, CustomerPage),
    ("/deals", {}, DealPage),
]


@pytest.fixture(scope="module")
def interactions(api_server: ApiServer) -> None:
    """Two interactions on the server's customer, indexed."""
    notes = CustomerNotes(api_server.crm, api_server.store)
    for kind, outcome in ((InteractionKind.CALL, Outcome.NO_ANSWER), (InteractionKind.EMAIL, Outcome.FOLLOW_UP)):
        content = InteractionContent(kind.label)
        notes.log_interaction(api_server.customer_id, kind, outcome, content, api_server.accounts.agent)
    api_server.catch_up()


@pytest.mark.parametrize(("template", "params", "model"), PAGES)
@pytest.mark.usefixtures("interactions")
def test_a_fast_read_answers_exactly_what_its_response_model_would(
    api_server: ApiServer, agent_api: httpx.Client, template: str, params: dict[str, Any], model: type[BaseModel]
) -> None:
    customer = str(api_server.customer_id)
    page = agent_api.get(
        template.format(customer=customer),
        params={
            key: value.format(customer=customer) if isinstance(value, str) else value for key, value in params.items()
        },
    )

    assert page.status_code == 200, page.text
    assert page.json()["items"]
    assert model.model_validate_json(page.content).model_dump_json(by_alias=True).encode() == page.content


@pytest.mark.usefixtures("interactions")
def test_a_timeline_page_after_a_cursor_continues_where_the_first_ended(
    api_server: ApiServer, agent_api: httpx.Client
) -> None:
    path = f"/customers/{api_server.customer_id}/timeline"
    whole = agent_api.get(path).json()["items"]
    first = agent_api.get(path, params={"limit": 1}).json()
    rest = agent_api.get(path, params={"limit": 500, "cursor": first["next_cursor"]}).json()

    assert len(whole) >= 2
    assert first["items"] + rest["items"] == whole
    assert rest["next_cursor"] is None


def test_the_key_cache_reads_a_key_again_once_anything_was_committed(api_server: ApiServer) -> None:
    engine = integration_engine(api_server.config)
    keys = ApiKeys(engine)
    verified = VerifiedKeys(keys)
    try:
        record, key = keys.create(api_server.accounts.agent.address, name="cached")
        for _ in range(3):  # the first call notes the database's version, the second caches, the third hits
            assert verified.verify(key) == record
        assert list(verified._cache.values()) == [record]
        keys.revoke(record.id)  # another connection commits

        with pytest.raises(KeyRefused) as refused:
            verified.verify(key)
        assert refused.value.code == "api_key_revoked"
        assert verified._cache == {}
    finally:
        verified.close()
        engine.dispose()


def test_closing_the_portal_closes_what_the_api_opened(api_server: ApiServer) -> None:
    portal = Portal.open(replace(api_server.config, follow=False, webhooks=False))
    app = create_app(portal.config, portal=portal)
    (mount,) = [route for route in app.routes if isinstance(route, Mount) and route.path == "/api/v1"]
    state: ApiState = mount.app.state.api  # type: ignore[attr-defined]
    _, key = state.keys.create(api_server.accounts.agent.address, name="closing")
    state.verified.verify(key)
    watched = state.verified._watch.driver_connection

    portal.close()

    with pytest.raises(sqlite3.ProgrammingError):
        watched.execute("PRAGMA data_version")
    assert portal.closers == []
