"""The off-chain index: the CRM contracts' events, followed into SQLite or PostgreSQL.

The chain stays the record of truth; the index is a copy for queries the chain cannot answer
cheaply (a customer's timeline, deals by stage, overdue invoices). Tables: ``chaincrm.index.schema``.

How it stays correct:

- **Final and provisional.** Blocks more than ``confirmations`` behind the head are final; rows
  from newer blocks are provisional. The hashes of the provisional blocks (and of the last final
  one) are kept; every pass first compares the newest kept hash with the chain and, on a mismatch,
  deletes the rows of every block from the first differing one, rebuilds the entities they touched,
  and reads those blocks again. A reorg deeper than ``confirmations`` is reported, not guessed at.
- **Resumable.** Each range of blocks is written in one database transaction together with the
  block it reached, so a restart (or Ctrl-C, or a crash) continues after the last written block:
  no gap, no duplicate (event rows are also unique on their block and log index).
- **Fast catch-up.** One ``eth_getLogs`` filter names all three contracts. The range halves when
  the node refuses it as too large (or times out) and doubles again after successes, up to a cap.
  Logs are decoded with eth_abi from the raw JSON (web3's per-log formatting costs more than the
  node's answer), batched interaction records with one ``struct`` unpack, and inserted in bulk.
- **Only the deployment's contracts.** Each event is trusted only from the address of the contract
  that declares it (a registry event from the registry, an escrow event from the escrow); a log
  with the same topic from anywhere else is counted (``SyncReport.foreign_logs``) and ignored.
- **Any code.** Kinds, outcomes, purposes, stages, reasons and statuses are stored as the chain
  emitted them; a code this version does not know reads back as ``unknown(N)``, never an error.
- **Faults.** A node that drops or times out is retried with exponential backoff for a bounded
  time, then ``ChainError``. A locked or damaged database, an index made for another chain or
  other contracts, an address without code: one ``ConfigError``/``ChainError`` line, and nothing
  written.
"""

from __future__ import annotations

import functools
import json
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, cast

import requests
from eth_abi import decode as abi_decode
from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic, to_checksum_address
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from chaincrm.chain import Chain
from chaincrm.chain.artifacts import CONTRACT_NAMES, load_artifact
from chaincrm.config import Settings
from chaincrm.contracts.client import connect
from chaincrm.contracts.deployment import load_record
from chaincrm.errors import ChainError, ConfigError
from chaincrm.index import schema as db
from chaincrm.models import (
    ZERO_ADDRESS,
    ChainCode,
    CustomerStatus,
    Deployment,
    Interaction,
    InteractionKind,
    InvoiceStatus,
    Outcome,
    Stage,
)

DEFAULT_CONFIRMATIONS = 5
DEFAULT_INITIAL_RANGE_BLOCKS = 2_000
DEFAULT_MAX_RANGE_BLOCKS = 50_000
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_POLL_SECONDS = 2.0
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 8.0
SQLITE_LOCK_TIMEOUT_SECONDS = 5.0
SQLITE_CACHE_KIB = 64 * 1024  # page cache per connection: a timeline reads ~one page per row
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
INDEX_FILE_NAME = "index.sqlite"
RPC_BATCH_SIZE = 100
ID_CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit
PUBLIC_KEY_BYTES = 64  # a secp256k1 public key without its 0x04 prefix
CONSENT_BITS = 8  # the registry keeps consents in a uint8 bitmap
MAX_PASS_ATTEMPTS = 5  # passes restarted because the chain moved under a pass
RECORD = struct.Struct(">QBB32s")  # one packed interaction: customer id, kind, outcome, content hash
TOO_LARGE_CODES = (-32005,)  # "limit exceeded" (EIP-1474), used by most providers for getLogs
TOO_LARGE_HINTS = (
    "too large",
    "too many",
    "exceed",
    "limit",
    "range",
    "timeout",
    "timed out",
    "response size",
    "more than",
)
_WRITE = "chaincrm_write"  # execution option: take SQLite's write lock at BEGIN

_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    ConnectionError,
    TimeoutError,
    json.JSONDecodeError,
)


# ====================================================================== public data


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ====================================================================== the database


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
    """An Engine for the index. SQLite runs in WAL mode (readers never wait for the indexer) with
    real transactions (pysqlite's own handling would commit DDL and leave writes half-done)."""
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


def describe_database(engine: Engine) -> str:
    """Where the index is, for messages: the SQLite path or the URL without its password."""
    if engine.url.get_backend_name() == "sqlite":
        return str(engine.url.database or ":memory:")
    return engine.url.render_as_string(hide_password=True)


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


def _sqlite_file_missing(engine: Engine) -> bool:
    if engine.url.get_backend_name() != "sqlite":
        return False
    path = engine.url.database
    return bool(path) and path != ":memory:" and not Path(str(path)).exists()


def read_state(engine: Engine) -> IndexState | None:
    """The index's bookkeeping, or None if the database holds no index yet (creates nothing)."""
    if _sqlite_file_missing(engine):
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
            f"this chaincrm writes version {db.SCHEMA_VERSION}: index into a new database"
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


# ====================================================================== queries


class _Codes(dict[int, Any]):
    """Integer code -> enum member by plain dict lookup (an IntEnum call costs a microsecond a
    row). A code the enum does not know becomes its ``unknown(N)`` pseudo-member, made once."""

    def __init__(self, enum: type[ChainCode]) -> None:
        super().__init__({int(member): member for member in enum})
        self.enum = enum

    def __missing__(self, code: int) -> ChainCode:
        member = self[code] = self.enum(code)
        return member


_KINDS = _Codes(InteractionKind)
_OUTCOMES = _Codes(Outcome)


def customer_timeline(
    engine: Engine | Connection,
    customer_id: int,
    *,
    limit: int | None = 100,
    older_than: Interaction | None = None,
    final_only: bool = False,
) -> list[Interaction]:
    """A customer's interactions, newest first (ties in reverse chain order).

    `older_than` pages backwards: pass the last interaction of the previous page. `final_only`
    leaves out rows from blocks that a reorg could still undo.
    """
    t = db.interactions
    query = select(
        t.c.customer_id,
        t.c.author,
        t.c.kind,
        t.c.outcome,
        t.c.content_hash,
        t.c.at,
        t.c.block_number,
        t.c.tx_hash,
        t.c.log_index,
        t.c.position,
    ).where(t.c.customer_id == customer_id)
    if older_than is not None:
        key = (older_than.at, older_than.block_number, older_than.log_index, older_than.position)
        older = tuple_(*(literal(value) for value in key))
        query = query.where(tuple_(t.c.at, t.c.block_number, t.c.log_index, t.c.position) < older)
    if final_only:
        last_final = select(db.sync_state.c.last_final_block).where(db.sync_state.c.id == 1).scalar_subquery()
        query = query.where(t.c.block_number <= last_final)
    query = query.order_by(*db.interaction_timeline_order())
    if limit is not None:
        query = query.limit(limit)
    if isinstance(engine, Connection):
        rows = engine.execute(query).all()
    else:
        with database_errors(engine), engine.connect() as conn:
            rows = conn.execute(query).all()
    kinds, outcomes = _KINDS, _OUTCOMES
    return [
        Interaction(
            customer_id=row[0],
            author=cast(ChecksumAddress, row[1]),
            kind=kinds[row[2]],
            outcome=outcomes[row[3]],
            content_hash=bytes.fromhex(row[4][2:]),
            at=row[5],
            block_number=row[6],
            tx_hash=row[7],
            log_index=row[8],
            position=row[9],
        )
        for row in rows
    ]


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per event and state table."""
    with database_errors(engine), engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (*db.EVENT_TABLES, *db.STATE_TABLES)
        }


# ====================================================================== decoding


@dataclass(frozen=True)
class _EventSpec:
    contract: str  # the artifact that declares the event: only its deployed address may emit it
    name: str
    indexed: tuple[tuple[str, str], ...]
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


@cache
def _event_specs() -> dict[bytes, _EventSpec]:
    specs: dict[bytes, _EventSpec] = {}
    for contract in CONTRACT_NAMES:
        for item in load_artifact(contract).abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            inputs = item["inputs"]
            specs[bytes(event_abi_to_log_topic(item))] = _EventSpec(  # type: ignore[arg-type]
                contract=contract,
                name=item["name"],
                indexed=tuple((arg["name"], arg["type"]) for arg in inputs if arg["indexed"]),
                data_names=tuple(arg["name"] for arg in inputs if not arg["indexed"]),
                data_types=tuple(arg["type"] for arg in inputs if not arg["indexed"]),
            )
    return specs


def emitters(deployment: Deployment) -> dict[str, str]:
    """Contract artifact name -> the lower-case address allowed to emit its events."""
    return {
        "CrmRegistry": deployment.registry.lower(),
        "DealPipeline": deployment.pipeline.lower(),
        "InvoiceEscrow": deployment.escrow.lower(),
    }


@lru_cache(maxsize=8192)
def _checksum(address: str) -> ChecksumAddress:
    return to_checksum_address(address)


def _topic_value(kind: str, topic: str) -> Any:
    if kind == "address":
        return _checksum("0x" + topic[-40:])
    if kind.startswith(("uint", "int")) or kind == "bool":
        return int(topic, 16)
    return topic.lower()  # bytes32


def _data_value(kind: str, value: Any) -> Any:
    if kind == "address":
        return _checksum(value)
    if kind.startswith("bytes") and kind != "bytes":
        return "0x" + bytes(value).hex()
    return value


def _wallet(address: str | None) -> str | None:
    return None if address is None or address == ZERO_ADDRESS else address


@dataclass(frozen=True)
class _Log:
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    at: int  # the block's timestamp


@dataclass
class _Batch:
    """Rows decoded from one range of logs, by table, and the entities they touch."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    customers: set[int] = field(default_factory=set)
    deals: set[int] = field(default_factory=set)
    invoices: set[int] = field(default_factory=set)
    foreign: int = 0  # logs with one of our topics from an address that may not emit it: ignored

    def add(self, table: Table, log: _Log, **values: Any) -> None:
        row = dict(_template(table.name))
        row.update(values)
        row["block_number"] = log.block_number
        row["tx_hash"] = log.tx_hash
        row["log_index"] = log.log_index
        self.rows.setdefault(table.name, []).append(row)

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


@cache
def _template(table_name: str) -> dict[str, Any]:
    table = db.metadata.tables[table_name]
    return {column.name: None for column in table.columns if column.name != "id"}


_Handler = Callable[[_Batch, _Log, dict[str, Any]], None]


def _customer_registered(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.customer_events, log, customer_id=a["customerId"], kind="registered", actor=a["registrar"], at=a["at"])
    b.customers.add(a["customerId"])


def _profile_updated(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.profile_versions, log, customer_id=a["customerId"], version=a["version"], actor=a["actor"],
          content_hash=a["contentHash"], cid_digest=a["cidDigest"], readers_hash=a["readersHash"],
          at=log.at)  # fmt: skip
    b.customers.add(a["customerId"])


def _wallet_proposed(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.customer_events, log, customer_id=a["customerId"], kind="wallet_proposed", wallet=_wallet(a["wallet"]),
          actor=a["proposer"], at=log.at)  # fmt: skip
    b.customers.add(a["customerId"])


def _wallet_accepted(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    key = bytes(a["publicKey"])
    b.add(db.customer_events, log, customer_id=a["customerId"], kind="wallet_accepted",
          wallet=_wallet(a["newWallet"]), previous_wallet=_wallet(a["previousWallet"]), actor=a["newWallet"],
          relayer=a["relayer"], public_key="0x" + key.hex() if len(key) == PUBLIC_KEY_BYTES else None,
          at=log.at)  # fmt: skip
    b.customers.add(a["customerId"])


def _customer_erased(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.customer_events, log, customer_id=a["customerId"], kind="erased", actor=a["actor"],
          receipt_hash=a["receiptHash"], at=a["at"])  # fmt: skip
    b.customers.add(a["customerId"])


def _access(granted: bool) -> _Handler:
    def handle(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
        b.add(db.access_events, log, customer_id=a["customerId"], staff=a["staff"], granted=granted,
              purpose=a["purpose"], actor=a["actor"], at=log.at)  # fmt: skip

    return handle


def _consent_changed(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.consent_events, log, customer_id=a["customerId"], purpose=a["purpose"], granted=bool(a["granted"]),
          relayer=a["relayer"], at=log.at)  # fmt: skip
    b.customers.add(a["customerId"])


def _interaction_logged(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.interactions, log, customer_id=a["customerId"], author=a["author"], kind=a["kind"],
          outcome=a["outcome"], content_hash=a["contentHash"], at=a["at"], position=0)  # fmt: skip


def _interactions_logged(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    records: bytes = a["records"]
    if len(records) % RECORD.size:
        raise ChainError(f"InteractionsLogged in tx {log.tx_hash} carries {len(records)} bytes of records")
    author, at = a["author"], a["at"]
    block_number, tx_hash, log_index = log.block_number, log.tx_hash, log.log_index
    b.rows.setdefault(db.interactions.name, []).extend(
        {
            "customer_id": customer_id,
            "author": author,
            "kind": kind,
            "outcome": outcome,
            "content_hash": "0x" + content_hash.hex(),
            "at": at,
            "block_number": block_number,
            "tx_hash": tx_hash,
            "log_index": log_index,
            "position": position,
        }
        for position, (customer_id, kind, outcome, content_hash) in enumerate(RECORD.iter_unpack(records))
    )


def _staff(kind: str) -> _Handler:
    def handle(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
        values: dict[str, Any] = {"contract": log.address, "kind": kind, "at": log.at}
        if kind == "key_registered":
            values |= {"account": a["account"], "public_key": "0x" + a["x"][2:] + a["y"][2:], "actor": a["account"]}
        elif kind in ("role_granted", "role_revoked"):
            values |= {"account": a["account"], "role": a["role"], "actor": a["sender"]}
        elif kind == "admin_transfer_scheduled":
            values |= {"account": a["newAdmin"], "effective_at": a["acceptSchedule"]}
        elif kind == "treasury_change_proposed":
            values |= {"account": a["proposed"], "effective_at": a["effectiveAt"], "actor": a["actor"]}
        elif kind == "treasury_change_cancelled":
            values |= {"account": a["proposed"], "actor": a["actor"]}
        elif kind == "treasury_changed":
            values |= {"account": a["newTreasury"], "previous": _wallet(a["previousTreasury"]), "epoch": a["epoch"]}
        elif kind == "ether_swept":
            values |= {"account": a["treasury"], "amount_wei": a["amount"], "actor": a["actor"]}
        elif kind == "approval_threshold_changed":
            values |= {"amount_wei": a["newWei"], "previous_amount_wei": a["previousWei"], "actor": a["actor"]}
        b.add(db.staff_events, log, **values)

    return handle


def _deal_opened(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="opened", customer_id=a["customerId"], owner=a["owner"],
          value_wei=a["valueWei"], actor=a["actor"], at=log.at)  # fmt: skip
    b.deals.add(a["dealId"])


def _deal_stage_changed(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.stage_changes, log, deal_id=a["dealId"], from_stage=a["from"], to_stage=a["to"], actor=a["actor"],
          at=a["at"])  # fmt: skip
    b.deals.add(a["dealId"])


def _deal_lost(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="lost", reason=a["reason"], actor=a["actor"], at=log.at)
    b.deals.add(a["dealId"])


def _deal_reassigned(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="reassigned", owner=a["newOwner"],
          previous_owner=a["previousOwner"], actor=a["actor"], at=log.at)  # fmt: skip
    b.deals.add(a["dealId"])


def _deal_document(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.documents, log, deal_id=a["dealId"], kind=a["documentKind"], actor=a["actor"],
          content_hash=a["contentHash"], cid_digest=a["cidDigest"], at=log.at)  # fmt: skip


def _deal_invoiced(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    """Each invoice of a deal (the first at Won, one more per re-issue)."""
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="invoiced", invoice_id=a["invoiceId"], at=log.at)
    b.deals.add(a["dealId"])


def _invoice(kind: str) -> _Handler:
    def handle(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
        values: dict[str, Any] = {"invoice_id": a["invoiceId"], "kind": kind, "at": a.get("at", log.at)}
        if kind == "issued":
            values |= {"deal_id": a["dealId"], "customer_id": a["customerId"], "amount_wei": a["amount"],
                       "due_at": a["dueAt"], "payment_reference": a["paymentReference"]}  # fmt: skip
        if "payer" in a:
            values["payer"] = a["payer"]
        if "amount" in a:
            values["amount_wei"] = a["amount"]
        if "treasury" in a:
            values["treasury"] = a["treasury"]
        if "resolveBy" in a:
            values["resolve_by"] = a["resolveBy"]
        values["actor"] = a.get("actor") or (a["payer"] if kind in ("paid", "disputed") else None)
        b.add(db.invoice_events, log, **values)
        b.invoices.add(a["invoiceId"])

    return handle


def _refund_withdrawn(b: _Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.refund_withdrawals, log, payer=a["payer"], amount_wei=a["amount"], at=log.at)


_HANDLERS: dict[str, _Handler] = {
    "CustomerRegistered": _customer_registered,
    "ProfileUpdated": _profile_updated,
    "WalletProposed": _wallet_proposed,
    "WalletAccepted": _wallet_accepted,
    "CustomerErased": _customer_erased,
    "AccessGranted": _access(True),
    "AccessRevoked": _access(False),
    "ConsentChanged": _consent_changed,
    "InteractionLogged": _interaction_logged,
    "InteractionsLogged": _interactions_logged,
    "EncryptionKeyRegistered": _staff("key_registered"),
    "RoleGranted": _staff("role_granted"),
    "RoleRevoked": _staff("role_revoked"),
    "DefaultAdminTransferScheduled": _staff("admin_transfer_scheduled"),
    "DefaultAdminTransferCanceled": _staff("admin_transfer_cancelled"),
    "DealOpened": _deal_opened,
    "DealStageChanged": _deal_stage_changed,
    "DealLost": _deal_lost,
    "DealReassigned": _deal_reassigned,
    "DealDocumentAttached": _deal_document,
    "DealInvoiced": _deal_invoiced,
    "ApprovalThresholdChanged": _staff("approval_threshold_changed"),
    "InvoiceIssued": _invoice("issued"),
    "InvoicePaid": _invoice("paid"),
    "InvoiceDisputed": _invoice("disputed"),
    "InvoiceReleased": _invoice("released"),
    "InvoiceRefunded": _invoice("refunded"),
    "InvoiceCancelled": _invoice("cancelled"),
    "RefundWithdrawn": _refund_withdrawn,
    "TreasuryChangeProposed": _staff("treasury_change_proposed"),
    "TreasuryChangeCancelled": _staff("treasury_change_cancelled"),
    "TreasuryChanged": _staff("treasury_changed"),
    "ForcedEtherSwept": _staff("ether_swept"),
}
# Not indexed: RoleAdminChanged (roles' admins are fixed at deployment), EIP712DomainChanged and
# the admin-delay changes of AccessControlDefaultAdminRules (the delay is read from the contract).


def decode_logs(
    raw_logs: Iterable[dict[str, Any]], timestamps: Mapping[int, int], contracts: Mapping[str, str]
) -> _Batch:
    """Rows for raw `eth_getLogs` entries; `timestamps` fills in blocks whose logs lack
    `blockTimestamp`.

    `contracts` maps each contract artifact name to the address allowed to emit its events
    (:func:`emitters`). A log with one of their topics from any other address is not trusted: it is
    counted in :attr:`_Batch.foreign` and otherwise ignored. Codes are stored as emitted, whatever
    their value: the chain is the record, and a view decodes what it does not know as ``unknown(N)``.
    """
    specs = _event_specs()
    allowed = {name: address.lower() for name, address in contracts.items()}
    batch = _Batch()
    for raw in raw_logs:
        if raw.get("removed"):
            continue
        topics = raw["topics"]
        if not topics:
            continue
        spec = specs.get(bytes.fromhex(topics[0][2:]))
        if spec is None or spec.name not in _HANDLERS:
            continue
        if str(raw["address"]).lower() != allowed.get(spec.contract):
            batch.foreign += 1
            continue
        block_number = int(raw["blockNumber"], 16)
        stamp = raw.get("blockTimestamp")
        log = _Log(
            address=_checksum(raw["address"]),
            block_number=block_number,
            block_hash=raw["blockHash"],
            tx_hash=raw["transactionHash"],
            log_index=int(raw["logIndex"], 16),
            at=int(stamp, 16) if stamp else timestamps[block_number],
        )
        args = {name: _topic_value(kind, topic) for (name, kind), topic in zip(spec.indexed, topics[1:], strict=True)}
        if spec.data_types:
            values = abi_decode(spec.data_types, bytes.fromhex(raw["data"][2:]))
            for name, kind, value in zip(spec.data_names, spec.data_types, values, strict=True):
                args[name] = _data_value(kind, value)
        _HANDLERS[spec.name](batch, log, args)
    return batch


# ====================================================================== entities from events


def _chunks(ids: Iterable[int], size: int = ID_CHUNK) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def _rebuild_customers(conn: Connection, ids: set[int]) -> None:
    ev, pv, ce, target = db.customer_events, db.profile_versions, db.consent_events, db.customers
    for chunk in _chunks(ids):
        merged: list[tuple[int, int, str, Any]] = [
            (e["block_number"], e["log_index"], "customer", e)
            for e in conn.execute(select(ev).where(ev.c.customer_id.in_(chunk))).mappings()
        ]
        merged += [
            (c["block_number"], c["log_index"], "consent", c)
            for c in conn.execute(select(ce).where(ce.c.customer_id.in_(chunk))).mappings()
        ]
        merged.sort(key=lambda item: (item[0], item[1]))
        versions: dict[int, int] = dict(
            conn.execute(  # type: ignore[arg-type]
                select(pv.c.customer_id, func.max(pv.c.version))
                .where(pv.c.customer_id.in_(chunk))
                .group_by(pv.c.customer_id)
            ).all()
        )
        rows: dict[int, dict[str, Any]] = {}
        for _block, _index, source, e in merged:
            customer_id = e["customer_id"]
            if source == "customer" and e["kind"] == "registered":
                rows[customer_id] = {
                    "id": customer_id,
                    "wallet": None,
                    "pending_wallet": None,
                    "registrar": e["actor"],
                    "registered_at": e["at"],
                    "profile_version": 0,
                    "consent_bits": 0,
                    "status": int(CustomerStatus.ACTIVE),
                    "erased_at": None,
                    "receipt_hash": None,
                    "block_number": e["block_number"],
                }
                continue
            row = rows.get(customer_id)
            if row is None:
                continue  # registered before the index starts: nothing to attach this to
            if source == "consent":
                flag = 1 << int(e["purpose"]) if 0 <= int(e["purpose"]) < CONSENT_BITS else 0
                row["consent_bits"] = row["consent_bits"] | flag if e["granted"] else row["consent_bits"] & ~flag
            elif e["kind"] == "wallet_proposed":
                row["pending_wallet"] = e["wallet"]
            elif e["kind"] == "wallet_accepted":
                row["wallet"], row["pending_wallet"] = e["wallet"], None
            elif e["kind"] == "erased":
                # Erasure clears the wallet, the proposal, the consents and (by AccessRevoked) the grants.
                row |= {
                    "wallet": None,
                    "pending_wallet": None,
                    "consent_bits": 0,
                    "status": int(CustomerStatus.ERASED),
                    "erased_at": e["at"],
                    "receipt_hash": e["receipt_hash"],
                }
        for customer_id, row in rows.items():
            row["profile_version"] = int(versions.get(customer_id) or 0)
        conn.execute(delete(target).where(target.c.id.in_(chunk)))
        if rows:
            conn.execute(insert(target), list(rows.values()))


def _rebuild_deals(conn: Connection, ids: set[int]) -> None:
    ev, sc, target = db.deal_events, db.stage_changes, db.deals
    for chunk in _chunks(ids):
        merged: list[tuple[int, int, str, Any]] = [
            (e["block_number"], e["log_index"], "event", e)
            for e in conn.execute(select(ev).where(ev.c.deal_id.in_(chunk))).mappings()
        ]
        merged += [
            (s["block_number"], s["log_index"], "stage", s)
            for s in conn.execute(select(sc).where(sc.c.deal_id.in_(chunk))).mappings()
        ]
        merged.sort(key=lambda item: (item[0], item[1]))
        rows: dict[int, dict[str, Any]] = {}
        for _block, _index, source, e in merged:
            deal_id = e["deal_id"]
            if source == "event" and e["kind"] == "opened":
                rows[deal_id] = {
                    "id": deal_id,
                    "customer_id": e["customer_id"],
                    "owner": e["owner"],
                    "value_wei": e["value_wei"],
                    "stage": int(Stage.NONE),
                    "opened_at": e["at"],
                    "closed_at": None,
                    "lost_reason": None,
                    "invoice_id": None,
                    "invoices": 0,
                    "block_number": e["block_number"],
                }
                continue
            row = rows.get(deal_id)
            if row is None:
                continue
            if source == "stage":
                row["stage"] = e["to_stage"]
                if Stage(e["to_stage"]).is_final:
                    row["closed_at"] = e["at"]
            elif e["kind"] == "reassigned":
                row["owner"] = e["owner"]
            elif e["kind"] == "lost":
                row["lost_reason"] = e["reason"]
            elif e["kind"] == "invoiced":
                row["invoice_id"] = e["invoice_id"]
                row["invoices"] += 1
        conn.execute(delete(target).where(target.c.id.in_(chunk)))
        if rows:
            conn.execute(insert(target), list(rows.values()))


_INVOICE_STATUS: dict[str, tuple[InvoiceStatus, str]] = {
    "paid": (InvoiceStatus.PAID, "paid_at"),
    "disputed": (InvoiceStatus.DISPUTED, "disputed_at"),
    "released": (InvoiceStatus.RELEASED, "released_at"),
    "refunded": (InvoiceStatus.REFUNDED, "refunded_at"),
    "cancelled": (InvoiceStatus.CANCELLED, "cancelled_at"),
}


def _rebuild_invoices(conn: Connection, ids: set[int]) -> None:
    ev, target = db.invoice_events, db.invoices
    for chunk in _chunks(ids):
        events = conn.execute(
            select(ev).where(ev.c.invoice_id.in_(chunk)).order_by(ev.c.block_number, ev.c.log_index)
        ).mappings()
        rows: dict[int, dict[str, Any]] = {}
        for e in events:
            invoice_id = e["invoice_id"]
            if e["kind"] == "issued":
                rows[invoice_id] = {
                    "id": invoice_id,
                    "deal_id": e["deal_id"],
                    "customer_id": e["customer_id"],
                    "payer": e["payer"],
                    "amount_wei": e["amount_wei"],
                    "due_at": e["due_at"],
                    "payment_reference": e["payment_reference"],
                    "status": int(InvoiceStatus.OPEN),
                    "treasury": None,
                    "issued_at": e["at"],
                    "paid_at": None,
                    "disputed_at": None,
                    "resolve_by": None,
                    "released_at": None,
                    "refunded_at": None,
                    "cancelled_at": None,
                    "block_number": e["block_number"],
                }
            elif invoice_id in rows and e["kind"] in _INVOICE_STATUS:
                status, column = _INVOICE_STATUS[e["kind"]]
                row = rows[invoice_id]
                row["status"] = int(status)
                row[column] = e["at"]
                if e["kind"] == "paid":
                    row["treasury"] = e["treasury"]
                elif e["kind"] == "disputed":
                    row["resolve_by"] = e["resolve_by"]
        conn.execute(delete(target).where(target.c.id.in_(chunk)))
        if rows:
            conn.execute(insert(target), list(rows.values()))


def _touched_from(conn: Connection, fork: int) -> tuple[set[int], set[int], set[int]]:
    """Entities with event rows in blocks >= fork."""

    def ids(table: Table, column: str) -> set[int]:
        col = table.c[column]
        return set(conn.execute(select(col).where(table.c.block_number >= fork).distinct()).scalars())

    customers = (
        ids(db.customer_events, "customer_id")
        | ids(db.profile_versions, "customer_id")
        | ids(db.consent_events, "customer_id")
    )
    deals = ids(db.deal_events, "deal_id") | ids(db.stage_changes, "deal_id")
    return customers, deals, ids(db.invoice_events, "invoice_id")


# ====================================================================== the node


class _RangeRefused(Exception):
    """The node refused an eth_getLogs range as too large, or timed out on it."""


class _ChainMoved(Exception):
    """Blocks read in one pass do not belong to one chain: a reorg happened during the pass."""


@dataclass(frozen=True)
class _Header:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


class _Rpc:
    """Raw JSON-RPC through the Web3 provider, with bounded retries on transport failures."""

    def __init__(self, chain: Chain, retry_seconds: float, sleep: Callable[[float], None]) -> None:
        self.provider: Any = chain.w3.provider
        self.endpoint = chain.endpoint
        self.retry_seconds = retry_seconds
        self.sleep = sleep
        self.retries = 0

    def call(self, method: str, params: list[Any]) -> Any:
        response = self._retrying(lambda: self.provider.make_request(method, params))
        return self._result(method, response)

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        results: list[Any] = []
        for start in range(0, len(calls), RPC_BATCH_SIZE):
            chunk = list(calls[start : start + RPC_BATCH_SIZE])
            if hasattr(self.provider, "make_batch_request"):
                responses = self._retrying(functools.partial(self.provider.make_batch_request, chunk))
                if isinstance(responses, dict):
                    self._result(chunk[0][0], responses)  # the whole batch refused: raises
                results += [
                    self._result(method, response) for (method, _), response in zip(chunk, responses, strict=True)
                ]
            else:
                results += [self.call(method, params) for method, params in chunk]
        return results

    def get_logs(self, first: int, last: int, addresses: Sequence[str]) -> list[dict[str, Any]]:
        params = [{"fromBlock": hex(first), "toBlock": hex(last), "address": list(addresses)}]
        response = self._retrying(lambda: self.provider.make_request("eth_getLogs", params), timeout_refuses=True)
        error = response.get("error") if isinstance(response, dict) else None
        if error:
            message = str(error.get("message", error))
            if error.get("code") in TOO_LARGE_CODES or any(hint in message.lower() for hint in TOO_LARGE_HINTS):
                raise _RangeRefused(message)
            raise ChainError(f"the chain at {self.endpoint} refused eth_getLogs: {message}")
        return cast(list[dict[str, Any]], response["result"])

    def _retrying(self, action: Callable[[], Any], *, timeout_refuses: bool = False) -> Any:
        started = time.monotonic()
        delay = FIRST_BACKOFF_SECONDS
        attempts = 0
        slept = 0.0
        while True:
            try:
                return action()
            except _TRANSPORT_ERRORS as exc:
                attempts += 1
                if timeout_refuses and isinstance(exc, requests.ReadTimeout):
                    raise _RangeRefused("read timeout") from None
                too_large = isinstance(exc, requests.HTTPError) and getattr(exc.response, "status_code", 0) == 413
                if timeout_refuses and too_large:
                    raise _RangeRefused("413 payload too large") from None
                if max(time.monotonic() - started, slept) + delay > self.retry_seconds:
                    raise ChainError(
                        f"the chain at {self.endpoint} did not answer for {self.retry_seconds:.0f} s "
                        f"({attempts} attempts, last: {type(exc).__name__})"
                    ) from None
                self.retries += 1
                self.sleep(delay)
                slept += delay
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _result(self, method: str, response: Any) -> Any:
        error = response.get("error") if isinstance(response, dict) else None
        if error:
            message = error.get("message", error) if isinstance(error, dict) else error
            raise ChainError(f"the chain at {self.endpoint} refused {method}: {message}")
        return response.get("result")


# ====================================================================== the indexer


class Indexer:
    """Follows one CRM deployment's events into one database.

    `database` is a SQLAlchemy URL, a SQLite file path, an Engine, or None for
    ``<home>/index.sqlite``. `confirmations` is how far behind the head a block must be to be final.
    """

    def __init__(
        self,
        chain: Chain,
        deployment: Deployment,
        database: str | Path | Engine | None = None,
        *,
        home: Path = Path(".chaincrm"),
        confirmations: int = DEFAULT_CONFIRMATIONS,
        initial_range: int = DEFAULT_INITIAL_RANGE_BLOCKS,
        max_range: int = DEFAULT_MAX_RANGE_BLOCKS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        lock_timeout: float = SQLITE_LOCK_TIMEOUT_SECONDS,
        start_block: int | None = None,
        on_progress: Callable[[SyncProgress], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if confirmations < 0:
            raise ConfigError("confirmations cannot be negative")
        if not 1 <= initial_range <= max_range:
            raise ConfigError("the block range must be at least 1 and at most the maximum range")
        self.chain = chain
        self.deployment = deployment
        self.confirmations = confirmations
        self.max_range = max_range
        self.start_block = start_block
        self.on_progress = on_progress
        self._owns_engine = not isinstance(database, Engine)
        self.engine = (
            database if isinstance(database, Engine) else open_database(database, home=home, lock_timeout=lock_timeout)
        )
        self._range = initial_range
        self._rpc = _Rpc(chain, retry_seconds, sleep)
        self._addresses = [deployment.registry, deployment.pipeline, deployment.escrow]
        self._emitters = emitters(deployment)
        self._checked_chain_id: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, database: str | Path | None = None, **options: Any) -> Indexer:
        """The indexer for the deployment record in `settings.home`, over `settings.rpc_url`."""
        return cls(
            connect(settings.rpc_url), load_record(settings.deployment_path), database, home=settings.home, **options
        )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return describe_database(self.engine)

    # ------------------------------------------------------------------ queries

    def state(self) -> IndexState | None:
        return read_state(self.engine)

    def timeline(
        self, customer_id: int, *, limit: int | None = 100, older_than: Interaction | None = None
    ) -> list[Interaction]:
        """A customer's interactions, newest first (see :func:`customer_timeline`)."""
        return customer_timeline(self.engine, customer_id, limit=limit, older_than=older_than)

    def counts(self) -> dict[str, int]:
        return row_counts(self.engine)

    # ------------------------------------------------------------------ following

    def follow(
        self,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        stop: threading.Event | None = None,
        on_pass: Callable[[SyncReport], None] | None = None,
    ) -> SyncReport:
        """Pass after pass, `poll_seconds` apart, until `stop` is set (or Ctrl-C, which leaves the
        index at the last range written). Returns the last pass's report."""
        stop = stop or threading.Event()
        while True:
            report = self.sync_once()
            if on_pass is not None:
                on_pass(report)
            if stop.wait(poll_seconds):
                return report

    def sync_once(self) -> SyncReport:
        """Check for a reorg, then read every block up to the head; returns what was done."""
        for _attempt in range(MAX_PASS_ATTEMPTS):
            try:
                return self._pass()
            except _ChainMoved:
                continue
        raise ChainError(f"the chain at {self.chain.endpoint} kept reorganising during {MAX_PASS_ATTEMPTS} passes")

    def _pass(self) -> SyncReport:
        started = time.perf_counter()
        retries_before = self._rpc.retries
        state = self._prepare()
        head = int(self._rpc.call("eth_blockNumber", []), 16)
        rolled_back = self._undo_reorg(state, head)
        if rolled_back is not None:
            state = self._state()
        final_target = head - self.confirmations
        first = cursor = state.last_block + 1
        last_final = state.last_final_block
        logs = rows = interactions = ranges = refusals = foreign = 0
        stored = self._stored_hashes()
        while cursor <= head:
            span = min(self._range, head - cursor + 1)
            end = cursor + span - 1
            try:
                raw_logs = self._rpc.get_logs(cursor, end, self._addresses)
            except _RangeRefused as exc:
                if span == 1:
                    raise ChainError(
                        f"the chain at {self.chain.endpoint} refuses eth_getLogs for block {cursor} alone: {exc}"
                    ) from None
                refusals += 1
                self._range = max(1, span // 2)
                continue
            keep = set(range(max(cursor, final_target), end + 1)) | {end}
            wanted = (
                keep | {cursor} | {int(log["blockNumber"], 16) for log in raw_logs if not log.get("blockTimestamp")}
            )
            headers = self._headers(sorted(wanted))
            if len(headers) < len(wanted):
                raise _ChainMoved  # blocks we just saw logs for are gone: the chain got shorter
            self._check_consistent(cursor, headers, raw_logs, stored)
            times = {number: header.timestamp for number, header in headers.items()}
            batch = decode_logs(raw_logs, times, self._emitters)
            last_final = max(last_final, min(end, final_target))
            kept = [headers[number] for number in sorted(keep) if number in headers]
            self._write(batch, kept, expected_last=cursor - 1, last_block=end, last_final=last_final)
            stored.update({header.number: header.hash for header in kept})
            logs += len(raw_logs)
            foreign += batch.foreign
            rows += batch.row_count
            interactions += len(batch.rows.get(db.interactions.name, ()))
            ranges += 1
            if span == self._range:
                self._range = min(self.max_range, self._range * 2)
            cursor = end + 1
            if self.on_progress is not None:
                self.on_progress(SyncProgress(first_block=first, block=end, head=head, rows=rows))
        last_final = max(last_final, min(cursor - 1, final_target))
        self._finalise(last_final)
        return SyncReport(
            chain_id=self._checked_chain_id or 0,
            first_block=first,
            last_block=cursor - 1,
            head=head,
            last_final_block=last_final,
            rolled_back_from=rolled_back,
            logs=logs,
            foreign_logs=foreign,
            rows=rows,
            interactions=interactions,
            ranges=ranges,
            range_refusals=refusals,
            retries=self._rpc.retries - retries_before,
            seconds=time.perf_counter() - started,
        )

    # ------------------------------------------------------------------ checks before anything is written

    def _prepare(self) -> IndexState:
        chain_id = int(self._rpc.call("eth_chainId", []), 16)
        if chain_id != self.deployment.chain_id:
            raise ChainError(
                f"the node at {self.chain.endpoint} serves chain {chain_id}, "
                f"the deployment record is for chain {self.deployment.chain_id}"
            )
        state = read_state(self.engine)
        if state is not None:
            self._check_state(state, chain_id)
        if self._checked_chain_id != chain_id:
            codes = self._rpc.batch([("eth_getCode", [address, "latest"]) for address in self._addresses])
            for what, address, code in zip(("registry", "pipeline", "escrow"), self._addresses, codes, strict=True):
                if not code or code == "0x":
                    raise ChainError(
                        f"no {what} contract at {address} on chain {chain_id}: is the deployment record for this chain?"
                    )
            self._checked_chain_id = chain_id
        if state is None:
            state = self._create(chain_id)
        return state

    def _check_state(self, state: IndexState, chain_id: int) -> None:
        if state.chain_id != chain_id:
            raise ChainError(
                f"the index at {self.where} was built for chain {state.chain_id}; "
                f"the node at {self.chain.endpoint} serves chain {chain_id}"
            )
        for what, indexed, wanted in (
            ("registry", state.registry, self.deployment.registry),
            ("pipeline", state.pipeline, self.deployment.pipeline),
            ("escrow", state.escrow, self.deployment.escrow),
        ):
            if indexed != to_checksum_address(wanted):
                raise ConfigError(
                    f"the index at {self.where} follows the {what} at {indexed}, the deployment record names "
                    f"{wanted}: use another --database"
                )

    def _create(self, chain_id: int) -> IndexState:
        start = self.start_block if self.start_block is not None else self._deployment_start()
        if self.engine.url.get_backend_name() == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            Path(str(self.engine.url.database)).parent.mkdir(parents=True, exist_ok=True)
        with database_errors(self.engine), self._writing() as conn:
            db.metadata.create_all(conn)
            if conn.execute(select(db.sync_state.c.id)).first() is None:
                conn.execute(
                    insert(db.sync_state).values(
                        id=1,
                        schema_version=db.SCHEMA_VERSION,
                        chain_id=chain_id,
                        registry=to_checksum_address(self.deployment.registry),
                        pipeline=to_checksum_address(self.deployment.pipeline),
                        escrow=to_checksum_address(self.deployment.escrow),
                        start_block=start,
                        last_final_block=start - 1,
                        last_block=start - 1,
                        confirmations=self.confirmations,
                        updated_at=int(time.time()),
                    )
                )
        return self._state()

    def _deployment_start(self) -> int:
        """The first block with code at any of the three addresses (constructors emit events too);
        the record's block where the node keeps no history."""
        recorded = self.deployment.block_number
        try:
            first = recorded
            for address in self._addresses:
                low, high = 0, recorded
                while low < high:
                    middle = (low + high) // 2
                    code = self._rpc.call("eth_getCode", [address, hex(middle)])
                    if code and code != "0x":
                        high = middle
                    else:
                        low = middle + 1
                first = min(first, low)
            return first
        except ChainError:
            return recorded

    def _state(self) -> IndexState:
        state = read_state(self.engine)
        if state is None:
            raise ConfigError(f"the index at {self.where} disappeared while indexing")
        return state

    # ------------------------------------------------------------------ reorgs

    def _stored_hashes(self) -> dict[int, str]:
        with database_errors(self.engine), self.engine.connect() as conn:
            return dict(conn.execute(select(db.blocks.c.number, db.blocks.c.hash)).all())  # type: ignore[arg-type]

    def _undo_reorg(self, state: IndexState, head: int) -> int | None:
        """Roll back rows from the first kept block the chain no longer has; None if none."""
        stored = self._stored_hashes()
        if not stored:
            return None
        top = max(stored)
        current = self._headers([top]).get(top) if top <= head else None
        if current is not None and current.hash == stored[top]:
            return None  # the newest kept block is still there, and so are its ancestors
        numbers = sorted(stored)
        headers = self._headers([number for number in numbers if number <= head])
        fork = next(number for number in numbers if number not in headers or headers[number].hash != stored[number])
        if fork <= state.last_final_block:
            raise ChainError(
                f"the chain reorganised deeper than {self.confirmations} confirmations (block {fork} changed after "
                f"it was final): delete the index at {self.where} and index again, with more --confirmations"
            )
        with database_errors(self.engine), self._writing() as conn:
            self._lock_state(conn, state.last_block)
            customers, deals, invoices = _touched_from(conn, fork)
            for table in db.EVENT_TABLES:
                conn.execute(delete(table).where(table.c.block_number >= fork))
            _rebuild_customers(conn, customers)
            _rebuild_deals(conn, deals)
            _rebuild_invoices(conn, invoices)
            conn.execute(delete(db.blocks).where(db.blocks.c.number >= fork))
            conn.execute(
                update(db.sync_state)
                .where(db.sync_state.c.id == 1)
                .values(last_block=fork - 1, updated_at=int(time.time()))
            )
        return fork

    def _check_consistent(
        self, cursor: int, headers: dict[int, _Header], raw_logs: list[dict[str, Any]], stored: dict[int, str]
    ) -> None:
        """The range's logs, headers and the kept blocks before it are all one chain."""
        previous = headers.get(cursor)
        if previous is not None and cursor - 1 in stored and previous.parent_hash != stored[cursor - 1]:
            raise _ChainMoved
        for number, header in headers.items():
            parent = headers.get(number - 1)
            if parent is not None and header.parent_hash != parent.hash:
                raise _ChainMoved
        for log in raw_logs:
            holder = headers.get(int(log["blockNumber"], 16))
            if holder is not None and holder.hash != log["blockHash"]:
                raise _ChainMoved

    def _headers(self, numbers: Sequence[int]) -> dict[int, _Header]:
        if not numbers:
            return {}
        blocks = self._rpc.batch([("eth_getBlockByNumber", [hex(number), False]) for number in numbers])
        return {
            int(block["number"], 16): _Header(
                number=int(block["number"], 16),
                hash=block["hash"],
                parent_hash=block["parentHash"],
                timestamp=int(block["timestamp"], 16),
            )
            for block in blocks
            if block
        }

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One transaction that holds the write lock from its start (SQLite: BEGIN IMMEDIATE)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def _lock_state(self, conn: Connection, expected_last: int) -> None:
        """Lock the bookkeeping row and make sure no other indexer moved it since we read it."""
        query = select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1)
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        last = conn.execute(query).scalar_one_or_none()
        if last != expected_last:
            raise ConfigError(
                f"the index at {self.where} moved to block {last} while this indexer expected {expected_last}: "
                "is another indexer writing to it?"
            )

    def _write(
        self, batch: _Batch, kept: list[_Header], *, expected_last: int, last_block: int, last_final: int
    ) -> None:
        with database_errors(self.engine), self._writing() as conn:
            self._lock_state(conn, expected_last)
            for table in db.EVENT_TABLES:
                rows = batch.rows.get(table.name)
                if rows:
                    conn.execute(insert(table), rows)
            _rebuild_customers(conn, batch.customers)
            _rebuild_deals(conn, batch.deals)
            _rebuild_invoices(conn, batch.invoices)
            if kept:
                conn.execute(delete(db.blocks).where(db.blocks.c.number.in_([header.number for header in kept])))
                conn.execute(
                    insert(db.blocks),
                    [
                        {
                            "number": header.number,
                            "hash": header.hash,
                            "parent_hash": header.parent_hash,
                            "timestamp": header.timestamp,
                            "final": header.number <= last_final,
                        }
                        for header in kept
                    ],
                )
            conn.execute(
                update(db.sync_state)
                .where(db.sync_state.c.id == 1)
                .values(
                    last_block=last_block,
                    last_final_block=last_final,
                    confirmations=self.confirmations,
                    updated_at=int(time.time()),
                )
            )

    def _finalise(self, last_final: int) -> None:
        """Move the final mark up and forget block hashes no reorg check needs any more."""
        with database_errors(self.engine), self._writing() as conn:
            current = conn.execute(select(db.sync_state.c.last_final_block).where(db.sync_state.c.id == 1)).scalar_one()
            last_final = max(int(current), last_final)
            conn.execute(update(db.blocks).where(db.blocks.c.number <= last_final).values(final=True))
            conn.execute(delete(db.blocks).where(db.blocks.c.number < last_final))
            conn.execute(
                update(db.sync_state)
                .where(db.sync_state.c.id == 1)
                .values(last_final_block=last_final, confirmations=self.confirmations, updated_at=int(time.time()))
            )


__all__ = [
    "DEFAULT_CONFIRMATIONS",
    "IndexState",
    "Indexer",
    "SyncProgress",
    "SyncReport",
    "customer_timeline",
    "database_errors",
    "database_url",
    "decode_logs",
    "describe_database",
    "emitters",
    "open_database",
    "read_state",
    "row_counts",
]
