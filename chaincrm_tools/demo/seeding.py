"""Realistic demo data: staff, customers with encrypted profiles, interactions, deals, invoices.

Names and contact details are invented from small word lists; every profile and every interaction
note is encrypted before it reaches IPFS, and only hashes reach the chain. Each customer's wallet
is proposed by the registering agent and accepted by the wallet itself: most by their own
transaction, every fourth by an EIP-712 signature that its agent relays (those wallets hold no
ETH). After the acceptance the profile is re-sealed, so that the customer can read it.

Seeding is for development chains only: it lets days pass (evm_increaseTime) between stage moves
so that time in stage and aging look real, and past the dispute window before releases.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.contracts.signatures import WalletAcceptance, sign_wallet_acceptance
from chaincrm.models import InteractionKind, LossReason, Outcome, Purpose, Role, Stage
from chaincrm.privacy import Attachment, CustomerProfile, InteractionContent, KeyRing, seal_content
from chaincrm.privacy.customers import CustomerData, public_key64
from chaincrm.privacy.notes import INTERACTION, CustomerNotes
from chaincrm.storage import DocumentStore, KuboStore, cid_to_digest
from chaincrm.units import WEI_PER_ETH

FIRST_NAMES = ("Ada", "Brigitte", "Chidi", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ilse", "Jonas", "Kemal", "Lena")
LAST_NAMES = ("Okafor", "Lindqvist", "Moreau", "Nakamura", "Petrov", "Quist", "Rahman", "Silva", "Tanaka", "Varga")
CITIES = ("Lisbon", "Lagos", "Osaka", "Tallinn", "Porto", "Ghent", "Cork", "Brno")
NOTES = (
    "Discussed the renewal; wants a quote for two more seats.",
    "Asked about data residency; sent the hosting summary.",
    "Follow up next week on the pilot's results.",
    "Complained about an invoice layout; forwarded to billing.",
    "Interested in the analytics add-on, budget in Q3.",
    "Left a voicemail; no answer yet.",
    "Reviewed the onboarding plan together.",
)
CUSTOMER_FUNDING_WEI = 25 * WEI_PER_ETH
GAS_RESERVE_WEI = WEI_PER_ETH // 10
SIGNATURE_EVERY = 4  # every fourth customer accepts by a relayed signature, holding no ETH
SIGNATURE_LIFETIME_SECONDS = 24 * 3600
SINGLE_INTERACTIONS_SHARE = 3  # a third of the interactions are logged one per transaction
INTERACTION_BATCH = 50
STORING_THREADS = 3
CONFIRMED_EVERY = 3  # every third paid invoice is confirmed by its payer at once
ATTACHMENT_EVERY = 5  # every fifth note carries a small attachment
FINAL_STAGE_PLAN = (
    Stage.LEAD, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON, Stage.WON, Stage.LOST
)  # fmt: skip
LARGE_DEAL_SLOT = 5  # the first Won of each round of the plan is a deal above the approval threshold
LARGE_DEAL_WEI = (11 * WEI_PER_ETH, 19 * WEI_PER_ETH)
SMALL_DEAL_WEI = (WEI_PER_ETH // 10, 3 * WEI_PER_ETH)
SECONDS_PER_DAY = 24 * 3600
MAX_DAYS_BETWEEN_MOVES = 6


@dataclass(frozen=True)
class DemoStaff:
    admin: LocalAccount
    manager: LocalAccount
    agents: tuple[LocalAccount, ...]
    auditor: LocalAccount
    treasury: LocalAccount | None = None  # the deployment's treasury, when its key is at hand


@dataclass
class SeedSummary:
    customers: list[int] = field(default_factory=list)
    customer_wallets: dict[int, LocalAccount] = field(default_factory=dict)
    agent_of: dict[int, LocalAccount] = field(default_factory=dict)  # the registering agent (holds a grant)
    accepted_by_transaction: list[int] = field(default_factory=list)
    accepted_by_signature: list[int] = field(default_factory=list)  # wallets with 0 ETH when they accepted
    interactions: int = 0
    deals: list[int] = field(default_factory=list)
    won_by_manager: list[int] = field(default_factory=list)  # deals above the approval threshold
    invoices_paid: list[int] = field(default_factory=list)
    invoices_unpaid: list[int] = field(default_factory=list)
    released_by: dict[int, str] = field(default_factory=dict)  # invoice -> who released it

    def funded(self, customer_id: int) -> bool:
        return customer_id not in self.accepted_by_signature


Progress = Callable[[str, int], None]


def _noop(_: str, __: int) -> None:
    return None


def setup_staff(crm: Crm, staff: DemoStaff) -> None:
    """Grant roles and publish every staff member's encryption key (their account key)."""
    registry = crm.registry
    for role, accounts in (
        (Role.MANAGER, [staff.manager]),
        (Role.AGENT, list(staff.agents)),
        (Role.AUDITOR, [staff.auditor]),
    ):
        for account in accounts:
            if not registry.has_role(role, account.address):
                registry.grant_role(role, account.address, staff.admin)
    for account in (staff.manager, *staff.agents, staff.auditor):
        if registry.encryption_key_of(account.address) != public_key64(account):
            registry.register_encryption_key(public_key64(account), account)


def progress_totals(customers: int, interactions: int, deals: int) -> dict[str, int]:
    """What `seed` reports progress on, in order, with each total."""
    return {"staff": 1, "customers": customers, "wallets": customers, "interactions": interactions, "deals": deals}


def seed(
    crm: Crm,
    store: DocumentStore,
    staff: DemoStaff,
    *,
    customers: int = 40,
    interactions: int = 300,
    deals: int = 32,
    rng: random.Random | None = None,
    progress: Progress = _noop,
) -> SeedSummary:
    """Staff; customers registered one by one; then, side by side, the wallets' acceptances (one
    thread per agent) followed by the deals, and the interactions; then releases.

    The work is spread because most of it waits: on the IPFS node (every note and re-sealed profile
    is a document) or on the chain. Interactions need only the registering agent's key ring, which
    registration already gives them; deals need accepted wallets. Transactions of one agent from
    several threads share the chain's nonce manager. Everything random is drawn from `rng` on this
    thread, so a seed gives the same data every time (only the order of blocks varies).
    """
    rng = rng or random.Random(7)
    summary = SeedSummary()
    setup_staff(crm, staff)
    progress("staff", 1)
    _register_customers(crm, store, staff, customers, rng, summary, progress)
    plan = _plan_interactions(interactions, rng, summary)
    with ThreadPoolExecutor(max_workers=1 + len(staff.agents), thread_name_prefix="seed") as pool:
        logging = pool.submit(_seed_interactions, crm, _store_for_thread(store), plan, summary, progress)
        accepting = [
            pool.submit(_accept_wallets, crm, _store_for_thread(store), agent, summary, progress)
            for agent in staff.agents
        ]
        for accepted in accepting:
            accepted.result()
        _seed_deals(crm, staff, deals, rng, summary, progress)
        logging.result()
    summary.interactions = interactions
    _release_after_window(crm, staff, summary)
    return summary


def _store_for_thread(store: DocumentStore) -> DocumentStore:
    """A store of its own for a worker thread (HTTP sessions are not shared across threads)."""
    return KuboStore(store.api_addr) if isinstance(store, KuboStore) else store


def chain_time(crm: Crm) -> int:
    """The latest block's timestamp: deadlines are checked against it, and seeding moves it ahead."""
    return int(crm.chain.rpc(lambda: crm.chain.w3.eth.get_block("latest"))["timestamp"])


def days_pass(crm: Crm, seconds: int) -> None:
    provider = crm.chain.w3.provider
    provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def signed_acceptance(crm: Crm, customer_id: int, wallet: LocalAccount) -> WalletAcceptance:
    """The wallet's EIP-712 acceptance, with a deadline in chain time (a development chain's clock
    runs ahead of the wall clock once seeding has let days pass)."""
    return sign_wallet_acceptance(
        wallet,
        chain_id=crm.chain.chain_id,
        registry=crm.registry.address,
        customer_id=customer_id,
        public_key=public_key64(wallet),
        nonce=crm.registry.nonce_of(customer_id),
        deadline=chain_time(crm) + SIGNATURE_LIFETIME_SECONDS,
    )


def _register_customers(
    crm: Crm,
    store: DocumentStore,
    staff: DemoStaff,
    count: int,
    rng: random.Random,
    summary: SeedSummary,
    progress: Progress,
) -> None:
    """Register customers with their wallets proposed, round-robin over the agents, each proposal
    approved by the manager (one agent alone cannot bind a wallet). Every fourth wallet gets no
    ETH: it will accept by a signature its agent relays."""
    data = CustomerData(crm, store)
    for index in range(count):
        agent = staff.agents[index % len(staff.agents)]
        wallet = Account.from_key(rng.randbytes(32))
        by_signature = index % SIGNATURE_EVERY == SIGNATURE_EVERY - 1
        if not by_signature:
            crm.chain.transfer(wallet.address, CUSTOMER_FUNDING_WEI, staff.admin)
        customer_id = data.add(_profile(rng), wallet=wallet.address, purpose=Purpose.SALES, agent=agent).customer_id
        data.approve_wallet(customer_id, wallet.address, staff.manager)
        (summary.accepted_by_signature if by_signature else summary.accepted_by_transaction).append(customer_id)
        summary.customers.append(customer_id)
        summary.customer_wallets[customer_id] = wallet
        summary.agent_of[customer_id] = agent
        progress("customers", 1)


def _accept_wallets(
    crm: Crm, store: DocumentStore, agent: LocalAccount, summary: SeedSummary, progress: Progress
) -> None:
    """Each of `agent`'s customers accepts its wallet, then the agent re-seals the profile so that
    the customer is among its readers (a relayed acceptance re-seals by itself)."""
    data = CustomerData(crm, store)
    for customer_id in summary.customers:
        if summary.agent_of[customer_id] != agent:
            continue
        wallet = summary.customer_wallets[customer_id]
        if customer_id in summary.accepted_by_signature:
            if crm.chain.w3.eth.get_balance(wallet.address) != 0:
                raise AssertionError(f"customer {customer_id}'s wallet should hold no ETH")
            data.relay_wallet_acceptance(signed_acceptance(crm, customer_id, wallet), agent)
        else:
            data.accept_wallet(customer_id, wallet)
            data.reseal(customer_id, agent)
        progress("wallets", 1)


PlannedInteraction = tuple[int, InteractionKind, Outcome, InteractionContent]


def _plan_interactions(count: int, rng: random.Random, summary: SeedSummary) -> list[PlannedInteraction]:
    kinds, outcomes = list(InteractionKind), list(Outcome)
    plan: list[PlannedInteraction] = []
    for index in range(count):
        customer_id = rng.choice(summary.customers)
        note = rng.choice(NOTES)
        attachments = () if index % ATTACHMENT_EVERY else (Attachment(f"minutes-{index}.txt", f"{note}\n".encode()),)
        plan.append((customer_id, rng.choice(kinds), rng.choice(outcomes), InteractionContent(note, attachments)))
    return plan


def _seed_interactions(
    crm: Crm, store: DocumentStore, plan: Sequence[PlannedInteraction], summary: SeedSummary, progress: Progress
) -> None:
    """Each note is sealed under its customer's content key and stored on IPFS; the chain logs the
    CID digest of the ciphertext. The author is the customer's agent, who holds the grant. A third
    are logged one per transaction (pipelined), the rest in batches. Documents are stored by a few
    threads at once: the IPFS node adds one at a time, but the requests around it overlap."""
    notes = CustomerNotes(crm, store)
    keyrings: dict[int, KeyRing] = {}
    stores = threading.local()

    def sealed(customer_id: int, what: InteractionContent) -> bytes:
        # CustomerNotes.seal_interaction, with each customer's key ring opened once for the run.
        if customer_id not in keyrings:
            keyrings[customer_id] = notes.keyring(customer_id, summary.agent_of[customer_id])
        return seal_content(
            what.to_bytes(), keyring=keyrings[customer_id], context=notes.context(customer_id, INTERACTION)
        )

    def stored(document: bytes) -> bytes:
        if not hasattr(stores, "store"):
            stores.store = _store_for_thread(store)
        return cid_to_digest(stores.store.put(document))

    singles = len(plan) // SINGLE_INTERACTIONS_SHARE
    with ThreadPoolExecutor(max_workers=STORING_THREADS, thread_name_prefix="seed-ipfs") as storing:
        for one_per_transaction, part in ((True, plan[:singles]), (False, plan[singles:])):
            by_author: dict[str, list[PlannedInteraction]] = {}
            for item in part:
                by_author.setdefault(summary.agent_of[item[0]].address, []).append(item)
            for items in by_author.values():
                author = summary.agent_of[items[0][0]]
                for start in range(0, len(items), INTERACTION_BATCH):
                    chunk = items[start : start + INTERACTION_BATCH]
                    documents = [sealed(customer_id, what) for customer_id, _, _, what in chunk]
                    digests = storing.map(stored, documents)
                    entries = [
                        InteractionEntry(customer_id, kind, outcome, digest)
                        for (customer_id, kind, outcome, _), digest in zip(chunk, digests, strict=True)
                    ]
                    if one_per_transaction:
                        crm.registry.log_interactions_pipelined(entries, author)
                    else:
                        crm.registry.log_interactions(entries, author)
                    progress("interactions", len(entries))


def _days_pass(crm: Crm, rng: random.Random) -> None:
    """Let one to six days pass on the development chain, so stages take realistic time."""
    days_pass(crm, rng.randint(1, MAX_DAYS_BETWEEN_MOVES) * SECONDS_PER_DAY + rng.randrange(SECONDS_PER_DAY))


def _seed_deals(
    crm: Crm, staff: DemoStaff, count: int, rng: random.Random, summary: SeedSummary, progress: Progress
) -> None:
    pipeline, escrow = crm.pipeline, crm.escrow
    threshold = crm.pipeline.approval_threshold_wei()
    for index in range(count):
        customer_id = rng.choice(summary.customers)
        agent = summary.agent_of[customer_id]
        slot = index % len(FINAL_STAGE_PLAN)
        low, high = LARGE_DEAL_WEI if slot == LARGE_DEAL_SLOT else SMALL_DEAL_WEI
        value = rng.randrange(low, high, WEI_PER_ETH // 100)
        deal_id = pipeline.open_deal(customer_id, agent.address, value, agent)
        target = FINAL_STAGE_PLAN[slot]
        if target is Stage.LOST:
            for stage in _path_to(Stage(rng.randrange(int(Stage.LEAD), int(Stage.CONTRACTING) + 1))):
                _days_pass(crm, rng)
                pipeline.move(deal_id, stage, agent)
            _days_pass(crm, rng)
            pipeline.mark_lost(deal_id, rng.choice(list(LossReason)), agent)
        else:
            for stage in _path_to(target):
                _days_pass(crm, rng)
                # Above the approval threshold only a manager may close the deal as won.
                mover = staff.manager if stage is Stage.WON and value > threshold else agent
                pipeline.move(deal_id, stage, mover)
        summary.deals.append(deal_id)
        if target is Stage.WON:
            if value > threshold:
                summary.won_by_manager.append(deal_id)
            invoice_id = pipeline.deal(deal_id).invoice_id
            assert invoice_id is not None
            wallet = summary.customer_wallets[customer_id]
            if index % 3 != 2 and summary.funded(customer_id):
                top_up(crm, staff, wallet.address, value)
                escrow.pay(invoice_id, wallet)
                summary.invoices_paid.append(invoice_id)
                if len(summary.invoices_paid) % CONFIRMED_EVERY == 1:  # the others wait out the window
                    escrow.confirm_delivery(invoice_id, wallet)
                    summary.released_by[invoice_id] = "payer (confirmed delivery)"
            else:
                summary.invoices_unpaid.append(invoice_id)
        progress("deals", 1)


def top_up(crm: Crm, staff: DemoStaff, wallet: str, amount_wei: int) -> None:
    """Send a paying customer what they lack for an invoice (a customer with several large deals)."""
    balance = int(crm.chain.w3.eth.get_balance(wallet))  # type: ignore[arg-type]
    if balance < amount_wei + GAS_RESERVE_WEI:
        crm.chain.transfer(wallet, amount_wei + GAS_RESERVE_WEI - balance, staff.admin)


def _release_after_window(crm: Crm, staff: DemoStaff, summary: SeedSummary) -> None:
    """Let the dispute window pass, then release what is still held: by the invoice's treasury
    when its key is at hand, otherwise (and for every other invoice) by the payer."""
    held = [invoice_id for invoice_id in summary.invoices_paid if invoice_id not in summary.released_by]
    if not held:
        return
    days_pass(crm, crm.deployment.dispute_window_seconds + SECONDS_PER_DAY)
    for position, invoice_id in enumerate(held):
        invoice = crm.escrow.invoice(invoice_id)
        treasury = staff.treasury
        if position % 2 == 0 and treasury is not None and crm.escrow.treasury_of(invoice) == treasury.address:
            crm.escrow.release(invoice_id, treasury)
            summary.released_by[invoice_id] = "treasury"
        else:
            crm.escrow.release(invoice_id, summary.customer_wallets[invoice.customer_id])
            summary.released_by[invoice_id] = "payer"


def _path_to(target: Stage) -> Sequence[Stage]:
    return [Stage(value) for value in range(int(Stage.QUALIFIED), int(target) + 1)]


def _profile(rng: random.Random) -> CustomerProfile:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return CustomerProfile(
        name=f"{first} {last}",
        email=f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.org",
        phone=f"+351 9{rng.randrange(10**7, 10**8)}",
        address=f"{rng.randrange(1, 200)} Rua Nova, {rng.choice(CITIES)}",
        notes="Met at a trade fair; prefers e-mail.",
    )
