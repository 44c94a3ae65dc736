"""The fault suite's checker finds what it is there to find: a record on-chain twice, a record that
never landed, a record no writer meant, a document no node holds, a batch whose document does not
match its root. (A checker that cannot fail would prove nothing.)"""

from __future__ import annotations

import os
from pathlib import Path

from chaincrm.batches.tree import LeafValue
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.models import InteractionKind, Outcome
from chaincrm.storage import KuboStore, cid_to_digest
from chaincrm_tools.faults.checker import check_run
from chaincrm_tools.faults.intents import BATCH, SINGLE, Intent
from tests.batches.batch_documents import document
from tests.sdk.conftest import Staff


def stored_intent(store: KuboStore, customer_id: int, mode: str) -> Intent:
    digest = cid_to_digest(store.put(b"sealed note " + os.urandom(32)))
    return Intent(os.urandom(32), "writer-1", mode, customer_id, 1, 2, digest)


def log_single(crm: Crm, staff: Staff, intent: Intent) -> None:
    entry = InteractionEntry(
        intent.customer_id, InteractionKind(intent.kind), Outcome(intent.outcome), intent.content_hash
    )
    crm.registry.log_interaction(entry, staff.agent)


def log_single_again(crm: Crm, staff: Staff, intent: Intent) -> None:
    """The same record sent again past the SDK's idempotency (which would recognise it): a duplicate."""
    fn = crm.registry.contract.functions.logInteraction(
        intent.customer_id, intent.kind, intent.outcome, intent.content_hash
    )
    crm.chain.transact(fn, staff.agent)


def anchor_batch(crm: Crm, staff: Staff, store: KuboStore, intents: list[Intent], *, tamper: bool = False) -> None:
    values = [LeafValue(i.record_id, i.customer_id, i.kind, i.outcome, i.content_hash) for i in intents]
    batch = document(crm, staff.agent, values, seconds_apart=0)
    root = os.urandom(32) if tamper else batch.root
    crm.registry.anchor_interactions(root, cid_to_digest(store.put(batch.to_bytes())), len(values), staff.agent)


def test_a_clean_run_passes(
    crm: Crm, staff: Staff, store: KuboStore, customer_id: int, tmp_path: Path, snapshot: None
) -> None:
    single, batched = stored_intent(store, customer_id, SINGLE), stored_intent(store, customer_id, BATCH)
    log_single(crm, staff, single)
    anchor_batch(crm, staff, store, [batched])

    verdict = check_run(crm, store, [single, batched], tmp_path / "marks.json")

    assert verdict.passed, verdict.failures()
    assert verdict.once == 2


def test_a_record_logged_twice_is_a_duplicate(
    crm: Crm, staff: Staff, store: KuboStore, customer_id: int, tmp_path: Path, snapshot: None
) -> None:
    single, batched = stored_intent(store, customer_id, SINGLE), stored_intent(store, customer_id, BATCH)
    log_single(crm, staff, single)
    log_single_again(crm, staff, single)
    anchor_batch(crm, staff, store, [batched])
    anchor_batch(crm, staff, store, [batched, stored_intent(store, customer_id, BATCH)])

    verdict = check_run(crm, store, [single, batched], tmp_path / "marks.json")

    assert not verdict.passed
    assert verdict.duplicated == 2
    assert verdict.unexpected == 1  # the batch's other record: no writer meant it


def test_a_record_that_never_landed_is_lost(
    crm: Crm, staff: Staff, store: KuboStore, customer_id: int, tmp_path: Path, snapshot: None
) -> None:
    never_sent = stored_intent(store, customer_id, BATCH)

    verdict = check_run(crm, store, [never_sent], tmp_path / "marks.json")

    assert verdict.lost == ("0x" + never_sent.record_id.hex(),)
    assert "1 record(s) lost" in verdict.failures()[0]


def test_a_document_no_node_holds_is_not_fetchable(
    crm: Crm, staff: Staff, store: KuboStore, customer_id: int, tmp_path: Path, snapshot: None
) -> None:
    single = stored_intent(store, customer_id, SINGLE)
    log_single(crm, staff, single)
    gone = Intent(single.record_id, single.writer, SINGLE, customer_id, 1, 2, os.urandom(32))
    log_single(crm, staff, gone)

    verdict = check_run(crm, store, [single, gone], tmp_path / "marks.json")

    assert len(verdict.unfetchable) == 1
    assert verdict.referenced_not_pinned == 1


def test_a_batch_whose_document_does_not_match_its_root_is_reported(
    crm: Crm, staff: Staff, store: KuboStore, customer_id: int, tmp_path: Path, snapshot: None
) -> None:
    batched = stored_intent(store, customer_id, BATCH)
    anchor_batch(crm, staff, store, [batched], tamper=True)

    verdict = check_run(crm, store, [batched], tmp_path / "marks.json")

    assert len(verdict.batch_problems) == 1
    assert verdict.lost  # its records do not count
