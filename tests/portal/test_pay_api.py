"""The payment page's data: /api/config, /api/invoices/{id} and /pay/{id}, against the real index."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from chaincrm.portal.reads import RELEASED_BY
from tests.portal.conftest import PortalServer, new_invoice, wait_for

BAD_IDS = ["abc", "-1", "+1", "1e3", "0x10", "1.0", str(2**256), str(2**64), "%201", "١٢"]


def invoice_in(client: httpx.Client, invoice_id: int, status: str) -> dict[str, Any] | None:
    """The invoice JSON once it has `status` (None before: not indexed yet, or another status)."""
    answer = client.get(f"/api/invoices/{invoice_id}")
    body: dict[str, Any] = answer.json()
    return body if answer.status_code == 200 and body["status"] == status else None


def page_data(html: str) -> dict[str, object]:
    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None, html
    return json.loads(found.group(1))


def test_the_config_names_the_deployment_and_the_index_block(portal_server: PortalServer, client: httpx.Client) -> None:
    deployment = portal_server.crm.deployment

    config = client.get("/api/config").json()

    assert set(config) == {
        "chain_id",
        "chain_name",
        "wallet_rpc_url",
        "registry",
        "escrow",
        "pipeline",
        "loyalty",
        "as_of_block",
    }
    assert config["chain_id"] == 31337
    assert config["chain_name"] == "chaincrm local"
    assert config["wallet_rpc_url"] == portal_server.settings.rpc_url
    assert (config["registry"], config["escrow"], config["pipeline"], config["loyalty"]) == (
        deployment.registry,
        deployment.escrow,
        deployment.pipeline,
        deployment.loyalty,
    )
    assert isinstance(config["as_of_block"], int) and config["as_of_block"] >= deployment.block_number


def test_an_open_invoice_reads_as_the_chain_holds_it(portal_server: PortalServer, client: httpx.Client) -> None:
    crm = portal_server.crm
    chain_invoice = crm.escrow.invoice(portal_server.invoice_id)
    deal = crm.pipeline.deal(chain_invoice.deal_id)

    found = client.get(f"/api/invoices/{portal_server.invoice_id}")

    assert found.status_code == 200
    body = found.json()
    window = crm.deployment.dispute_window_seconds
    loyalty = body.pop("loyalty")  # the points' rates, once an admin set them (tests of points do)
    assert loyalty is None or loyalty["points"] == crm.deployment.loyalty
    assert body == {
        "id": portal_server.invoice_id,
        "status": "open",
        "amount": "1750000000000000000",
        "amount_issued": "1750000000000000000",
        "amount_text": "1.75",
        "unit": "ETH",
        "currency": None,
        "off_chain": None,
        "points": None,
        "amount_wei": "1750000000000000000",
        "amount_eth": "1.75",
        "due_at": chain_invoice.due_at,
        "overdue": False,
        "payer": portal_server.customer.address,
        "customer_id": portal_server.customer_id,
        "payment_reference": "0x" + crm.escrow.payment_reference(portal_server.invoice_id).hex(),
        "deal": {"id": deal.id, "stage": "won", "value_wei": "1750000000000000000", "owner": deal.owner},
        "escrow": {
            "address": crm.escrow.address,
            "dispute_window_seconds": window,
            "dispute_resolution_seconds": crm.deployment.dispute_resolution_seconds,
            "released_by": RELEASED_BY,
            "dispute_window_ends_at": None,
            "resolve_by": None,
        },
        "paid_at": None,
        "released_at": None,
        "refunded_at": None,
        "cancelled_at": None,
        "disputed_at": None,
        "chain_id": 31337,
        "as_of_block": body["as_of_block"],
    }
    assert body["as_of_block"] >= crm.chain.block_number() - 1


def test_the_payment_page_embeds_the_invoice_and_the_config(portal_server: PortalServer, client: httpx.Client) -> None:
    page = client.get(f"/pay/{portal_server.invoice_id}")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page_data(page.text) == client.get(f"/api/invoices/{portal_server.invoice_id}").json()
    assert 'id="invoice-id"' in page.text and 'id="pay"' in page.text


def test_an_invoice_shows_paid_within_a_few_polls_after_payment(
    portal_server: PortalServer, client: httpx.Client
) -> None:
    crm = portal_server.crm
    invoice_id = new_invoice(crm, portal_server.customer_id, portal_server.agent)

    receipt = crm.escrow.pay(invoice_id, portal_server.customer)

    paid = wait_for(
        lambda: invoice_in(client, invoice_id, "paid"),
        "the invoice to show paid",
        seconds=5,
    )
    block = crm.chain.w3.eth.get_block(receipt["blockNumber"])
    assert paid["paid_at"] == block["timestamp"]
    assert paid["escrow"]["dispute_window_ends_at"] == block["timestamp"] + crm.deployment.dispute_window_seconds
    assert paid["as_of_block"] >= receipt["blockNumber"]


def test_a_confirmed_delivery_shows_released(portal_server: PortalServer, client: httpx.Client) -> None:
    crm = portal_server.crm
    invoice_id = new_invoice(crm, portal_server.customer_id, portal_server.agent)
    crm.escrow.pay(invoice_id, portal_server.customer)

    crm.escrow.confirm_delivery(invoice_id, portal_server.customer)

    released = wait_for(
        lambda: invoice_in(client, invoice_id, "released"),
        "the invoice to show released",
    )
    assert released["released_at"] is not None


def test_a_cancelled_invoice_shows_cancelled(portal_server: PortalServer, client: httpx.Client) -> None:
    crm = portal_server.crm
    invoice_id = new_invoice(crm, portal_server.customer_id, portal_server.agent)

    crm.escrow.cancel(invoice_id, portal_server.manager)

    cancelled = wait_for(
        lambda: invoice_in(client, invoice_id, "cancelled"),
        "the invoice to show cancelled",
    )
    assert cancelled["cancelled_at"] is not None


@pytest.mark.parametrize("unknown", [99999, 2**63 - 1, 2**63, 2**64 - 1])
def test_an_unknown_invoice_is_a_404_json_error(
    portal_server: PortalServer, client: httpx.Client, unknown: int
) -> None:
    answer = client.get(f"/api/invoices/{unknown}")

    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "invoice_unknown", "message": f"invoice {unknown} does not exist"}}


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_malformed_invoice_id_is_a_400_json_error(
    portal_server: PortalServer, client: httpx.Client, bad: str
) -> None:
    answer = client.get(f"/api/invoices/{bad}")

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_id"
    assert answer.json()["error"]["message"].startswith("not an invoice id: ")


def test_an_unknown_invoice_page_is_the_404_page_with_one_message(
    portal_server: PortalServer, client: httpx.Client
) -> None:
    page = client.get("/pay/99999")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert re.search(r'id="message"[^>]*data-kind="invoice_unknown"[^>]*>\s*invoice 99999 does not exist', page.text)


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_malformed_invoice_page_is_the_404_page(portal_server: PortalServer, client: httpx.Client, bad: str) -> None:
    page = client.get(f"/pay/{bad}")

    assert page.status_code == 404
    assert re.search(r'id="message"[^>]*data-kind="invalid_id"[^>]*>\s*not an invoice id: ', page.text)


def test_an_unknown_path_is_a_404_page_or_json(portal_server: PortalServer, client: httpx.Client) -> None:
    page = client.get("/nowhere")
    api = client.get("/api/nowhere")

    assert page.status_code == 404 and 'data-kind="not_found"' in page.text
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
