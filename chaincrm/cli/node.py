"""`chaincrm node up|down|status` and `chaincrm deploy`: the local stack and the contracts on it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click
from rich.console import Console

from chaincrm.cli.context import ADDRESS, ETH_AMOUNT, WEI_PER_ETH, App, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, facts, table, working
from chaincrm.contracts.client import connect
from chaincrm.contracts.deployment import (
    DAY_SECONDS,
    DEFAULT_APPROVAL_THRESHOLD_WEI,
    DEFAULT_DISPUTE_RESOLUTION_SECONDS,
    DEFAULT_DISPUTE_WINDOW_SECONDS,
    DEFAULT_PAYMENT_TERM_SECONDS,
    deploy,
    load_record,
    save_record,
)
from chaincrm.errors import ConfigError
from chaincrm.services import stack
from chaincrm.services.stack import ServiceState, StackState

PORT = click.IntRange(1, 65535)
DAYS = click.FloatRange(min=0, min_open=True)


@click.group(
    name="node",
    help="The local stack: Anvil (chain state in <home>/state) and the IPFS node (repository in <home>/ipfs).",
)
def node() -> None:
    pass


@node.command(help="Start Anvil and the IPFS node in the background; what already runs is left alone.")
@click.option("--chain-port", type=PORT, help="Anvil's port [default: the port of --rpc-url, 8545].")
@click.option("--ipfs-port", type=PORT, help="The IPFS API's port [default: the port of --ipfs-api, 5001].")
@json_option
@pass_app
def up(app: App, chain_port: int | None, ipfs_port: int | None, as_json: bool) -> None:
    settings = app.settings
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

    def human(out: Console) -> None:
        rows = [(s.name, _running(s), s.url, s.pid, _detail(s)) for s in (state.chain, state.ipfs)]
        out.print(table(f"Local stack in {app.settings.home}", ("service", "state", "url", "pid", ""), rows))

    emit(_state_fields(state), as_json, human)


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


# ------------------------------------------------------------------ deploy


@click.command(
    name="deploy",
    help="Deploy the CRM's contracts and write the deployment record <home>/deployment.json. Escrow and "
    "approval settings are fixed at deployment (the approval threshold can change later, by an admin).",
)
@keystore_option
@click.option("--treasury", type=ADDRESS, help="Where released invoice payments go [default: the deployer].")
@click.option(
    "--dispute-window-seconds",
    type=click.IntRange(min=1),
    default=DEFAULT_DISPUTE_WINDOW_SECONDS,
    show_default=True,
    help="How long a payer may dispute a paid invoice.",
)
@click.option(
    "--payment-term-seconds",
    type=click.IntRange(min=1),
    default=DEFAULT_PAYMENT_TERM_SECONDS,
    show_default=True,
    help="How long after issue an invoice is due.",
)
@click.option(
    "--dispute-resolution-days",
    type=DAYS,
    default=DEFAULT_DISPUTE_RESOLUTION_SECONDS / DAY_SECONDS,
    show_default=True,
    help="How long a manager has to resolve a dispute before the payer may reclaim the payment.",
)
@click.option(
    "--treasury-delay-days",
    type=DAYS,
    help="How long a proposed treasury waits before it may accept; must exceed the dispute window "
    "[default: the dispute window plus one day].",
)
@click.option(
    "--approval-threshold",
    "approval_threshold_wei",
    type=ETH_AMOUNT,
    default=str(DEFAULT_APPROVAL_THRESHOLD_WEI // WEI_PER_ETH),
    show_default=True,
    help="Deals worth more (ETH; or 20gwei, 100wei) need a manager to move to won; 0: every deal does.",
)
@click.option("--force", is_flag=True, help="Replace a deployment record that belongs to another chain.")
@json_option
@pass_app
def deploy_command(
    app: App,
    keystore: str | None,
    treasury: str | None,
    dispute_window_seconds: int,
    payment_term_seconds: int,
    dispute_resolution_days: float,
    treasury_delay_days: float | None,
    approval_threshold_wei: int,
    force: bool,
    as_json: bool,
) -> None:
    treasury_delay_seconds = None if treasury_delay_days is None else round(treasury_delay_days * DAY_SECONDS)
    if treasury_delay_seconds is not None and treasury_delay_seconds <= dispute_window_seconds:
        raise ConfigError(
            f"--treasury-delay-days {treasury_delay_days:g} is not longer than the dispute window "
            f"({dispute_window_seconds:,} s): a new treasury could receive payments still in dispute"
        )
    settings = app.settings
    deployer = app.signer(keystore)
    chain = connect(settings.rpc_url, confirmations=settings.confirmations)
    record = settings.deployment_path
    if record.exists() and not force:
        existing = load_record(record)
        if existing.chain_id != chain.chain_id:
            raise ConfigError(
                f"{record} holds the deployment for chain {existing.chain_id}, not {chain.chain_id}: "
                "pass --force to replace it, or use another --home"
            )
    with working(f"Deploying to chain {chain.chain_id}"):
        deployment = deploy(
            chain,
            deployer.account,
            treasury=treasury or deployer.address,
            dispute_window_seconds=dispute_window_seconds,
            payment_term_seconds=payment_term_seconds,
            dispute_resolution_seconds=max(1, round(dispute_resolution_days * DAY_SECONDS)),
            treasury_delay_seconds=treasury_delay_seconds,
            approval_threshold_wei=approval_threshold_wei,
        )
    save_record(deployment, record, force=force)
    fields = asdict(deployment) | {"record": str(record)}

    def human(out: Console) -> None:
        out.print(facts(f"Deployed on chain {deployment.chain_id}", fields))

    emit(fields, as_json, human)
