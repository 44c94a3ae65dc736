"""The faults a run injects, each one a function of the run's services:

* :func:`kill_chain_between_dumps`: SIGKILL Anvil halfway between two state dumps (the blocks mined
  since the last dump, and the mempool, are lost), then start it again from the saved state;
* :func:`kill_ipfs`: SIGKILL the IPFS node while writers upload, then start it again;
* :func:`kill_process`: ``kill -9`` a child (the Merkle queue's anchoring process);
* :class:`Dropper`: a thread that drops pending transactions from Anvil's mempool
  (``anvil_dropTransaction``), as a node that forgets them would.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from chaincrm.errors import ChainCrmError
from chaincrm_tools.faults.services import ChainService, IpfsService, wait_for_port_free

RPC_TIMEOUT_SECONDS = 2.0
DUMP_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
BIG_UPLOAD_BYTES = 11 * 1024 * 1024
UPLOAD_HEAD_START_SECONDS = 0.05


@dataclass(frozen=True)
class ChainKill:
    """One Anvil kill: the head before, the head the saved state restarted at, and how long it was down."""

    head_before: int
    head_after: int
    down_seconds: float

    @property
    def blocks_lost(self) -> int:
        return max(0, self.head_before - self.head_after)


def wait_for_dump(chain: ChainService, after: float, timeout_seconds: float = DUMP_WAIT_SECONDS) -> float:
    """Wait until Anvil writes its state file after `after` (a Unix time); the time it did."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            written = chain.state_file.stat().st_mtime
        except FileNotFoundError:
            written = 0.0
        if written > after:
            return written
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"anvil did not save its state to {chain.state_file} within {timeout_seconds:g} s")


def kill_chain_between_dumps(chain: ChainService, *, down_seconds: float = 1.0) -> ChainKill:
    """Kill Anvil halfway between two dumps of its state, so that some blocks are saved and some lost;
    start it again from the saved state after `down_seconds`."""
    dumped = wait_for_dump(chain, time.time())
    time.sleep(max(0.0, dumped + chain.state_interval / 2 - time.time()))
    before = chain.block_number() or 0
    began = time.monotonic()
    chain.kill()
    wait_for_port_free(chain.port)
    time.sleep(down_seconds)
    chain.start()
    after = chain.block_number() or 0
    return ChainKill(before, after, time.monotonic() - began)


def kill_ipfs(ipfs: IpfsService, *, down_seconds: float = 2.0, upload_bytes: int = BIG_UPLOAD_BYTES) -> float:
    """Kill the IPFS node while a large document is being uploaded to it (and the writers upload
    theirs), then start it again; how long it was down. The large document is what a failed write
    leaves behind: nothing on-chain will ever point to it."""
    from chaincrm.storage import KuboStore

    started = threading.Event()

    def upload() -> None:
        with KuboStore(ipfs.api_addr) as store:
            started.set()
            with contextlib.suppress(ChainCrmError):  # cut off, as meant
                store.put(os.urandom(upload_bytes))

    uploader = threading.Thread(target=upload, name="big-upload", daemon=True)
    uploader.start()
    started.wait(timeout=10)
    time.sleep(UPLOAD_HEAD_START_SECONDS)
    began = time.monotonic()
    ipfs.kill()
    uploader.join(timeout=30)
    wait_for_port_free(ipfs.port)
    time.sleep(down_seconds)
    ipfs.start()
    return time.monotonic() - began


@dataclass
class Dropper:
    """Drops up to `limit` pending transactions from Anvil's mempool, one every `every_seconds` at
    most, picked at random among those pending when it looks."""

    url: Callable[[], str]
    limit: int
    every_seconds: float = 0.5
    seed: int = 12
    dropped: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tx-dropper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        rng = random.Random(self.seed)
        session = requests.Session()
        while not self._stop.is_set() and len(self.dropped) < self.limit:
            try:
                pending = _pending_hashes(session, self.url())
                if pending:
                    chosen = rng.choice(pending)
                    if _call(session, self.url(), "anvil_dropTransaction", [chosen]) is not None:
                        self.dropped.append(chosen)
            except (requests.RequestException, ValueError, KeyError, TypeError):
                pass  # Anvil is down for a moment: the chain fault, not ours
            self._stop.wait(self.every_seconds)


def _call(session: requests.Session, url: str, method: str, params: list[object]) -> object:
    reply = session.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=RPC_TIMEOUT_SECONDS
    ).json()
    if "error" in reply:
        return None
    return reply.get("result", True)


def _pending_hashes(session: requests.Session, url: str) -> list[str]:
    content = _call(session, url, "txpool_content", [])
    if not isinstance(content, dict):
        return []
    return [
        str(tx["hash"])
        for by_sender in (content.get("pending") or {}).values()
        for tx in by_sender.values()
        if isinstance(tx, dict) and tx.get("hash")
    ]


__all__ = ["ChainKill", "Dropper", "kill_chain_between_dumps", "kill_ipfs", "wait_for_dump"]
