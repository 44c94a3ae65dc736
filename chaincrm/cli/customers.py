"""`chaincrm customer ...`: encrypted profiles, access, consent and erasure.

Profiles are sealed before they leave this process; only hashes reach the chain. Every command
that changes something asks the contract first (the SDK dry-runs the call), so a caller without
the right role or access changes nothing, on the chain or on IPFS.
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
    EnumChoice,
    F,
    enum_name,
    json_option,
    keystore_option,
    pass_app,
)
from chaincrm.cli.files import read_json_object
from chaincrm.cli.output import customer_fields, emit, emit_line, facts, hex32, table, when, working
from chaincrm.customers import ProfileRef
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.keys import LocalSigner
from chaincrm.models import CustomerStatus, Purpose
from chaincrm.privacy import CustomerProfile, EncryptedDocument, open_profile
from chaincrm.queries import customer_timeline

PROFILE_FIELDS = tuple(field.name for field in dataclasses.fields(CustomerProfile))
PURPOSE = EnumChoice(Purpose)


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


def ref_fields(ref: ProfileRef) -> dict[str, Any]:
    return {
        "customer_id": ref.customer_id,
        "profile_version": ref.version,
        "cid": ref.cid,
        "readers": list(ref.readers),
    }


def _print_ref(verb: str, ref: ProfileRef, as_json: bool) -> None:
    line = (
        f"Customer {ref.customer_id} {verb}: profile version {ref.version}, document {ref.cid}, "
        f"readable by {', '.join(ref.readers)}"
    )
    emit_line(ref_fields(ref), as_json, line)


def _read_as(
    app: App, customer_id: int, reader: LocalSigner, version: int | None = None
) -> tuple[CustomerProfile, tuple[str, ...]]:
    """The profile (as `reader` decrypts it) and who can read that version."""
    data = app.customers
    version, document = data.document(customer_id, version)
    try:
        profile = open_profile(
            document,
            reader_address=reader.address,
            reader_private_key=reader.encryption_private_key,
            context=data.context(customer_id, version),
        )
    except PrivacyError as exc:
        raise PrivacyError(f"{reader.address} cannot read customer {customer_id}'s profile ({exc})") from None
    return profile, EncryptedDocument.from_bytes(document).readers


@click.group(name="customer", help="Customers: encrypted profiles on IPFS, hashes on the chain, access and consent.")
def customer() -> None:
    pass


@customer.command(
    help="Register a customer with a profile sealed for you (an agent) and, if they published a key, the customer."
)
@profile_options
@click.option(
    "--wallet", type=ADDRESS, help="The customer's own wallet: pays invoices, gives consent, can read the profile."
)
@click.option("--purpose", type=PURPOSE, default="sales", show_default=True, help="Why you hold the data.")
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
    _print_ref("added", ref, as_json)


@customer.command(help="Decrypt and print a customer's profile with your keystore, plus what the chain records.")
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--version", "version", type=ID, help="An earlier profile version [default: the latest].")
@keystore_option
@json_option
@pass_app
def show(app: App, customer_id: int, version: int | None, keystore: str | None, as_json: bool) -> None:
    registry = app.crm.registry
    record = registry.customer(customer_id)
    consent = {enum_name(purpose): registry.has_consent(customer_id, purpose) for purpose in Purpose}
    profile: CustomerProfile | None = None
    readers: tuple[str, ...] = ()
    if record.status is CustomerStatus.ACTIVE:
        profile, readers = _read_as(app, customer_id, app.signer(keystore), version)
    fields = customer_fields(record) | {
        "profile": dataclasses.asdict(profile) if profile else None,
        "readers": list(readers),
        "consent": consent,
    }

    def human(out: Console) -> None:
        rows: dict[str, Any] = {name: getattr(profile, name) for name in PROFILE_FIELDS} if profile else {}
        rows |= {
            "wallet": record.wallet or "none",
            "status": enum_name(record.status),
            "profile version": record.profile_version,
            "registered": when(record.registered_at),
            "readers": ", ".join(readers),
            "consent": ", ".join(name for name, given in consent.items() if given) or "none",
        }
        out.print(facts(f"Customer {customer_id}", rows))

    emit(fields, as_json, human)


@customer.command(help="Change profile fields (the others are kept): a new version for the same readers.")
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
    current, _ = _read_as(app, customer_id, editor)
    profile = dataclasses.replace(current, **changes)
    with working("Sealing the new profile version"):
        ref = app.customers.update(customer_id, profile, editor.account)
    _print_ref("updated", ref, as_json)


@customer.command(help="Let a staff member read the profile (a manager, or the customer's wallet).")
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.argument("staff", type=ADDRESS)
@click.option("--purpose", type=PURPOSE, default="sales", show_default=True, help="Why they may read it.")
@keystore_option
@json_option
@pass_app
def grant(app: App, customer_id: int, staff: str, purpose: Purpose, keystore: str | None, as_json: bool) -> None:
    granter = app.signer(keystore)
    with working("Sealing the profile for the new reader"):
        ref = app.customers.grant(customer_id, staff, purpose, granter.account)
    _print_ref(f"shared with {staff}", ref, as_json)


@customer.command(
    help="Take a staff member's access away and rotate the data key (a manager, or the customer's wallet)."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.argument("staff", type=ADDRESS)
@keystore_option
@json_option
@pass_app
def revoke(app: App, customer_id: int, staff: str, keystore: str | None, as_json: bool) -> None:
    revoker = app.signer(keystore)
    data = app.customers
    if staff not in data.readers(customer_id) and not app.crm.registry.access_of(customer_id, staff).active:
        raise ConfigError(f"{staff} has no access to customer {customer_id}")
    with working("Rotating the data key"):
        ref = data.revoke(customer_id, staff, revoker.account)
    _print_ref(f"no longer readable by {staff}", ref, as_json)


@customer.command(
    help="Erase a customer: destroy every copy of their data keys, record a receipt (a manager, or the customer)."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@keystore_option
@json_option
@pass_app
def erase(app: App, customer_id: int, yes: bool, keystore: str | None, as_json: bool) -> None:
    actor = app.signer(keystore)
    if not yes:
        click.confirm(f"Erase customer {customer_id}? Their profile can never be read again", abort=True, err=True)
    with working(f"Erasing customer {customer_id}"):
        erased = app.customers.erase(customer_id, actor.account)
    fields = {
        "customer_id": erased.customer_id,
        "receipt_cid": erased.receipt_cid,
        "receipt_hash": hex32(erased.receipt_hash),
        "unpinned": list(erased.unpinned),
        "tx_hash": erased.tx_hash,
    }
    line = (
        f"Customer {customer_id} erased: {len(erased.unpinned)} profile versions unpinned, "
        f"receipt {erased.receipt_cid} (keccak256 {fields['receipt_hash']}) recorded in {erased.tx_hash}"
    )
    emit_line(fields, as_json, line)


@customer.command(help="Give or withdraw consent for a purpose, from the customer's own wallet.")
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--purpose", type=PURPOSE, required=True, help="What the consent is for.")
@click.option("--withdraw", is_flag=True, help="Withdraw the consent instead of giving it.")
@keystore_option
@json_option
@pass_app
def consent(app: App, customer_id: int, purpose: Purpose, withdraw: bool, keystore: str | None, as_json: bool) -> None:
    wallet = app.signer(keystore)
    receipt = app.crm.registry.set_consent(customer_id, purpose, not withdraw, wallet.account)
    fields = {
        "customer_id": customer_id,
        "purpose": enum_name(purpose),
        "granted": not withdraw,
        "tx_hash": receipt["transactionHash"].to_0x_hex(),
        "block_number": int(receipt["blockNumber"]),
    }
    verb = "withdrew" if withdraw else "gave"
    emit_line(
        fields,
        as_json,
        f"Customer {customer_id} {verb} consent for {enum_name(purpose)} (block {fields['block_number']})",
    )


@customer.command(help="Everything the chain recorded about a customer, oldest first.")
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@json_option
@pass_app
def timeline(app: App, customer_id: int, as_json: bool) -> None:
    crm = app.crm
    entries = customer_timeline(crm, customer_id, from_block=crm.deployment.block_number)
    rows = [dataclasses.asdict(entry) for entry in entries]

    def human(out: Console) -> None:
        out.print(
            table(
                f"Customer {customer_id}",
                ("time", "block", "what", "detail", "by"),
                [(when(e.at), e.block_number, e.what, e.detail, e.actor) for e in entries],
            )
        )

    emit(rows, as_json, human)
