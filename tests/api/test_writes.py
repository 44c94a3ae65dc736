"""Writes: each sends one transaction signed by the key's staff keystore, and the chain shows it;
Idempotency-Key retries send nothing more; the contract's refusals come back decoded."""

from __future__ import annotations

import uuid

import httpx

from chaincrm.api.database import open_integration
from chaincrm.api.idempotency import IdempotencyRecords, metadata, request_hash
from chaincrm.api.models import DealIn
from chaincrm.models import InvoiceStatus, LossReason, Stage
from chaincrm.privacy.notes import CustomerNotes
from tests.api.conftest import ApiServer, error_of, sent_count
from tests.portal.conftest import PATH_TO_WON, new_invoice

TX_FIELDS = {"tx_hash", "block_number", "gas_used"}


def test_logging_an_interaction_encrypts_the_note_and_logs_its_digest(
    api_server: ApiServer, agent_api: httpx.Client
) -> None:
    crm, agent = api_server.crm, api_server.accounts.agent

    answer = agent_api.post(
        "/interactions",
        json={
            "customer_id": api_server.customer_id,
            "kind": "call",
            "outcome": "follow-up",
            "note": "Call back Tuesday",
        },
    )

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == TX_FIELDS | {"customer_id", "kind", "outcome", "content_hash", "cid"}
    assert (body["customer_id"], body["kind"], body["outcome"]) == (api_server.customer_id, "call", "follow_up")
    (logged,) = crm.registry.interactions(
        api_server.customer_id, from_block=body["block_number"], to_block=body["block_number"]
    )
    assert logged.author == agent.address
    assert "0x" + logged.content_hash.hex() == body["content_hash"]
    assert logged.tx_hash == body["tx_hash"]
    note = CustomerNotes(crm, api_server.store).read_interaction(api_server.customer_id, logged.content_hash, agent)
    assert note.note == "Call back Tuesday"
    assert "Call back" not in str(crm.chain.w3.eth.get_transaction(body["tx_hash"])["input"])  # type: ignore[arg-type]


def test_an_interaction_without_a_note_seals_an_empty_one(api_server: ApiServer, agent_api: httpx.Client) -> None:
    answer = agent_api.post("/interactions", json={"customer_id": api_server.customer_id, "kind": "email"})

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["outcome"] == "none"
    note = CustomerNotes(api_server.crm, api_server.store).read_interaction(
        api_server.customer_id, bytes.fromhex(body["content_hash"][2:]), api_server.accounts.manager
    )
    assert (note.note, note.attachments) == ("", ())


def test_opening_a_deal_opens_it_on_chain_for_the_keys_staff(api_server: ApiServer, agent_api: httpx.Client) -> None:
    answer = agent_api.post("/deals", json={"customer_id": api_server.customer_id, "value_wei": str(3 * 10**18)})

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == TX_FIELDS | {"deal_id", "stage", "invoice_id"}
    deal = api_server.crm.pipeline.deal(body["deal_id"])
    assert (deal.customer_id, deal.owner, deal.value_wei, deal.stage) == (
        api_server.customer_id,
        api_server.accounts.agent.address,
        3 * 10**18,
        Stage.LEAD,
    )
    assert (body["stage"], body["invoice_id"]) == ("lead", None)


def test_moving_a_deal_to_won_issues_its_invoice(api_server: ApiServer, agent_api: httpx.Client) -> None:
    crm = api_server.crm
    deal_id = crm.pipeline.open_deal(
        api_server.customer_id, api_server.accounts.agent.address, 10**18, api_server.accounts.agent
    )

    answers = [agent_api.post(f"/deals/{deal_id}/stage", json={"stage": stage.label}) for stage in PATH_TO_WON]

    assert [a.status_code for a in answers] == [200] * len(PATH_TO_WON)
    assert [a.json()["stage"] for a in answers] == ["qualified", "proposal", "negotiation", "contracting", "won"]
    deal = crm.pipeline.deal(deal_id)
    assert deal.stage is Stage.WON
    assert answers[-1].json()["invoice_id"] == deal.invoice_id is not None
    assert answers[0].json()["invoice_id"] is None
    changes = crm.pipeline.stage_changes(deal_id)
    assert [c.tx_hash for c in changes[1:]] == [a.json()["tx_hash"] for a in answers]


def test_marking_a_deal_lost_records_the_reason(api_server: ApiServer, agent_api: httpx.Client) -> None:
    crm = api_server.crm
    deal_id = crm.pipeline.open_deal(
        api_server.customer_id, api_server.accounts.agent.address, 10**18, api_server.accounts.agent
    )

    answer = agent_api.post(f"/deals/{deal_id}/lose", json={"reason": "competitor"})

    assert answer.status_code == 200, answer.text
    assert answer.json()["reason"] == "competitor"
    assert crm.pipeline.deal(deal_id).stage is Stage.LOST
    lost = crm.pipeline.contract.events.DealLost().get_logs(from_block=answer.json()["block_number"])
    assert [(log["args"]["dealId"], log["args"]["reason"]) for log in lost] == [(deal_id, int(LossReason.COMPETITOR))]


def test_a_manager_reissues_a_won_deals_invoice(api_server: ApiServer, manager_api: httpx.Client) -> None:
    crm = api_server.crm
    old = new_invoice(crm, api_server.customer_id, api_server.accounts.agent)
    deal_id = crm.escrow.invoice(old).deal_id

    answer = manager_api.post(f"/deals/{deal_id}/reissue")

    assert answer.status_code == 200, answer.text
    new = answer.json()["invoice_id"]
    assert new != old and crm.pipeline.deal(deal_id).invoice_id == new
    assert crm.escrow.invoice(old).status is InvoiceStatus.CANCELLED
    assert crm.escrow.invoice(new).status is InvoiceStatus.OPEN


def test_a_manager_cancels_an_open_invoice(api_server: ApiServer, manager_api: httpx.Client) -> None:
    invoice_id = new_invoice(api_server.crm, api_server.customer_id, api_server.accounts.agent)

    answer = manager_api.post(f"/invoices/{invoice_id}/cancel")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled" and answer.json()["invoice_id"] == invoice_id
    assert api_server.crm.escrow.invoice(invoice_id).status is InvoiceStatus.CANCELLED


def test_a_manager_refunds_a_paid_invoice(api_server: ApiServer, manager_api: httpx.Client) -> None:
    crm = api_server.crm
    invoice_id = new_invoice(crm, api_server.customer_id, api_server.accounts.agent)
    crm.escrow.pay(invoice_id, api_server.accounts.customer)

    answer = manager_api.post(f"/invoices/{invoice_id}/refund")

    assert answer.status_code == 200, answer.text
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.REFUNDED


def test_a_manager_releases_a_disputed_invoice_before_its_deadline(
    api_server: ApiServer, manager_api: httpx.Client
) -> None:
    crm = api_server.crm
    invoice_id = new_invoice(crm, api_server.customer_id, api_server.accounts.agent)
    crm.escrow.pay(invoice_id, api_server.accounts.customer)
    crm.escrow.dispute(invoice_id, api_server.accounts.customer)

    answer = manager_api.post(f"/invoices/{invoice_id}/release")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "released"
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.RELEASED


def test_releasing_inside_the_dispute_window_is_refused_with_the_decoded_revert(
    api_server: ApiServer, manager_api: httpx.Client
) -> None:
    crm, manager = api_server.crm, api_server.accounts.manager
    invoice_id = new_invoice(crm, api_server.customer_id, api_server.accounts.agent)
    crm.escrow.pay(invoice_id, api_server.accounts.customer)
    before = sent_count(crm, manager.address)

    answer = manager_api.post(f"/invoices/{invoice_id}/release")

    assert answer.status_code == 409
    error = error_of(answer)
    assert error["code"] == "contract_refused"
    assert isinstance(error["revert"], dict) and error["revert"]["name"] == "DisputeWindowOpen"
    assert error["revert"]["args"]["invoiceId"] == str(invoice_id)
    assert sent_count(crm, manager.address) == before


def test_a_move_the_pipeline_forbids_is_refused_and_sends_nothing(
    api_server: ApiServer, agent_api: httpx.Client
) -> None:
    crm, agent = api_server.crm, api_server.accounts.agent
    deal_id = crm.pipeline.open_deal(api_server.customer_id, agent.address, 10**18, agent)
    before = sent_count(crm, agent.address)

    answer = agent_api.post(f"/deals/{deal_id}/stage", json={"stage": "won"})

    assert answer.status_code == 409
    assert error_of(answer)["revert"] == {
        "name": "DealStageTransitionInvalid",
        "args": {"dealId": str(deal_id), "from": str(int(Stage.LEAD)), "to": str(int(Stage.WON))},
    }
    assert sent_count(crm, agent.address) == before
    assert crm.pipeline.deal(deal_id).stage is Stage.LEAD


def test_a_write_to_an_unknown_deal_or_invoice_is_404(
    api_server: ApiServer, agent_api: httpx.Client, manager_api: httpx.Client
) -> None:
    before = sent_count(api_server.crm, api_server.accounts.manager.address)

    deal = agent_api.post(f"/deals/{2**64 - 1}/stage", json={"stage": "qualified"})
    invoice = manager_api.post(f"/invoices/{2**64 - 1}/cancel")

    assert (deal.status_code, error_of(deal)["code"]) == (404, "deal_unknown")
    assert (invoice.status_code, error_of(invoice)["code"]) == (404, "invoice_unknown")
    assert sent_count(api_server.crm, api_server.accounts.manager.address) == before


# ------------------------------------------------------------------ Idempotency-Key


def test_a_retried_write_with_its_idempotency_key_sends_no_second_transaction(
    api_server: ApiServer, agent_api: httpx.Client
) -> None:
    agent = api_server.accounts.agent
    body = {"customer_id": api_server.customer_id, "value_wei": "1000"}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    before = sent_count(api_server.crm, agent.address)

    first = agent_api.post("/deals", json=body, headers=headers)
    retry = agent_api.post("/deals", json=body, headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert sent_count(api_server.crm, agent.address) == before + 1


def test_an_idempotency_key_reused_for_another_body_is_refused(api_server: ApiServer, agent_api: httpx.Client) -> None:
    agent = api_server.accounts.agent
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = agent_api.post("/deals", json={"customer_id": api_server.customer_id, "value_wei": "1000"}, headers=headers)
    before = sent_count(api_server.crm, agent.address)

    other = agent_api.post("/deals", json={"customer_id": api_server.customer_id, "value_wei": "2000"}, headers=headers)

    assert first.status_code == 201
    assert other.status_code == 409
    assert error_of(other)["code"] == "idempotency_key_reused"
    assert sent_count(api_server.crm, agent.address) == before


def test_a_retry_while_the_first_is_in_flight_is_refused(api_server: ApiServer, agent_api: httpx.Client) -> None:
    agent = api_server.accounts.agent
    key = str(uuid.uuid4())
    body = {"customer_id": api_server.customer_id, "value_wei": "1000"}
    agent_id = next(k.id for k in api_server.key_store.all() if k.name == "agent")
    records = IdempotencyRecords(
        open_integration(api_server.config.integration_database, api_server.settings.home, metadata)
    )
    records.claim(
        agent_id, key, request_hash("POST", "/api/v1/deals", DealIn.model_validate(body).model_dump(mode="json"))
    )  # as a first request still running
    before = sent_count(api_server.crm, agent.address)

    retry = agent_api.post("/deals", json=body, headers={"Idempotency-Key": key})

    assert retry.status_code == 409
    assert error_of(retry)["code"] == "idempotency_in_flight"
    assert sent_count(api_server.crm, agent.address) == before


def test_a_contract_refusal_is_replayed_for_its_idempotency_key(api_server: ApiServer, agent_api: httpx.Client) -> None:
    crm, agent = api_server.crm, api_server.accounts.agent
    deal_id = crm.pipeline.open_deal(api_server.customer_id, agent.address, 10**18, agent)
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    first = agent_api.post(f"/deals/{deal_id}/stage", json={"stage": "won"}, headers=headers)
    retry = agent_api.post(f"/deals/{deal_id}/stage", json={"stage": "won"}, headers=headers)

    assert first.status_code == retry.status_code == 409
    assert retry.json() == first.json()


def test_the_same_idempotency_key_of_two_api_keys_are_two_requests(
    api_server: ApiServer, agent_api: httpx.Client, manager_api: httpx.Client
) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"customer_id": api_server.customer_id, "value_wei": "1000", "owner": api_server.accounts.agent.address}

    by_agent = agent_api.post("/deals", json=body, headers=headers)
    by_manager = manager_api.post("/deals", json=body, headers=headers)

    assert by_agent.status_code == by_manager.status_code == 201
    assert by_agent.json()["deal_id"] != by_manager.json()["deal_id"]
