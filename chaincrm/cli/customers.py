"""`chaincrm customer ...`: encrypted profiles, wallets, access, consent and erasure (trust model v2).

Profiles are sealed before they leave this process; only hashes reach the chain. The readers of a
profile are computed by the registry (the accepted wallet, the managers, staff with an active
grant), and every version records the hash of the readers it was sealed for. When the chain's
readers change without a new version (a wallet accepted, a role or a consent withdrawn), the
current version is *stale* and a reader re-seals it (`customer reseal`).

This module holds the group and the profile itself (`add`, `show`, `list`, `update`, `timeline`);
who may read it and its erasure are in `customer_access`, the customer's wallet and consent in
`customer_wallets`.

Every command that changes something asks the contract first (the SDK dry-runs the call), so a
caller without the right role or access changes nothing, on the chain or on IPFS.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from chaincrm.cli.context import (
    ADDRESS,
    ID,
    App,
    F,
    enum_name,
    index_source_options,
    json_option,
    keystore_option,
    pass_app,
)
from chaincrm.cli.customer_access import ACCESS_COMMANDS
from chaincrm.cli.customer_refs import PURPOSE, accept_wallet_command, print_ref, ref_fields, ref_line
from chaincrm.cli.customer_wallets import WALLET_COMMANDS
from chaincrm.cli.files import read_json_object
from chaincrm.cli.output import emit, emit_line, facts, hex32, purpose_with_basis, table, tracked, when, working
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.models import CONSENT_PURPOSES, Customer, CustomerStatus, Purpose
from chaincrm.privacy import CustomerProfile

PROFILE_FIELDS = tuple(field.name for field in dataclasses.fields(CustomerProfile))


def profile_options(func: F) -> F:
    """--name --email --phone --address --notes and --from-json FILE (options win over the file)."""
    func = click.option(
        "--from-json",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"A JSON object with any of the fields {', '.join(PROFILE_FIELDS)}.",
    )(func)
    for name in reversed(PROFILE_FIELDS):
        func = click.option(f"--{name}", help=f"The customer's {name}.")(func)
    return func


def profile_fields(from_json: Path | None, options: dict[str, str | None]) -> dict[str, str]:
    fields: dict[str, Any] = read_json_object(from_json, "profile file") if from_json else {}
    unknown = sorted(set(fields) - set(PROFILE_FIELDS))
    if unknown:
        raise ConfigError(f"profile file {from_json} has unknown fields: {', '.join(unknown)}")
    fields.update({name: value for name, value in options.items() if value is not None})
    return fields


@click.group(
    name="customer",
    help="Customers: encrypted profiles on IPFS, hashes on the chain, wallets that accept, access and consent.",
)
def customer() -> None:
    pass


for command in (*ACCESS_COMMANDS, *WALLET_COMMANDS):  # defined beside their helpers, one job per module
    customer.add_command(command)

# ------------------------------------------------------------------ profile


@customer.command(
    help="Register a customer (an agent), the profile sealed for you and the managers. --wallet only PROPOSES "
    "the customer's wallet: it reads, consents and grants once it accepts (`customer accept-wallet`, or "
    "`customer sign-wallet-acceptance` for staff to relay)."
)
@profile_options
@click.option(
    "--wallet",
    type=ADDRESS,
    help="The customer's own wallet, proposed: it has no power until it accepts. Never a staff account.",
)
@click.option(
    "--purpose",
    type=PURPOSE,
    default="sales",
    show_default=True,
    help="Why you hold the data (a purpose that needs no consent).",
)
@keystore_option
@json_option
@pass_app
def add(
    app: App,
    from_json: Path | None,
    wallet: str | None,
    purpose: Purpose,
    keystore: str | None,
    as_json: bool,
    **options: str | None,
) -> None:
    fields = profile_fields(from_json, options)
    if "name" not in fields:
        raise ConfigError('a customer needs a name: --name, or "name" in --from-json')
    profile = CustomerProfile(**fields)
    agent = app.signer(keystore)
    with working("Sealing the profile and registering the customer"):
        ref = app.customers.add(profile, wallet=wallet, purpose=purpose, agent=agent.account)
    line = ref_line("added", ref)
    if wallet:
        line += (
            f"; wallet {wallet} PROPOSED, not bound: a manager approves it (`chaincrm customer approve-wallet "
            f"{ref.customer_id} {wallet}`), then it accepts with {accept_wallet_command(ref.customer_id, wallet)} "
            f"(or signs `customer sign-wallet-acceptance` for staff to relay)"
        )
    emit_line(ref_fields(ref) | {"proposed_wallet": wallet}, as_json, line)


@customer.command(
    help="A customer's public on-chain record (wallet, pending wallet, profile versions, readers, grants, "
    "consents) and, when --keystore can read it, the decrypted profile. A keystore that cannot read it still "
    "gets the public record, with the reason."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--version", "version", type=ID, help="An earlier profile version [default: the latest].")
@keystore_option
@json_option
@pass_app
def show(app: App, customer_id: int, version: int | None, keystore: str | None, as_json: bool) -> None:
    crm = app.crm
    record = crm.registry.customer(customer_id)
    if version is not None and not 1 <= version <= record.profile_version:
        raise ConfigError(f"customer {customer_id} has profile versions 1 to {record.profile_version}")
    public = _public_record(app, record)
    profile: CustomerProfile | None = None
    problem: str | None = None
    if record.status is not CustomerStatus.ACTIVE:
        problem = "erased: its data keys no longer exist"
    elif not keystore:
        problem = "not decrypted: pass --keystore with a reader's keystore"
    else:
        reader = app.signer(keystore)
        try:
            profile = app.customers.read(customer_id, reader.account, version)
        except PrivacyError as exc:
            problem = f"not readable by {reader.address} ({exc})"
    fields = public | {
        "profile": dataclasses.asdict(profile) if profile else None,
        "profile_problem": problem,
    }

    def human(out: Console) -> None:
        rows: dict[str, Any] = (
            {name: getattr(profile, name) for name in PROFILE_FIELDS} if profile else {"profile": problem}
        )
        current = public["profile_version"]
        rows |= {
            "status": public["status"],
            "wallet": public["wallet"] or "none",
            "pending wallet": public["pending_wallet"] or "none",
            "registered": when(record.registered_at),
            "profile version": f"{current} (stale: run `chaincrm customer reseal {customer_id}`)"
            if public["stale"]
            else current,
            "readers (chain)": ", ".join(public["readers"]) or "none",
            "consent": ", ".join(name for name, given in public["consent"].items() if given) or "none",
        }
        out.print(facts(f"Customer {customer_id}", rows))
        grants = [
            (g["staff"], g["purpose_with_basis"], "active" if g["active"] else "inactive", when(g["since"]))
            for g in public["grants"]
        ]
        out.print(table("Grants", ("staff", "purpose (basis)", "state", "since"), grants))
        versions = [(v["version"], v["cid"], v["readers_hash"][:18] + "…") for v in public["versions"]]
        out.print(table("Profile versions", ("version", "document", "readers hash"), versions))

    emit(fields, as_json, human)


def _public_record(app: App, record: Customer) -> dict[str, Any]:
    """What the chain says about a customer, readable by anyone: no keystore needed."""
    from chaincrm.storage import digest_to_cid

    crm = app.crm
    registry = crm.registry
    customer_id = record.id
    versions = [registry.profile(customer_id, number) for number in range(1, record.profile_version + 1)]
    active = record.status is CustomerStatus.ACTIVE
    readers = list(registry.readers_of(customer_id)) if active else []
    stale = bool(active and versions and versions[-1].readers_hash != registry.readers_hash_of(customer_id))
    grants = registry.grants_of(customer_id, from_block=crm.deployment.block_number)
    return {
        "customer_id": customer_id,
        "status": enum_name(record.status),
        "wallet": record.wallet,
        "pending_wallet": record.pending_wallet,
        "registered_at": record.registered_at,
        "profile_version": record.profile_version,
        "stale": stale,
        "readers": readers,
        "versions": [
            {
                "version": v.version,
                "content_hash": hex32(v.content_hash),
                "cid": str(digest_to_cid(v.cid_digest)),
                "readers_hash": hex32(v.readers_hash),
            }
            for v in versions
        ],
        "grants": [
            {
                "staff": grant.staff,
                "purpose": enum_name(grant.purpose) if grant.purpose else None,
                "purpose_with_basis": purpose_with_basis(grant.purpose) if grant.purpose else "",
                "active": grant.active,
                "since": grant.since,
            }
            for grant in grants
        ],
        "consent": {enum_name(purpose): record.consents_to(purpose) for purpose in CONSENT_PURPOSES},
    }


@customer.command(name="list", help="Every customer's public record: status, wallet, pending wallet, version, stale.")
@click.option("--stale", "only_stale", is_flag=True, help="Only customers whose current version needs a re-seal.")
@json_option
@pass_app
def list_customers(app: App, only_stale: bool, as_json: bool) -> None:
    registry = app.crm.registry
    rows: list[dict[str, Any]] = []
    for customer_id in tracked(range(1, registry.customer_count() + 1), "Reading customers"):
        record = registry.customer(customer_id)
        stale = record.status is CustomerStatus.ACTIVE and app.customers.is_stale(customer_id)
        if only_stale and not stale:
            continue
        rows.append(
            {
                "customer_id": customer_id,
                "status": enum_name(record.status),
                "wallet": record.wallet,
                "pending_wallet": record.pending_wallet,
                "profile_version": record.profile_version,
                "stale": stale,
                "consent": [enum_name(purpose) for purpose in record.consents],
                "registered_at": record.registered_at,
            }
        )

    def human(out: Console) -> None:
        shown = [
            (
                r["customer_id"],
                r["status"],
                r["wallet"],
                r["pending_wallet"],
                r["profile_version"],
                "yes" if r["stale"] else "",
                ", ".join(r["consent"]),
                when(r["registered_at"]),
            )
            for r in rows
        ]
        columns = ("customer", "status", "wallet", "pending wallet", "version", "stale", "consent", "registered")
        out.print(table("Customers", columns, shown))

    emit(rows, as_json, human)


@customer.command(help="Change profile fields (the others are kept): a new version for the chain's readers.")
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@profile_options
@keystore_option
@json_option
@pass_app
def update(
    app: App, customer_id: int, from_json: Path | None, keystore: str | None, as_json: bool, **options: str | None
) -> None:
    changes = profile_fields(from_json, options)
    if not changes:
        raise ConfigError("nothing to update: give --name, --email, --phone, --address, --notes or --from-json")
    editor = app.signer(keystore)
    data = app.customers
    try:
        current = data.read(customer_id, editor.account)
    except PrivacyError as exc:
        raise PrivacyError(f"{editor.address} cannot read customer {customer_id}'s profile ({exc})") from None
    profile = dataclasses.replace(current, **changes)
    with working("Sealing the new profile version"):
        ref = data.update(customer_id, profile, editor.account)
    print_ref("updated", ref, as_json)


@customer.command(
    help="Everything the chain recorded about a customer, oldest first: from the event index when one follows "
    "this deployment, else from the chain."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@index_source_options
@json_option
@pass_app
def timeline(app: App, customer_id: int, database: str | None, from_chain: bool, as_json: bool) -> None:
    from chaincrm.batches.chain_records import batch_document_store
    from chaincrm.index.reads import read_timeline

    with batch_document_store(app.settings.ipfs_api) as batches:  # anchored batches, when read from the chain
        read = read_timeline(
            app.crm, customer_id, database=database, home=app.settings.home, from_chain=from_chain, store=batches
        )
    source = {"source": read.source, "as_of_block": read.as_of_block}
    rows = [dataclasses.asdict(entry) | source for entry in read.entries]

    def human(out: Console) -> None:
        out.print(
            table(
                f"Customer {customer_id}",
                ("time", "block", "what", "detail", "by"),
                [(when(e.at), e.block_number, e.what, e.detail, e.actor) for e in read.entries],
            )
        )
        why = f" ({read.why_chain})" if read.why_chain else ""
        out.print(f"Read from the {read.source} up to block {read.as_of_block}{why}", markup=False)

    emit(rows, as_json, human)
