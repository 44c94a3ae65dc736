"""Read-side views built from the chain alone."""

from __future__ import annotations

import os

import pytest

from chaincrm.client import Crm
from chaincrm.models import InteractionKind, LossReason, Outcome, Purpose, Stage
from chaincrm.queries import customer_timeline, pipeline_by_stage
from chaincrm.registry import InteractionEntry
from chaincrm.reverts import revert_type
from tests.sdk.conftest import Staff


def test_a_timeline_lists_registration_interactions_and_deal_stages_in_order(
    crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = crm.registry.register_customer(os.urandom(32), os.urandom(32), None, Purpose.SALES, staff.agent)
    crm.registry.log_interaction(
        InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32)), staff.agent
    )
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, 10**18, staff.agent)
    crm.pipeline.mark_lost(deal_id, LossReason.PRICE, staff.agent)

    whats = [entry.what for entry in customer_timeline(crm, customer_id)]

    assert whats == [
        "registered",
        "profile",
        "access granted",
        "interaction: call",
        f"deal {deal_id}",
        f"deal {deal_id}",
    ]


def test_a_timeline_of_an_unknown_customer_is_a_named_error(crm: Crm) -> None:
    with pytest.raises(revert_type("CustomerUnknown")):
        customer_timeline(crm, 10_000)


def test_the_pipeline_by_stage_counts_deals_and_value(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = crm.registry.register_customer(os.urandom(32), os.urandom(32), None, Purpose.SALES, staff.agent)
    before = {row.stage: row for row in pipeline_by_stage(crm)}
    crm.pipeline.open_deal(customer_id, staff.agent.address, 3 * 10**18, staff.agent)
    moved = crm.pipeline.open_deal(customer_id, staff.agent.address, 10**18, staff.agent)
    crm.pipeline.move(moved, Stage.QUALIFIED, staff.agent)

    after = {row.stage: row for row in pipeline_by_stage(crm)}

    assert after[Stage.LEAD].deals == before[Stage.LEAD].deals + 1
    assert after[Stage.LEAD].value_wei == before[Stage.LEAD].value_wei + 3 * 10**18
    assert after[Stage.QUALIFIED].deals == before[Stage.QUALIFIED].deals + 1
