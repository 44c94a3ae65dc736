"""The transaction journal: every transaction a writer signs, kept until its outcome is final.

One SQLite file (WAL) under the home's state dir, ``state/transactions.sqlite3``, shared by every
process that writes with the home's keys; in memory when there is no home (library use without
settings). Rows are keyed by chain id and sender. Each row is one nonce's use: the signed raw
transaction (what a re-broadcast sends), every hash sent for that nonce (the original, fee-bumped
replacements, a cancel), the caller's record key (idempotency key) and a state:

- ``reserved``: a nonce handed out, nothing signed yet;
- ``pending``: signed and sent (or about to be: the raw is written before it is broadcast);
- ``mined``: one of its hashes has a receipt (``mined_hash``, ``block_number``);
- ``reverted``: mined, but it reverted: the nonce is used, the record did not land;
- ``replaced``: another transaction, not ours, took the nonce: it can never land;
- ``cancelled``: our cancelling self-transfer took the nonce: nothing landed;
- ``failed``: the node refused it before it held a nonce (the nonce was given back);
- ``abandoned``: forgotten after the chain was rewound on purpose (``NonceManager.reset_all``).

Nonces are handed out inside ``BEGIN IMMEDIATE`` (one writer at a time across processes),
reconciled with the node's latest and pending counts: never below the chain's latest nonce, a hole
left by a refused transaction is used again, and nonces other rows hold are never handed out twice.
``synchronous=NORMAL`` under WAL survives a killed process (not a power cut of the machine).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

JOURNAL_FILE = "transactions.sqlite3"
BUSY_TIMEOUT_MS = 30_000


class TxState(StrEnum):
    RESERVED = "reserved"
    PENDING = "pending"
    MINED = "mined"
    REVERTED = "reverted"
    REPLACED = "replaced"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ABANDONED = "abandoned"


LIVE = (TxState.RESERVED, TxState.PENDING)  # holds a nonce, outcome unknown
HOLDS_NONCE = (
    TxState.RESERVED,
    TxState.PENDING,
    TxState.MINED,
    TxState.REVERTED,
    TxState.REPLACED,
    TxState.CANCELLED,
)
ORIGINAL, REPLACEMENT, CANCEL, FILLER = "original", "replacement", "cancel", "filler"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS txs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chain_id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    record_key TEXT,
    state TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'original',
    raw BLOB,
    tx_hash TEXT,
    to_address TEXT,
    data BLOB,
    value TEXT NOT NULL DEFAULT '0',
    gas INTEGER NOT NULL DEFAULT 0,
    max_fee TEXT NOT NULL DEFAULT '0',
    tip TEXT NOT NULL DEFAULT '0',
    mined_hash TEXT,
    block_number INTEGER,
    sent_at REAL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    pid INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS txs_by_nonce ON txs (chain_id, sender, nonce);
CREATE INDEX IF NOT EXISTS txs_by_state ON txs (chain_id, sender, state);
CREATE INDEX IF NOT EXISTS txs_by_record ON txs (chain_id, record_key) WHERE record_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS hashes (
    hash TEXT PRIMARY KEY,
    tx_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    raw BLOB NOT NULL,
    max_fee TEXT NOT NULL,
    tip TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS hashes_by_tx ON hashes (tx_id);
CREATE TABLE IF NOT EXISTS chains (
    chain_id INTEGER PRIMARY KEY,
    genesis TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    chain_id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    next INTEGER NOT NULL,
    PRIMARY KEY (chain_id, sender)
);
"""

_COLUMNS = (
    "id, chain_id, sender, nonce, record_key, state, kind, raw, tx_hash, to_address, data, value, gas, "
    "max_fee, tip, mined_hash, block_number, sent_at, created, updated, pid"
)


@dataclass(frozen=True)
class Payload:
    """What a transaction does, kept so that it can be signed again with higher fees."""

    to: str | None
    data: bytes
    value: int
    gas: int


@dataclass(frozen=True)
class Signed:
    """One signed transaction for a journal row: its hash, raw bytes and fees."""

    tx_hash: str
    raw: bytes
    max_fee: int
    tip: int


@dataclass(frozen=True)
class JournalEntry:
    id: int
    chain_id: int
    sender: str
    nonce: int
    record_key: str | None
    state: TxState
    kind: str
    raw: bytes | None
    tx_hash: str | None
    payload: Payload
    max_fee: int
    tip: int
    mined_hash: str | None
    block_number: int | None
    sent_at: float | None
    created: float
    pid: int  # the process that reserved the row

    @property
    def live(self) -> bool:
        return self.state in LIVE


def _entry(row: sqlite3.Row | tuple) -> JournalEntry:  # type: ignore[type-arg]
    (id_, chain_id, sender, nonce, key, state, kind, raw, tx_hash, to, data, value, gas, max_fee, tip, mined, block,
     sent_at, created, _updated, pid) = row  # fmt: skip
    return JournalEntry(
        id=id_,
        chain_id=chain_id,
        sender=sender,
        nonce=nonce,
        record_key=key,
        state=TxState(state),
        kind=kind,
        raw=bytes(raw) if raw is not None else None,
        tx_hash=tx_hash,
        payload=Payload(to=to, data=bytes(data or b""), value=int(value), gas=int(gas)),
        max_fee=int(max_fee),
        tip=int(tip),
        mined_hash=mined,
        block_number=block,
        sent_at=sent_at,
        created=created,
        pid=pid,
    )


class Journal:
    """The journal at `path` (created with its folder), or in memory when `path` is None.

    Safe to share between threads (one connection behind a lock) and between processes (SQLite's
    locking; a process forked after opening reopens its own connection)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._pid = -1
        self._db: sqlite3.Connection | None = None

    @classmethod
    def in_state_dir(cls, state_dir: Path | None) -> Journal:
        return cls(state_dir / JOURNAL_FILE if state_dir is not None else None)

    @property
    def durable(self) -> bool:
        return self.path is not None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():
            self._db = self._open()
            self._pid = os.getpid()
        return self._db

    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
            )
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(_SCHEMA)
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE): other processes wait for it."""
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:  # type: ignore[type-arg]
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ nonces

    def allocate(
        self,
        chain_id: int,
        sender: str,
        *,
        latest: int,
        pending: int,
        record_keys: Sequence[str | None] = (None,),
        kind: str = ORIGINAL,
    ) -> list[JournalEntry]:
        """Reserve one nonce per record key (in order) for `sender`, given the node's `latest` and
        `pending` transaction counts; returns the new rows (state ``reserved``)."""
        now = time.time()
        with self._write() as db:
            stored = db.execute(
                "SELECT next FROM nonces WHERE chain_id = ? AND sender = ?", (chain_id, sender)
            ).fetchone()
            nonces = _free_nonces(db, chain_id, sender, latest, pending, stored[0] if stored else 0, len(record_keys))
            rows = []
            for nonce, key in zip(nonces, record_keys, strict=True):
                cursor = db.execute(
                    "INSERT INTO txs (chain_id, sender, nonce, record_key, state, kind, created, updated, pid) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (chain_id, sender, nonce, key, TxState.RESERVED.value, kind, now, now, os.getpid()),
                )
                rows.append(cursor.lastrowid)
            top = max([*nonces, (stored[0] if stored else 0) - 1, latest - 1, pending - 1]) + 1
            db.execute(
                "INSERT INTO nonces (chain_id, sender, next) VALUES (?, ?, ?) "
                "ON CONFLICT (chain_id, sender) DO UPDATE SET next = excluded.next",
                (chain_id, sender, top),
            )
            found = db.execute(
                f"SELECT {_COLUMNS} FROM txs WHERE id IN ({','.join('?' * len(rows))}) ORDER BY nonce", rows
            ).fetchall()
        return [_entry(row) for row in found]

    def allocate_at(self, chain_id: int, sender: str, nonce: int, *, kind: str) -> JournalEntry | None:
        """Reserve exactly `nonce` (to fill a hole the chain has not consumed), or None when a live
        row (reserved or pending) already holds it."""
        now = time.time()
        with self._write() as db:
            held = db.execute(
                f"SELECT 1 FROM txs WHERE chain_id = ? AND sender = ? AND nonce = ? AND state IN "
                f"({','.join('?' * len(LIVE))})",
                (chain_id, sender, nonce, *[s.value for s in LIVE]),
            ).fetchone()
            if held:
                return None
            cursor = db.execute(
                "INSERT INTO txs (chain_id, sender, nonce, state, kind, created, updated, pid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (chain_id, sender, nonce, TxState.RESERVED.value, kind, now, now, os.getpid()),
            )
            row = db.execute(f"SELECT {_COLUMNS} FROM txs WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return _entry(row)

    def peek(self, chain_id: int, sender: str, *, latest: int, pending: int) -> int:
        """The nonce the next `allocate` would hand out."""
        with self._lock:
            db = self.db
            stored = db.execute(
                "SELECT next FROM nonces WHERE chain_id = ? AND sender = ?", (chain_id, sender)
            ).fetchone()
            return _free_nonces(db, chain_id, sender, latest, pending, stored[0] if stored else 0, 1)[0]

    def forget(self, chain_id: int, sender: str, latest: int) -> None:
        """The chain was rewound on purpose: rows at or above `latest` are abandoned, not re-sent."""
        with self._write() as db:
            db.execute(
                "UPDATE txs SET state = ?, updated = ? WHERE chain_id = ? AND sender = ? AND nonce >= ? "
                "AND state IN (?, ?, ?, ?)",
                (
                    TxState.ABANDONED.value,
                    time.time(),
                    chain_id,
                    sender,
                    latest,
                    *[s.value for s in (*LIVE, TxState.MINED, TxState.REVERTED)],
                ),
            )
            db.execute("DELETE FROM nonces WHERE chain_id = ? AND sender = ?", (chain_id, sender))

    def same_chain(self, chain_id: int, genesis: str) -> bool:
        """Whether `genesis` (block 0's hash) is the chain the journal's rows were sent to; a new
        chain under the same id (a development node started afresh, not from its saved state)
        abandons every row of that id: nothing is re-sent to a chain that never had it."""
        with self._write() as db:
            row = db.execute("SELECT genesis FROM chains WHERE chain_id = ?", (chain_id,)).fetchone()
            if row is not None and row[0] == genesis:
                return True
            if row is not None:
                db.execute(
                    "UPDATE txs SET state = ?, updated = ? WHERE chain_id = ? AND state IN (?, ?, ?, ?)",
                    (
                        TxState.ABANDONED.value,
                        time.time(),
                        chain_id,
                        *[s.value for s in (*LIVE, TxState.MINED, TxState.REVERTED)],
                    ),
                )
                db.execute("DELETE FROM nonces WHERE chain_id = ?", (chain_id,))
            db.execute(
                "INSERT INTO chains (chain_id, genesis) VALUES (?, ?) "
                "ON CONFLICT (chain_id) DO UPDATE SET genesis = excluded.genesis",
                (chain_id, genesis),
            )
            return row is None

    def senders(self, chain_id: int) -> list[str]:
        return [row[0] for row in self._read("SELECT DISTINCT sender FROM txs WHERE chain_id = ?", (chain_id,))]

    # ------------------------------------------------------------------ sending

    def signed(self, entries: Sequence[tuple[int, Payload, Signed]], *, kind: str = ORIGINAL) -> None:
        """Record signed transactions before they are broadcast (write-ahead): (row id, payload, signed)."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE txs SET state = ?, raw = ?, tx_hash = ?, to_address = ?, data = ?, value = ?, gas = ?, "
                "max_fee = ?, tip = ?, sent_at = ?, updated = ? WHERE id = ?",
                [
                    (TxState.PENDING.value, s.raw, s.tx_hash, p.to, p.data, str(p.value), p.gas, str(s.max_fee),
                     str(s.tip), now, now, id_)
                    for id_, p, s in entries
                ],
            )  # fmt: skip
            db.executemany(
                "INSERT OR REPLACE INTO hashes (hash, tx_id, kind, raw, max_fee, tip, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(s.tx_hash, id_, kind, s.raw, str(s.max_fee), str(s.tip), now) for id_, _, s in entries],
            )

    def resigned(self, entry_id: int, signed: Signed, *, kind: str) -> None:
        """A replacement or a cancel for the row: it becomes what a re-broadcast sends."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE txs SET raw = ?, tx_hash = ?, max_fee = ?, tip = ?, sent_at = ?, updated = ? WHERE id = ?",
                (signed.raw, signed.tx_hash, str(signed.max_fee), str(signed.tip), now, now, entry_id),
            )
            db.execute(
                "INSERT OR REPLACE INTO hashes (hash, tx_id, kind, raw, max_fee, tip, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (signed.tx_hash, entry_id, kind, signed.raw, str(signed.max_fee), str(signed.tip), now),
            )

    def release(self, entry_id: int) -> None:
        """The node refused the row's transaction before it took a nonce: give the nonce back."""
        with self._write() as db:
            row = db.execute("SELECT chain_id, sender, nonce FROM txs WHERE id = ?", (entry_id,)).fetchone()
            db.execute(
                "UPDATE txs SET state = ?, updated = ? WHERE id = ?", (TxState.FAILED.value, time.time(), entry_id)
            )
            if row is not None:
                db.execute(
                    "UPDATE nonces SET next = ? WHERE chain_id = ? AND sender = ? AND next = ?",
                    (row[2], row[0], row[1], row[2] + 1),
                )

    def settle(self, outcomes: Sequence[tuple[int, TxState, str | None, int | None]]) -> None:
        """Set rows' states: (row id, state, mined hash, block number)."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE txs SET state = ?, mined_hash = ?, block_number = ?, updated = ? WHERE id = ?",
                [(state.value, mined, block, now, id_) for id_, state, mined, block in outcomes],
            )

    # ------------------------------------------------------------------ reading

    def entry(self, entry_id: int) -> JournalEntry:
        (row,) = self._read(f"SELECT {_COLUMNS} FROM txs WHERE id = ?", (entry_id,))
        return _entry(row)

    def entries(self, entry_ids: Sequence[int]) -> list[JournalEntry]:
        found: dict[int, JournalEntry] = {}
        for start in range(0, len(entry_ids), 500):
            chunk = list(entry_ids[start : start + 500])
            rows = self._read(f"SELECT {_COLUMNS} FROM txs WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            found.update((row[0], _entry(row)) for row in rows)
        return [found[i] for i in entry_ids]

    def by_hash(self, tx_hash: str) -> JournalEntry | None:
        rows = self._read(
            f"SELECT {_COLUMNS} FROM txs WHERE id = (SELECT tx_id FROM hashes WHERE hash = ?)", (tx_hash.lower(),)
        )
        return _entry(rows[0]) if rows else None

    def by_record(self, chain_id: int, record_keys: Sequence[str]) -> dict[str, JournalEntry]:
        """The live or mined row of each record key that has one."""
        found: dict[str, JournalEntry] = {}
        keys = list(dict.fromkeys(record_keys))
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self._read(
                f"SELECT {_COLUMNS} FROM txs WHERE chain_id = ? AND record_key IN ({','.join('?' * len(chunk))}) "
                "AND state IN (?, ?, ?) ORDER BY id",
                (chain_id, *chunk, *[s.value for s in (*LIVE, TxState.MINED)]),
            )
            found.update((row[4], _entry(row)) for row in rows)
        return found

    def hashes(self, entry_id: int) -> dict[str, str]:
        """Every hash sent for the row, with its kind (original, replacement, cancel, filler)."""
        return dict(self._read("SELECT hash, kind FROM hashes WHERE tx_id = ? ORDER BY at", (entry_id,)))  # type: ignore[arg-type]

    def hash_kinds(self, entry_ids: Sequence[int]) -> dict[int, dict[str, str]]:
        found: dict[int, dict[str, str]] = {i: {} for i in entry_ids}
        ids = list(entry_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self._read(
                f"SELECT tx_id, hash, kind FROM hashes WHERE tx_id IN ({','.join('?' * len(chunk))}) ORDER BY at", chunk
            )
            for tx_id, tx_hash, kind in rows:
                found[tx_id][tx_hash] = kind
        return found

    def live(self, chain_id: int, sender: str) -> list[JournalEntry]:
        """The sender's rows whose outcome is not known yet, in nonce order."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM txs WHERE chain_id = ? AND sender = ? AND state IN (?, ?) ORDER BY nonce, id",
            (chain_id, sender, *[s.value for s in LIVE]),
        )
        return [_entry(row) for row in rows]

    def mined_from(self, chain_id: int, sender: str, nonce: int) -> list[JournalEntry]:
        """Rows we saw mined at or above `nonce`: above the chain's count, the chain lost them."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM txs WHERE chain_id = ? AND sender = ? AND state IN (?, ?) AND nonce >= ? "
            "ORDER BY nonce",
            (chain_id, sender, TxState.MINED.value, TxState.REVERTED.value, nonce),
        )
        return [_entry(row) for row in rows]

    def counts(self, chain_id: int | None = None) -> dict[str, int]:
        """How many rows are in each state (for reports and tests)."""
        where, params = ("WHERE chain_id = ?", (chain_id,)) if chain_id is not None else ("", ())
        return dict(self._read(f"SELECT state, COUNT(*) FROM txs {where} GROUP BY state", params))  # type: ignore[arg-type]


def _free_nonces(
    db: sqlite3.Connection, chain_id: int, sender: str, latest: int, pending: int, stored: int, count: int
) -> list[int]:
    """`count` nonces nobody holds: holes at or above the chain's counts first, then new ones."""
    start = max(latest, pending)
    top = max(start, stored)
    held = {
        row[0]
        for row in db.execute(
            f"SELECT nonce FROM txs WHERE chain_id = ? AND sender = ? AND nonce >= ? AND state IN "
            f"({','.join('?' * len(HOLDS_NONCE))})",
            (chain_id, sender, start, *[s.value for s in HOLDS_NONCE]),
        )
    }
    top = max([top, *(n + 1 for n in held)])
    found = [n for n in range(start, top) if n not in held][:count]
    found += range(top, top + count - len(found))
    return found


__all__ = [
    "CANCEL",
    "FILLER",
    "HOLDS_NONCE",
    "JOURNAL_FILE",
    "LIVE",
    "ORIGINAL",
    "REPLACEMENT",
    "Journal",
    "JournalEntry",
    "Payload",
    "Signed",
    "TxState",
]
