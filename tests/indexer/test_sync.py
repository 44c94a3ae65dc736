"""Following events into SQLite: every event kind, batches, timelines, and provisional rows."""

from __future__ import annotations

import threading

from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from chaincrm.chain import Chain
from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.client import Crm
from chaincrm.index import schema as db
from chaincrm.index.indexer import Indexer, SyncReport
from chaincrm.models import CustomerStatus, InvoiceStatus, Purpose, Stage
from chaincrm.privacy.customers import public_key64
from tests.indexer.conftest import MakeIndexer, dump, entry, grant, register, revoke
from tests.sdk.conftest import Staff

DEAL_VALUE_WEI = 3 * 10**18


def test_a_won_deal_and_its_paid_invoice_become_rows(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer)
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


def test_a_customer_row_has_a_wallet_only_once_the_wallet_accepts(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer)
    crm.registry.propose_wallet(customer_id, staff.customer2.address, staff.customer)
    indexer = make_indexer(chain, crm)
    indexer.sync_once()
    proposed = _customer(indexer, customer_id)

    crm.registry.accept_wallet(customer_id, public_key64(staff.customer2), staff.customer2)
    indexer.sync_once()

    assert (proposed["wallet"], proposed["pending_wallet"]) == (staff.customer.address, staff.customer2.address)
    accepted = _customer(indexer, customer_id)
    assert (accepted["wallet"], accepted["pending_wallet"]) == (staff.customer2.address, None)
    with indexer.engine.connect() as conn:
        events = conn.execute(
            select(db.customer_events.c.kind, db.customer_events.c.wallet, db.customer_events.c.actor)
            .where(db.customer_events.c.customer_id == customer_id)
            .order_by(db.customer_events.c.block_number, db.customer_events.c.log_index)
        ).all()
    assert [tuple(row) for row in events] == [
        ("registered", None, staff.agent.address),
        ("wallet_proposed", staff.customer.address, staff.agent.address),
        ("wallet_accepted", staff.customer.address, staff.customer.address),
        ("wallet_proposed", staff.customer2.address, staff.customer.address),
        ("wallet_accepted", staff.customer2.address, staff.customer2.address),
    ]


def test_erasure_clears_the_wallet_the_proposal_and_the_consents_of_the_customer_row(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer)
    crm.registry.set_consent(customer_id, Purpose.MARKETING, True, staff.customer)
    crm.registry.propose_wallet(customer_id, staff.customer2.address, staff.customer)
    indexer = make_indexer(chain, crm)
    indexer.sync_once()
    before = _customer(indexer, customer_id)

    crm.registry.erase_customer(customer_id, b"\x07" * 32, staff.manager)
    indexer.sync_once()

    assert before["consent_bits"] == 1 << Purpose.MARKETING
    row = _customer(indexer, customer_id)
    assert (row["wallet"], row["pending_wallet"], row["consent_bits"]) == (None, None, 0)
    assert row["status"] == CustomerStatus.ERASED
    assert row["receipt_hash"] == "0x" + "07" * 32
    assert row["profile_version"] == 1


def _customer(indexer: Indexer, customer_id: int) -> dict[str, object]:
    with indexer.engine.connect() as conn:
        return dict(conn.execute(select(db.customers).where(db.customers.c.id == customer_id)).mappings().one())


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
    grant(crm, customer_id, staff.agent2, Purpose.SUPPORT, staff.manager)
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
    customer_id = register(crm, staff, wallet=staff.customer)
    grant(crm, customer_id, staff.agent2, Purpose.SUPPORT, staff.manager)
    revoke(crm, customer_id, staff.agent2, staff.manager)
    crm.registry.set_consent(customer_id, Purpose.MARKETING, True, staff.customer)
    grant(crm, customer_id, staff.agent2, Purpose.MARKETING, staff.customer)
    crm.registry.set_consent(customer_id, Purpose.MARKETING, False, staff.customer)  # ends that grant too

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    access, consent = db.access_events, db.consent_events
    with indexer.engine.connect() as conn:
        grants = conn.execute(
            select(access.c.staff, access.c.granted, access.c.purpose, access.c.actor)
            .where(access.c.customer_id == customer_id)
            .order_by(access.c.block_number, access.c.log_index)
        ).all()
        consents = conn.execute(
            select(consent.c.purpose, consent.c.granted, consent.c.relayer)
            .where(consent.c.customer_id == customer_id)
            .order_by(consent.c.block_number, consent.c.log_index)
        ).all()
        bits = conn.execute(select(db.customers.c.consent_bits).where(db.customers.c.id == customer_id)).scalar()
    a, b, m, c = staff.agent.address, staff.agent2.address, staff.manager.address, staff.customer.address
    assert [tuple(row) for row in grants] == [
        (a, True, Purpose.SALES, a),  # the registrar's own grant at registration
        (b, True, Purpose.SUPPORT, m),
        (b, False, Purpose.SUPPORT, m),
        (b, True, Purpose.MARKETING, c),
        (b, False, Purpose.MARKETING, c),  # withdrawing the consent revoked it, in the wallet's name
    ]
    assert [tuple(row) for row in consents] == [(Purpose.MARKETING, True, c), (Purpose.MARKETING, False, c)]
    assert bits == 0


def test_profile_versions_record_the_readers_hash_the_chain_checked(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    grant(crm, customer_id, staff.agent2, Purpose.SUPPORT, staff.manager)

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    with indexer.engine.connect() as conn:
        recorded = conn.execute(
            select(db.profile_versions.c.version, db.profile_versions.c.readers_hash)
            .where(db.profile_versions.c.customer_id == customer_id)
            .order_by(db.profile_versions.c.version)
        ).all()
    assert [tuple(row) for row in recorded] == [
        (version, "0x" + crm.registry.profile(customer_id, version).readers_hash.hex()) for version in (1, 2)
    ]


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


def test_a_reissued_invoice_a_dispute_and_a_pulled_refund_become_rows(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff, wallet=staff.customer)
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, DEAL_VALUE_WEI, staff.agent)
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        crm.pipeline.move(deal_id, stage, staff.agent)
    first = crm.pipeline.deal(deal_id).invoice_id
    second = crm.pipeline.reissue_invoice(deal_id, staff.manager)
    crm.escrow.pay(second, staff.customer)
    crm.escrow.dispute(second, staff.customer)
    crm.escrow.refund(second, staff.manager)
    crm.escrow.withdraw_refund(staff.customer)

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    with indexer.engine.connect() as conn:
        deal = conn.execute(select(db.deals).where(db.deals.c.id == deal_id)).mappings().one()
        invoices = {
            row["id"]: row
            for row in conn.execute(select(db.invoices).where(db.invoices.c.deal_id == deal_id)).mappings()
        }
        events = conn.execute(
            select(db.invoice_events.c.kind, db.invoice_events.c.payer, db.invoice_events.c.treasury)
            .where(db.invoice_events.c.invoice_id == second)
            .order_by(db.invoice_events.c.block_number, db.invoice_events.c.log_index)
        ).all()
        withdrawals = conn.execute(select(db.refund_withdrawals.c.payer, db.refund_withdrawals.c.amount_wei)).all()
    assert (deal["invoice_id"], deal["invoices"]) == (second, 2)
    assert invoices[first]["status"] == InvoiceStatus.CANCELLED and invoices[first]["cancelled_at"] is not None
    assert invoices[second]["status"] == InvoiceStatus.REFUNDED
    assert invoices[second]["treasury"] == staff.treasury.address
    assert invoices[second]["resolve_by"] == crm.escrow.dispute_deadline(second)
    c, t = staff.customer.address, staff.treasury.address
    assert [tuple(row) for row in events] == [
        ("issued", c, None),
        ("paid", c, t),
        ("disputed", c, None),
        ("refunded", c, None),  # credited to the payer...
    ]
    assert [tuple(row) for row in withdrawals] == [(c, DEAL_VALUE_WEI)]  # ...who pulled it


def test_treasury_threshold_and_sweep_events_become_staff_rows(
    chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    escrow = crm.escrow
    escrow.propose_treasury(staff.stranger.address, staff.admin)
    escrow.cancel_treasury_change(staff.admin)
    escrow.propose_treasury(staff.customer2.address, staff.admin)
    _, effective_at = escrow.pending_treasury()
    chain.w3.provider.make_request("evm_mine", [effective_at])  # type: ignore[arg-type]  # estimates run on it
    escrow.accept_treasury(staff.customer2)
    crm.pipeline.set_approval_threshold(2 * 10**18, staff.admin)
    _force_ether_into(chain, escrow.address, staff.admin, 12345)
    escrow.sweep(staff.admin)

    indexer = make_indexer(chain, crm)
    indexer.sync_once()

    se = db.staff_events.c
    with indexer.engine.connect() as conn:
        rows = conn.execute(
            select(se.kind, se.account, se.previous, se.epoch, se.amount_wei, se.previous_amount_wei)
            .where(se.kind.notin_(("role_granted", "role_revoked", "key_registered")))
            .order_by(se.block_number, se.log_index)
        ).all()
        effective = conn.execute(select(se.effective_at).where(se.kind == "treasury_change_proposed")).scalars().all()
    t, s, n = staff.treasury.address, staff.stranger.address, staff.customer2.address
    assert [tuple(row) for row in rows] == [
        ("treasury_changed", t, None, 1, None, None),  # the constructors'
        ("approval_threshold_changed", None, None, None, crm.deployment.approval_threshold_wei, 0),
        ("branch_directory_set", crm.deployment.branches, None, None, None, None),  # the deploy connects it
        ("treasury_change_proposed", s, None, None, None, None),
        ("treasury_change_cancelled", s, None, None, None, None),
        ("treasury_change_proposed", n, None, None, None, None),
        ("treasury_changed", n, t, 2, None, None),
        ("approval_threshold_changed", None, None, None, 2 * 10**18, crm.deployment.approval_threshold_wei),
        ("ether_swept", n, None, None, 12345, None),
    ]
    assert effective[-1] == effective_at


def _force_ether_into(chain: Chain, target: str, sender: LocalAccount, wei: int) -> None:
    """ETH the escrow never asked for (SELFDESTRUCT credits it without a call): what `sweep` is for."""
    artifact = load_artifact("ForceSender")
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    address = chain.transact(factory.constructor(), sender)["contractAddress"]
    force = chain.w3.eth.contract(address=address, abi=artifact.abi).functions.force(target)
    chain.transact(force, sender, value=wei)
