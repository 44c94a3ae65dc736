"""A writer process of a fault run: ``python -m chaincrm_tools.faults.writer CONFIG`` with its private
key (hex) on stdin, never in argv.

It logs its records through the public SDK, as staff would, in two phases:

1. every note is sealed for its customer (:func:`~chaincrm.privacy.content.seal_content` under the
   customer's key ring) and stored on the IPFS node (the run kills the node meanwhile: a failed
   upload is retried with the same sealed bytes, so the same CID);
2. on the run's ``go`` file, the log calls, a group at a time: the group's intents are written to
   the writer's intent file (one fsync), then its records are either queued for a Merkle batch
   (the durable queue of the run's home, one transaction; the anchoring process anchors them) or
   logged singly (one pipelined call, each record's id as its idempotency key: a retry never sends
   it twice). Anvil is killed and transactions are dropped meanwhile: whatever fails is retried
   with the same record ids until it is queued or landed.

When every record is sent it waits for the run's ``settle`` file (the faults are over), asks the
tracker to recover whatever the chain lost (blocks not saved before Anvil was killed), and writes
a summary (counts, retries, errors, and the time each step took).
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from chaincrm.errors import ChainCrmError, PartiallyLanded
from chaincrm_tools.faults.intents import BATCH, SINGLE, Intent, IntentLog

T = TypeVar("T")
RETRY_SECONDS = 0.25
GIVE_UP_SECONDS = 180.0
SETTLE_WAIT_SECONDS = 600.0
PROGRESS_EVERY = 10
KINDS = range(1, 8)
OUTCOMES = range(0, 6)
ATTACHMENT_EVERY = 50
"""Every so many records carries an attachment, so uploads take long enough to be cut off."""
ATTACHMENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class WriterConfig:
    name: str
    rpc_url: str
    ipfs_api: str
    record: str
    home: str
    customers: tuple[int, ...]
    records: int
    batch_share: float
    seed: int
    folder: str
    confirmations: int = 1
    pace_seconds: float | None = None
    """Spread the log calls over this long (a short run, so that the faults strike mid-run)."""
    group_records: int = 100
    """Log calls per step: their intents written with one fsync, then queued in one transaction or
    sent in one pipelined call."""

    @classmethod
    def load(cls, path: Path) -> WriterConfig:
        raw = json.loads(path.read_text())
        raw["customers"] = tuple(raw["customers"])
        return cls(**raw)

    def save(self, path: Path) -> None:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        path.write_text(json.dumps(fields | {"customers": list(self.customers)}, indent=1))


@dataclass
class Tally:
    stored: int = 0
    queued: int = 0
    singles_landed: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    """Time spent in each step (seal, store, intent, queue, single, ready), summed."""
    started: float = field(default_factory=time.time)
    sent_at: float | None = None
    finished_at: float | None = None

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - began

    def retried(self, what: str, exc: BaseException) -> None:
        self.retries[what] = self.retries.get(what, 0) + 1
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


def retry(tally: Tally, what: str, attempt: Callable[[], T], *, seconds: float = GIVE_UP_SECONDS) -> T:
    """`attempt()` until it succeeds; a package error or a busy SQLite is retried for `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return attempt()
        except (ChainCrmError, sqlite3.OperationalError, OSError) as exc:
            if time.monotonic() > deadline:
                raise
            tally.retried(what, exc)
            time.sleep(RETRY_SECONDS)


def run_writer(config: WriterConfig, private_key: str) -> Tally:
    from eth_account import Account

    from chaincrm.batches.queue import InteractionQueue, QueueScope, RecordEntry
    from chaincrm.contracts.client import Crm, connect
    from chaincrm.contracts.deployment import load_record
    from chaincrm.contracts.registry import InteractionEntry
    from chaincrm.models import InteractionKind, Outcome
    from chaincrm.privacy import Attachment, ContentContext, InteractionContent, seal_content
    from chaincrm.privacy.content import INTERACTION
    from chaincrm.privacy.notes import CustomerNotes
    from chaincrm.storage import KuboStore, cid_to_digest

    account = Account.from_key(private_key)
    folder, state_dir = Path(config.folder), Path(config.home) / "state"
    tally = Tally()
    chain = connect(config.rpc_url, confirmations=config.confirmations)
    chain.keep_journal(state_dir)
    crm = Crm.attach(chain, load_record(Path(config.record)), check=False)
    registry = crm.registry
    store = KuboStore(config.ipfs_api)
    notes = CustomerNotes(crm, store)
    scope = QueueScope(crm.deployment.chain_id, registry.address, account.address)
    queue = InteractionQueue.at_home(state_dir, scope)
    intents = IntentLog(folder / f"{config.name}.intents.jsonl")
    with tally.timed("ready"):
        keyrings = {c: retry(tally, "keyring", partial(notes.keyring, c, account)) for c in config.customers}
    rng = random.Random(config.seed)

    def send_singles(chunk: list[Intent]) -> None:
        entries = [
            InteractionEntry(i.customer_id, InteractionKind(i.kind), Outcome(i.outcome), i.content_hash) for i in chunk
        ]
        keys = ["0x" + i.record_id.hex() for i in chunk]
        waiting = list(range(len(chunk)))
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while waiting:
            try:
                registry.log_interactions_pipelined(
                    [entries[i] for i in waiting], account, record_keys=[keys[i] for i in waiting]
                )
                waiting = []
            except PartiallyLanded as exc:
                tally.retried("single", exc)
                waiting = [waiting[i] for i in sorted(exc.not_landed)]
            except (ChainCrmError, OSError) as exc:
                tally.retried("single", exc)
            if waiting:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(waiting)} single record(s) did not land in {GIVE_UP_SECONDS:g} s")
                time.sleep(RETRY_SECONDS)
        tally.singles_landed += len(chunk)

    try:
        # Phase 1: every note sealed and stored (the IPFS node is killed while this runs).
        stored: list[Intent] = []
        for n in range(config.records):
            customer_id = rng.choice(config.customers)
            attachments = (Attachment("scan.bin", os.urandom(ATTACHMENT_BYTES)),) if n % ATTACHMENT_EVERY == 0 else ()
            content = InteractionContent(f"fault run: {config.name} note {n}", attachments)
            context = ContentContext(crm.deployment.chain_id, registry.address, customer_id, INTERACTION)
            with tally.timed("seal"):
                document = seal_content(content.to_bytes(), keyring=keyrings[customer_id], context=context)
            with tally.timed("store"):
                cid = retry(tally, "store", partial(store.put, document))
            tally.stored += 1
            stored.append(
                Intent(
                    record_id=os.urandom(32),
                    writer=config.name,
                    mode=BATCH if rng.random() < config.batch_share else SINGLE,
                    customer_id=customer_id,
                    kind=rng.choice(KINDS),
                    outcome=rng.choice(OUTCOMES),
                    content_hash=cid_to_digest(cid),
                )
            )
            if n % PROGRESS_EVERY == 0:
                _write_summary(folder, config.name, tally, "storing")
        _write_summary(folder, config.name, tally, "stored")
        _wait_for(folder / "go", SETTLE_WAIT_SECONDS)
        # Phase 2: the log calls, a group at a time: intents first, then queued or sent.
        began = time.monotonic()
        for first in range(0, len(stored), config.group_records):
            if config.pace_seconds:
                time.sleep(max(0.0, began + config.pace_seconds * first / len(stored) - time.monotonic()))
            group = stored[first : first + config.group_records]
            with tally.timed("intent"):
                intents.extend(group)
            batched = [i for i in group if i.mode == BATCH]
            if batched:
                entries = [
                    RecordEntry(i.customer_id, i.kind, i.outcome, i.content_hash, record_id=i.record_id)
                    for i in batched
                ]
                with tally.timed("queue"):
                    retry(tally, "queue", partial(queue.enqueue_many, entries))
                tally.queued += len(batched)
            singles = [i for i in group if i.mode == SINGLE]
            if singles:
                with tally.timed("single"):
                    send_singles(singles)
        tally.sent_at = time.time()
        _write_summary(folder, config.name, tally, "sent")
        _wait_for(folder / "settle", SETTLE_WAIT_SECONDS)
        retry(tally, "recover", partial(chain.tracking.recover, account.address))
        tally.finished_at = time.time()
    finally:
        intents.close()
        queue.close()
        store.close()
        _write_summary(folder, config.name, tally, "finished" if tally.finished_at else "failed")
    return tally


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {seconds:g} s")
        time.sleep(RETRY_SECONDS)


def _write_summary(folder: Path, name: str, tally: Tally, state: str) -> None:
    summary: dict[str, Any] = {
        "state": state,
        "stored": tally.stored,
        "queued": tally.queued,
        "singlesLanded": tally.singles_landed,
        "retries": tally.retries,
        "errors": tally.errors,
        "seconds": {step: round(spent, 2) for step, spent in tally.seconds.items()},
        "startedAt": tally.started,
        "sentAt": tally.sent_at,
        "finishedAt": tally.finished_at,
    }
    path = folder / f"{name}.summary.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(summary, indent=1))
    temporary.replace(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m chaincrm_tools.faults.writer CONFIG (private key on stdin)", file=sys.stderr)
        return 2
    key = sys.stdin.readline().strip()
    run_writer(WriterConfig.load(Path(args[0])), key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
