"""The durable local queue of interaction records waiting to be anchored in a batch.

One SQLite file (WAL) under the home's state folder, ``<home>/state/interaction-queue.sqlite``,
holds every queue of the home; a queue is one (chain id, registry, author) scope. Records and
batches live in the file, not in memory: a million pending records cost the process no more than
SQLite's page cache.

A record's life::

    pending --form_batch--> batched(batch) --> anchored(tx hash, block)

and a batch's::

    batched --mark_stored(cid)--> stored --mark_sent(raw tx)--> sent --mark_anchored--> anchored
                                    ^-------- clear_sent (the signed tx can never land) --'      |
                                    ^-------- reopen (the chain rewound: its anchor is gone) ----'

Every step is one committed SQLite transaction (``synchronous=NORMAL`` in WAL mode: a commit
survives the process being killed at any point; a power cut may lose the last commits). A batch
is formed in one transaction that both creates it and moves its records out of pending, so a
record is in exactly one batch. Its document is rebuilt from its records whenever needed (it is
deterministic: the same records and time give the same bytes and the same CID), so nothing but
the records is stored. :mod:`chaincrm.batches.anchoring` drives the batches to anchored,
resuming any that a dead process left incomplete.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from chaincrm.batches.document import BatchDocument, build_document
from chaincrm.batches.tree import LeafValue, leaf_hash
from chaincrm.errors import BatchError, ConfigError

if TYPE_CHECKING:
    from chaincrm.contracts.client import Crm

QUEUE_FILE = "interaction-queue.sqlite"
BUSY_TIMEOUT_MS = 30_000
RECORD_ID_BYTES = 32
KIND_RANGE = range(1, 8)  # InteractionKind, as logInteraction takes it
OUTCOME_RANGE = range(0, 6)  # Outcome
UINT64_MAX = 2**64 - 1
MAX_BATCH_RECORDS = 1000

PENDING, BATCHED, ANCHORED = "pending", "batched", "anchored"
"""A record's states."""
STORED, SENT = "stored", "sent"
"""A batch's states besides batched and anchored."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scopes (
    id INTEGER PRIMARY KEY,
    chain_id INTEGER NOT NULL,
    registry TEXT NOT NULL,
    author TEXT NOT NULL,
    UNIQUE (chain_id, registry, author)
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    scope_id INTEGER NOT NULL REFERENCES scopes (id),
    root BLOB NOT NULL UNIQUE,
    count INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    cid TEXT,
    raw_tx BLOB,
    tx_hash TEXT,
    nonce INTEGER,
    max_fee TEXT,
    tip TEXT,
    from_block INTEGER,
    block_number INTEGER,
    anchored_at REAL
);
CREATE INDEX IF NOT EXISTS batches_open ON batches (scope_id, state);
CREATE INDEX IF NOT EXISTS batches_by_block ON batches (scope_id, state, block_number);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    scope_id INTEGER NOT NULL REFERENCES scopes (id),
    record_id BLOB NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    content_hash BLOB NOT NULL,
    leaf BLOB NOT NULL,
    logged_at INTEGER NOT NULL,
    queued_at REAL NOT NULL,
    batch_id INTEGER REFERENCES batches (id)
);
CREATE INDEX IF NOT EXISTS records_pending ON records (scope_id, seq) WHERE batch_id IS NULL;
CREATE INDEX IF NOT EXISTS records_in_batch ON records (batch_id, seq) WHERE batch_id IS NOT NULL;
"""


@dataclass(frozen=True)
class QueueScope:
    """Whose queue: the chain, the registry the batches are anchored on, and the agent who anchors."""

    chain_id: int
    registry: str
    author: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry", to_checksum_address(self.registry))
        object.__setattr__(self, "author", to_checksum_address(self.author))


@dataclass(frozen=True)
class RecordEntry:
    """One interaction to queue: only ids and the content hash (the CID digest of its encrypted
    document), never the content."""

    customer_id: int
    kind: int
    outcome: int
    content_hash: bytes
    logged_at: int | None = None  # client time, Unix seconds [default: now]
    record_id: bytes | None = None  # its identity [default: 32 random bytes]


@dataclass(frozen=True)
class QueuedRecord:
    """A record as the queue holds it, with its batch's state: pending, batched or anchored."""

    record_id: bytes
    customer_id: int
    kind: int
    outcome: int
    content_hash: bytes
    logged_at: int
    state: str
    batch_id: int | None
    root: bytes | None
    cid: str | None
    tx_hash: str | None
    block_number: int | None

    @property
    def value(self) -> LeafValue:
        return LeafValue(self.record_id, self.customer_id, self.kind, self.outcome, self.content_hash)


@dataclass(frozen=True)
class Batch:
    """A batch as the queue holds it: state batched, stored (its document on IPFS: `cid`), sent
    (a signed anchor transaction: `tx_hash`, `nonce`) or anchored (`tx_hash`, `block_number`)."""

    id: int
    root: bytes
    count: int
    created_at: int
    state: str
    cid: str | None
    raw_tx: bytes | None
    tx_hash: str | None
    nonce: int | None
    max_fee: int | None
    tip: int | None
    from_block: int | None
    block_number: int | None


@dataclass(frozen=True)
class QueueStatus:
    pending: int
    batched: int  # records in batches not anchored yet
    anchored: int
    open_batches: int
    anchored_batches: int
    oldest_pending_age_seconds: float | None


def queue_path(state_dir: Path) -> Path:
    """Where a home keeps its queues: ``<home>/state/interaction-queue.sqlite``."""
    return Path(state_dir) / QUEUE_FILE


def open_queue(crm: Crm, state_dir: Path, author: str) -> InteractionQueue:
    """The queue of `author` for `crm`'s registry on its chain, in the home's state folder."""
    return InteractionQueue(queue_path(state_dir), QueueScope(crm.chain.chain_id, crm.registry.address, author))


def new_record_id() -> bytes:
    return os.urandom(RECORD_ID_BYTES)


def check_entry(entry: RecordEntry) -> None:
    """ConfigError naming the field unless `entry` is a record the registry would take."""
    if isinstance(entry.customer_id, bool) or not isinstance(entry.customer_id, int):
        raise ConfigError("customer id must be a whole number")
    if not 0 < entry.customer_id <= UINT64_MAX:
        raise ConfigError(f"customer id {entry.customer_id} is out of range")
    if int(entry.kind) not in KIND_RANGE:
        raise ConfigError(f"interaction kind {int(entry.kind)} is not 1 to 7")
    if int(entry.outcome) not in OUTCOME_RANGE:
        raise ConfigError(f"interaction outcome {int(entry.outcome)} is not 0 to 5")
    if not isinstance(entry.content_hash, bytes) or len(entry.content_hash) != RECORD_ID_BYTES:
        raise ConfigError("an interaction's content hash must be 32 bytes")
    if entry.content_hash == bytes(RECORD_ID_BYTES):
        raise ConfigError("an interaction's content hash must not be zero")
    if entry.record_id is not None and (not isinstance(entry.record_id, bytes) or len(entry.record_id) != 32):
        raise ConfigError("a record id must be 32 bytes")
    if entry.logged_at is not None and not 0 <= entry.logged_at <= UINT64_MAX:
        raise ConfigError("logged_at must be Unix seconds")


class InteractionQueue:
    """One scope's queue in a queue file. Safe to share between threads of a process and between
    processes (SQLite's locks; forming a batch takes the write lock first)."""

    def __init__(self, path: Path, scope: QueueScope) -> None:
        self.path = Path(path)
        self.scope = scope
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the interaction queue {self.path} ({exc})") from None
        self._lock = threading.RLock()
        self._committer = threading.Lock()
        self._waiting_lock = threading.Lock()
        self._waiting: list[_Ticket] = []
        self._formed: tuple[int, BatchDocument] | None = None
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            with self._write():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(
                    "INSERT OR IGNORE INTO scopes (chain_id, registry, author) VALUES (?, ?, ?)",
                    (scope.chain_id, scope.registry, scope.author),
                )
            (self.scope_id,) = self._db.execute(
                "SELECT id FROM scopes WHERE chain_id = ? AND registry = ? AND author = ?",
                (scope.chain_id, scope.registry, scope.author),
            ).fetchone()

    @classmethod
    def at_home(cls, state_dir: Path, scope: QueueScope) -> InteractionQueue:
        return cls(queue_path(state_dir), scope)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> InteractionQueue:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking SQLite's write lock at its start (BEGIN IMMEDIATE)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ records

    def enqueue(
        self,
        customer_id: int,
        kind: int,
        outcome: int,
        content_hash: bytes,
        *,
        logged_at: int | None = None,
        record_id: bytes | None = None,
    ) -> bytes:
        """Queue one record; its record id (32 random bytes unless given) once it is committed."""
        (found,) = self.enqueue_many([RecordEntry(customer_id, kind, outcome, content_hash, logged_at, record_id)])
        return found

    def enqueue_many(self, entries: Iterable[RecordEntry]) -> list[bytes]:
        """Queue many records in one transaction (all or none); their record ids, in order.

        A record id already queued (a retry of the same record) is not queued twice: its id is
        returned again."""
        now = time.time()
        rows = []
        for entry in entries:
            check_entry(entry)
            record_id = entry.record_id or new_record_id()
            kind, outcome = int(entry.kind), int(entry.outcome)
            rows.append(
                (
                    self.scope_id,
                    record_id,
                    str(entry.customer_id),
                    kind,
                    outcome,
                    entry.content_hash,
                    leaf_hash(record_id, entry.customer_id, kind, outcome, entry.content_hash),
                    int(now) if entry.logged_at is None else entry.logged_at,
                    now,
                )
            )
        self._commit(rows)
        return [row[1] for row in rows]

    def _commit(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert `rows` and commit before returning. Threads calling at once share commits (group
        commit): each waits for the commit that holds its rows, made by whichever of them got the
        committer's turn first."""
        ticket = _Ticket(rows)
        with self._waiting_lock:
            self._waiting.append(ticket)
        with self._committer:
            if not ticket.done:
                with self._waiting_lock:
                    group, self._waiting = self._waiting, []
                problem: BaseException | None = None
                try:
                    with self._write() as db:
                        db.executemany(_INSERT_RECORD, [row for waiting in group for row in waiting.rows])
                except BaseException as exc:  # every caller in the group gets it: nothing was committed
                    problem = exc
                for waiting in group:
                    waiting.problem, waiting.done = problem, True
        if ticket.problem is not None:
            raise ticket.problem

    def record(self, record_id: bytes) -> QueuedRecord:
        """A record of this queue by its id (BatchError if this queue never held it)."""
        with self._lock:
            row = self._db.execute(
                "SELECT r.record_id, r.customer_id, r.kind, r.outcome, r.content_hash, r.logged_at, r.batch_id,"
                " b.root, b.state, b.cid, b.tx_hash, b.block_number FROM records r"
                " LEFT JOIN batches b ON b.id = r.batch_id WHERE r.record_id = ? AND r.scope_id = ?",
                (bytes(record_id), self.scope_id),
            ).fetchone()
        if row is None:
            raise BatchError(f"record 0x{bytes(record_id).hex()} is not in this queue ({self.path})")
        rid, customer_id, kind, outcome, content_hash, logged_at, batch_id, root, batch_state, cid, tx, block = row
        state = PENDING if batch_id is None else (ANCHORED if batch_state == ANCHORED else BATCHED)
        anchored = state == ANCHORED
        return QueuedRecord(
            record_id=bytes(rid),
            customer_id=int(customer_id),
            kind=kind,
            outcome=outcome,
            content_hash=bytes(content_hash),
            logged_at=logged_at,
            state=state,
            batch_id=batch_id,
            root=bytes(root) if root is not None else None,
            cid=cid,
            tx_hash=tx if anchored else None,
            block_number=block if anchored else None,
        )

    def pending_count(self) -> int:
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM records WHERE scope_id = ? AND batch_id IS NULL", (self.scope_id,)
            ).fetchone()
        return int(count)

    def oldest_pending_age(self) -> float | None:
        """Seconds since the oldest pending record was queued; None when nothing is pending."""
        with self._lock:
            row = self._db.execute(
                "SELECT queued_at FROM records WHERE scope_id = ? AND batch_id IS NULL ORDER BY seq LIMIT 1",
                (self.scope_id,),
            ).fetchone()
        return None if row is None else max(0.0, time.time() - float(row[0]))

    def status(self) -> QueueStatus:
        with self._lock:
            rows = self._db.execute(
                "SELECT b.state, COUNT(*), SUM(b.count) FROM batches b WHERE b.scope_id = ? GROUP BY b.state",
                (self.scope_id,),
            ).fetchall()
        by_state = {state: (int(batches), int(records or 0)) for state, batches, records in rows}
        anchored_batches, anchored = by_state.pop(ANCHORED, (0, 0))
        return QueueStatus(
            pending=self.pending_count(),
            batched=sum(records for _, records in by_state.values()),
            anchored=anchored,
            open_batches=sum(batches for batches, _ in by_state.values()),
            anchored_batches=anchored_batches,
            oldest_pending_age_seconds=self.oldest_pending_age(),
        )

    # ------------------------------------------------------------------ batches

    def form_batch(self, max_records: int = MAX_BATCH_RECORDS) -> Batch | None:
        """Move up to `max_records` of the oldest pending records into a new batch, in one
        transaction; None when nothing is pending.

        The records are read and their tree built first, without the write lock (logging goes on
        meanwhile); the transaction then creates the batch and moves exactly those records out of
        pending, or, if another process took some of them in between, changes nothing and reads
        again."""
        if not 0 < max_records <= MAX_BATCH_RECORDS:
            raise ConfigError(f"a batch holds 1 to {MAX_BATCH_RECORDS} records, not {max_records}")
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, record_id, customer_id, kind, outcome, content_hash, leaf, logged_at FROM records"
                    " WHERE scope_id = ? AND batch_id IS NULL ORDER BY seq LIMIT ?",
                    (self.scope_id, max_records),
                ).fetchall()
            if not rows:
                return None
            created_at = int(time.time())
            document = self._document(rows, created_at)
            try:
                with self._write() as db:
                    cursor = db.execute(
                        "INSERT INTO batches (scope_id, root, count, created_at, state) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT (root) DO NOTHING",
                        (self.scope_id, document.root, document.count, created_at, BATCHED),
                    )
                    if cursor.rowcount != 1:  # another process formed this very batch
                        raise _Raced
                    batch_id = cursor.lastrowid
                    # The rows read are the pending ones with seq up to the last read (newer records
                    # get higher seqs): one range update moves them, unless some were taken meanwhile.
                    moved = db.execute(
                        "UPDATE records SET batch_id = ? WHERE scope_id = ? AND batch_id IS NULL"
                        " AND seq BETWEEN ? AND ?",
                        (batch_id, self.scope_id, rows[0][0], rows[-1][0]),
                    ).rowcount
                    if moved != len(rows):
                        raise _Raced
            except _Raced:
                continue
            assert batch_id is not None
            self._formed = (batch_id, document)  # what `document` is asked for next, as a rule
            return self.batch(batch_id)

    def _document(self, rows: Sequence[Any], created_at: int) -> BatchDocument:
        values = [
            LeafValue(bytes(rid), int(customer), kind, outcome, bytes(content))
            for _, rid, customer, kind, outcome, content, _, _ in rows
        ]
        return build_document(
            chain_id=self.scope.chain_id,
            registry=self.scope.registry,
            author=self.scope.author,
            created_at=created_at,
            values=values,
            logged_at=[row[7] for row in rows],
            leaves=[bytes(row[6]) for row in rows],
        )

    def document(self, batch: Batch) -> BatchDocument:
        """The batch's document, rebuilt from its records (the same bytes every time)."""
        if self._formed is not None and self._formed[0] == batch.id:
            return self._formed[1]
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, record_id, customer_id, kind, outcome, content_hash, leaf, logged_at FROM records"
                " WHERE batch_id = ? ORDER BY seq",
                (batch.id,),
            ).fetchall()
        document = self._document(rows, batch.created_at)
        if document.root != batch.root:  # the file was edited by hand
            raise BatchError(f"batch {batch.id}'s records no longer give its root 0x{batch.root.hex()}")
        return document

    def batch(self, batch_id: int) -> Batch:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE id = ? AND scope_id = ?", (batch_id, self.scope_id)
            ).fetchone()
        if row is None:
            raise BatchError(f"batch {batch_id} is not in this queue")
        return _batch(row)

    def batch_of_root(self, root: bytes) -> Batch | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE root = ?", (bytes(root),)).fetchone()
        return _batch(row) if row is not None else None

    def open_batches(self) -> list[Batch]:
        """Batches formed but not anchored yet, oldest first (what a restart resumes)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE scope_id = ? AND state != ? ORDER BY id",
                (self.scope_id, ANCHORED),
            ).fetchall()
        return [_batch(row) for row in rows]

    def anchored_batches(self, limit: int = 20) -> list[Batch]:
        """The latest anchored batches, newest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE scope_id = ? AND state = ? ORDER BY id DESC LIMIT ?",
                (self.scope_id, ANCHORED, limit),
            ).fetchall()
        return [_batch(row) for row in rows]

    def anchored_since(self, block_number: int, *, limit: int = 1000) -> list[Batch]:
        """Batches anchored at or above `block_number` (the recent ones a rewind may take), oldest
        first, at most the latest `limit`."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE scope_id = ? AND state = ? AND block_number >= ?"
                " ORDER BY id DESC LIMIT ?",
                (self.scope_id, ANCHORED, block_number, limit),
            ).fetchall()
        return [_batch(row) for row in reversed(rows)]

    def mark_stored(self, batch_id: int, cid: str, *, from_block: int | None = None) -> Batch:
        """Record where the document is; `from_block`: the chain's block before it was stored (its
        anchor cannot be in an earlier block)."""
        return self._update(
            batch_id, "state = ?, cid = ?, from_block = ?", (STORED, cid, from_block), only_from=(BATCHED, STORED)
        )

    def mark_sent(
        self, batch_id: int, *, raw_tx: bytes, tx_hash: str, nonce: int, max_fee: int, tip: int, from_block: int
    ) -> Batch:
        """Record the signed anchor transaction before it is broadcast (so a restart knows it)."""
        return self._update(
            batch_id,
            "state = ?, raw_tx = ?, tx_hash = ?, nonce = ?, max_fee = ?, tip = ?, from_block = COALESCE(from_block, ?)",
            (SENT, raw_tx, tx_hash, nonce, str(max_fee), str(tip), from_block),
            only_from=(STORED, SENT),
        )

    def clear_sent(self, batch_id: int) -> Batch:
        """Forget a signed transaction that can never land (its nonce went to another)."""
        return self._update(
            batch_id, "state = ?, raw_tx = NULL, tx_hash = NULL, nonce = NULL", (STORED,), only_from=(SENT,)
        )

    def mark_anchored(self, batch_id: int, *, tx_hash: str, block_number: int) -> Batch:
        return self._update(
            batch_id,
            "state = ?, tx_hash = ?, block_number = ?, raw_tx = NULL, anchored_at = ?",
            (ANCHORED, tx_hash, block_number, time.time()),
            only_from=(BATCHED, STORED, SENT, ANCHORED),
        )

    def reopen(self, batch_id: int) -> Batch:
        """Move an anchored batch back to stored: the chain no longer holds its anchor (it rewound)."""
        return self._update(
            batch_id,
            "state = ?, raw_tx = NULL, tx_hash = NULL, nonce = NULL, block_number = NULL, anchored_at = NULL",
            (STORED,),
            only_from=(ANCHORED,),
        )

    def _update(self, batch_id: int, assignments: str, values: tuple[Any, ...], *, only_from: tuple[str, ...]) -> Batch:
        marks = ", ".join("?" for _ in only_from)
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE batches SET {assignments} WHERE id = ? AND scope_id = ? AND state IN ({marks})",
                (*values, batch_id, self.scope_id, *only_from),
            )
            if cursor.rowcount != 1:
                raise BatchError(f"batch {batch_id} cannot move to that state from where it is")
        return self.batch(batch_id)

    @contextmanager
    def batching_lock(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold this scope's batching lock (a lock file next to the queue file, released by the
        kernel if the process dies): one process at a time forms, stores and anchors a scope's
        batches. Yields False when `wait` is off and another process holds it."""
        lock_path = self.path.with_name(f"{self.path.name}.scope-{self.scope_id}.lock")
        with open(lock_path, "a+") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_INSERT_RECORD = (
    "INSERT OR IGNORE INTO records (scope_id, record_id, customer_id, kind, outcome, content_hash, leaf, logged_at,"
    " queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _Raced(Exception):
    """Another process moved some of the records read for a batch: the transaction is undone."""


class _Ticket:
    """One caller's rows waiting for a group commit."""

    __slots__ = ("done", "problem", "rows")

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.done = False
        self.problem: BaseException | None = None


_BATCH_COLUMNS = (
    "id, root, count, created_at, state, cid, raw_tx, tx_hash, nonce, max_fee, tip, from_block, block_number"
)


def _batch(row: Any) -> Batch:
    batch_id, root, count, created_at, state, cid, raw_tx, tx_hash, nonce, max_fee, tip, from_block, block = row
    return Batch(
        id=batch_id,
        root=bytes(root),
        count=count,
        created_at=created_at,
        state=state,
        cid=cid,
        raw_tx=bytes(raw_tx) if raw_tx is not None else None,
        tx_hash=tx_hash,
        nonce=nonce,
        max_fee=int(max_fee) if max_fee is not None else None,
        tip=int(tip) if tip is not None else None,
        from_block=from_block,
        block_number=block,
    )


__all__ = [
    "ANCHORED",
    "BATCHED",
    "MAX_BATCH_RECORDS",
    "PENDING",
    "SENT",
    "STORED",
    "Batch",
    "InteractionQueue",
    "QueueScope",
    "QueueStatus",
    "QueuedRecord",
    "RecordEntry",
    "check_entry",
    "new_record_id",
    "open_queue",
    "queue_path",
]
