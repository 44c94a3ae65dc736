"""Reads from the index: lists with filters and cursors, single records, ETag and 304, as_of_block."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chaincrm.api.models import InvoiceAnswer
from chaincrm.currency import tokens_info
from chaincrm.models import InteractionKind, Outcome, Stage
from chaincrm.privacy import InteractionContent
from chaincrm.privacy.notes import CustomerNotes
from chaincrm.reports.figures import compute, report_currencies, with_tokens
from chaincrm.reports.filters import ReportFilter
from chaincrm.reports.history import history_from_index
from chaincrm.reports.render import report_json
from tests.api.conftest import ApiServer, error_of
from tests.portal.conftest import new_customer, new_invoice

CUSTOMER_FIELDS = {
    "id",
    "status",
    "wallet",
    "pending_wallet",
    "registrar",
    "registered_at",
    "profile_version",
    "consents",
    "erased_at",
    "block_number",
}


def walk(client: httpx.Client, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get(path, params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture(scope="module")
def logged(api_server: ApiServer) -> dict[str, Any]:
    """A fresh customer with three interactions by the agent, and two deals (one moved)."""
    crm, accounts = api_server.crm, api_server.accounts
    customer_id = new_customer(crm, api_server.store, accounts, accounts.stranger)
    notes = CustomerNotes(crm, api_server.store)
    kinds = [
        (InteractionKind.CALL, Outcome.POSITIVE),
        (InteractionKind.EMAIL, Outcome.NONE),
        (InteractionKind.MEETING, Outcome.FOLLOW_UP),
    ]
    blocks = []
    for kind, outcome in kinds:
        stored = notes.log_interaction(
            customer_id, kind, outcome, InteractionContent(f"{kind.label} note"), accounts.agent
        )
        blocks.append(stored.block_number)
    first = crm.pipeline.open_deal(customer_id, accounts.agent.address, 10**18, accounts.agent)
    second = crm.pipeline.open_deal(customer_id, accounts.agent.address, 2 * 10**18, accounts.agent)
    crm.pipeline.move(second, Stage.QUALIFIED, accounts.agent)
    api_server.catch_up()
    return {"customer_id": customer_id, "blocks": blocks, "deals": (first, second)}


# ------------------------------------------------------------------ customers


def test_a_customer_reads_as_its_public_record(api_server: ApiServer, agent_api: httpx.Client) -> None:
    found = agent_api.get(f"/customers/{api_server.customer_id}")

    assert found.status_code == 200
    body = found.json()
    assert set(body) == CUSTOMER_FIELDS | {"as_of_block"}
    assert body["id"] == api_server.customer_id
    assert body["status"] == "active"
    assert body["wallet"] == api_server.accounts.customer.address
    assert body["registrar"] == api_server.accounts.agent.address
    assert body["consents"] == {"marketing": False, "profiling": False, "third_party_sharing": False}
    assert body["profile_version"] == api_server.crm.registry.customer(api_server.customer_id).profile_version
    assert "Ada" not in found.text and "@" not in found.text  # never personal data


def test_the_customer_list_pages_through_every_customer_once(
    api_server: ApiServer, agent_api: httpx.Client, logged: dict[str, Any]
) -> None:
    items = walk(agent_api, "/customers", 1)

    ids = [item["id"] for item in items]
    assert ids == sorted(set(ids))
    assert {api_server.customer_id, logged["customer_id"]} <= set(ids)
    assert all(set(item) == CUSTOMER_FIELDS for item in items)


def test_an_unknown_customer_is_404(agent_api: httpx.Client) -> None:
    found = agent_api.get(f"/customers/{2**64 - 1}")

    assert found.status_code == 404
    assert error_of(found)["code"] == "customer_unknown"


def test_a_customers_timeline_is_newest_first_in_pages(agent_api: httpx.Client, logged: dict[str, Any]) -> None:
    items = walk(agent_api, f"/customers/{logged['customer_id']}/timeline", 2)

    assert [(item["kind"], item["outcome"]) for item in items] == [
        ("meeting", "follow_up"),
        ("email", "none"),
        ("call", "positive"),
    ]
    assert [item["block_number"] for item in items] == sorted(logged["blocks"], reverse=True)
    assert set(items[0]) == {
        "customer_id",
        "author",
        "kind",
        "outcome",
        "content_hash",
        "at",
        "block_number",
        "tx_hash",
        "log_index",
        "position",
    }


def test_the_timeline_of_an_unknown_customer_is_404(agent_api: httpx.Client) -> None:
    found = agent_api.get(f"/customers/{2**63}/timeline")

    assert found.status_code == 404
    assert error_of(found)["code"] == "customer_unknown"


# ------------------------------------------------------------------ deals


def test_deals_filter_by_stage_customer_and_agent(
    api_server: ApiServer, agent_api: httpx.Client, logged: dict[str, Any]
) -> None:
    first, second = logged["deals"]
    customer = logged["customer_id"]

    leads = agent_api.get("/deals", params={"customer": customer, "stage": "lead"}).json()["items"]
    qualified = agent_api.get("/deals", params={"customer": customer, "stage": "qualified"}).json()["items"]
    by_agent = walk(agent_api, "/deals", 50, agent=api_server.accounts.agent.address)
    by_other = walk(agent_api, "/deals", 50, agent=api_server.accounts.marketer.address)

    assert [deal["id"] for deal in leads] == [first]
    assert [(deal["id"], deal["stage"], deal["value_wei"]) for deal in qualified] == [
        (second, "qualified", str(2 * 10**18))
    ]
    assert {first, second} <= {deal["id"] for deal in by_agent}
    assert by_other == []


def test_deals_filter_by_opening_time(agent_api: httpx.Client, logged: dict[str, Any]) -> None:
    customer = logged["customer_id"]
    deals = agent_api.get("/deals", params={"customer": customer}).json()["items"]
    opened = max(deal["opened_at"] for deal in deals)

    later = agent_api.get("/deals", params={"customer": customer, "since": opened + 1}).json()["items"]
    until = agent_api.get("/deals", params={"customer": customer, "until": opened}).json()["items"]

    assert later == []
    assert [deal["id"] for deal in until] == sorted(logged["deals"])


@pytest.fixture(scope="module")
def branches(api_server: ApiServer) -> None:
    """Two branches on chain: the agent in lisbon, the marketer in porto (brought in by the manager,
    who holds the registry's manager role), indexed."""
    accounts = api_server.accounts
    directory = api_server.crm.branches
    for name, member in (("lisbon", accounts.agent), ("porto", accounts.marketer)):
        directory.add_staff(directory.create_branch(name, accounts.manager), member.address, accounts.manager)
    api_server.catch_up()


def test_deals_filter_by_branch_from_the_chain(agent_api: httpx.Client, logged: dict[str, Any], branches: None) -> None:
    lisbon = walk(agent_api, "/deals", 100, branch="lisbon")
    porto = walk(agent_api, "/deals", 100, branch="porto")
    unknown = agent_api.get("/deals", params={"branch": "faro"})

    assert set(logged["deals"]) <= {deal["id"] for deal in lisbon}
    assert porto == []
    assert unknown.status_code == 400
    assert error_of(unknown)["code"] == "invalid_request"
    assert "faro" in str(error_of(unknown)["message"])


def test_a_deal_reads_with_its_stage_changes(
    api_server: ApiServer, agent_api: httpx.Client, logged: dict[str, Any]
) -> None:
    second = logged["deals"][1]

    body = agent_api.get(f"/deals/{second}").json()

    assert body["stage"] == "qualified"
    assert body["owner"] == api_server.accounts.agent.address
    assert [(c["from"], c["to"], c["actor"]) for c in body["stage_changes"]] == [
        ("none", "lead", api_server.accounts.agent.address),
        ("lead", "qualified", api_server.accounts.agent.address),
    ]
    chain = api_server.crm.pipeline.stage_changes(second)
    assert [c["tx_hash"] for c in body["stage_changes"]] == [c.tx_hash for c in chain]


def test_an_unknown_deal_is_404(agent_api: httpx.Client) -> None:
    found = agent_api.get(f"/deals/{2**64 - 1}")

    assert found.status_code == 404
    assert error_of(found)["code"] == "deal_unknown"


# ------------------------------------------------------------------ invoices


def test_invoices_filter_by_status_and_overdue(api_server: ApiServer, agent_api: httpx.Client) -> None:
    invoice = api_server.invoice_id

    open_ids = {item["id"] for item in walk(agent_api, "/invoices", 100, status="open")}
    paid_ids = {item["id"] for item in walk(agent_api, "/invoices", 100, status="paid")}
    overdue_ids = {item["id"] for item in walk(agent_api, "/invoices", 100, overdue="true")}
    not_overdue = {item["id"] for item in walk(agent_api, "/invoices", 100, overdue="false")}

    assert invoice in open_ids and invoice not in paid_ids
    assert invoice not in overdue_ids and invoice in not_overdue  # due in 30 days


def test_an_invoice_list_item_matches_the_chain(api_server: ApiServer, agent_api: httpx.Client) -> None:
    chain = api_server.crm.escrow.invoice(api_server.invoice_id)

    (item,) = agent_api.get("/invoices", params={"deal": chain.deal_id}).json()["items"]

    assert item["id"] == api_server.invoice_id
    assert item["customer_id"] == api_server.customer_id
    assert item["payer"] == api_server.accounts.customer.address
    assert item["amount_wei"] == str(chain.amount_wei)
    assert item["due_at"] == chain.due_at
    assert item["overdue"] is False


def test_an_invoice_reads_as_the_payment_page_shows_it(api_server: ApiServer, agent_api: httpx.Client) -> None:
    portal_view = httpx.get(f"{api_server.url}/api/invoices/{api_server.invoice_id}").json()

    found = agent_api.get(f"/invoices/{api_server.invoice_id}").json()

    money = {"currency", "amount", "deal", "points"}  # the API's own: currency {"address", "symbol", "decimals"}
    shared = {key: value for key, value in portal_view.items() if key in InvoiceAnswer.model_fields}
    assert {k: v for k, v in found.items() if k not in money and k in shared} == {
        k: v for k, v in shared.items() if k not in money
    }
    assert (found["currency"], found["amount"]) == (
        {"address": None, "symbol": "ETH", "decimals": 18},
        portal_view["amount_text"],
    )
    assert found["deal"] == portal_view["deal"] | {"value_base_units": portal_view["deal"]["value_wei"]}


def test_an_unknown_invoice_is_404(agent_api: httpx.Client) -> None:
    found = agent_api.get(f"/invoices/{2**64 - 1}")

    assert found.status_code == 404
    assert error_of(found)["code"] == "invoice_unknown"


# ------------------------------------------------------------------ interactions


def test_interactions_list_in_chain_order_with_filters(
    api_server: ApiServer, agent_api: httpx.Client, logged: dict[str, Any]
) -> None:
    customer = logged["customer_id"]

    mine = walk(agent_api, "/interactions", 1, customer=customer)
    by_agent = walk(agent_api, "/interactions", 100, customer=customer, agent=api_server.accounts.agent.address)
    by_manager = walk(agent_api, "/interactions", 100, customer=customer, agent=api_server.accounts.manager.address)
    after_first = walk(agent_api, "/interactions", 100, customer=customer, since=mine[1]["at"])

    assert [item["kind"] for item in mine] == ["call", "email", "meeting"]
    assert [item["block_number"] for item in mine] == logged["blocks"]
    assert by_agent == mine
    assert by_manager == []
    assert [item["kind"] for item in after_first] == [item["kind"] for item in mine if item["at"] >= mine[1]["at"]]


# ------------------------------------------------------------------ KPIs


def test_the_kpis_are_chaincrm_reports_figures(api_server: ApiServer, agent_api: httpx.Client) -> None:
    block = api_server.catch_up()

    answer = agent_api.get("/kpis", params={"agent": api_server.accounts.agent.address})

    assert answer.status_code == 200
    body = answer.json()
    with api_server.portal.engine.connect() as conn:
        history = history_from_index(conn)
    report = compute(history, ReportFilter(agents=frozenset({api_server.accounts.agent.address})))
    report = with_tokens(report, tokens_info(api_server.crm.chain, report_currencies(report)).values())
    expected = report_json(report)
    assert body["as_of_block"] >= block
    assert history.end_block == body["as_of_block"]  # nothing was mined in between
    assert {key: value for key, value in body.items() if key != "as_of_block"} == expected
    assert body["agents"] == [api_server.accounts.agent.address]
    assert body["refunds_owed_wei"] is None  # with an agent filter, as the report


def test_the_kpis_take_a_branch(api_server: ApiServer, agent_api: httpx.Client, branches: None) -> None:
    body = agent_api.get("/kpis", params={"branch": "porto"}).json()

    assert body["agents"] == [api_server.accounts.marketer.address]
    assert body["deals_opened"] == 0


# ------------------------------------------------------------------ every read


def reads(server: ApiServer) -> list[str]:
    return [
        "/customers",
        f"/customers/{server.customer_id}",
        f"/customers/{server.customer_id}/timeline",
        "/deals",
        "/deals/1",
        "/invoices",
        f"/invoices/{server.invoice_id}",
        "/interactions",
        "/kpis",
    ]


READS = [
    "/customers",
    "/customers/{customer}",
    "/customers/{customer}/timeline",
    "/deals",
    "/deals/1",
    "/invoices",
    "/invoices/{invoice}",
    "/interactions",
    "/kpis",
]


def _path(server: ApiServer, template: str) -> str:
    return template.format(customer=server.customer_id, invoice=server.invoice_id)


@pytest.mark.parametrize("template", READS)
def test_every_read_says_which_block_it_is_as_of(api_server: ApiServer, agent_api: httpx.Client, template: str) -> None:
    block = api_server.catch_up()

    body = agent_api.get(_path(api_server, template)).json()

    assert isinstance(body["as_of_block"], int) and body["as_of_block"] >= block


@pytest.mark.parametrize("template", READS)
def test_every_read_answers_304_to_its_own_etag(api_server: ApiServer, agent_api: httpx.Client, template: str) -> None:
    path = _path(api_server, template)
    first = agent_api.get(path)
    etag = first.headers["etag"]

    again = agent_api.get(path, headers={"If-None-Match": etag})
    other = agent_api.get(path, headers={"If-None-Match": '"0123"'})

    if again.status_code == 200:  # the index read a block in between: a new answer, a new tag
        assert again.headers["etag"] != etag
        again = agent_api.get(path, headers={"If-None-Match": again.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert other.status_code == 200 and other.json()["as_of_block"] is not None


def test_an_answer_changes_its_etag_when_the_index_changes(api_server: ApiServer, agent_api: httpx.Client) -> None:
    before = agent_api.get("/invoices", params={"status": "open"})

    invoice = new_invoice(api_server.crm, api_server.customer_id, api_server.accounts.agent)
    api_server.catch_up()
    after = agent_api.get("/invoices", params={"status": "open"}, headers={"If-None-Match": before.headers["etag"]})

    assert after.status_code == 200
    assert invoice in {item["id"] for item in after.json()["items"]} | {
        item["id"] for item in walk(agent_api, "/invoices", 500, status="open")
    }


@pytest.mark.parametrize("path", ["/customers", "/customers/1/timeline", "/deals", "/invoices", "/interactions"])
@pytest.mark.parametrize("cursor", ["x", "bm90IGpzb24", "WzEsMiwzLDQsNV0", "WyJhIl0", "W3RydWVd", "Wy0xXQ"])
def test_a_cursor_the_api_did_not_hand_out_is_refused(agent_api: httpx.Client, path: str, cursor: str) -> None:
    found = agent_api.get(path, params={"cursor": cursor})

    assert found.status_code == 400
    assert error_of(found)["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", str(2**64)])
def test_a_limit_out_of_range_is_refused(agent_api: httpx.Client, limit: str) -> None:
    found = agent_api.get("/deals", params={"limit": limit})

    assert found.status_code == 400
    assert error_of(found)["code"] == "invalid_request"


@pytest.mark.parametrize(
    "path, params",
    [
        ("/deals", {"stage": "closed"}),
        ("/invoices", {"status": "unpaid"}),
        ("/customers", {"status": "gone"}),
        ("/deals", {"agent": "0x123"}),
        ("/interactions", {"agent": "bob"}),
        ("/deals", {"since": "10", "until": "5"}),
        ("/interactions", {"since": str(2**64)}),
        ("/invoices", {"customer": str(2**64)}),
        ("/invoices", {"overdue": "maybe"}),
        ("/kpis", {"until": "yesterday"}),
    ],
)
def test_a_malformed_filter_is_refused(agent_api: httpx.Client, path: str, params: dict[str, str]) -> None:
    found = agent_api.get(path, params=params)

    assert found.status_code == 400
    assert error_of(found)["code"] == "invalid_request"
