"""Filling the outbox from the index, and noticing events a reorg took away.

Each pass (:meth:`Outbox.pass_once`), reading the index in one snapshot:

1. reversals: every active outbox event in a block the index could still roll back (above the
   last final block seen by the previous pass) is looked up in the index; one whose row is gone
   becomes ``reverted``, its pending deliveries stop, and each endpoint that may have received it
   gets ``<type>.reverted``. A row found in another block (its transaction mined again) just moves;
2. the cursor: if the block last scanned changed hash (a reorg below the cursor), scanning starts
   again from the last final block (inserts are idempotent: events and deliveries are unique);
3. collection: the events of blocks ``cursor + 1 .. min(index's last block, head - confirmations)``
   that some endpoint wants go into the outbox with one pending delivery per endpoint, and the
   cursor moves, in one transaction; then ``invoice.overdue`` for open invoices past due.

The first pass starts the cursor at the chain's head: events from before the dispatcher first ran
are history, not news. An event a reorg removed that later comes back under the same id
(the same transaction mined again at the same log index, after its reversal was queued) stays
reverted: its id was already used, and a receiver deduplicating by id would drop it anyway.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from chaincrm.index import schema as db
from chaincrm.index.database import IndexState, database_errors, read_state, writing
from chaincrm.webhooks import store as tables
from chaincrm.webhooks.events import OVERDUE, LogKey, WebhookEvent, collect, logs_in, moved_to, overdue
from chaincrm.webhooks.store import Endpoint, insert_ignoring_duplicates

log = logging.getLogger("chaincrm.webhooks")

DEFAULT_BLOCKS_PER_PASS = 5_000


@dataclass(frozen=True)
class OutboxReport:
    collected: int = 0
    reverted: int = 0
    scanned_to: int | None = None
    more: bool = False  # the pass stopped at its block limit: more confirmed blocks wait


@dataclass(frozen=True)
class _Cursor:
    last_scanned: int
    last_scanned_hash: str | None
    final_checked: int


class Outbox:
    def __init__(
        self,
        integration: Engine,
        index: Engine,
        head: Callable[[], int],
        *,
        confirmations: int,
        blocks_per_pass: int = DEFAULT_BLOCKS_PER_PASS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.integration = integration
        self.index = index
        self.head = head
        self.confirmations = confirmations
        self.blocks_per_pass = blocks_per_pass
        self.clock = clock
        self.store = tables.WebhookStore(integration)

    def pass_once(self) -> OutboxReport:
        index_state = read_state(self.index)
        if index_state is None:
            return OutboxReport()  # no index yet: the follower makes it
        head = self.head()
        confirmed = head - self.confirmations
        cursor = self._cursor(index_state, head)
        endpoints = self._anchored(self.store.endpoints(), cursor.last_scanned)
        with database_errors(self.index), self.index.connect() as idx:
            index_state = _state_in(idx) or index_state  # the snapshot's own view
            reverted = self._reversals(idx, index_state, cursor)
            if cursor.last_scanned > cursor.final_checked and _hash_at(idx, cursor.last_scanned) != (
                cursor.last_scanned_hash
            ):
                cursor = _Cursor(cursor.final_checked, None, cursor.final_checked)  # scan again from there
            final_checked = max(cursor.final_checked, min(index_state.last_final_block, index_state.last_block))
            reachable = min(index_state.last_block, confirmed)
            upper = min(reachable, cursor.last_scanned + self.blocks_per_pass)
            wanted = {name for endpoint in endpoints for name in endpoint.events}
            found: list[WebhookEvent] = []
            if upper > cursor.last_scanned and wanted:
                found = collect(idx, index_state.chain_id, cursor.last_scanned, upper, wanted)
            if OVERDUE in wanted:
                found += self._overdue(idx, index_state.chain_id, reachable)
            scanned = max(cursor.last_scanned, upper)
            scanned_hash = _hash_at(idx, scanned) if scanned > index_state.last_final_block else None
        moved = _Cursor(scanned, scanned_hash, final_checked)
        if found or moved != cursor:  # an idle pass writes nothing
            self._write(found, endpoints, moved)
        return OutboxReport(len(found), reverted, scanned, more=scanned < reachable)

    # ------------------------------------------------------------------ steps

    def _anchored(self, found: list[Endpoint], scanned: int) -> list[Endpoint]:
        """The endpoints, each new one anchored at the block scanned so far: it gets only events
        from later blocks, never older ones a rescan finds again or a pass collects late."""
        new = [endpoint.id for endpoint in found if endpoint.since_block is None]
        if not new:
            return found
        with database_errors(self.integration), writing(self.integration) as conn:
            conn.execute(
                update(tables.endpoints)
                .where(tables.endpoints.c.id.in_(new), tables.endpoints.c.since_block.is_(None))
                .values(since_block=scanned)
            )
            return self.store.endpoints(conn=conn)

    def _cursor(self, index_state: IndexState, head: int) -> _Cursor:
        query = select(tables.state).where(tables.state.c.id == 1)
        with database_errors(self.integration), self.integration.connect() as conn:
            row = conn.execute(query).first()
        if row is not None:
            return _Cursor(int(row.last_scanned_block), row.last_scanned_hash, int(row.final_checked_block))
        with database_errors(self.integration), writing(self.integration) as conn:
            row = conn.execute(query).first()
            if row is not None:  # another dispatcher on this database started it meanwhile
                return _Cursor(int(row.last_scanned_block), row.last_scanned_hash, int(row.final_checked_block))
            # Nothing before the start is news: the start counts as settled, whatever happens below it.
            start = max(head, index_state.start_block - 1)
            conn.execute(
                insert(tables.state).values(
                    id=1, last_scanned_block=start, last_scanned_hash=None, final_checked_block=start
                )
            )
            log.info("webhooks start after block %d", start)
            return _Cursor(start, None, start)

    def _reversals(self, idx: Connection, index_state: IndexState, cursor: _Cursor) -> int:
        """Mark the outbox events whose rows a reorg removed; returns how many."""
        with database_errors(self.integration), self.integration.connect() as conn:
            rows = conn.execute(
                select(tables.events).where(
                    tables.events.c.status == "active",
                    tables.events.c.block_number > cursor.final_checked,
                    tables.events.c.block_number <= index_state.last_block,  # not rolled back and unread
                    tables.events.c.source != db.invoices.name,
                )
            ).all()
        if not rows:
            return 0
        by_source: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_source[row.source].append(row)
        gone: list[str] = []
        moved: dict[str, int] = {}
        for source, group in by_source.items():
            present = logs_in(idx, source, cursor.final_checked, index_state.last_block)
            for row in group:
                key: LogKey = (str(row.tx_hash), int(row.log_index), int(row.position))
                block = present.get(key) or moved_to(idx, source, key)
                if block is None:
                    gone.append(row.id)
                elif block != row.block_number:
                    moved[row.id] = block
        if gone or moved:
            self._write_reversals(gone, moved)
        return len(gone)

    def _write_reversals(self, gone: list[str], moved: dict[str, int]) -> None:
        now = self.clock()
        d = tables.deliveries
        with database_errors(self.integration), writing(self.integration) as conn:
            for event_id, block in moved.items():
                conn.execute(update(tables.events).where(tables.events.c.id == event_id).values(block_number=block))
            if not gone:
                return
            conn.execute(
                update(tables.events)
                .where(tables.events.c.id.in_(gone))
                .values(status="reverted", reverted_at=int(now))
            )
            reached = conn.execute(
                select(d.c.endpoint_id, d.c.event_id)
                .where(d.c.event_id.in_(gone), d.c.kind == "event", d.c.attempts > 0)
                .distinct()
            ).all()
            conn.execute(
                update(d)
                .where(d.c.event_id.in_(gone), d.c.kind == "event", d.c.status == "pending")
                .values(status="failed", last_error="the event was reverted by a reorg", next_attempt_at=now)
            )
            insert_ignoring_duplicates(
                conn,
                d,
                [_pending(endpoint_id, event_id, "reverted", now) for endpoint_id, event_id in reached],
            )
        log.warning("webhooks: %d event(s) reverted by a reorg", len(gone))

    def _overdue(self, idx: Connection, chain_id: int, upto: int) -> list[WebhookEvent]:
        clock = idx.execute(
            select(db.blocks.c.number, db.blocks.c.timestamp)
            .where(db.blocks.c.number <= upto)
            .order_by(db.blocks.c.number.desc())
            .limit(1)
        ).first()
        if clock is None:
            return []
        candidates = overdue(idx, chain_id, int(clock.timestamp), upto, int(clock.number))
        if not candidates:
            return []
        with database_errors(self.integration), self.integration.connect() as conn:
            known = set(
                conn.execute(
                    select(tables.events.c.id).where(tables.events.c.id.in_([event.id for event in candidates]))
                ).scalars()
            )
        return [event for event in candidates if event.id not in known]

    def _write(self, found: list[WebhookEvent], endpoints: list[Endpoint], cursor: _Cursor) -> None:
        now = self.clock()
        event_rows = [
            {
                "id": event.id,
                "type": event.type,
                "payload": event.payload(),
                "source": event.source,
                "block_number": event.block_number,
                "tx_hash": event.tx_hash,
                "log_index": event.log_index,
                "position": event.position,
                "status": "active",
                "collected_at": now,
            }
            for event in found
        ]
        with database_errors(self.integration), writing(self.integration) as conn:
            # An event found again (a rescan after a reorg check) was given to the endpoints that
            # existed when it was first found; an endpoint added since starts with later events.
            known = set(
                conn.execute(
                    select(tables.events.c.id).where(tables.events.c.id.in_([event.id for event in found]))
                ).scalars()
            )
            delivery_rows = [
                _pending(endpoint.id, event.id, "event", now)
                for event in found
                if event.id not in known
                for endpoint in endpoints
                if endpoint.gets(event.type, event.block_number)
            ]
            insert_ignoring_duplicates(conn, tables.events, event_rows)
            insert_ignoring_duplicates(conn, tables.deliveries, delivery_rows)
            conn.execute(
                update(tables.state)
                .where(tables.state.c.id == 1)
                .values(
                    last_scanned_block=cursor.last_scanned,
                    last_scanned_hash=cursor.last_scanned_hash,
                    final_checked_block=cursor.final_checked,
                )
            )


def _pending(endpoint_id: int, event_id: str, kind: str, now: float) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "kind": kind,
        "replay_of": None,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _hash_at(idx: Connection, number: int) -> str | None:
    found = idx.execute(select(db.blocks.c.hash).where(db.blocks.c.number == number)).scalar()
    return None if found is None else str(found)


def _state_in(idx: Connection) -> IndexState | None:
    row = idx.execute(select(db.sync_state).where(db.sync_state.c.id == 1)).mappings().first()
    if row is None:
        return None
    return IndexState(
        chain_id=int(row["chain_id"]),
        registry=row["registry"],
        pipeline=row["pipeline"],
        escrow=row["escrow"],
        start_block=int(row["start_block"]),
        last_final_block=int(row["last_final_block"]),
        last_block=int(row["last_block"]),
        confirmations=int(row["confirmations"]),
        updated_at=int(row["updated_at"]),
    )


__all__ = ["Outbox", "OutboxReport"]
