"""Read-side views built from the chain alone: the timeline in chain order, purposes by name,
notes decrypted for a reader, and codes or addresses this version does not expect."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.models import InteractionKind, LossReason, Outcome, Purpose, Stage
from chaincrm.privacy import Attachment, CustomerProfile, InteractionContent
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.notes import CustomerNotes
from chaincrm.services.anvil import AnvilNode
from chaincrm.storage import KuboStore
from chaincrm.storage.node import NodeHandle
from chaincrm.views.timeline import customer_timeline, pipeline_by_stage
from tests.indexer.conftest import InjectingProvider, at_block, chain_over, craft_log, register
from tests.sdk.conftest import Staff

NOTE = "Asked for the renewal quote by Friday."


@pytest.fixture
def notes(crm: Crm, ipfs_node: NodeHandle, snapshot: None) -> Iterator[CustomerNotes]:
    with KuboStore(ipfs_node.api_addr) as store:
        yield CustomerNotes(crm, store)


def _bound_customer(data: CustomerData, staff: Staff) -> int:
    """Registered by the agent; the wallet accepted and the profile re-sealed so it can read."""
    customer_id = data.add(
        CustomerProfile(name="Ada Example"), wallet=staff.customer.address, purpose=Purpose.SALES, agent=staff.agent
    ).customer_id
    data.approve_wallet(customer_id, staff.customer.address, staff.manager)
    data.accept_wallet(customer_id, staff.customer)
    data.reseal(customer_id, staff.agent)
    return customer_id


def test_a_timeline_lists_what_the_chain_recorded_in_chain_order(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = register(crm, staff)
    crm.registry.log_interaction(
        InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32)), staff.agent
    )
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, 10**18, staff.agent)
    crm.pipeline.mark_lost(deal_id, LossReason.PRICE, staff.agent)

    entries = customer_timeline(crm, customer_id)

    assert [(e.what, e.detail) for e in entries] == [
        ("registered", ""),
        ("access granted", f"{staff.agent.address} for sales (contract)"),
        ("profile", entries[2].detail),
        ("interaction: call", "positive"),
        (f"deal {deal_id}", "opened at Lead"),
        (f"deal {deal_id}", "Lead -> Lost"),
        (f"deal {deal_id}", "lost: price"),
    ]
    assert entries[2].detail.startswith("version 1 (readers 0x")


def test_a_timeline_names_purposes_with_their_lawful_basis_and_the_wallets_acceptance(
    crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer)
    crm.registry.set_consent(customer_id, Purpose.PROFILING, True, staff.customer)

    entries = customer_timeline(crm, customer_id)

    details = [(e.what, e.detail, e.actor) for e in entries if e.what != "profile"]
    assert details[-3:] == [
        ("wallet", f"{staff.customer.address} proposed, not bound until it accepts", staff.agent.address),
        ("wallet", f"{staff.customer.address} accepted", staff.customer.address),
        ("consent given", "profiling", staff.customer.address),
    ]


def test_a_timeline_shows_a_reader_the_decrypted_note_and_attachment_names(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _bound_customer(notes.customers, staff)
    content = InteractionContent(NOTE, (Attachment("quote.pdf", b"%PDF-1.7"),))
    notes.log_interaction(customer_id, InteractionKind.EMAIL, Outcome.FOLLOW_UP, content, staff.agent)

    as_reader = customer_timeline(notes.crm, customer_id, store=notes.store, reader=staff.customer)
    without_reader = customer_timeline(notes.crm, customer_id)

    (read,) = [e for e in as_reader if e.what == "interaction: email"]
    assert read.detail == f"follow up; note: {NOTE}; attachments: quote.pdf"
    assert [e.detail for e in without_reader if e.what == "interaction: email"] == ["follow up"]


def test_a_timeline_tells_a_non_reader_why_a_note_is_unreadable(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _bound_customer(notes.customers, staff)
    notes.log_interaction(customer_id, InteractionKind.CALL, Outcome.NONE, InteractionContent(NOTE), staff.agent)

    entries = customer_timeline(notes.crm, customer_id, store=notes.store, reader=staff.stranger)

    (call,) = [e for e in entries if e.what == "interaction: call"]
    assert call.detail.startswith(f"none; note not readable: {staff.stranger.address} cannot open customer")
    assert NOTE not in call.detail


def test_a_timeline_decodes_codes_this_version_does_not_know_and_drops_foreign_logs(
    anvil_node: AnvilNode, crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    where = at_block(crm.chain.w3, crm.chain.w3.eth.block_number)
    author, stamp = staff.agent.address, where["timestamp"]
    crafted = [
        craft_log(
            "InteractionLogged",
            crm.registry.address,
            log_index=100,
            **where,
            customerId=customer_id,
            author=author,
            contentHash=b"\x01" * 32,
            kind=200,
            outcome=6,
            at=stamp,
        ),  # fmt: skip
        craft_log(
            "AccessGranted",
            crm.registry.address,
            log_index=101,
            **where,
            customerId=customer_id,
            staff=staff.agent2.address,
            purpose=9,
            actor=staff.manager.address,
        ),  # fmt: skip
        craft_log(
            "InteractionLogged",
            staff.stranger.address,
            log_index=102,
            **where,
            customerId=customer_id,
            author=author,
            contentHash=b"\x02" * 32,
            kind=1,
            outcome=1,
            at=stamp,
        ),  # fmt: skip
    ]
    lying = Crm.attach(chain_over(InjectingProvider(anvil_node.url, crafted)), crm.deployment)

    entries = customer_timeline(lying, customer_id)

    assert [(e.what, e.detail) for e in entries if e.block_number == where["block_number"]][-2:] == [
        ("interaction: unknown(200)", "unknown(6)"),
        ("access granted", f"{staff.agent2.address} for unknown(9)"),
    ]
    assert len([e for e in entries if e.what.startswith("interaction")]) == 1  # not the stranger's look-alike


def test_the_sdk_ignores_an_interaction_log_from_another_address(
    anvil_node: AnvilNode, crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    where = at_block(crm.chain.w3, crm.chain.w3.eth.block_number)
    look_alike = craft_log("InteractionLogged", staff.stranger.address, **where, customerId=customer_id,
                           author=staff.agent.address, contentHash=b"\x03" * 32, kind=1, outcome=1,
                           at=where["timestamp"])  # fmt: skip
    lying = Crm.attach(chain_over(InjectingProvider(anvil_node.url, [look_alike])), crm.deployment)

    assert lying.registry.interactions(customer_id, from_block=crm.deployment.block_number) == []


def test_a_timeline_of_an_unknown_customer_is_a_named_error(crm: Crm) -> None:
    with pytest.raises(revert_type("CustomerUnknown")):
        customer_timeline(crm, 10_000)


def test_the_pipeline_by_stage_counts_deals_and_value(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = register(crm, staff)
    before = {row.stage: row for row in pipeline_by_stage(crm)}
    crm.pipeline.open_deal(customer_id, staff.agent.address, 3 * 10**18, staff.agent)
    moved = crm.pipeline.open_deal(customer_id, staff.agent.address, 10**18, staff.agent)
    crm.pipeline.move(moved, Stage.QUALIFIED, staff.agent)

    after = {row.stage: row for row in pipeline_by_stage(crm)}

    assert after[Stage.LEAD].deals == before[Stage.LEAD].deals + 1
    assert after[Stage.LEAD].value_wei == before[Stage.LEAD].value_wei + 3 * 10**18
    assert after[Stage.QUALIFIED].deals == before[Stage.QUALIFIED].deals + 1
