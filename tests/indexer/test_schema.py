"""The schema's wei type and the decoder, without a chain: crafted logs, any code, any address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from chaincrm.contracts.registry import InteractionEntry, pack_records
from chaincrm.index import schema as db
from chaincrm.index.indexer import customer_timeline, decode_logs, open_database
from chaincrm.models import InteractionKind, Outcome
from tests.indexer.conftest import craft_log

AUTHOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
STAFF = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PIPELINE = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
ESCROW = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
FOREIGN = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
CONTRACTS = {"CrmRegistry": REGISTRY, "DealPipeline": PIPELINE, "InvoiceEscrow": ESCROW}
HASH = b"\x33" * 32
LEAD_TO_STAGE_9: dict[str, Any] = {"from": 1, "to": 9}  # `from` is a Python keyword


def test_wei_amounts_beyond_64_bits_stay_exact_and_ordered_in_sqlite(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "wei.sqlite")
    db.metadata.create_all(engine)
    values = [2**95 - 1, 10**18, 7, 2**64]
    with engine.begin() as conn:
        conn.execute(
            insert(db.deals),
            [
                {
                    "id": i,
                    "customer_id": 1,
                    "owner": AUTHOR,
                    "value_wei": v,
                    "stage": 1,
                    "opened_at": 0,
                    "block_number": 1,
                }
                for i, v in enumerate(values, start=1)
            ],
        )

    with engine.connect() as conn:
        ordered = conn.execute(select(db.deals.c.value_wei).order_by(db.deals.c.value_wei)).scalars().all()
        above = conn.execute(select(db.deals.c.value_wei).where(db.deals.c.value_wei > 2**64)).scalars().all()

    assert ordered == sorted(values)
    assert above == [2**95 - 1]


_entries = st.lists(
    st.builds(
        InteractionEntry,
        st.integers(1, 2**64 - 1),
        st.integers(0, 255).map(InteractionKind),  # any byte: the codes of a later version too
        st.integers(0, 255).map(Outcome),
        st.binary(min_size=32, max_size=32),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=50, deadline=None)
@given(_entries)
def test_a_packed_batch_decodes_to_one_row_per_record_in_order(entries: list[InteractionEntry]) -> None:
    from eth_abi import encode
    from eth_utils import keccak

    records = pack_records(entries)
    log = {
        "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
        "topics": [
            "0x" + keccak(text="InteractionsLogged(address,uint64,bytes)").hex(),
            "0x" + "00" * 12 + AUTHOR[2:].lower(),
        ],
        "data": "0x" + encode(["uint64", "bytes"], [1_700_000_000, records]).hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "11" * 32,
        "blockTimestamp": "0x6553f100",
        "transactionHash": "0x" + "22" * 32,
        "logIndex": "0x3",
    }

    rows = decode_logs([log], {}, CONTRACTS).rows[db.interactions.name]

    assert [(r["customer_id"], r["kind"], r["outcome"], r["content_hash"], r["position"]) for r in rows] == [
        (e.customer_id, e.kind, e.outcome, "0x" + e.content_hash.hex(), i) for i, e in enumerate(entries)
    ]
    assert {(r["author"], r["at"], r["block_number"], r["log_index"]) for r in rows} == {(AUTHOR, 1_700_000_000, 16, 3)}


def _codes_beyond_this_version() -> list[dict[str, object]]:
    batch = pack_records([InteractionEntry(7, InteractionKind(200), Outcome.POSITIVE, HASH)])
    return [
        craft_log(
            "InteractionLogged",
            REGISTRY,
            log_index=0,
            customerId=7,
            author=AUTHOR,
            contentHash=HASH,
            kind=1,
            outcome=6,
            at=1_700_000_000,
        ),  # fmt: skip
        craft_log("InteractionsLogged", REGISTRY, log_index=1, author=AUTHOR, at=1_700_000_000, records=batch),
        craft_log("AccessGranted", REGISTRY, log_index=2, customerId=7, staff=STAFF, purpose=9, actor=AUTHOR),
        craft_log("ConsentChanged", REGISTRY, log_index=3, customerId=7, purpose=9, granted=True, relayer=AUTHOR),
        craft_log(
            "DealStageChanged", PIPELINE, log_index=4, dealId=3, actor=AUTHOR, **LEAD_TO_STAGE_9, at=1_700_000_000
        ),  # fmt: skip
        craft_log("DealLost", PIPELINE, log_index=5, dealId=3, reason=7, actor=AUTHOR),
        craft_log(
            "DealDocumentAttached",
            PIPELINE,
            log_index=6,
            dealId=3,
            documentKind=8,
            actor=AUTHOR,
            contentHash=HASH,
            cidDigest=HASH,
        ),  # fmt: skip
    ]


def test_codes_this_version_does_not_know_are_stored_as_the_chain_emitted_them() -> None:
    batch = decode_logs(_codes_beyond_this_version(), {}, CONTRACTS)

    interactions = batch.rows[db.interactions.name]
    assert [(row["kind"], row["outcome"]) for row in interactions] == [(1, 6), (200, 1)]
    assert [row["purpose"] for row in batch.rows[db.access_events.name]] == [9]
    assert [row["purpose"] for row in batch.rows[db.consent_events.name]] == [9]
    assert [row["to_stage"] for row in batch.rows[db.stage_changes.name]] == [9]
    assert [row["reason"] for row in batch.rows[db.deal_events.name]] == [7]
    assert [row["kind"] for row in batch.rows[db.documents.name]] == [8]


def test_a_timeline_reads_codes_this_version_does_not_know_as_unknown(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "codes.sqlite")
    db.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(db.interactions), decode_logs(_codes_beyond_this_version(), {}, CONTRACTS).rows["interactions"]
        )

    timeline = customer_timeline(engine, 7)

    assert sorted((i.kind.label, i.outcome.label) for i in timeline) == [
        ("call", "unknown(6)"),
        ("unknown(200)", "positive"),
    ]
    assert not any(i.outcome.known for i in timeline if i.kind is InteractionKind.CALL)


def test_a_log_with_a_crm_topic_from_another_address_is_ignored_and_counted() -> None:
    foreign = craft_log("InteractionLogged", FOREIGN, customerId=7, author=AUTHOR, contentHash=HASH, kind=1,
                        outcome=1, at=1_700_000_000)  # fmt: skip

    batch = decode_logs([foreign], {}, CONTRACTS)

    assert (batch.rows, batch.foreign) == ({}, 1)


def test_an_event_from_the_wrong_one_of_the_deployments_contracts_is_ignored() -> None:
    """An escrow event is trusted from the escrow only, even when another followed contract emits it."""
    paid_by_the_registry = craft_log("InvoicePaid", REGISTRY, invoiceId=1, payer=AUTHOR, treasury=STAFF, amount=5,
                                     at=1_700_000_000)  # fmt: skip
    paid = dict(paid_by_the_registry, address=ESCROW.lower(), logIndex="0x1")

    batch = decode_logs([paid_by_the_registry, paid], {}, CONTRACTS)

    assert batch.foreign == 1
    assert [(row["invoice_id"], row["kind"], row["treasury"]) for row in batch.rows[db.invoice_events.name]] == [
        (1, "paid", STAFF)
    ]
