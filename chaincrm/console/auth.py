"""Who may use the staff console: whoever opened the URL ``chaincrm serve --staff`` printed.

The URL carries a random access token (``?token=``, 32 bytes, as Jupyter does). Opening any
console page with it opens a session: a random session id in an HttpOnly, SameSite=Strict cookie
scoped to ``/staff``, and a redirect to the same page without the token, so that the token leaves
the address bar and the history. A wrong token opens nothing (401).

Every POST must also carry the session's CSRF token in ``X-CSRF-Token`` (the page holds it in
``<meta name="csrf-token">``; a page on another origin can neither read it nor send the header
without a CORS preflight, which the server never answers). Tokens are compared in constant time;
sessions live in memory only (a restart signs everyone out) and are looked up by the SHA-256 of
their id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from chaincrm.portal.security import Refusal

COOKIE_NAME = "chaincrm_staff"
COOKIE_PATH = "/staff"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
SESSION_ID_BYTES = 32
CSRF_BYTES = 32
MIN_TOKEN_CHARS = 32  # secrets.token_urlsafe(32) gives 43
MAX_SESSIONS = 1_000


class StaffRefused(Refusal):
    """A console request refused: `code` for the JSON error or the page, a one-line message, a status."""


@dataclass(frozen=True)
class StaffSession:
    id: str
    csrf: str
    expires_at: float


def _same(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode("utf-8", "replace"), expected.encode("utf-8"))


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


class StaffAuth:
    """The console's access token and the sessions it opened."""

    def __init__(self, token: str, lifetime_seconds: int = SESSION_SECONDS) -> None:
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"the staff console's token must be at least {MIN_TOKEN_CHARS} characters")
        self._token = token
        self.lifetime = lifetime_seconds
        self._sessions: OrderedDict[str, StaffSession] = OrderedDict()
        self._lock = threading.Lock()

    def token_matches(self, offered: str) -> bool:
        return _same(offered, self._token)

    def open(self) -> StaffSession:
        session = StaffSession(
            id=secrets.token_urlsafe(SESSION_ID_BYTES),
            csrf=secrets.token_urlsafe(CSRF_BYTES),
            expires_at=time.monotonic() + self.lifetime,
        )
        with self._lock:
            self._purge(time.monotonic())
            while len(self._sessions) >= MAX_SESSIONS:
                self._sessions.popitem(last=False)
            self._sessions[_key(session.id)] = session
        return session

    def session(self, cookie: str | None) -> StaffSession:
        """The cookie's session, or StaffRefused ``staff_session_missing`` (401)."""
        if not cookie:
            raise StaffRefused(
                "staff_session_missing", "open the staff console from the URL `chaincrm serve --staff` printed", 401
            )
        with self._lock:
            found = self._sessions.get(_key(cookie))
            if found is not None and found.expires_at <= time.monotonic():
                del self._sessions[_key(cookie)]
                found = None
        if found is None:
            raise StaffRefused(
                "staff_session_missing",
                "this console session is unknown or expired: open the URL `chaincrm serve --staff` printed again",
                401,
            )
        return found

    def check_csrf(self, session: StaffSession, offered: str | None) -> None:
        """StaffRefused ``csrf_refused`` (403) unless `offered` is the session's CSRF token."""
        if not offered or not _same(offered, session.csrf):
            raise StaffRefused("csrf_refused", f"the request lacks this session's {CSRF_HEADER}: reload the page", 403)

    def _purge(self, now: float) -> None:
        while self._sessions:
            first = next(iter(self._sessions.values()))
            if first.expires_at > now:
                return
            self._sessions.popitem(last=False)


__all__ = [
    "COOKIE_NAME",
    "COOKIE_PATH",
    "CSRF_HEADER",
    "MIN_TOKEN_CHARS",
    "StaffAuth",
    "StaffRefused",
    "StaffSession",
]
