"""The Merkle queue's process of a fault run: ``python -m chaincrm_tools.faults.anchorer CONFIG`` with
the writers' private keys (hex) on stdin, one per line.

One :class:`~chaincrm.batches.anchoring.Batcher` per key (each writer's queue scope in the run's
home), each in a thread of its own, forms batches, stores their documents and anchors their roots.
The run kills this process with ``kill -9`` and starts it again: the batchers resume from the
queue. When the run's ``settle`` file appears (the faults are over, every writer has queued
everything), it anchors what is still pending and writes a summary and exits.

Anvil restarted from an older state loses the blocks mined after its last dump, and with them
anchors the queue already marked done: each batcher finds those itself (its steps look the recent
anchors up) and anchors them again (same root, same document, the same journaled transaction when
it can still land). Each one it reopens is appended to ``anchorer.reopened`` (kept across kills of
this process) and counted in the summary.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chaincrm.errors import ChainCrmError

if TYPE_CHECKING:
    from chaincrm.batches.anchoring import Batcher
    from chaincrm.batches.queue import Batch

T = TypeVar("T")
STEP_SECONDS = 0.2
RETRY_SECONDS = 0.5
GIVE_UP_SECONDS = 180.0
SETTLE_WAIT_SECONDS = 900.0
REOPENED_FILE = "anchorer.reopened"


@dataclass(frozen=True)
class AnchorerConfig:
    rpc_url: str
    ipfs_api: str
    record: str
    home: str
    folder: str
    every: int
    within: float
    confirmations: int = 1

    @classmethod
    def load(cls, path: Path) -> AnchorerConfig:
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({name: getattr(self, name) for name in self.__dataclass_fields__}, indent=1))


def run_anchorer(config: AnchorerConfig, keys: list[str]) -> dict[str, Any]:
    from eth_account import Account

    from chaincrm.batches.anchoring import Batcher
    from chaincrm.batches.queue import InteractionQueue, QueueScope
    from chaincrm.contracts.client import Crm, connect
    from chaincrm.contracts.deployment import load_record
    from chaincrm.storage import KuboStore

    folder, state_dir = Path(config.folder), Path(config.home) / "state"
    chain = connect(config.rpc_url, confirmations=config.confirmations)
    chain.keep_journal(state_dir)
    crm = Crm.attach(chain, load_record(Path(config.record)), check=False)
    store = KuboStore(config.ipfs_api)
    start = crm.deployment.block_number
    batchers = []
    reopened_file = folder / REOPENED_FILE
    reopened_lock = threading.Lock()

    def on_step(step: str, batch: Batch) -> None:
        if step == "reopened":  # an anchor the chain lost: the batcher anchors it again
            with reopened_lock, open(reopened_file, "a") as out:
                out.write(f"{batch.root.hex()}\n")

    for key in keys:
        account = Account.from_key(key)
        queue = InteractionQueue.at_home(
            state_dir, QueueScope(crm.deployment.chain_id, crm.registry.address, account.address)
        )
        batchers.append(
            Batcher(
                queue,
                crm.registry,
                store,
                account,
                every=config.every,
                within=config.within,
                from_block=start,
                on_step=on_step,
            )
        )
    errors: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def count(exc: BaseException) -> None:
        with lock:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    def drive(batcher: Batcher) -> None:
        while not stop.is_set():
            try:
                batcher.step()
            except ChainCrmError as exc:  # the chain or the node is down: the queue keeps everything
                count(exc)
            stop.wait(STEP_SECONDS)

    threads = [threading.Thread(target=drive, args=(b,), daemon=True) for b in batchers]
    for thread in threads:
        thread.start()
    _wait_for(folder / "settle", SETTLE_WAIT_SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    for batcher in batchers:
        _until_done(batcher.flush, count)
        _until_done(batcher.recheck, count)
    reopened = reopened_file.read_text().split() if reopened_file.exists() else []
    summary = {"errors": errors, "reanchoredAfterRewind": len(set(reopened)), "finishedAt": time.time()}
    (folder / "anchorer.summary.json").write_text(json.dumps(summary, indent=1))
    store.close()
    return summary


def _until_done(attempt: Callable[[], T], count: Callable[[BaseException], None]) -> T:
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while True:
        try:
            return attempt()
        except ChainCrmError as exc:
            count(exc)
            if time.monotonic() > deadline:
                raise
            time.sleep(RETRY_SECONDS)


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {seconds:g} s")
        time.sleep(STEP_SECONDS)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m chaincrm_tools.faults.anchorer CONFIG (private keys on stdin)", file=sys.stderr)
        return 2
    keys = [line.strip() for line in sys.stdin if line.strip()]
    run_anchorer(AnchorerConfig.load(Path(args[0])), keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
