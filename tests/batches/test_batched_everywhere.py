# ruff: noqa: F811 - the fixtures are imported here, so fixture arguments redefine them
"""Interactions anchored in batches count wherever interactions are read from the chain: erasure
finds and destroys their notes (and lists them in the receipt), branch replication drops them, the
customer reads them in their own view, and `verify interaction` finds them by their document.
Real Anvil, real IPFS node, real queue and batcher."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from chaincrm.batches import Batcher, InteractionQueue
from chaincrm.batches.records import queue_interaction
from chaincrm.branches.replication import documents_on_chain
from chaincrm.contracts.client import Crm
from chaincrm.models import CustomerStatus, InteractionKind, Outcome, Purpose
from chaincrm.privacy import CustomerProfile, InteractionContent
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.erasure import documents_of
from chaincrm.privacy.notes import INTERACTION, CustomerNotes
from chaincrm.storage import Cid, KuboStore, cid_to_digest, digest_to_cid
from chaincrm.views.own_records import CustomerView
from chaincrm.views.verify import Verifier
from tests.indexer.conftest import MakeIndexer, make_indexer  # noqa: F401 - fixture
from tests.sdk.conftest import Staff

pytestmark = [
    pytest.mark.usefixtures("snapshot"),
    pytest.mark.filterwarnings("ignore:The 'strict' parameter is no longer needed:FutureWarning"),
]

SINGLE_NOTE = "Called about the renewal; logged on its own."
BATCHED_NOTES = ("Sent the quote; batched.", "Agreed a visit on Tuesday; batched.")
OTHER_NOTE = "Someone else's call, in the same batch."


@pytest.fixture
def notes(crm: Crm, document_store: KuboStore) -> Iterator[CustomerNotes]:
    yield CustomerNotes(crm, document_store)


@dataclass(frozen=True)
class Logged:
    customer_id: int
    other_id: int
    single: Cid
    batched: tuple[Cid, ...]
    other: Cid
    batch_document: Cid


def customer(notes: CustomerNotes, staff: Staff, *, wallet: bool) -> int:
    data: CustomerData = notes.customers
    owner = staff.customer.address if wallet else None
    customer_id = data.add(
        CustomerProfile(name="Ada Example"), wallet=owner, purpose=Purpose.SALES, agent=staff.agent
    ).customer_id
    if wallet:
        data.approve_wallet(customer_id, staff.customer.address, staff.manager)
        data.accept_wallet(customer_id, staff.customer)
        data.reseal(customer_id, staff.agent)
    return customer_id


def log_single_and_batched(notes: CustomerNotes, queue: InteractionQueue, batcher: Batcher, staff: Staff) -> Logged:
    """One customer with a single interaction and two batched ones; another customer with one
    batched interaction in the same batch."""
    customer_id = customer(notes, staff, wallet=True)
    other_id = customer(notes, staff, wallet=False)
    single = notes.log_interaction(
        customer_id, InteractionKind.CALL, Outcome.POSITIVE, InteractionContent(SINGLE_NOTE), staff.agent
    )
    batched = [
        queue_interaction(
            notes, queue, customer_id, InteractionKind.EMAIL, Outcome.NONE, InteractionContent(note), staff.agent
        )
        for note in BATCHED_NOTES
    ]
    other = queue_interaction(
        notes, queue, other_id, InteractionKind.CALL, Outcome.NONE, InteractionContent(OTHER_NOTE), staff.agent
    )
    (landed,) = batcher.flush()
    assert landed.count == 3
    return Logged(
        customer_id,
        other_id,
        single.cid,
        tuple(Cid(item.cid) for item in batched),
        Cid(other.cid),
        Cid(landed.cid),
    )


def test_erasing_a_customer_destroys_their_single_and_batched_notes_and_the_receipt_lists_them(
    crm: Crm,
    staff: Staff,
    notes: CustomerNotes,
    queue: InteractionQueue,
    batcher: Batcher,
    document_store: KuboStore,
) -> None:
    logged = log_single_and_batched(notes, queue, batcher, staff)
    notes_of_customer = (logged.single, *logged.batched)
    assert all(document_store.has(cid) for cid in notes_of_customer)

    erasure = notes.customers.erase(logged.customer_id, staff.manager)

    assert crm.registry.status_of(logged.customer_id) is CustomerStatus.ERASED
    assert set(notes_of_customer) <= set(erasure.unpinned)
    assert not any(document_store.has(cid) for cid in notes_of_customer)  # unpinned and garbage-collected
    assert not set(notes_of_customer) & document_store.pins()
    receipt = document_store.get(erasure.receipt_cid)
    listed = {(item["kind"], item["cid"]) for item in json.loads(receipt)["documents"]}
    assert {(INTERACTION, str(cid)) for cid in notes_of_customer} <= listed
    # The batch document (ids and hashes only) and the other customer's note stay.
    assert document_store.has(logged.batch_document) and document_store.has(logged.other)
    assert str(logged.batch_document) not in {cid for _, cid in listed}
    verdict = Verifier(crm, document_store).erasure(
        logged.customer_id, erasure.receipt_hash, receipt=receipt, check_store=True
    )
    assert verdict.verified, verdict.reason


def test_replication_drops_an_erased_customers_batched_notes_and_keeps_the_batch_document(
    crm: Crm,
    staff: Staff,
    notes: CustomerNotes,
    queue: InteractionQueue,
    batcher: Batcher,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    logged = log_single_and_batched(notes, queue, batcher, staff)
    notes.customers.erase(logged.customer_id, staff.manager)
    indexer = make_indexer(crm.chain, crm, documents=document_store)
    indexer.sync_once()

    plan = documents_on_chain(indexer.engine)

    assert {logged.single, *logged.batched} <= plan.erased
    assert {logged.batch_document, logged.other} <= plan.keep
    assert not plan.erased & plan.keep


def test_the_documents_of_a_customer_include_their_batched_notes_only(
    crm: Crm, staff: Staff, notes: CustomerNotes, queue: InteractionQueue, batcher: Batcher, document_store: KuboStore
) -> None:
    logged = log_single_and_batched(notes, queue, batcher, staff)

    found = {cid for kind, cid in documents_of(crm, logged.customer_id, document_store) if kind == INTERACTION}

    assert found == {logged.single, *logged.batched}
    assert {cid for kind, cid in documents_of(crm, logged.other_id, document_store) if kind == INTERACTION} == {
        logged.other
    }


def test_an_anchored_batch_nobody_can_give_back_does_not_stop_an_erasure(
    crm: Crm, staff: Staff, notes: CustomerNotes, queue: InteractionQueue, batcher: Batcher, document_store: KuboStore
) -> None:
    # Any agent can anchor a CID no node holds: an erasure must not wait on it forever.
    logged = log_single_and_batched(notes, queue, batcher, staff)
    missing = os.urandom(32)
    crm.chain.transact(crm.registry.contract.functions.anchorInteractions(os.urandom(32), missing, 1), staff.agent)

    erasure = notes.customers.erase(logged.customer_id, staff.manager)

    assert crm.registry.status_of(logged.customer_id) is CustomerStatus.ERASED
    assert erasure.unreadable_batches == (digest_to_cid(missing),)
    assert not any(document_store.has(cid) for cid in (logged.single, *logged.batched))
    receipt = json.loads(document_store.get(erasure.receipt_cid))
    assert {"kind": "unreadable-batch", "cid": str(digest_to_cid(missing))} in receipt["documents"]
    verdict = Verifier(crm, document_store).erasure(
        logged.customer_id, erasure.receipt_hash, receipt=document_store.get(erasure.receipt_cid)
    )
    assert verdict.verified, verdict.reason


def test_the_customer_reads_their_batched_interactions_in_their_own_view(
    crm: Crm, staff: Staff, notes: CustomerNotes, queue: InteractionQueue, batcher: Batcher, document_store: KuboStore
) -> None:
    logged = log_single_and_batched(notes, queue, batcher, staff)

    views = CustomerView(crm, document_store, staff.customer).interactions(logged.customer_id)

    assert [v.content.note if v.content else v.unreadable for v in views] == [SINGLE_NOTE, *BATCHED_NOTES]
    assert [digest_to_cid(v.interaction.content_hash) for v in views] == [logged.single, *logged.batched]
    assert [v.interaction.position for v in views] == [0, 0, 1]  # places in the batch document


def test_verify_finds_a_batched_interaction_by_its_document_with_the_ipfs_service(
    crm: Crm, staff: Staff, notes: CustomerNotes, queue: InteractionQueue, batcher: Batcher, document_store: KuboStore
) -> None:
    logged = log_single_and_batched(notes, queue, batcher, staff)
    content_hash = cid_to_digest(logged.batched[1])

    found = Verifier(crm, document_store).interaction(
        customer_id=logged.customer_id, content_hash=content_hash, fetch=True, reader=staff.customer
    )
    without_store = Verifier(crm).interaction(customer_id=logged.customer_id, content_hash=content_hash)

    assert found.verified, found.reason
    assert found.evidence is not None and found.evidence.event == "InteractionBatchAnchored"
    assert found.evidence.fields["position"] == 1 and found.evidence.fields["note"] == BATCHED_NOTES[1]
    assert not without_store.verified and "--fetch" in without_store.reason
