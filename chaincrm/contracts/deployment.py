"""Deploying the CRM and the deployment records the SDK reads.

There is one record per chain, as Brownie keeps ``build/deployments/<chainid>``:
``<home>/deployments/<chainid>.json``, so a deployment to a testnet never replaces the local one.
A home from before per-chain records has one ``<home>/deployment.json``: it is still read for the
chain it names. Loading a record checks the chain id against the node and that code exists at
every address, so a record for another chain is never used by accident.

:func:`deploy` sends the plan of :mod:`chaincrm.deploy.plan` through the chain's usual sending
(any sender, no questions: tests, the demo, Brownie scripts); `chaincrm deploy` runs the same plan
with fee caps, confirmations, a code check and resume (:mod:`chaincrm.deploy.runner`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.chain import Chain, Connection, Sender
from chaincrm.chain.artifacts import load_artifact, read_json
from chaincrm.deploy.plan import (
    DAY_SECONDS,
    DEFAULT_ADMIN_TRANSFER_DELAY_SECONDS,
    DEFAULT_APPROVAL_THRESHOLD_WEI,
    DEFAULT_DISPUTE_RESOLUTION_SECONDS,
    DEFAULT_DISPUTE_WINDOW_SECONDS,
    DEFAULT_PAYMENT_TERM_SECONDS,
    RECORD_FIELDS,
    DeploySettings,
    Step,
    plan,
)
from chaincrm.errors import ChainError, ConfigError
from chaincrm.models import Deployment

RECORDS_DIR = "deployments"
LEGACY_RECORD = "deployment.json"


def deploy(
    chain: Chain,
    deployer: Sender,
    *,
    treasury: str,
    dispute_window_seconds: int = DEFAULT_DISPUTE_WINDOW_SECONDS,
    payment_term_seconds: int = DEFAULT_PAYMENT_TERM_SECONDS,
    dispute_resolution_seconds: int = DEFAULT_DISPUTE_RESOLUTION_SECONDS,
    treasury_delay_seconds: int | None = None,
    approval_threshold_wei: int = DEFAULT_APPROVAL_THRESHOLD_WEI,
    admin_transfer_delay_seconds: int = DEFAULT_ADMIN_TRANSFER_DELAY_SECONDS,
    admin: str | None = None,
) -> Deployment:
    """Deploy the registry, then the escrow naming the pipeline's future address as its only
    issuer, then the pipeline (whose constructor checks that it is that issuer), the loyalty
    points naming the escrow as their minter, and the branch directory. When the deployer is the
    admin it also connects the points to the escrow (`setLoyaltyProgram`) and the directory to the
    registry (`setBranchDirectory`); otherwise the admin does that later."""
    settings = deploy_settings(
        deployer.address,
        treasury=treasury,
        dispute_window_seconds=dispute_window_seconds,
        payment_term_seconds=payment_term_seconds,
        dispute_resolution_seconds=dispute_resolution_seconds,
        treasury_delay_seconds=treasury_delay_seconds,
        approval_threshold_wei=approval_threshold_wei,
        admin_transfer_delay_seconds=admin_transfer_delay_seconds,
        admin=admin,
    )
    address = to_checksum_address(deployer.address)
    steps = plan(address, chain.nonces.peek(address), settings)
    blocks: dict[str, int] = {}
    for step in steps:
        receipt = chain.transact(_transactable(chain, step), deployer)
        landed = receipt["contractAddress"]
        if step.creates and (landed is None or to_checksum_address(landed) != step.address):
            raise ChainError(f"{step.name} landed at {landed}, not at {step.address}: deploy again")
        blocks[step.name] = int(receipt["blockNumber"])
    return record_of(chain.chain_id, address, steps, settings, min(blocks.values()), chain)


def deploy_settings(
    deployer: str,
    *,
    treasury: str,
    dispute_window_seconds: int = DEFAULT_DISPUTE_WINDOW_SECONDS,
    payment_term_seconds: int = DEFAULT_PAYMENT_TERM_SECONDS,
    dispute_resolution_seconds: int = DEFAULT_DISPUTE_RESOLUTION_SECONDS,
    treasury_delay_seconds: int | None = None,
    approval_threshold_wei: int = DEFAULT_APPROVAL_THRESHOLD_WEI,
    admin_transfer_delay_seconds: int = DEFAULT_ADMIN_TRANSFER_DELAY_SECONDS,
    admin: str | None = None,
) -> DeploySettings:
    """The settings a deploy uses: the treasury delay defaults to the dispute window plus a day,
    the admin to the deployer."""
    if treasury_delay_seconds is None:
        treasury_delay_seconds = dispute_window_seconds + DAY_SECONDS
    return DeploySettings(
        treasury=to_checksum_address(treasury),
        admin=to_checksum_address(admin or deployer),
        dispute_window_seconds=dispute_window_seconds,
        payment_term_seconds=payment_term_seconds,
        dispute_resolution_seconds=dispute_resolution_seconds,
        treasury_delay_seconds=treasury_delay_seconds,
        approval_threshold_wei=approval_threshold_wei,
        admin_transfer_delay_seconds=admin_transfer_delay_seconds,
    )


def record_of(
    chain_id: int,
    deployer: str,
    steps: tuple[Step, ...],
    settings: DeploySettings,
    block_number: int,
    node: Connection,
) -> Deployment:
    """The deployment record of a finished plan; `block_number` is where its first contract landed
    (the index and every log query start there)."""
    created = {RECORD_FIELDS[step.name]: step.address for step in steps if step.creates}
    return Deployment(
        chain_id=chain_id,
        registry=created["registry"],
        pipeline=created["pipeline"],
        escrow=created["escrow"],
        deployer=to_checksum_address(deployer),
        block_number=block_number,
        deployed_at=node.block_timestamp(block_number),
        treasury=settings.treasury,
        dispute_window_seconds=settings.dispute_window_seconds,
        payment_term_seconds=settings.payment_term_seconds,
        dispute_resolution_seconds=settings.dispute_resolution_seconds,
        treasury_delay_seconds=settings.treasury_delay_seconds,
        approval_threshold_wei=settings.approval_threshold_wei,
        loyalty=created["loyalty"],
        branches=created["branches"],
    )


def _transactable(chain: Chain, step: Step) -> Any:
    artifact = load_artifact(step.contract)
    if step.creates:
        return chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(*step.args)
    return chain.w3.eth.contract(address=step.address, abi=artifact.abi).functions[step.name](*step.args)


def connect_loyalty(chain: Chain, admin: Sender, escrow: str, loyalty: str) -> None:
    """The escrow's admin names the loyalty points the escrow mints and burns (once)."""
    from chaincrm.contracts.escrow import Escrow

    Escrow(chain, escrow).set_loyalty_program(loyalty, admin)


def _deploy(chain: Chain, deployer: Sender, name: str, *args: object) -> ChecksumAddress:
    return _deploy_with_receipt(chain, deployer, name, *args)[0]


def _deploy_with_receipt(chain: Chain, deployer: Sender, name: str, *args: object) -> tuple[ChecksumAddress, Any]:
    artifact = load_artifact(name)
    factory = chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = chain.transact(factory.constructor(*args), deployer)
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError(f"deploying {name} produced no contract address")
    return to_checksum_address(address), receipt


def record_path(home: Path, chain_id: int) -> Path:
    """Where the record for `chain_id` lives in a home: ``<home>/deployments/<chainid>.json``."""
    return home / RECORDS_DIR / f"{chain_id}.json"


def legacy_record_path(home: Path) -> Path:
    """The one record of a home from before per-chain records (read for the chain it names)."""
    return home / LEGACY_RECORD


def recorded_chains(home: Path) -> list[int]:
    """The chain ids a home holds records for (per-chain records only)."""
    folder = home / RECORDS_DIR
    if not folder.is_dir():
        return []
    return sorted(int(path.stem) for path in folder.glob("*.json") if path.stem.isdigit())


def record_for(home: Path, node: Connection) -> Path:
    """The record a home holds for the node's chain: ``deployments/<chainid>.json``; else the
    legacy ``deployment.json`` when it names that chain (or when the home has no per-chain record
    at all, so the node is not asked its chain id: loading checks it); else the per-chain path,
    which does not exist (loading it says so)."""
    legacy = legacy_record_path(home)
    if not recorded_chains(home):
        return legacy if legacy.is_file() else record_path(home, node.chain_id)
    per_chain = record_path(home, node.chain_id)
    if per_chain.is_file() or not legacy.is_file():
        return per_chain
    return legacy if _chain_of(legacy) == node.chain_id else per_chain


def _chain_of(path: Path) -> int | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    chain_id = data.get("chain_id") if isinstance(data, dict) else None
    return chain_id if isinstance(chain_id, int) else None


def save_record(deployment: Deployment, path: Path, *, force: bool = False) -> None:
    """Write the record atomically; refuse to replace a record for another chain unless `force`."""
    if path.exists() and not force:
        try:
            existing = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            existing = {}
        if existing.get("chain_id") not in (None, deployment.chain_id):
            raise ConfigError(
                f"{path} holds the deployment for chain {existing['chain_id']}, not {deployment.chain_id}: "
                "pass --force to replace it, or choose another record file"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(asdict(deployment), handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(handle.name, path)


def load_record(path: Path) -> Deployment:
    missing = f"no deployment record at {path}: deploy first (`chaincrm deploy` or `brownie run deploy`)"
    if path.parent.name == RECORDS_DIR and path.stem.isdigit():
        others = [chain for chain in recorded_chains(path.parent.parent) if str(chain) != path.stem]
        if others:
            missing += f"; this home has records for chain {', '.join(map(str, others))}"
    data = read_json(path, what="deployment record", missing=missing)
    if isinstance(data, dict) and "chain_id" in data and "approval_threshold_wei" not in data:
        raise ConfigError(
            f"deployment record {path} is from before trust model v2, whose contracts changed: deploy again"
        )
    if isinstance(data, dict) and "chain_id" in data and "loyalty" not in data:
        raise ConfigError(
            f"deployment record {path} is from before ERC-20 invoices and loyalty points, "
            "whose contracts changed: deploy again"
        )
    try:
        return Deployment(**data)
    except TypeError as exc:
        raise ConfigError(f"deployment record {path} is malformed: {exc}") from None


def check_record(chain: Chain, deployment: Deployment) -> None:
    """The node serves the record's chain and has code at every address (asked in one batch)."""
    contracts = (
        ("registry", deployment.registry),
        ("pipeline", deployment.pipeline),
        ("escrow", deployment.escrow),
        ("loyalty points", deployment.loyalty),
        *((("branch directory", deployment.branches),) if deployment.branches else ()),
    )
    codes = chain.codes([address for _, address in contracts])
    if chain.chain_id != deployment.chain_id:
        raise ChainError(
            f"the node at {chain.endpoint} serves chain {chain.chain_id}, "
            f"the deployment record is for chain {deployment.chain_id}"
        )
    for (what, address), code in zip(contracts, codes, strict=True):
        if not code:
            raise ChainError(
                f"no {what} contract at {address} on chain {chain.chain_id}: is the deployment record for this chain?"
            )
