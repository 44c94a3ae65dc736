"""The `chaincrm` command: a thin layer over the SDK. Only `main` turns errors into one line."""

from __future__ import annotations

import sys

import click

from chaincrm.errors import ChainCrmError


def main() -> None:
    from chaincrm.cli.commands import cli

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ChainCrmError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
