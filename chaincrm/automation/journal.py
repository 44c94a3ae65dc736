"""The keeper's durable local journal: a SQLite file, one row per reminder this keeper claimed.

A row goes through ``claiming`` (written before the claim's transaction is sent, then its hash),
then ``claimed`` (this keeper's record is the first on-chain record with that content hash) or
``lost`` (another keeper's came first: nothing is sent). Each channel of a claimed reminder has its
own state: e-mail ``pending`` -> ``sent`` (written right after the SMTP server accepted it),
``no_address`` (with the reason, never the address) or ``dropped`` (the invoice was settled while it
waited); webhook ``pending`` -> ``queued``; a channel the
level does not use is ``not_wanted``. Writes are committed one by one with ``synchronous=FULL``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chaincrm.errors import ConfigError

JOURNAL_FILE_NAME = "reminders-journal.sqlite"
LOCK_TIMEOUT_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reminders (
    content_hash TEXT PRIMARY KEY,
    invoice_id INTEGER NOT NULL,
    level TEXT NOT NULL,
    customer_id INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    amount_wei TEXT NOT NULL,
    keeper TEXT NOT NULL,
    state TEXT NOT NULL,
    tx_hash TEXT,
    block_number INTEGER,
    log_index INTEGER,
    position INTEGER,
    email TEXT NOT NULL,
    email_problem TEXT,
    email_attempts INTEGER NOT NULL DEFAULT 0,
    email_sent_at REAL,
    webhook TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS skipped (
    content_hash TEXT PRIMARY KEY,
    invoice_id INTEGER NOT NULL,
    level TEXT NOT NULL,
    reason TEXT NOT NULL,
    last_seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_reminders_state ON reminders (state, email, webhook);
"""


@dataclass(frozen=True)
class Entry:
    """One journal row."""

    content_hash: bytes
    invoice_id: int
    level: str
    customer_id: int
    due_at: int
    amount_wei: int
    keeper: str
    state: str
    tx_hash: str | None
    block_number: int | None
    log_index: int | None
    position: int | None
    email: str
    email_problem: str | None
    webhook: str


def default_journal_path(index_file: Path | None, home: Path) -> Path:
    """Next to the index when it is a SQLite file, else in <home>."""
    return (index_file.parent if index_file is not None else home) / JOURNAL_FILE_NAME


class Journal:
    """The journal file; every method commits before it returns."""

    def __init__(self, path: Path) -> None:
        if not path.parent.is_dir():
            raise ConfigError(f"--journal {path}: the folder {path.parent} does not exist (create it first)")
        self.path = path
        try:
            self._db = sqlite3.connect(
                path, timeout=LOCK_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"the journal {path} cannot be used: {str(exc).splitlines()[0]}") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise ConfigError(f"the journal {self.path} cannot be written: {str(exc).splitlines()[0]}") from None

    # ------------------------------------------------------------------ reading

    def known(self) -> set[bytes]:
        """The content hashes the journal holds, in any state."""
        return {bytes.fromhex(row[0][2:]) for row in self._db.execute("SELECT content_hash FROM reminders")}

    def entries(self, where: str = "1 = 1", args: Iterable[object] = ()) -> list[Entry]:
        rows = self._db.execute(
            "SELECT content_hash, invoice_id, level, customer_id, due_at, amount_wei, keeper, state, tx_hash, "
            f"block_number, log_index, position, email, email_problem, webhook FROM reminders WHERE {where} "
            "ORDER BY invoice_id, level",
            tuple(args),
        ).fetchall()
        return [
            Entry(bytes.fromhex(r[0][2:]), r[1], r[2], r[3], r[4], int(r[5]), *r[6:])  # type: ignore[arg-type]
            for r in rows
        ]

    def claiming(self) -> list[Entry]:
        return self.entries("state = 'claiming'")

    def undelivered_email(self) -> list[Entry]:
        return self.entries("state = 'claimed' AND email = 'pending'")

    def unqueued_webhooks(self) -> list[Entry]:
        return self.entries("state = 'claimed' AND webhook = 'pending'")

    # ------------------------------------------------------------------ writing

    def add_claims(self, rows: list[Entry]) -> None:
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT INTO reminders (content_hash, invoice_id, level, customer_id, due_at, amount_wei, keeper, "
                "state, email, webhook, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'claiming', ?, ?, ?, ?)",
                [
                    (
                        "0x" + r.content_hash.hex(),
                        r.invoice_id,
                        r.level,
                        r.customer_id,
                        r.due_at,
                        str(r.amount_wei),
                        r.keeper,
                        r.email,
                        r.webhook,
                        now,
                        now,
                    )
                    for r in rows
                ],
            )

    def set_tx(self, hashes: Iterable[bytes], tx_hash: str) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE reminders SET tx_hash = ?, updated_at = ? WHERE content_hash = ?",
                [(tx_hash, time.time(), "0x" + h.hex()) for h in hashes],
            )

    def resolve_many(self, outcomes: dict[bytes, tuple[str, int, int, int] | None]) -> None:
        now = time.time()
        with self._write() as db:
            for content_hash, won in outcomes.items():
                key = "0x" + content_hash.hex()
                if won is None:
                    db.execute("UPDATE reminders SET state = 'lost', updated_at = ? WHERE content_hash = ?", (now, key))
                else:
                    db.execute(
                        "UPDATE reminders SET state = 'claimed', tx_hash = ?, block_number = ?, log_index = ?, "
                        "position = ?, updated_at = ? WHERE content_hash = ?",
                        (*won, now, key),
                    )

    def forget(self, hashes: Iterable[bytes]) -> None:
        """Drop claims whose transaction never made it on-chain: they are decided afresh."""
        with self._write() as db:
            db.executemany("DELETE FROM reminders WHERE content_hash = ?", [("0x" + h.hex(),) for h in hashes])

    def note_skipped(self, rows: list[tuple[bytes, int, str, str]]) -> None:
        """Reminders due that the keeper could not record (decided again every pass)."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT INTO skipped (content_hash, invoice_id, level, reason, last_seen_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (content_hash) DO UPDATE SET reason = excluded.reason, "
                "last_seen_at = excluded.last_seen_at",
                [("0x" + h.hex(), invoice_id, level, reason, now) for h, invoice_id, level, reason in rows],
            )

    def email_sent(self, content_hash: bytes) -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE reminders SET email = 'sent', email_sent_at = ?, email_attempts = email_attempts + 1, "
                "email_problem = NULL, updated_at = ? WHERE content_hash = ?",
                (now, now, "0x" + content_hash.hex()),
            )

    def email_failed(self, content_hash: bytes, problem: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE reminders SET email_attempts = email_attempts + 1, email_problem = ?, updated_at = ? "
                "WHERE content_hash = ?",
                (problem, time.time(), "0x" + content_hash.hex()),
            )

    def email_dropped(self, content_hash: bytes, problem: str) -> None:
        """A waiting e-mail that will not go: its invoice was settled meanwhile."""
        with self._write() as db:
            db.execute(
                "UPDATE reminders SET email = 'dropped', email_problem = ?, updated_at = ? WHERE content_hash = ?",
                (problem, time.time(), "0x" + content_hash.hex()),
            )

    def no_address(self, content_hash: bytes, problem: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE reminders SET email = 'no_address', email_problem = ?, updated_at = ? WHERE content_hash = ?",
                (problem, time.time(), "0x" + content_hash.hex()),
            )

    def webhooks_queued(self, hashes: Iterable[bytes]) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE reminders SET webhook = 'queued', updated_at = ? WHERE content_hash = ?",
                [(time.time(), "0x" + h.hex()) for h in hashes],
            )


__all__ = ["JOURNAL_FILE_NAME", "Entry", "Journal", "default_journal_path"]
