"""The indexer, following the chain in a daemon thread while the portal serves.

A failure (node down, database locked) is logged as one line, without personal data, and retried
after a back-off; the server keeps answering from what the index holds. After every pass the
follower notes the chain's clock (the newest indexed block's time), for "overdue" on a development
chain whose clock runs ahead of the wall clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from chaincrm.config import Settings
from chaincrm.errors import ChainCrmError
from chaincrm.index.indexer import Indexer
from chaincrm.index.sync import SyncReport
from chaincrm.portal.reads import chain_time

log = logging.getLogger("chaincrm.portal.follower")

MAX_BACKOFF_SECONDS = 10.0
JOIN_SECONDS = 10.0


class Clock:
    """Unix time as the chain sees it: the wall clock, or the newest indexed block if later."""

    def __init__(self) -> None:
        self.offset = 0

    def now(self) -> int:
        return int(time.time()) + self.offset

    def observe(self, block_time: int | None) -> None:
        if block_time is not None:
            self.offset = max(0, block_time - int(time.time()))


class Follower:
    """Runs ``Indexer.follow`` in a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        database: str | None,
        *,
        poll_seconds: float,
        confirmations: int,
        reads: Engine,
        clock: Clock,
        make_indexer: Callable[[], Indexer] | None = None,
    ) -> None:
        self.poll_seconds = poll_seconds
        self.reads = reads
        self.clock = clock
        self.passes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._make = make_indexer or (lambda: Indexer.from_settings(settings, database, confirmations=confirmations))
        self._thread = threading.Thread(target=self._run, name="chaincrm-portal-indexer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(JOIN_SECONDS)

    def _on_pass(self, _report: SyncReport) -> None:
        self.passes += 1
        with self.reads.connect() as conn:
            self.clock.observe(chain_time(conn))

    def _run(self) -> None:
        backoff = self.poll_seconds
        while not self._stop.is_set():
            try:
                with self._make() as indexer:
                    indexer.follow(poll_seconds=self.poll_seconds, stop=self._stop, on_pass=self._on_pass)
                backoff = self.poll_seconds
            except ChainCrmError as exc:
                self.failures += 1
                log.warning("the index could not follow the chain (%s): %s; retrying", type(exc).__name__, exc)
            except Exception as exc:  # never let the thread die: the server keeps serving
                self.failures += 1
                log.warning("the index follower failed (%s); retrying", type(exc).__name__)
            if self._stop.wait(backoff):
                return
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)


__all__ = ["Clock", "Follower"]
