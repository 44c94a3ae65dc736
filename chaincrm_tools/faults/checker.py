"""After a fault run: is every record on-chain exactly once, can every document be fetched, is any
document pinned that nothing on-chain points to, and does the index the run kept equal a fresh
rebuild?

A record's identity is its record id (the Merkle leaf's first value) when it was batched, and its
document's digest when it was logged singly (a single ``InteractionLogged`` carries no id; each
document is sealed under a fresh nonce, so its digest is unique). Records on-chain come from the
chain's logs alone: every ``InteractionLogged`` of the deployment, and every record in the batch
document of every ``InteractionBatchAnchored``, read from IPFS and checked against its root.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from chaincrm.batches.document import parse_document
from chaincrm.contracts.client import Crm
from chaincrm.errors import ChainCrmError
from chaincrm.index import schema as db
from chaincrm.storage import Cid, DocumentStore, digest_to_cid
from chaincrm.storage.orphans import referenced_documents, sweep_orphans
from chaincrm_tools.faults.intents import BATCH, Intent

FETCH_THREADS = 8
SHOWN = 5  # record ids or CIDs shown per problem in the report


@dataclass(frozen=True)
class OnChain:
    """Every record the chain holds for the deployment, by identity, with how many times."""

    singles: Counter[bytes]
    """Single interactions by content hash."""
    batched: Counter[bytes]
    """Batched records by record id."""
    batched_hashes: dict[bytes, bytes]
    """Each batched record's content hash, by record id."""
    batch_documents: tuple[Cid, ...]
    roots: Counter[bytes]
    problems: tuple[str, ...]
    """Anchored batches whose document could not be read or does not match its anchor."""


@dataclass(frozen=True)
class Verdict:
    intended: int
    intended_single: int
    intended_batched: int
    once: int
    lost: tuple[str, ...]
    duplicated: int
    """Extra copies on-chain of intended records (a record twice counts 1)."""
    duplicated_records: tuple[str, ...]
    unexpected: int
    """Records on-chain that no writer intended."""
    batches: int
    roots_anchored_twice: int
    batch_problems: tuple[str, ...]
    wrong_content: tuple[str, ...]
    """Batched records whose content hash on-chain differs from the intended one."""
    unfetchable: tuple[str, ...]
    documents_checked: int
    orphans_swept: int
    orphan_pins_after_sweep: int
    referenced_not_pinned: int
    index_equal: bool | None
    index_difference: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return (
            not self.lost
            and self.duplicated == 0
            and self.unexpected == 0
            and self.roots_anchored_twice == 0
            and not self.batch_problems
            and not self.wrong_content
            and not self.unfetchable
            and self.orphan_pins_after_sweep == 0
            and self.referenced_not_pinned == 0
            and self.index_equal is not False
        )

    def failures(self) -> list[str]:
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} record(s) lost, e.g. {', '.join(self.lost[:SHOWN])}")
        if self.duplicated:
            found.append(f"{self.duplicated} duplicate(s), e.g. {', '.join(self.duplicated_records[:SHOWN])}")
        if self.unexpected:
            found.append(f"{self.unexpected} record(s) on-chain that no writer intended")
        if self.roots_anchored_twice:
            found.append(f"{self.roots_anchored_twice} root(s) anchored more than once")
        found += [f"batch: {problem}" for problem in self.batch_problems[:SHOWN]]
        if self.wrong_content:
            found.append(f"{len(self.wrong_content)} batched record(s) with another content hash on-chain")
        if self.unfetchable:
            found.append(
                f"{len(self.unfetchable)} document(s) not fetchable, e.g. {', '.join(self.unfetchable[:SHOWN])}"
            )
        if self.orphan_pins_after_sweep:
            found.append(f"{self.orphan_pins_after_sweep} orphaned pin(s) left after the sweep")
        if self.referenced_not_pinned:
            found.append(f"{self.referenced_not_pinned} document(s) the chain points to are not pinned")
        if self.index_equal is False:
            found.append(f"the index differs from a fresh rebuild: {self.index_difference}")
        return found


def read_chain(crm: Crm, store: DocumentStore) -> OnChain:
    start = crm.deployment.block_number
    head = crm.chain.block_number("latest")
    singles = Counter(item.content_hash for item in crm.registry.interactions(from_block=start, to_block=head))
    batched: Counter[bytes] = Counter()
    hashes: dict[bytes, bytes] = {}
    documents: list[Cid] = []
    roots: Counter[bytes] = Counter()
    problems: list[str] = []
    for anchor in crm.registry.anchors(from_block=start, to_block=head):
        roots[anchor.root] += 1
        cid = digest_to_cid(anchor.cid_digest)
        documents.append(cid)
        try:
            document = parse_document(store.get(cid))
            document.check(root=anchor.root, count=anchor.count, author=anchor.author)
        except ChainCrmError as exc:
            problems.append(f"{cid} (root 0x{anchor.root.hex()}): {exc}")
            continue
        for value in document.tree.values:
            batched[value.record_id] += 1
            hashes[value.record_id] = value.content_hash
    return OnChain(singles, batched, hashes, tuple(documents), roots, tuple(problems))


def check_run(
    crm: Crm,
    store: DocumentStore,
    intents: list[Intent],
    marks_file: Path,
    *,
    index_engines: tuple[Engine, Engine] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Verdict:
    """Compare the writers' intents with the chain and IPFS, sweep the orphans (grace 0: every
    writer has stopped) and compare the run's index with a fresh rebuild (both given, synced)."""
    log("reading the chain's records and every anchored batch")
    chain = read_chain(crm, store)
    once, lost, duplicated, duplicated_records, wrong = 0, [], 0, [], []
    intended_single = intended_batched = 0
    known_singles: set[bytes] = set()
    known_batched: set[bytes] = set()
    for intent in intents:
        if intent.mode == BATCH:
            intended_batched += 1
            known_batched.add(intent.record_id)
            copies = chain.batched[intent.record_id] + chain.singles[intent.content_hash]
            if chain.batched[intent.record_id] and chain.batched_hashes[intent.record_id] != intent.content_hash:
                wrong.append("0x" + intent.record_id.hex())
        else:
            intended_single += 1
            known_singles.add(intent.content_hash)
            copies = chain.singles[intent.content_hash]
        if copies == 0:
            lost.append("0x" + intent.record_id.hex())
        else:
            once += copies == 1
            if copies > 1:
                duplicated += copies - 1
                duplicated_records.append("0x" + intent.record_id.hex())
    unexpected = sum(n for digest, n in chain.singles.items() if digest not in known_singles) + sum(
        n for record_id, n in chain.batched.items() if record_id not in known_batched
    )
    documents = [digest_to_cid(intent.content_hash) for intent in intents] + list(chain.batch_documents)
    log(f"fetching {len(documents)} documents")
    unfetchable = _unfetchable(store, documents)
    log("sweeping orphaned pins")
    swept = sweep_orphans(crm, store, marks_file, grace_seconds=0)
    referenced, _ = referenced_documents(crm, store)
    pins = store.pins()
    equal: bool | None = None
    difference: str | None = None
    if index_engines is not None:
        log("comparing the run's index with a fresh rebuild")
        difference = index_difference(*index_engines)
        equal = difference is None
    return Verdict(
        intended=len(intents),
        intended_single=intended_single,
        intended_batched=intended_batched,
        once=once,
        lost=tuple(lost),
        duplicated=duplicated,
        duplicated_records=tuple(duplicated_records),
        unexpected=unexpected,
        batches=sum(chain.roots.values()),
        roots_anchored_twice=sum(1 for n in chain.roots.values() if n > 1),
        batch_problems=chain.problems,
        wrong_content=tuple(wrong),
        unfetchable=tuple(unfetchable),
        documents_checked=len(documents),
        orphans_swept=len(swept.unpinned),
        orphan_pins_after_sweep=len(pins - referenced),
        referenced_not_pinned=len(referenced - pins),
        index_equal=equal,
        index_difference=difference,
    )


def _unfetchable(store: DocumentStore, documents: list[Cid]) -> list[str]:
    def fetch(cid: Cid) -> str | None:
        try:
            store.get(cid)
        except ChainCrmError as exc:
            return f"{cid} ({exc})"
        return None

    with ThreadPoolExecutor(FETCH_THREADS) as pool:
        return [problem for problem in pool.map(fetch, documents) if problem is not None]


def index_dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every event and state table, without surrogate ids, in a stable order (as the
    indexer's own tests compare two indexes)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in (*db.EVENT_TABLES, *db.STATE_TABLES):
            columns = [column for column in table.columns if column.name != "id" or table in db.STATE_TABLES]
            tables[table.name] = sorted(tuple(row) for row in conn.execute(select(*columns)).all())
    return tables


def index_difference(kept: Engine, rebuilt: Engine) -> str | None:
    """None if the two indexes hold the same rows; else which table differs and how."""
    left, right = index_dump(kept), index_dump(rebuilt)
    for name in sorted(set(left) | set(right)):
        a, b = set(left.get(name, [])), set(right.get(name, []))
        if a != b or len(left.get(name, [])) != len(right.get(name, [])):
            return (
                f"table {name}: {len(left.get(name, []))} row(s) kept during the run, {len(right.get(name, []))} "
                f"rebuilt; {len(a - b)} only in the run's index, {len(b - a)} only in the rebuild"
            )
    return None


__all__ = ["OnChain", "Verdict", "check_run", "index_difference", "index_dump", "read_chain"]
