"""The fault suite: writers log interaction records while the run kills what they depend on, then
the checker proves that nothing was lost and nothing duplicated.

The run, in order:

1. Anvil mining 1-second blocks, its state dumped every few seconds (``--state-interval``), and the
   embedded IPFS node, on free ports; a fresh deployment, one agent key per writer plus one key
   shared by two processes, each with customers of its own (:mod:`.world`); Anvil's next dump
   is awaited so that the set-up survives the first kill.
2. The anchoring process (the Merkle queue's process, :mod:`.anchorer`), the writer processes
   (:mod:`.writer`), and in this process an index kept up to date while everything runs. Two
   documents are stored that no write will ever point to (writes that failed after storing).
3. The writers seal and store their notes; the IPFS node is killed while they upload (and while a
   large document is on its way). Then ``go``: the log calls, timed from here to anchored roots,
   while a thread drops pending transactions from the mempool (``anvil_dropTransaction``), Anvil
   is killed halfway between two state dumps and started again from its saved state (blocks
   lost), and the anchoring process is killed with SIGKILL and started again.
4. Once every record is sent and the queues are drained: the throughput figure; then the run's
   ``settle`` file lets writers and the anchorer check what the chain lost and re-send it.
5. The checker (:mod:`.checker`): every record on-chain exactly once, every document fetchable, no
   orphaned pin after the sweep, the run's index equal to a fresh rebuild.

Every process is ended on the way out, however the run ends.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaincrm.errors import ChainCrmError
from chaincrm.services.supervisor import free_port
from chaincrm_tools.faults.checker import Verdict, check_run
from chaincrm_tools.faults.injectors import (
    ChainKill,
    Dropper,
    kill_chain_between_dumps,
    kill_ipfs,
    wait_for_dump,
)
from chaincrm_tools.faults.intents import read_intents
from chaincrm_tools.faults.services import ChainService, IpfsService, Processes, kill_hard

Log = Callable[[str], None]
POLL_SECONDS = 0.2
INDEX_EVERY_SECONDS = 1.0
ANCHORER_DOWN_SECONDS = 1.0
EXIT_WAIT_SECONDS = 300.0
DRAIN_WAIT_SECONDS = 600.0
INDEX_MARGIN_BLOCKS = 3
FAILED_WRITE_BYTES = (1_200_000, 4_096)
"""Documents stored by writes that failed before their transaction (the sweep must find them)."""
IPFS_KILL_AT = 0.4
"""When the IPFS node is killed: the share of notes stored."""
CHAIN_KILL_AT = 0.2
ANCHORER_KILL_AT = 0.5
"""When Anvil, then the queue's process, is killed: the share of log calls made."""


@dataclass(frozen=True)
class FaultOptions:
    records: int = 10_000
    writers: int = 8
    """Writer processes with a key each."""
    shared: int = 2
    """Processes sharing one more key through the nonce journal."""
    batch_share: float = 0.9
    """The share of records queued for a Merkle batch; the rest are logged singly."""
    every: int = 1000
    within: float = 2.0
    block_time: float = 1.0
    state_interval: float = 4.0
    drops: int | None = None
    """Transactions to drop from the mempool [default: one per 25 single records, at least 3]."""
    confirmations: int = 1
    index_confirmations: int | None = None
    """The run's index [default: more blocks than a kill of Anvil can lose]."""
    pace_seconds: float | None = None
    """Spread each writer's log calls over this long (the short run), instead of as fast as it can."""
    group: int = 100
    """Log calls per step of a writer: intents written, then queued in one transaction or pipelined."""
    faults: bool = True
    seed: int = 12

    @property
    def processes(self) -> int:
        return self.writers + self.shared

    @property
    def index_depth(self) -> int:
        if self.index_confirmations is not None:
            return self.index_confirmations
        return math.ceil(self.state_interval / self.block_time) + INDEX_MARGIN_BLOCKS

    @property
    def drop_limit(self) -> int:
        if self.drops is not None:
            return self.drops
        return max(3, int(self.records * (1 - self.batch_share)) // 25)


@dataclass
class FaultLog:
    """The faults the run injected."""

    chain_kills: list[ChainKill] = field(default_factory=list)
    ipfs_kills: list[float] = field(default_factory=list)
    anchorer_kills: int = 0
    dropped: list[str] = field(default_factory=list)
    index_sync_errors: int = 0
    struck_at: list[float] = field(default_factory=list)
    """The share of log calls made when Anvil, then the queue's process, was killed."""

    def to_json(self) -> dict[str, Any]:
        return {
            "anvil_kills": len(self.chain_kills),
            "anvil_blocks_lost": sum(k.blocks_lost for k in self.chain_kills),
            "anvil_down_seconds": [round(k.down_seconds, 2) for k in self.chain_kills],
            "ipfs_kills": len(self.ipfs_kills),
            "queue_process_kills": self.anchorer_kills,
            "transactions_dropped": len(self.dropped),
            "index_sync_errors_during_run": self.index_sync_errors,
            "struck_at_share_logged": self.struck_at,
        }


@dataclass(frozen=True)
class FaultReport:
    options: FaultOptions
    verdict: Verdict
    faults: dict[str, Any]
    seconds_to_drained: float
    seconds_to_last_anchor: float | None
    """From ``go`` to the block time of the last anchored root (1-second resolution)."""
    seconds_total: float
    writers: dict[str, Any]
    anchorer: dict[str, Any]

    @property
    def records_per_second(self) -> float:
        return self.verdict.intended / self.seconds_to_drained if self.seconds_to_drained else 0.0

    def figures(self) -> dict[str, Any]:
        v = self.verdict
        return {
            "records": v.intended,
            "records_single": v.intended_single,
            "records_batched": v.intended_batched,
            "on_chain_exactly_once": v.once,
            "lost": len(v.lost),
            "duplicates": v.duplicated,
            "unexpected_on_chain": v.unexpected,
            "batches_anchored": v.batches,
            "roots_anchored_twice": v.roots_anchored_twice,
            "batch_documents_not_matching": len(v.batch_problems),
            "documents_checked": v.documents_checked,
            "documents_not_fetchable": len(v.unfetchable),
            "orphan_pins_swept": v.orphans_swept,
            "orphan_pins_after_sweep": v.orphan_pins_after_sweep,
            "referenced_documents_not_pinned": v.referenced_not_pinned,
            "index_equals_fresh_rebuild": v.index_equal,
            "records_per_second_under_faults": round(self.records_per_second, 1),
            "batched_records_per_second_to_anchored_roots": (
                round(v.intended_batched / self.seconds_to_last_anchor, 1) if self.seconds_to_last_anchor else None
            ),
            "anchors_lost_to_the_rewind_and_anchored_again": self.anchorer.get("reanchoredAfterRewind"),
            "seconds_to_drained": round(self.seconds_to_drained, 1),
            "seconds_total": round(self.seconds_total, 1),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "bench": "faults",
            "passed": self.verdict.passed,
            "failures": self.verdict.failures(),
            "figures": self.figures(),
            "faults": self.faults,
            "options": asdict(self.options),
            "writers": self.writers,
            "anchorer": self.anchorer,
            "index_difference": self.verdict.index_difference,
            "lost_records": list(self.verdict.lost[:20]),
            "duplicated_records": list(self.verdict.duplicated_records[:20]),
        }


class FaultRunError(ChainCrmError):
    """The run itself could not complete (a writer crashed, the queue never drained)."""


def run_fault_suite(options: FaultOptions, folder: Path, *, log: Log = lambda _: None) -> FaultReport:
    """Run the suite in `folder` (created; everything the run writes stays there)."""
    from chaincrm.contracts.client import Crm, connect
    from chaincrm.index.indexer import Indexer
    from chaincrm.storage import KuboStore
    from chaincrm_tools.faults.world import prepare_world

    folder.mkdir(parents=True, exist_ok=True)
    processes = Processes()
    faults = FaultLog()
    began = time.monotonic()
    chain_service = ChainService(
        processes, folder / "chain", free_port(), block_time=options.block_time, state_interval=options.state_interval
    )
    ipfs = IpfsService(processes, folder / "ipfs", free_port())
    stop_indexing = threading.Event()
    dropper: Dropper | None = None
    indexer_thread: threading.Thread | None = None
    try:
        log(f"starting anvil on port {chain_service.port} and the IPFS node on port {ipfs.port}")
        chain_service.start(automine=True)
        ipfs.start()
        log(f"deploying, and {options.writers + 1} agent keys with their customers")
        world = prepare_world(chain_service.url, ipfs.api_addr, folder, options.writers + 1)
        chain_service.mine_every_block_time()
        wait_for_dump(chain_service, time.time())
        home = folder / "home"
        run_chain = connect(chain_service.url, confirmations=0)
        store = KuboStore(ipfs.api_addr)
        for size in FAILED_WRITE_BYTES:  # stored, then the write failed: nothing on-chain points to them
            store.put(os.urandom(size))
        kept = Indexer(
            run_chain, world.deployment, folder / "index-run.sqlite", confirmations=options.index_depth,
            retry_seconds=5, documents=store, start_block=world.first_block,
        )  # fmt: skip

        def follow() -> None:
            while not stop_indexing.is_set():
                try:
                    kept.sync_once()
                except ChainCrmError:
                    faults.index_sync_errors += 1
                stop_indexing.wait(INDEX_EVERY_SECONDS)

        indexer_thread = threading.Thread(target=follow, name="index-during-run", daemon=True)
        indexer_thread.start()

        keys = _keys(world.keys)

        def start_anchorer() -> Any:
            return _start_anchorer(processes, options, folder, home, chain_service, ipfs, world.record, keys)

        anchorer = start_anchorer()
        writers = _start_writers(processes, options, folder, home, chain_service, ipfs, world, keys)
        log(f"{len(writers)} writers sealing and storing {options.records} notes")
        ipfs_killed = not options.faults
        while not _all_in(folder, writers, ("stored", "sent", "finished")):
            _check_alive(writers, folder)
            stored = sum(_summary(folder / f"{name}.summary.json").get("stored", 0) for name in writers)
            if not ipfs_killed and stored >= IPFS_KILL_AT * options.records:
                log(f"at {stored / options.records:.0%} stored: killing the IPFS node mid-upload")
                faults.ipfs_kills.append(kill_ipfs(ipfs))
                ipfs_killed = True
            time.sleep(POLL_SECONDS)
        if not ipfs_killed:  # the writers stored faster than we looked: the big upload is cut off
            log("killing the IPFS node mid-upload")
            faults.ipfs_kills.append(kill_ipfs(ipfs))
        dropper = Dropper(lambda: chain_service.url, options.drop_limit if options.faults else 0, seed=options.seed)
        dropper.start()
        log(f"go: {options.records} log calls ({options.batch_share:.0%} queued for batches), timed to anchored roots")
        started, go_at = time.monotonic(), time.time()
        (folder / "go").write_text("go\n")
        pending_faults = [CHAIN_KILL_AT, ANCHORER_KILL_AT] if options.faults else []
        while True:
            _check_alive(writers, folder)
            if anchorer.poll() is not None:
                raise FaultRunError(f"the anchoring process exited early: {_tail(folder / 'anchorer.log')}")
            progress = len(read_intents(folder)) / options.records
            if pending_faults and progress >= pending_faults[0]:
                if pending_faults.pop(0) == CHAIN_KILL_AT:
                    log(f"at {progress:.0%} logged: killing anvil between two state dumps")
                    faults.chain_kills.append(kill_chain_between_dumps(chain_service))
                    log(f"  anvil back after {faults.chain_kills[-1].blocks_lost} lost block(s)")
                else:
                    log(f"at {progress:.0%} logged: kill -9 of the Merkle queue's process")
                    kill_hard(anchorer)
                    faults.anchorer_kills += 1
                    time.sleep(ANCHORER_DOWN_SECONDS)
                    anchorer = start_anchorer()
                faults.struck_at.append(round(progress, 2))
                continue
            if not pending_faults and _all_in(folder, writers, ("sent", "finished")):
                break
            time.sleep(POLL_SECONDS)
        dropper.stop()  # the log calls are over: drops now would only stall the drain, not test a writer
        faults.dropped = list(dropper.dropped)
        log(
            f"every record sent ({len(faults.dropped)} transactions dropped meanwhile); waiting for the queues to drain"
        )
        _wait_drained(folder, home, world, started)
        drained = time.monotonic() - started
        log(f"drained after {drained:.1f} s; settling (writers and the anchorer recover what the chain lost)")
        (folder / "settle").write_text("settle\n")
        _wait_exit([*writers.values(), anchorer], folder)
        stop_indexing.set()
        indexer_thread.join(timeout=60)
        chain = connect(chain_service.url, confirmations=0)
        crm = Crm.attach(chain, world.deployment, check=False)
        _wait_blocks(chain, options.index_depth + 1)
        kept.sync_once()
        log("rebuilding the index from scratch")
        rebuilt = Indexer(
            chain,
            world.deployment,
            folder / "index-rebuilt.sqlite",
            confirmations=options.index_depth,
            documents=store,
            start_block=world.first_block,  # Anvil restarted from --state keeps no history to find it
        )
        rebuilt.sync_once()
        verdict = check_run(
            crm,
            store,
            read_intents(folder),
            folder / "orphans.json",
            index_engines=(kept.engine, rebuilt.engine),
            log=log,
        )
        kept.close()
        rebuilt.close()
        store.close()
        return FaultReport(
            options=options,
            verdict=verdict,
            faults=faults.to_json(),
            seconds_to_drained=drained,
            seconds_to_last_anchor=_last_anchor(crm, go_at),
            seconds_total=time.monotonic() - began,
            writers={name: _summary(folder / f"{name}.summary.json") for name in writers},
            anchorer=_summary(folder / "anchorer.summary.json"),
        )
    finally:
        stop_indexing.set()
        if dropper is not None:
            dropper.stop()
        if indexer_thread is not None:
            indexer_thread.join(timeout=30)
        problems = processes.close()
        if problems:
            log("could not stop: " + "; ".join(problems))


def write_report(report: FaultReport, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.to_json(), indent=2) + "\n")


def print_report(report: FaultReport, log: Log) -> None:
    for name, value in report.figures().items():
        log(f"  {name.replace('_', ' ')}: {value}")
    for name, value in report.faults.items():
        log(f"  fault {name.replace('_', ' ')}: {value}")
    log("PASSED: nothing lost, nothing duplicated" if report.verdict.passed else "FAILED")
    for failure in report.verdict.failures():
        log(f"  - {failure}")


# ------------------------------------------------------------------ processes


def _keys(world_keys: Any) -> list[tuple[int, str]]:
    from chaincrm.services.anvil import dev_private_keys

    every = dev_private_keys(max(k.index for k in world_keys) + 1)
    return [(k.index, "0x" + every[k.index].hex()) for k in world_keys]


def _start_anchorer(
    processes: Processes,
    options: FaultOptions,
    folder: Path,
    home: Path,
    chain: ChainService,
    ipfs: IpfsService,
    record: Path,
    keys: list[tuple[int, str]],
) -> Any:
    from chaincrm_tools.faults.anchorer import AnchorerConfig

    config = AnchorerConfig(
        rpc_url=chain.url,
        ipfs_api=ipfs.api_addr,
        record=str(record),
        home=str(home),
        folder=str(folder),
        every=options.every,
        within=options.within,
        confirmations=options.confirmations,
    )
    config.save(folder / "anchorer.json")
    command = [sys.executable, "-m", "chaincrm_tools.faults.anchorer", str(folder / "anchorer.json")]
    secret = "".join(f"{key}\n" for _, key in keys)
    return processes.spawn(command, log_file=folder / "anchorer.log", secret_input=secret)


def _start_writers(
    processes: Processes,
    options: FaultOptions,
    folder: Path,
    home: Path,
    chain: ChainService,
    ipfs: IpfsService,
    world: Any,
    keys: list[tuple[int, str]],
) -> dict[str, Any]:
    from chaincrm_tools.faults.writer import WriterConfig

    names = [f"writer-{n + 1}" for n in range(options.writers)] + [f"shared-{n + 1}" for n in range(options.shared)]
    key_of = {name: (keys[n] if n < options.writers else keys[options.writers]) for n, name in enumerate(names)}
    customers_of = {k.index: k.customers for k in world.keys}
    share, extra = divmod(options.records, len(names))
    started = {}
    for n, name in enumerate(names):
        index, key = key_of[name]
        config = WriterConfig(
            name=name,
            rpc_url=chain.url,
            ipfs_api=ipfs.api_addr,
            record=str(world.record),
            home=str(home),
            customers=customers_of[index],
            records=share + (1 if n < extra else 0),
            batch_share=options.batch_share,
            seed=options.seed * 1000 + n,
            folder=str(folder),
            confirmations=options.confirmations,
            pace_seconds=options.pace_seconds,
            group_records=options.group,
        )
        config.save(folder / f"{name}.json")
        command = [sys.executable, "-m", "chaincrm_tools.faults.writer", str(folder / f"{name}.json")]
        started[name] = processes.spawn(command, log_file=folder / f"{name}.log", secret_input=key + "\n")
    return started


def _check_alive(writers: dict[str, Any], folder: Path) -> None:
    for name, process in writers.items():
        code = process.poll()
        if code is not None and code != 0:
            raise FaultRunError(f"{name} exited with code {code}: {_tail(folder / f'{name}.log')}")


def _all_in(folder: Path, writers: dict[str, Any], states: tuple[str, ...]) -> bool:
    return all(_summary(folder / f"{name}.summary.json").get("state") in states for name in writers)


def _wait_drained(folder: Path, home: Path, world: Any, started: float) -> None:
    """Wait until no scope's queue holds a pending record or an unanchored batch."""
    from chaincrm.batches.queue import InteractionQueue, QueueScope

    deadline = time.monotonic() + DRAIN_WAIT_SECONDS
    queues = [
        InteractionQueue.at_home(
            home / "state", QueueScope(world.deployment.chain_id, world.deployment.registry, k.address)
        )
        for k in world.keys
    ]
    try:
        while True:
            statuses = [queue.status() for queue in queues]
            if all(s.pending == 0 and s.open_batches == 0 for s in statuses):
                return
            if time.monotonic() > deadline:
                left = sum(s.pending + s.batched for s in statuses)
                raise FaultRunError(f"{left} record(s) still queued after {DRAIN_WAIT_SECONDS:g} s: see {folder}")
            time.sleep(POLL_SECONDS)
    finally:
        for queue in queues:
            queue.close()


def _wait_exit(children: list[Any], folder: Path) -> None:
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    for child in children:
        try:
            code = child.wait(timeout=max(1.0, deadline - time.monotonic()))
        except Exception as exc:  # subprocess.TimeoutExpired
            raise FaultRunError(f"a process did not finish settling within {EXIT_WAIT_SECONDS:g} s") from exc
        if code != 0:
            raise FaultRunError(f"a process exited with code {code} while settling (logs in {folder})")


def _wait_blocks(chain: Any, count: int) -> None:
    """Let a few blocks pass so the last writes are under the index's confirmations."""
    target = chain.block_number() + count
    while chain.block_number() < target:
        time.sleep(POLL_SECONDS)


def _last_anchor(crm: Any, go_at: float) -> float | None:
    anchors = crm.registry.anchors(from_block=crm.deployment.block_number)
    return max(1.0, max(a.at for a in anchors) - go_at) if anchors else None


def _summary(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
        return loaded
    except (OSError, ValueError):
        return {}


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "no log"


__all__ = ["FaultOptions", "FaultReport", "FaultRunError", "print_report", "run_fault_suite", "write_report"]
