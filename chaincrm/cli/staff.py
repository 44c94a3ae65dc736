"""`chaincrm staff add|remove|key|show|list`: roles, and the encryption keys profiles are sealed to.

Readers are computed by the chain from roles: every manager with a published key reads every
customer, and staff with a grant read while they hold a staff role. Removing a role therefore
leaves the affected customers' current versions sealed for a reader who is gone (stale) until a
reader re-seals them, which `staff remove` does at once when its caller can read them.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from chaincrm.cli.context import ADDRESS, App, EnumChoice, enum_name, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, facts, table, tx_fields
from chaincrm.models import Role

GRANTABLE = EnumChoice(Role, exclude=(Role.ADMIN,))


@click.group(
    name="staff",
    help="Staff: roles (agent, manager, auditor) and published encryption keys. Managers with a key read "
    "every customer.",
)
def staff() -> None:
    pass


@staff.command(help="Give an account a staff role (an admin).")
@click.argument("address", type=ADDRESS)
@click.option("--role", type=GRANTABLE, required=True, help="The role to give.")
@keystore_option
@json_option
@pass_app
def add(app: App, address: str, role: Role, keystore: str | None, as_json: bool) -> None:
    admin = app.signer(keystore)
    registry = app.crm.registry
    fields: dict[str, object] = {"address": address, "role": enum_name(role)}
    if registry.has_role(role, address):
        emit_line(fields | {"changed": False}, as_json, f"{address} already has the {enum_name(role)} role")
        return
    receipt = registry.grant_role(role, address, admin.account)
    line = f"{address} now has the {enum_name(role)} role (block {receipt['blockNumber']})"
    emit_line(fields | {"changed": True} | tx_fields(receipt), as_json, line)


@staff.command(
    help="Take a staff role away (an admin), then re-seal every customer whose current version is now stale and "
    "that you can read; the others are listed for a manager's `chaincrm customer reseal --all-stale`."
)
@click.argument("address", type=ADDRESS)
@click.option("--role", type=GRANTABLE, required=True, help="The role to take away.")
@keystore_option
@json_option
@pass_app
def remove(app: App, address: str, role: Role, keystore: str | None, as_json: bool) -> None:
    from chaincrm.cli.customer_access import reseal_stale
    from chaincrm.cli.customer_refs import ref_fields

    admin = app.signer(keystore)
    registry = app.crm.registry
    fields: dict[str, Any] = {"address": address, "role": enum_name(role)}
    if not registry.has_role(role, address):
        emit_line(fields | {"changed": False}, as_json, f"{address} does not have the {enum_name(role)} role")
        return
    receipt = registry.revoke_role(role, address, admin.account)
    outcome = reseal_stale(app, admin.account)
    fields |= {
        "changed": True,
        "resealed": [ref_fields(ref) for ref in outcome.resealed],
        "needs_reseal": outcome.unreadable,
    } | tx_fields(receipt)
    line = f"{address} no longer has the {enum_name(role)} role (block {receipt['blockNumber']}). "
    emit_line(fields, as_json, line + outcome.line(admin.address))


@click.command(
    name="key", help="Publish your encryption key (your account's public key) so profiles can be sealed to you."
)
@keystore_option
@json_option
@pass_app
def publish_key(app: App, keystore: str | None, as_json: bool) -> None:
    signer = app.signer(keystore)
    registry = app.crm.registry
    fields: dict[str, object] = {"address": signer.address, "public_key": "0x" + signer.public_key64.hex()}
    if registry.encryption_key_of(signer.address) == signer.public_key64:
        emit_line(fields | {"changed": False}, as_json, f"The encryption key of {signer.address} is already published")
        return
    receipt = registry.register_encryption_key(signer.public_key64, signer.account)
    line = f"Published the encryption key of {signer.address} (block {receipt['blockNumber']})"
    emit_line(fields | {"changed": True} | tx_fields(receipt), as_json, line)


staff.add_command(publish_key)


@staff.command(help="An account's roles and whether it published an encryption key.")
@click.argument("address", type=ADDRESS)
@json_option
@pass_app
def show(app: App, address: str, as_json: bool) -> None:
    registry = app.crm.registry
    roles = [enum_name(role) for role in registry.roles_of(address)]
    key = registry.encryption_key_of(address)
    fields = {"address": address, "roles": roles, "public_key": "0x" + key.hex() if key else None}

    def human(out: Console) -> None:
        rows = {
            "address": address,
            "roles": ", ".join(roles) or "none",
            "encryption key": "published" if key else "not published",
        }
        out.print(facts("Staff member", rows))

    emit(fields, as_json, human)


@staff.command(
    name="list",
    help="Every account that holds a staff role now (found from the role events), its roles and key.",
)
@json_option
@pass_app
def list_staff(app: App, as_json: bool) -> None:
    crm = app.crm
    registry = crm.registry
    # The admin's role was granted in the registry's constructor, before the recorded block.
    accounts: dict[str, None] = {crm.chain.call(registry.contract.functions.defaultAdmin()): None}
    for log in crm.chain.logs.events(registry.contract.events.RoleGranted, from_block=crm.deployment.block_number):
        accounts[log["args"]["account"]] = None
    rows: list[dict[str, Any]] = []
    for address in accounts:
        roles = [enum_name(role) for role in registry.roles_of(address)]
        if roles:
            key = registry.encryption_key_of(address)
            rows.append({"address": address, "roles": roles, "public_key": "0x" + key.hex() if key else None})

    def human(out: Console) -> None:
        shown = [(r["address"], ", ".join(r["roles"]), "published" if r["public_key"] else "none") for r in rows]
        out.print(table("Staff", ("address", "roles", "encryption key"), shown))

    emit(rows, as_json, human)
