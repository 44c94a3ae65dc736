"""Issue 12's stories in the demo: branches on chain, and interactions anchored in Merkle batches.

- Branches: the manager opens two branches and names their branch managers; the demo's agents
  are placed in the branch of most of their customers, the customers assigned to it, and the
  Lisbon branch manager brings a newcomer into the agent role (the newcomer's power comes from
  the branch manager, who can grant nothing outside the branch).
- Batched interactions: one agent logs a day of calls batched: each note is encrypted and stored
  on IPFS at once, its record enters the durable queue, and the batcher anchors the records by
  their Merkle root: one event for the whole batch. One record is then proved from IPFS plus one
  log query, and the contract checks the proof itself.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING

from eth_typing import HexStr

from chaincrm.batches import Batcher, open_queue
from chaincrm.batches.records import queue_interaction
from chaincrm.batches.verify import prove_record
from chaincrm.models import InteractionKind, Outcome
from chaincrm.privacy import InteractionContent
from chaincrm.services.anvil import dev_private_keys

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from rich.console import Console

    from chaincrm.config import Settings
    from chaincrm.contracts.client import Crm
    from chaincrm.privacy.notes import CustomerNotes
    from chaincrm_tools.demo.seeding import DemoStaff, SeedSummary

BRANCH_NAMES = ("lisbon", "porto")
BATCHED_CALLS = 120  # one batch of 100 and one of 20: the batcher's default size is 100
_BRANCH_MANAGER_KEYS = (7, 8)  # Anvil development keys 7 and 8 manage the branches; 9 is the newcomer
_NEWCOMER_KEY = 9


def branch_keys() -> tuple[LocalAccount, LocalAccount, LocalAccount]:
    """The two branch managers and the newcomer, on Anvil's public development keys."""
    from eth_account import Account

    keys = dev_private_keys(_NEWCOMER_KEY + 1)
    lisbon, porto = (Account.from_key(keys[i]) for i in _BRANCH_MANAGER_KEYS)
    return lisbon, porto, Account.from_key(keys[_NEWCOMER_KEY])


def open_branches(console: Console, crm: Crm, staff: DemoStaff, summary: SeedSummary) -> dict[str, int]:
    """Create the branches, name their managers, place each agent and assign every customer."""
    manager = staff.manager
    branches = crm.branches
    lisbon_manager, porto_manager, newcomer = branch_keys()
    ids = {name: branches.create_branch(name, manager) for name in BRANCH_NAMES}
    branches.set_branch_manager(ids["lisbon"], lisbon_manager.address, manager)
    branches.set_branch_manager(ids["porto"], porto_manager.address, manager)
    # The first two agents work in Lisbon, the third in Porto; a customer goes with its agent.
    home = {agent.address: ("lisbon" if i < 2 else "porto") for i, agent in enumerate(staff.agents)}
    for agent in staff.agents:
        branches.add_staff(ids[home[agent.address]], agent.address, manager)  # existing agents: a registry manager
    per_branch: Counter[str] = Counter()
    for customer_id, agent in summary.agent_of.items():
        branch = home[agent.address]
        branches.assign_customer(ids[branch], customer_id, manager)
        per_branch[branch] += 1
    # A branch manager's own power: bring a newcomer into their branch, and so into the agent role.
    branches.add_staff(ids["lisbon"], newcomer.address, lisbon_manager)
    registry = crm.registry.contract.functions
    joined = registry.hasRole(registry.AGENT_ROLE().call(), newcomer.address).call()
    console.print(
        f"[bold]Branches[/] on chain: lisbon (manager {lisbon_manager.address}, "
        f"{per_branch['lisbon']} customers) and porto (manager {porto_manager.address}, "
        f"{per_branch['porto']} customers); the Lisbon manager made {newcomer.address} an agent of "
        f"Lisbon: {'yes' if joined else 'no'}"
    )
    return ids


def batched_calls(
    console: Console, settings: Settings, crm: Crm, notes: CustomerNotes, summary: SeedSummary, agent: LocalAccount
) -> None:
    """One agent's calls, logged batched, anchored by root, and one of them proved."""
    customers = [customer_id for customer_id, author in summary.agent_of.items() if author == agent]
    queue = open_queue(crm, settings.state_dir, agent.address)
    started = time.perf_counter()
    queued = []
    for i in range(BATCHED_CALLS):
        customer_id = customers[i % len(customers)]
        content = InteractionContent(note=f"Follow-up call {i + 1} of the day about the renewal.")
        queued.append(
            queue_interaction(notes, queue, customer_id, InteractionKind.CALL, Outcome.POSITIVE, content, agent)
        )
    stored_seconds = time.perf_counter() - started
    batcher = Batcher(queue, crm.registry, notes.store, agent, from_block=crm.deployment.block_number)
    landed = batcher.flush()
    gas = 0
    for batch in landed:
        receipt = crm.chain.w3.eth.get_transaction_receipt(HexStr(batch.tx_hash))
        gas += int(receipt["gasUsed"])
    records = sum(batch.count for batch in landed)
    console.print(
        f"[bold]Batched interactions:[/] {agent.address} logged {BATCHED_CALLS} calls batched "
        f"({stored_seconds:.1f} s to encrypt and store their notes); {len(landed)} anchors carry "
        f"{records} records for {gas:,} gas in all, {gas / max(records, 1):,.0f} gas per record"
    )
    proof = prove_record(
        crm.registry, notes.store, landed[0].root, queued[0].record_id, from_block=crm.deployment.block_number
    )
    console.print(
        f"  record 0x{queued[0].record_id.hex()[:16]}… is in root 0x{landed[0].root.hex()[:16]}… "
        f"(proof of {len(proof.proof)} hashes, checked from IPFS and one log query): "
        f"{'yes' if proof.included else 'no'}; the contract's verifyInteraction agrees: "
        f"{'yes' if proof.contract_agrees else 'no'}"
    )
    if not proof.included:
        raise RuntimeError(f"the demo's batched record was not proved: {proof.reason}")


__all__ = ["BATCHED_CALLS", "BRANCH_NAMES", "batched_calls", "branch_keys", "open_branches"]
