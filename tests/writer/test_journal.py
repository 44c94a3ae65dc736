"""The transaction journal on its own: nonces handed out once, holes given back, a new chain."""

from __future__ import annotations

import threading
from pathlib import Path

from chaincrm.chain.journal import Journal, TxState

CHAIN = 31337
SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_nonces_start_at_the_chains_count_and_never_repeat(tmp_path: Path) -> None:
    journal = Journal.in_state_dir(tmp_path)

    first = journal.allocate(CHAIN, SENDER, latest=5, pending=7, record_keys=[None, None])  # 5, 6: another writer's
    second = journal.allocate(CHAIN, SENDER, latest=5, pending=7)
    gone = journal.allocate(CHAIN, SENDER, latest=5, pending=5)  # the node lost the other writer's 5 and 6

    assert [e.nonce for e in first] == [7, 8]
    assert [e.nonce for e in second] == [9]
    assert [e.nonce for e in gone] == [5]  # a gap below ours is filled first
    assert journal.peek(CHAIN, SENDER, latest=12, pending=12) == 12  # never below the chain's count


def test_a_refused_transaction_gives_its_nonce_back(tmp_path: Path) -> None:
    journal = Journal.in_state_dir(tmp_path)
    a, b, c = journal.allocate(CHAIN, SENDER, latest=0, pending=0, record_keys=[None, None, None])

    journal.release(b.id)
    journal.release(c.id)

    assert [e.nonce for e in journal.allocate(CHAIN, SENDER, latest=0, pending=0, record_keys=[None, None])] == [1, 2]
    assert journal.entry(b.id).state is TxState.FAILED


def test_writers_sharing_a_journal_file_never_get_the_same_nonce(tmp_path: Path) -> None:
    taken: list[int] = []

    def write() -> None:
        journal = Journal.in_state_dir(tmp_path)  # a connection of its own, as another process has
        for _ in range(50):
            taken.extend(e.nonce for e in journal.allocate(CHAIN, SENDER, latest=0, pending=0))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(taken) == list(range(200))


def test_a_new_chain_under_the_same_id_forgets_the_rows_instead_of_replaying_them(tmp_path: Path) -> None:
    journal = Journal.in_state_dir(tmp_path)
    assert journal.same_chain(CHAIN, "0xaa")
    (row,) = journal.allocate(CHAIN, SENDER, latest=0, pending=0, record_keys=["record-1"])
    journal.settle([(row.id, TxState.MINED, "0x01", 1)])

    assert journal.same_chain(CHAIN, "0xaa")
    assert not journal.same_chain(CHAIN, "0xbb")
    assert journal.entry(row.id).state is TxState.ABANDONED
    assert journal.by_record(CHAIN, ["record-1"]) == {}
    assert journal.peek(CHAIN, SENDER, latest=0, pending=0) == 0
