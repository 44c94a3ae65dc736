"""The world a fault run writes into: a fresh deployment on the run's Anvil, the writers' keys as
agents with published encryption keys, and a few customers per key, registered by that key (so it
holds a grant and can seal notes for them) with real sealed profiles on the run's IPFS node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import deploy, save_record
from chaincrm.models import Deployment, Purpose, Role
from chaincrm.privacy import CustomerProfile
from chaincrm.privacy.customers import CustomerData, public_key64
from chaincrm.services.anvil import dev_private_keys
from chaincrm.storage import KuboStore

ADMIN_INDEX = 0
FIRST_WRITER_INDEX = 1
CUSTOMERS_PER_KEY = 3


@dataclass(frozen=True)
class WriterKey:
    """One signing key of the run and the customers it registered."""

    index: int
    """Its position among Anvil's dev accounts."""
    address: str
    customers: tuple[int, ...]


@dataclass(frozen=True)
class World:
    deployment: Deployment
    record: Path
    keys: tuple[WriterKey, ...]
    first_block: int
    """The block of the first contract's creation (the record names a later one: the pipeline's)."""


def dev_account(index: int) -> LocalAccount:
    return Account.from_key(dev_private_keys(index + 1)[index])


def prepare_world(rpc_url: str, ipfs_api: str, folder: Path, key_count: int) -> World:
    """Deploy, make `key_count` agents (dev accounts 1..key_count) and their customers; the
    deployment record is written to `folder`/deployment.json."""
    chain = connect(rpc_url, confirmations=0)
    admin = dev_account(ADMIN_INDEX)
    first_block = chain.block_number() + 1
    crm = Crm.attach(chain, deploy(chain, admin, treasury=admin.address))
    registry = crm.registry
    registry.register_encryption_key(public_key64(admin), admin)
    keys: list[WriterKey] = []
    with KuboStore(ipfs_api) as store:
        customers = CustomerData(crm, store)
        for index in range(FIRST_WRITER_INDEX, FIRST_WRITER_INDEX + key_count):
            agent = dev_account(index)
            registry.grant_role(Role.AGENT, agent.address, admin)
            registry.register_encryption_key(public_key64(agent), agent)
            registered = tuple(
                customers.add(
                    CustomerProfile(name=f"Customer {index}-{n}"), wallet=None, purpose=Purpose.SALES, agent=agent
                ).customer_id
                for n in range(CUSTOMERS_PER_KEY)
            )
            keys.append(WriterKey(index, agent.address, registered))
    record = folder / "deployment.json"
    save_record(crm.deployment, record, force=True)
    return World(crm.deployment, record, tuple(keys), first_block)


__all__ = ["CUSTOMERS_PER_KEY", "World", "WriterKey", "dev_account", "prepare_world"]
