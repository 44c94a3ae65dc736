"""One pass of the indexer: check for a reorg, then read every block up to the head, range by range,
each range decoded and written in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chaincrm.index import schema as db
from chaincrm.index.batches import BatchChecker
from chaincrm.index.checks import Preflight
from chaincrm.index.decode import Batch, decode_logs
from chaincrm.index.ranges import AdaptiveRanges, LogRange
from chaincrm.index.reorgs import ChainMoved, ReorgGuard
from chaincrm.index.rpc import Header, Rpc
from chaincrm.index.store import IndexStore


@dataclass(frozen=True)
class SyncProgress:
    """Reported after each range is written."""

    first_block: int
    block: int
    head: int
    rows: int


@dataclass(frozen=True)
class SyncReport:
    """What one pass did."""

    chain_id: int
    first_block: int  # first block read in this pass (after any rollback)
    last_block: int  # last block now in the index
    head: int
    last_final_block: int
    rolled_back_from: int | None  # first block whose rows were rolled back by a reorg
    logs: int
    foreign_logs: int  # logs with a CRM event's topic from an address that may not emit it: ignored
    rows: int
    interactions: int
    ranges: int
    range_refusals: int
    retries: int
    seconds: float
    batches_checked: int = 0  # anchored batches whose document was fetched and checked in this pass
    batches_unavailable: int = 0  # anchored batches still without their document (tried again next pass)
    batch_records: int = 0  # records of anchored batches added as interactions (also in rows, interactions)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Tally:
    logs: int = 0
    foreign: int = 0
    rows: int = 0
    interactions: int = 0
    ranges: int = 0

    def add(self, range_: LogRange, batch: Batch) -> None:
        self.logs += len(range_.logs)
        self.foreign += batch.foreign
        self.rows += batch.row_count
        self.interactions += len(batch.rows.get(db.interactions.name, ()))
        self.ranges += 1


class Pass:
    """Runs passes for one indexer; each :meth:`run` is one pass (it raises ChainMoved when the
    chain reorganises under it, and the caller starts again)."""

    def __init__(
        self,
        rpc: Rpc,
        store: IndexStore,
        preflight: Preflight,
        ranges: AdaptiveRanges,
        emitters: Mapping[str, str],
        on_progress: Callable[[SyncProgress], None] | None,
        batches: BatchChecker | None = None,
    ) -> None:
        self.rpc = rpc
        self.batches = batches
        self.store = store
        self.preflight = preflight
        self.ranges = ranges
        self.guard = ReorgGuard(rpc, store)
        self.emitters = emitters
        self.on_progress = on_progress

    def run(self) -> SyncReport:
        started = time.perf_counter()
        retries_before, refusals_before = self.rpc.retries, self.ranges.refusals
        state = self.preflight.prepare()
        head = int(self.rpc.call("eth_blockNumber", []), 16)
        rolled_back = self.guard.undo(state, head)
        if rolled_back is not None:
            state = self.store.state()
        final_target = head - self.store.confirmations
        first = cursor = state.last_block + 1
        last_final = state.last_final_block
        stored = self.store.stored_hashes()
        tally = _Tally()
        while cursor <= head:
            range_ = self.ranges.read(cursor, head)
            last_final = max(last_final, min(range_.last, final_target))
            batch, kept = self._decode(range_, final_target, stored)
            self.store.write_range(batch, kept, expected_last=cursor - 1, last_block=range_.last, last_final=last_final)
            stored.update({header.number: header.hash for header in kept})
            tally.add(range_, batch)
            cursor = range_.last + 1
            if self.on_progress is not None:
                self.on_progress(SyncProgress(first_block=first, block=range_.last, head=head, rows=tally.rows))
        last_final = max(last_final, min(cursor - 1, final_target))
        checked = self.batches.run(expected_last=cursor - 1) if self.batches is not None else None
        self.store.finalise(last_final)
        return SyncReport(
            chain_id=self.preflight.chain_id or 0,
            first_block=first,
            last_block=cursor - 1,
            head=head,
            last_final_block=last_final,
            rolled_back_from=rolled_back,
            logs=tally.logs,
            foreign_logs=tally.foreign,
            rows=tally.rows + (checked.records + checked.refused if checked else 0),
            interactions=tally.interactions + (checked.records if checked else 0),
            ranges=tally.ranges,
            range_refusals=self.ranges.refusals - refusals_before,
            retries=self.rpc.retries - retries_before,
            seconds=time.perf_counter() - started,
            batches_checked=checked.checked if checked else 0,
            batches_unavailable=checked.unavailable if checked else 0,
            batch_records=checked.records if checked else 0,
        )

    def _decode(self, range_: LogRange, final_target: int, stored: dict[int, str]) -> tuple[Batch, list[Header]]:
        """The range's rows, and the headers to keep: its provisional blocks and its last one."""
        keep = set(range(max(range_.first, final_target), range_.last + 1)) | {range_.last}
        untimed = {int(log["blockNumber"], 16) for log in range_.logs if not log.get("blockTimestamp")}
        wanted = keep | {range_.first} | untimed
        headers = self.rpc.headers(sorted(wanted))
        if len(headers) < len(wanted):
            raise ChainMoved  # blocks we just saw logs for are gone: the chain got shorter
        self.guard.check_range(range_.first, headers, range_.logs, stored)
        times = {number: header.timestamp for number, header in headers.items()}
        batch = decode_logs(range_.logs, times, self.emitters)
        return batch, [headers[number] for number in sorted(keep) if number in headers]


__all__ = ["Pass", "SyncProgress", "SyncReport"]
