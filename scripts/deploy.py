"""brownie run scripts/deploy.py [main RECORD FORCE] [--network NAME]: deploy the CRM to the active network.

Deploys the registry (the deployer is its admin), the escrow with the pipeline's address as its
only issuer, the pipeline, the loyalty points the escrow mints and the branch directory, then
connects the points to the escrow and the directory to the registry, with the SDK's default
settings (7-day dispute window, 10 ETH approval threshold). Writes the chain's deployment record
<home>/deployments/<chainid>.json (or RECORD, which it refuses to replace with another chain's
record unless FORCE is true). The treasury is $CHAINCRM_TREASURY, or the deployer.

On a local development chain (chain id 31337 or 1337) the deployer is Brownie's accounts[0]. On
any other network (`python -m scripts.networks` gives Brownie the networks of `chaincrm deploy
networks`) the deploy runs as `chaincrm deploy` does: the key comes from the chaincrm keystore named
by $CHAINCRM_KEYSTORE (password: $CHAINCRM_PASSWORD or a prompt), never from the command line;
it shows the gas and cost, asks (or $CHAINCRM_YES=1), caps fees at $CHAINCRM_MAX_FEE_GWEI, waits
for $CHAINCRM_CONFIRMATIONS, checks the code and resumes an interrupted deploy.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from chaincrm.config import Settings
from chaincrm.contracts.client import chain_for
from chaincrm.contracts.deployment import deploy, record_path, save_record
from chaincrm.errors import ConfigError
from chaincrm.models import Deployment
from scripts._common import DEV_CHAIN_IDS, brownie_sender, network_name, record_settings, run


def main(record: str = "", force: bool = False) -> None:
    from brownie import web3

    def body() -> None:
        settings = record_settings()
        chain = chain_for(web3, confirmations=settings.confirmations)
        path = Path(record) if record else record_path(settings.home, chain.chain_id)
        if chain.chain_id in DEV_CHAIN_IDS:
            sender = brownie_sender(0)
            treasury = os.environ.get("CHAINCRM_TREASURY", sender.address)
            deployment = deploy(chain, sender, treasury=treasury)
            save_record(deployment, path, force=str(force).lower() in ("1", "true", "yes"))
        else:
            deployment = _deploy_live(settings, str(web3.provider.endpoint_uri), chain)  # type: ignore[attr-defined]
            if record:
                save_record(deployment, path, force=str(force).lower() in ("1", "true", "yes"))
            else:
                path = record_path(settings.home, deployment.chain_id)
        print(f"deployed to {network_name()} (chain {deployment.chain_id}) at block {deployment.block_number}")
        print(f"  registry {deployment.registry}\n  pipeline {deployment.pipeline}\n  escrow   {deployment.escrow}")
        print(f"  loyalty  {deployment.loyalty} (points the escrow mints at release)")
        print(f"  branches {deployment.branches} (the branch directory)")
        print(
            f"  treasury {deployment.treasury}; dispute window {deployment.dispute_window_seconds} s, "
            f"resolution {deployment.dispute_resolution_seconds} s, treasury change delay "
            f"{deployment.treasury_delay_seconds} s; deals above {deployment.approval_threshold_wei} wei "
            "need a manager to be won"
        )
        print(f"  record   {path}")

    run(body)


def _deploy_live(settings: Settings, rpc_url: str, chain: object) -> Deployment:
    from chaincrm.chain.keystores import load_signer
    from chaincrm.cli.deploy import show_plan
    from chaincrm.cli.output import console
    from chaincrm.contracts.deployment import deploy_settings
    from chaincrm.deploy.networks import load_networks
    from chaincrm.deploy.runner import DeployRun

    keystore = os.environ.get("CHAINCRM_KEYSTORE")
    if not keystore:
        raise ConfigError(
            "on a live network the deployer's key comes from a chaincrm keystore: set CHAINCRM_KEYSTORE "
            "(an address in <home>/keystores, or a file) and CHAINCRM_PASSWORD, or type the password"
        )
    signer = load_signer(keystore, folder=settings.keystore_dir)
    network = load_networks(settings.home).get(network_name())
    out = console(err=True)
    deployer = DeployRun(
        chain,  # type: ignore[arg-type]
        rpc_url,
        settings.home,
        signer.account,
        cap_wei=_max_fee(),
        confirmations=settings.confirmations,
        op_stack=bool(network and network.op_stack),
        on_progress=lambda line: out.print(line, markup=False),
    )
    treasury = os.environ.get("CHAINCRM_TREASURY", signer.address)
    proposal = deployer.propose(deploy_settings(signer.address, treasury=treasury))
    where = f"{network_name()} (chain {proposal.chain_id})"
    show_plan(out, proposal, where, signer.address)
    if proposal.estimates and os.environ.get("CHAINCRM_YES") != "1":
        if not sys.stdin.isatty():
            raise ConfigError(f"not run from a terminal: set CHAINCRM_YES=1 to deploy to {where} (nothing was sent)")
        if input(f"Deploy to {where}? [y/N] ").strip().lower() not in ("y", "yes"):
            raise ConfigError("declined: nothing was sent")
    return deployer.execute(proposal).deployment


def _max_fee() -> int | None:
    value = os.environ.get("CHAINCRM_MAX_FEE_GWEI")
    if not value:
        return None
    try:
        return int(Decimal(value) * 10**9)
    except InvalidOperation:
        raise ConfigError(f"CHAINCRM_MAX_FEE_GWEI={value!r} is not a number of gwei") from None
