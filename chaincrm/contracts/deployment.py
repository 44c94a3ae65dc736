"""Deploying the CRM and the deployment record the SDK reads.

The record (JSON) says which chain and which addresses; loading it checks the chain id against the
node and that code exists at every address, so a record for another chain is never used by
accident, and saving refuses to overwrite a record for another chain unless told to.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from chaincrm.chain import Chain, Sender
from chaincrm.chain.artifacts import load_artifact, read_json
from chaincrm.errors import ChainError, ConfigError
from chaincrm.models import Deployment

DAY_SECONDS = 24 * 3600
DEFAULT_DISPUTE_WINDOW_SECONDS = 7 * DAY_SECONDS
DEFAULT_PAYMENT_TERM_SECONDS = 30 * DAY_SECONDS
DEFAULT_DISPUTE_RESOLUTION_SECONDS = 14 * DAY_SECONDS
DEFAULT_ADMIN_TRANSFER_DELAY_SECONDS = 2 * DAY_SECONDS
DEFAULT_APPROVAL_THRESHOLD_WEI = 10 * 10**18


def create_address(deployer: str, nonce: int) -> ChecksumAddress:
    """The address a CREATE from `deployer` at `nonce` makes."""
    import rlp

    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(deployer[2:]), nonce]))[12:])


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
    issuer, then the pipeline (whose constructor checks that it is that issuer), then the loyalty
    points naming the escrow as their minter. When the deployer is the admin it also connects the
    points to the escrow (`setLoyaltyProgram`); otherwise the admin does that later."""
    admin_address = to_checksum_address(admin or deployer.address)
    if treasury_delay_seconds is None:
        treasury_delay_seconds = dispute_window_seconds + DAY_SECONDS
    registry = _deploy(chain, deployer, "CrmRegistry", admin_address, admin_transfer_delay_seconds)
    escrow_nonce = chain.nonces.peek(to_checksum_address(deployer.address))
    issuer = create_address(deployer.address, escrow_nonce + 1)
    escrow = _deploy(
        chain,
        deployer,
        "InvoiceEscrow",
        registry,
        issuer,
        to_checksum_address(treasury),
        dispute_window_seconds,
        payment_term_seconds,
        dispute_resolution_seconds,
        treasury_delay_seconds,
    )
    pipeline, receipt = _deploy_with_receipt(chain, deployer, "DealPipeline", registry, escrow, approval_threshold_wei)
    if pipeline != issuer:
        raise ChainError(f"the pipeline landed at {pipeline}, not at the escrow's issuer {issuer}: deploy again")
    loyalty = _deploy(chain, deployer, "LoyaltyPoints", escrow)
    if admin_address == to_checksum_address(deployer.address):
        connect_loyalty(chain, deployer, escrow, loyalty)
    block = chain.rpc(lambda: chain.w3.eth.get_block(receipt["blockNumber"]))
    return Deployment(
        chain_id=chain.chain_id,
        registry=registry,
        pipeline=pipeline,
        escrow=escrow,
        deployer=to_checksum_address(deployer.address),
        block_number=int(receipt["blockNumber"]),
        deployed_at=int(block["timestamp"]),
        treasury=to_checksum_address(treasury),
        dispute_window_seconds=dispute_window_seconds,
        payment_term_seconds=payment_term_seconds,
        dispute_resolution_seconds=dispute_resolution_seconds,
        treasury_delay_seconds=treasury_delay_seconds,
        approval_threshold_wei=approval_threshold_wei,
        loyalty=loyalty,
    )


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
