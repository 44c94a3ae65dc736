"""Stateful properties of the money and the stage machine, checked against Python models.

Hypothesis's own RuleBasedStateMachine drives the chain (Brownie's `state_machine` fixture is
broken on this toolchain). Each example starts from the snapshot taken when the test begins and
is reverted in teardown. Every rule predicts, from the model alone, whether the contract must
accept the call or revert with which error and arguments, and asserts exactly that.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import pytest
from brownie import chain
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from tests.contracts.helpers import (
    CANCELLED,
    CONTRACTING,
    DISPUTE_WINDOW_SECONDS,
    DISPUTED,
    LEAD,
    LOST,
    ONE_ETH,
    OPEN,
    PAID,
    QUALIFIED,
    REFUNDED,
    RELEASED,
    WON,
    reverts_with,
)

MACHINE_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ONE_HOUR_SECONDS = 3600
ONE_DAY_SECONDS = 24 * ONE_HOUR_SECONDS
# Steps of model time. All are whole hours, and so is the dispute window: the model's clock and the
# chain's differ only by the wall-clock seconds the run takes, far below an hour, so the model
# never sits on the window's edge.
SLEEPS_SECONDS = (ONE_HOUR_SECONDS, 3 * ONE_DAY_SECONDS, 8 * ONE_DAY_SECONDS)
AMOUNTS_WEI = (1, 10**15, ONE_ETH, 3 * ONE_ETH)
IN_ESCROW = (PAID, DISPUTED)
INDICES = st.integers(0, 99)  # reduced modulo the number of candidate invoices or deals
NONE = 0
FINAL_STAGES = (WON, LOST)
INVOICE_STATUS = 3  # position of `status` in the Invoice struct
DEAL_STAGE, DEAL_INVOICE_ID = 2, 4  # positions in the Deal struct


# --- (1) the escrow holds exactly the paid, unsettled invoices -----------------------------------


@dataclass
class InvoiceModel:
    invoice_id: int
    payer: object
    amount: int
    status: int = OPEN
    paid_clock: int = 0
    paid_at: int = 0


class EscrowMachine(RuleBasedStateMachine):
    """Random pay/confirm/dispute/release/refund/cancel/time travel over several invoices.

    Invariant: escrow.balance() == sum of the amounts of Paid and Disputed invoices, and every
    wei that left went to the treasury (releases) or back to its payer (refunds).

    Each rule either aims at an invoice the action suits (an Open one to pay, a paid one to
    release...) or takes any invoice, so that both the happy paths and the refusals are common.
    """

    escrow = registry = issuer = manager = stranger = treasury = None
    payers: tuple = ()
    preloaded: tuple[InvoiceModel, ...] = ()  # invoices made before the snapshot, as they were then
    outcomes: Counter = Counter()  # what the examples exercised, summed over the whole run

    def __init__(self) -> None:
        super().__init__()
        self.invoices = [replace(invoice) for invoice in self.preloaded]
        self.clock = 0
        self.released_wei = 0
        self.treasury_start = self.treasury.balance()
        self.payer_start = {payer.address: payer.balance() for payer in self.payers}
        self.payer_net_wei = {payer.address: 0 for payer in self.payers}
        self.id_offset = self.escrow.invoiceCount() - len(self.invoices)

    def teardown(self) -> None:
        chain.revert()

    def _pick(self, index: int, aimed: bool, suited: tuple[int, ...]) -> InvoiceModel:
        candidates = [invoice for invoice in self.invoices if invoice.status in suited] if aimed else []
        candidates = candidates or self.invoices
        return candidates[index % len(candidates)]

    def _window_closed(self, invoice: InvoiceModel) -> bool:
        return self.clock - invoice.paid_clock >= DISPUTE_WINDOW_SECONDS

    def _settle(self, invoice: InvoiceModel, status: int) -> None:
        invoice.status = status
        if status == RELEASED:
            self.released_wei += invoice.amount
            self.outcomes["released"] += 1
        else:
            self.payer_net_wei[invoice.payer.address] += invoice.amount
            self.outcomes["refunded"] += 1

    @rule(payer_index=st.integers(0, 1), amount=st.sampled_from(AMOUNTS_WEI))
    def issue(self, payer_index: int, amount: int) -> None:
        payer = self.payers[payer_index]

        invoice_id = self.escrow.issueInvoice(1, 1, payer, amount, {"from": self.issuer}).return_value

        assert invoice_id == self.id_offset + len(self.invoices) + 1
        self.invoices.append(InvoiceModel(invoice_id, payer, amount))

    @rule(index=INDICES)
    def payer_pays(self, index: int) -> None:
        """The honest path, as a rule of its own so that examples often have money in escrow."""
        self.pay(index, aimed=True, how="exact")

    @rule(index=INDICES, aimed=st.booleans(), how=st.sampled_from(("exact", "stranger", "less", "more")))
    def pay(self, index: int, aimed: bool, how: str) -> None:
        invoice = self._pick(index, aimed, (OPEN,))
        caller = self.stranger if how == "stranger" else invoice.payer
        value = {"less": invoice.amount - 1, "more": invoice.amount + 1}.get(how, invoice.amount)

        if invoice.status == CANCELLED:
            with reverts_with("InvoiceIsCancelled", invoice.invoice_id):
                self.escrow.pay(invoice.invoice_id, {"from": caller, "value": value})
        elif invoice.status != OPEN:
            with reverts_with("InvoiceAlreadyPaid", invoice.invoice_id):
                self.escrow.pay(invoice.invoice_id, {"from": caller, "value": value})
        elif caller != invoice.payer:
            with reverts_with("InvoicePayerMismatch", invoice.invoice_id, invoice.payer, caller):
                self.escrow.pay(invoice.invoice_id, {"from": caller, "value": value})
        elif value != invoice.amount:
            with reverts_with("InvoiceAmountMismatch", invoice.invoice_id, invoice.amount, value):
                self.escrow.pay(invoice.invoice_id, {"from": caller, "value": value})
        else:
            tx = self.escrow.pay(invoice.invoice_id, {"from": caller, "value": value})
            invoice.status, invoice.paid_clock, invoice.paid_at = PAID, self.clock, tx.timestamp
            self.payer_net_wei[invoice.payer.address] -= invoice.amount
            self.outcomes["paid"] += 1

    @rule(index=INDICES, aimed=st.booleans(), by_payer=st.sampled_from((True, True, False)))
    def confirm_delivery(self, index: int, aimed: bool, by_payer: bool) -> None:
        invoice = self._pick(index, aimed, IN_ESCROW)
        caller = invoice.payer if by_payer else self.stranger

        if invoice.status not in IN_ESCROW:
            with reverts_with("InvoiceNotInEscrow", invoice.invoice_id, invoice.status):
                self.escrow.confirmDelivery(invoice.invoice_id, {"from": caller})
        elif not by_payer:
            with reverts_with("InvoicePayerMismatch", invoice.invoice_id, invoice.payer, caller):
                self.escrow.confirmDelivery(invoice.invoice_id, {"from": caller})
        elif invoice.status == DISPUTED:
            with reverts_with("InvoiceDisputedByPayer", invoice.invoice_id):
                self.escrow.confirmDelivery(invoice.invoice_id, {"from": caller})
        else:
            self.escrow.confirmDelivery(invoice.invoice_id, {"from": caller})
            self._settle(invoice, RELEASED)

    @rule(index=INDICES, aimed=st.booleans(), by_payer=st.sampled_from((True, True, False)))
    def dispute(self, index: int, aimed: bool, by_payer: bool) -> None:
        invoice = self._pick(index, aimed, (PAID,))
        caller = invoice.payer if by_payer else self.stranger

        if invoice.status not in IN_ESCROW:
            with reverts_with("InvoiceNotInEscrow", invoice.invoice_id, invoice.status):
                self.escrow.dispute(invoice.invoice_id, {"from": caller})
        elif not by_payer:
            with reverts_with("InvoicePayerMismatch", invoice.invoice_id, invoice.payer, caller):
                self.escrow.dispute(invoice.invoice_id, {"from": caller})
        elif invoice.status == DISPUTED:
            with reverts_with("InvoiceDisputedByPayer", invoice.invoice_id):
                self.escrow.dispute(invoice.invoice_id, {"from": caller})
        elif self._window_closed(invoice):
            with reverts_with("DisputeWindowClosed", invoice.invoice_id, invoice.paid_at + DISPUTE_WINDOW_SECONDS):
                self.escrow.dispute(invoice.invoice_id, {"from": caller})
        else:
            self.escrow.dispute(invoice.invoice_id, {"from": caller})
            invoice.status = DISPUTED
            self.outcomes["disputed"] += 1

    @rule(index=INDICES, aimed=st.booleans(), by_manager=st.booleans())
    def release(self, index: int, aimed: bool, by_manager: bool) -> None:
        invoice = self._pick(index, aimed, IN_ESCROW)
        caller = self.manager if by_manager else self.stranger

        if invoice.status not in IN_ESCROW:
            with reverts_with("InvoiceNotInEscrow", invoice.invoice_id, invoice.status):
                self.escrow.release(invoice.invoice_id, {"from": caller})
        elif invoice.status == DISPUTED and not by_manager:
            with reverts_with("AccessControlUnauthorizedAccount", caller, self.registry.MANAGER_ROLE()):
                self.escrow.release(invoice.invoice_id, {"from": caller})
        elif invoice.status == PAID and not self._window_closed(invoice):
            with reverts_with("DisputeWindowOpen", invoice.invoice_id, invoice.paid_at + DISPUTE_WINDOW_SECONDS):
                self.escrow.release(invoice.invoice_id, {"from": caller})
        else:
            self.escrow.release(invoice.invoice_id, {"from": caller})
            self._settle(invoice, RELEASED)

    @rule(index=INDICES, aimed=st.booleans(), by_manager=st.sampled_from((True, True, False)))
    def refund(self, index: int, aimed: bool, by_manager: bool) -> None:
        invoice = self._pick(index, aimed, IN_ESCROW)
        caller = self.manager if by_manager else self.stranger

        if not by_manager:
            with reverts_with("AccessControlUnauthorizedAccount", caller, self.registry.MANAGER_ROLE()):
                self.escrow.refund(invoice.invoice_id, {"from": caller})
        elif invoice.status not in IN_ESCROW:
            with reverts_with("InvoiceNotInEscrow", invoice.invoice_id, invoice.status):
                self.escrow.refund(invoice.invoice_id, {"from": caller})
        else:
            self.escrow.refund(invoice.invoice_id, {"from": caller})
            self._settle(invoice, REFUNDED)

    @rule(index=INDICES, aimed=st.booleans(), by_manager=st.sampled_from((True, True, False)))
    def cancel(self, index: int, aimed: bool, by_manager: bool) -> None:
        # Aimed, it cancels only invoices this example issued: cancelling every preloaded invoice
        # early would leave nothing to pay, and Hypothesis likes to repeat a rule.
        issued_here = self.invoices[len(self.preloaded) :]
        candidates = [invoice for invoice in issued_here if invoice.status == OPEN] if aimed else self.invoices
        invoice = (candidates or self.invoices)[index % len(candidates or self.invoices)]
        caller = self.manager if by_manager else self.stranger

        if not by_manager:
            with reverts_with("AccessControlUnauthorizedAccount", caller, self.registry.MANAGER_ROLE()):
                self.escrow.cancel(invoice.invoice_id, {"from": caller})
        elif invoice.status != OPEN:
            with reverts_with("InvoiceNotOpen", invoice.invoice_id, invoice.status):
                self.escrow.cancel(invoice.invoice_id, {"from": caller})
        else:
            self.escrow.cancel(invoice.invoice_id, {"from": caller})
            invoice.status = CANCELLED
            self.outcomes["cancelled"] += 1

    @rule(seconds=st.sampled_from(SLEEPS_SECONDS))
    def time_passes(self, seconds: int) -> None:
        chain.sleep(seconds)
        chain.mine()
        self.clock += seconds

    @invariant()
    def escrow_balance_is_the_sum_of_paid_and_disputed_invoices(self) -> None:
        held = sum(invoice.amount for invoice in self.invoices if invoice.status in IN_ESCROW)
        assert self.escrow.balance() == held

    @invariant()
    def every_wei_out_went_to_the_treasury_or_back_to_its_payer(self) -> None:
        assert self.treasury.balance() == self.treasury_start + self.released_wei
        for payer in self.payers:
            assert payer.balance() == self.payer_start[payer.address] + self.payer_net_wei[payer.address]

    @invariant()
    def every_status_on_chain_matches_the_model(self) -> None:
        on_chain = [self.escrow.invoiceOf(invoice.invoice_id)[INVOICE_STATUS] for invoice in self.invoices]
        assert on_chain == [invoice.status for invoice in self.invoices]


@pytest.fixture(scope="module")
def issuer(accounts, registry, admin):
    """An account holding the invoice issuer role: one transaction per invoice, not six."""
    account = accounts[9]
    registry.grantRole(registry.INVOICE_ISSUER_ROLE(), account, {"from": admin})
    return account


@pytest.fixture(scope="module")
def preloaded_invoices(escrow, issuer, customer, customer2):
    """Invoices in every live state, made once, so that even a short example has money to move.

    Returns InvoiceModel tuples as the machine's model starts from them: one paid before a
    dispute window's length of time passed (releasable), one paid and one disputed since
    (window open), two open.
    """

    def issue(payer, amount) -> InvoiceModel:
        invoice_id = escrow.issueInvoice(1, 1, payer, amount, {"from": issuer}).return_value
        return InvoiceModel(invoice_id, payer, amount)

    def pay(invoice: InvoiceModel, clock: int) -> None:
        tx = escrow.pay(invoice.invoice_id, {"from": invoice.payer, "value": invoice.amount})
        invoice.status, invoice.paid_clock, invoice.paid_at = PAID, clock, tx.timestamp

    releasable = issue(customer, ONE_ETH)
    pay(releasable, -8 * ONE_DAY_SECONDS)
    chain.sleep(8 * ONE_DAY_SECONDS)
    chain.mine()
    in_window, disputed = issue(customer2, 3 * ONE_ETH), issue(customer2, 2 * ONE_ETH)
    pay(in_window, 0)
    pay(disputed, 0)
    escrow.dispute(disputed.invoice_id, {"from": customer2})
    disputed.status = DISPUTED
    return (releasable, in_window, disputed, issue(customer, 10**15), issue(customer2, 1))


def test_escrow_balance_always_equals_the_paid_and_disputed_invoices(
    registry, escrow, issuer, preloaded_invoices, manager, stranger, treasury, customer, customer2
):
    EscrowMachine.escrow, EscrowMachine.registry, EscrowMachine.issuer = escrow, registry, issuer
    EscrowMachine.manager, EscrowMachine.stranger, EscrowMachine.treasury = manager, stranger, treasury
    EscrowMachine.payers, EscrowMachine.preloaded = (customer, customer2), preloaded_invoices
    EscrowMachine.outcomes = Counter()
    chain.snapshot()

    run_state_machine_as_test(EscrowMachine, settings=MACHINE_SETTINGS)

    assert EscrowMachine.outcomes["released"] + EscrowMachine.outcomes["refunded"] > 0  # money did move


# --- (2) a final deal never moves --------------------------------------------------------------


@dataclass
class DealModel:
    deal_id: int
    owner: object
    stage: int = LEAD


def model_can_move(frm: int, to: int) -> bool:
    if frm not in range(LEAD, CONTRACTING + 1):
        return False
    if to == WON:
        return frm == CONTRACTING
    return to in range(LEAD, CONTRACTING + 1) and abs(to - frm) == 1


class DealMachine(RuleBasedStateMachine):
    """Random open/move/markLost/reassign sequences over a few deals.

    Once a deal is Won or Lost, every moveStage, markLost and reassign reverts DealIsFinal and
    its stage (and owner) stay as they were.
    """

    pipeline = registry = customer_id = manager = stranger = None
    agents: tuple = ()
    preloaded: tuple = ()  # (deal_id, owner, stage) of deals made before the snapshot
    outcomes: Counter = Counter()  # what the examples exercised, summed over the whole run

    def __init__(self) -> None:
        super().__init__()
        self.deals = [DealModel(deal_id, owner, stage) for deal_id, owner, stage in self.preloaded]
        self.final_stage = {deal.deal_id: deal.stage for deal in self.deals if deal.stage in FINAL_STAGES}
        self.id_offset = self.pipeline.dealCount() - len(self.deals)

    def teardown(self) -> None:
        chain.revert()

    def _pick(self, index: int) -> DealModel:
        return self.deals[index % len(self.deals)]

    def _caller(self, deal: DealModel, who: str):
        if who == "owner":
            return deal.owner
        if who == "manager":
            return self.manager
        if who == "other agent":
            return next(agent for agent in self.agents if agent != deal.owner)
        return self.stranger

    def _move(self, deal: DealModel, to: int, who: str) -> None:
        caller = self._caller(deal, who)

        if deal.stage in FINAL_STAGES:
            self.outcomes["final deal refused"] += 1
            with reverts_with("DealIsFinal", deal.deal_id, deal.stage):
                self.pipeline.moveStage(deal.deal_id, to, {"from": caller})
        elif who not in ("owner", "manager"):
            with reverts_with("CallerNotDealOwnerOrManager", deal.deal_id, caller):
                self.pipeline.moveStage(deal.deal_id, to, {"from": caller})
        elif not model_can_move(deal.stage, to):
            with reverts_with("DealStageTransitionInvalid", deal.deal_id, deal.stage, to):
                self.pipeline.moveStage(deal.deal_id, to, {"from": caller})
        else:
            tx = self.pipeline.moveStage(deal.deal_id, to, {"from": caller})
            deal.stage = to
            if to == WON:
                self.outcomes["deal won"] += 1
                self.final_stage[deal.deal_id] = WON
                assert tx.events["DealInvoiced"]["dealId"] == deal.deal_id

    @rule(owner_index=st.integers(0, 1), by_manager=st.booleans())
    def open_deal(self, owner_index: int, by_manager: bool) -> None:
        owner = self.agents[owner_index]
        caller = self.manager if by_manager else owner

        deal_id = self.pipeline.openDeal(self.customer_id, owner, ONE_ETH, {"from": caller}).return_value

        assert deal_id == self.id_offset + len(self.deals) + 1
        self.deals.append(DealModel(deal_id, owner))

    @precondition(lambda self: self.deals)
    @rule(
        index=INDICES,
        to=st.integers(NONE, LOST),
        who=st.sampled_from(("owner", "manager", "other agent", "stranger")),
    )
    def move(self, index: int, to: int, who: str) -> None:
        self._move(self._pick(index), to, who)

    @precondition(lambda self: self.deals)
    @rule(index=INDICES)
    def owner_advances(self, index: int) -> None:
        """One step toward Won: random stages alone would rarely get a deal there."""
        deal = self._pick(index)
        to = deal.stage + 1 if deal.stage not in FINAL_STAGES else WON

        self._move(deal, to, "owner")

    @precondition(lambda self: self.deals)
    @rule(index=INDICES)
    def owner_steps_back(self, index: int) -> None:
        """One step back (Lead to None is refused): random stages alone would rarely try it."""
        deal = self._pick(index)

        self._move(deal, deal.stage - 1, "owner")

    @precondition(lambda self: self.deals)
    @rule(index=INDICES)
    def owner_drives_to_won(self, index: int) -> None:
        deal = self._pick(index)
        if deal.stage in FINAL_STAGES:
            self._move(deal, WON, "owner")
            return

        for to in range(deal.stage + 1, WON + 1):
            self._move(deal, to, "owner")

        assert deal.stage == WON

    @precondition(lambda self: self.deals)
    @rule(
        index=INDICES,
        reason=st.integers(0, 255),
        who=st.sampled_from(("owner", "manager", "other agent", "stranger")),
    )
    def mark_lost(self, index: int, reason: int, who: str) -> None:
        deal = self._pick(index)
        caller = self._caller(deal, who)

        if deal.stage in FINAL_STAGES:
            self.outcomes["final deal refused"] += 1
            with reverts_with("DealIsFinal", deal.deal_id, deal.stage):
                self.pipeline.markLost(deal.deal_id, reason, {"from": caller})
        elif who not in ("owner", "manager"):
            with reverts_with("CallerNotDealOwnerOrManager", deal.deal_id, caller):
                self.pipeline.markLost(deal.deal_id, reason, {"from": caller})
        else:
            self.pipeline.markLost(deal.deal_id, reason, {"from": caller})
            deal.stage = LOST
            self.final_stage[deal.deal_id] = LOST
            self.outcomes["deal lost"] += 1

    @precondition(lambda self: self.deals)
    @rule(index=INDICES, new_owner_index=st.integers(0, 2), by_manager=st.booleans())
    def reassign(self, index: int, new_owner_index: int, by_manager: bool) -> None:
        deal = self._pick(index)
        new_owner = (*self.agents, self.stranger)[new_owner_index]
        caller = self.manager if by_manager else deal.owner

        if not by_manager:
            with reverts_with("AccessControlUnauthorizedAccount", caller, self.registry.MANAGER_ROLE()):
                self.pipeline.reassign(deal.deal_id, new_owner, {"from": caller})
        elif deal.stage in FINAL_STAGES:
            self.outcomes["final deal refused"] += 1
            with reverts_with("DealIsFinal", deal.deal_id, deal.stage):
                self.pipeline.reassign(deal.deal_id, new_owner, {"from": caller})
        elif new_owner == self.stranger:
            with reverts_with("DealOwnerNotAgent", new_owner):
                self.pipeline.reassign(deal.deal_id, new_owner, {"from": caller})
        else:
            self.pipeline.reassign(deal.deal_id, new_owner, {"from": caller})
            deal.owner = new_owner

    @invariant()
    def every_deal_on_chain_matches_the_model_and_final_deals_keep_their_stage(self) -> None:
        # One dealOf per deal per step: the three checks share it to keep the run fast.
        on_chain = [tuple(self.pipeline.dealOf(deal.deal_id)) for deal in self.deals]

        assert [deal[: DEAL_STAGE + 1] for deal in on_chain] == [
            (deal.owner.address, self.customer_id, deal.stage) for deal in self.deals
        ]
        ended_in = {deal.deal_id: chained[DEAL_STAGE] for deal, chained in zip(self.deals, on_chain, strict=True)}
        assert {deal_id: ended_in[deal_id] for deal_id in self.final_stage} == self.final_stage
        assert [chained[DEAL_INVOICE_ID] != 0 for chained in on_chain] == [deal.stage == WON for deal in self.deals]


@pytest.fixture(scope="module")
def preloaded_deals(pipeline, customer_id, agent, agent2):
    """Deals made once: two at Lead, one at Contracting, one Won, one Lost.

    Even a short example then has final deals to push on and an open deal one step from Won.
    """
    deals = []
    for owner, stage in ((agent, LEAD), (agent2, LEAD), (agent, CONTRACTING), (agent2, WON), (agent, LOST)):
        deal_id = pipeline.openDeal(customer_id, owner, ONE_ETH, {"from": owner}).return_value
        if stage == LOST:
            pipeline.markLost(deal_id, 1, {"from": owner})
        else:
            for to in range(QUALIFIED, stage + 1):
                pipeline.moveStage(deal_id, to, {"from": owner})
        deals.append((deal_id, owner, stage))
    return tuple(deals)


def test_a_final_deal_never_moves(pipeline, registry, customer_id, preloaded_deals, agent, agent2, manager, stranger):
    DealMachine.pipeline, DealMachine.registry, DealMachine.customer_id = pipeline, registry, customer_id
    DealMachine.manager, DealMachine.stranger, DealMachine.agents = manager, stranger, (agent, agent2)
    DealMachine.preloaded, DealMachine.outcomes = preloaded_deals, Counter()
    chain.snapshot()

    run_state_machine_as_test(DealMachine, settings=MACHINE_SETTINGS)

    assert DealMachine.outcomes["final deal refused"] > 0  # the property was put to the test
