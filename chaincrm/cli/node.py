"""`chaincrm node up|down|status`: the local stack (`chaincrm deploy` is in chaincrm.cli.deploy), and
branch nodes: `node up --branch`, `node swarm-key new`, `node join`, `node peers`, `node replicate`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import asdict
from typing import Any

import click
from rich.console import Console

from chaincrm.cli.context import DATABASE_ENV, App, json_option, pass_app
from chaincrm.cli.output import emit, emit_line, table, working
from chaincrm.errors import ConfigError
from chaincrm.services import stack
from chaincrm.services.stack import ServiceState, StackState

PORT = click.IntRange(1, 65535)
REDIAL_TIMEOUT_SECONDS = 3.0


@click.group(
    name="node",
    help="The local stack: Anvil (chain state in <home>/state) and the IPFS node (repository in <home>/ipfs).",
)
def node() -> None:
    pass


@node.command(
    help="Start Anvil and the IPFS node in the background; what already runs is left alone. With --branch, "
    "start only the IPFS node, as a branch node of the organisation's private swarm (the chain branches "
    "share is not local: see docs/consortium)."
)
@click.option("--chain-port", type=PORT, help="Anvil's port [default: the port of --rpc-url, 8545].")
@click.option("--ipfs-port", type=PORT, help="The IPFS API's port [default: the port of --ipfs-api, 5001].")
@click.option("--branch", metavar="NAME", help="Run the IPFS node as this branch's node (needs --swarm-key, --listen).")
@click.option(
    "--swarm-key",
    "swarm_key_file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="The private swarm's key file (`chaincrm node swarm-key new`); copied into the repository, mode 0600.",
)
@click.option(
    "--listen", metavar="MULTIADDR", help="Where the branch node's swarm listens, e.g. /ip4/10.0.0.5/tcp/4001."
)
@json_option
@pass_app
def up(
    app: App,
    chain_port: int | None,
    ipfs_port: int | None,
    branch: str | None,
    swarm_key_file: str | None,
    listen: str | None,
    as_json: bool,
) -> None:
    settings = app.settings
    if branch is not None or swarm_key_file is not None or listen is not None:
        _branch_up(app, ipfs_port, branch, swarm_key_file, listen, as_json)
        return
    with working("Starting Anvil and the IPFS node"):
        state = stack.up(
            settings,
            chain_port=chain_port or stack.chain_port_of(settings.rpc_url),
            ipfs_port=ipfs_port or stack.ipfs_port_of(settings.ipfs_api),
        )

    def human(out: Console) -> None:
        for service in (state.chain, state.ipfs):
            verb = "started" if service.started else "already running"
            out.print(f"{service.name}: {verb} at {service.url} (pid {service.pid})", markup=False)

    emit(_state_fields(state), as_json, human)


@node.command(help="Stop Anvil (saving its state) and the IPFS node; stopping what is not running is fine.")
@json_option
@pass_app
def down(app: App, as_json: bool) -> None:
    with working("Stopping Anvil and the IPFS node"):
        state = stack.down(app.settings)

    def human(out: Console) -> None:
        for service in (state.chain, state.ipfs):
            out.print(f"{service.name}: {'stopped' if service.stopped else 'was not running'}", markup=False)

    emit(_state_fields(state), as_json, human)


@node.command(help="Whether Anvil and the IPFS node run, where, and the block number / IPFS version.")
@json_option
@pass_app
def status(app: App, as_json: bool) -> None:
    state = stack.status(app.settings)

    fields = _state_fields(state)
    branch = _branch_fields(app, state.ipfs)
    if branch is not None:  # a branch node only: the default node's status keeps its shape
        fields["branch"] = branch

    def human(out: Console) -> None:
        rows = [(s.name, _running(s), s.url, s.pid, _detail(s)) for s in (state.chain, state.ipfs)]
        out.print(table(f"Local stack in {app.settings.home}", ("service", "state", "url", "pid", ""), rows))
        if branch is not None:
            out.print(
                f"branch {branch['name']}: swarm on {branch['listen']}, {len(branch['peers'])} peer(s)", markup=False
            )
            for address in branch["addresses"]:
                out.print(f"peer address: {address}", markup=False)

    emit(fields, as_json, human)


_OTHER_SERVICE_DETAIL = {"chain": {"version"}, "ipfs": {"block_number"}}


def _state_fields(state: StackState) -> dict[str, Any]:
    """One shape for `up`, `down` and `status`: each service by name with running, url, pid, its
    block number (chain) or version (ipfs), and whether this call started (`up`) or stopped
    (`down`) it."""
    return {
        service.name: {
            key: value
            for key, value in asdict(service).items()
            if key != "name" and key not in _OTHER_SERVICE_DETAIL[service.name]
        }
        for service in (state.chain, state.ipfs)
    }


def _running(service: ServiceState) -> str:
    if not service.running:
        return "stopped"
    answering = service.block_number is not None or service.version is not None
    return "running" if answering else "running, not answering"


def _detail(service: ServiceState) -> str:
    if service.block_number is not None:
        return f"block {service.block_number}"
    if service.version is not None:
        return f"kubo {service.version}"
    return ""


# ------------------------------------------------------------------ branch nodes


def _branch_up(
    app: App, ipfs_port: int | None, branch: str | None, swarm_key_file: str | None, listen: str | None, as_json: bool
) -> None:
    from chaincrm.branches.swarm import start_branch_node

    missing = [
        name
        for name, value in (("--branch", branch), ("--swarm-key", swarm_key_file), ("--listen", listen))
        if not value
    ]
    if missing:
        raise click.UsageError(f"a branch node needs --branch, --swarm-key and --listen: {', '.join(missing)} missing")
    assert branch is not None and swarm_key_file is not None and listen is not None
    settings = app.settings
    with working(f"Starting the IPFS node of branch {branch}"):
        handle, _ = start_branch_node(
            stack.ipfs_repo(settings),
            ipfs_port or stack.ipfs_port_of(settings.ipfs_api),
            branch=branch,
            swarm_key_file=swarm_key_file,
            listen=listen,
            log_file=settings.home / stack.IPFS_LOG_FILE_NAME,
        )
    state = stack.status(settings)
    fields = _state_fields(StackState(state.chain, dataclasses.replace(state.ipfs, started=handle is not None)))
    fields["branch"] = _branch_fields(app, state.ipfs)

    def human(out: Console) -> None:
        verb = "started" if handle is not None else "already running"
        out.print(f"ipfs: {verb} at {state.ipfs.url} (pid {state.ipfs.pid}), branch {branch}", markup=False)
        for address in fields["branch"]["addresses"]:
            out.print(f"peer address: {address}  (give it to the other branches: chaincrm node join ...)", markup=False)

    emit(fields, as_json, human)


def _branch_fields(app: App, ipfs: ServiceState) -> dict[str, Any] | None:
    """The branch node's name, swarm address, peers and own peer addresses; None if not a branch node."""
    from chaincrm.branches.swarm import BranchNodeClient
    from chaincrm.errors import NodeError
    from chaincrm.storage.node.swarm import read_branch_settings

    settings = read_branch_settings(stack.ipfs_repo(app.settings))
    if settings is None:
        return None
    peer_id, addresses = None, []
    port = stack.ipfs_port_of(ipfs.url) if ipfs.running and ipfs.url else None
    if port is not None:
        try:
            identity = BranchNodeClient(port).identity()
            peer_id, addresses = identity.peer_id, list(identity.addresses)
        except NodeError:
            pass
    return {
        "name": settings.branch,
        "listen": settings.listen,
        "peers": list(settings.peers),
        "peer_id": peer_id,
        "addresses": addresses,
    }


@node.group(name="swarm-key", help="The organisation's private swarm key (every branch node holds the same one).")
def swarm_key() -> None:
    pass


@swarm_key.command(
    name="new",
    help="Write a new random swarm key to FILE (mode 0600). The key is never printed: copy the file to each "
    "branch over a secure channel.",
)
@click.option("--out", "out", required=True, metavar="FILE", type=click.Path(dir_okay=False), help="Where to write it.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@json_option
def swarm_key_new(out: str, force: bool, as_json: bool) -> None:
    from chaincrm.branches.swarm import create_swarm_key
    from chaincrm.storage.node.swarm import read_swarm_key

    path = create_swarm_key(out, overwrite=force)
    fields = {"file": str(path), "fingerprint": read_swarm_key(path).fingerprint, "mode": "0600"}
    emit_line(fields, as_json, f"swarm key written to {path} (mode 0600, fingerprint {fields['fingerprint']})")


@node.command(
    help="Add branch peers (each /ip4/<ip>/tcp/<port>/p2p/<peer id>, as `chaincrm node status` shows it on the "
    "peer) to this branch node and connect to them. A running node restarts once to apply its peering and "
    "address filters. Each side must join the other."
)
@click.argument("peers", nargs=-1, required=True, metavar="PEER...")
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0.1, max=600),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each connection.",
)
@json_option
@pass_app
def join(app: App, peers: tuple[str, ...], timeout_seconds: float, as_json: bool) -> None:
    from chaincrm.branches.swarm import join_peers

    settings = app.settings
    with working("Joining branch peers"):
        results = join_peers(
            stack.ipfs_repo(settings),
            list(peers),
            log_file=settings.home / stack.IPFS_LOG_FILE_NAME,
            timeout_seconds=timeout_seconds,
        )
    fields = {
        "restarted": any(result.restarted for result in results),
        "peers": [
            {"peer_id": r.peer.peer_id, "address": r.peer.address, "connected": r.connected, "reason": r.reason}
            for r in results
        ],
    }

    def human(out: Console) -> None:
        for result in results:
            if result.connected:
                out.print(f"joined {result.peer.address}: connected", markup=False)
            else:
                out.print(
                    f"listed {result.peer.address}, not connected: {result.reason}. It connects once the peer runs, "
                    "lists this node (`chaincrm node join <this node's peer address>` on it) and uses the same "
                    "swarm key",
                    markup=False,
                )

    emit(fields, as_json, human)


@node.command(help="This branch node's peers: the listed ones and whether each is connected now.")
@json_option
@pass_app
def peers(app: App, as_json: bool) -> None:
    from chaincrm.branches.swarm import list_peers

    branch, states = list_peers(stack.ipfs_repo(app.settings))
    if branch is None:
        raise ConfigError(
            f"the IPFS node in {stack.ipfs_repo(app.settings)} is not a branch node: it has no peers "
            "(see `chaincrm node up --branch`)"
        )
    fields = {"branch": branch.branch, "peers": [dataclasses.asdict(state) for state in states]}

    def human(out: Console) -> None:
        rows = [(s.peer_id, s.address, "yes" if s.listed else "no", "yes" if s.connected else "no") for s in states]
        out.print(table(f"Peers of branch {branch.branch}", ("peer id", "address", "listed", "connected"), rows))

    emit(fields, as_json, human)


@node.command(
    help="Pin here every document the chain points to (read from the index), fetching from the branch peers "
    "what this node lacks; unpin erased customers' documents. One pass, or every --interval with --watch."
)
@click.option(
    "--database",
    envvar=DATABASE_ENV,
    metavar="URL|PATH",
    help=f"The index to read [env {DATABASE_ENV}; default <home>/index.sqlite].",
)
@click.option(
    "--sync/--no-sync", default=True, show_default=True, help="Sync the index from the chain before each pass."
)
@click.option(
    "--fetch-timeout",
    "fetch_timeout_seconds",
    type=click.FloatRange(min=0.1, max=600),
    default=20.0,
    show_default=True,
    help="Seconds to wait for a branch peer to send a document this node lacks.",
)
@click.option("--watch", is_flag=True, help="Keep replicating until Ctrl-C.")
@click.option(
    "--interval",
    "interval_seconds",
    type=click.FloatRange(min=0.5),
    default=30.0,
    show_default=True,
    help="Seconds between passes with --watch.",
)
@json_option
@pass_app
def replicate(
    app: App,
    database: str | None,
    sync: bool,
    fetch_timeout_seconds: float,
    watch: bool,
    interval_seconds: float,
    as_json: bool,
) -> None:
    import threading

    from chaincrm.branches.replication import ReplicationPass, documents_on_chain
    from chaincrm.branches.replication import replicate as replicate_once
    from chaincrm.branches.replication import watch as keep_replicating
    from chaincrm.branches.swarm import BranchNodeClient, redial_listed_peers
    from chaincrm.index.database import open_database
    from chaincrm.storage import KuboStore

    settings = app.settings
    repo = stack.ipfs_repo(settings)
    status = stack.status(settings).ipfs
    if not status.running or not status.url:
        raise ConfigError("the IPFS node is not running: start it with `chaincrm node up --branch ...`")
    node_client = BranchNodeClient(stack.ipfs_port_of(status.url))
    node_client.identity()  # a NodeError line if it is not a branch node
    store = KuboStore(status.url)
    engine = open_database(database, home=settings.home)
    indexer = None
    if sync:
        from chaincrm.index.indexer import Indexer

        indexer = Indexer.from_settings(settings, database)

    def one_pass() -> ReplicationPass:
        redial_listed_peers(repo, REDIAL_TIMEOUT_SECONDS)  # peers joined without a restart have no peering yet
        if indexer is not None:
            indexer.sync_once()
        return replicate_once(
            node_client, store, documents_on_chain(engine), fetch_timeout_seconds=fetch_timeout_seconds
        )

    def fields_of(done: ReplicationPass) -> dict[str, Any]:
        return {
            "wanted": done.wanted,
            "held": done.held,
            "pinned": list(done.pinned),
            "missing": [{"cid": cid, "reason": reason} for cid, reason in done.missing],
            "unpinned": list(done.unpinned),
            "seconds": round(done.seconds, 3),
        }

    def line_of(done: ReplicationPass) -> str:
        return (
            f"{done.wanted} document(s) on chain: {done.held} held already, {len(done.pinned)} pinned now, "
            f"{len(done.missing)} missing, {len(done.unpinned)} of erased customers unpinned ({done.seconds:.1f} s)"
        )

    try:
        if not watch:
            done = one_pass()
            emit_line(fields_of(done), as_json, line_of(done))
            if done.missing and not as_json:
                for cid, reason in done.missing:
                    click.echo(f"missing {cid}: {reason}", err=True)
            return
        stop = threading.Event()

        def on_pass(done: ReplicationPass) -> None:
            click.echo(json.dumps(fields_of(done), sort_keys=True) if as_json else line_of(done))

        with contextlib.suppress(KeyboardInterrupt):
            keep_replicating(one_pass, interval_seconds=interval_seconds, on_pass=on_pass, should_stop=stop.wait)
    finally:
        if indexer is not None:
            indexer.close()
        store.close()
        engine.dispose()
