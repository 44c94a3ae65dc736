"""`chaincrm me ...`: the customer's own view, read with the customer's own keystore.

Which records are yours comes from the chain (the registry's events for your wallet); your
profile is decrypted with your key; everything else is what the chain recorded about those
records and nothing else: interactions, deals, invoices, who was given access and why, consents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click
from rich.console import Console

from chaincrm.cli.context import ID, App, enum_name, json_option, keystore_option, pass_app
from chaincrm.cli.output import (
    customer_fields,
    deal_fields,
    emit,
    eth,
    facts,
    hex32,
    interaction_fields,
    invoice_fields,
    stage_change_fields,
    table,
    when,
)
from chaincrm.models import Interaction
from chaincrm.transparency import (
    AccessHistory,
    Consents,
    CustomerView,
    DealHistory,
    InvoiceHistory,
    OwnProfile,
)

PROFILE_FIELDS = ("name", "email", "phone", "address", "notes")
T = TypeVar("T")


def for_each(items: Iterable[T], show: Callable[[Console, T], None]) -> Callable[[Console], None]:
    """A printer for `emit` that shows every item in turn."""
    listed = list(items)

    def human(out: Console) -> None:
        for item in listed:
            show(out, item)

    return human


# ------------------------------------------------------------------ JSON for each view


def profile_json(own: OwnProfile) -> dict[str, Any]:
    return customer_fields(own.customer) | {
        "profile": dataclasses.asdict(own.profile) if own.profile else None,
        "readers": list(own.readers),
        "erasure_receipt_hash": hex32(own.erasure_receipt_hash) if own.erasure_receipt_hash else None,
        "erased_at": own.erased_at,
        "sealed_for_you": own.sealed_for_owner,
    }


def interaction_json(interaction: Interaction) -> dict[str, Any]:
    return interaction_fields(interaction) | {"log_index": interaction.log_index, "position": interaction.position}


def deal_json(history: DealHistory) -> dict[str, Any]:
    return deal_fields(history.deal) | {"history": [stage_change_fields(change) for change in history.changes]}


def invoice_json(history: InvoiceHistory) -> dict[str, Any]:
    return invoice_fields(history.invoice) | {
        "events": [
            {
                "what": event.what,
                "amount_wei": None if event.amount_wei is None else str(event.amount_wei),
                "by": event.by,
                "at": event.at,
                "block_number": event.block_number,
                "tx_hash": event.tx_hash,
            }
            for event in history.events
        ]
    }


def access_json(access: AccessHistory) -> dict[str, Any]:
    return {
        "customer_id": access.customer_id,
        "can_read": [
            {"staff": grant.staff, "purpose": enum_name(grant.purpose) if grant.purpose else None, "since": grant.since}
            for grant in access.active
        ],
        "could_read": list(access.former),
        "profile_readers": list(access.readers),
        "events": [
            {
                "what": "granted" if event.granted else "revoked",
                "staff": event.staff,
                "purpose": enum_name(event.purpose),
                "actor": event.actor,
                "at": event.at,
                "block_number": event.block_number,
                "tx_hash": event.tx_hash,
            }
            for event in access.events
        ],
    }


def consents_json(consents: Consents) -> dict[str, Any]:
    return {
        "customer_id": consents.customer_id,
        "given": [enum_name(purpose) for purpose in consents.given],
        "changes": [
            {
                "purpose": enum_name(change.purpose),
                "granted": change.granted,
                "at": change.at,
                "block_number": change.block_number,
                "tx_hash": change.tx_hash,
            }
            for change in consents.changes
        ],
    }


# ------------------------------------------------------------------ text for each view


def print_profile(out: Console, own: OwnProfile) -> None:
    rows: dict[str, Any] = {}
    if own.profile is not None:
        rows |= {name: getattr(own.profile, name) for name in PROFILE_FIELDS}
    elif not own.sealed_for_owner:
        rows |= {"profile": "not sealed for your key: publish it (`chaincrm key publish`) and ask the CRM to share"}
    rows |= {
        "status": enum_name(own.customer.status),
        "wallet": own.customer.wallet,
        "profile version": own.customer.profile_version,
        "registered": when(own.customer.registered_at),
        "readable by": ", ".join(own.readers) or "nobody",
    }
    if own.erasure_receipt_hash is not None:
        rows |= {"erased": when(own.erased_at), "erasure receipt": hex32(own.erasure_receipt_hash)}
    out.print(facts(f"Customer {own.customer.id}", rows))


def print_interactions(out: Console, customer_id: int, interactions: tuple[Interaction, ...]) -> None:
    rows = [
        (when(i.at), enum_name(i.kind), enum_name(i.outcome), i.author, hex32(i.content_hash)[:18] + "…", i.tx_hash)
        for i in interactions
    ]
    out.print(
        table(
            f"Interactions with customer {customer_id}", ("time", "kind", "outcome", "by", "content hash", "tx"), rows
        )
    )


def print_deals(out: Console, customer_id: int, deals: tuple[DealHistory, ...]) -> None:
    rows = [
        (
            d.deal.id,
            enum_name(d.deal.stage),
            eth(d.deal.value_wei),
            d.deal.owner,
            d.deal.invoice_id,
            when(d.deal.opened_at),
        )
        for d in deals
    ]
    out.print(table(f"Deals of customer {customer_id}", ("deal", "stage", "value", "owner", "invoice", "opened"), rows))
    changes = [
        (when(c.at), d.deal.id, enum_name(c.from_stage), enum_name(c.to_stage), c.actor)
        for d in deals
        for c in d.changes
    ]
    if changes:
        out.print(table("Stage changes", ("time", "deal", "from", "to", "by"), changes))


def print_invoices(out: Console, customer_id: int, invoices: tuple[InvoiceHistory, ...]) -> None:
    rows = [
        (
            i.invoice.id,
            i.invoice.deal_id,
            eth(i.invoice.amount_wei),
            enum_name(i.invoice.status),
            when(i.invoice.due_at),
            when(i.invoice.paid_at),
        )
        for i in invoices
    ]
    out.print(
        table(f"Invoices of customer {customer_id}", ("invoice", "deal", "amount", "status", "due", "paid"), rows)
    )
    events = [
        (when(e.at), e.invoice_id, e.what, eth(e.amount_wei) if e.amount_wei is not None else "", e.by, e.tx_hash)
        for i in invoices
        for e in i.events
    ]
    if events:
        out.print(table("Invoices and payments", ("time", "invoice", "what", "amount", "by", "tx"), events))


def print_access(out: Console, access: AccessHistory) -> None:
    rows = [
        (
            when(e.at),
            "granted" if e.granted else "revoked",
            e.staff,
            enum_name(e.purpose),
            e.actor,
        )
        for e in access.events
    ]
    out.print(table(f"Access to customer {access.customer_id}", ("time", "what", "staff", "purpose", "by"), rows))
    can = ", ".join(f"{g.staff} ({enum_name(g.purpose) if g.purpose else '?'})" for g in access.active)
    out.print(f"Can read now: {can or 'nobody on staff'}")
    out.print(f"Could read before: {', '.join(access.former) or 'nobody'}")
    out.print(f"Profile sealed for: {', '.join(access.readers) or 'nobody (erased)'}")


def print_consents(out: Console, consents: Consents) -> None:
    out.print(
        f"Customer {consents.customer_id} consents to: {', '.join(enum_name(p) for p in consents.given) or 'nothing'}"
    )
    rows = [(when(c.at), enum_name(c.purpose), "given" if c.granted else "withdrawn") for c in consents.changes]
    if rows:
        out.print(table(f"Consent changes of customer {consents.customer_id}", ("time", "purpose", "what"), rows))


# ------------------------------------------------------------------ commands


def _view(app: App, keystore: str | None) -> CustomerView:
    owner = app.signer(keystore)
    view = CustomerView(app.crm, app.store, owner.account)
    view.customer_ids()  # a wallet without a record stops here with one line
    return view


def customer_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--customer", "customer_id", type=ID, help="Only this one of your customer records [default: all of them]."
    )(func)


@click.group(name="me", help="Your own records, read with your keystore: profile, history, access and consent.")
def me_group() -> None:
    pass


@me_group.command(help="Your profile, decrypted with your key, and who can read it.")
@customer_option
@keystore_option
@json_option
@pass_app
def profile(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = [view.profile(i) for i in view.selected(customer_id)]
    emit([profile_json(own) for own in found], as_json, for_each(found, print_profile))


@me_group.command(help="Every interaction logged with you: kind, time, author, outcome.")
@customer_option
@keystore_option
@json_option
@pass_app
def interactions(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = {i: view.interactions(i) for i in view.selected(customer_id)}
    emit(
        [interaction_json(i) for records in found.values() for i in records],
        as_json,
        for_each(found.items(), lambda out, pair: print_interactions(out, *pair)),
    )


@me_group.command(help="Your deals, their stages and every stage change.")
@customer_option
@keystore_option
@json_option
@pass_app
def deals(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = {i: view.deals(i) for i in view.selected(customer_id)}
    emit(
        [deal_json(d) for records in found.values() for d in records],
        as_json,
        for_each(found.items(), lambda out, pair: print_deals(out, *pair)),
    )


@me_group.command(help="Your invoices and what happened to them: payments, releases, refunds.")
@customer_option
@keystore_option
@json_option
@pass_app
def invoices(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = {i: view.invoices(i) for i in view.selected(customer_id)}
    emit(
        [invoice_json(h) for records in found.values() for h in records],
        as_json,
        for_each(found.items(), lambda out, pair: print_invoices(out, *pair)),
    )


@me_group.command(help="Who can read your data and who could: every grant and revocation, with its purpose.")
@customer_option
@keystore_option
@json_option
@pass_app
def access(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = [view.access(i) for i in view.selected(customer_id)]
    emit([access_json(a) for a in found], as_json, for_each(found, print_access))


@me_group.command(help="What you consent to now, and every change.")
@customer_option
@keystore_option
@json_option
@pass_app
def consents(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = [view.consents(i) for i in view.selected(customer_id)]
    emit([consents_json(c) for c in found], as_json, for_each(found, print_consents))


@me_group.command(name="all", help="Everything above, for each of your customer records.")
@customer_option
@keystore_option
@json_option
@pass_app
def everything(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = [view.everything(i) for i in view.selected(customer_id)]
    data = {
        "wallet": view.wallet,
        "customers": [
            {
                "customer_id": records.profile.customer.id,
                "profile": profile_json(records.profile),
                "interactions": [interaction_json(i) for i in records.interactions],
                "deals": [deal_json(d) for d in records.deals],
                "invoices": [invoice_json(h) for h in records.invoices],
                "access": access_json(records.access),
                "consents": consents_json(records.consents),
            }
            for records in found
        ],
    }

    def human(out: Console) -> None:
        for records in found:
            customer_id = records.profile.customer.id
            print_profile(out, records.profile)
            print_interactions(out, customer_id, records.interactions)
            print_deals(out, customer_id, records.deals)
            print_invoices(out, customer_id, records.invoices)
            print_access(out, records.access)
            print_consents(out, records.consents)

    emit(data, as_json, human)
