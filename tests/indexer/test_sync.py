"""Following events into SQLite: every event kind, batches, timelines, and provisional rows."""

from __future__ import annotations

import threading

from sqlalchemy import select

from chaincrm import index_schema as db
from chaincrm.chain import Chain
from chaincrm.client import Crm
from chaincrm.customers import public_key64
from chaincrm.indexer import SyncReport
from chaincrm.models import CustomerStatus, InvoiceStatus, Purpose, Stage
from tests.indexer.conftest import MakeIndexer, dump, entry, register
from tests.sdk.conftest import Staff

DEAL_VALUE_WEI = 3 * 10**18


def test_a_won_deal_and_its_paid_invoice_become_rows(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer.address)
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, DEAL_VALUE_WEI, staff.agent)
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        crm.pipeline.move(deal_id, stage, staff.agent)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    crm.escrow.pay(invoice_id, staff.customer)

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    with indexer.engine.connect() as conn:
        deal = conn.execute(select(db.deals).where(db.deals.c.id == deal_id)).mappings().one()
        invoice = conn.execute(select(db.invoices).where(db.invoices.c.id == invoice_id)).mappings().one()
        stages = (
            conn.execute(
                select(db.stage_changes.c.to_stage)
                .where(db.stage_changes.c.deal_id == deal_id)
                .order_by(db.stage_changes.c.block_number, db.stage_changes.c.log_index)
            )
            .scalars()
            .all()
        )
    assert (deal["stage"], deal["value_wei"], deal["invoice_id"]) == (Stage.WON, DEAL_VALUE_WEI, invoice_id)
    assert deal["closed_at"] is not None
    assert stages == [Stage.LEAD, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON]
    assert (invoice["status"], invoice["payer"], invoice["amount_wei"]) == (
        InvoiceStatus.PAID,
        staff.customer.address,
        DEAL_VALUE_WEI,
    )
    assert invoice["paid_at"] is not None


def test_a_customer_row_follows_wallet_changes_and_erasure(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    crm.registry.set_customer_wallet(customer_id, staff.customer2.address, staff.manager)
    crm.registry.erase_customer(customer_id, b"\x07" * 32, staff.manager)

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    with indexer.engine.connect() as conn:
        row = conn.execute(select(db.customers).where(db.customers.c.id == customer_id)).mappings().one()
    assert row["wallet"] == staff.customer2.address
    assert row["status"] == CustomerStatus.ERASED
    assert row["receipt_hash"] == "0x" + "07" * 32
    assert row["profile_version"] == 1


def test_a_batch_of_interactions_becomes_one_row_per_record(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    first, second = register(crm, staff), register(crm, staff)
    entries = [entry(first), entry(second), entry(first), entry(second), entry(first)]
    receipt = crm.registry.log_interactions(entries, staff.agent)

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    with indexer.engine.connect() as conn:
        rows = conn.execute(
            select(db.interactions.c.customer_id, db.interactions.c.content_hash, db.interactions.c.position)
            .where(db.interactions.c.tx_hash == receipt["transactionHash"].to_0x_hex())
            .order_by(db.interactions.c.position)
        ).all()
    assert [tuple(row) for row in rows] == [
        (e.customer_id, "0x" + e.content_hash.hex(), position) for position, e in enumerate(entries)
    ]


def test_the_timeline_matches_the_chain_newest_first(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    crm.registry.log_interaction(entry(customer_id), staff.agent)
    crm.registry.log_interactions([entry(customer_id), entry(register(crm, staff)), entry(customer_id)], staff.agent)
    crm.registry.log_interaction(entry(customer_id), staff.agent2)

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    from_chain = crm.registry.interactions(customer_id, from_block=crm.deployment.block_number)
    assert indexer.timeline(customer_id) == list(reversed(from_chain))


def test_a_second_pass_without_new_blocks_adds_nothing(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    crm.registry.log_interaction(entry(register(crm, staff)), staff.agent)
    indexer = make_indexer(chain, crm)
    indexer.sync_once()
    before = dump(indexer.engine)

    report = indexer.sync_once()

    assert (report.rows, dump(indexer.engine)) == (0, before)


def test_rows_inside_the_confirmation_depth_are_provisional(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    crm.registry.log_interaction(entry(register(crm, staff)), staff.agent)
    head = chain.w3.eth.block_number

    report = make_indexer(chain, crm, confirmations=3).sync_once()

    assert (report.last_block, report.last_final_block) == (head, head - 3)


def test_follow_picks_up_new_blocks_until_stopped(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    indexer = make_indexer(chain, crm)
    stop = threading.Event()
    passes: list[int] = []

    def between_passes(report: SyncReport) -> None:
        passes.append(report.interactions)
        if len(passes) == 1:
            crm.registry.log_interaction(entry(customer_id), staff.agent)
        else:
            stop.set()

    indexer.follow(poll_seconds=0.01, stop=stop, on_pass=between_passes)

    assert passes == [0, 1]
    assert len(indexer.timeline(customer_id)) == 1


def test_events_emitted_by_the_constructors_are_indexed(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer
) -> None:
    indexer = make_indexer(chain, crm)

    indexer.sync_once()

    with indexer.engine.connect() as conn:
        rows = conn.execute(select(db.staff_events.c.kind, db.staff_events.c.account, db.staff_events.c.role)).all()
    assert ("role_granted", staff.admin.address, "0x" + "00" * 32) in rows
    assert ("treasury_changed", staff.treasury.address, None) in rows


def test_access_and_consent_changes_are_rows_in_order(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer.address)
    crm.registry.register_encryption_key(public_key64(staff.agent2), staff.agent2)
    crm.registry.grant_access(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.manager)
    crm.registry.revoke_access(customer_id, staff.agent2.address, staff.manager)
    crm.registry.set_consent(customer_id, Purpose.MARKETING, True, staff.customer)

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    access, consent = db.access_events, db.consent_events
    with indexer.engine.connect() as conn:
        grants = conn.execute(
            select(access.c.staff, access.c.granted, access.c.purpose)
            .where(access.c.customer_id == customer_id)
            .order_by(access.c.block_number, access.c.log_index)
        ).all()
        consents = conn.execute(
            select(consent.c.purpose, consent.c.granted).where(consent.c.customer_id == customer_id)
        ).all()
    assert [tuple(row) for row in grants] == [
        (staff.agent.address, True, Purpose.SALES),  # the registrar's own grant at registration
        (staff.agent2.address, True, Purpose.SUPPORT),
        (staff.agent2.address, False, Purpose.SUPPORT),
    ]
    assert [tuple(row) for row in consents] == [(Purpose.MARKETING, True)]


def test_timeline_pages_continue_where_the_last_one_ended(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    crm.registry.log_interactions([entry(customer_id) for _ in range(5)], staff.agent)  # one block: same time
    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    first = indexer.timeline(customer_id, limit=2)
    second = indexer.timeline(customer_id, limit=2, older_than=first[-1])
    rest = indexer.timeline(customer_id, limit=2, older_than=second[-1])

    assert first + second + rest == indexer.timeline(customer_id, limit=None)
    assert [i.position for i in first + second + rest] == [4, 3, 2, 1, 0]
