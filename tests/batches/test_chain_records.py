# ruff: noqa: F811 - the fixtures are imported here, so fixture arguments redefine them
"""Anchored batches read from the chain and IPFS alone (chaincrm.batches.chain_records): exactly
the records the event index keeps, from a real Anvil and a real IPFS node; and batch documents that
cannot be read at all (too many digits, too deep) refused in one line."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

from chaincrm.batches.chain_records import NO_STORE, chain_batches, chain_interactions
from chaincrm.batches.document import build_document, parse_document
from chaincrm.contracts.client import Crm
from chaincrm.errors import BatchMismatch, StorageError
from chaincrm.index.batches import Anchor, check_document
from chaincrm.index.indexer import Indexer
from chaincrm.index.queries import interactions_in_order
from chaincrm.models import Interaction, Purpose
from chaincrm.storage import KuboStore, cid_to_digest
from tests.batches.batch_documents import anchor, document, store_and_anchor, value
from tests.indexer.conftest import MakeIndexer, entry, grant, make_indexer, register, revoke  # noqa: F401 - fixture
from tests.sdk.conftest import Staff
from tests.sdk.ipfs_fixtures import document_store  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.usefixtures("snapshot"),
    pytest.mark.filterwarnings("ignore:The 'strict' parameter is no longer needed:FutureWarning"),
]


def indexed(indexer: Indexer, customer_id: int | None = None) -> list[Interaction]:
    report = indexer.sync_once()
    with indexer.engine.connect() as conn:
        return interactions_in_order(conn, customer_id, indexer.deployment.block_number, report.last_block)


def test_the_chain_side_keeps_exactly_the_records_the_index_keeps(
    crm: Crm, staff: Staff, document_store: KuboStore, make_indexer: MakeIndexer
) -> None:
    granted = register(crm, staff)
    never = register(crm, staff, agent=staff.agent2)  # agent holds no grant on it
    revoked = register(crm, staff, agent=staff.agent2)
    grant(crm, revoked, staff.agent, Purpose.SALES, staff.manager)
    revoke(crm, revoked, staff.agent, staff.manager)
    erased = register(crm, staff)
    crm.registry.erase_customer(erased, b"\x07" * 32, staff.manager)  # erasure revokes every grant
    withdrawn = register(crm, staff, wallet=staff.customer, agent=staff.agent2)
    crm.registry.set_consent(withdrawn, Purpose.MARKETING, True, staff.customer)
    grant(crm, withdrawn, staff.agent, Purpose.MARKETING, staff.customer)
    crm.registry.set_consent(withdrawn, Purpose.MARKETING, False, staff.customer)  # ends that grant too
    later = register(crm, staff, agent=staff.agent2)
    crm.registry.log_interaction(entry(granted), staff.agent)  # a single record between the batches
    shared = value(granted)
    first = [value(granted), shared, value(never), value(revoked), value(erased), value(withdrawn), value(later)]
    first += [value(granted, kind=0), value(2**256 - 1), value(granted)]
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, first))
    grant(crm, later, staff.agent, Purpose.SALES, staff.manager)  # after the first anchor: counts from the next
    second = [shared, value(later), value(granted)]
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, second))
    mismatched = document(crm, staff.agent, [value(granted)])
    anchor(crm, staff.agent, os.urandom(32), cid_to_digest(document_store.put(mismatched.to_bytes())), 1)
    crm.registry.log_interactions([entry(granted), entry(later)], staff.agent)

    from_index = indexed(make_indexer(crm.chain, crm, documents=document_store))
    from_chain = chain_interactions(crm, document_store)

    assert from_chain == from_index
    assert len(from_chain) == 1 + 3 + 2 + 2  # single, first batch, second batch (shared counted once), packed
    found = chain_batches(crm, document_store)
    assert (found.anchors, len(found.records), found.unavailable) == (3, 5, ())
    (refused,) = found.mismatched
    assert "is not the anchored root" in refused.reason and "\n" not in refused.reason
    assert [r.record_id for r in found.records].count(shared.record_id) == 1
    assert found.records[1].interaction.position == 1  # its place in the document's values


def test_one_customers_records_and_a_later_range_count_what_the_whole_chain_counts(
    crm: Crm, staff: Staff, document_store: KuboStore, make_indexer: MakeIndexer
) -> None:
    one, other = register(crm, staff), register(crm, staff)
    shared = value(one)
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, [shared, value(other)]))
    middle = crm.chain.block_number("latest") + 1
    store_and_anchor(crm, document_store, staff.agent, document(crm, staff.agent, [shared, value(one)]))

    indexer = make_indexer(crm.chain, crm, documents=document_store)
    assert chain_interactions(crm, document_store, one) == indexed(indexer, one)
    later = chain_interactions(crm, document_store, from_block=middle)
    assert len(later) == 1 and later[0].block_number >= middle  # the shared record counts in the first anchor
    assert [i.customer_id for i in chain_interactions(crm, document_store, other)] == [other]


def test_an_unavailable_document_is_listed_and_stops_a_complete_read_in_one_line(
    crm: Crm, staff: Staff, document_store: KuboStore
) -> None:
    customer = register(crm, staff)
    batch = document(crm, staff.agent, [value(customer), value(customer)])
    cid = document_store.put(batch.to_bytes())
    digest = cid_to_digest(cid)
    document_store.unpin(cid)
    document_store.gc()
    block = anchor(crm, staff.agent, batch.root, digest, batch.count)["block"]

    found = chain_batches(crm, document_store)
    (missing,) = found.unavailable
    assert (missing.cid, missing.block_number, found.records) == (cid, block, ())
    with pytest.raises(StorageError) as refused:
        found.complete()
    message = str(refused.value)
    assert "\n" not in message and cid in message and f"block {block}" in message and "1 of 1" in message
    with pytest.raises(StorageError, match=NO_STORE):
        chain_interactions(crm, None, customer)


def test_no_anchor_needs_no_store(crm: Crm, staff: Staff) -> None:
    customer = register(crm, staff)
    crm.registry.log_interaction(entry(customer), staff.agent)
    assert [i.customer_id for i in chain_interactions(crm, None, customer)] == [customer]
    assert chain_batches(crm, None).anchors == 0


# ---------------------------------------------------------------------- documents that cannot be read


def _good() -> dict[str, Any]:
    return build_document(
        chain_id=31337,
        registry="0x" + "11" * 20,
        author="0x" + "22" * 20,
        created_at=1,
        values=[value(7)],
        logged_at=[1],
    ).to_json()


def _too_many_digits_in_a_value() -> bytes:
    data = _good()
    data["tree"]["values"][0]["value"][1] = "9" * 10_000
    return json.dumps(data).encode()


def _too_many_digits_in_a_number() -> bytes:
    return json.dumps(_good()).encode().replace(b'"createdAt": 1', b'"createdAt": ' + b"9" * 5_000)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        pytest.param(_too_many_digits_in_a_value(), "more than", id="a-uint-string-of-ten-thousand-digits"),
        pytest.param(_too_many_digits_in_a_number(), "more than", id="a-json-number-of-five-thousand-digits"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="deeply-nested-arrays"),
        pytest.param(b'{"tree":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001, "nested too deeply", id="objects"),
    ],
)
def test_a_document_with_an_unreadable_number_or_nesting_is_one_mismatch_line(content: bytes, said: str) -> None:
    with pytest.raises(BatchMismatch) as refused:
        parse_document(content)
    message = str(refused.value)
    assert said in message and "\n" not in message
    if "more than" in said:
        assert f"{sys.get_int_max_str_digits():,} digits" in message
    the_anchor = Anchor(0, 1, 0, "0x" + "00" * 32, "0x" + "33" * 32, "0x" + "22" * 20, "0x" + "44" * 32, 1, 1)
    found = check_document(content, the_anchor, chain_id=31337, registry="0x" + "11" * 20)
    assert found.status == "mismatch" and found.reason and "\n" not in found.reason  # the index agrees


def test_a_whole_document_still_parses() -> None:
    data = _good()
    assert parse_document(json.dumps(data).encode()).count == 1
