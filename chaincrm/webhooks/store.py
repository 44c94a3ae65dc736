"""The webhooks' tables in the integration database, and every read and write of them.

Three tables, in their own MetaData (the API's tables live beside them, see
:mod:`chaincrm.api.database`):

- ``webhook_endpoints``: where to send, the signing secret, the event types wanted. A removed
  endpoint is kept (``disabled``), so its deliveries stay listed;
- ``webhook_events``: the outbox, one row per event the dispatcher took from the index (its stable
  id, type, payload, and where its log was, to notice a reorg that removes it);
- ``webhook_deliveries``: one row per (endpoint, event, kind) — kind ``event`` or ``reverted`` —
  with its attempts and result. A partial unique index makes the dispatcher's own deliveries unique;
  a replay (``replay_of`` set) is a deliberate extra one.

Plus ``webhook_state``, one row: how far the dispatcher scanned the index. Everything the dispatcher
knows is here, so a restart resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import JSON

from chaincrm.errors import ConfigError
from chaincrm.index.database import database_errors, writing
from chaincrm.webhooks.events import EVENT_TYPES

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
URL_LENGTH = 2000
ERROR_LENGTH = 300
DELIVERY_STATUSES = ("pending", "delivered", "failed")

metadata = MetaData()

endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("url", String(URL_LENGTH), nullable=False),
    Column("secret", String(80), nullable=False),  # the HMAC key: kept as is, it signs every delivery
    Column("events", Text, nullable=False),  # comma-separated event types
    Column("created_at", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # The block the dispatcher had scanned up to when it first saw the endpoint: it is sent only
    # events from later blocks (None until a dispatcher has seen it).
    Column("since_block", BigInteger),
)

events = Table(
    "webhook_events",
    metadata,
    Column("id", String(200), primary_key=True),  # the stable event id (see chaincrm.webhooks.events)
    Column("type", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("source", String(40), nullable=False),  # the index table it came from ("invoices": overdue)
    Column("block_number", BigInteger, nullable=False),
    Column("tx_hash", String(66)),
    Column("log_index", Integer),
    Column("position", Integer, nullable=False, default=0),
    Column("status", String(10), nullable=False, default="active"),  # active | reverted
    Column("collected_at", Float, nullable=False),
    Column("reverted_at", BigInteger),
    Index("ix_webhook_events_status_block", "status", "block_number"),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("endpoint_id", ForeignKey(endpoints.c.id), nullable=False),
    Column("event_id", ForeignKey(events.c.id), nullable=False),
    Column("kind", String(10), nullable=False),  # event | reverted
    Column("replay_of", BigInteger),  # the delivery a `webhook replay` copied; None for the dispatcher's own
    Column("status", String(10), nullable=False),  # DELIVERY_STATUSES
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("first_attempt_at", Float),
    Column("last_attempt_at", Float),
    Column("delivered_at", Float),
    Column("last_status_code", Integer),
    Column("last_error", String(ERROR_LENGTH)),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_event", "event_id"),
)
_automatic = deliveries.c.replay_of.is_(None)
Index(
    "uq_webhook_deliveries_once",
    deliveries.c.endpoint_id,
    deliveries.c.event_id,
    deliveries.c.kind,
    unique=True,
    sqlite_where=_automatic,
    postgresql_where=_automatic,
)

state = Table(
    "webhook_state",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("last_scanned_block", BigInteger, nullable=False),  # events up to here are in the outbox
    Column("last_scanned_hash", String(66)),  # its hash in the index when scanned (None: already final)
    Column("final_checked_block", BigInteger, nullable=False),  # events up to here can no longer be reverted
)


@dataclass(frozen=True)
class Endpoint:
    id: int
    url: str
    events: tuple[str, ...]
    created_at: int
    disabled: bool
    secret: str = ""
    since_block: int | None = None

    def wants(self, event_type: str) -> bool:
        return event_type in self.events

    def gets(self, event_type: str, block_number: int) -> bool:
        """Whether an event of this type from this block goes to this endpoint: one it subscribed
        to, from after the block the dispatcher had reached when it first saw the endpoint."""
        return self.wants(event_type) and (self.since_block is None or block_number > self.since_block)

    def fields(self) -> dict[str, Any]:
        """For `--json` and listings: everything but the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "created_at": self.created_at,
            "removed": self.disabled,
        }


@dataclass(frozen=True)
class Delivery:
    id: int
    endpoint_id: int
    event_id: str
    event_type: str  # as sent: "<type>.reverted" for a reversal
    kind: str
    replay_of: int | None
    status: str
    attempts: int
    next_attempt_at: float
    first_attempt_at: float | None
    delivered_at: float | None
    last_status_code: int | None
    last_error: str | None

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint_id": self.endpoint_id,
            "event_id": self.event_id,
            "type": self.event_type,
            "kind": self.kind,
            "replay_of": self.replay_of,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": None if self.status != "pending" else int(self.next_attempt_at),
            "first_attempt_at": _seconds(self.first_attempt_at),
            "delivered_at": _seconds(self.delivered_at),
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
        }


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)


# ---------------------------------------------------------------------- input checks


SHOWN_URL_LENGTH = 120


def check_url(url: str) -> str:
    """An endpoint URL: http(s)://host[:port][/path][?query], no user info, no fragment. A refused
    URL is shown cut to SHOWN_URL_LENGTH characters (the error stays one short line)."""
    shown = repr(url if len(url) <= SHOWN_URL_LENGTH else url[:SHOWN_URL_LENGTH] + "...")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{shown} is not a URL (http:// or https://)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{shown} is not an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.fragment:
        # Not echoed: the user info may be a password.
        raise ConfigError("a webhook URL must not carry a user, a password or a #fragment")
    if len(url) > URL_LENGTH or any(ch.isspace() for ch in url):
        raise ConfigError(f"{shown} is not a URL (spaces, or longer than {URL_LENGTH} characters)")
    return url


def check_event_types(names: Iterable[str]) -> tuple[str, ...]:
    """Known event types, in the order of EVENT_TYPES; an unknown one is refused."""
    wanted = {name.strip() for name in names if name.strip()}
    unknown = sorted(wanted - set(EVENT_TYPES))
    if unknown:
        raise ConfigError(
            f"unknown event type {', '.join(unknown)}: choose among {', '.join(EVENT_TYPES)} "
            "(a reversal, <type>.reverted, goes wherever its event went)"
        )
    if not wanted:
        raise ConfigError(f"no event type: choose among {', '.join(EVENT_TYPES)}")
    return tuple(name for name in EVENT_TYPES if name in wanted)


# ---------------------------------------------------------------------- the store


class WebhookStore:
    """The webhooks' rows in one integration database (an Engine whose tables exist: see
    :func:`chaincrm.api.database.open_integration` with :data:`metadata`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -------------------------------------------------------------- endpoints

    def add_endpoint(self, url: str, event_types: Sequence[str], *, now: float | None = None) -> Endpoint:
        """A new endpoint with a fresh secret (returned once, in `.secret`)."""
        url = check_url(url)
        wanted = check_event_types(event_types)
        secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        created = int(time.time() if now is None else now)
        with database_errors(self.engine), writing(self.engine) as conn:
            endpoint_id = conn.execute(
                insert(endpoints).values(
                    url=url, secret=secret, events=",".join(wanted), created_at=created, disabled=False
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return Endpoint(int(endpoint_id), url, wanted, created, False, secret)

    def endpoints(self, *, removed: bool = False, conn: Connection | None = None) -> list[Endpoint]:
        """The endpoints (with their secrets), oldest first; removed ones only if `removed`."""
        query = select(endpoints).order_by(endpoints.c.id)
        if not removed:
            query = query.where(endpoints.c.disabled.is_(False))
        if conn is not None:
            return [_endpoint(row) for row in conn.execute(query).mappings()]
        with database_errors(self.engine), self.engine.connect() as own:
            return [_endpoint(row) for row in own.execute(query).mappings()]

    def remove_endpoint(self, endpoint_id: int, *, now: float | None = None) -> Endpoint:
        """Stop sending to it: its pending deliveries fail with "endpoint removed"."""
        with database_errors(self.engine), writing(self.engine) as conn:
            row = conn.execute(select(endpoints).where(endpoints.c.id == endpoint_id)).mappings().first()
            if row is None or row["disabled"]:
                raise ConfigError(f"webhook endpoint {endpoint_id} is unknown (see `chaincrm webhook list`)")
            conn.execute(update(endpoints).where(endpoints.c.id == endpoint_id).values(disabled=True))
            conn.execute(
                update(deliveries)
                .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "pending")
                .values(status="failed", last_error="endpoint removed", next_attempt_at=now or time.time())
            )
        return dataclasses.replace(_endpoint(row), disabled=True, secret="")

    # -------------------------------------------------------------- deliveries

    def deliveries(
        self, *, endpoint_id: int | None = None, status: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        """The newest deliveries first."""
        query = _delivery_query().order_by(deliveries.c.id.desc()).limit(limit)
        if endpoint_id is not None:
            query = query.where(deliveries.c.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        with database_errors(self.engine), self.engine.connect() as conn:
            return [_delivery(row) for row in conn.execute(query).mappings()]

    def delivery(self, delivery_id: int) -> Delivery:
        with database_errors(self.engine), self.engine.connect() as conn:
            row = conn.execute(_delivery_query().where(deliveries.c.id == delivery_id)).mappings().first()
        if row is None:
            raise ConfigError(f"webhook delivery {delivery_id} is unknown (see `chaincrm webhook deliveries`)")
        return _delivery(row)

    def replay(self, delivery_id: int, *, now: float | None = None) -> Delivery:
        """A new delivery of the same event (or reversal) to the same endpoint, due at once."""
        at = time.time() if now is None else now
        with database_errors(self.engine), writing(self.engine) as conn:
            row = conn.execute(
                select(deliveries.c.endpoint_id, deliveries.c.event_id, deliveries.c.kind, endpoints.c.disabled)
                .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
                .where(deliveries.c.id == delivery_id)
            ).first()
            if row is None:
                raise ConfigError(f"webhook delivery {delivery_id} is unknown (see `chaincrm webhook deliveries`)")
            if row.disabled:
                raise ConfigError(f"webhook delivery {delivery_id} went to endpoint {row.endpoint_id}, now removed")
            new_id = conn.execute(
                insert(deliveries).values(
                    endpoint_id=row.endpoint_id,
                    event_id=row.event_id,
                    kind=row.kind,
                    replay_of=delivery_id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=at,
                    created_at=at,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return self.delivery(int(new_id))


def _endpoint(row: Any) -> Endpoint:
    types = tuple(name for name in str(row["events"]).split(",") if name)
    since = row["since_block"]
    return Endpoint(
        int(row["id"]),
        str(row["url"]),
        types,
        int(row["created_at"]),
        bool(row["disabled"]),
        str(row["secret"]),
        None if since is None else int(since),
    )


def _delivery_query() -> Any:
    return select(deliveries, events.c.type).join(events, events.c.id == deliveries.c.event_id)


def _delivery(row: Any) -> Delivery:
    kind = str(row["kind"])
    return Delivery(
        id=int(row["id"]),
        endpoint_id=int(row["endpoint_id"]),
        event_id=str(row["event_id"]),
        event_type=str(row["type"]) + (".reverted" if kind == "reverted" else ""),
        kind=kind,
        replay_of=row["replay_of"],
        status=str(row["status"]),
        attempts=int(row["attempts"]),
        next_attempt_at=float(row["next_attempt_at"]),
        first_attempt_at=row["first_attempt_at"],
        delivered_at=row["delivered_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
    )


def insert_ignoring_duplicates(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, on SQLite and PostgreSQL."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


__all__ = [
    "DELIVERY_STATUSES",
    "SECRET_PREFIX",
    "Delivery",
    "Endpoint",
    "WebhookStore",
    "check_event_types",
    "check_url",
    "deliveries",
    "endpoints",
    "events",
    "insert_ignoring_duplicates",
    "metadata",
    "state",
]
