"""The main job: the whole story on a local chain and a local IPFS node, with real components.

node up (Anvil with persisted state + the embedded IPFS node), deploy, staff with encrypted
keystores, customers with encrypted profiles on IPFS, interactions with documents on IPFS, deals
moving through stages, the contract issuing invoices, a customer paying from their keystore
wallet, release to the treasury, and a report. On success the stack keeps running for the CLI
(`chaincrm node down` stops it); on failure or Ctrl-C whatever this run started is stopped.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chaincrm import stack
from chaincrm.client import Crm, connect
from chaincrm.config import Settings
from chaincrm.customers import CustomerData
from chaincrm.deployment import deploy, save_record
from chaincrm.devchain import dev_private_keys
from chaincrm.documents import KuboStore, cid_to_digest, content_hash
from chaincrm.errors import PrivacyError
from chaincrm.indexer import Indexer
from chaincrm.keys import create_keystore, keystore_path, load_signer
from chaincrm.models import DocumentKind, InteractionKind, InvoiceStatus, Outcome, Stage
from chaincrm.payments import payment_uri
from chaincrm.queries import customer_timeline, pipeline_by_stage
from chaincrm.registry import InteractionEntry
from chaincrm.report_render import print_report
from chaincrm.reports import compute, history_from_database, verify_against_chain
from chaincrm.seeding import DemoStaff, seed

WEI_PER_ETH = 10**18
ANVIL_PORT = 8545
IPFS_PORT = 5001
DEMO_PASSWORD = "chaincrm-demo"  # noqa: S105 - protects only the public Anvil test keys of the demo


def run_demo(
    *,
    customers: int,
    interactions: int,
    deals: int,
    home: Path | None = None,
    chain_port: int = ANVIL_PORT,
    ipfs_port: int = IPFS_PORT,
) -> None:
    console = Console()
    settings = Settings.from_env(home=home)
    settings = Settings(
        rpc_url=f"http://127.0.0.1:{chain_port}", ipfs_api=f"/ip4/127.0.0.1/tcp/{ipfs_port}/http",
        home=settings.home, confirmations=settings.confirmations,
    )  # fmt: skip
    password = os.environ.get("CHAINCRM_PASSWORD", DEMO_PASSWORD)
    started = time.perf_counter()

    state = stack.up(settings, chain_port=chain_port, ipfs_port=ipfs_port)
    console.print(
        f"[bold]Stack up[/]: chain {state.chain.url} ({'started' if state.chain.started else 'already running'}), "
        f"IPFS {state.ipfs.url} ({'started' if state.ipfs.started else 'already running'}; "
        "private: loopback, no bootstrap)"
    )
    try:
        _story(console, settings, password, customers=customers, interactions=interactions, deals=deals)
    except BaseException:
        if state.chain.started or state.ipfs.started:
            console.print("[bold red]Stopping the stack this run started[/]")
            stack.down(settings)
        raise
    console.print(
        f"[bold]Done[/] in {time.perf_counter() - started:.1f} s. The stack keeps running for the CLI "
        f"(home {settings.home}; keystore password "
        f"{'from CHAINCRM_PASSWORD' if 'CHAINCRM_PASSWORD' in os.environ else repr(DEMO_PASSWORD)}); "
        "stop it with `chaincrm node down`."
    )


def _story(
    console: Console, settings: Settings, password: str, *, customers: int, interactions: int, deals: int
) -> None:
    chain = connect(settings.rpc_url)
    keys = [Account.from_key(key) for key in dev_private_keys(7)]
    staff = DemoStaff(admin=keys[0], manager=keys[1], agents=(keys[2], keys[3], keys[4]), auditor=keys[5])
    treasury = keys[6]

    deployment = deploy(chain, staff.admin, treasury=treasury.address)
    save_record(deployment, settings.deployment_path, force=True)
    console.print(
        f"[bold]Deployed[/] on chain {deployment.chain_id} at block {deployment.block_number}: "
        f"registry {deployment.registry}, pipeline {deployment.pipeline}, escrow {deployment.escrow}"
    )
    crm = Crm.attach(chain, deployment)
    store = KuboStore(settings.ipfs_api)

    console.print(f"[bold]Staff keystores[/] in {settings.keystore_dir} (encrypted, scrypt)")
    for role, account in (
        ("admin", staff.admin),
        ("manager", staff.manager),
        ("agent", staff.agents[0]),
        ("auditor", staff.auditor),
    ):
        _keystore(settings, account, password)
        console.print(f"  {role:8} {account.address}")

    columns = (TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        tasks = {
            name: progress.add_task(name, total=total)
            for name, total in (
                ("staff", 1),
                ("customers", customers),
                ("interactions", interactions),
                ("deals", deals),
            )
        }
        summary = seed(
            crm, store, staff, customers=customers, interactions=interactions, deals=deals,
            rng=random.Random(7), progress=lambda what, n: progress.advance(tasks[what], n),
        )  # fmt: skip
    console.print(
        f"[bold]Seeded[/] {len(summary.customers)} customers (profiles encrypted on IPFS), "
        f"{summary.interactions} interactions, {len(summary.deals)} deals; "
        f"the contract issued {len(summary.invoices_paid) + len(summary.invoices_unpaid)} invoices"
    )

    data = CustomerData(crm, store)
    customer_id = summary.customers[0]
    agent = next(a for a in staff.agents if a.address in data.readers(customer_id))
    notes = data.seal_attachment(customer_id, b"Meeting notes: renewal terms agreed, pricing follow-up.", agent)
    cid = store.put(notes)
    crm.registry.log_interaction(
        InteractionEntry(customer_id, InteractionKind.MEETING, Outcome.FOLLOW_UP, content_hash(notes)), agent
    )
    console.print(
        f"[bold]Interaction[/] with encrypted meeting notes on IPFS: customer {customer_id}, notes {cid} "
        "(only the hash is on-chain)"
    )

    invoice_id = summary.invoices_unpaid[0]
    invoice = crm.escrow.invoice(invoice_id)
    proposal = (
        f"Proposal for deal {invoice.deal_id}: annual licence, {invoice.amount_wei / WEI_PER_ETH:.3f} ETH.".encode()
    )
    proposal_cid = store.put(proposal)
    crm.pipeline.attach_document(
        invoice.deal_id, DocumentKind.PROPOSAL, content_hash(proposal), cid_to_digest(proposal_cid), staff.manager
    )
    console.print(
        f"[bold]Proposal[/] for deal {invoice.deal_id} stored at {proposal_cid}; its hash recorded on the deal"
    )

    wallet = summary.customer_wallets[invoice.customer_id]
    keystore = _keystore(settings, wallet, password)
    payer = load_signer(keystore, password=password, prompt=False).account
    console.print(
        f"[bold]Customer {invoice.customer_id} pays invoice {invoice_id}[/] from their keystore wallet {payer.address}"
    )
    console.print(
        "  payment URI (a wallet app can scan it as a QR code): "
        f"{payment_uri(chain.chain_id, crm.escrow.address, invoice)}"
    )
    receipt = crm.escrow.pay(invoice_id, payer)
    console.print(
        f"  paid {invoice.amount_wei / WEI_PER_ETH:.4f} ETH into escrow in block {receipt['blockNumber']} "
        f"(gas {receipt['gasUsed']:,})"
    )
    crm.escrow.confirm_delivery(invoice_id, payer)
    console.print(
        f"  delivery confirmed: invoice {invoice_id} is "
        f"{crm.escrow.invoice(invoice_id).status.name.lower()} to the treasury"
    )

    data.read(invoice.customer_id, payer)
    readers = set(data.readers(invoice.customer_id))
    outsider = next(a for a in (*staff.agents, staff.manager, staff.auditor) if a.address not in readers)
    try:
        data.read(invoice.customer_id, outsider)
        raise AssertionError("an agent without a grant decrypted a profile")
    except PrivacyError as refused:
        console.print(
            f"  customer {invoice.customer_id} decrypted their own profile from IPFS; "
            f"staff without a grant cannot ({refused})"
        )

    _print_report(console, crm, invoice.customer_id)

    # Each run deploys new contracts, so the previous run's index belongs to another deployment.
    for stale in settings.home.glob("index.sqlite*"):
        stale.unlink()
    with Indexer.from_settings(settings, confirmations=0) as indexer:
        synced = indexer.sync_once()
    history = history_from_database(None, deployment, home=settings.home)
    report = compute(history)
    console.print(
        f"[bold]Indexed[/] {synced.rows:,} rows from {synced.logs:,} events into {settings.home / 'index.sqlite'}; "
        "the report below comes from the index"
    )
    print_report(report, console)
    checks = verify_against_chain(crm, history, report)
    matching = sum(1 for check in checks if check.matches)
    console.print(f"[bold]Recomputed from the chain alone[/]: {matching} of {len(checks)} figures match the index")


def _keystore(settings: Settings, account: LocalAccount, password: str) -> Path:
    path = keystore_path(account.address, settings.keystore_dir)
    if not path.exists():
        create_keystore(settings.keystore_dir, password, private_key=bytes(account.key))
    return path


def _print_report(console: Console, crm: Crm, customer_id: int) -> None:
    table = Table(title="Pipeline by stage")
    table.add_column("stage")
    table.add_column("deals", justify="right")
    table.add_column("value (ETH)", justify="right")
    for row in pipeline_by_stage(crm):
        table.add_row(row.stage.name.title(), str(row.deals), f"{row.value_wei / WEI_PER_ETH:.3f}")
    console.print(table)

    invoices = crm.escrow.invoices()
    money = Table(title="Invoices")
    money.add_column("status")
    money.add_column("count", justify="right")
    money.add_column("ETH", justify="right")
    for status in InvoiceStatus:
        if status is InvoiceStatus.NONE:
            continue
        items = [i for i in invoices if i.status is status]
        money.add_row(status.name.title(), str(len(items)), f"{sum(i.amount_wei for i in items) / WEI_PER_ETH:.3f}")
    console.print(money)
    console.print(f"Escrow holds {crm.escrow.escrowed_wei() / WEI_PER_ETH:.4f} ETH; treasury {crm.escrow.treasury()}")

    deals = crm.pipeline.deals()
    won = sum(1 for d in deals if d.stage is Stage.WON)
    closed = sum(1 for d in deals if d.stage.is_final)
    console.print(
        f"Win rate: {won} won of {closed} closed deals ({100 * won / max(closed, 1):.0f}%); "
        f"{len(deals) - closed} still open"
    )

    timeline = Table(title=f"Timeline of customer {customer_id}")
    for column in ("block", "what", "detail", "actor"):
        timeline.add_column(column)
    for entry in customer_timeline(crm, customer_id):
        timeline.add_row(str(entry.block_number), entry.what, entry.detail, entry.actor[:10] + "…")
    console.print(timeline)
