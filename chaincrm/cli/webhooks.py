"""`chaincrm webhook add|list|remove|deliveries|replay`: endpoints that receive the CRM's events,
signed, and what was sent to them. The running server (`chaincrm serve`) sends; these commands
only change and read the integration database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console

from chaincrm.cli.context import App, check_database_folder, integration_database_option, json_option, pass_app
from chaincrm.cli.output import emit, emit_line, table, when
from chaincrm.webhooks.events import EVENT_TYPES

if TYPE_CHECKING:
    from chaincrm.webhooks.store import WebhookStore

STATUSES = ("pending", "delivered", "failed")


database_option = integration_database_option("endpoints and deliveries")


def _store(app: App, database: str | None) -> WebhookStore:
    from chaincrm.api.database import open_integration
    from chaincrm.webhooks.store import WebhookStore, metadata

    check_database_folder(database, "--integration-database")
    return WebhookStore(open_integration(database, app.settings.home, metadata))


@click.group(
    name="webhook",
    help="Webhooks: endpoints that receive the CRM's events (signed, Chaincrm-Signature: t=...,v1=HMAC-SHA256) "
    "once they are confirmed, sent by `chaincrm serve`, retried with backoff for 24 hours. Event types: "
    + ", ".join(EVENT_TYPES)
    + "; and <type>.reverted when a reorg removes one.",
)
def webhook() -> None:
    pass


@webhook.command(
    help="Subscribe URL (http:// or https://) to the given event types. Prints the endpoint's id and its signing "
    "secret (whsec_...) ONCE: keep the secret where your receiver verifies signatures."
)
@click.argument("url")
@click.option(
    "--events",
    "event_types",
    required=True,
    metavar="TYPE,TYPE,...",
    help="Comma-separated event types, e.g. invoice.paid,deal.stage_changed.",
)
@database_option
@json_option
@pass_app
def add(app: App, url: str, event_types: str, database: str | None, as_json: bool) -> None:
    from chaincrm.webhooks.store import check_event_types, check_url

    check_url(url)
    check_event_types(event_types.split(","))  # both refused before the database is opened
    endpoint = _store(app, database).add_endpoint(url, event_types.split(","))
    line = (
        f"Endpoint {endpoint.id}: {endpoint.url} receives {', '.join(endpoint.events)}\n"
        f"Signing secret (shown once): {endpoint.secret}"
    )
    emit_line(endpoint.fields() | {"secret": endpoint.secret}, as_json, line)


@webhook.command(name="list", help="The subscribed endpoints (their secrets are not shown again).")
@database_option
@json_option
@pass_app
def list_command(app: App, database: str | None, as_json: bool) -> None:
    endpoints = _store(app, database).endpoints()

    def human(out: Console) -> None:
        if not endpoints:
            out.print("No webhook endpoints: add one with `chaincrm webhook add URL --events ...`.")
            return
        rows = [(e.id, e.url, ", ".join(e.events), when(e.created_at)) for e in endpoints]
        out.print(table("Webhook endpoints", ("id", "url", "events", "created"), rows))

    emit([endpoint.fields() for endpoint in endpoints], as_json, human)


@webhook.command(help="Unsubscribe endpoint ID: nothing more is sent to it; its pending deliveries are given up.")
@click.argument("endpoint_id", metavar="ID", type=click.IntRange(1, 2**63 - 1))
@database_option
@json_option
@pass_app
def remove(app: App, endpoint_id: int, database: str | None, as_json: bool) -> None:
    endpoint = _store(app, database).remove_endpoint(endpoint_id)
    emit_line(endpoint.fields(), as_json, f"Endpoint {endpoint.id} ({endpoint.url}) removed")


@webhook.command(help="Deliveries, newest first: each event sent (or to send) to an endpoint, its attempts and result.")
@click.option("--endpoint", "endpoint_id", type=click.IntRange(1, 2**63 - 1), help="Only this endpoint's.")
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="At most this many.")
@database_option
@json_option
@pass_app
def deliveries(
    app: App,
    endpoint_id: int | None,
    status: str | None,
    limit: int,
    database: str | None,
    as_json: bool,
) -> None:
    found = _store(app, database).deliveries(endpoint_id=endpoint_id, status=status, limit=limit)

    def human(out: Console) -> None:
        if not found:
            out.print("No deliveries.")
            return
        columns = ("id", "endpoint", "event", "type", "status", "attempts", "last result", "next attempt")
        rows = [
            (
                d.id,
                d.endpoint_id,
                d.event_id,
                d.event_type,
                d.status + (f" (replay of {d.replay_of})" if d.replay_of else ""),
                d.attempts,
                d.last_error or (f"HTTP {d.last_status_code}" if d.last_status_code else ""),
                when(int(d.next_attempt_at)) if d.status == "pending" else "",
            )
            for d in found
        ]
        out.print(table("Webhook deliveries", columns, rows))

    emit([delivery.fields() for delivery in found], as_json, human)


@webhook.command(
    help="Send delivery DELIVERY_ID's event again, to the same endpoint, as a new delivery due now (the running "
    "server sends it). Receivers that deduplicate by event id will ignore a copy they already handled."
)
@click.argument("delivery_id", type=click.IntRange(1, 2**63 - 1))
@database_option
@json_option
@pass_app
def replay(app: App, delivery_id: int, database: str | None, as_json: bool) -> None:
    queued = _store(app, database).replay(delivery_id)
    line = f"Delivery {queued.id} queued: {queued.event_type} {queued.event_id} to endpoint {queued.endpoint_id}"
    emit_line(queued.fields(), as_json, line)
