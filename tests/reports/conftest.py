"""Fixtures for report tests: one deterministic history built through the SDK on a real Anvil,
indexed once by the event indexer, and the `report` command run in-process over both.

Every transaction of the story is mined at an exact timestamp (`evm_setNextBlockTimestamp`), so
the durations, months and days past due the tests assert are known to the second. The story
starts at T0, the first second of a month after the chain's current time, and ends with an empty
block at T0 + 75 days. See `Story` for the timeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import click
import pytest
from click.testing import CliRunner, Result
from eth_account.signers.local import LocalAccount

from chaincrm.chain import Chain
from chaincrm.cli.context import App
from chaincrm.cli.report import report_command
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import deploy, save_record
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.index.indexer import Indexer
from chaincrm.models import InteractionKind, LossReason, Outcome, Purpose, Role, Stage
from chaincrm.services.anvil import AnvilNode
from tests.indexer.conftest import grant, register
from tests.sdk.conftest import Staff, anvil_node, chain, staff  # noqa: F401 - fixtures

HOUR = 3_600
DAY = 86_400
ETH = 10**18
END_OFFSET = 75 * DAY
FORWARD = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)


@dataclass(frozen=True)
class Story:
    """The history every report test reads.

    Agents A (`staff.agent`, in branch lisbon) and B (`staff.agent2`, in branch porto), manager M
    (who created both branches on chain before T0); times from T0:

    - deal 1 (A, 1 ETH): opened 0; qualified 1h; proposal 3h; negotiation 6h; contracting 10h;
      won 15h (invoice 1, due 15h + 30d). Invoice 1 paid at 16h, released by M at 8d.
    - deal 2 (A, 2 ETH): opened 1d; qualified 1d3h; proposal 1d7h; negotiation 1d12h;
      contracting 1d18h; won by M at 2d (invoice 2, due 32d, never paid).
    - deal 3 (B, 3 ETH): opened 2d1h; qualified 2d2h; lost 2d6h.
    - deal 4 (B, 4 ETH): opened 3d; qualified 3d2h; proposal 3d4h; back to qualified 3d5h; open.
    - deal 5 (A, 5 ETH): opened 35d, one stage an hour to won at 35d5h (invoice 3, due 65d5h),
      paid at 36d, refunded by M at 37d (a credit to the payer), withdrawn by the payer at 38d.
    - deal 6 (B, 6 ETH): opened 50d, one stage an hour to won at 50d5h (invoice 4, due 80d5h);
      M re-issues it at 60d: invoice 4 is cancelled, invoice 5 issued (due 90d).
    - interactions: A at 30m, 1d30m, 40d (singles); B a batch of two at 2d30m and one at 3d1h.
    - an empty block at 75d ends the story.

    The three customers are registered by A before T0, each with a wallet that accepted (their
    payer); B works on all three through a grant from M.
    """

    crm: Crm
    t0: int
    end_block: int
    agent_a: str
    agent_b: str
    manager: str

    @property
    def end(self) -> int:
        return self.t0 + END_OFFSET

    def month(self, offset_seconds: int) -> str:
        return datetime.fromtimestamp(self.t0 + offset_seconds, UTC).strftime("%Y-%m")


class Clock:
    """Mines the next transaction at an exact time."""

    def __init__(self, node: Chain, t0: int) -> None:
        self.chain = node
        self.t0 = t0

    def at(self, offset: int) -> None:
        self.chain.w3.provider.make_request("evm_setNextBlockTimestamp", [self.t0 + offset])  # type: ignore[arg-type]

    def mine(self, offset: int) -> int:
        self.chain.w3.provider.make_request("evm_mine", [self.t0 + offset])  # type: ignore[arg-type]
        return int(self.chain.w3.eth.block_number)


def first_second_of_next_month(now: int) -> int:
    moment = datetime.fromtimestamp(now, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())


def _hash(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.fixture(scope="session")
def story(chain: Chain, staff: Staff) -> Story:  # noqa: F811 - fixtures imported above
    deployment = deploy(chain, staff.admin, treasury=staff.treasury.address)
    crm = Crm.attach(chain, deployment)
    a, b, m = staff.agent, staff.agent2, staff.manager
    for role, account in ((Role.AGENT, a), (Role.AGENT, b), (Role.MANAGER, m)):
        crm.registry.grant_role(role, account.address, staff.admin)
    for name, member in (("lisbon", a), ("porto", b)):  # on chain before the story starts
        crm.branches.add_staff(crm.branches.create_branch(name, m), member.address, m)
    wallets = (staff.customer, staff.customer2, staff.stranger)
    customers = [register(crm, staff, wallet=wallet, agent=a) for wallet in wallets]
    for customer in customers:
        grant(crm, customer, b, Purpose.SUPPORT, m)
    payer = dict(zip(customers, wallets, strict=True))
    c1, c2, c3 = customers
    t0 = first_second_of_next_month(int(chain.w3.eth.get_block("latest")["timestamp"]) + DAY)
    clock = Clock(chain, t0)
    pipeline, escrow, registry = crm.pipeline, crm.escrow, crm.registry

    def open_deal(offset: int, customer: int, owner: LocalAccount, value: int) -> int:
        clock.at(offset)
        return pipeline.open_deal(customer, owner.address, value, owner)

    def move(offset: int, deal: int, stage: Stage, actor: LocalAccount) -> None:
        clock.at(offset)
        pipeline.move(deal, stage, actor)

    def interact(offset: int, author: LocalAccount, *customer_ids: int) -> None:
        entries = [
            InteractionEntry(cid, InteractionKind.CALL, Outcome.POSITIVE, _hash(offset + cid)) for cid in customer_ids
        ]
        clock.at(offset)
        if len(entries) == 1:
            registry.log_interaction(entries[0], author)
        else:
            registry.log_interactions(entries, author)

    def pay(offset: int, invoice: int, customer: int) -> None:
        clock.at(offset)
        escrow.pay(invoice, payer[customer])

    d1 = open_deal(0, c1, a, 1 * ETH)
    interact(30 * 60, a, c1)
    for offset, stage in zip((1 * HOUR, 3 * HOUR, 6 * HOUR, 10 * HOUR, 15 * HOUR), FORWARD, strict=True):
        move(offset, d1, stage, a)
    pay(16 * HOUR, 1, c1)

    d2 = open_deal(DAY, c2, a, 2 * ETH)
    interact(DAY + 30 * 60, a, c2)
    for offset, stage in zip((3 * HOUR, 7 * HOUR, 12 * HOUR, 18 * HOUR), FORWARD, strict=False):
        move(DAY + offset, d2, stage, a)
    move(2 * DAY, d2, Stage.WON, m)

    interact(2 * DAY + 30 * 60, b, c3, c1)
    d3 = open_deal(2 * DAY + HOUR, c3, b, 3 * ETH)
    move(2 * DAY + 2 * HOUR, d3, Stage.QUALIFIED, b)
    clock.at(2 * DAY + 6 * HOUR)
    pipeline.mark_lost(d3, LossReason.PRICE, b)

    d4 = open_deal(3 * DAY, c1, b, 4 * ETH)
    interact(3 * DAY + HOUR, b, c1)
    move(3 * DAY + 2 * HOUR, d4, Stage.QUALIFIED, b)
    move(3 * DAY + 4 * HOUR, d4, Stage.PROPOSAL, b)
    move(3 * DAY + 5 * HOUR, d4, Stage.QUALIFIED, b)

    clock.mine(8 * DAY - HOUR)  # gas estimation runs on the latest block: the dispute window must be over there
    clock.at(8 * DAY)
    escrow.release(1, m)

    d5 = open_deal(35 * DAY, c3, a, 5 * ETH)
    for hours, stage in enumerate(FORWARD, start=1):
        move(35 * DAY + hours * HOUR, d5, stage, a)
    pay(36 * DAY, 3, c3)
    clock.at(37 * DAY)
    escrow.refund(3, m)
    clock.at(38 * DAY)
    escrow.withdraw_refund(payer[c3])
    interact(40 * DAY, a, c3)

    d6 = open_deal(50 * DAY, c2, b, 6 * ETH)
    for hours, stage in enumerate(FORWARD, start=1):
        move(50 * DAY + hours * HOUR, d6, stage, b)
    clock.at(60 * DAY)
    pipeline.reissue_invoice(d6, m)

    assert (d1, d2, d3, d4, d5, d6) == (1, 2, 3, 4, 5, 6)
    assert [pipeline.invoices_of(d) for d in (d1, d2, d5, d6)] == [[1], [2], [3], [4, 5]]
    end_block = clock.mine(END_OFFSET)
    return Story(crm=crm, t0=t0, end_block=end_block, agent_a=a.address, agent_b=b.address, manager=m.address)


@pytest.fixture(scope="session")
def settings(story: Story, anvil_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Settings:  # noqa: F811
    """A home with the story's deployment record and an index synced to the end."""
    home = tmp_path_factory.mktemp("home")
    save_record(story.crm.deployment, home / "deployment.json")
    with Indexer(story.crm.chain, story.crm.deployment, home / "index.sqlite", confirmations=0) as indexer:
        indexer.sync_once()
    return Settings(rpc_url=anvil_node.url, home=home)


Run = Callable[..., Result]


@pytest.fixture(scope="session")
def report_cli(settings: Settings) -> Run:
    """Run `chaincrm report ARGS...` in-process against the story's home."""
    return cli_in(settings)


def cli_in(settings: Settings) -> Run:
    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = App(settings)

    root.add_command(report_command)
    runner = CliRunner()

    def run(*args: object) -> Result:
        return runner.invoke(root, ["report", *(str(arg) for arg in args)])

    return run
