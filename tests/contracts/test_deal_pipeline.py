"""DealPipeline: who opens deals, the stage machine, losing, reassigning, documents, construction.

Reaching Won (invoicing, the approval threshold) and re-issuing invoices are in
test_pipeline_invoicing.py.
"""

from __future__ import annotations

import pytest

from tests.contracts.helpers import (
    APPROVAL_THRESHOLD_WEI,
    CONTRACTING,
    DISPUTE_RESOLUTION_SECONDS,
    DISPUTE_WINDOW_SECONDS,
    LEAD,
    LOST,
    NEGOTIATION,
    ONE_ETH,
    PAYMENT_TERM_SECONDS,
    PROPOSAL,
    PURPOSE_SALES,
    QUALIFIED,
    TREASURY_DELAY_SECONDS,
    WON,
    ZERO_ADDRESS,
    ZERO_HASH,
    random_hash,
    readers_hash,
    reverts_with,
)

NONE = 0
ALL_STAGES = range(NONE, LOST + 1)
OPEN_STAGES = range(LEAD, CONTRACTING + 1)
MAX_DEAL_VALUE_WEI = 2**96 - 1
DEAL_VALUE_WEI = 5 * ONE_ETH // 10
UNKNOWN_DEAL_ID = 999
DOCUMENT_PROPOSAL, DOCUMENT_OTHER = 1, 4
REASON_PRICE, REASON_OTHER = 1, 5

# The stage machine, written out pair by pair rather than derived: one step forward or back
# between open stages, and Won only from Contracting. Lost is reached through markLost only.
ALLOWED_MOVES = frozenset(
    {
        (LEAD, QUALIFIED),
        (QUALIFIED, PROPOSAL),
        (PROPOSAL, NEGOTIATION),
        (NEGOTIATION, CONTRACTING),
        (CONTRACTING, WON),
        (QUALIFIED, LEAD),
        (PROPOSAL, QUALIFIED),
        (NEGOTIATION, PROPOSAL),
        (CONTRACTING, NEGOTIATION),
    }
)
INVALID_MOVES_FROM_OPEN_STAGES = [
    (frm, to) for frm in OPEN_STAGES for to in ALL_STAGES if (frm, to) not in ALLOWED_MOVES
]

# Fields of the Deal struct, in the order dealOf returns them.
OWNER, CUSTOMER_ID, DISCOUNT_BPS, STAGE, VALUE_WEI, INVOICE_ID, OPENED_AT, CURRENCY = range(8)


@pytest.fixture(scope="module")
def grant_access(registry, manager):
    """A manager grants `staff` access to a customer, re-sealing for the new reader set."""

    def _grant(customer_id: int, staff) -> None:
        readers = [*registry.readersOf(customer_id), staff]
        registry.grantAccess(
            customer_id, staff, PURPOSE_SALES, random_hash(), random_hash(), readers_hash(*readers), {"from": manager}
        )

    return _grant


@pytest.fixture(scope="module")
def revoke_access(registry, manager):
    """A manager revokes `staff`'s access to a customer, re-sealing without them."""

    def _revoke(customer_id: int, staff) -> None:
        readers = [reader for reader in registry.readersOf(customer_id) if reader != staff.address]
        registry.revokeAccess(
            customer_id, staff, random_hash(), random_hash(), readers_hash(*readers), {"from": manager}
        )

    return _revoke


@pytest.fixture(scope="module")
def erase(registry, manager):
    def _erase(customer_id: int) -> None:
        registry.eraseCustomer(customer_id, random_hash(), {"from": manager})

    return _erase


@pytest.fixture(scope="module")
def deal_at(pipeline, agent, customer_id):
    """One deal of `agent` for `customer_id` at each open stage, built once per module."""
    deals = {}
    for stage in OPEN_STAGES:
        deal_id = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent}).return_value
        for step in range(QUALIFIED, stage + 1):
            pipeline.moveStage(deal_id, step, {"from": agent})
        deals[stage] = deal_id
    return deals


@pytest.fixture(scope="module")
def won_deal_id(won_invoice, customer_id) -> int:
    return won_invoice(customer_id)[0]


@pytest.fixture(scope="module")
def lost_deal_id(pipeline, agent, customer_id) -> int:
    deal_id = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent}).return_value
    pipeline.markLost(deal_id, REASON_PRICE, {"from": agent})
    return deal_id


@pytest.fixture(scope="module")
def final_deal_id(won_deal_id, lost_deal_id):
    return {WON: won_deal_id, LOST: lost_deal_id}


# --- constructor -------------------------------------------------------------------------------


def test_the_pipeline_is_the_issuer_of_its_escrow(pipeline, escrow):
    assert escrow.issuer() == pipeline.address


def test_the_pipeline_exposes_its_registry_escrow_and_threshold(pipeline, registry, escrow):
    assert (pipeline.registry(), pipeline.escrow()) == (registry.address, escrow.address)
    assert pipeline.approvalThresholdWei() == APPROVAL_THRESHOLD_WEI


def test_constructor_emits_the_initial_approval_threshold(pipeline, admin):
    assert dict(pipeline.tx.events["ApprovalThresholdChanged"]) == {
        "previousWei": 0,
        "newWei": APPROVAL_THRESHOLD_WEI,
        "actor": admin.address,
    }


def test_constructor_refuses_an_escrow_issuing_for_another_pipeline(DealPipeline, registry, escrow, pipeline, admin):
    with reverts_with("EscrowIssuerMismatch", escrow, pipeline):
        DealPipeline.deploy(registry, escrow, APPROVAL_THRESHOLD_WEI, {"from": admin})


def test_constructor_refuses_an_escrow_whose_issuer_is_a_plain_account(
    DealPipeline, InvoiceEscrow, registry, admin, stranger, treasury
):
    escrow = InvoiceEscrow.deploy(
        registry,
        stranger,
        treasury,
        DISPUTE_WINDOW_SECONDS,
        PAYMENT_TERM_SECONDS,
        DISPUTE_RESOLUTION_SECONDS,
        TREASURY_DELAY_SECONDS,
        {"from": admin},
    )

    with reverts_with("EscrowIssuerMismatch", escrow, stranger):
        DealPipeline.deploy(registry, escrow, APPROVAL_THRESHOLD_WEI, {"from": admin})


# --- openDeal ----------------------------------------------------------------------------------


def test_agent_with_a_grant_opens_a_deal_at_lead(pipeline, agent, customer_id):
    tx = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent})

    deal = tuple(pipeline.dealOf(tx.return_value))
    assert deal == (agent.address, customer_id, 0, LEAD, DEAL_VALUE_WEI, 0, tx.timestamp, ZERO_ADDRESS)


def test_opening_a_deal_counts_deals_one_by_one(pipeline, agent, customer_id):
    count_before = pipeline.dealCount()

    tx = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent})

    assert tx.return_value == count_before + 1
    assert pipeline.dealCount() == count_before + 1


def test_opening_a_deal_emits_deal_opened(pipeline, agent, customer_id):
    tx = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent})

    assert dict(tx.events["DealOpened"]) == {
        "dealId": tx.return_value,
        "customerId": customer_id,
        "owner": agent.address,
        "valueWei": DEAL_VALUE_WEI,
        "actor": agent.address,
    }


def test_opening_a_deal_emits_a_stage_change_from_none_to_lead(pipeline, agent, customer_id):
    tx = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent})

    assert dict(tx.events["DealStageChanged"]) == {
        "dealId": tx.return_value,
        "from": NONE,
        "to": LEAD,
        "actor": agent.address,
        "at": tx.timestamp,
    }


def test_a_new_deal_has_no_invoices(pipeline, agent, customer_id):
    tx = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent})

    assert list(pipeline.invoicesOf(tx.return_value)) == []


def test_manager_without_a_grant_opens_a_deal_owned_by_an_agent_with_one(
    pipeline, registry, agent, manager, customer_id
):
    assert not registry.hasActiveGrant(customer_id, manager)

    tx = pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": manager})

    assert pipeline.dealOf(tx.return_value)[OWNER] == agent.address
    assert tx.events["DealOpened"]["actor"] == manager.address


def test_agent_opens_a_deal_owned_by_another_agent_with_a_grant(pipeline, agent, agent2, customer_id, grant_access):
    grant_access(customer_id, agent2)

    tx = pipeline.openDeal(customer_id, agent2, DEAL_VALUE_WEI, {"from": agent})

    assert pipeline.dealOf(tx.return_value)[OWNER] == agent2.address


@pytest.mark.parametrize("caller", ["agent", "manager"])
def test_a_deal_owner_without_a_grant_is_refused(request, pipeline, agent2, customer_id, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("DealOwnerWithoutAccess", customer_id, agent2):
        pipeline.openDeal(customer_id, agent2, DEAL_VALUE_WEI, {"from": account})


def test_an_agent_without_a_grant_cannot_open_a_deal(pipeline, agent, agent2, customer_id):
    with reverts_with("CallerWithoutAccess", customer_id, agent2):
        pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent2})


def test_an_agent_without_a_grant_cannot_open_a_deal_for_itself(pipeline, agent2, customer_id):
    with reverts_with("CallerWithoutAccess", customer_id, agent2):
        pipeline.openDeal(customer_id, agent2, DEAL_VALUE_WEI, {"from": agent2})


def test_an_agent_whose_grant_was_revoked_cannot_open_a_deal(pipeline, agent, customer_id, revoke_access):
    revoke_access(customer_id, agent)

    with reverts_with("CallerWithoutAccess", customer_id, agent):
        pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": agent})


def test_a_deal_may_be_worth_the_largest_uint96(pipeline, agent, customer_id):
    tx = pipeline.openDeal(customer_id, agent, MAX_DEAL_VALUE_WEI, {"from": agent})

    assert pipeline.dealOf(tx.return_value)[VALUE_WEI] == MAX_DEAL_VALUE_WEI


@pytest.mark.parametrize("caller", ["stranger", "auditor", "customer", "admin"])
def test_opening_a_deal_is_refused_to_non_staff_and_auditors(request, pipeline, registry, agent, customer_id, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
        pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": account})


@pytest.mark.parametrize("owner", ["manager", "auditor", "stranger", "customer"])
def test_a_deal_owner_must_be_an_agent(request, pipeline, agent, customer_id, owner):
    account = request.getfixturevalue(owner)

    with reverts_with("DealOwnerNotAgent", account):
        pipeline.openDeal(customer_id, account, DEAL_VALUE_WEI, {"from": agent})


@pytest.mark.parametrize("value", [0, MAX_DEAL_VALUE_WEI + 1, 2**256 - 1], ids=["zero", "above-uint96", "max-uint256"])
def test_opening_a_deal_with_an_invalid_value_reverts(pipeline, agent, customer_id, value):
    with reverts_with("DealValueInvalid", value, MAX_DEAL_VALUE_WEI):
        pipeline.openDeal(customer_id, agent, value, {"from": agent})


@pytest.mark.parametrize("unknown_id", [0, 999, 2**64], ids=["zero", "not-yet", "above-uint64"])
def test_opening_a_deal_for_an_unknown_customer_reverts(pipeline, agent, unknown_id):
    with reverts_with("CustomerUnknown", unknown_id):
        pipeline.openDeal(unknown_id, agent, DEAL_VALUE_WEI, {"from": agent})


@pytest.mark.parametrize("caller", ["agent", "manager"])
def test_opening_a_deal_for_an_erased_customer_reverts(request, pipeline, agent, customer_id, erase, caller):
    erase(customer_id)

    with reverts_with("CustomerIsErased", customer_id):
        pipeline.openDeal(customer_id, agent, DEAL_VALUE_WEI, {"from": request.getfixturevalue(caller)})


# --- canMove: the whole table ------------------------------------------------------------------


def test_can_move_matches_the_stage_machine_for_every_pair_of_stages(pipeline):
    table = [(frm, to) for frm in ALL_STAGES for to in ALL_STAGES]

    answers = {(frm, to): pipeline.canMove(frm, to) for frm, to in table}

    mismatches = [
        (frm, to, answer) for (frm, to), answer in answers.items() if answer is not ((frm, to) in ALLOWED_MOVES)
    ]
    assert mismatches == []
    assert len(answers) == 64


# --- moveStage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("frm, to", sorted(m for m in ALLOWED_MOVES if m[1] != WON))
def test_owner_makes_every_allowed_move_between_open_stages(pipeline, agent, deal_at, frm, to):
    deal_id = deal_at[frm]

    pipeline.moveStage(deal_id, to, {"from": agent})

    assert pipeline.dealOf(deal_id)[STAGE] == to


def test_moving_a_stage_emits_deal_stage_changed(pipeline, agent, deal_at):
    deal_id = deal_at[NEGOTIATION]

    tx = pipeline.moveStage(deal_id, PROPOSAL, {"from": agent})

    assert dict(tx.events["DealStageChanged"]) == {
        "dealId": deal_id,
        "from": NEGOTIATION,
        "to": PROPOSAL,
        "actor": agent.address,
        "at": tx.timestamp,
    }


def test_moving_between_open_stages_issues_no_invoice(pipeline, escrow, agent, deal_at):
    invoices_before = escrow.invoiceCount()

    tx = pipeline.moveStage(deal_at[NEGOTIATION], CONTRACTING, {"from": agent})

    assert "DealInvoiced" not in tx.events
    assert escrow.invoiceCount() == invoices_before


def test_manager_moves_any_agents_deal(pipeline, manager, deal_at):
    deal_id = deal_at[LEAD]

    tx = pipeline.moveStage(deal_id, QUALIFIED, {"from": manager})

    assert pipeline.dealOf(deal_id)[STAGE] == QUALIFIED
    assert tx.events["DealStageChanged"]["actor"] == manager.address


def test_every_invalid_transition_from_an_open_stage_reverts(pipeline, agent, deal_at):
    # One table, 31 (from, to) pairs: every stage 0..7 not in ALLOWED_MOVES, from each open stage.
    assert len(INVALID_MOVES_FROM_OPEN_STAGES) == 31

    for frm, to in INVALID_MOVES_FROM_OPEN_STAGES:
        deal_id = deal_at[frm]
        with reverts_with("DealStageTransitionInvalid", deal_id, frm, to):
            pipeline.moveStage(deal_id, to, {"from": agent})

    assert [pipeline.dealOf(deal_at[stage])[STAGE] for stage in OPEN_STAGES] == list(OPEN_STAGES)


@pytest.mark.parametrize("code", [LOST + 1, 255], ids=["one-past-lost", "max-uint8"])
def test_moving_to_a_stage_code_outside_the_enum_reverts(pipeline, agent, deal_at, code):
    with reverts_with("DealStageInvalid", code):
        pipeline.moveStage(deal_at[LEAD], code, {"from": agent})


def test_a_stage_code_outside_the_enum_is_refused_before_the_deal_is_looked_up(pipeline, agent):
    with reverts_with("DealStageInvalid", 255):
        pipeline.moveStage(UNKNOWN_DEAL_ID, 255, {"from": agent})


def test_a_manager_cannot_skip_a_stage_either(pipeline, manager, deal_at):
    deal_id = deal_at[LEAD]

    with reverts_with("DealStageTransitionInvalid", deal_id, LEAD, PROPOSAL):
        pipeline.moveStage(deal_id, PROPOSAL, {"from": manager})


@pytest.mark.parametrize("caller", ["agent2", "stranger", "auditor", "customer", "admin"])
def test_moving_is_refused_to_anyone_but_the_owner_or_a_manager(request, pipeline, deal_at, caller):
    account = request.getfixturevalue(caller)
    deal_id = deal_at[LEAD]

    with reverts_with("CallerNotDealOwnerOrManager", deal_id, account):
        pipeline.moveStage(deal_id, QUALIFIED, {"from": account})


def test_another_agent_with_a_grant_still_cannot_move_the_deal(pipeline, agent2, customer_id, deal_at, grant_access):
    grant_access(customer_id, agent2)
    deal_id = deal_at[LEAD]

    with reverts_with("CallerNotDealOwnerOrManager", deal_id, agent2):
        pipeline.moveStage(deal_id, QUALIFIED, {"from": agent2})


def test_an_owner_who_lost_the_agent_role_can_no_longer_move_the_deal(pipeline, registry, admin, agent, deal_at):
    deal_id = deal_at[LEAD]
    registry.revokeRole(registry.AGENT_ROLE(), agent, {"from": admin})

    with reverts_with("CallerNotDealOwnerOrManager", deal_id, agent):
        pipeline.moveStage(deal_id, QUALIFIED, {"from": agent})


def test_an_owner_whose_grant_was_revoked_can_no_longer_move_the_deal(
    pipeline, agent, customer_id, deal_at, revoke_access
):
    deal_id = deal_at[LEAD]
    revoke_access(customer_id, agent)

    with reverts_with("CallerNotDealOwnerOrManager", deal_id, agent):
        pipeline.moveStage.call(deal_id, QUALIFIED, {"from": agent})
    with reverts_with("CallerNotDealOwnerOrManager", deal_id, agent):
        pipeline.markLost.call(deal_id, 1, {"from": agent})


def test_the_owner_of_a_deal_of_an_erased_customer_is_told_of_the_erasure(pipeline, agent, customer_id, deal_at, erase):
    erase(customer_id)

    with reverts_with("CustomerIsErased", customer_id):
        pipeline.markLost.call(deal_at[LEAD], REASON_PRICE, {"from": agent})


def test_moving_an_unknown_deal_reverts(pipeline, agent):
    with reverts_with("DealUnknown", UNKNOWN_DEAL_ID):
        pipeline.moveStage(UNKNOWN_DEAL_ID, QUALIFIED, {"from": agent})


@pytest.mark.parametrize("final", [WON, LOST], ids=["won", "lost"])
@pytest.mark.parametrize("to", [LEAD, NEGOTIATION, CONTRACTING, WON], ids=["lead", "negotiation", "contracting", "won"])
def test_moving_a_final_deal_reverts(pipeline, manager, final_deal_id, final, to):
    deal_id = final_deal_id[final]

    with reverts_with("DealIsFinal", deal_id, final):
        pipeline.moveStage(deal_id, to, {"from": manager})


@pytest.mark.parametrize("caller", ["agent", "manager"])
def test_moving_a_deal_of_an_erased_customer_reverts(request, pipeline, customer_id, deal_at, erase, caller):
    erase(customer_id)

    with reverts_with("CustomerIsErased", customer_id):
        pipeline.moveStage(deal_at[LEAD], QUALIFIED, {"from": request.getfixturevalue(caller)})


# --- markLost ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", OPEN_STAGES)
def test_owner_marks_a_deal_lost_from_every_open_stage(pipeline, agent, deal_at, stage):
    deal_id = deal_at[stage]

    pipeline.markLost(deal_id, REASON_PRICE, {"from": agent})

    assert pipeline.dealOf(deal_id)[STAGE] == LOST


def test_marking_lost_emits_the_stage_change(pipeline, agent, deal_at):
    deal_id = deal_at[PROPOSAL]

    tx = pipeline.markLost(deal_id, REASON_PRICE, {"from": agent})

    assert dict(tx.events["DealStageChanged"]) == {
        "dealId": deal_id,
        "from": PROPOSAL,
        "to": LOST,
        "actor": agent.address,
        "at": tx.timestamp,
    }


@pytest.mark.parametrize("reason", range(REASON_PRICE, REASON_OTHER + 1))
def test_marking_lost_emits_deal_lost_with_every_valid_reason(pipeline, agent, deal_at, reason):
    deal_id = deal_at[PROPOSAL]

    tx = pipeline.markLost(deal_id, reason, {"from": agent})

    assert dict(tx.events["DealLost"]) == {"dealId": deal_id, "reason": reason, "actor": agent.address}


@pytest.mark.parametrize("reason", [0, REASON_OTHER + 1, 255], ids=["zero", "one-past-other", "max-uint8"])
def test_marking_lost_with_an_invalid_reason_reverts(pipeline, agent, deal_at, reason):
    with reverts_with("LossReasonInvalid", reason):
        pipeline.markLost(deal_at[PROPOSAL], reason, {"from": agent})

    assert pipeline.dealOf(deal_at[PROPOSAL])[STAGE] == PROPOSAL


def test_marking_lost_issues_no_invoice(pipeline, escrow, agent, deal_at):
    deal_id = deal_at[CONTRACTING]
    invoices_before = escrow.invoiceCount()

    pipeline.markLost(deal_id, REASON_PRICE, {"from": agent})

    assert escrow.invoiceCount() == invoices_before
    assert pipeline.dealOf(deal_id)[INVOICE_ID] == 0


def test_manager_marks_any_agents_deal_lost(pipeline, manager, deal_at):
    deal_id = deal_at[LEAD]

    tx = pipeline.markLost(deal_id, REASON_PRICE, {"from": manager})

    assert pipeline.dealOf(deal_id)[STAGE] == LOST
    assert tx.events["DealLost"]["actor"] == manager.address


def test_a_deal_of_an_erased_customer_can_still_be_closed_as_lost_by_a_manager(
    pipeline, manager, customer_id, deal_at, erase
):
    erase(customer_id)

    pipeline.markLost(deal_at[LEAD], REASON_PRICE, {"from": manager})

    assert pipeline.dealOf(deal_at[LEAD])[STAGE] == LOST


@pytest.mark.parametrize("caller", ["agent2", "stranger", "customer", "auditor", "admin"])
def test_marking_lost_is_refused_to_anyone_but_the_owner_or_a_manager(request, pipeline, deal_at, caller):
    account = request.getfixturevalue(caller)
    deal_id = deal_at[LEAD]

    with reverts_with("CallerNotDealOwnerOrManager", deal_id, account):
        pipeline.markLost(deal_id, REASON_PRICE, {"from": account})


def test_marking_an_unknown_deal_lost_reverts(pipeline, agent):
    with reverts_with("DealUnknown", UNKNOWN_DEAL_ID):
        pipeline.markLost(UNKNOWN_DEAL_ID, REASON_PRICE, {"from": agent})


@pytest.mark.parametrize("final", [WON, LOST], ids=["won", "lost"])
def test_marking_a_final_deal_lost_reverts(pipeline, manager, final_deal_id, final):
    deal_id = final_deal_id[final]

    with reverts_with("DealIsFinal", deal_id, final):
        pipeline.markLost(deal_id, REASON_PRICE, {"from": manager})


# --- reassign ----------------------------------------------------------------------------------


@pytest.fixture
def agent2_with_grant(agent2, customer_id, grant_access):
    grant_access(customer_id, agent2)
    return agent2


def test_manager_reassigns_a_deal_to_another_agent_with_a_grant(pipeline, manager, agent2_with_grant, deal_at):
    deal_id = deal_at[PROPOSAL]

    pipeline.reassign(deal_id, agent2_with_grant, {"from": manager})

    assert pipeline.dealOf(deal_id)[OWNER] == agent2_with_grant.address


def test_reassigning_emits_deal_reassigned(pipeline, manager, agent, agent2_with_grant, deal_at):
    deal_id = deal_at[PROPOSAL]

    tx = pipeline.reassign(deal_id, agent2_with_grant, {"from": manager})

    assert dict(tx.events["DealReassigned"]) == {
        "dealId": deal_id,
        "previousOwner": agent.address,
        "newOwner": agent2_with_grant.address,
        "actor": manager.address,
    }


def test_reassigning_keeps_the_stage(pipeline, manager, agent2_with_grant, deal_at):
    deal_id = deal_at[PROPOSAL]

    pipeline.reassign(deal_id, agent2_with_grant, {"from": manager})

    assert pipeline.dealOf(deal_id)[STAGE] == PROPOSAL


def test_after_reassigning_the_new_owner_may_move_the_deal(pipeline, manager, agent2_with_grant, deal_at):
    deal_id = deal_at[PROPOSAL]
    pipeline.reassign(deal_id, agent2_with_grant, {"from": manager})

    pipeline.moveStage(deal_id, NEGOTIATION, {"from": agent2_with_grant})

    assert pipeline.dealOf(deal_id)[STAGE] == NEGOTIATION


def test_after_reassigning_the_previous_owner_may_not_move_the_deal(
    pipeline, manager, agent, agent2_with_grant, deal_at
):
    deal_id = deal_at[PROPOSAL]
    pipeline.reassign(deal_id, agent2_with_grant, {"from": manager})

    with reverts_with("CallerNotDealOwnerOrManager", deal_id, agent):
        pipeline.moveStage(deal_id, NEGOTIATION, {"from": agent})


def test_reassigning_to_an_agent_without_a_grant_reverts(pipeline, manager, agent2, customer_id, deal_at):
    with reverts_with("DealOwnerWithoutAccess", customer_id, agent2):
        pipeline.reassign(deal_at[LEAD], agent2, {"from": manager})


@pytest.mark.parametrize("caller", ["agent", "agent2", "admin", "stranger"])
def test_reassigning_is_refused_to_non_managers(request, pipeline, registry, agent2_with_grant, deal_at, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.MANAGER_ROLE()):
        pipeline.reassign(deal_at[LEAD], agent2_with_grant, {"from": account})


@pytest.mark.parametrize("new_owner", ["manager", "stranger", ZERO_ADDRESS], ids=["manager", "stranger", "zero"])
def test_reassigning_to_a_non_agent_reverts(request, pipeline, manager, deal_at, new_owner):
    account = new_owner if new_owner == ZERO_ADDRESS else request.getfixturevalue(new_owner)

    with reverts_with("DealOwnerNotAgent", account):
        pipeline.reassign(deal_at[LEAD], account, {"from": manager})


def test_reassigning_an_unknown_deal_reverts(pipeline, manager, agent2):
    with reverts_with("DealUnknown", UNKNOWN_DEAL_ID):
        pipeline.reassign(UNKNOWN_DEAL_ID, agent2, {"from": manager})


@pytest.mark.parametrize("final", [WON, LOST], ids=["won", "lost"])
def test_reassigning_a_final_deal_reverts(pipeline, manager, agent2_with_grant, final_deal_id, final):
    deal_id = final_deal_id[final]

    with reverts_with("DealIsFinal", deal_id, final):
        pipeline.reassign(deal_id, agent2_with_grant, {"from": manager})


def test_a_deal_of_an_erased_customer_cannot_be_reassigned(
    pipeline, manager, agent2_with_grant, customer_id, deal_at, erase
):
    erase(customer_id)  # erasure ends every grant, so no agent qualifies as owner any more

    with reverts_with("DealOwnerWithoutAccess", customer_id, agent2_with_grant):
        pipeline.reassign(deal_at[LEAD], agent2_with_grant, {"from": manager})


# --- attachDocument ----------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["agent", "manager"])
def test_owner_or_manager_attaches_a_document(request, pipeline, deal_at, caller):
    account = request.getfixturevalue(caller)
    deal_id = deal_at[PROPOSAL]
    content_hash, cid_digest = random_hash(), random_hash()

    tx = pipeline.attachDocument(deal_id, DOCUMENT_PROPOSAL, content_hash, cid_digest, {"from": account})

    event = tx.events["DealDocumentAttached"]
    assert (event["dealId"], event["documentKind"], event["actor"]) == (deal_id, DOCUMENT_PROPOSAL, account.address)
    assert (bytes(event["contentHash"]), bytes(event["cidDigest"])) == (content_hash, cid_digest)


@pytest.mark.parametrize("kind", range(DOCUMENT_PROPOSAL, DOCUMENT_OTHER + 1))
def test_every_valid_document_kind_is_accepted(pipeline, agent, deal_at, kind):
    tx = pipeline.attachDocument(deal_at[LEAD], kind, random_hash(), random_hash(), {"from": agent})

    assert tx.events["DealDocumentAttached"]["documentKind"] == kind


@pytest.mark.parametrize("kind", [0, DOCUMENT_OTHER + 1, 255], ids=["zero", "one-past-other", "max-uint8"])
def test_attaching_a_document_of_an_invalid_kind_reverts(pipeline, agent, deal_at, kind):
    with reverts_with("DocumentKindInvalid", kind):
        pipeline.attachDocument(deal_at[LEAD], kind, random_hash(), random_hash(), {"from": agent})


@pytest.mark.parametrize("final", [WON, LOST], ids=["won", "lost"])
def test_a_document_may_be_attached_to_a_final_deal(pipeline, agent, final_deal_id, final):
    deal_id = final_deal_id[final]

    tx = pipeline.attachDocument(deal_id, DOCUMENT_PROPOSAL, random_hash(), random_hash(), {"from": agent})

    assert tx.events["DealDocumentAttached"]["dealId"] == deal_id


@pytest.mark.parametrize("caller", ["agent2", "stranger", "customer", "auditor", "admin"])
def test_attaching_is_refused_to_anyone_but_the_owner_or_a_manager(request, pipeline, deal_at, caller):
    account = request.getfixturevalue(caller)
    deal_id = deal_at[LEAD]

    with reverts_with("CallerNotDealOwnerOrManager", deal_id, account):
        pipeline.attachDocument(deal_id, DOCUMENT_PROPOSAL, random_hash(), random_hash(), {"from": account})


@pytest.mark.parametrize(
    "content_hash, cid_digest",
    [(ZERO_HASH, b"\x01" * 32), (b"\x01" * 32, ZERO_HASH), (ZERO_HASH, ZERO_HASH)],
    ids=["no-content-hash", "no-cid-digest", "neither"],
)
def test_attaching_without_both_hashes_reverts(pipeline, agent, deal_at, content_hash, cid_digest):
    with reverts_with("DocumentHashMissing"):
        pipeline.attachDocument(deal_at[LEAD], DOCUMENT_PROPOSAL, content_hash, cid_digest, {"from": agent})


def test_attaching_to_an_unknown_deal_reverts(pipeline, agent):
    with reverts_with("DealUnknown", UNKNOWN_DEAL_ID):
        pipeline.attachDocument(UNKNOWN_DEAL_ID, DOCUMENT_PROPOSAL, random_hash(), random_hash(), {"from": agent})


@pytest.mark.parametrize("caller", ["agent", "manager"])
def test_attaching_to_a_deal_of_an_erased_customer_reverts(request, pipeline, customer_id, deal_at, erase, caller):
    erase(customer_id)

    with reverts_with("CustomerIsErased", customer_id):
        pipeline.attachDocument(
            deal_at[LEAD], DOCUMENT_PROPOSAL, random_hash(), random_hash(), {"from": request.getfixturevalue(caller)}
        )


# --- views -------------------------------------------------------------------------------------


@pytest.mark.parametrize("deal_id", [0, UNKNOWN_DEAL_ID])
def test_deal_of_an_unknown_deal_reverts(pipeline, deal_id):
    with reverts_with("DealUnknown", deal_id):
        pipeline.dealOf(deal_id)


@pytest.mark.parametrize("deal_id", [0, UNKNOWN_DEAL_ID])
def test_invoices_of_an_unknown_deal_reverts(pipeline, deal_id):
    with reverts_with("DealUnknown", deal_id):
        pipeline.invoicesOf(deal_id)
