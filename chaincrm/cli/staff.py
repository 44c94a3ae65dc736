"""`chaincrm staff add|key|show`: roles, and the encryption keys profiles are sealed to."""

from __future__ import annotations

import click
from rich.console import Console

from chaincrm.cli.context import ADDRESS, App, EnumChoice, enum_name, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, facts, tx_fields
from chaincrm.models import Role

GRANTABLE = EnumChoice(Role, exclude=(Role.ADMIN, Role.INVOICE_ISSUER))


@click.group(name="staff", help="Staff: roles (agent, manager, auditor) and published encryption keys.")
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
