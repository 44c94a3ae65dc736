"""Sign-In with Ethereum (EIP-4361) and the session cookie it opens.

Nonces are random, single-use and expire after ``nonce_seconds``; they live in memory (a bounded
table, oldest dropped first), so a restart forgets them and every pending sign-in starts again.
A message is checked in this order, each failure one code: it parses and reads back exactly as
signed (``siwe_invalid``), its domain is the portal's host (``siwe_domain``), its chain the
deployment's (``siwe_chain``), it has not expired (``siwe_expired``), its signature is the
address's (``siwe_invalid``; the check is local, EOAs only: no EIP-1271 call to a node), and its
nonce was handed out here, is unused and unexpired (``siwe_nonce``), which also refuses a replay.

The session is a cookie signed with the portal's secret (itsdangerous): the address, when it
expires and a random id; HttpOnly, SameSite=Lax, Secure on https. Signing out forgets the id, so
the same cookie replayed later is refused. The cookie outlives the session by a grace period so
that an expired one is told apart from none (``session_expired`` vs ``session_missing``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_utils import is_hex
from itsdangerous import BadSignature, URLSafeSerializer
from siwe import siwe

from chaincrm.portal.security import Refusal

COOKIE_NAME = "chaincrm_session"
COOKIE_GRACE_SECONDS = 24 * 3600
MAX_PENDING_NONCES = 10_000
MAX_SIGNED_OUT = 10_000
NONCE_BYTES = 16
MAX_MESSAGE_CHARS = 4_096
SIGNATURE_HEX_CHARS = 2 + 2 * 65
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
_SALT = "chaincrm-portal-session"


class AuthRefused(Refusal):
    """A sign-in or session refused: `code` for the JSON error, a one-line message, the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(code, message, status)


class NonceBook:
    """Nonces handed out and not yet used: single use, expiring, at most `capacity` pending."""

    def __init__(self, lifetime_seconds: int, capacity: int = MAX_PENDING_NONCES) -> None:
        self.lifetime = lifetime_seconds
        self.capacity = capacity
        self._pending: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> str:
        nonce = secrets.token_hex(NONCE_BYTES)  # alphanumeric, as EIP-4361 asks
        with self._lock:
            self._purge(time.monotonic())
            while len(self._pending) >= self.capacity:
                self._pending.popitem(last=False)
            self._pending[nonce] = time.monotonic() + self.lifetime
        return nonce

    def use(self, nonce: str) -> bool:
        """True once for a nonce issued here and unexpired; it is gone afterwards."""
        with self._lock:
            expires = self._pending.pop(nonce, None)
        return expires is not None and time.monotonic() < expires

    def _purge(self, now: float) -> None:
        while self._pending:
            first, expires = next(iter(self._pending.items()))
            if expires > now:
                return
            self._pending.popitem(last=False)


@dataclass(frozen=True)
class Session:
    address: str
    expires_at: int
    id: str


class Sessions:
    """Signed session cookies, and the ids of sessions signed out before they expired."""

    def __init__(self, secret: bytes, lifetime_seconds: int) -> None:
        self.lifetime = lifetime_seconds
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self._signed_out: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cookie_max_age(self) -> int:
        return self.lifetime + COOKIE_GRACE_SECONDS

    def open(self, address: str) -> tuple[Session, str]:
        """A new session for `address` and its cookie value."""
        session = Session(address, int(time.time()) + self.lifetime, secrets.token_hex(NONCE_BYTES))
        value = self._serializer.dumps({"a": session.address, "e": session.expires_at, "s": session.id})
        return session, value

    def read(self, cookie: str | None) -> Session:
        """The cookie's session; AuthRefused session_missing / session_expired otherwise."""
        if not cookie:
            raise AuthRefused("session_missing", "not signed in: sign in with your wallet first")
        try:
            fields = self._serializer.loads(cookie)
            session = Session(str(fields["a"]), int(fields["e"]), str(fields["s"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            raise AuthRefused("session_missing", "the session cookie is not valid: sign in again") from None
        with self._lock:
            signed_out = session.id in self._signed_out
        if signed_out:
            raise AuthRefused("session_missing", "this session was signed out: sign in again")
        if time.time() >= session.expires_at:
            raise AuthRefused("session_expired", "your session expired: sign in again")
        return session

    def close(self, session: Session) -> None:
        now = int(time.time())
        with self._lock:
            self._signed_out[session.id] = session.expires_at
            while self._signed_out and (
                len(self._signed_out) > MAX_SIGNED_OUT or next(iter(self._signed_out.values())) <= now
            ):
                self._signed_out.popitem(last=False)


def verify_sign_in(message: str, signature: str, *, domain: str, chain_id: int, nonces: NonceBook) -> str:
    """The address a valid EIP-4361 sign-in proves, or AuthRefused (see the module docstring)."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise AuthRefused("siwe_invalid", "the sign-in message is too long")
    if len(signature) != SIGNATURE_HEX_CHARS or not signature.startswith("0x") or not is_hex(signature):
        raise AuthRefused("siwe_invalid", "the signature is not 65 bytes of 0x-prefixed hex")
    if int(signature[66:130], 16) > SECP256K1_HALF_N:  # EIP-2: wallets sign with a low s only
        raise AuthRefused("siwe_invalid", "the signature's s is not in the lower half of the curve order (EIP-2)")
    try:
        parsed = siwe.SiweMessage.from_message(message)
        exact = parsed.prepare_message() == message
    except Exception:  # the parser raises its grammar's and pydantic's errors alike
        exact = False
    if not exact:
        raise AuthRefused("siwe_invalid", "the sign-in message is not a valid EIP-4361 message")
    if parsed.domain.lower() != domain:
        raise AuthRefused("siwe_domain", f"the sign-in message is for {parsed.domain}, not {domain}")
    if parsed.chain_id != chain_id:
        raise AuthRefused("siwe_chain", f"the sign-in message is for chain {parsed.chain_id}, not {chain_id}")
    now = datetime.now(tz=UTC)
    try:
        parsed.verify(signature, timestamp=now)
    except siwe.ExpiredMessage:
        raise AuthRefused("siwe_expired", "the sign-in message has expired: sign in again") from None
    except siwe.NotYetValidMessage:
        raise AuthRefused("siwe_invalid", "the sign-in message is not valid yet") from None
    except Exception:  # VerificationError, or eth-keys' own error for an r, s or v out of range
        raise AuthRefused("siwe_invalid", "the signature does not match the message and its address") from None
    if not nonces.use(parsed.nonce):
        raise AuthRefused("siwe_nonce", "the sign-in nonce is unknown, used or expired: sign in again")
    return str(parsed.address)


__all__ = [
    "COOKIE_NAME",
    "SECP256K1_HALF_N",
    "AuthRefused",
    "NonceBook",
    "Session",
    "Sessions",
    "verify_sign_in",
]
