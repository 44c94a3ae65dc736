"""The main job: the whole story on a local chain and a local IPFS node, with real components.

node up (Anvil with persisted state + the embedded IPFS node), deploy, staff with encrypted
keystores and published encryption keys, customers with encrypted profiles on IPFS whose wallets
are proposed by staff and accepted by the customers themselves (by transaction, or by a relayed
signature from a wallet without ETH), interactions whose notes are encrypted documents on IPFS,
deals moving through stages (large ones won by a manager), the contract issuing invoices, a
consent given and withdrawn around a manager's grant, a customer paying from their keystore
wallet, release after the dispute window by the treasury, and a report from the index checked
against the chain. On success the stack keeps running for the CLI (`chaincrm node down` stops
it); on failure or Ctrl-C whatever this run started is stopped.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from chaincrm.batches.chain_records import batch_document_store
from chaincrm.chain import Chain
from chaincrm.chain.keystores import create_keystore, keystore_path, load_signer
from chaincrm.cli.context import WEI_PER_ETH
from chaincrm.cli.output import console as output_console
from chaincrm.config import Settings
from chaincrm.contracts.client import RPC_TIMEOUT_SECONDS, Crm, chain_for
from chaincrm.contracts.deployment import deploy, record_path, save_record
from chaincrm.contracts.payments import payment_uri
from chaincrm.currency import tokens_info
from chaincrm.errors import PrivacyError
from chaincrm.index.indexer import Indexer
from chaincrm.models import DocumentKind, InteractionKind, Invoice, InvoiceStatus, Outcome, Purpose, Stage
from chaincrm.privacy import Attachment, InteractionContent
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.notes import CustomerNotes
from chaincrm.reports.figures import report_currencies, with_tokens
from chaincrm.reports.kpis import compute, history_from_database, reconcile_with_chain
from chaincrm.reports.render import print_report
from chaincrm.services import stack
from chaincrm.services.anvil import dev_private_keys
from chaincrm.storage import KuboStore
from chaincrm.views.timeline import customer_timeline, pipeline_by_stage
from chaincrm_tools.demo.commerce import (
    bank_transfer,
    offer_and_points,
    set_loyalty_rates,
    stablecoin_with_permit,
    won_invoice,
)
from chaincrm_tools.demo.reminders import send_reminders
from chaincrm_tools.demo.scale import batched_calls, open_branches
from chaincrm_tools.demo.seeding import (
    SIGNATURE_LIFETIME_SECONDS,
    DemoStaff,
    SeedSummary,
    days_pass,
    progress_totals,
    seed,
    top_up,
)

DAY_SECONDS = 24 * 3600
REMINDED_INVOICE_WEI = WEI_PER_ETH // 4  # below the approval threshold: its agent wins it
DEMO_PASSWORD = "chaincrm-demo"  # noqa: S105 - protects only the public Anvil test keys of the demo


def run_demo(
    settings: Settings,
    *,
    customers: int,
    interactions: int,
    deals: int,
    chain_port: int | None = None,
    ipfs_port: int | None = None,
) -> None:
    """The story in `settings.home`, on the stack at `settings.rpc_url` and `settings.ipfs_api`
    (started on their ports, or on `chain_port`/`ipfs_port`, which then name the endpoints)."""
    console = output_console()
    chain_port = chain_port or stack.chain_port_of(settings.rpc_url)
    ipfs_port = ipfs_port or stack.ipfs_port_of(settings.ipfs_api)
    settings = replace(
        settings,
        rpc_url=_with_port(settings.rpc_url, chain_port),
        ipfs_api=settings.ipfs_api.replace(f"/tcp/{stack.ipfs_port_of(settings.ipfs_api)}/", f"/tcp/{ipfs_port}/"),
    )
    password = os.environ.get("CHAINCRM_PASSWORD", DEMO_PASSWORD)
    started = time.perf_counter()

    state = stack.up(settings, chain_port=chain_port, ipfs_port=ipfs_port)
    console.print(
        f"[bold]Stack up[/]: chain {state.chain.url} ({'started' if state.chain.started else 'already running'}), "
        f"IPFS {state.ipfs.url} ({'started' if state.ipfs.started else 'already running'}; "
        "private: loopback, no bootstrap)"
    )
    try:
        _story(console, settings, password, StorySize(customers, interactions, deals))
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
    console.print(
        "[bold]Customer portal[/]: `chaincrm serve` (add `--relayer-keystore ADDRESS` with a staff keystore to "
        "relay customers' signed consent changes), then open http://127.0.0.1:8700/pay/1 with a browser wallet "
        "holding the payer's key, or http://127.0.0.1:8700/me."
    )


@dataclass(frozen=True)
class StorySize:
    """How much data the story seeds."""

    customers: int
    interactions: int
    deals: int


def _story(console: Console, settings: Settings, password: str, size: StorySize) -> None:
    """Deploy, seed, tell the stories of one customer each, then report from the index."""
    chain = _connect(settings.rpc_url)
    staff = _demo_staff()
    crm = _deploy(console, settings, chain, staff)
    set_loyalty_rates(console, crm, staff)
    store = KuboStore(settings.ipfs_api)
    data = CustomerData(crm, store)
    notes = CustomerNotes(crm, store)
    staff_accounts = _print_staff(console, settings, staff)
    # scrypt makes each keystore take a moment: they are written on a thread of their own while the
    # data is seeded, and the payer's while the first stories are told.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="keystores") as keystores:
        written = keystores.submit(lambda: [_keystore(settings, account, password) for account in staff_accounts])
        summary = _seed_with_progress(console, crm, store, staff, size)
        _print_seeded(console, summary)
        invoice = _invoice_to_pay(crm, summary)
        wallet = summary.customer_wallets[invoice.customer_id]
        unlocked = keystores.submit(
            lambda: load_signer(_keystore(settings, wallet, password), password=password, prompt=False).account
        )
        _meeting(console, crm, notes, summary)
        _consent_and_grant(console, crm, data, staff, summary)
        payer = unlocked.result()
        _payment(console, crm, notes, staff, invoice, payer)
        _commerce(console, crm, notes, staff, summary, invoice, payer)
        open_branches(console, crm, staff, summary)
        batched_calls(console, settings, crm, notes, summary, staff.agents[0])
        written.result()
    _only_readers_decrypt(console, data, staff, invoice.customer_id, payer)
    _drop_index(settings)
    # The payer's agent keeps an invoice of theirs open past its due date: the keeper's reminders.
    agent = summary.agent_of[invoice.customer_id]
    won_invoice(crm, invoice.customer_id, agent, REMINDED_INVOICE_WEI)
    days_pass(crm, crm.deployment.payment_term_seconds + 15 * DAY_SECONDS)
    send_reminders(console, settings, crm, data, agent)
    _print_report(console, crm, invoice.customer_id)
    _index_and_check(console, settings, crm)


def _commerce(
    console: Console,
    crm: Crm,
    notes: CustomerNotes,
    staff: DemoStaff,
    summary: SeedSummary,
    paid: Invoice,
    payer: LocalAccount,
) -> None:
    """Issue 11's stories, told by the customer who just paid: an offer accepted and paid with
    points, a stablecoin invoice paid with a permit; and another customer's bank transfer."""
    customer_id = paid.customer_id
    agent = summary.agent_of[customer_id]
    offer_and_points(console, crm, staff, customer_id, payer)
    stablecoin_with_permit(console, crm, staff, customer_id, payer, agent)
    bank_transfer(console, notes, staff, won_invoice(crm, customer_id, agent, REMINDED_INVOICE_WEI))


def _demo_staff() -> DemoStaff:
    """The staff, on Anvil's public development keys."""
    keys = [Account.from_key(key) for key in dev_private_keys(7)]
    return DemoStaff(
        admin=keys[0], manager=keys[1], agents=(keys[2], keys[3], keys[4]), auditor=keys[5], treasury=keys[6]
    )


def _deploy(console: Console, settings: Settings, chain: Chain, staff: DemoStaff) -> Crm:
    """Deploy the contracts and record the deployment in the home, where the CLI finds it."""
    treasury = staff.treasury
    assert treasury is not None
    deployment = deploy(chain, staff.admin, treasury=treasury.address)
    save_record(deployment, record_path(settings.home, deployment.chain_id), force=True)
    console.print(
        f"[bold]Deployed[/] on chain {deployment.chain_id} at block {deployment.block_number}: "
        f"registry {deployment.registry}, pipeline {deployment.pipeline}, escrow {deployment.escrow}; "
        f"deals above {deployment.approval_threshold_wei / WEI_PER_ETH:g} ETH need a manager to be won, "
        f"dispute window {deployment.dispute_window_seconds // DAY_SECONDS} days"
    )
    return Crm.attach(chain, deployment)


def _print_staff(console: Console, settings: Settings, staff: DemoStaff) -> list[LocalAccount]:
    """List the staff whose keystores the CLI gets; returns their accounts."""
    assert staff.treasury is not None
    roles = (
        ("admin", staff.admin),
        ("manager", staff.manager),
        ("agent", staff.agents[0]),
        ("auditor", staff.auditor),
        ("treasury", staff.treasury),
    )
    console.print(f"[bold]Staff keystores[/] in {settings.keystore_dir} (encrypted, scrypt)")
    for role, account in roles:
        console.print(f"  {role:8} {account.address}")
    return [account for _, account in roles]


def _seed_with_progress(console: Console, crm: Crm, store: KuboStore, staff: DemoStaff, size: StorySize) -> SeedSummary:
    """Seed customers, interactions, deals and invoices, with a progress bar for each."""
    columns = (TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        totals = progress_totals(size.customers, size.interactions, size.deals)
        tasks = {name: progress.add_task(name, total=total) for name, total in totals.items()}
        return seed(
            crm, store, staff, customers=size.customers, interactions=size.interactions, deals=size.deals,
            rng=random.Random(7), progress=lambda what, n: progress.advance(tasks[what], n),
        )  # fmt: skip


def _only_readers_decrypt(
    console: Console, data: CustomerData, staff: DemoStaff, customer_id: int, customer: LocalAccount
) -> None:
    """The customer decrypts their own profile from IPFS; staff without a grant cannot."""
    data.read(customer_id, customer)
    readers = set(data.readers(customer_id))
    outsider = next(a for a in (*staff.agents, staff.auditor) if a.address not in readers)
    try:
        data.read(customer_id, outsider)
        raise AssertionError("staff without a grant decrypted a profile")
    except PrivacyError as refused:
        console.print(
            f"  customer {customer_id} decrypted their own profile from IPFS; staff without a grant cannot ({refused})"
        )


def _drop_index(settings: Settings) -> None:
    """Each run deploys new contracts, so the previous run's index belongs to another deployment."""
    for stale in settings.home.glob("index.sqlite*"):
        stale.unlink()


def _index_and_check(console: Console, settings: Settings, crm: Crm) -> None:
    """Index the chain from scratch, report from the index, and recompute the figures from the chain."""
    _drop_index(settings)
    with Indexer.from_settings(settings, confirmations=0) as indexer:
        synced = indexer.sync_once()
    history = history_from_database(None, crm.deployment, home=settings.home)
    report = compute(history)
    report = with_tokens(report, tokens_info(crm.chain, report_currencies(report)).values())
    console.print(
        f"[bold]Indexed[/] {synced.rows:,} rows from {synced.logs:,} events into {settings.home / 'index.sqlite'}; "
        "the report below comes from the index"
    )
    print_report(report, console)
    # The chain side reads the anchored batches' documents from IPFS, with the index's limits.
    with batch_document_store(settings.ipfs_api) as batches:
        checks = reconcile_with_chain(crm, history, report, store=batches)
    matching = sum(1 for check in checks if check.matches)
    console.print(f"[bold]Recomputed from the chain alone[/]: {matching} of {len(checks)} figures match the index")
    if matching != len(checks):
        raise AssertionError("the index and the chain disagree: see the figures above")


def _meeting(console: Console, crm: Crm, notes: CustomerNotes, summary: SeedSummary) -> None:
    """An agent logs a meeting with minutes attached; the customer reads it back with their own key."""
    customer_id = summary.customers[0]
    agent, wallet = summary.agent_of[customer_id], summary.customer_wallets[customer_id]
    content = InteractionContent(
        "Renewal terms agreed; pricing follow-up next week.",
        (Attachment("minutes.txt", b"Attendees: customer, account agent. Decisions: renew for 12 months.\n"),),
    )
    stored = notes.log_interaction(customer_id, InteractionKind.MEETING, Outcome.FOLLOW_UP, content, agent)
    read_back = notes.read_interaction(customer_id, stored.digest, wallet)
    assert read_back == content
    console.print(
        f"[bold]Interaction[/] with customer {customer_id}: note and minutes sealed under the customer's content "
        f"key, stored at {stored.cid}; the chain logged only the CID digest 0x{stored.digest.hex()[:16]}…; "
        f"the customer decrypted it with their wallet key ({len(read_back.attachments)} attachment)"
    )


def _consent_and_grant(console: Console, crm: Crm, data: CustomerData, staff: DemoStaff, summary: SeedSummary) -> None:
    """Consent given by the customer's transaction, a manager's grant for that purpose, and the
    consent withdrawn by a relayed signature, which ends the grant and re-seals without its holder."""
    customer_id = summary.accepted_by_transaction[min(1, len(summary.accepted_by_transaction) - 1)]
    wallet, agent = summary.customer_wallets[customer_id], summary.agent_of[customer_id]
    marketer = next(a for a in staff.agents if a.address not in crm.registry.readers_of(customer_id))

    data.set_consent(customer_id, Purpose.MARKETING, True, wallet)
    granted = data.grant(customer_id, marketer.address, Purpose.MARKETING, staff.manager)
    data.read(customer_id, marketer)
    console.print(
        f"[bold]Consent[/]: customer {customer_id} consented to marketing from their wallet; the manager granted "
        f"{marketer.address} marketing access with profile version {granted.version} sealed for "
        f"{len(granted.readers)} readers, and they can read it"
    )
    change = data.sign_consent_change(customer_id, Purpose.MARKETING, False, wallet, SIGNATURE_LIFETIME_SECONDS)
    resealed = data.relay_consent_change(change, agent)
    assert resealed is not None and marketer.address not in resealed.readers
    assert not crm.registry.has_active_grant(customer_id, marketer.address)
    try:
        data.read(customer_id, marketer)
        raise AssertionError("a grant outlived the consent it rested on")
    except PrivacyError:
        pass
    epoch = data.vault(customer_id, agent).keyring.current_epoch
    console.print(
        f"  the customer withdrew it by a signature their agent relayed: the marketing grant ended on-chain and "
        f"version {resealed.version} is sealed without {marketer.address[:10]}…, new notes under content epoch {epoch}"
    )


def _print_seeded(console: Console, summary: SeedSummary) -> None:
    released = list(summary.released_by.values())
    console.print(
        f"[bold]Seeded[/] {len(summary.customers)} customers with encrypted profiles on IPFS. Each wallet was "
        f"proposed at registration and accepted by the wallet itself: {len(summary.accepted_by_transaction)} by "
        f"their own transaction, {len(summary.accepted_by_signature)} by an EIP-712 signature their agent relayed "
        "(those wallets hold 0 ETH); every profile was then re-sealed so its customer can read it."
    )
    console.print(
        f"  {summary.interactions} interactions, each note encrypted on IPFS (the chain logs the CID digest of "
        f"the ciphertext); {len(summary.deals)} deals, {len(summary.won_by_manager)} won above the approval "
        f"threshold by the manager; the contract issued {len(summary.invoices_paid) + len(summary.invoices_unpaid)} "
        f"invoices, {len(summary.invoices_paid)} paid: {released.count('payer (confirmed delivery)')} confirmed "
        f"by the payer, {released.count('treasury')} released after the window by the treasury, "
        f"{released.count('payer')} by the payer"
    )


def _invoice_to_pay(crm: Crm, summary: SeedSummary) -> Invoice:
    """An unpaid invoice, preferably of a customer whose wallet holds ETH already."""
    invoices = [crm.escrow.invoice(invoice_id) for invoice_id in summary.invoices_unpaid]
    return next((i for i in invoices if summary.funded(i.customer_id)), invoices[0])


def _payment(
    console: Console, crm: Crm, notes: CustomerNotes, staff: DemoStaff, invoice: Invoice, payer: LocalAccount
) -> None:
    """A customer pays an invoice from their keystore wallet; after the window the treasury releases it."""
    proposal = notes.attach_deal_document(
        invoice.deal_id,
        DocumentKind.PROPOSAL,
        f"Proposal for deal {invoice.deal_id}: annual licence, {invoice.amount_wei / WEI_PER_ETH:.3f} ETH.".encode(),
        staff.manager,
    )
    console.print(
        f"[bold]Proposal[/] for deal {invoice.deal_id} encrypted for the customer's readers at {proposal.cid}; "
        "its hashes recorded on the deal"
    )

    top_up(crm, staff, payer.address, invoice.amount_wei)
    console.print(
        f"[bold]Customer {invoice.customer_id} pays invoice {invoice.id}[/] from their keystore wallet {payer.address}"
    )
    console.print(
        "  payment URI (a wallet app can scan it as a QR code): "
        f"{payment_uri(crm.chain.chain_id, crm.escrow.address, invoice)}"
    )
    receipt = crm.escrow.pay(invoice.id, payer)
    console.print(
        f"  paid {invoice.amount_wei / WEI_PER_ETH:.4f} ETH into escrow in block {receipt['blockNumber']} "
        f"(gas {receipt['gasUsed']:,}); the treasury it goes to is fixed now"
    )
    days_pass(crm, crm.deployment.dispute_window_seconds + 1)
    treasury = staff.treasury
    assert treasury is not None
    released = crm.escrow.release(invoice.id, treasury)
    console.print(
        f"  no dispute within {crm.deployment.dispute_window_seconds // DAY_SECONDS} days: the treasury released "
        f"it to itself (gas {released['gasUsed']:,}); invoice {invoice.id} is "
        f"{crm.escrow.invoice(invoice.id).status.label}"
    )


def _with_port(rpc_url: str, port: int) -> str:
    parts = urlsplit(rpc_url)
    return parts._replace(netloc=f"{parts.hostname}:{port}").geturl()


def _connect(rpc_url: str) -> Chain:
    """A chain connection that asks the node for its chain id once: web3 checks the id of every
    call and estimate it sends, which would otherwise double the demo's requests."""
    provider = HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": RPC_TIMEOUT_SECONDS},
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    return chain_for(Web3(provider))


def _keystore(settings: Settings, account: LocalAccount, password: str) -> Path:
    path = keystore_path(account.address, settings.keystore_dir)
    if not path.exists():
        create_keystore(settings.keystore_dir, password, private_key=bytes(account.key))
    return path


def _print_report(console: Console, crm: Crm, customer_id: int) -> None:
    table = Table(title="Pipeline by stage")
    table.add_column("stage")
    table.add_column("deals", justify="right")
    table.add_column("value (ETH deals)", justify="right")
    table.add_column("in a token", justify="right")
    for row in pipeline_by_stage(crm):
        table.add_row(
            row.stage.name.title(), str(row.deals), f"{row.value_wei / WEI_PER_ETH:.3f}", str(row.token_deals or "")
        )
    console.print(table)

    invoices = crm.escrow.invoices()
    money = Table(title="Invoices")
    money.add_column("status")
    money.add_column("count", justify="right")
    money.add_column("ETH (ETH invoices)", justify="right")
    money.add_column("in a token", justify="right")
    for status in InvoiceStatus:
        if status is InvoiceStatus.NONE:
            continue
        items = [i for i in invoices if i.status is status]
        wei = sum(i.amount_wei for i in items if i.currency is None)
        tokens = sum(1 for i in items if i.currency is not None)
        money.add_row(
            status.label.replace("_", " ").capitalize(), str(len(items)), f"{wei / WEI_PER_ETH:.3f}", str(tokens or "")
        )
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
