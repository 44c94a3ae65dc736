"""The `chaincrm` command: a thin layer over the SDK. Only `main` turns errors into one line.

Every failure prints ONE line on stderr and exits non-zero: `error: <message>` (exit 1; 2 for a
usage mistake; 130 for Ctrl-C), or `aborted: <what did not happen>` (exit 1) when a confirmation
is declined. With `--json` on the command line the line is a JSON object instead, still on
stderr (stdout carries only data):

    {"error": {"code": "revert", "message": "InvoiceAlreadyPaid(invoiceId=7)",
               "revert": {"name": "InvoiceAlreadyPaid", "args": {"invoiceId": "7"}}}}

`code` is one of usage, config, keystore, chain, transaction, revert, storage, integrity, privacy,
node, file, connection, aborted, interrupted; `revert` is present only for a contract revert, its
arguments as the exact strings the message shows (decimal numbers, 0x hex).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from chaincrm.errors import (
    ChainCrmError,
    ChainError,
    ConfigError,
    ContractRevert,
    IntegrityError,
    KeystoreError,
    NodeError,
    PrivacyError,
    StorageError,
    TransactionError,
)

_CODES: tuple[tuple[type[ChainCrmError], str], ...] = (
    (TransactionError, "transaction"),
    (ChainError, "chain"),
    (ContractRevert, "revert"),
    (IntegrityError, "integrity"),
    (StorageError, "storage"),
    (ConfigError, "config"),
    (KeystoreError, "keystore"),
    (PrivacyError, "privacy"),
    (NodeError, "node"),
)


class Declined(click.ClickException):
    """A confirmation the user declined: `aborted: <what did not happen>`, exit 1."""

    exit_code = 1


def main() -> None:
    from chaincrm.cli.commands import cli

    as_json = _json_requested(sys.argv[1:])
    try:
        cli.main(standalone_mode=False)
    except Declined as exc:
        _fail(as_json, "aborted", exc.format_message(), exc.exit_code, prefix="aborted")
    except click.exceptions.Abort:  # Ctrl-C or end of input at a prompt
        _fail(as_json, "interrupted", "interrupted at a prompt: nothing was done", 130, prefix="aborted")
    except click.UsageError as exc:
        # One line, like every other user mistake: click's own display adds a usage block.
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _fail(as_json, "usage", exc.format_message() + where, exc.exit_code)
    except click.ClickException as exc:
        _fail(as_json, "usage", exc.format_message(), exc.exit_code)
    except ContractRevert as exc:
        revert = {"name": exc.name, "args": {key: _shown(value) for key, value in exc.args_by_name.items()}}
        _fail(as_json, "revert", str(exc), 1, revert=revert)
    except ChainCrmError as exc:
        code = next((code for kind, code in _CODES if isinstance(exc, kind)), "error")
        _fail(as_json, code, str(exc), 1)
    except KeyboardInterrupt:
        _fail(as_json, "interrupted", "interrupted", 130)
    except Exception as exc:
        connection = _connection_problem(exc)
        if connection is not None:
            _fail(as_json, "connection", connection, 1)
        if isinstance(exc, OSError) and exc.filename is not None:
            _fail(as_json, "file", f"{exc.filename}: {exc.strerror or exc}", 1)
        raise  # a bug: its traceback is what a report needs


def _json_requested(argv: list[str]) -> bool:
    """`--json` anywhere among the options (before a `--`): errors are then JSON too."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def _fail(as_json: bool, code: str, message: str, exit_code: int, *, prefix: str = "error", revert: Any = None) -> None:
    if as_json:
        error: dict[str, Any] = {"code": code, "message": message}
        if revert is not None:
            error["revert"] = revert
        click.echo(json.dumps({"error": error}, sort_keys=True), err=True)
    else:
        click.echo(f"{prefix}: {message}", err=True)
    sys.exit(exit_code)


def _shown(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _connection_problem(exc: BaseException) -> str | None:
    """One line for a node (chain or IPFS) that stopped answering in the middle of a command: the
    SDK turns an unreachable node into a ChainError or StorageError, but a connection can drop
    inside a library call it does not wrap (web3's log filters, a websocket)."""
    kinds: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    if "requests" in sys.modules:
        import requests

        kinds += (requests.ConnectionError, requests.Timeout)
    if "web3" in sys.modules:
        from web3.exceptions import ProviderConnectionError, TimeExhausted

        kinds += (ProviderConnectionError, TimeExhausted)
    if not isinstance(exc, kinds):
        return None
    return (
        f"a node stopped answering in the middle of the command ({type(exc).__name__}); what was sent before "
        "stays on the chain: check with `chaincrm node status`, then run the command again"
    )
