# ruff: noqa: F811 - the IPFS fixtures are imported here, so fixture arguments redefine them
"""Anchored interaction batches in the index: documents read from a real IPFS node, checked against
the roots a real Anvil anchored, their records counted once, refused without a grant, and an index
that equals a fresh rebuild."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from chaincrm.batches.document import BatchDocument
from chaincrm.contracts.client import Crm
from chaincrm.index import batches as batches_module
from chaincrm.index import schema as db
from chaincrm.index.batches import batch_anchors, record_state
from chaincrm.index.indexer import Indexer
from chaincrm.models import Purpose
from chaincrm.storage import KuboStore, cid_to_digest
from chaincrm.storage.node import NodeHandle
from tests.batches.batch_documents import anchor, document, store_and_anchor, value
from tests.indexer.conftest import MakeIndexer, crm_on_own_anvil, dump, entry, grant, register, reorg, revoke
from tests.indexer.test_postgres import postgres_url  # noqa: F401 - fixture
from tests.sdk.conftest import Staff
from tests.sdk.ipfs_fixtures import document_store, free_port, ipfs_node  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.usefixtures("snapshot"),
    pytest.mark.filterwarnings("ignore:The 'strict' parameter is no longer needed:FutureWarning"),
]


def rows(indexer: Indexer, table: Any) -> list[dict[str, Any]]:
    with indexer.engine.connect() as conn:
        query = select(table).order_by(table.c.block_number, table.c.log_index)
        if "position" in table.c:
            query = query.order_by(table.c.position)
        return [dict(row._mapping) for row in conn.execute(query)]


def batch_rows(indexer: Indexer) -> list[dict[str, Any]]:
    with indexer.engine.connect() as conn:
        return batch_anchors(conn)


def dead_store() -> KuboStore:
    """A store whose IPFS service is down (nothing listens on its port)."""
    return KuboStore(f"/ip4/127.0.0.1/tcp/{free_port()}/http", timeout_seconds=2)


def anchor_missing(crm: Crm, store: KuboStore, author: LocalAccount, batch: BatchDocument) -> dict[str, Any]:
    """Anchor `batch` with its document's CID, the document being off the node (as if it was never
    replicated here); as `anchor`."""
    cid = store.put(batch.to_bytes())
    store.unpin(cid)
    store.gc()
    assert not store.has(cid)
    return anchor(crm, author, batch.root, cid_to_digest(cid), batch.count)


def synced(make_indexer: MakeIndexer, crm: Crm, store: KuboStore) -> Indexer:
    """An index of `crm`'s chain reading documents from `store`, after one pass."""
    indexer = make_indexer(crm.chain, crm, documents=store)
    indexer.sync_once()
    return indexer


def assert_equals_a_rebuild(indexer: Indexer, make_indexer: MakeIndexer, crm: Crm, **options: Any) -> None:
    """`indexer`'s database is what a fresh index of `crm`'s chain (built with `options`) holds."""
    fresh = make_indexer(crm.chain, crm, "fresh", **options)
    fresh.sync_once()
    assert dump(indexer.engine) == dump(fresh.engine)


# ---------------------------------------------------------------------- a valid batch


def test_a_valid_anchored_batch_becomes_interactions_in_the_customers_timeline(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    customer = register(crm, staff)
    values = [value(customer) for _ in range(3)]
    batch = document(crm, staff.agent, values)
    anchored = store_and_anchor(crm, document_store, staff.agent, batch)

    indexer = make_indexer(crm.chain, crm, documents=document_store)
    report = indexer.sync_once()

    (row,) = batch_rows(indexer)
    assert (row["status"], row["reason"], row["records"], row["refused"]) == ("ok", None, 3, 0)
    assert (row["root"], row["record_count"], row["author"]) == ("0x" + batch.root.hex(), 3, staff.agent.address)
    assert report.batches_checked == 1 and report.batch_records == 3 and report.interactions == 3
    timeline = indexer.timeline(customer)
    assert sorted(item.content_hash for item in timeline) == sorted(v.content_hash for v in values)
    assert {(item.at, item.block_number, item.log_index) for item in timeline} == {
        (anchored["at"], anchored["block"], anchored["log"])
    }
    records = rows(indexer, db.interactions)
    assert [(r["position"], r["record_id"], r["batch_root"]) for r in records] == [
        (i, "0x" + v.record_id.hex(), "0x" + batch.root.hex()) for i, v in enumerate(values)
    ]
    with indexer.engine.connect() as conn:
        state = record_state(conn, values[1].record_id)
    assert state is not None and state.counted and state.position == 1


# ---------------------------------------------------------------------- mismatches


def test_a_document_that_does_not_match_its_anchor_is_a_mismatch_and_keeps_no_record(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    customer = register(crm, staff)
    batch = document(crm, staff.agent, [value(customer), value(customer)])
    other = document(crm, staff.agent, [value(customer), value(customer)])
    digest = cid_to_digest(document_store.put(batch.to_bytes()))
    anchor(crm, staff.agent, other.root, digest, 2)  # another batch's root
    anchor(crm, staff.agent, batch.root, digest, 2**32 - 1)  # the right root, a count the contract accepts
    anchor(crm, staff.agent2, batch.root, digest, 2)  # anchored by someone who is not its author

    indexer = synced(make_indexer, crm, document_store)

    found = batch_rows(indexer)
    assert [row["status"] for row in found] == ["mismatch"] * 3
    assert "is not the anchored root" in found[0]["reason"]
    assert "4294967295" in found[1]["reason"]
    assert "author" in found[2]["reason"]
    assert all("\n" not in row["reason"] for row in found)
    assert rows(indexer, db.interactions) == [] and rows(indexer, db.refused_batch_records) == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x00\xff not json at all", id="garbage"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
        pytest.param(b'{"format": "chaincrm-interaction-batch/1", "count": 1e999}', id="huge-number"),
        pytest.param(
            json.dumps({"format": "chaincrm-interaction-batch/1", "tree": {"values": [0] * 10**6}}).encode(),
            id="a-million-values",
        ),
        pytest.param("digits", id="a-uint-of-ten-thousand-digits"),
        pytest.param("leaf-encoding", id="wrong-leaf-encoding"),
    ],
)
def test_a_garbage_or_huge_document_is_a_mismatch_and_the_indexer_carries_on(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
    content: bytes | str,
) -> None:
    customer = register(crm, staff)
    good = document(crm, staff.agent, [value(customer)])
    if content == "digits":
        data = good.to_json()
        data["tree"]["values"][0]["value"][1] = "9" * 10_000
        content = json.dumps(data).encode()
    elif content == "leaf-encoding":
        data = good.to_json()
        data["tree"]["leafEncoding"] = ["bytes32", "uint64", "uint8", "uint8", "bytes32"]
        content = json.dumps(data).encode()
    assert isinstance(content, bytes)
    anchor(crm, staff.agent, os.urandom(32), cid_to_digest(document_store.put(content)), 2**32 - 1)
    store_and_anchor(crm, document_store, staff.agent, good)

    indexer = synced(make_indexer, crm, document_store)

    bad, fine = batch_rows(indexer)
    assert bad["status"] == "mismatch" and bad["reason"] and "\n" not in bad["reason"]
    assert fine["status"] == "ok" and len(indexer.timeline(customer)) == 1


def test_a_document_over_the_size_limit_is_a_mismatch(
    crm: Crm,
    staff: Staff,
    ipfs_node: NodeHandle,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    customer = register(crm, staff)
    batch = document(crm, staff.agent, [value(customer) for _ in range(50)])
    store_and_anchor(crm, document_store, staff.agent, batch)
    with KuboStore(ipfs_node.api_addr, max_document_bytes=1_000) as small:
        indexer = make_indexer(crm.chain, crm, documents=small)
        indexer.sync_once()
    (row,) = batch_rows(indexer)
    assert row["status"] == "mismatch" and "limit" in row["reason"]


def test_any_root_and_document_digest_the_contract_accepts_is_recorded(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    anchor(crm, staff.agent, b"\xff" * 32, b"\xff" * 32, 2**32 - 1)
    anchor(crm, staff.agent, b"\x00" * 31 + b"\x01", b"\x00" * 31 + b"\x01", 1)

    indexer = synced(make_indexer, crm, document_store)

    first, second = batch_rows(indexer)
    assert (first["root"], first["cid_digest"]) == ("0x" + "ff" * 32, "0x" + "ff" * 32)
    assert first["record_count"] == 2**32 - 1
    assert first["status"] == second["status"] == "unavailable"  # no such documents


# ---------------------------------------------------------------------- unavailable, then there


def test_a_batch_is_unavailable_while_ipfs_is_down_and_indexed_on_a_later_pass(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    customer = register(crm, staff)
    batch = document(crm, staff.agent, [value(customer) for _ in range(4)])
    store_and_anchor(crm, document_store, staff.agent, batch)

    with dead_store() as down:
        indexer = make_indexer(crm.chain, crm, documents=down)
        report = indexer.sync_once()
    (row,) = batch_rows(indexer)
    assert row["status"] == "unavailable" and "not reachable" in row["reason"]
    assert report.batches_unavailable == 1 and indexer.timeline(customer) == []
    again = make_indexer(crm.chain, crm, documents=document_store)  # the same file, IPFS back
    report = again.sync_once()

    (row,) = batch_rows(again)
    assert (row["status"], row["reason"], row["records"]) == ("ok", None, 4)
    assert report.batch_records == 4 and len(again.timeline(customer)) == 4
    assert_equals_a_rebuild(again, make_indexer, crm, documents=document_store)


def test_a_document_missing_from_the_node_is_tried_again_until_it_is_there(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    customer = register(crm, staff)
    batch = document(crm, staff.agent, [value(customer) for _ in range(2)])
    anchor_missing(crm, document_store, staff.agent, batch)

    indexer = synced(make_indexer, crm, document_store)
    indexer.sync_once()
    (row,) = batch_rows(indexer)
    assert row["status"] == "unavailable" and "not stored" in row["reason"]

    document_store.put(batch.to_bytes())  # replicated here at last
    indexer.sync_once()
    (row,) = batch_rows(indexer)
    assert row["status"] == "ok" and len(indexer.timeline(customer)) == 2


# ---------------------------------------------------------------------- counted once


def test_a_record_in_two_anchored_batches_counts_once_from_the_first(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    customer = register(crm, staff)
    shared = value(customer)
    first = store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, [value(customer), shared]))
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, [shared, value(customer)]))

    indexer = synced(make_indexer, crm, document_store)

    a, b = batch_rows(indexer)
    assert (a["records"], a["duplicates"], b["records"], b["duplicates"]) == (2, 0, 1, 1)
    assert a["status"] == b["status"] == "ok"
    assert len(indexer.timeline(customer)) == 3
    (duplicate,) = rows(indexer, db.refused_batch_records)
    assert duplicate["reason"] == "duplicate" and duplicate["record_id"] == "0x" + shared.record_id.hex()
    assert (duplicate["counted_in_block"], duplicate["counted_in_log"]) == (first["block"], first["log"])


def test_an_earlier_batch_found_late_takes_over_its_records_and_the_index_equals_a_rebuild(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    customer = register(crm, staff)
    shared = value(customer)
    early = document(crm, staff.agent, [shared, value(customer)])
    first = anchor_missing(crm, document_store, staff.agent, early)
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, [value(customer), shared]))
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, [shared]))

    indexer = synced(make_indexer, crm, document_store)
    statuses = [(row["status"], row["records"], row["duplicates"]) for row in batch_rows(indexer)]
    assert statuses == [("unavailable", 0, 0), ("ok", 2, 0), ("ok", 0, 1)]

    document_store.put(early.to_bytes())
    indexer.sync_once()
    statuses = [(row["status"], row["records"], row["duplicates"]) for row in batch_rows(indexer)]
    assert statuses == [("ok", 2, 0), ("ok", 1, 1), ("ok", 0, 1)]
    duplicates = rows(indexer, db.refused_batch_records)
    assert {(row["counted_in_block"], row["counted_in_log"]) for row in duplicates} == {(first["block"], first["log"])}
    assert len(indexer.timeline(customer)) == 3
    assert_equals_a_rebuild(indexer, make_indexer, crm, documents=document_store)


# ---------------------------------------------------------------------- grants


def test_records_whose_author_held_no_grant_at_the_anchor_are_refused(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
) -> None:
    granted = register(crm, staff)
    never = register(crm, staff, agent=staff.agent2)  # agent2's customer: agent has no grant
    revoked = register(crm, staff, agent=staff.agent2)
    grant(crm, revoked, staff.agent, Purpose.SALES, staff.manager)
    revoke(crm, revoked, staff.agent, staff.manager)
    later = register(crm, staff, agent=staff.agent2)
    values = [
        value(granted),
        value(never),
        value(revoked),
        value(later),
        value(granted, kind=0),  # logInteraction refuses kind 0
        value(2**256 - 1),  # no such customer
    ]
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, values))
    grant(crm, later, staff.agent, Purpose.SALES, staff.manager)  # after the anchor: too late

    indexer = synced(make_indexer, crm, document_store)

    (row,) = batch_rows(indexer)
    assert (row["status"], row["records"], row["refused"]) == ("refused-records", 1, 5)
    assert row["reason"] == "5 of 6 record(s) refused: 4 without an access grant, 1 invalid"
    refused = rows(indexer, db.refused_batch_records)
    assert [(r["position"], r["reason"]) for r in refused] == [
        (1, "no_grant"),
        (2, "no_grant"),
        (3, "no_grant"),
        (4, "invalid"),
        (5, "no_grant"),
    ]
    assert refused[-1]["customer_id"] == 2**256 - 1
    assert [item.customer_id for item in indexer.timeline(granted)] == [granted]
    assert indexer.timeline(never) == indexer.timeline(revoked) == indexer.timeline(later) == []
    with indexer.engine.connect() as conn:
        state = record_state(conn, values[1].record_id)
    assert state is not None and not state.counted and state.reason == "no_grant"


# ---------------------------------------------------------------------- rebuild


def test_an_index_synced_pass_by_pass_equals_a_fresh_rebuild(
    crm: Crm,
    staff: Staff,
    document_store: KuboStore,
    make_indexer: MakeIndexer,
    tmp_path: Path,
) -> None:
    customer = register(crm, staff)
    other = register(crm, staff, agent=staff.agent2)
    shared = value(customer)
    indexer = synced(make_indexer, crm, document_store)
    for values in ([value(customer), shared], [shared, value(other)], [value(customer, kind=9)]):
        store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, values))
        indexer.sync_once()
    crm.registry.log_interaction(entry(customer), staff.agent)  # logged on its own, between anchors
    indexer.sync_once()

    assert_equals_a_rebuild(indexer, make_indexer, crm, documents=document_store)
    assert len(indexer.timeline(customer)) == 3


# ---------------------------------------------------------------------- the index's reader and H1's


def _variants(good: dict[str, Any]) -> list[dict[str, Any]]:
    """A document and ways to spoil it (each a whole document)."""

    def changed(path: tuple[Any, ...], new: Any) -> dict[str, Any]:
        copy = json.loads(json.dumps(good))
        target = copy
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = new
        return copy

    values = good["tree"]["values"]
    return [
        good,
        changed(("format",), "chaincrm-interaction-batch/2"),
        changed(("chainId",), 1),
        changed(("chainId",), True),
        changed(("count",), 3),
        changed(("root",), "0x" + "00" * 32),
        changed(("root",), good["root"].upper().replace("0X", "0x")),
        changed(("author",), "0x" + "12" * 20),
        changed(("loggedAt",), [1]),
        changed(("loggedAt",), [-1, 2]),
        changed(("tree", "format"), "standard-v2"),
        changed(("tree", "leafEncoding"), 5),
        changed(("tree", "tree"), list(reversed(good["tree"]["tree"]))),
        changed(("tree", "tree", 0), good["tree"]["tree"][0].upper().replace("0X", "0x")),
        changed(("tree", "values", 0, "treeIndex"), values[1]["treeIndex"]),
        changed(("tree", "values", 0, "value", 1), "0" * 100 + values[0]["value"][1]),
        changed(("tree", "values", 0, "value", 2), "0001"),
        changed(("tree", "values", 0, "value", 2), "256"),
        changed(("tree", "values", 0, "value", 2), 1),
        changed(("tree", "values", 0, "value", 0), "0x" + "zz" * 32),
        changed(("tree", "values", 0, "value"), values[0]["value"][:4]),
        changed(("tree", "values"), []),
    ]


def test_the_indexs_document_reader_accepts_exactly_what_the_batch_document_parser_accepts(
    crm: Crm, staff: Staff
) -> None:
    from chaincrm.batches.document import parse_document
    from chaincrm.errors import BatchMismatch
    from chaincrm.index.batches import Anchor, check_document

    batch = document(crm, staff.agent, [value(7), value(8)])
    for variant in _variants(batch.to_json()):
        data = json.dumps(variant).encode()
        anchored = Anchor(
            1, 10, 0, "0x" + "22" * 32, "0x" + batch.root.hex(), staff.agent.address, "0x" + "33" * 32, 2, 5
        )
        try:
            parse_document(data).check(
                root=batch.root,
                count=2,
                chain_id=crm.deployment.chain_id,
                registry=crm.deployment.registry,
                author=staff.agent.address,
            )
            expected = "ok"
        except (BatchMismatch, ValueError, TypeError):
            expected = "mismatch"
        found = check_document(data, anchored, chain_id=crm.deployment.chain_id, registry=crm.deployment.registry)
        assert found.status == expected, (variant, found.reason)
        if expected == "ok":
            assert [r.record_id for r in found.records] == [v.record_id for v in batch.tree.values]


# ---------------------------------------------------------------------- reorgs


def test_a_reorg_that_drops_an_anchor_rolls_back_its_batch_and_records(
    staff: Staff, document_store: KuboStore, make_indexer: MakeIndexer, tmp_path: Path
) -> None:
    with crm_on_own_anvil(tmp_path, staff) as own:
        customer = register(own, staff)
        kept = store_and_anchor(own, document_store, staff.agent, document(own, staff.agent, [value(customer)]))
        dropped = store_and_anchor(
            own, document_store, staff.agent, document(own, staff.agent, [value(customer), value(customer)])
        )
        indexer = make_indexer(own.chain, own, confirmations=3, documents=document_store)
        indexer.sync_once()
        assert [row["records"] for row in batch_rows(indexer)] == [1, 2]

        reorg(own.chain, 1, [])  # the block of the second anchor is replaced by an empty one
        report = indexer.sync_once()

        assert report.rolled_back_from == dropped["block"]
        (row,) = batch_rows(indexer)
        assert (row["block_number"], row["records"]) == (kept["block"], 1)
        assert len(indexer.timeline(customer)) == 1
        assert_equals_a_rebuild(indexer, make_indexer, own, confirmations=3, documents=document_store)


def test_a_postgresql_index_holds_the_same_batches_as_a_sqlite_one(
    postgres_url: str, crm: Crm, staff: Staff, document_store: KuboStore, make_indexer: MakeIndexer
) -> None:
    customer = register(crm, staff)
    stranger = register(crm, staff, agent=staff.agent2)
    shared = value(customer)
    late = document(crm, staff.agent, [shared, value(2**256 - 1)])
    anchor_missing(crm, document_store, staff.agent, late)
    values = [shared, value(customer), value(stranger), value(customer, kind=0)]
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, values))

    with Indexer(crm.chain, crm.deployment, postgres_url, confirmations=0, documents=document_store) as postgres:
        postgres.sync_once()
        document_store.put(late.to_bytes())  # the earlier batch turns up: it takes its record over
        postgres.sync_once()
        sqlite = synced(make_indexer, crm, document_store)
        assert [row["status"] for row in batch_rows(postgres)] == ["refused-records", "refused-records"]
        assert dump(postgres.engine) == dump(sqlite.engine)
        assert postgres.timeline(customer) == sqlite.timeline(customer)


def test_documents_checked_in_worker_processes_give_the_same_index(
    crm: Crm, staff: Staff, document_store: KuboStore, make_indexer: MakeIndexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = register(crm, staff)
    stranger = register(crm, staff, agent=staff.agent2)
    for values in ([value(customer), value(stranger)], [value(customer, kind=0)]):
        store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, values))
    anchor(crm, staff.agent, os.urandom(32), cid_to_digest(document_store.put(b"not a batch")), 1)
    in_threads = make_indexer(crm.chain, crm, "threads", documents=document_store)
    in_threads.sync_once()

    monkeypatch.setattr(batches_module, "PROCESS_RECORDS", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    in_processes = make_indexer(crm.chain, crm, "processes", documents=document_store)
    in_processes.sync_once()

    assert [row["status"] for row in batch_rows(in_processes)] == ["refused-records", "refused-records", "mismatch"]
    assert dump(in_processes.engine) == dump(in_threads.engine)
