"""Realistic demo data: staff, customers with encrypted profiles, interactions, deals, invoices.

Names and contact details are invented from small word lists; every profile is encrypted before it
reaches IPFS, and only hashes reach the chain. Seeding is for development chains only: it lets
days pass (evm_increaseTime) between stage moves so that time in stage and aging look real.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.client import Crm
from chaincrm.customers import CustomerData, public_key64
from chaincrm.documents import DocumentStore
from chaincrm.models import InteractionKind, LossReason, Outcome, Purpose, Role, Stage
from chaincrm.privacy import CustomerProfile
from chaincrm.registry import InteractionEntry

FIRST_NAMES = ("Ada", "Brigitte", "Chidi", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ilse", "Jonas", "Kemal", "Lena")
LAST_NAMES = ("Okafor", "Lindqvist", "Moreau", "Nakamura", "Petrov", "Quist", "Rahman", "Silva", "Tanaka", "Varga")
CITIES = ("Lisbon", "Lagos", "Osaka", "Tallinn", "Porto", "Ghent", "Cork", "Brno")
WEI_PER_ETH = 10**18
CUSTOMER_FUNDING_WEI = 20 * WEI_PER_ETH
FINAL_STAGE_PLAN = (
    Stage.LEAD, Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON, Stage.WON, Stage.LOST
)  # fmt: skip


@dataclass(frozen=True)
class DemoStaff:
    admin: LocalAccount
    manager: LocalAccount
    agents: tuple[LocalAccount, ...]
    auditor: LocalAccount


@dataclass
class SeedSummary:
    customers: list[int] = field(default_factory=list)
    customer_wallets: dict[int, LocalAccount] = field(default_factory=dict)
    interactions: int = 0
    deals: list[int] = field(default_factory=list)
    invoices_paid: list[int] = field(default_factory=list)
    invoices_unpaid: list[int] = field(default_factory=list)


Progress = Callable[[str, int], None]


def _noop(_: str, __: int) -> None:
    return None


def setup_staff(crm: Crm, staff: DemoStaff) -> None:
    """Grant roles and publish every staff member's encryption key (their account key)."""
    registry = crm.registry
    for role, accounts in (
        (Role.MANAGER, [staff.manager]),
        (Role.AGENT, [staff.manager, *staff.agents]),
        (Role.AUDITOR, [staff.auditor]),
    ):
        for account in accounts:
            if not registry.has_role(role, account.address):
                registry.grant_role(role, account.address, staff.admin)
    for account in (staff.manager, *staff.agents, staff.auditor):
        registry.register_encryption_key(public_key64(account), account)


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
    rng = rng or random.Random(7)
    summary = SeedSummary()
    setup_staff(crm, staff)
    progress("staff", 1)
    _seed_customers(crm, store, staff, customers, rng, summary, progress)
    _seed_interactions(crm, staff, interactions, rng, summary, progress)
    _seed_deals(crm, staff, deals, rng, summary, progress)
    return summary


def _seed_customers(
    crm: Crm,
    store: DocumentStore,
    staff: DemoStaff,
    count: int,
    rng: random.Random,
    summary: SeedSummary,
    progress: Progress,
) -> None:
    data = CustomerData(crm, store)
    for index in range(count):
        agent = staff.agents[index % len(staff.agents)]
        wallet = Account.from_key(rng.randbytes(32))
        crm.chain.transfer(wallet.address, CUSTOMER_FUNDING_WEI, staff.admin)
        crm.registry.register_encryption_key(public_key64(wallet), wallet)
        ref = data.add(_profile(rng), wallet=wallet.address, purpose=Purpose.SALES, agent=agent)
        summary.customers.append(ref.customer_id)
        summary.customer_wallets[ref.customer_id] = wallet
        progress("customers", 1)


def _seed_interactions(
    crm: Crm, staff: DemoStaff, count: int, rng: random.Random, summary: SeedSummary, progress: Progress
) -> None:
    def entry() -> InteractionEntry:
        return InteractionEntry(
            customer_id=rng.choice(summary.customers),
            kind=rng.choice(list(InteractionKind)),
            outcome=rng.choice(list(Outcome)),
            content_hash=rng.randbytes(32),
        )

    singles = count // 3
    for index in range(singles):
        crm.registry.log_interaction(entry(), staff.agents[index % len(staff.agents)])
        progress("interactions", 1)
    remaining = count - singles
    batch_size = 50
    while remaining > 0:
        size = min(batch_size, remaining)
        crm.registry.log_interactions([entry() for _ in range(size)], rng.choice(staff.agents))
        remaining -= size
        progress("interactions", size)
    summary.interactions = count


SECONDS_PER_DAY = 24 * 3600
MAX_DAYS_BETWEEN_MOVES = 6


def _days_pass(crm: Crm, rng: random.Random) -> None:
    """Let one to six days pass on the development chain, so stages take realistic time."""
    seconds = rng.randint(1, MAX_DAYS_BETWEEN_MOVES) * SECONDS_PER_DAY + rng.randrange(SECONDS_PER_DAY)
    provider = crm.chain.w3.provider
    provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _seed_deals(
    crm: Crm, staff: DemoStaff, count: int, rng: random.Random, summary: SeedSummary, progress: Progress
) -> None:
    pipeline, escrow = crm.pipeline, crm.escrow
    for index in range(count):
        agent = staff.agents[index % len(staff.agents)]
        customer_id = rng.choice(summary.customers)
        value = rng.randrange(WEI_PER_ETH // 10, 3 * WEI_PER_ETH, WEI_PER_ETH // 100)
        deal_id = pipeline.open_deal(customer_id, agent.address, value, agent)
        target = FINAL_STAGE_PLAN[index % len(FINAL_STAGE_PLAN)]
        if target is Stage.LOST:
            for stage in _path_to(Stage(rng.randrange(int(Stage.LEAD), int(Stage.CONTRACTING) + 1))):
                _days_pass(crm, rng)
                pipeline.move(deal_id, stage, agent)
            _days_pass(crm, rng)
            pipeline.mark_lost(deal_id, rng.choice(list(LossReason)), agent)
        else:
            for stage in _path_to(target):
                _days_pass(crm, rng)
                pipeline.move(deal_id, stage, agent)
        summary.deals.append(deal_id)
        if target is Stage.WON:
            invoice_id = pipeline.deal(deal_id).invoice_id
            assert invoice_id is not None
            if index % 3 != 2:
                escrow.pay(invoice_id, summary.customer_wallets[customer_id])
                summary.invoices_paid.append(invoice_id)
                if index % 2 == 0:
                    escrow.confirm_delivery(invoice_id, summary.customer_wallets[customer_id])
            else:
                summary.invoices_unpaid.append(invoice_id)
        progress("deals", 1)


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
