"""The webhook dispatcher: a thread in `chaincrm serve` that fills the outbox from the index and
sends what is due.

Each pass: :class:`~chaincrm.webhooks.outbox.Outbox` takes the new confirmed events (and notices
reverted ones), then every due delivery is sent: a POST of the payload's JSON to the endpoint's URL
only (redirects are not followed, proxies from the environment not used), signed
(:mod:`chaincrm.webhooks.signing`), with a timeout. A 2xx answer is "delivered", committed right
after the answer; anything else (another status, a timeout, a refused connection) is retried with
exponential backoff (:func:`retry_delay`) until ``retry_for_seconds`` after the first attempt, then
"failed".

All state is in the integration database: a restart resumes, and a delivered event is never sent
again. A crash between a receiver's 2xx and our commit means one more send of the same event
(at-least-once, unavoidable): receivers deduplicate by the event id, which is stable. Before a
delivery is sent it is leased (its next attempt moved past the send's timeout), so two dispatchers
on one database do not send it together, and one that dies mid-send leaves it due again later.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select, update

from chaincrm.api.database import open_integration
from chaincrm.errors import ChainCrmError, ConfigError
from chaincrm.index.database import database_errors, writing
from chaincrm.webhooks import store as tables
from chaincrm.webhooks.events import reversal
from chaincrm.webhooks.outbox import DEFAULT_BLOCKS_PER_PASS, Outbox
from chaincrm.webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger("chaincrm.webhooks")

USER_AGENT = "chaincrm-webhooks/1"
LEASE_MARGIN_SECONDS = 30.0
MAX_IDLE_WAIT_SECONDS = 10.0  # the longest a failing pass backs off


@dataclass(frozen=True)
class DispatchOptions:
    """How the dispatcher waits, sends and retries (all seconds)."""

    confirmations: int = 2
    poll_seconds: float = 1.0
    timeout_seconds: float = 10.0
    retry_base_seconds: float = 5.0  # the first retry's delay, doubled for each next one
    retry_cap_seconds: float = 3600.0
    retry_for_seconds: float = 24 * 3600.0  # after the first attempt; then "failed"
    jitter: float = 0.25  # each delay is shortened by up to this share of it, at random
    batch: int = 100  # deliveries leased at a time
    senders: int = 4  # deliveries in flight at once
    blocks_per_pass: int = DEFAULT_BLOCKS_PER_PASS

    def __post_init__(self) -> None:
        if self.confirmations < 0:
            raise ConfigError("webhook confirmations must be 0 or more")
        if min(self.poll_seconds, self.timeout_seconds, self.retry_base_seconds, self.retry_cap_seconds) <= 0:
            raise ConfigError("webhook poll, timeout and retry delays must be positive")
        if not 0 <= self.jitter < 1 or self.batch < 1 or self.senders < 1 or self.blocks_per_pass < 1:
            raise ConfigError("webhook jitter must be in [0, 1), batch, senders and blocks per pass at least 1")


def retry_delay(attempts: int, options: DispatchOptions, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: the base doubled per attempt, capped,
    then shortened by up to `jitter` of itself at random, so endpoints that failed together do not
    all retry in the same instant. (A pure function: no retry library is installed, and the state
    lives in the database, not in a decorator's loop.)"""
    exponent = min(max(attempts - 1, 0), 62)
    delay = min(options.retry_cap_seconds, options.retry_base_seconds * 2.0**exponent)
    return delay * (1.0 - options.jitter * rand())


@dataclass(frozen=True)
class PassReport:
    collected: int = 0
    reverted: int = 0
    attempted: int = 0
    delivered: int = 0
    failed: int = 0  # given up for good in this pass


@dataclass(frozen=True)
class _Job:
    id: int
    attempts: int
    first_attempt_at: float | None
    url: str
    secret: str
    body: bytes
    event_id: str


@dataclass(frozen=True)
class _Outcome:
    delivered: bool
    status_code: int | None
    error: str | None


class Dispatcher:
    """The outbox and the sender, run by :meth:`start` in a daemon thread until :meth:`stop`, or
    one pass at a time with :meth:`run_once`. `head` gives the chain's latest block number."""

    def __init__(
        self,
        integration: Engine,
        index: Engine,
        head: Callable[[], int],
        options: DispatchOptions | None = None,
        *,
        clock: Callable[[], float] = time.time,
        owns_engine: bool = False,
    ) -> None:
        self.options = options or DispatchOptions()
        self.integration = integration
        self._owns_engine = owns_engine
        self.clock = clock
        self.outbox = Outbox(
            integration,
            index,
            head,
            confirmations=self.options.confirmations,
            blocks_per_pass=self.options.blocks_per_pass,
            clock=clock,
        )
        self.passes = 0
        self.failures = 0
        self.ready = threading.Event()  # set after the first pass that read the index
        self._stop = threading.Event()
        self._client = httpx.Client(
            timeout=self.options.timeout_seconds,
            follow_redirects=False,
            trust_env=False,  # only the endpoint's URL: no proxy from the environment
            headers={"User-Agent": USER_AGENT},
        )
        self._senders = ThreadPoolExecutor(self.options.senders, thread_name_prefix="chaincrm-webhook-send")
        self._thread = threading.Thread(target=self._run, name="chaincrm-webhooks", daemon=True)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the pass under way (a send in flight ends within its timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.options.timeout_seconds + 5)
        self._senders.shutdown(wait=False, cancel_futures=True)
        self._client.close()
        if self._owns_engine:
            self.integration.dispose()

    def _run(self) -> None:
        wait = self.options.poll_seconds
        while not self._stop.is_set():
            busy = False
            try:
                report, busy = self._pass()
                wait = self.options.poll_seconds
                self.passes += 1
            except ChainCrmError as exc:
                self.failures += 1
                log.warning("webhooks: a pass failed (%s): %s; retrying", type(exc).__name__, exc)
                wait = min(MAX_IDLE_WAIT_SECONDS, wait * 2)
            except Exception as exc:  # never let the thread die: the server keeps serving
                self.failures += 1
                log.warning("webhooks: a pass failed (%s); retrying", type(exc).__name__)
                wait = min(MAX_IDLE_WAIT_SECONDS, wait * 2)
            if not busy and self._stop.wait(wait):
                return

    # ------------------------------------------------------------------ one pass

    def run_once(self) -> PassReport:
        """Collect, then send every delivery due now."""
        return self._pass()[0]

    def _pass(self) -> tuple[PassReport, bool]:
        collected = self.outbox.pass_once()
        if collected.scanned_to is not None:
            self.ready.set()
        attempted = delivered = failed = 0
        while not self._stop.is_set():
            jobs = self._lease()
            outcomes = list(self._senders.map(self._deliver, jobs))
            attempted += len(jobs)
            delivered += sum(1 for outcome in outcomes if outcome is True)
            failed += sum(1 for outcome in outcomes if outcome is None)
            if len(jobs) < self.options.batch:
                break
        report = PassReport(collected.collected, collected.reverted, attempted, delivered, failed)
        return report, collected.more

    def _lease(self) -> list[_Job]:
        now = self.clock()
        d, endpoint, event = tables.deliveries, tables.endpoints, tables.events
        query = (
            select(
                d.c.id,
                d.c.kind,
                d.c.attempts,
                d.c.first_attempt_at,
                endpoint.c.url,
                endpoint.c.secret,
                event.c.payload,
                event.c.reverted_at,
            )
            .join(endpoint, endpoint.c.id == d.c.endpoint_id)
            .join(event, event.c.id == d.c.event_id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= now, endpoint.c.disabled.is_(False))
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(self.options.batch)
        )
        with database_errors(self.integration), self.integration.connect() as conn:
            if conn.execute(query.with_only_columns(d.c.id).limit(1)).first() is None:
                return []  # nothing due: no write lock taken
        with database_errors(self.integration), writing(self.integration) as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(of=d, skip_locked=True)
            rows = conn.execute(query).all()
            if rows:
                lease = now + self.options.timeout_seconds + LEASE_MARGIN_SECONDS
                conn.execute(update(d).where(d.c.id.in_([row.id for row in rows])).values(next_attempt_at=lease))
        return [_job(row) for row in rows]

    def _deliver(self, job: _Job) -> bool | None:
        """Send one delivery and record the outcome: True delivered, False to retry, None given up."""
        outcome = self._send(job)
        return self._record(job, outcome)

    def _send(self, job: _Job) -> _Outcome:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(job.secret, job.body, int(self.clock())),
            EVENT_ID_HEADER: job.event_id,
        }
        try:
            with self._client.stream("POST", job.url, content=job.body, headers=headers) as response:
                code = response.status_code  # the body is not read: a receiver's answer is its status
        except httpx.TimeoutException:
            return _Outcome(False, None, f"timed out after {self.options.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return _Outcome(False, None, f"{type(exc).__name__}: {exc}"[: tables.ERROR_LENGTH])
        if 200 <= code < 300:
            return _Outcome(True, code, None)
        where = response.headers.get("location") if 300 <= code < 400 else None
        detail = f"HTTP {code}" + (" (redirects are not followed)" if where else "")
        return _Outcome(False, code, detail)

    def _record(self, job: _Job, outcome: _Outcome) -> bool | None:
        now = self.clock()
        first = job.first_attempt_at if job.first_attempt_at is not None else now
        values: dict[str, Any] = {
            "attempts": tables.deliveries.c.attempts + 1,
            "first_attempt_at": first,
            "last_attempt_at": now,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }
        result: bool | None
        if outcome.delivered:
            values |= {"status": "delivered", "delivered_at": now}
            result = True
        elif now - first >= self.options.retry_for_seconds:
            values |= {"status": "failed"}
            result = None
        else:
            values |= {"next_attempt_at": now + retry_delay(job.attempts + 1, self.options)}
            result = False
        d = tables.deliveries
        with database_errors(self.integration), writing(self.integration) as conn:
            conn.execute(update(d).where(d.c.id == job.id, d.c.status == "pending").values(**values))
        return result


def open_dispatcher(
    database: str | Path | None, home: Path, index: Engine, head: Callable[[], int], options: DispatchOptions
) -> Dispatcher:
    """A dispatcher on the integration database `database` (None: <home>/integration.sqlite; its
    webhook tables created if missing), reading the index through `index`."""
    engine = open_integration(database, home, tables.metadata)
    return Dispatcher(engine, index, head, options, owns_engine=True)


def _job(row: Any) -> _Job:
    payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
    if row.kind == "reverted":
        payload = reversal(payload, int(row.reverted_at or 0))
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return _Job(
        id=int(row.id),
        attempts=int(row.attempts),
        first_attempt_at=row.first_attempt_at,
        url=str(row.url),
        secret=str(row.secret),
        body=body,
        event_id=str(payload["id"]),
    )


__all__ = ["DispatchOptions", "Dispatcher", "PassReport", "open_dispatcher", "retry_delay"]
