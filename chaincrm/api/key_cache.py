"""Verifying a request's API key without a query per request, and without ever answering with a
stale key: a revocation still takes effect on the very next request.

The keys live in the integration database, which other processes change (`chaincrm api-key
revoke`). On a SQLite file, ``PRAGMA data_version`` on a connection of our own changes whenever
any other connection (of this process or another) commits to the database: while it stays the
same, no key row can have changed, so a key verified since is still what the database says. When
it moves (a revocation, a new key, or any commit of the webhook dispatcher or the idempotency
records, which share the file) the cache is dropped and the next requests read their keys again.
The check costs a few microseconds; a lookup through SQLAlchemy, about a hundred.

Elsewhere (PostgreSQL, an in-memory SQLite whose connections do not see each other) every request
reads its key, as :meth:`chaincrm.api.keys.ApiKeys.verify` does. Only keys that verified are
kept (at most MAX_CACHED, by digest); an unknown or revoked key is looked up each time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from typing import Any

from chaincrm.api.keys import ApiKey, ApiKeys, digest_of

MAX_CACHED = 4096


class VerifiedKeys:
    """:meth:`ApiKeys.verify` with an exact cache (see the module docstring)."""

    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys
        self._cache: dict[str, ApiKey] = {}
        self._lock = threading.Lock()
        self._version: int | None = None
        self._watch: Any = None  # our own pooled connection, only ever asked for data_version
        url = keys.engine.url
        self._watching = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")

    def verify(self, key: str) -> ApiKey:
        """The record of a presented key; KeyRefused when it is not one of ours or was revoked."""
        if not self._watching:
            return self.keys.verify(key)
        digest = digest_of(key)
        with self._lock:
            fresh = self._unchanged()
            found = self._cache.get(digest) if fresh else None
        if found is not None:
            return found
        found = self.keys.verify(key)  # KeyRefused for an unknown or revoked key: never cached
        with self._lock:
            if fresh and self._unchanged():  # nothing committed while we read: the record is current
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[digest] = found
        return found

    def _unchanged(self) -> bool:
        """Whether nothing was committed to the database since the last call (under the lock);
        a change or a failure drops the cache."""
        try:
            if self._watch is None:
                self._watch = self.keys.engine.raw_connection()
            version = int(self._watch.driver_connection.execute("PRAGMA data_version").fetchone()[0])
        except (sqlite3.Error, TypeError):
            self.close()
            return False
        if version != self._version:
            self._cache.clear()
            self._version = version
            return False
        return True

    def close(self) -> None:
        self._cache.clear()
        self._version = None
        watch, self._watch = self._watch, None
        if watch is not None:
            with contextlib.suppress(sqlite3.Error):
                watch.close()


__all__ = ["MAX_CACHED", "VerifiedKeys"]
