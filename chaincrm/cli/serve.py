"""`chaincrm serve`: the customer portal on uvicorn, the index following the chain beside it."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from chaincrm.api.database import INTEGRATION_DATABASE_ENV
from chaincrm.cli.context import DATABASE_ENV, KEYSTORE_ENV, App, check_database_folder, pass_app
from chaincrm.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
PUBLIC_URL_ENV = "CHAINCRM_PUBLIC_URL"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
STAFF_TOKEN_BYTES = 32  # the staff console's access token, printed in its URL

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


@click.command(
    name="serve",
    help="Serve the customer portal: a payment page per invoice (/pay/ID) for the payer's browser wallet, and "
    "the customer's own area (/me, Sign-In with Ethereum) where consent is changed and grants revoked by a "
    "signature the portal's relayer sends. The index follows the chain while it runs. Loopback only unless "
    "--host says otherwise; Ctrl-C stops it.",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True, help="Port.")
@click.option(
    "--public-url",
    envvar=PUBLIC_URL_ENV,
    metavar="URL",
    help=f"The URL customers reach the portal at, for links and the sign-in domain; https makes the session "
    f"cookie Secure [env {PUBLIC_URL_ENV}; default http://HOST:PORT].",
)
@click.option(
    "--database",
    envvar=DATABASE_ENV,
    metavar="URL|PATH",
    help=f"The index: SQLite file or SQLAlchemy URL [env {DATABASE_ENV}; default <home>/index.sqlite].",
)
@click.option(
    "--relayer-keystore",
    metavar="ADDRESS|PATH",
    help="Keystore of the account that sends customers' signed changes (pays their gas); its password comes "
    "from CHAINCRM_PASSWORD or a prompt. Without it, changes are sent from the customer's own wallet only.",
)
@click.option("--no-follow", is_flag=True, help="Do not run the indexer: serve the index as it is.")
@click.option(
    "--signer",
    "signers",
    multiple=True,
    metavar="ADDRESS|PATH",
    help="A staff keystore to unlock for REST API writes by that staff member's API keys (repeatable); each "
    "password from CHAINCRM_PASSWORD or a prompt. The server holds these keys unlocked while it runs.",
)
@click.option(
    "--integration-database",
    envvar=INTEGRATION_DATABASE_ENV,
    metavar="URL|PATH",
    help=f"API keys and idempotency records: SQLite file or SQLAlchemy URL [env {INTEGRATION_DATABASE_ENV}; "
    "default <home>/integration.sqlite].",
)
@click.option("--no-webhooks", is_flag=True, help="Do not send webhooks (`chaincrm webhook`) from this server.")
@click.option(
    "--webhook-confirmations",
    type=click.IntRange(0, 1000),
    default=2,
    show_default=True,
    help="Blocks an event must be under the head before its webhooks are sent.",
)
@click.option(
    "--staff",
    is_flag=True,
    help="Also serve the staff console at /staff (the pipeline board, customers, invoices, the report) for the "
    "staff member whose --keystore is unlocked at start; loopback only; the URL to open, with its access "
    "token, is printed.",
)
@click.option(
    "--keystore",
    envvar=KEYSTORE_ENV,
    metavar="ADDRESS|PATH",
    help=f"With --staff: the staff member's keystore, which signs the board's moves [env {KEYSTORE_ENV}]; its "
    "password from CHAINCRM_PASSWORD or a prompt.",
)
@pass_app
def serve_command(
    app: App,
    host: str,
    port: int,
    public_url: str | None,
    database: str | None,
    relayer_keystore: str | None,
    no_follow: bool,
    signers: tuple[str, ...],
    integration_database: str | None,
    no_webhooks: bool,
    webhook_confirmations: int,
    staff: bool,
    keystore: str | None,
) -> None:
    import uvicorn

    from chaincrm.portal import PortalConfig, create_app

    check_database_folder(integration_database, "--integration-database")
    staff_account, staff_token = _staff_console(app, host, staff, keystore)
    if public_url is None and host in WILDCARD_HOSTS:
        raise ConfigError(
            f"--public-url is needed with --host {host}: links and the sign-in domain must name the address "
            "customers reach the portal at"
        )
    relayer = app.signer(relayer_keystore).account if relayer_keystore else None
    config = PortalConfig(
        settings=app.settings,
        database=database,
        public_url=public_url or f"http://{_url_host(host)}:{port}",
        relayer=relayer,
        follow=not no_follow,
        staff=staff_account,
        staff_token=staff_token,
        signers=tuple(app.signer(signer).account for signer in signers),
        integration_database=integration_database,
        webhooks=not no_webhooks,
        webhook_confirmations=webhook_confirmations,
    )
    listener = _listen(host, port)
    web = create_app(config)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    click.echo(f"Serving the customer portal at {config.origin} (listening on {host}:{port})")
    click.echo(f"Payment pages: {config.origin}/pay/<invoice id>; the customer's area: {config.origin}/me")
    click.echo(f"REST API: {config.origin}/api/v1 (docs: {config.origin}/api/v1/docs)")
    click.echo("API writes signed by: " + (", ".join(a.address for a in config.signers) or "none (read-only)"))
    click.echo("Relayer: " + (relayer.address if relayer else "none (changes are sent from the customer's wallet)"))
    if staff_account is not None:
        click.echo(f"Staff console: http://{_url_host(host)}:{port}/staff/?token={staff_token}")
    click.echo(f"Webhooks: {f'sent {webhook_confirmations} blocks deep' if config.webhooks else 'off'}")
    server = uvicorn.Server(
        uvicorn.Config(
            web,
            log_level="warning",
            access_log=False,  # client addresses stay out of the logs
            proxy_headers=False,  # no proxy in front: X-Forwarded-For would let a client pick its rate-limit key
            server_header=False,
        )
    )
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass  # uvicorn shut down cleanly, then re-raised Ctrl-C
    finally:
        listener.close()
    click.echo("Stopped.")


def _staff_console(app: App, host: str, staff: bool, keystore: str | None) -> tuple[LocalAccount | None, str | None]:
    """The staff member's unlocked account and the console's access token, with --staff."""
    if not staff:
        source = click.get_current_context().get_parameter_source("keystore")
        if keystore and source is ParameterSource.COMMANDLINE:
            raise ConfigError("--keystore names the staff console's keystore: it needs --staff")
        return None, None
    if not _is_loopback(host):
        raise ConfigError(
            f"--staff serves on loopback only (127.0.0.1, ::1, localhost), not --host {host}: reach it through an "
            "SSH tunnel"
        )
    return app.signer(keystore).account, secrets.token_urlsafe(STAFF_TOKEN_BYTES)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> socket.socket:
    """Bind now, so that a port in use is one line before anything starts."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener
