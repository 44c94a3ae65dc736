"""Anchored interaction batches in the index: each ``InteractionBatchAnchored`` document fetched
from IPFS, checked against its anchor, and its records made interactions.

The decoder stores each anchor as a ``pending`` row of ``interaction_batches`` in its range's
transaction. After the ranges of a pass, :class:`BatchChecker` takes every ``pending`` or
``unavailable`` anchor, oldest first, fetches its document through the index's document store
(bounded in size and time), checks it (:func:`check_document`: what
``chaincrm.batches.document`` accepts, and format, chain id, registry and author equal the
anchor's, the tree is the tree of its values, the root and count are the anchor's), and writes
what it found, a few anchors per transaction:

- ``ok``: every record is a row of ``interactions`` (``batch_root``, ``record_id``, ``position`` =
  its place in the document's values, the anchor's log, ``at`` = the anchor's block time), so
  timelines and reports include it;
- ``refused-records``: as ``ok``, but some records sit in ``refused_batch_records`` instead:
  ``no_grant`` (its author held no active access grant on the customer at the anchor: the state
  just before the anchor's log, as ``hasActiveGrant`` would have answered in that transaction; the
  contract cannot check records it never sees) or ``invalid`` (a kind, outcome or zero content hash
  ``logInteraction`` refuses);
- ``mismatch``: the document is not the anchored batch (one line in ``reason``); no record is kept;
- ``unavailable``: the store could not give the document (IPFS down, the CID not held, no store
  configured); tried again on every later pass until it is there.

A recordId counts once: the first anchor in chain order (block, log index, then position) that
holds it with a grant counts it; a later one keeps it in ``refused_batch_records`` as
``duplicate``, naming the counting anchor's log (``counted_in_block``, ``counted_in_log``). When an
earlier anchor's document turns up after a later anchor counted one of its records, the earlier one
takes the record over. So once every document is reachable the index equals a fresh rebuild.

Speed: documents are fetched by a few threads while the previous chunk is written; with many
records waiting they are checked in worker processes (the hashing then runs beside SQLite's
writes), and SQLite gets its rows straight through the driver. ``chaincrm bench index --batched``
rebuilds 1,000 anchored batches of 1,000 records.

Every row carries its anchor's log, so a reorg rolls it back with the anchor (``reorgs``), and
what is counted is always the earliest anchor, so rolling back later blocks never orphans a row.
"""

from __future__ import annotations

import bisect
import json
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from eth_utils import is_address
from sqlalchemy import Connection, Engine, delete, insert, select, update

from chaincrm.batches.document import FORMAT, MAX_DOCUMENT_RECORDS, UINT64_MAX
from chaincrm.batches.tree import FORMAT as TREE_FORMAT
from chaincrm.batches.tree import LEAF_ENCODING, UINT256_MAX, WORD_BYTES, keccak256, make_tree
from chaincrm.errors import BatchMismatch, StorageError
from chaincrm.index import schema as db
from chaincrm.index.database import database_errors, lock_state, writing
from chaincrm.models import InteractionKind, Outcome
from chaincrm.storage.cids import digest_to_cid

if TYPE_CHECKING:
    from chaincrm.storage import DocumentStore

MAX_BATCH_DOCUMENT_BYTES = 32 * 1024 * 1024  # ~100,000 records; a larger document is a mismatch
FETCH_TIMEOUT_SECONDS = 20.0  # per document, for the store the indexer builds (Indexer.from_settings)
FETCH_WORKERS = 4  # documents fetched and checked at once
CHUNK_RECORDS = 50_000  # anchored records written per transaction (a chunk holds at least one anchor)
CHUNK_ANCHORS = 64
# At least this many records waiting: documents are checked in worker processes (one per CPU but
# one), so hashing runs beside the database writes instead of taking turns with them for the GIL.
PROCESS_RECORDS = 100_000
ID_CHUNK = 500  # ids per IN (...) list
MAX_KIND = max(int(kind) for kind in InteractionKind)
MAX_OUTCOME = max(int(outcome) for outcome in Outcome)
ZERO_HASH = "0x" + "00" * 32
NO_STORE = "no IPFS service is configured for the index"
TOO_LARGE = "larger than the limit"  # KuboStore's words for a document over its size limit

PENDING, OK, REFUSED_RECORDS, MISMATCH, UNAVAILABLE = db.BATCH_STATUSES
NO_GRANT, INVALID, DUPLICATE = db.BATCH_RECORD_REFUSALS


@dataclass(frozen=True)
class Anchor:
    """One InteractionBatchAnchored row, as the index holds it."""

    id: int
    block_number: int
    log_index: int
    tx_hash: str
    root: str
    author: str
    cid_digest: str
    record_count: int
    at: int

    @property
    def point(self) -> tuple[int, int]:
        return (self.block_number, self.log_index)


class Record(NamedTuple):
    """One value of a batch document (the fields of ``chaincrm.batches.tree.LeafValue``)."""

    record_id: bytes
    customer_id: int
    kind: int
    outcome: int
    content_hash: bytes


@dataclass(frozen=True)
class Found:
    """What fetching and checking an anchor's document gave: its records, or why not."""

    status: str  # OK (records hold the values), MISMATCH or UNAVAILABLE
    reason: str | None = None
    records: tuple[Record, ...] = ()


@dataclass
class BatchTally:
    """What one :meth:`BatchChecker.run` did."""

    checked: int = 0  # anchors whose document was fetched and checked (ok, refused-records, mismatch)
    unavailable: int = 0  # anchors still without their document
    mismatched: int = 0
    records: int = 0  # rows added to interactions
    refused: int = 0  # rows added to refused_batch_records (duplicates included)
    taken_over: int = 0  # records an earlier anchor took over from a later one


@dataclass(frozen=True)
class RecordState:
    """Where the index holds an anchored record: counted (an interaction) or refused, and from
    which anchor (for `verify interaction`)."""

    record_id: str
    counted: bool
    reason: str | None  # None when counted; else one of schema.BATCH_RECORD_REFUSALS
    batch_root: str
    block_number: int
    log_index: int
    position: int
    counted_in_block: int | None = None  # a duplicate: the anchor that counts it
    counted_in_log: int | None = None


def check_document(
    data: bytes, anchor: Anchor, *, chain_id: int, registry: str, max_bytes: int = MAX_BATCH_DOCUMENT_BYTES
) -> Found:
    """The anchor's records if `data` is its batch document; else MISMATCH and one line why.

    It accepts exactly the documents ``chaincrm.batches.document.parse_document`` accepts and
    ``BatchDocument.check`` finds to be the anchor's (a test holds the two together), about three
    times faster: the fields the anchor fixes first (a document of a million values for another
    count costs nothing), the values read without building a ``LeafValue`` each, the hashing
    ``chaincrm.batches.tree``'s own.
    """
    if len(data) > max_bytes:
        return Found(MISMATCH, f"the batch document is larger than {max_bytes:,} bytes")
    try:
        records = _read_document(data, anchor, chain_id, registry)
    except BatchMismatch as exc:
        return Found(MISMATCH, _one_line(str(exc)))
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        RecursionError,
        OverflowError,
    ) as exc:
        return Found(MISMATCH, f"the batch document cannot be read ({type(exc).__name__})")
    except MemoryError:  # this machine's limit, not the document's fault: tried again later
        return Found(UNAVAILABLE, "not enough memory to check the batch document")
    return Found(OK, None, records)


_UINT8_WORDS = [number.to_bytes(WORD_BYTES, "big") for number in range(256)]
_HASH_TEXT_LENGTH = 2 + 2 * WORD_BYTES
_UINT256_DIGITS = len(str(UINT256_MAX))


def _read_document(data: bytes, anchor: Anchor, chain_id: int, registry: str) -> tuple[Record, ...]:
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise BatchMismatch("the batch document is not JSON") from None
    if not isinstance(raw, dict):
        raise BatchMismatch("the batch document is not a JSON object")
    if raw.get("format") != FORMAT:
        raise BatchMismatch(f"the batch document's format is {_shown(raw.get('format'))}, not {FORMAT!r}")
    document_chain = _whole(raw.get("chainId"), "chainId", UINT64_MAX)
    _whole(raw.get("createdAt"), "createdAt", UINT64_MAX)
    count = _whole(raw.get("count"), "count", MAX_DOCUMENT_RECORDS)
    document_registry, author = _address(raw.get("registry"), "registry"), _address(raw.get("author"), "author")
    if document_chain != chain_id:
        raise BatchMismatch(f"the batch document is for chain {document_chain}, not chain {chain_id}")
    if document_registry.lower() != registry.lower():
        raise BatchMismatch(f"the batch document is for registry {document_registry}, not {registry}")
    if author.lower() != anchor.author.lower():
        raise BatchMismatch(f"the batch document's author is {author}, not {anchor.author}")
    if count != anchor.record_count:
        raise BatchMismatch(f"the batch document holds {count} record(s); the anchor says {anchor.record_count}")
    tree = raw.get("tree")
    if not isinstance(tree, Mapping):
        raise BatchMismatch("tree is not an object")
    if tree.get("format") != TREE_FORMAT:
        raise BatchMismatch(f"tree.format is {_shown(tree.get('format'))}, not {TREE_FORMAT!r}")
    if list(tree.get("leafEncoding") or []) != list(LEAF_ENCODING):
        raise BatchMismatch(f"tree.leafEncoding is not {list(LEAF_ENCODING)!r}")
    values, nodes, logged = tree.get("values"), tree.get("tree"), raw.get("loggedAt")
    if not isinstance(values, list) or not values:
        raise BatchMismatch("tree.values is not a non-empty list")
    if not isinstance(nodes, list):
        raise BatchMismatch("tree.tree is not a list")
    if len(values) != count:
        raise BatchMismatch(f"the batch document's count {count} is not its {len(values)} record(s)")
    if len(nodes) != 2 * count - 1:
        raise BatchMismatch("tree.tree is not the Merkle tree of tree.values")
    if not isinstance(logged, list) or len(logged) != count:
        raise BatchMismatch("loggedAt is not a list with one time per record")
    for i, time in enumerate(logged):
        _whole(time, f"loggedAt[{i}]", UINT64_MAX)
    records, leaves = _values(values)
    order = sorted(range(count), key=leaves.__getitem__)
    built = make_tree([leaves[i] for i in order])
    if [_bytes32(node, f"tree.tree[{i}]") for i, node in enumerate(nodes)] != built:
        raise BatchMismatch("tree.tree is not the Merkle tree of tree.values")
    last = len(built) - 1
    for position, value_index in enumerate(order):
        if values[value_index].get("treeIndex") != last - position:
            raise BatchMismatch("tree.values[].treeIndex does not match the tree")
    root = "0x" + built[0].hex()
    if raw.get("root") != root:
        raise BatchMismatch(f"the batch document's root {_shown(raw.get('root'))} is not its tree's root")
    if root != anchor.root.lower():
        raise BatchMismatch(f"the batch document's root {root} is not the anchored root {anchor.root}")
    return tuple(records)


def _values(values: list[Any]) -> tuple[list[Record], list[bytes]]:
    """The records and their leaves (OpenZeppelin's standard leaf, as ``tree.leaf_hash``)."""
    records: list[Record] = []
    leaves: list[bytes] = []
    words = _UINT8_WORDS
    for i, item in enumerate(values):
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, list) or len(value) != len(LEAF_ENCODING):
            raise BatchMismatch(f"tree.values[{i}].value is not a list of {len(LEAF_ENCODING)} fields")
        record_id = _bytes32(value[0], f"tree.values[{i}].value[0] (recordId)")
        customer_id = _uint(value[1], _UINT256_DIGITS, UINT256_MAX, f"tree.values[{i}].value[1] (customerId)")
        kind = _uint(value[2], 3, 255, f"tree.values[{i}].value[2] (kind)")
        outcome = _uint(value[3], 3, 255, f"tree.values[{i}].value[3] (outcome)")
        content_hash = _bytes32(value[4], f"tree.values[{i}].value[4] (contentHash)")
        encoded = record_id + customer_id.to_bytes(WORD_BYTES, "big") + words[kind] + words[outcome] + content_hash
        leaves.append(keccak256(keccak256(encoded)))
        records.append(Record(record_id, customer_id, kind, outcome, content_hash))
    return records, leaves


def _bytes32(value: Any, where: str) -> bytes:
    if type(value) is str and len(value) == _HASH_TEXT_LENGTH and value.startswith("0x"):
        try:
            word = bytes.fromhex(value[2:])
        except ValueError:
            word = b""
        if len(word) == WORD_BYTES:
            return word
    raise BatchMismatch(f"{where} is not a 32-byte hex value")


def _uint(value: Any, digits: int, most: int, where: str) -> int:
    """A decimal string's value (leading zeros allowed; never more digits than `most` has)."""
    if type(value) is str and value.isascii() and value.isdigit():
        text = value if len(value) <= digits else value.lstrip("0") or "0"
        if len(text) <= digits:
            number = int(text)
            if number <= most:
                return number
    raise BatchMismatch(f"{where} is not a decimal string of at most {most}")


def _whole(value: Any, name: str, most: int) -> int:
    if type(value) is not int or not 0 <= value <= most:
        raise BatchMismatch(f"the batch document's {name} is not a whole number from 0 to {most}")
    return value


def _address(value: Any, name: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise BatchMismatch(f"the batch document's {name} is not an address")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class BatchChecker:
    """Checks the index's pending and unavailable anchors against their documents (see the module
    docstring). `documents` None: every anchor stays unavailable until a store is given."""

    def __init__(
        self,
        engine: Engine,
        documents: DocumentStore | None,
        *,
        chain_id: int,
        registry: str,
        workers: int = FETCH_WORKERS,
        max_document_bytes: int = MAX_BATCH_DOCUMENT_BYTES,
    ) -> None:
        self.engine = engine
        self.documents = documents
        self.chain_id = chain_id
        self.registry = registry
        self.workers = max(1, workers)
        self.max_document_bytes = max_document_bytes
        # The first 8 bytes of every recordId counted in the index, read once: a record whose
        # prefix is not here is not counted yet, without asking the database. Rows a reorg rolls
        # back leave their prefixes behind; that only costs a query.
        self._counted: set[int] | None = None
        self._checkers: Executor | None = None

    def run(self, expected_last: int) -> BatchTally:
        """Check every pending or unavailable anchor, oldest first; `expected_last` is the block
        the index reached (a transaction finding another indexer moved it writes nothing)."""
        tally = BatchTally()
        anchors = self._open_anchors()
        if not anchors:
            return tally
        chunks = list(_chunks(anchors))
        grants = _Grants()
        processes = (os.cpu_count() or 1) - 1
        if self.documents is not None and processes > 0 and sum(a.record_count for a in anchors) >= PROCESS_RECORDS:
            context = multiprocessing.get_context("spawn")  # never fork a process holding threads and connections
            with ProcessPoolExecutor(processes, mp_context=context) as checkers:
                self._checkers = checkers
                try:
                    self._run(chunks, expected_last, tally, grants)
                finally:
                    self._checkers = None
        else:
            self._run(chunks, expected_last, tally, grants)
        return tally

    def _run(self, chunks: list[list[Anchor]], expected_last: int, tally: BatchTally, grants: _Grants) -> None:
        with ThreadPoolExecutor(self.workers, thread_name_prefix="chaincrm-batches") as pool:
            ahead = self._start(pool, chunks[0])
            for number, chunk in enumerate(chunks):
                found = [future.result() for future in ahead]
                ahead = self._start(pool, chunks[number + 1]) if number + 1 < len(chunks) else []
                with database_errors(self.engine), writing(self.engine) as conn:
                    lock_state(conn, expected_last)
                    counted = self._counted_prefixes(conn)
                    for anchor, outcome in zip(chunk, found, strict=True):
                        _apply(conn, anchor, outcome, tally, grants, counted)

    def _counted_prefixes(self, conn: Connection) -> set[int]:
        if self._counted is None:
            t = db.interactions
            found = conn.execute(select(t.c.record_id).where(t.c.record_id.is_not(None))).scalars()
            self._counted = {_prefix(record_id) for record_id in found}
        return self._counted

    def _start(self, pool: ThreadPoolExecutor, chunk: Sequence[Anchor]) -> list[Future[Found]]:
        return [pool.submit(self.find, anchor) for anchor in chunk]

    def find(self, anchor: Anchor) -> Found:
        """Fetch and check one anchor's document (never raises for what the store or the document
        holds)."""
        if self.documents is None:
            return Found(UNAVAILABLE, NO_STORE)
        cid = digest_to_cid(bytes.fromhex(anchor.cid_digest[2:]))
        try:
            data = self.documents.get(cid)
        except StorageError as exc:
            message = _one_line(str(exc))
            if TOO_LARGE in message:
                return Found(MISMATCH, f"the batch document {cid} is larger than the store's limit")
            return Found(UNAVAILABLE, message)
        check = partial(
            check_document, chain_id=self.chain_id, registry=self.registry, max_bytes=self.max_document_bytes
        )
        checkers = self._checkers
        if checkers is not None:
            try:
                return checkers.submit(check, data, anchor).result()
            except BrokenProcessPool:
                pass  # a checker died (out of memory?): check here instead
        return check(data, anchor)

    def _open_anchors(self) -> list[Anchor]:
        t = db.interaction_batches
        query = (
            select(t.c.id, t.c.block_number, t.c.log_index, t.c.tx_hash, t.c.root, t.c.author, t.c.cid_digest,
                   t.c.record_count, t.c.at)
            .where(t.c.status.in_((PENDING, UNAVAILABLE)))
            .order_by(t.c.block_number, t.c.log_index)
        )  # fmt: skip
        with database_errors(self.engine), self.engine.connect() as conn:
            return [Anchor(*row) for row in conn.execute(query).all()]


def _chunks(anchors: Sequence[Anchor]) -> Iterator[list[Anchor]]:
    chunk: list[Anchor] = []
    records = 0
    for anchor in anchors:
        if chunk and (records + anchor.record_count > CHUNK_RECORDS or len(chunk) >= CHUNK_ANCHORS):
            yield chunk
            chunk, records = [], 0
        chunk.append(anchor)
        records += anchor.record_count
    if chunk:
        yield chunk


# ---------------------------------------------------------------------- writing what was found


@dataclass
class _Counts:
    records: int = 0
    duplicates: int = 0
    no_grant: int = 0
    invalid: int = 0
    interactions: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)


def _apply(
    conn: Connection, anchor: Anchor, found: Found, tally: BatchTally, grants: _Grants, counted: set[int]
) -> None:
    t = db.interaction_batches
    if found.status != OK:
        if found.status == UNAVAILABLE:
            tally.unavailable += 1
        else:
            tally.checked += 1
            tally.mismatched += 1
        conn.execute(update(t).where(t.c.id == anchor.id).values(status=found.status, reason=_short(found.reason)))
        return
    tally.checked += 1
    counts = _sort_records(conn, anchor, found.records, tally, grants, counted)
    if counts.interactions:
        _insert_interactions(conn, counts.interactions)
    if counts.refused:
        conn.execute(insert(db.refused_batch_records), counts.refused)
    tally.records += len(counts.interactions)
    tally.refused += len(counts.refused)
    refused = counts.no_grant + counts.invalid
    reason = None
    if refused:
        parts = [f"{counts.no_grant} without an access grant" if counts.no_grant else "",
                 f"{counts.invalid} invalid" if counts.invalid else ""]  # fmt: skip
        reason = f"{refused} of {len(found.records)} record(s) refused: " + ", ".join(part for part in parts if part)
    conn.execute(
        update(t)
        .where(t.c.id == anchor.id)
        .values(
            status=REFUSED_RECORDS if refused else OK,
            reason=reason,
            records=counts.records,
            duplicates=counts.duplicates,
            refused=refused + counts.duplicates,
        )
    )


def _sort_records(
    conn: Connection,
    anchor: Anchor,
    values: Sequence[Record],
    tally: BatchTally,
    grants: _Grants,
    counted: set[int],
) -> _Counts:
    """Each record counted, refused, or a duplicate; records later anchors counted are taken over."""
    counts = _Counts()
    candidates: list[tuple[int, Record, str]] = []
    for position, value in enumerate(values):
        if not _valid(value):
            counts.invalid += 1
            counts.refused.append(_refused_row(anchor, position, value, INVALID))
        else:
            candidates.append((position, value, "0x" + value.record_id.hex()))
    granted = grants.active(conn, anchor, {value.customer_id for _, value, _ in candidates})
    kept: list[tuple[int, Record, str]] = []
    for position, value, record_id in candidates:
        if value.customer_id in granted:
            kept.append((position, value, record_id))
        else:
            counts.no_grant += 1
            counts.refused.append(_refused_row(anchor, position, value, NO_GRANT))
    maybe = [record_id for _, _, record_id in kept if _prefix(record_id) in counted]
    holders = _counted_elsewhere(conn, maybe) if maybe else {}
    taken: list[Any] = []
    seen: set[str] = set()
    for position, value, record_id in kept:
        holder = holders.get(record_id)
        if record_id in seen:
            counts.duplicates += 1
            counts.refused.append(_refused_row(anchor, position, value, DUPLICATE, anchor.point))
        elif holder is not None and (holder.block_number, holder.log_index) < anchor.point:
            counts.duplicates += 1
            counts.refused.append(
                _refused_row(anchor, position, value, DUPLICATE, (holder.block_number, holder.log_index))
            )
        else:
            if holder is not None:
                taken.append(holder)
            seen.add(record_id)
            counted.add(_prefix(record_id))
            counts.records += 1
            counts.interactions.append(_interaction_row(anchor, position, value, record_id))
    if taken:
        _take_over(conn, anchor, taken)
        tally.taken_over += len(taken)
    return counts


def _insert_interactions(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Bulk insert; on SQLite straight through the driver (the rows hold only plain values, and
    SQLAlchemy's per-row parameter handling costs about as much as SQLite's own insert)."""
    if conn.dialect.name != "sqlite":
        conn.execute(insert(db.interactions), rows)
        return
    columns = list(rows[0])
    names = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(
        f"INSERT INTO {db.interactions.name} ({names}) VALUES ({marks})",
        [tuple(row[column] for column in columns) for row in rows],
    )


def _prefix(record_id: str) -> int:
    return int(record_id[2:18], 16)


def _valid(value: Record) -> bool:
    """What logInteraction would accept: a known kind and outcome, a content hash."""
    return 1 <= value.kind <= MAX_KIND and value.outcome <= MAX_OUTCOME and any(value.content_hash)


class _Grants:
    """Each author's access events, read once per run (anchors are checked after the ranges that
    hold the events are written, and no range is written during a run)."""

    def __init__(self) -> None:
        self._by_author: dict[str, dict[int, tuple[list[tuple[int, int]], list[bool]]]] = {}

    def active(self, conn: Connection, anchor: Anchor, customer_ids: Iterable[int]) -> set[int]:
        """The customers on which the anchor's author held an active grant just before its log:
        what ``hasActiveGrant`` answered inside the anchor's transaction."""
        events = self._by_author.get(anchor.author)
        if events is None:
            events = self._by_author[anchor.author] = self._read(conn, anchor.author)
        point = anchor.point
        active = set()
        for customer_id in customer_ids:
            found = events.get(customer_id)
            if found is None:
                continue
            points, granted = found
            before = bisect.bisect_left(points, point)  # events strictly before the anchor's log
            if before and granted[before - 1]:
                active.add(customer_id)
        return active

    @staticmethod
    def _read(conn: Connection, author: str) -> dict[int, tuple[list[tuple[int, int]], list[bool]]]:
        t = db.access_events
        query = (
            select(t.c.customer_id, t.c.block_number, t.c.log_index, t.c.granted)
            .where(t.c.staff == author)
            .order_by(t.c.block_number, t.c.log_index)
        )
        events: dict[int, tuple[list[tuple[int, int]], list[bool]]] = {}
        for customer_id, block, log_index, granted in conn.execute(query):
            points, flags = events.setdefault(customer_id, ([], []))
            points.append((block, log_index))
            flags.append(bool(granted))
        return events


def _counted_elsewhere(conn: Connection, record_ids: Sequence[str]) -> dict[str, Any]:
    """recordId -> the interactions row that counts it (from another anchor)."""
    t = db.interactions
    found: dict[str, Any] = {}
    unique = sorted(set(record_ids))
    for start in range(0, len(unique), ID_CHUNK):
        query = select(t).where(t.c.record_id.in_(unique[start : start + ID_CHUNK]))
        for row in conn.execute(query):
            found[row.record_id] = row
    return found


def _take_over(conn: Connection, anchor: Anchor, rows: Sequence[Any]) -> None:
    """`anchor` (earlier) now counts these records that later anchors counted: their rows become
    duplicates of it, and every duplicate of them names it."""
    t, r, b = db.interactions, db.refused_batch_records, db.interaction_batches
    record_ids = [row.record_id for row in rows]
    conn.execute(delete(t).where(t.c.id.in_([row.id for row in rows])))
    for start in range(0, len(record_ids), ID_CHUNK):
        conn.execute(
            update(r)
            .where(r.c.record_id.in_(record_ids[start : start + ID_CHUNK]), r.c.reason == DUPLICATE)
            .values(counted_in_block=anchor.block_number, counted_in_log=anchor.log_index)
        )
    conn.execute(
        insert(r),
        [
            {
                "batch_root": row.batch_root,
                "record_id": row.record_id,
                "customer_id": int(row.customer_id),
                "author": row.author,
                "kind": row.kind,
                "outcome": row.outcome,
                "content_hash": row.content_hash,
                "reason": DUPLICATE,
                "counted_in_block": anchor.block_number,
                "counted_in_log": anchor.log_index,
                "at": row.at,
                "block_number": row.block_number,
                "tx_hash": row.tx_hash,
                "log_index": row.log_index,
                "position": row.position,
            }
            for row in rows
        ],
    )
    lost: dict[tuple[int, int], int] = {}
    for row in rows:
        lost[(row.block_number, row.log_index)] = lost.get((row.block_number, row.log_index), 0) + 1
    for (block, log_index), number in lost.items():
        conn.execute(
            update(b)
            .where(b.c.block_number == block, b.c.log_index == log_index)
            .values(records=b.c.records - number, duplicates=b.c.duplicates + number, refused=b.c.refused + number)
        )


def _interaction_row(anchor: Anchor, position: int, value: Record, record_id: str) -> dict[str, Any]:
    return {
        "customer_id": value.customer_id,
        "author": anchor.author,
        "kind": value.kind,
        "outcome": value.outcome,
        "content_hash": "0x" + value.content_hash.hex(),
        "at": anchor.at,
        "batch_root": anchor.root,
        "record_id": record_id,
        "block_number": anchor.block_number,
        "tx_hash": anchor.tx_hash,
        "log_index": anchor.log_index,
        "position": position,
    }


def _refused_row(
    anchor: Anchor, position: int, value: Record, reason: str, counted_in: tuple[int, int] | None = None
) -> dict[str, Any]:
    return {
        "batch_root": anchor.root,
        "record_id": "0x" + value.record_id.hex(),
        "customer_id": value.customer_id,
        "author": anchor.author,
        "kind": value.kind,
        "outcome": value.outcome,
        "content_hash": "0x" + value.content_hash.hex(),
        "reason": reason,
        "counted_in_block": counted_in[0] if counted_in else None,
        "counted_in_log": counted_in[1] if counted_in else None,
        "at": anchor.at,
        "block_number": anchor.block_number,
        "tx_hash": anchor.tx_hash,
        "log_index": anchor.log_index,
        "position": position,
    }


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def _short(reason: str | None) -> str | None:
    if reason is None or len(reason) <= db.BATCH_REASON_LENGTH:
        return reason
    return reason[: db.BATCH_REASON_LENGTH - 3] + "..."


# ---------------------------------------------------------------------- reading back


def record_state(conn: Connection, record_id: bytes | str) -> RecordState | None:
    """Where the index holds an anchored record: counted, else the first refusal of it in chain
    order; None if no checked batch holds it."""
    key = record_id if isinstance(record_id, str) else "0x" + bytes(record_id).hex()
    key = key.lower()
    t = db.interactions
    row = conn.execute(select(t).where(t.c.record_id == key)).first()
    if row is not None:
        return RecordState(key, True, None, row.batch_root, row.block_number, row.log_index, row.position)
    r = db.refused_batch_records
    refused = conn.execute(
        select(r).where(r.c.record_id == key).order_by(r.c.block_number, r.c.log_index, r.c.position).limit(1)
    ).first()
    if refused is None:
        return None
    return RecordState(
        key,
        False,
        refused.reason,
        refused.batch_root,
        refused.block_number,
        refused.log_index,
        refused.position,
        refused.counted_in_block,
        refused.counted_in_log,
    )


def batch_anchors(conn: Connection, root: bytes | str | None = None) -> list[dict[str, Any]]:
    """The anchors the index holds (of one root, if given), in chain order, as rows."""
    t = db.interaction_batches
    query = select(t).order_by(t.c.block_number, t.c.log_index)
    if root is not None:
        key = root if isinstance(root, str) else "0x" + bytes(root).hex()
        query = query.where(t.c.root == key.lower())
    return [dict(row._mapping) for row in conn.execute(query)]


__all__ = [
    "FETCH_TIMEOUT_SECONDS",
    "FETCH_WORKERS",
    "MAX_BATCH_DOCUMENT_BYTES",
    "Anchor",
    "BatchChecker",
    "BatchTally",
    "Found",
    "RecordState",
    "batch_anchors",
    "check_document",
    "record_state",
]
