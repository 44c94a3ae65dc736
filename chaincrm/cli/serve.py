"""`chaincrm serve`: the customer portal on uvicorn, the index following the chain beside it."""

from __future__ import annotations

import logging
import socket

import click

from chaincrm.cli.context import DATABASE_ENV, App, pass_app
from chaincrm.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
PUBLIC_URL_ENV = "CHAINCRM_PUBLIC_URL"
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


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
@pass_app
def serve_command(
    app: App,
    host: str,
    port: int,
    public_url: str | None,
    database: str | None,
    relayer_keystore: str | None,
    no_follow: bool,
) -> None:
    import uvicorn

    from chaincrm.portal import PortalConfig, create_app

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
    )
    listener = _listen(host, port)
    web = create_app(config)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    click.echo(f"Serving the customer portal at {config.origin} (listening on {host}:{port})")
    click.echo(f"Payment pages: {config.origin}/pay/<invoice id>; the customer's area: {config.origin}/me")
    click.echo("Relayer: " + (relayer.address if relayer else "none (changes are sent from the customer's wallet)"))
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
