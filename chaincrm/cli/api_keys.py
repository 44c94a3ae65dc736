"""`chaincrm api-key create|list|revoke`: keys for the REST API (`chaincrm serve`, /api/v1).

A key is bound to one staff address. It reads anything the API serves; unless created
--read-only, it also writes what that staff member's role allows on-chain, signed by the staff
member's keystore, which `chaincrm serve --signer ADDRESS` unlocks. The key is printed once and
stored hashed (SHA-256: it is 32 random bytes, nothing to guess), so a lost key is revoked and
replaced, never shown again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from chaincrm.cli.context import ADDRESS, App, check_database_folder, integration_database_option, json_option, pass_app
from chaincrm.cli.output import emit, emit_line, table, when

if TYPE_CHECKING:
    from chaincrm.api.keys import ApiKey, ApiKeys


database_option = integration_database_option("keys")


def _keys(app: App, database: str | None) -> ApiKeys:
    from chaincrm.api.database import open_integration
    from chaincrm.api.keys import ApiKeys, metadata

    check_database_folder(database, "--integration-database")
    return ApiKeys(open_integration(database, app.settings.home, metadata))


def key_fields(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "staff": key.staff,
        "read_only": key.read_only,
        "hint": key.hint,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


@click.group(name="api-key", help="API keys for the REST API of `chaincrm serve`: bound to a staff address, hashed.")
def api_key() -> None:
    pass


@api_key.command(
    name="create",
    help="Create a key for a staff address and print it ONCE (only its hash is kept). Without --read-only the "
    "key also writes, within the staff member's role on-chain, when `chaincrm serve --signer ADDRESS` unlocked "
    "that staff member's keystore.",
)
@click.option("--staff", type=ADDRESS, required=True, help="The staff address the key acts for.")
@click.option("--read-only", is_flag=True, help="The key may only read.")
@click.option("--name", default="", help="A label to recognise the key by (e.g. the system that uses it).")
@database_option
@json_option
@pass_app
def create(app: App, staff: str, read_only: bool, name: str, database: str | None, as_json: bool) -> None:
    record, key = _keys(app, database).create(staff, read_only=read_only, name=name)
    access = "read-only" if read_only else "read and write"
    line = (
        f"Created API key {record.id} ({access}) for {record.staff}:\n{key}\n"
        "Store it now: it is not shown again. Send it as `Authorization: Bearer <key>`."
    )
    emit_line(key_fields(record) | {"key": key}, as_json, line)


@api_key.command(name="list", help="List the keys: id, name, staff, access, hint (first characters), revocation.")
@database_option
@json_option
@pass_app
def list_keys(app: App, database: str | None, as_json: bool) -> None:
    found = _keys(app, database).all()

    def human(out: Any) -> None:
        rows = [
            (
                k.id,
                k.name,
                k.staff,
                "read-only" if k.read_only else "read-write",
                k.hint + "…",
                when(k.created_at),
                when(k.revoked_at) or "",
            )
            for k in found
        ]
        out.print(table("API keys", ["id", "name", "staff", "access", "key", "created", "revoked"], rows))

    emit([key_fields(key) for key in found], as_json, human)


@api_key.command(name="revoke", help="Revoke a key by its id: requests with it are refused from now on.")
@click.argument("key_id", metavar="ID", type=click.IntRange(min=1, max=2**63 - 1))
@database_option
@json_option
@pass_app
def revoke(app: App, key_id: int, database: str | None, as_json: bool) -> None:
    record = _keys(app, database).revoke(key_id)
    emit_line(key_fields(record), as_json, f"Revoked API key {record.id} of {record.staff}.")


__all__ = ["api_key"]
