"""brownie run scripts/deploy.py [main RECORD FORCE]: deploy the CRM to the active network.

Deploys the registry (the deployer is its admin), the escrow with the pipeline's address as its
only issuer, the pipeline, and the loyalty points the escrow mints (connected to the escrow),
with the SDK's default settings (7-day dispute window, 10 ETH approval threshold). Writes the
deployment record (chain id, addresses, block, deployer, those settings) the SDK reads; refuses
to replace a record for another chain unless FORCE is true. The treasury is $CHAINCRM_TREASURY,
or the deployer.
"""

from __future__ import annotations

import os
from pathlib import Path

from chaincrm.contracts.client import chain_for
from chaincrm.contracts.deployment import deploy, save_record
from scripts._common import brownie_sender, network_name, record_settings, run


def main(record: str = "", force: bool = False) -> None:
    from brownie import web3

    def body() -> None:
        settings = record_settings()
        path = Path(record) if record else settings.deployment_path
        sender = brownie_sender(0)
        treasury = os.environ.get("CHAINCRM_TREASURY", sender.address)
        deployment = deploy(chain_for(web3), sender, treasury=treasury)
        save_record(deployment, path, force=str(force).lower() in ("1", "true", "yes"))
        print(f"deployed to {network_name()} (chain {deployment.chain_id}) at block {deployment.block_number}")
        print(f"  registry {deployment.registry}\n  pipeline {deployment.pipeline}\n  escrow   {deployment.escrow}")
        print(f"  loyalty  {deployment.loyalty} (points the escrow mints at release)")
        print(
            f"  treasury {deployment.treasury}; dispute window {deployment.dispute_window_seconds} s, "
            f"resolution {deployment.dispute_resolution_seconds} s, treasury change delay "
            f"{deployment.treasury_delay_seconds} s; deals above {deployment.approval_threshold_wei} wei "
            "need a manager to be won"
        )
        print(f"  record   {path}")

    run(body)
