"""Every event type, as a receiver gets it: the payload's fields exactly, its stable id, after the
confirmations, signed, and only to the endpoints that asked for it."""

from __future__ import annotations

import json
import re
from typing import Any

from eth_utils import event_abi_to_log_topic
from sqlalchemy import update

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.contracts.offers import sign_offer
from chaincrm.models import Purpose, Stage
from chaincrm.webhooks import store as tables
from chaincrm.webhooks.events import EVENT_TYPES, REMINDER
from chaincrm.webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from tests.indexer.conftest import entry, register
from tests.portal.conftest import deploy_stablecoin, new_token_invoice, record_off_chain_payment
from tests.sdk.conftest import Staff
from tests.webhooks.conftest import Hooks, example_receiver, mine, scripted

DEAL_VALUE_WEI = 2 * 10**18
PATH_TO_WON = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)
PAYLOAD_KEYS = {"id", "type", "created", "chain_id", "block_number", "tx_hash", "log_index", "data"}
COLLECTED_TYPES = set(EVENT_TYPES) - {REMINDER}  # the reminder keeper enqueues reminders (tests/automation)
EARN_WAD = 100 * 10**18  # 100 points per ETH released
REDEEM_WAD = 10**16  # a point takes 0.01 ETH off
REDEEMED_POINTS = 10 * 10**18  # 0.1 ETH off
TOKEN_VALUE = 1_234_560_000  # 1234.56 TUSD (6 decimals)
OFFER_VALUE_WEI = 3 * 10**18
DISCOUNT_BPS = 1_000


def _offer(crm: Crm, staff: Staff, customer_id: int, nonce: int | None = None) -> Any:
    return sign_offer(
        staff.manager,
        chain_id=crm.chain.chain_id,
        pipeline=crm.pipeline.address,
        customer_id=customer_id,
        discount_bps=DISCOUNT_BPS,
        expiry=crm.chain.block_timestamp(crm.chain.block_number()) + 86_400,
        nonce=nonce,
    )


def _won_invoice(crm: Crm, staff: Staff, customer_id: int) -> tuple[int, int]:
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, DEAL_VALUE_WEI, staff.agent)
    for stage in PATH_TO_WON:
        crm.pipeline.move(deal_id, stage, staff.agent)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    return deal_id, invoice_id


def _block_time(chain: Chain, number: int) -> int:
    return int(chain.w3.eth.get_block(number)["timestamp"])


def _log_index(receipt: Any, event: str, crm: Crm) -> int:
    """The index of `event`'s log in a receipt."""
    abi = next(
        item
        for contract in (crm.registry.contract, crm.pipeline.contract, crm.escrow.contract)
        for item in contract.abi
        if item.get("type") == "event" and item["name"] == event
    )
    topic = bytes(event_abi_to_log_topic(abi))
    return next(int(log["logIndex"]) for log in receipt["logs"] if bytes(log["topics"][0]) == topic)


def test_each_event_type_of_a_whole_flow_arrives_with_exactly_its_fields(
    hooks: Hooks, chain: Chain, crm: Crm, staff: Staff
) -> None:
    with scripted() as receiver:
        hooks.subscribe(receiver.url, *EVENT_TYPES)
        hooks.start()
        crm.escrow.set_loyalty_rates(None, EARN_WAD, REDEEM_WAD, staff.admin)
        token = deploy_stablecoin(crm, staff.admin)
        customer_id = register(crm, staff, wallet=staff.customer)
        interaction = crm.registry.log_interaction(entry(customer_id), staff.agent)
        deal_id, invoice_id = _won_invoice(crm, staff, customer_id)
        paid = crm.escrow.pay(invoice_id, staff.customer)
        crm.escrow.confirm_delivery(invoice_id, staff.customer)  # 200 points
        _, refunded_id = _won_invoice(crm, staff, customer_id)
        crm.escrow.pay_with_points(refunded_id, REDEEMED_POINTS, staff.customer)
        crm.escrow.refund(refunded_id, staff.manager)  # the points come back
        token_invoice_id = new_token_invoice(crm, customer_id, staff.agent, staff.manager, token, TOKEN_VALUE)
        token_deal_id = crm.escrow.invoice(token_invoice_id).deal_id
        record_off_chain_payment(crm, token_invoice_id, "bank_transfer", staff.manager)
        offer_deal_id = crm.pipeline.accept_offer(
            _offer(crm, staff, customer_id), staff.customer, value=OFFER_VALUE_WEI
        )
        withdrawn = _offer(crm, staff, customer_id)
        crm.pipeline.cancel_offer(withdrawn.nonce, staff.manager)
        crm.registry.set_consent(customer_id, Purpose.MARKETING, True, staff.customer)
        overdue_deal_id, overdue_id = _won_invoice(crm, staff, customer_id)
        due_at = crm.escrow.invoice(overdue_id).due_at
        chain.w3.provider.make_request("evm_setNextBlockTimestamp", [due_at + 1])  # type: ignore[arg-type]
        mine(chain)

        hooks.sync()

    # Sent by several senders at once: in no set order (a receiver orders by block and log index).
    events = sorted(
        (json.loads(request.body) for request in receiver.requests),
        key=lambda e: (e["block_number"], e["log_index"] if e["log_index"] is not None else 1 << 30),
    )
    mine_only = [e for e in events if e["data"].get("customer_id", customer_id) == customer_id]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in mine_only:
        by_type.setdefault(event["type"], []).append(event)
    assert set(by_type) == COLLECTED_TYPES
    assert all(set(event) == PAYLOAD_KEYS for event in events)
    invoice = crm.escrow.invoice(invoice_id)
    treasury = crm.escrow.treasury()
    assert [e["data"] | {"at": 0} for e in by_type["customer.registered"]] == [
        {"customer_id": customer_id, "registrar": staff.agent.address, "at": 0}
    ]
    (logged,) = by_type["interaction.logged"]
    assert logged["data"] | {"content_hash": None, "at": 0} == {
        "customer_id": customer_id,
        "author": staff.agent.address,
        "kind": "call",
        "outcome": "positive",
        "content_hash": None,
        "position": 0,
        "at": 0,
    }
    assert re.fullmatch("0x[0-9a-f]{64}", logged["data"]["content_hash"])
    assert logged["id"] == f"{chain.chain_id}:{interaction['transactionHash'].to_0x_hex()}:{logged['log_index']}"
    assert [e["data"] | {"at": 0} for e in by_type["deal.opened"]][0] == {
        "deal_id": deal_id,
        "customer_id": customer_id,
        "owner": staff.agent.address,
        "value_wei": str(DEAL_VALUE_WEI),
        "currency": None,
        "value_base_units": str(DEAL_VALUE_WEI),
        "actor": staff.agent.address,
        "at": 0,
    }
    opened = {e["data"]["deal_id"]: e["data"] | {"at": 0} for e in by_type["deal.opened"]}
    assert opened[token_deal_id] == {
        "deal_id": token_deal_id,
        "customer_id": customer_id,
        "owner": staff.agent.address,
        "value_wei": None,
        "currency": token,
        "value_base_units": str(TOKEN_VALUE),
        "actor": staff.agent.address,
        "at": 0,
    }
    assert opened[offer_deal_id] == {  # opened by the customer's wallet: no actor
        "deal_id": offer_deal_id,
        "customer_id": customer_id,
        "owner": staff.manager.address,
        "value_wei": str(OFFER_VALUE_WEI),
        "currency": None,
        "value_base_units": str(OFFER_VALUE_WEI),
        "actor": None,
        "at": 0,
    }
    (offer_opening,) = [e["data"] for e in by_type["deal.stage_changed"] if e["data"]["deal_id"] == offer_deal_id]
    assert (offer_opening["from"], offer_opening["to"], offer_opening["actor"]) == ("none", "proposal", None)
    moves = [
        (e["data"]["from"], e["data"]["to"]) for e in by_type["deal.stage_changed"] if e["data"]["deal_id"] == deal_id
    ]
    assert moves == [
        ("none", "lead"),
        ("lead", "qualified"),
        ("qualified", "proposal"),
        ("proposal", "negotiation"),
        ("negotiation", "contracting"),
        ("contracting", "won"),
    ]
    stage_change = by_type["deal.stage_changed"][0]["data"]
    assert set(stage_change) == {"deal_id", "from", "to", "actor", "at"}
    assert stage_change["actor"] == staff.agent.address
    issued = next(e for e in by_type["invoice.issued"] if e["data"]["invoice_id"] == invoice_id)
    assert issued["data"] | {"at": 0} == {
        "invoice_id": invoice_id,
        "deal_id": deal_id,
        "customer_id": customer_id,
        "amount_wei": str(DEAL_VALUE_WEI),
        "currency": None,
        "amount_base_units": str(DEAL_VALUE_WEI),
        "due_at": invoice.due_at,
        "payment_reference": "0x" + crm.escrow.payment_reference(invoice_id).hex(),
        "at": 0,
    }
    token_issued = next(e for e in by_type["invoice.issued"] if e["data"]["invoice_id"] == token_invoice_id)
    assert token_issued["data"] | {"at": 0} == {
        "invoice_id": token_invoice_id,
        "deal_id": token_deal_id,
        "customer_id": customer_id,
        "amount_wei": None,
        "currency": token,
        "amount_base_units": str(TOKEN_VALUE),
        "due_at": crm.escrow.invoice(token_invoice_id).due_at,
        "payment_reference": "0x" + crm.escrow.payment_reference(token_invoice_id).hex(),
        "at": 0,
    }
    assert [e["data"] | {"at": 0} for e in by_type["invoice.paid_off_chain"]] == [
        {
            "invoice_id": token_invoice_id,
            "method": "bank_transfer",
            "amount_wei": None,
            "currency": token,
            "amount_base_units": str(TOKEN_VALUE),
            "actor": staff.manager.address,
            "at": 0,
        }
    ]
    earned = DEAL_VALUE_WEI * EARN_WAD // 10**18
    assert [e["data"] | {"at": 0} for e in by_type["loyalty.points_awarded"]] == [
        {"invoice_id": invoice_id, "points": str(earned), "at": 0}
    ]
    discount = REDEEMED_POINTS * REDEEM_WAD // 10**18
    assert [e["data"] | {"at": 0} for e in by_type["loyalty.points_redeemed"]] == [
        {
            "invoice_id": refunded_id,
            "points": str(REDEEMED_POINTS),
            "currency": None,
            "discount_base_units": str(discount),
            "at": 0,
        }
    ]
    assert [e["data"] | {"at": 0} for e in by_type["loyalty.points_restored"]] == [
        {"invoice_id": refunded_id, "points": str(REDEEMED_POINTS), "at": 0}
    ]
    (accepted,) = by_type["offer.accepted"]
    assert accepted["data"] | {"at": 0, "digest": None, "nonce": None} == {
        "deal_id": offer_deal_id,
        "customer_id": customer_id,
        "issuer": staff.manager.address,
        "nonce": None,
        "digest": None,
        "discount_bps": DISCOUNT_BPS,
        "uses": 1,
        "at": 0,
    }
    assert re.fullmatch("0x[0-9a-f]{64}", accepted["data"]["digest"]) and accepted["data"]["nonce"].isdigit()
    assert [e["data"] | {"at": 0} for e in by_type["offer.cancelled"]] == [
        {"issuer": staff.manager.address, "nonce": str(withdrawn.nonce), "at": 0}
    ]
    paid_event = next(e for e in by_type["invoice.paid"] if e["data"]["invoice_id"] == invoice_id)
    assert paid_event["data"] | {"at": 0} == {
        "invoice_id": invoice_id,
        "amount_wei": str(DEAL_VALUE_WEI),
        "currency": None,
        "amount_base_units": str(DEAL_VALUE_WEI),
        "treasury": treasury,
        "at": 0,
    }
    paid_log = _log_index(paid, "InvoicePaid", crm)
    assert paid_event["id"] == f"{chain.chain_id}:{paid['transactionHash'].to_0x_hex()}:{paid_log}"
    assert (paid_event["tx_hash"], paid_event["log_index"], paid_event["block_number"]) == (
        paid["transactionHash"].to_0x_hex(),
        paid_log,
        paid["blockNumber"],
    )
    eth = {"currency": None, "amount_base_units": str(DEAL_VALUE_WEI)}
    assert [e["data"] | {"at": 0} for e in by_type["invoice.released"]] == [
        {"invoice_id": invoice_id, "amount_wei": str(DEAL_VALUE_WEI), **eth, "treasury": treasury, "at": 0}
    ]
    after_points = str(DEAL_VALUE_WEI - discount)  # what was paid, and so credited back
    assert [e["data"] | {"at": 0} for e in by_type["invoice.refunded"]] == [
        {
            "invoice_id": refunded_id,
            "amount_wei": after_points,
            "currency": None,
            "amount_base_units": after_points,
            "at": 0,
        }
    ]
    assert [e["data"] | {"at": 0} for e in by_type["consent.changed"]] == [
        {"customer_id": customer_id, "purpose": "marketing", "granted": True, "at": 0}
    ]
    (overdue,) = [e for e in by_type["invoice.overdue"] if e["data"]["invoice_id"] == overdue_id]
    assert overdue["id"] == f"{chain.chain_id}:invoice.overdue:{overdue_id}"
    assert overdue["data"] == {
        "invoice_id": overdue_id,
        "deal_id": overdue_deal_id,
        "customer_id": customer_id,
        "amount_wei": str(DEAL_VALUE_WEI),
        "currency": None,
        "amount_base_units": str(DEAL_VALUE_WEI),
        "due_at": due_at,
        "at": due_at + 1,
    }
    assert (overdue["tx_hash"], overdue["log_index"]) == (None, None)
    for event in events:
        if event["type"] != "invoice.overdue":
            assert event["created"] == event["data"]["at"] == _block_time(chain, event["block_number"])
        assert event["chain_id"] == chain.chain_id
    assert staff.customer.address not in json.dumps(events)  # the customer's wallet never leaves


def test_an_event_is_sent_once_it_is_the_confirmations_deep_signed_under_the_endpoints_secret(
    hooks: Hooks, chain: Chain, crm: Crm, staff: Staff
) -> None:
    dispatcher = hooks.new_dispatcher(confirmations=2)
    with scripted() as receiver:
        endpoint = hooks.subscribe(receiver.url, "customer.registered")
        hooks.sync(dispatcher)
        customer_id = register(crm, staff)

        at_head = hooks.sync(dispatcher)
        mine(chain)
        one_deep = hooks.sync(dispatcher)
        mine(chain)
        two_deep = hooks.sync(dispatcher)

    assert (at_head.attempted, one_deep.attempted, two_deep.attempted) == (0, 0, 1)
    (request,) = receiver.requests
    event = json.loads(request.body)
    assert (event["type"], event["data"]["customer_id"]) == ("customer.registered", customer_id)
    assert request.headers[EVENT_ID_HEADER] == event["id"]
    assert request.headers["Content-Type"] == "application/json"
    assert verify(endpoint.secret, request.body, request.headers[SIGNATURE_HEADER])
    assert request.path == "/hooks"


def test_the_readme_receiver_handles_a_delivery_signed_with_its_secret_and_refuses_another(
    hooks: Hooks, crm: Crm, staff: Staff
) -> None:
    with example_receiver() as receiver:
        endpoint = hooks.subscribe(receiver.url, "customer.registered")
        other = hooks.subscribe(receiver.url.replace("/hooks", "/other"), "customer.registered")
        receiver.verifying_with(endpoint.secret)
        hooks.start()
        customer_id = register(crm, staff)

        hooks.sync()

    assert [event["data"]["customer_id"] for event in receiver.events] == [customer_id]
    rows = {row["endpoint_id"]: row for row in hooks.delivery_rows()}
    assert (rows[endpoint.id]["status"], rows[endpoint.id]["last_status_code"]) == ("delivered", 200)
    refused = rows[other.id]  # signed with another endpoint's secret
    assert (refused["status"], refused["last_status_code"], refused["last_error"]) == ("pending", 400, "HTTP 400")


def test_an_endpoint_receives_only_the_types_it_subscribed_to(hooks: Hooks, crm: Crm, staff: Staff) -> None:
    with scripted() as deals, scripted() as customers:
        hooks.subscribe(deals.url, "deal.opened")
        hooks.subscribe(customers.url, "customer.registered")
        hooks.start()
        customer_id = register(crm, staff)
        deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, DEAL_VALUE_WEI, staff.agent)

        hooks.sync()

    assert [(json.loads(r.body)["type"], json.loads(r.body)["data"]["deal_id"]) for r in deals.requests] == [
        ("deal.opened", deal_id)
    ]
    assert [json.loads(r.body)["data"]["customer_id"] for r in customers.requests] == [customer_id]


def test_a_batched_interaction_log_gives_one_event_per_record_with_its_position(
    hooks: Hooks, chain: Chain, crm: Crm, staff: Staff
) -> None:
    customer_id = register(crm, staff)
    with scripted() as receiver:
        hooks.subscribe(receiver.url, "interaction.logged")
        hooks.start()
        receipt = crm.registry.log_interactions([entry(customer_id) for _ in range(3)], staff.agent)

        hooks.sync()

    events = sorted((json.loads(request.body) for request in receiver.requests), key=lambda e: e["data"]["position"])
    prefix = f"{chain.chain_id}:{receipt['transactionHash'].to_0x_hex()}:"
    assert [(e["id"].removeprefix(prefix).split(":")[1], e["data"]["position"]) for e in events] == [
        ("0", 0),
        ("1", 1),
        ("2", 2),
    ]


def test_a_removed_endpoint_receives_nothing_more(hooks: Hooks, crm: Crm, staff: Staff) -> None:
    with scripted() as receiver:
        endpoint = hooks.subscribe(receiver.url, "customer.registered")
        hooks.start()
        register(crm, staff)
        hooks.store.remove_endpoint(endpoint.id)

        report = hooks.sync()

    assert (report.collected, report.attempted, receiver.requests) == (0, 0, [])


def test_an_endpoint_added_later_is_not_sent_an_event_found_again_by_a_rescan(
    hooks: Hooks, crm: Crm, staff: Staff
) -> None:
    with scripted() as early, scripted() as late:
        hooks.subscribe(early.url, "customer.registered")
        hooks.start()
        start = hooks.chain.block_number()
        customer_id = register(crm, staff)
        hooks.sync()
        hooks.subscribe(late.url, "customer.registered")
        with hooks.integration.begin() as conn:  # what a reorg check does: scan again from an earlier block
            conn.execute(update(tables.state).values(last_scanned_block=start, last_scanned_hash=None))

        hooks.sync()

    assert [json.loads(r.body)["data"]["customer_id"] for r in early.requests] == [customer_id]
    assert late.requests == []
