"""`chaincrm key new|list|publish`: encrypted keystores in <home>/keystores.

Private keys never pass through argv: a new key is generated here, and `--dev-account N` takes
one of Anvil's public test keys (for local chains only; everybody knows them).
"""

from __future__ import annotations

import json
import os
import sys

import click
from eth_utils import is_hex_address, to_checksum_address
from rich.console import Console

from chaincrm.chain.keystores import DEFAULT_PASSWORD_ENV, create_keystore
from chaincrm.cli.context import App, json_option, pass_app
from chaincrm.cli.output import emit, emit_line, table
from chaincrm.cli.staff import publish_key
from chaincrm.errors import KeystoreError
from chaincrm.services.anvil import dev_private_keys

DEV_ACCOUNTS = 10


@click.group(name="key", help="Keystores: encrypted keys in <home>/keystores, unlocked with a password.")
def key() -> None:
    pass


@key.command(help=f"Create an encrypted keystore; the password comes from {DEFAULT_PASSWORD_ENV} or is asked twice.")
@click.option(
    "--dev-account",
    type=click.IntRange(0, DEV_ACCOUNTS - 1),
    help="Use Anvil's public test account N instead of a new key (local chains only: the key is public).",
)
@click.option("--scrypt-n", type=click.IntRange(min=2), hidden=True, help="scrypt cost (tests only).")
@json_option
@pass_app
def new(app: App, dev_account: int | None, scrypt_n: int | None, as_json: bool) -> None:
    password = os.environ.get(DEFAULT_PASSWORD_ENV)
    if password is None:
        password = _new_password()
    private_key = None if dev_account is None else dev_private_keys(dev_account + 1)[dev_account]
    path = create_keystore(app.settings.keystore_dir, password, private_key=private_key, scrypt_n=scrypt_n)
    address = path.stem
    emit_line({"address": address, "path": str(path)}, as_json, f"Created keystore {path} for {address}")


def _new_password() -> str:
    """Asked twice on a terminal; otherwise read as two lines from stdin (a pipe), and no input at
    all is one line of error rather than a prompt that cannot be answered."""
    stdin = sys.stdin
    if stdin.isatty():
        return str(click.prompt("Password for the new keystore", hide_input=True, confirmation_prompt=True, err=True))
    lines = [stdin.readline() for _ in range(2)]
    if not lines[0]:
        raise KeystoreError(
            f"no password for the new keystore: set {DEFAULT_PASSWORD_ENV}, run on a terminal to be asked, "
            "or pipe it in twice (two lines)"
        )
    password, again = (line.rstrip("\r\n") for line in lines)
    if password != again:
        raise KeystoreError("the two passwords read from stdin differ")
    return password


@key.command(name="list", help="The keystores in <home>/keystores.")
@json_option
@pass_app
def list_keys(app: App, as_json: bool) -> None:
    folder = app.settings.keystore_dir
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            recorded = str(json.loads(path.read_text()).get("address", ""))
        except (OSError, ValueError, AttributeError):
            continue  # not a keystore
        address = recorded if recorded.startswith("0x") else "0x" + recorded  # eth-account omits the 0x
        if is_hex_address(address):
            found.append({"address": to_checksum_address(address), "path": str(path)})

    def human(out: Console) -> None:
        out.print(table(f"Keystores in {folder}", ("address", "file"), [(k["address"], k["path"]) for k in found]))

    emit(found, as_json, human)


key.add_command(publish_key, name="publish")
