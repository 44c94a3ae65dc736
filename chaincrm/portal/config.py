"""The portal's configuration: which deployment and index, where it is reached, its relayer, and
its limits. Built by ``chaincrm serve`` from the CLI's settings, or by tests and benchmarks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from eth_account.signers.local import LocalAccount
from limits import RateLimitItem, parse

from chaincrm.config import Settings
from chaincrm.errors import ConfigError

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8700"
PUBLIC_URL_ENV = "CHAINCRM_PUBLIC_URL"
LOCAL_CHAIN_ID = 31337  # Anvil's and Hardhat's
LOCAL_CHAIN_NAME = "chaincrm local"
SESSION_SECRET_BYTES = 32
DEFAULT_SESSION_SECONDS = 3600
DEFAULT_NONCE_SECONDS = 300
DEFAULT_POLL_SECONDS = 0.5
# The follower's confirmations: rows from newer blocks are written at once as provisional (so a page
# shows "paid" within a poll) and undone if a reorg drops their block; as `chaincrm index`.
DEFAULT_CONFIRMATIONS = 5
SIGNATURE_LIFETIME_SECONDS = 15 * 60  # the deadline the typed-data endpoint proposes


@dataclass(frozen=True)
class RateLimits:
    """Requests allowed per client IP, in the `limits` package's notation ("10/minute")."""

    sign_in: str = "10/minute"
    nonce: str = "30/minute"
    relay: str = "10/minute"

    def parsed(self) -> dict[str, RateLimitItem]:
        items = {}
        for name in ("sign_in", "nonce", "relay"):
            text = getattr(self, name)
            try:
                items[name] = parse(text)
            except ValueError:
                raise ConfigError(f"rate limit {name}={text!r} is not like '10/minute'") from None
        return items


@dataclass(frozen=True)
class PortalConfig:
    """Everything `create_app` needs. `database` None is the index in the home (as `chaincrm index`)."""

    settings: Settings
    database: str | Path | None = None
    public_url: str = DEFAULT_PUBLIC_URL
    relayer: LocalAccount | None = field(default=None, repr=False)
    session_secret: bytes = field(default_factory=lambda: secrets.token_bytes(SESSION_SECRET_BYTES), repr=False)
    session_seconds: int = DEFAULT_SESSION_SECONDS
    nonce_seconds: int = DEFAULT_NONCE_SECONDS
    follow: bool = True
    poll_seconds: float = DEFAULT_POLL_SECONDS
    wallet_rpc_url: str | None = None
    chain_name: str | None = None
    rate_limits: RateLimits = field(default_factory=RateLimits)
    confirmations: int = DEFAULT_CONFIRMATIONS
    # The REST API (/api/v1): staff keystores unlocked at start to sign API writes, and the database of
    # API keys and idempotency records (None: <home>/integration.sqlite; a path or a SQLAlchemy URL).
    signers: tuple[LocalAccount, ...] = field(default=(), repr=False)
    integration_database: str | Path | None = None
    # The staff console (/staff): the staff member's unlocked keystore, and the access token of its URL.
    staff: LocalAccount | None = field(default=None, repr=False)
    staff_token: str | None = field(default=None, repr=False)
    # Signed webhooks: run the dispatcher (chaincrm.webhooks), sending events this many blocks deep.
    webhooks: bool = True
    webhook_confirmations: int = 2

    def __post_init__(self) -> None:
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ConfigError(
                f"the public URL {self.public_url!r} must be http(s)://HOST[:PORT] with no path (--public-url)"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ConfigError(f"the public URL {self.public_url!r} must not carry a query, fragment or user")
        if len(self.session_secret) < 16:
            raise ConfigError("the session secret must be at least 16 bytes")
        if self.session_seconds < 1 or self.nonce_seconds < 1:
            raise ConfigError("session_seconds and nonce_seconds must be at least 1")
        if self.poll_seconds <= 0 or self.confirmations < 0:
            raise ConfigError("poll_seconds must be positive and confirmations 0 or more")
        self.rate_limits.parsed()

    @property
    def origin(self) -> str:
        """scheme://host[:port], as a browser writes `location.origin`."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @property
    def domain(self) -> str:
        """host[:port]: the SIWE domain (`location.host`)."""
        return urlsplit(self.public_url).netloc.lower()

    @property
    def secure(self) -> bool:
        """Cookies carry Secure when the portal is served over https."""
        return urlsplit(self.public_url).scheme == "https"

    def name_of_chain(self, chain_id: int) -> str:
        if self.chain_name:
            return self.chain_name
        return LOCAL_CHAIN_NAME if chain_id == LOCAL_CHAIN_ID else f"chain {chain_id}"

    def page_link(self, invoice_id: int) -> str:
        return f"{self.origin}/pay/{invoice_id}"


__all__ = [
    "DEFAULT_PUBLIC_URL",
    "PUBLIC_URL_ENV",
    "PortalConfig",
    "RateLimits",
]
