"""POST /staff/api/deals/{id}/move: signed by the staff member's keystore through the SDK; the
contract's refusal comes back decoded (409 contract_refused) and nothing is sent."""

from __future__ import annotations

from chaincrm.models import Stage
from tests.console.conftest import ConsoleServer, StaffClient, new_deal


def test_a_move_is_signed_by_the_staff_keystore_and_lands_on_chain(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    deal_id = new_deal(console_server, console_server.ada_id)

    moved = staff.move(deal_id, {"stage": "qualified"})

    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["deal"] == {
        "id": deal_id,
        "stage": "qualified",
        "owner": console_server.staff.address,
        "value_wei": str(console_server.crm.pipeline.deal(deal_id).value_wei),
        "invoice_id": None,
    }
    assert console_server.deal_stage(deal_id) is Stage.QUALIFIED
    (change,) = [c for c in console_server.crm.pipeline.stage_changes(deal_id) if c.to_stage is Stage.QUALIFIED]
    assert change.actor == console_server.staff.address
    assert change.tx_hash == body["tx_hash"]
    assert change.block_number == body["block_number"]
    assert body["gas_used"] > 0


def test_a_move_to_won_answers_the_invoice_it_issued(console_server: ConsoleServer, staff: StaffClient) -> None:
    deal_id = new_deal(console_server, console_server.bruno_id, Stage.CONTRACTING)

    moved = staff.move(deal_id, {"stage": "won"})

    assert moved.status_code == 200, moved.text
    invoice_id = console_server.crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    assert moved.json()["deal"]["invoice_id"] == invoice_id
    assert moved.json()["deal"]["stage"] == "won"


def test_a_move_that_skips_a_stage_answers_409_with_the_decoded_revert(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    deal_id = new_deal(console_server, console_server.ada_id)
    nonce = console_server.crm.chain.w3.eth.get_transaction_count(console_server.staff.address)

    refused = staff.move(deal_id, {"stage": "proposal"})

    assert refused.status_code == 409
    assert refused.json() == {
        "error": {
            "code": "contract_refused",
            "message": f"the contract refused the move: DealStageTransitionInvalid(dealId={deal_id}, from=lead, "
            "to=proposal)",
            "revert": {
                "name": "DealStageTransitionInvalid",
                "args": {"dealId": str(deal_id), "from": "lead", "to": "proposal"},
            },
        }
    }
    assert console_server.deal_stage(deal_id) is Stage.LEAD
    assert console_server.crm.chain.w3.eth.get_transaction_count(console_server.staff.address) == nonce


def test_moving_another_agents_deal_answers_the_contracts_refusal(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    deal_id = new_deal(console_server, console_server.carla_id, owner=console_server.other_agent)

    refused = staff.move(deal_id, {"stage": "qualified"})

    assert refused.status_code == 409
    assert refused.json()["error"]["revert"] == {
        "name": "CallerNotDealOwnerOrManager",
        "args": {"dealId": str(deal_id), "caller": console_server.staff.address},
    }
    assert console_server.deal_stage(deal_id) is Stage.LEAD


def test_a_lost_move_marks_the_deal_lost_with_its_reason(console_server: ConsoleServer, staff: StaffClient) -> None:
    deal_id = new_deal(console_server, console_server.ada_id, Stage.QUALIFIED)

    moved = staff.move(deal_id, {"stage": "lost", "reason": "competitor"})

    assert moved.status_code == 200, moved.text
    assert moved.json()["deal"]["stage"] == "lost"
    assert console_server.deal_stage(deal_id) is Stage.LOST


def test_bad_moves_answer_400_and_send_nothing(console_server: ConsoleServer, staff: StaffClient) -> None:
    deal_id = new_deal(console_server, console_server.ada_id)
    nonce = console_server.crm.chain.w3.eth.get_transaction_count(console_server.staff.address)

    answers = {
        "no reason for lost": staff.move(deal_id, {"stage": "lost"}),
        "reason off lost": staff.move(deal_id, {"stage": "qualified", "reason": "price"}),
        "unknown stage": staff.move(deal_id, {"stage": "closed"}),
        "extra field": staff.move(deal_id, {"stage": "qualified", "value": 1}),
        "not an object": staff.move(deal_id, ["qualified"]),
        "stage a number": staff.move(deal_id, {"stage": 2}),
        "id not digits": staff.move("x1", {"stage": "qualified"}),
        "id beyond uint64": staff.move(str(2**64), {"stage": "qualified"}),
        "body not json": staff.post(
            f"/staff/api/deals/{deal_id}/move", content=b"{", headers={"X-CSRF-Token": staff.csrf}
        ),
    }

    for what, answer in answers.items():
        assert answer.status_code == 400, what
        assert answer.json()["error"]["code"] in ("invalid_request", "invalid_id"), what
    assert console_server.deal_stage(deal_id) is Stage.LEAD
    assert console_server.crm.chain.w3.eth.get_transaction_count(console_server.staff.address) == nonce


def test_moving_an_unknown_deal_answers_the_decoded_deal_unknown(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    unknown = console_server.crm.pipeline.deal_count() + 1000

    refused = staff.move(unknown, {"stage": "qualified"})

    assert refused.status_code == 409
    assert refused.json()["error"]["revert"] == {"name": "DealUnknown", "args": {"dealId": str(unknown)}}
