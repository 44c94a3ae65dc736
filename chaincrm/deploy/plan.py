"""The deployment as a list of transactions, fixed before the first is sent.

Every address is known in advance: a contract made by CREATE lands at an address given by the
deployer and the nonce, and the deployer sends every step with consecutive nonces from
`start_nonce`. So the whole plan (the data of each transaction, where each contract lands) follows
from the deployer, its first nonce and the settings: the escrow names the pipeline's future address
as its issuer, the admin's calls name contracts not yet deployed, and an interrupted deploy can be
recognised step by step on the chain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from chaincrm.chain.artifacts import load_artifact

DAY_SECONDS = 24 * 3600
DEFAULT_DISPUTE_WINDOW_SECONDS = 7 * DAY_SECONDS
DEFAULT_PAYMENT_TERM_SECONDS = 30 * DAY_SECONDS
DEFAULT_DISPUTE_RESOLUTION_SECONDS = 14 * DAY_SECONDS
DEFAULT_ADMIN_TRANSFER_DELAY_SECONDS = 2 * DAY_SECONDS
DEFAULT_APPROVAL_THRESHOLD_WEI = 10 * 10**18

CREATED = ("CrmRegistry", "InvoiceEscrow", "DealPipeline", "LoyaltyPoints", "BranchDirectory")
"""The contracts a deploy creates, in order."""
RECORD_FIELDS = {
    "CrmRegistry": "registry",
    "InvoiceEscrow": "escrow",
    "DealPipeline": "pipeline",
    "LoyaltyPoints": "loyalty",
    "BranchDirectory": "branches",
}
"""Each created contract's field in the deployment record."""


@dataclass(frozen=True)
class DeploySettings:
    """What the contracts are deployed with (fixed at deployment, except as the contracts allow)."""

    treasury: ChecksumAddress
    admin: ChecksumAddress
    dispute_window_seconds: int = DEFAULT_DISPUTE_WINDOW_SECONDS
    payment_term_seconds: int = DEFAULT_PAYMENT_TERM_SECONDS
    dispute_resolution_seconds: int = DEFAULT_DISPUTE_RESOLUTION_SECONDS
    treasury_delay_seconds: int = DEFAULT_DISPUTE_WINDOW_SECONDS + DAY_SECONDS
    approval_threshold_wei: int = DEFAULT_APPROVAL_THRESHOLD_WEI
    admin_transfer_delay_seconds: int = DEFAULT_ADMIN_TRANSFER_DELAY_SECONDS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Step:
    """One transaction of the deploy: a CREATE of `contract` (to is None), or a call to `address`."""

    name: str  # the contract created, or the function called ("setBranchDirectory")
    contract: str  # the artifact: the contract created, or the contract called
    nonce: int
    address: ChecksumAddress  # where the contract lands (a create), or the contract called
    data: bytes
    args: tuple[Any, ...]

    @property
    def creates(self) -> bool:
        return self.name == self.contract


def create_address(deployer: str, nonce: int) -> ChecksumAddress:
    """The address a CREATE from `deployer` at `nonce` makes."""
    import rlp

    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(deployer[2:]), nonce]))[12:])


def plan(deployer: str, start_nonce: int, settings: DeploySettings) -> tuple[Step, ...]:
    """Every transaction of a deploy from `deployer` starting at `start_nonce`.

    The registry (admin: `settings.admin`), the escrow naming the pipeline's future address as its
    only issuer, the pipeline (whose constructor checks that), the loyalty points the escrow mints,
    and the branch directory. When the deployer is the admin it then connects the points to the
    escrow (`setLoyaltyProgram`) and the directory to the registry (`setBranchDirectory`);
    otherwise the admin does that later.
    """
    deployer = to_checksum_address(deployer)
    at = [create_address(deployer, start_nonce + i) for i in range(len(CREATED))]
    registry, escrow, pipeline, loyalty, branches = at
    constructor_args: dict[str, tuple[Any, ...]] = {
        "CrmRegistry": (settings.admin, settings.admin_transfer_delay_seconds),
        "InvoiceEscrow": (
            registry,
            pipeline,
            settings.treasury,
            settings.dispute_window_seconds,
            settings.payment_term_seconds,
            settings.dispute_resolution_seconds,
            settings.treasury_delay_seconds,
        ),
        "DealPipeline": (registry, escrow, settings.approval_threshold_wei),
        "LoyaltyPoints": (escrow,),
        "BranchDirectory": (registry,),
    }
    steps = [
        Step(name, name, start_nonce + i, at[i], _creation(name, constructor_args[name]), constructor_args[name])
        for i, name in enumerate(CREATED)
    ]
    if settings.admin == deployer:
        calls = (
            ("setLoyaltyProgram", "InvoiceEscrow", escrow, (loyalty,)),
            ("setBranchDirectory", "CrmRegistry", registry, (branches,)),
        )
        for function, contract, address, args in calls:
            nonce = start_nonce + len(steps)
            steps.append(Step(function, contract, nonce, address, _call(contract, function, args), args))
    return tuple(steps)


def _creation(name: str, args: tuple[Any, ...]) -> bytes:
    from eth_abi import encode

    artifact = load_artifact(name)
    constructor: dict[str, Any] = next((item for item in artifact.abi if item["type"] == "constructor"), {"inputs": []})
    types = [item["type"] for item in constructor["inputs"]]
    return bytes.fromhex(artifact.bytecode.removeprefix("0x")) + encode(types, list(args))


def _call(contract: str, function: str, args: tuple[Any, ...]) -> bytes:
    from eth_abi import encode

    abi = next(
        item
        for item in load_artifact(contract).abi
        if item["type"] == "function" and item["name"] == function and len(item["inputs"]) == len(args)
    )
    types = [item["type"] for item in abi["inputs"]]
    selector = keccak(text=f"{function}({','.join(types)})")[:4]
    return selector + encode(types, list(args))


__all__ = [
    "CREATED",
    "DAY_SECONDS",
    "DEFAULT_ADMIN_TRANSFER_DELAY_SECONDS",
    "DEFAULT_APPROVAL_THRESHOLD_WEI",
    "DEFAULT_DISPUTE_RESOLUTION_SECONDS",
    "DEFAULT_DISPUTE_WINDOW_SECONDS",
    "DEFAULT_PAYMENT_TERM_SECONDS",
    "RECORD_FIELDS",
    "DeploySettings",
    "Step",
    "create_address",
    "plan",
]
