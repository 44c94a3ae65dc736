"""The ``invoice.reminder`` webhook event, put straight into the webhooks' outbox.

The keeper enqueues one event per reminder it won, with one pending delivery per endpoint that
subscribed to ``invoice.reminder``; the webhook dispatcher (`chaincrm webhook run` / `serve`) signs and
sends it like any other. Its id is ``"{chain_id}:invoice.reminder:{invoice_id}:{level}"`` (once per
reminder: enqueueing again is a no-op), its ``source`` the index's ``interactions`` table and its
transaction, log index and position those of the reminder's record, so the dispatcher's reorg check
reverts it if a reorg takes that record away. The payload holds ids, the level, the due time and
the amount: no personal data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, select

from chaincrm.index import schema as db
from chaincrm.index.database import database_errors, writing
from chaincrm.webhooks import store as tables
from chaincrm.webhooks.events import REMINDER
from chaincrm.webhooks.store import WebhookStore, insert_ignoring_duplicates


@dataclass(frozen=True)
class ReminderEvent:
    chain_id: int
    invoice_id: int
    level: str
    customer_id: int
    due_at: int
    amount: int  # in the invoice's currency's base units
    currency: str | None  # the ERC-20's address; None for ETH
    content_hash: bytes
    tx_hash: str
    block_number: int
    log_index: int
    position: int
    at: int

    @property
    def id(self) -> str:
        return f"{self.chain_id}:{REMINDER}:{self.invoice_id}:{self.level}"

    def payload(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": REMINDER,
            "created": self.at,
            "chain_id": self.chain_id,
            "block_number": self.block_number,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "data": {
                "invoice_id": self.invoice_id,
                "level": self.level,
                "customer_id": self.customer_id,
                "due_at": self.due_at,
                # As the other invoice events: wei for ETH only, base units and currency always.
                "amount_wei": str(self.amount) if self.currency is None else None,
                "amount_base_units": str(self.amount),
                "currency": self.currency,
                "content_hash": "0x" + self.content_hash.hex(),
                "at": self.at,
            },
        }


def enqueue_reminders(integration: Engine, found: list[ReminderEvent]) -> int:
    """Put `found` into the outbox with a delivery for each subscribed endpoint; returns how many
    deliveries were queued (0 when no endpoint wants reminders: the events are still kept)."""
    if not found:
        return 0
    now = time.time()
    endpoints = WebhookStore(integration).endpoints()
    with database_errors(integration), writing(integration) as conn:
        known = set(
            conn.execute(select(tables.events.c.id).where(tables.events.c.id.in_([e.id for e in found]))).scalars()
        )
        fresh = [event for event in found if event.id not in known]
        insert_ignoring_duplicates(
            conn,
            tables.events,
            [
                {
                    "id": event.id,
                    "type": REMINDER,
                    "payload": event.payload(),
                    "source": db.interactions.name,
                    "block_number": event.block_number,
                    "tx_hash": event.tx_hash,
                    "log_index": event.log_index,
                    "position": event.position,
                    "status": "active",
                    "collected_at": now,
                }
                for event in fresh
            ],
        )
        deliveries = [
            {
                "endpoint_id": endpoint.id,
                "event_id": event.id,
                "kind": "event",
                "replay_of": None,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event in fresh
            for endpoint in endpoints
            if endpoint.wants(REMINDER)
        ]
        insert_ignoring_duplicates(conn, tables.deliveries, deliveries)
    return len(deliveries)


__all__ = ["ReminderEvent", "enqueue_reminders"]
