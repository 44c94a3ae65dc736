"""The schema's wei type and the decoder, without a chain."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from chaincrm import index_schema as db
from chaincrm.indexer import decode_logs, open_database
from chaincrm.models import InteractionKind, Outcome
from chaincrm.registry import InteractionEntry, pack_records

AUTHOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


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
        st.sampled_from(list(InteractionKind)),
        st.sampled_from(list(Outcome)),
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

    rows = decode_logs([log], {}).rows[db.interactions.name]

    assert [(r["customer_id"], r["kind"], r["outcome"], r["content_hash"], r["position"]) for r in rows] == [
        (e.customer_id, e.kind, e.outcome, "0x" + e.content_hash.hex(), i) for i, e in enumerate(entries)
    ]
    assert {(r["author"], r["at"], r["block_number"], r["log_index"]) for r in rows} == {(AUTHOR, 1_700_000_000, 16, 3)}
