"""The orphan sweep: documents pinned on our node that nothing on-chain points to are unpinned after
a grace period; every document the chain points to stays, whatever wrote it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from chaincrm.batches.tree import LeafValue
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.errors import ConfigError, StorageError
from chaincrm.models import InteractionKind, Outcome
from chaincrm.privacy import InteractionContent
from chaincrm.privacy.notes import CustomerNotes
from chaincrm.storage import Cid, KuboStore, cid_to_digest, digest_to_cid
from chaincrm.storage.node import NodeHandle
from chaincrm.storage.orphans import sweep_orphans
from tests.batches.batch_documents import anchor, document
from tests.sdk.conftest import Staff

GRACE_SECONDS = 3600.0
CHAINCRM = str(Path(sys.executable).with_name("chaincrm"))  # the console script, as a user runs it


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def orphan(store: KuboStore) -> Cid:
    """A document stored and pinned, as a write that failed before its transaction leaves it."""
    return store.put(b"an encrypted note nobody logged " + os.urandom(32))


def batched_notes(
    crm: Crm, staff: Staff, store: KuboStore, customer_id: int, author: LocalAccount
) -> tuple[Cid, list[Cid]]:
    """Three sealed notes of `customer_id`, batched by `author` in a real batch anchored by its root:
    (the batch document, the notes)."""
    notes = CustomerNotes(crm, store)
    cids = [
        store.put(notes.seal_interaction(customer_id, InteractionContent(f"visit {i}"), staff.agent)) for i in range(3)
    ]
    values = [
        LeafValue(os.urandom(32), customer_id, int(InteractionKind.VISIT), int(Outcome.POSITIVE), cid_to_digest(cid))
        for cid in cids
    ]
    batch = document(crm, author, values)
    batch_cid = store.put(batch.to_bytes())
    anchor(crm, author, batch.root, cid_to_digest(batch_cid), batch.count)
    return batch_cid, cids


def test_an_orphan_is_kept_during_its_grace_period_and_unpinned_after_it(
    crm: Crm, store: KuboStore, tmp_path: Path
) -> None:
    clock = Clock()
    lost = orphan(store)

    first = sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=GRACE_SECONDS, clock=clock)
    clock.now += GRACE_SECONDS
    second = sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=GRACE_SECONDS, clock=clock)

    assert lost in first.waiting and lost not in first.unpinned
    assert lost in second.unpinned
    assert lost not in store.pins()


def test_an_upload_stored_after_the_first_sweep_is_not_unpinned_by_the_next(
    crm: Crm, store: KuboStore, tmp_path: Path
) -> None:
    clock = Clock()
    sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=GRACE_SECONDS, clock=clock)
    clock.now += GRACE_SECONDS
    about_to_be_logged = orphan(store)

    result = sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=GRACE_SECONDS, clock=clock)

    assert about_to_be_logged in result.waiting
    assert about_to_be_logged in store.pins()


def test_documents_the_chain_points_to_are_never_unpinned(
    crm: Crm, staff: Staff, store: KuboStore, customer_id: int, tmp_path: Path
) -> None:
    notes = CustomerNotes(crm, store)
    single = notes.log_interaction(
        customer_id, InteractionKind.CALL, Outcome.POSITIVE, InteractionContent("called back"), staff.agent
    ).cid
    batch, batched = batched_notes(crm, staff, store, customer_id, staff.agent)
    profile = digest_to_cid(crm.registry.profile(customer_id, 1).cid_digest)
    lost = orphan(store)

    result = sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=0)

    pins = store.pins()
    assert {profile, single, batch, *batched} <= pins
    assert lost in result.unpinned and lost not in pins
    assert not {profile, single, batch, *batched} & set(result.orphans)


def test_the_notes_of_records_no_reader_counts_are_orphans(
    crm: Crm, staff: Staff, store: KuboStore, customer_id: int, tmp_path: Path
) -> None:
    # An agent without a grant on the customer anchors records about them: the contract cannot
    # tell, every reader refuses the records, so nothing on-chain points at their notes.
    batch, refused = batched_notes(crm, staff, store, customer_id, staff.agent2)

    result = sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=0)

    assert set(refused) <= set(result.unpinned)
    assert batch in store.pins()  # the anchored document itself stays


def test_a_dry_run_unpins_nothing_and_starts_no_grace_clock(crm: Crm, store: KuboStore, tmp_path: Path) -> None:
    lost = orphan(store)

    result = sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=0, dry_run=True)

    assert lost in result.orphans and result.unpinned == ()
    assert lost in store.pins()
    assert not (tmp_path / "marks.json").exists()


def test_an_anchored_batch_the_node_cannot_give_back_stops_the_sweep_before_anything_is_unpinned(
    crm: Crm, staff: Staff, store: KuboStore, tmp_path: Path, snapshot: None
) -> None:
    missing = store.put(b"a batch document this node will not have " + os.urandom(16))
    store.unpin(missing)
    store.gc()
    anchor(crm, staff.agent, os.urandom(32), cid_to_digest(missing), 1)
    lost = orphan(store)

    with pytest.raises(StorageError, match=f"cannot read the anchored batch {missing}"):
        sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=0)

    assert lost in store.pins()


def test_a_negative_grace_period_is_one_clear_error(crm: Crm, store: KuboStore, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="grace period must be 0 or more seconds"):
        sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=-1)


def test_damaged_marks_are_one_clear_error_and_nothing_is_unpinned(crm: Crm, store: KuboStore, tmp_path: Path) -> None:
    (tmp_path / "marks.json").write_text("{not json")
    lost = orphan(store)

    with pytest.raises(ConfigError, match="orphan marks .* are damaged"):
        sweep_orphans(crm, store, tmp_path / "marks.json", grace_seconds=0)

    assert lost in store.pins()


def test_node_sweep_unpins_orphans_and_prints_them(
    crm: Crm, store: KuboStore, own_node: NodeHandle, anvil_node: object, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    save_record(crm.deployment, home / "deployment.json")
    lost = orphan(store)
    command = [CHAINCRM, "--home", str(home), "--rpc-url", crm.chain.endpoint]
    command += ["--ipfs-api", own_node.api_addr, "node", "sweep", "--grace", "0", "--json"]

    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert lost in json.loads(done.stdout)["unpinned"]
    assert lost not in store.pins()
    assert (home / "state" / "orphans.json").is_file()


def test_node_sweep_refuses_a_grace_that_is_not_a_duration(tmp_path: Path) -> None:
    command = [CHAINCRM, "--home", str(tmp_path), "node", "sweep", "--grace", "soon"]

    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2
    assert "'soon' is not a duration" in done.stderr
