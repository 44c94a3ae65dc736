"""`chaincrm me ...`: the customer's own view, read with the customer's own keystore.

Which records are yours comes from the chain: the ones your wallet accepted (a wallet that was
only proposed sees nothing until it accepts: `chaincrm customer accept-wallet`). Your profile,
your interaction notes and their attachments are decrypted with your key; everything else is what
the chain recorded about those records and nothing else: deals, invoices and refunds, who was
given access, for which purpose and on which lawful basis, and your consents. `me` only reads:
giving or withdrawing consent and accepting a wallet are `chaincrm customer consent` and
`chaincrm customer accept-wallet`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

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
from chaincrm.models import Purpose

if TYPE_CHECKING:
    from chaincrm.contracts.tokens import Tokens
    from chaincrm.currency import TokenInfo
from chaincrm.views.own_records import (
    AccessHistory,
    Consents,
    CustomerView,
    DealHistory,
    InteractionView,
    InvoiceEvent,
    InvoiceHistory,
    OwnProfile,
    RefundAccount,
)

PROFILE_FIELDS = ("name", "email", "phone", "address", "notes")
NOTE_PREVIEW_CHARS = 60
T = TypeVar("T")


def for_each(items: Iterable[T], show: Callable[[Console, T], None]) -> Callable[[Console], None]:
    """A printer for `emit` that shows every item in turn."""
    listed = list(items)

    def human(out: Console) -> None:
        for item in listed:
            show(out, item)

    return human


def purpose_fields(purpose: Purpose | None) -> dict[str, Any]:
    """A purpose and its lawful basis by name; the basis is None for a purpose this version lacks."""
    if purpose is None:
        return {"purpose": None, "basis": None}
    return {"purpose": enum_name(purpose), "basis": enum_name(purpose.basis) if purpose.known else None}


def purpose_text(purpose: Purpose | None) -> str:
    """`support (contract)`, `marketing (consent)`; `unknown(9)` alone."""
    if purpose is None:
        return "?"
    return f"{enum_name(purpose)} ({enum_name(purpose.basis)})" if purpose.known else enum_name(purpose)


# ------------------------------------------------------------------ JSON for each view


def profile_json(own: OwnProfile) -> dict[str, Any]:
    return customer_fields(own.customer) | {
        "pending_wallet": own.customer.pending_wallet,
        "profile": dataclasses.asdict(own.profile) if own.profile else None,
        "readers": list(own.readers),
        "erasure_receipt_hash": hex32(own.erasure_receipt_hash) if own.erasure_receipt_hash else None,
        "erased_at": own.erased_at,
        "sealed_for_you": own.sealed_for_owner,
        "unreadable": own.why,
    }


def interaction_json(view: InteractionView) -> dict[str, Any]:
    interaction = view.interaction
    return interaction_fields(interaction) | {
        "log_index": interaction.log_index,
        "position": interaction.position,
        "note": view.content.note if view.content is not None else None,
        "attachments": list(view.attachment_names),
        "unreadable": view.unreadable,
    }


def deal_json(history: DealHistory) -> dict[str, Any]:
    return deal_fields(history.deal) | {
        "invoice_ids": list(history.invoice_ids),
        "lost_reason": enum_name(history.lost_reason) if history.lost_reason is not None else None,
        "history": [stage_change_fields(change) for change in history.changes],
        "documents": [
            {
                "kind": enum_name(document.kind),
                "cid": document.cid,
                "actor": document.actor,
                "at": document.at,
                "block_number": document.block_number,
                "tx_hash": document.tx_hash,
            }
            for document in history.documents
        ],
    }


def invoice_event_json(event: InvoiceEvent) -> dict[str, Any]:
    return {
        "what": event.what,
        "amount_wei": None if event.amount_wei is None else str(event.amount_wei),
        "points": None if getattr(event, "points", None) is None else str(event.points),
        "method": _METHODS.get(getattr(event, "method", None) or 0),
        "by": event.by,
        "to": event.to,
        "until": event.until,
        "at": event.at,
        "block_number": event.block_number,
        "tx_hash": event.tx_hash,
    }


def invoice_json(history: InvoiceHistory, currency: TokenInfo | None = None) -> dict[str, Any]:
    from chaincrm.cli.tokens import money

    extra = {}
    if currency is not None:
        extra = {
            "currency": history.invoice.currency,
            "currency_symbol": currency.symbol,
            "amount": money(history.invoice.amount_wei, currency),
        }
    return (
        invoice_fields(history.invoice)
        | extra
        | {
            "treasury": history.treasury,
            "events": [invoice_event_json(event) for event in history.events],
        }
    )


def refund_json(account: RefundAccount) -> dict[str, Any]:
    return {
        "payer": account.payer,
        "owed_wei": str(account.owed_wei),
        "credited": [invoice_event_json(event) | {"invoice_id": event.invoice_id} for event in account.credited],
        "withdrawals": [
            {
                "amount_wei": str(w.amount_wei),
                "at": w.at,
                "block_number": w.block_number,
                "tx_hash": w.tx_hash,
            }
            for w in account.withdrawals
        ],
    }


def access_json(access: AccessHistory) -> dict[str, Any]:
    return {
        "customer_id": access.customer_id,
        "readers_now": [
            {"address": reader.address, "why": reader.why} | purpose_fields(reader.purpose)
            for reader in access.readers_now
        ],
        "can_read": [
            {"staff": grant.staff, "since": grant.since} | purpose_fields(grant.purpose) for grant in access.active
        ],
        "could_read": list(access.former),
        "profile_readers": list(access.readers),
        "events": [
            {
                "what": "granted" if event.granted else "revoked",
                "staff": event.staff,
                "actor": event.actor,
                "by_consent_withdrawal": event.by_consent_withdrawal,
                "at": event.at,
                "block_number": event.block_number,
                "tx_hash": event.tx_hash,
            }
            | purpose_fields(event.purpose)
            for event in access.events
        ],
    }


def consents_json(consents: Consents) -> dict[str, Any]:
    return {
        "customer_id": consents.customer_id,
        "given": [enum_name(purpose) for purpose in consents.given],
        "purposes": [
            {"purpose": enum_name(state.purpose), "given": state.given, "since": state.since}
            for state in consents.states
        ],
        "changes": [
            {
                "purpose": enum_name(change.purpose),
                "granted": change.granted,
                "relayer": change.relayer,
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
    elif own.why is not None:
        rows |= {"profile": own.why}
    rows |= {
        "status": enum_name(own.customer.status),
        "wallet": own.customer.wallet,
        "profile version": own.customer.profile_version,
        "registered": when(own.customer.registered_at),
        "readable by": ", ".join(own.readers) or "nobody",
    }
    if own.customer.pending_wallet is not None:
        rows["proposed wallet"] = f"{own.customer.pending_wallet} (not bound until it accepts)"
    if own.erasure_receipt_hash is not None:
        rows |= {"erased": when(own.erased_at), "erasure receipt": hex32(own.erasure_receipt_hash)}
    out.print(facts(f"Customer {own.customer.id}", rows))


def _note_text(view: InteractionView) -> str:
    if view.content is None:
        return f"(not readable: {view.unreadable})"
    note = " ".join(view.content.note.split())
    return note if len(note) <= NOTE_PREVIEW_CHARS else note[: NOTE_PREVIEW_CHARS - 1] + "…"


def print_interactions(out: Console, customer_id: int, views: tuple[InteractionView, ...]) -> None:
    rows = [
        (
            when(v.interaction.at),
            enum_name(v.interaction.kind),
            enum_name(v.interaction.outcome),
            v.interaction.author,
            _note_text(v),
            ", ".join(v.attachment_names),
        )
        for v in views
    ]
    out.print(
        table(
            f"Interactions with customer {customer_id}", ("time", "kind", "outcome", "by", "note", "attachments"), rows
        )
    )


def print_deals(out: Console, customer_id: int, deals: tuple[DealHistory, ...]) -> None:
    rows = [
        (
            d.deal.id,
            enum_name(d.deal.stage) + (f" ({enum_name(d.lost_reason)})" if d.lost_reason is not None else ""),
            eth(d.deal.value_wei),
            d.deal.owner,
            ", ".join(map(str, d.invoice_ids)),
            when(d.deal.opened_at),
        )
        for d in deals
    ]
    out.print(
        table(f"Deals of customer {customer_id}", ("deal", "stage", "value", "owner", "invoices", "opened"), rows)
    )
    changes = [
        (when(c.at), d.deal.id, enum_name(c.from_stage), enum_name(c.to_stage), c.actor)
        for d in deals
        for c in d.changes
    ]
    if changes:
        out.print(table("Stage changes", ("time", "deal", "from", "to", "by"), changes))
    documents = [
        (when(doc.at), doc.deal_id, enum_name(doc.kind), doc.cid, doc.actor) for d in deals for doc in d.documents
    ]
    if documents:
        out.print(table("Deal documents", ("time", "deal", "kind", "cid", "by"), documents))


_METHODS = {1: "bank transfer", 2: "card", 3: "other"}


def _invoice_event_text(event: InvoiceEvent) -> str:
    from chaincrm.cli.loyalty import points

    if event.what == "paid_off_chain":
        return f"paid off-chain ({_METHODS.get(getattr(event, 'method', None) or 0, 'other')})"
    if event.what.startswith("points_") and getattr(event, "points", None) is not None:
        return f"{event.what.removeprefix('points_')} {points(event.points or 0)} points"
    if event.what == "paid" and event.to is not None:
        return f"paid (for treasury {event.to})"
    if event.what == "disputed" and event.until is not None:
        return f"disputed (resolve by {when(event.until)})"
    if event.what == "refunded":
        return "refunded (credited to the payer, to withdraw)"
    return event.what


def print_invoices(
    out: Console, customer_id: int, invoices: tuple[InvoiceHistory, ...], tokens: Tokens | None = None
) -> None:
    from chaincrm.cli.tokens import money
    from chaincrm.currency import ETH_INFO

    def amount(value: int, currency: str | None) -> str:
        return money(value, tokens.info(currency)) if tokens is not None else money(value, ETH_INFO)

    rows = [
        (
            i.invoice.id,
            i.invoice.deal_id,
            amount(i.invoice.amount_wei, i.invoice.currency),
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
        (
            when(e.at),
            e.invoice_id,
            _invoice_event_text(e),
            amount(e.amount_wei, i.invoice.currency) if e.amount_wei is not None else "",
            e.by,
            e.tx_hash,
        )
        for i in invoices
        for e in i.events
    ]
    if events:
        out.print(table("Invoices and payments", ("time", "invoice", "what", "amount", "by", "tx"), events))


def print_refunds(out: Console, customer_id: int, accounts: tuple[RefundAccount, ...]) -> None:
    if not accounts:
        out.print(f"Refunds of customer {customer_id}: none")
        return
    rows = [
        (
            a.payer,
            eth(a.owed_wei),
            eth(sum(e.amount_wei or 0 for e in a.credited)),
            eth(sum(w.amount_wei for w in a.withdrawals)),
        )
        for a in accounts
    ]
    out.print(table(f"Refunds of customer {customer_id}", ("payer", "owed now", "credited", "withdrawn"), rows))


def print_access(out: Console, access: AccessHistory) -> None:
    rows = [
        (
            when(e.at),
            ("granted" if e.granted else "revoked") + (" (consent withdrawn)" if e.by_consent_withdrawal else ""),
            e.staff,
            purpose_text(e.purpose),
            e.actor,
        )
        for e in access.events
    ]
    out.print(
        table(f"Access to customer {access.customer_id}", ("time", "what", "staff", "purpose (basis)", "by"), rows)
    )
    readers = [
        (r.address, "you" if r.why == "wallet" else "manager (reads every customer)" if r.why == "manager" else
         f"grant for {purpose_text(r.purpose)}")
        for r in access.readers_now
    ]  # fmt: skip
    if readers:
        out.print(table("Who can read your data now", ("reader", "why"), readers))
    can = ", ".join(f"{g.staff} ({purpose_text(g.purpose)})" for g in access.active)
    out.print(f"Can read now: {can or 'nobody on staff'}")
    out.print(f"Could read before: {', '.join(access.former) or 'nobody'}")
    out.print(f"Profile sealed for: {', '.join(access.readers) or 'nobody (erased)'}")


def print_consents(out: Console, consents: Consents) -> None:
    out.print(
        f"Customer {consents.customer_id} consents to: {', '.join(enum_name(p) for p in consents.given) or 'nothing'}"
    )
    states = [
        (enum_name(s.purpose), "given" if s.given else "not given", when(s.since) or "never asked")
        for s in consents.states
    ]
    if states:
        out.print(table(f"Consents of customer {consents.customer_id}", ("purpose", "now", "since"), states))
    rows = [
        (when(c.at), enum_name(c.purpose), "given" if c.granted else "withdrawn", c.relayer or "")
        for c in consents.changes
    ]
    if rows:
        out.print(
            table(f"Consent changes of customer {consents.customer_id}", ("time", "purpose", "what", "sent by"), rows)
        )


# ------------------------------------------------------------------ commands


def _view(app: App, keystore: str | None) -> CustomerView:
    owner = app.signer(keystore)
    view = CustomerView(app.crm, app.store, owner.account)
    view.customer_ids()  # a wallet without a record (or only proposed) stops here with one line
    return view


def customer_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--customer", "customer_id", type=ID, help="Only this one of your customer records [default: all of them]."
    )(func)


@click.group(
    name="me",
    help="Your own records, read with your keystore: profile, notes, deals, invoices and refunds, access and "
    "consent. Only a wallet that accepted its binding sees anything.",
)
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


@me_group.command(help="Every interaction logged with you: kind, time, author, outcome, note and attachments.")
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


@me_group.command(help="Your deals, their stages, documents and invoices, and every stage change.")
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


@me_group.command(help="Your invoices and what happened to them: payments, disputes, releases, refunds.")
@customer_option
@keystore_option
@json_option
@pass_app
def invoices(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    from chaincrm.cli.tokens import tokens_of

    view = _view(app, keystore)
    tokens = tokens_of(app.crm)
    found = {i: view.invoices(i) for i in view.selected(customer_id)}
    emit(
        [invoice_json(h, tokens.info(h.invoice.currency)) for records in found.values() for h in records],
        as_json,
        for_each(found.items(), lambda out, pair: print_invoices(out, *pair, tokens)),
    )


@me_group.command(help="Your loyalty points: what you hold, and every award, redemption and restoration.")
@keystore_option
@json_option
@pass_app
def points(app: App, keystore: str | None, as_json: bool) -> None:
    from chaincrm.cli.loyalty import points_fields

    view = _view(app, keystore)
    fields = points_fields(app, view.wallet)
    emit(fields, as_json, lambda out: print_points(out, fields))


def print_points(out: Console, fields: dict[str, Any]) -> None:
    out.print(f"Loyalty points: {fields['points']}", markup=False)
    rows = [(e["block_number"], e["invoice_id"], e["kind"], e["points"]) for e in fields["history"]]
    if rows:
        out.print(table("Points", ("block", "invoice", "what", "points"), rows))


@me_group.command(help="Refunds credited to you and not withdrawn yet, and every withdrawal.")
@customer_option
@keystore_option
@json_option
@pass_app
def refunds(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = {i: view.refunds(i) for i in view.selected(customer_id)}
    emit(
        [refund_json(a) | {"customer_id": i} for i, accounts in found.items() for a in accounts],
        as_json,
        for_each(found.items(), lambda out, pair: print_refunds(out, *pair)),
    )


@me_group.command(
    help="Who can read your data now and why, who could before, and every grant and revocation with its purpose "
    "and lawful basis (contract, legal obligation, consent)."
)
@customer_option
@keystore_option
@json_option
@pass_app
def access(app: App, customer_id: int | None, keystore: str | None, as_json: bool) -> None:
    view = _view(app, keystore)
    found = [view.access(i) for i in view.selected(customer_id)]
    emit([access_json(a) for a in found], as_json, for_each(found, print_access))


@me_group.command(help="Each purpose that needs your consent, given or not, and every change.")
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
    from chaincrm.cli.loyalty import points_fields
    from chaincrm.cli.tokens import tokens_of

    view = _view(app, keystore)
    tokens = tokens_of(app.crm)
    found = [view.everything(i) for i in view.selected(customer_id)]
    held = points_fields(app, view.wallet)
    data = {
        "wallet": view.wallet,
        "points": held,
        "customers": [
            {
                "customer_id": records.profile.customer.id,
                "profile": profile_json(records.profile),
                "interactions": [interaction_json(i) for i in records.interactions],
                "deals": [deal_json(d) for d in records.deals],
                "invoices": [invoice_json(h, tokens.info(h.invoice.currency)) for h in records.invoices],
                "refunds": [refund_json(a) for a in records.refunds],
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
            print_invoices(out, customer_id, records.invoices, tokens)
            print_refunds(out, customer_id, records.refunds)
            print_access(out, records.access)
            print_consents(out, records.consents)
        print_points(out, held)

    emit(data, as_json, human)
