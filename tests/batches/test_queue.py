"""The durable queue: records are committed when enqueue returns, each joins exactly one batch, and
bad input is one line that changes nothing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from chaincrm.batches import PENDING, InteractionQueue, QueueScope, RecordEntry
from chaincrm.batches.tree import leaf_hash
from chaincrm.errors import BatchError, ConfigError

SCOPE = QueueScope(31337, "0x" + "11" * 20, "0x" + "22" * 20)


@pytest.fixture
def local_queue(tmp_path: Path) -> InteractionQueue:
    return InteractionQueue(tmp_path / "state" / "interaction-queue.sqlite", SCOPE)


def test_an_enqueued_record_is_pending_with_a_random_32_byte_id(local_queue: InteractionQueue) -> None:
    content = os.urandom(32)

    record_id = local_queue.enqueue(7, 1, 2, content, logged_at=1_700_000_000)

    record = local_queue.record(record_id)
    assert len(record_id) == 32 and record.state == PENDING and record.batch_id is None
    assert (record.customer_id, record.kind, record.outcome, record.content_hash) == (7, 1, 2, content)
    assert record.logged_at == 1_700_000_000


def test_a_record_survives_closing_and_reopening_the_queue(local_queue: InteractionQueue) -> None:
    record_id = local_queue.enqueue(7, 1, 2, os.urandom(32))
    local_queue.close()

    with InteractionQueue(local_queue.path, SCOPE) as reopened:
        assert reopened.record(record_id).state == PENDING
        assert reopened.pending_count() == 1


def test_a_retry_with_the_same_record_id_is_not_queued_twice(local_queue: InteractionQueue) -> None:
    record_id = os.urandom(32)

    local_queue.enqueue(7, 1, 2, os.urandom(32), record_id=record_id)
    local_queue.enqueue(7, 1, 2, os.urandom(32), record_id=record_id)

    assert local_queue.pending_count() == 1


def test_a_batch_takes_the_oldest_pending_records_in_one_step(local_queue: InteractionQueue) -> None:
    ids = local_queue.enqueue_many(RecordEntry(i + 1, 1, 0, os.urandom(32)) for i in range(25))

    batch = local_queue.form_batch(10)

    assert batch is not None and batch.count == 10 and batch.state == "batched"
    assert [local_queue.record(i).batch_id for i in ids[:10]] == [batch.id] * 10
    assert local_queue.pending_count() == 15
    document = local_queue.document(batch)
    assert document.root == batch.root
    assert [value.record_id for value in document.tree.values] == ids[:10]
    assert document.tree.leaf(0) == leaf_hash(ids[0], 1, 1, 0, local_queue.record(ids[0]).content_hash)


def test_nothing_pending_forms_no_batch(local_queue: InteractionQueue) -> None:
    assert local_queue.form_batch(10) is None


def test_batchers_racing_on_one_queue_put_each_record_in_exactly_one_batch(local_queue: InteractionQueue) -> None:
    ids = local_queue.enqueue_many(RecordEntry(1, 1, 0, os.urandom(32)) for _ in range(600))
    found: list[list[bytes]] = []
    problems: list[BaseException] = []

    def drain() -> None:
        try:
            with InteractionQueue(local_queue.path, SCOPE) as mine:
                while (batch := mine.form_batch(7)) is not None:
                    found.append([value.record_id for value in mine.document(batch).tree.values])
        except BaseException as problem:
            problems.append(problem)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    batched = [record_id for batch in found for record_id in batch]
    assert problems == []
    assert sorted(batched) == sorted(ids)


def test_an_unknown_record_id_is_one_line(local_queue: InteractionQueue) -> None:
    with pytest.raises(BatchError, match="is not in this queue"):
        local_queue.record(os.urandom(32))


def test_another_scope_does_not_see_the_records(local_queue: InteractionQueue) -> None:
    record_id = local_queue.enqueue(7, 1, 2, os.urandom(32))
    other = QueueScope(SCOPE.chain_id, SCOPE.registry, "0x" + "33" * 20)

    with InteractionQueue(local_queue.path, other) as theirs:
        assert theirs.pending_count() == 0
        with pytest.raises(BatchError):
            theirs.record(record_id)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (RecordEntry(0, 1, 0, b"\x01" * 32), "customer id 0"),
        (RecordEntry(2**64, 1, 0, b"\x01" * 32), "customer id"),
        (RecordEntry(1, 8, 0, b"\x01" * 32), "kind 8"),
        (RecordEntry(1, 1, 6, b"\x01" * 32), "outcome 6"),
        (RecordEntry(1, 1, 0, b"\x01" * 31), "content hash"),
        (RecordEntry(1, 1, 0, b"\x00" * 32), "must not be zero"),
        (RecordEntry(1, 1, 0, b"\x01" * 32, record_id=b"\x01"), "record id"),
    ],
)
def test_a_bad_record_is_one_line_and_queues_nothing(
    local_queue: InteractionQueue, entry: RecordEntry, says: str
) -> None:
    good = RecordEntry(1, 1, 0, os.urandom(32))

    with pytest.raises(ConfigError, match=says):
        local_queue.enqueue_many([good, entry])

    assert local_queue.pending_count() == 0


def test_a_batch_size_above_1000_is_refused(local_queue: InteractionQueue) -> None:
    with pytest.raises(ConfigError, match="1 to 1000"):
        local_queue.form_batch(1001)
