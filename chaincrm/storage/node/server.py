"""The node process: ``python -m chaincrm.storage.node serve --repo DIR --port N``.

It binds the API port first (a port in use exits with :data:`EXIT_PORT_IN_USE` before Kubo
loads), opens the repository with libkubo, serves the API from a background thread, writes its pid
file, and waits for SIGTERM or SIGINT to close Kubo cleanly.

A repository with branch settings (:mod:`~chaincrm.storage.node.swarm`) runs as a branch node of
the private swarm: its ``swarm.key`` is checked first (missing or malformed: the node exits with
one line saying so), and ``LIBP2P_FORCE_PNET=1`` is set before libkubo loads, so go-libp2p itself
refuses to start without a private network key.

The library's Go threads must never receive SIGTERM/SIGINT: both are blocked before libkubo loads
(so every thread, Go's included, inherits the mask), and the main thread alone takes them,
synchronously, with ``sigwait``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from chaincrm.errors import ConfigError, NodeError
from chaincrm.services import supervisor
from chaincrm.storage.node.config import DEFAULT_PORT, KUBO_VERSION, PID_FILE_NAME, api_address
from chaincrm.storage.node.swarm import (
    FORCE_PNET_VARIABLE,
    SWARM_KEY_FILE_NAME,
    BranchSettings,
    read_branch_settings,
    read_swarm_key,
)

__all__ = ["EXIT_NODE_FAILED", "EXIT_OK", "EXIT_PORT_IN_USE", "main", "serve"]

logger = logging.getLogger("chaincrm.storage.node")

EXIT_OK = 0
EXIT_PORT_IN_USE = 3
EXIT_NODE_FAILED = 4
PROGRAM = "python -m chaincrm.storage.node"

_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def serve(repo_dir: Path | str, port: int = DEFAULT_PORT) -> int:
    """Run the node and its RPC API until SIGTERM or SIGINT; return an exit code."""
    supervisor.check_port_number(port)
    repo = Path(repo_dir).expanduser().resolve()
    repo.mkdir(parents=True, exist_ok=True)
    os.chdir(repo)  # the Go side of libkubo writes kubo.log into the working directory
    # Before any thread exists: every thread inherits the mask, the main thread sigwaits.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        listener = supervisor.listen_on_loopback(port)
    except OSError as error:
        logger.error("%s (%s)", supervisor.port_in_use_message(port), error.strerror or error)
        return EXIT_PORT_IN_USE

    try:
        branch = _branch_of(repo)
    except ConfigError as error:
        logger.error("%s", error)
        listener.close()
        return EXIT_NODE_FAILED

    from chaincrm.storage.node.api import ApiServer  # aiohttp and libkubo: only in the node process
    from chaincrm.storage.node.kubo import Kubo

    try:
        kubo = Kubo(repo, branch)
    except NodeError as error:
        logger.error("%s", error)
        listener.close()
        return EXIT_NODE_FAILED

    def request_stop() -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    pid_file = supervisor.PidFile(repo / PID_FILE_NAME)
    server = ApiServer(kubo, listener, request_stop)
    try:
        server.start()
        pid_file.write(os.getpid(), port, api=api_address(port))
        logger.info("IPFS node %s (Kubo %s) serves %s for %s", kubo.peer_id, KUBO_VERSION, api_address(port), repo)
        if branch is not None:
            logger.info(
                "branch %s: private swarm on %s/p2p/%s, %d branch peer(s)",
                branch.branch,
                branch.listen,
                kubo.peer_id,
                len(branch.peers),
            )
        received = signal.sigwait(_STOP_SIGNALS)
        logger.info("stopping on %s", signal.Signals(received).name)
    finally:
        server.stop()
        kubo.close()
        pid_file.remove(os.getpid())
        logger.info("IPFS node stopped")
    return EXIT_NODE_FAILED if kubo.broken else EXIT_OK


def _branch_of(repo: Path) -> BranchSettings | None:
    """The repository's branch settings after checking its swarm key; None for the default node."""
    branch = read_branch_settings(repo)
    if branch is None:
        return None
    read_swarm_key(repo / SWARM_KEY_FILE_NAME, what=f"branch {branch.branch}: the swarm key")
    os.environ[FORCE_PNET_VARIABLE] = "1"  # before libkubo loads: go-libp2p reads it at start-up
    return branch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="The embedded IPFS node of chaincrm (Kubo via libkubo, private by default).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="run the node and its Kubo RPC API on 127.0.0.1 until stopped")
    serve_command.add_argument("--repo", type=Path, required=True, help="repository folder")
    serve_command.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"API port (default {DEFAULT_PORT})")
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return serve(arguments.repo, arguments.port)
    except (ConfigError, NodeError) as error:
        logger.error("%s", error)
        return EXIT_NODE_FAILED
