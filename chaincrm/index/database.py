"""Opening the index's database (SQLite or PostgreSQL), its failures as one line, and its
bookkeeping row.

SQLite runs in WAL mode, so readers never wait for the indexer, with transactions that are ours:
pysqlite's own handling would commit DDL and leave writes half-done. A writing transaction takes
SQLite's write lock at ``BEGIN`` (:func:`writing`), so two indexers cannot interleave.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from chaincrm.errors import ConfigError
from chaincrm.index import schema as db

SQLITE_LOCK_TIMEOUT_SECONDS = 5.0
SQLITE_CACHE_KIB = 64 * 1024  # page cache per connection: a timeline reads ~one page per row
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
INDEX_FILE_NAME = "index.sqlite"
_WRITE = "chaincrm_write"  # execution option: take SQLite's write lock at BEGIN


@dataclass(frozen=True)
class IndexState:
    """The index's bookkeeping row: what it follows and how far it got."""

    chain_id: int
    registry: ChecksumAddress
    pipeline: ChecksumAddress
    escrow: ChecksumAddress
    start_block: int
    last_final_block: int
    last_block: int
    confirmations: int
    updated_at: int


def database_url(database: str | Path | None, home: Path = Path(".chaincrm")) -> URL:
    """The SQLAlchemy URL for `--database`: a URL, a SQLite file path, or None for <home>/index.sqlite."""
    if database is None:
        return URL.create("sqlite", database=str(home / INDEX_FILE_NAME))
    text = str(database)
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        url = make_url(text)
    except sa_exc.ArgumentError:
        raise ConfigError(f"{text!r} is not a database URL (sqlite:///FILE or postgresql://...)") from None
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg2", ""):
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver this package ships with
    if url.drivername == "postgres":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"the index supports SQLite and PostgreSQL, not {url.get_backend_name()}")
    return url


def open_database(
    database: str | Path | URL | None,
    *,
    home: Path = Path(".chaincrm"),
    lock_timeout: float = SQLITE_LOCK_TIMEOUT_SECONDS,
) -> Engine:
    """An Engine for the index (see the module docstring for SQLite's settings)."""
    url = database if isinstance(database, URL) else database_url(database, home)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": lock_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One transaction that holds the write lock from its start (SQLite: BEGIN IMMEDIATE)."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


def lock_state(conn: Connection, expected_last: int) -> None:
    """Lock the bookkeeping row (PostgreSQL: FOR UPDATE; SQLite's write lock is already held) and make
    sure no other indexer moved it since this one read it at `expected_last`."""
    query = select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    last = conn.execute(query).scalar_one_or_none()
    if last != expected_last:
        raise ConfigError(
            f"the index at {describe_database(conn.engine)} moved to block {last} while this indexer expected "
            f"{expected_last}: is another indexer writing to it?"
        )


def describe_database(engine: Engine) -> str:
    """Where the index is, for messages: the SQLite path or the URL without its password."""
    if engine.url.get_backend_name() == "sqlite":
        return str(engine.url.database or ":memory:")
    return engine.url.render_as_string(hide_password=True)


def sqlite_file(engine: Engine) -> Path | None:
    """The SQLite file behind `engine`; None for PostgreSQL or an in-memory database."""
    if engine.url.get_backend_name() != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return Path(str(engine.url.database))


@contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Database failures become one ConfigError line naming the database."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        raise _database_error(engine, exc) from None


def _database_error(engine: Engine, exc: sa_exc.DBAPIError) -> ConfigError:
    where = describe_database(engine)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    lowered = detail.lower()
    if "locked" in lowered or "busy" in lowered:
        return ConfigError(f"the index database {where} is locked by another process (another `chaincrm index`?)")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return ConfigError(f"the index database {where} is damaged or not a SQLite database: move it away")
    if isinstance(exc, sa_exc.IntegrityError):
        return ConfigError(f"the index database {where} already holds these rows (another indexer?): {detail}")
    if isinstance(exc, sa_exc.OperationalError):
        return ConfigError(f"the index database {where} cannot be used: {detail}")
    return ConfigError(f"the index database {where} failed: {detail}")


def read_state(engine: Engine) -> IndexState | None:
    """The index's bookkeeping, or None if the database holds no index yet (creates nothing)."""
    file = sqlite_file(engine)
    if file is not None and not file.exists():
        return None
    with database_errors(engine), engine.connect() as conn:
        if not inspect(conn).has_table(db.sync_state.name):
            return None
        row = conn.execute(select(db.sync_state).where(db.sync_state.c.id == 1)).mappings().first()
    if row is None:
        return None
    if row["schema_version"] != db.SCHEMA_VERSION:
        raise ConfigError(
            f"the index at {describe_database(engine)} has schema version {row['schema_version']}, "
            f"this chaincrm reads and writes version {db.SCHEMA_VERSION}: delete it (or pass another --database) "
            "and index again"
        )
    return IndexState(
        chain_id=int(row["chain_id"]),
        registry=to_checksum_address(row["registry"]),
        pipeline=to_checksum_address(row["pipeline"]),
        escrow=to_checksum_address(row["escrow"]),
        start_block=int(row["start_block"]),
        last_final_block=int(row["last_final_block"]),
        last_block=int(row["last_block"]),
        confirmations=int(row["confirmations"]),
        updated_at=int(row["updated_at"]),
    )


__all__ = [
    "INDEX_FILE_NAME",
    "SQLITE_LOCK_TIMEOUT_SECONDS",
    "IndexState",
    "database_errors",
    "database_url",
    "describe_database",
    "open_database",
    "read_state",
    "sqlite_file",
    "writing",
]
