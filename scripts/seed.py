"""brownie run scripts/seed.py [main CUSTOMERS INTERACTIONS DEALS]: demo data on a development chain.

Customers' wallets are proposed and then accepted by the wallets themselves (by transaction, or by
a relayed signature), profiles and interaction notes are encrypted on IPFS, deals above the
approval threshold are won by the manager. Needs the deployment record and the IPFS service
(`chaincrm node up`); refuses live networks.
"""

from __future__ import annotations

import random

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chaincrm.errors import ConfigError
from chaincrm.services.anvil import dev_private_keys
from chaincrm.storage import KuboStore
from chaincrm_tools.demo.seeding import DemoStaff, progress_totals, seed
from scripts._common import DEV_CHAIN_IDS, crm, record_settings, run

DEV_ACCOUNTS = 10  # Anvil's default accounts: staff come from the first six


def main(customers: int = 40, interactions: int = 300, deals: int = 32) -> None:
    from eth_account import Account

    def body() -> None:
        counts = {"customers": int(customers), "interactions": int(interactions), "deals": int(deals)}
        if counts["customers"] < 1 or counts["interactions"] < 0 or counts["deals"] < 8:
            raise ConfigError("need at least 1 customer, 0 interactions and 8 deals")
        settings = record_settings()
        target = crm(settings)
        if target.chain.chain_id not in DEV_CHAIN_IDS:
            raise ConfigError(
                f"seeding writes demo data with public test keys: refused on chain {target.chain.chain_id}"
            )
        keys = [Account.from_key(key) for key in dev_private_keys(DEV_ACCOUNTS)]
        # The treasury releases after the dispute window when its key is one of the dev keys
        # (deploy.py's default: the deployer); otherwise the payers release.
        treasury = next((key for key in keys if key.address == target.escrow.treasury()), None)
        staff = DemoStaff(
            admin=keys[0], manager=keys[1], agents=(keys[2], keys[3], keys[4]), auditor=keys[5], treasury=treasury
        )
        store = KuboStore(settings.ipfs_api)
        columns = (TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns) as progress:
            totals = progress_totals(**counts)
            tasks = {name: progress.add_task(name, total=total) for name, total in totals.items()}
            summary = seed(
                target,
                store,
                staff,
                **counts,
                rng=random.Random(),
                progress=lambda what, n: progress.advance(tasks[what], n),
            )
        print(
            f"seeded {len(summary.customers)} customers, {summary.interactions} interactions, "
            f"{len(summary.deals)} deals, "
            f"{len(summary.invoices_paid)} invoices paid and {len(summary.invoices_unpaid)} unpaid"
        )
        print(
            f"wallets accepted by their own transaction: {len(summary.accepted_by_transaction)}, "
            f"by a relayed signature: {len(summary.accepted_by_signature)}; "
            f"deals won above the approval threshold by the manager: {len(summary.won_by_manager)}"
        )

    run(body)
