"""InvoiceEscrow's treasury: the delayed two-step change, treasuries fixed at payment, sweeping.

The escrow here is issued for by a plain account, so that invoices cost one transaction each.
The threat these tests pin down: an admin who proposes a treasury of his own cannot take funds
already held, because every invoice keeps the treasury of the moment it was paid, and the change
cannot take effect before the dispute window of every invoice paid before the proposal has ended.
"""

from __future__ import annotations

import pytest
from brownie import chain, web3

from tests.contracts.helpers import (
    DISPUTE_RESOLUTION_SECONDS,
    DISPUTE_WINDOW_SECONDS,
    ONE_ETH,
    PAID,
    PAYMENT_TERM_SECONDS,
    RELEASED,
    TREASURY_DELAY_SECONDS,
    ZERO_ADDRESS,
    reverts_with,
)

FIRST_EPOCH, SECOND_EPOCH = 1, 2
MAX_TREASURY_EPOCHS = 255
FORCED_WEI = 7 * 10**15
RAW_GAS_LIMIT = 200_000
STATUS, TREASURY_EPOCH = 3, 5  # positions in the Invoice struct


def set_next_block_timestamp(timestamp: int) -> None:
    """Mine the next transaction at exactly `timestamp`, to test a boundary to the second."""
    web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


def sleep_past(seconds: int) -> None:
    chain.sleep(seconds + 1)
    chain.mine()


@pytest.fixture(scope="module")
def issuer(accounts):
    return accounts[9]


@pytest.fixture(scope="module")
def new_treasury(customer2):
    """The account proposed as the next treasury (any account will do; this one has no role)."""
    return customer2


@pytest.fixture(scope="module")
def escrow(InvoiceEscrow, registry, issuer, treasury, admin):
    """An escrow whose issuer is a plain account (shadows the deployment's escrow)."""
    return InvoiceEscrow.deploy(
        registry,
        issuer,
        treasury,
        DISPUTE_WINDOW_SECONDS,
        PAYMENT_TERM_SECONDS,
        DISPUTE_RESOLUTION_SECONDS,
        TREASURY_DELAY_SECONDS,
        {"from": admin},
    )


@pytest.fixture(scope="module")
def paid_invoice(escrow, issuer, customer):
    """Issue an invoice to `customer` and pay it; returns (invoice_id, pay transaction)."""

    def _paid(amount: int = ONE_ETH):
        invoice_id = escrow.issueInvoice(1, 1, customer, amount, ZERO_ADDRESS, {"from": issuer}).return_value
        return invoice_id, escrow.pay(invoice_id, {"from": customer, "value": amount})

    return _paid


@pytest.fixture(scope="module")
def change_treasury(escrow, admin):
    """Propose `account`, wait out the delay and let it accept; returns the accept transaction."""

    def _change(account):
        proposal = escrow.proposeTreasury(account, {"from": admin})
        set_next_block_timestamp(proposal.timestamp + TREASURY_DELAY_SECONDS)
        return escrow.acceptTreasury({"from": account})

    return _change


@pytest.fixture
def proposed(escrow, admin, new_treasury):
    """`new_treasury` proposed by the admin; returns the proposal transaction."""
    return escrow.proposeTreasury(new_treasury, {"from": admin})


@pytest.fixture(scope="module")
def force_sender(ForceSender, admin):
    return ForceSender.deploy({"from": admin})


# --- proposeTreasury ---------------------------------------------------------------------------


def test_admin_proposes_a_treasury_effective_after_the_delay(escrow, admin, new_treasury):
    tx = escrow.proposeTreasury(new_treasury, {"from": admin})

    assert tuple(escrow.pendingTreasury()) == (new_treasury.address, tx.timestamp + TREASURY_DELAY_SECONDS)


def test_proposing_emits_treasury_change_proposed(escrow, admin, new_treasury):
    tx = escrow.proposeTreasury(new_treasury, {"from": admin})

    assert dict(tx.events["TreasuryChangeProposed"]) == {
        "proposed": new_treasury.address,
        "effectiveAt": tx.timestamp + TREASURY_DELAY_SECONDS,
        "actor": admin.address,
    }


def test_a_proposal_leaves_the_treasury_unchanged(escrow, treasury, proposed):
    assert (escrow.treasury(), escrow.treasuryEpoch()) == (treasury.address, FIRST_EPOCH)


def test_a_new_proposal_replaces_the_pending_one_and_restarts_the_delay(escrow, admin, stranger, proposed):
    chain.sleep(3600)

    tx = escrow.proposeTreasury(stranger, {"from": admin})

    assert tuple(escrow.pendingTreasury()) == (stranger.address, tx.timestamp + TREASURY_DELAY_SECONDS)


@pytest.mark.parametrize("caller", ["manager", "agent", "stranger", "treasury", "new_treasury"])
def test_proposing_is_refused_to_non_admins(request, escrow, registry, new_treasury, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.DEFAULT_ADMIN_ROLE()):
        escrow.proposeTreasury(new_treasury, {"from": account})


def test_proposing_the_zero_address_reverts(escrow, admin):
    with reverts_with("TreasuryInvalid", ZERO_ADDRESS):
        escrow.proposeTreasury(ZERO_ADDRESS, {"from": admin})


def test_proposing_the_escrow_itself_reverts(escrow, admin):
    with reverts_with("TreasuryInvalid", escrow):
        escrow.proposeTreasury(escrow, {"from": admin})


def mine_at(timestamp: int) -> None:
    """Mine the pending transactions in one block at exactly `timestamp`."""
    set_next_block_timestamp(timestamp)
    web3.provider.make_request("evm_mine", [])


@pytest.fixture(scope="module")
def last_epoch_escrow(InvoiceEscrow, registry, issuer, treasury, new_treasury, admin):
    """A second escrow whose treasury changed 254 times: it is at the last epoch, 255.

    The changes go through raw transactions (Brownie's wrappers would take minutes), alternating
    two accounts, with Anvil mining on demand so that each proposal and each acceptance lands in
    its own block exactly the delay apart.
    """
    escrow = InvoiceEscrow.deploy(
        registry,
        issuer,
        treasury,
        DISPUTE_WINDOW_SECONDS,
        PAYMENT_TERM_SECONDS,
        DISPUTE_RESOLUTION_SECONDS,
        TREASURY_DELAY_SECONDS,
        {"from": admin},
    )
    propose = escrow.proposeTreasury.encode_input
    accept = escrow.acceptTreasury.encode_input()
    raw = {"to": escrow.address, "gas": RAW_GAS_LIMIT}  # a fixed limit: estimating ignores the set time
    proposed_at = chain[-1].timestamp + 1
    web3.provider.make_request("evm_setAutomine", [False])
    try:
        for change in range(MAX_TREASURY_EPOCHS - FIRST_EPOCH):
            account = (new_treasury, treasury)[change % 2]
            web3.eth.send_transaction({**raw, "from": admin.address, "data": propose(account.address)})
            mine_at(proposed_at)
            web3.eth.send_transaction({**raw, "from": account.address, "data": accept})
            mine_at(proposed_at + TREASURY_DELAY_SECONDS)
            proposed_at += TREASURY_DELAY_SECONDS + 1
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
    assert (escrow.treasuryEpoch(), escrow.treasury()) == (MAX_TREASURY_EPOCHS, treasury.address)
    return escrow


def test_proposing_after_the_last_epoch_reverts(last_epoch_escrow, admin, stranger):
    with reverts_with("TreasuryChangesExhausted", MAX_TREASURY_EPOCHS):
        last_epoch_escrow.proposeTreasury(stranger, {"from": admin})


def test_liabilities_stay_readable_at_the_last_epoch(last_epoch_escrow, issuer, customer):
    invoice_id = last_epoch_escrow.issueInvoice(1, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer}).return_value

    last_epoch_escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert last_epoch_escrow.invoiceOf(invoice_id)[TREASURY_EPOCH] == MAX_TREASURY_EPOCHS
    assert last_epoch_escrow.liabilitiesWei() == ONE_ETH


def test_sweeping_still_works_at_the_last_epoch(last_epoch_escrow, admin, stranger, treasury, force_sender):
    force_sender.force(last_epoch_escrow, {"from": admin, "value": FORCED_WEI})
    treasury_before = treasury.balance()

    last_epoch_escrow.sweep({"from": stranger})

    assert treasury.balance() == treasury_before + FORCED_WEI


# --- cancelTreasuryChange ----------------------------------------------------------------------


def test_admin_cancels_a_pending_change(escrow, admin, proposed):
    escrow.cancelTreasuryChange({"from": admin})

    assert tuple(escrow.pendingTreasury()) == (ZERO_ADDRESS, 0)


def test_cancelling_emits_treasury_change_cancelled(escrow, admin, new_treasury, proposed):
    tx = escrow.cancelTreasuryChange({"from": admin})

    assert dict(tx.events["TreasuryChangeCancelled"]) == {"proposed": new_treasury.address, "actor": admin.address}


def test_a_cancelled_change_can_no_longer_be_accepted(escrow, admin, new_treasury, proposed):
    escrow.cancelTreasuryChange({"from": admin})
    sleep_past(TREASURY_DELAY_SECONDS)

    with reverts_with("TreasuryChangeNotProposed"):
        escrow.acceptTreasury({"from": new_treasury})


def test_cancelling_without_a_pending_change_reverts(escrow, admin):
    with reverts_with("TreasuryChangeNotProposed"):
        escrow.cancelTreasuryChange({"from": admin})


@pytest.mark.parametrize("caller", ["manager", "stranger", "treasury", "new_treasury"])
def test_cancelling_is_refused_to_non_admins(request, escrow, registry, proposed, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.DEFAULT_ADMIN_ROLE()):
        escrow.cancelTreasuryChange({"from": account})


# --- acceptTreasury ----------------------------------------------------------------------------


def test_the_proposed_treasury_accepts_when_the_delay_ends(escrow, new_treasury, proposed):
    set_next_block_timestamp(proposed.timestamp + TREASURY_DELAY_SECONDS)

    escrow.acceptTreasury({"from": new_treasury})

    assert (escrow.treasury(), escrow.treasuryEpoch()) == (new_treasury.address, SECOND_EPOCH)


def test_accepting_keeps_the_previous_epochs_treasury(escrow, treasury, new_treasury, proposed):
    sleep_past(TREASURY_DELAY_SECONDS)

    escrow.acceptTreasury({"from": new_treasury})

    assert (escrow.treasuryOf(FIRST_EPOCH), escrow.treasuryOf(SECOND_EPOCH)) == (
        treasury.address,
        new_treasury.address,
    )


def test_accepting_clears_the_pending_change(escrow, new_treasury, proposed):
    sleep_past(TREASURY_DELAY_SECONDS)

    escrow.acceptTreasury({"from": new_treasury})

    assert tuple(escrow.pendingTreasury()) == (ZERO_ADDRESS, 0)


def test_accepting_emits_treasury_changed_with_the_new_epoch(escrow, treasury, new_treasury, proposed):
    sleep_past(TREASURY_DELAY_SECONDS)

    tx = escrow.acceptTreasury({"from": new_treasury})

    assert dict(tx.events["TreasuryChanged"]) == {
        "previousTreasury": treasury.address,
        "newTreasury": new_treasury.address,
        "epoch": SECOND_EPOCH,
    }


def test_accepting_one_second_before_the_delay_ends_reverts(escrow, new_treasury, proposed):
    effective_at = proposed.timestamp + TREASURY_DELAY_SECONDS
    set_next_block_timestamp(effective_at - 1)

    with reverts_with("TreasuryChangeNotReady", effective_at):
        escrow.acceptTreasury({"from": new_treasury})


@pytest.mark.parametrize("caller", ["admin", "manager", "stranger", "treasury"])
def test_accepting_is_refused_to_anyone_but_the_proposed_treasury(request, escrow, proposed, caller):
    sleep_past(TREASURY_DELAY_SECONDS)

    with reverts_with("TreasuryChangeNotProposed"):
        escrow.acceptTreasury({"from": request.getfixturevalue(caller)})


def test_accepting_without_a_proposal_reverts(escrow, new_treasury):
    with reverts_with("TreasuryChangeNotProposed"):
        escrow.acceptTreasury({"from": new_treasury})


def test_accepting_twice_reverts(escrow, new_treasury, proposed):
    sleep_past(TREASURY_DELAY_SECONDS)
    escrow.acceptTreasury({"from": new_treasury})

    with reverts_with("TreasuryChangeNotProposed"):
        escrow.acceptTreasury({"from": new_treasury})


# --- every invoice keeps the treasury of the moment it was paid --------------------------------


def test_an_invoice_paid_before_a_change_releases_to_the_old_treasury(
    escrow, customer, treasury, new_treasury, paid_invoice, change_treasury
):
    invoice_id, _ = paid_invoice()
    change_treasury(new_treasury)
    old_before, new_before = treasury.balance(), new_treasury.balance()

    tx = escrow.confirmDelivery(invoice_id, {"from": customer})

    assert (treasury.balance(), new_treasury.balance()) == (old_before + ONE_ETH, new_before)
    assert tx.events["InvoiceReleased"]["treasury"] == treasury.address


def test_an_invoice_paid_after_a_change_releases_to_the_new_treasury(
    escrow, customer, treasury, new_treasury, paid_invoice, change_treasury
):
    change_treasury(new_treasury)
    invoice_id, _ = paid_invoice()
    old_before, new_before = treasury.balance(), new_treasury.balance()

    escrow.confirmDelivery(invoice_id, {"from": customer})

    assert (treasury.balance(), new_treasury.balance()) == (old_before, new_before + ONE_ETH)


def test_an_invoice_issued_before_a_change_and_paid_after_belongs_to_the_new_epoch(
    escrow, issuer, customer, new_treasury, change_treasury
):
    invoice_id = escrow.issueInvoice(1, 1, customer, ONE_ETH, ZERO_ADDRESS, {"from": issuer}).return_value
    change_treasury(new_treasury)

    tx = escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    assert escrow.invoiceOf(invoice_id)[TREASURY_EPOCH] == SECOND_EPOCH
    assert tx.events["InvoicePaid"]["treasury"] == new_treasury.address


def test_the_old_treasury_may_still_release_its_invoices_after_a_change(
    escrow, treasury, new_treasury, paid_invoice, change_treasury
):
    invoice_id, _ = paid_invoice()
    change_treasury(new_treasury)

    escrow.release(invoice_id, {"from": treasury})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED


def test_the_new_treasury_cannot_release_invoices_of_the_old_one(escrow, new_treasury, paid_invoice, change_treasury):
    invoice_id, _ = paid_invoice()
    change_treasury(new_treasury)

    with reverts_with("CallerCannotRelease", invoice_id, new_treasury):
        escrow.release(invoice_id, {"from": new_treasury})


def test_the_old_treasury_cannot_release_invoices_of_the_new_one(
    escrow, treasury, new_treasury, paid_invoice, change_treasury
):
    change_treasury(new_treasury)
    invoice_id, _ = paid_invoice()
    sleep_past(DISPUTE_WINDOW_SECONDS)

    with reverts_with("CallerCannotRelease", invoice_id, treasury):
        escrow.release(invoice_id, {"from": treasury})


def test_liabilities_count_the_funds_of_every_epoch(escrow, new_treasury, paid_invoice, change_treasury):
    paid_invoice(ONE_ETH)
    change_treasury(new_treasury)
    paid_invoice(2 * ONE_ETH)

    assert escrow.liabilitiesWei() == 3 * ONE_ETH == escrow.balance()


# --- the setTreasury attack: an admin proposing a treasury of his own --------------------------


def test_every_invoice_paid_before_a_proposal_is_releasable_before_the_change_can_take_effect(
    escrow, admin, treasury, stranger, paid_invoice
):
    invoice_id, _ = paid_invoice()
    proposal = escrow.proposeTreasury(stranger, {"from": admin})
    effective_at = proposal.timestamp + TREASURY_DELAY_SECONDS
    set_next_block_timestamp(effective_at - 2)

    escrow.release(invoice_id, {"from": treasury})

    assert escrow.invoiceOf(invoice_id)[STATUS] == RELEASED
    # Pinned too: on a busy machine the next block's clock could otherwise reach effective_at.
    set_next_block_timestamp(effective_at - 1)
    with reverts_with("TreasuryChangeNotReady", effective_at):
        escrow.acceptTreasury({"from": stranger})


def test_an_attacker_treasury_cannot_take_funds_held_before_it_accepted(
    escrow, admin, manager, customer, treasury, stranger, paid_invoice, change_treasury
):
    released, _ = paid_invoice(ONE_ETH)
    disputed, _ = paid_invoice(2 * ONE_ETH)
    escrow.dispute(disputed, {"from": customer})
    attacker_before, treasury_before = stranger.balance(), treasury.balance()
    change_treasury(stranger)  # the admin proposed the stranger, who accepted after the delay

    escrow.release(released, {"from": manager})
    escrow.release(disputed, {"from": manager})

    assert treasury.balance() == treasury_before + 3 * ONE_ETH
    assert stranger.balance() <= attacker_before  # only its gas for accepting
    assert escrow.balance() == 0


def test_an_attacker_treasury_cannot_release_funds_held_before_it_accepted(
    escrow, stranger, paid_invoice, change_treasury
):
    invoice_id, _ = paid_invoice()
    change_treasury(stranger)

    with reverts_with("CallerCannotRelease", invoice_id, stranger):
        escrow.release(invoice_id, {"from": stranger})

    assert escrow.invoiceOf(invoice_id)[STATUS] == PAID


def test_an_attacker_treasury_cannot_sweep_held_funds(escrow, stranger, paid_invoice, change_treasury):
    paid_invoice()
    change_treasury(stranger)

    with reverts_with("NothingToSweep"):
        escrow.sweep({"from": stranger})

    assert escrow.balance() == ONE_ETH


# --- sweep -------------------------------------------------------------------------------------


def test_forced_ether_raises_the_balance_above_the_liabilities(escrow, admin, force_sender, paid_invoice):
    paid_invoice()

    force_sender.force(escrow, {"from": admin, "value": FORCED_WEI})

    assert escrow.balance() == escrow.liabilitiesWei() + FORCED_WEI


def test_anyone_sweeps_forced_ether_to_the_treasury(escrow, admin, stranger, treasury, force_sender):
    force_sender.force(escrow, {"from": admin, "value": FORCED_WEI})
    treasury_before = treasury.balance()

    escrow.sweep({"from": stranger})

    assert treasury.balance() == treasury_before + FORCED_WEI
    assert escrow.balance() == 0


def test_sweeping_sends_only_the_ether_above_the_liabilities(
    escrow, admin, manager, stranger, treasury, force_sender, paid_invoice
):
    paid_invoice(ONE_ETH)
    refunded, _ = paid_invoice(2 * ONE_ETH)
    escrow.refund(refunded, {"from": manager})
    force_sender.force(escrow, {"from": admin, "value": FORCED_WEI})
    treasury_before = treasury.balance()

    escrow.sweep({"from": stranger})

    assert treasury.balance() == treasury_before + FORCED_WEI
    assert escrow.balance() == escrow.liabilitiesWei() == 3 * ONE_ETH


def test_sweeping_emits_forced_ether_swept(escrow, admin, stranger, treasury, force_sender):
    force_sender.force(escrow, {"from": admin, "value": FORCED_WEI})

    tx = escrow.sweep({"from": stranger})

    assert dict(tx.events["ForcedEtherSwept"]) == {
        "treasury": treasury.address,
        "amount": FORCED_WEI,
        "actor": stranger.address,
    }


def test_sweeping_goes_to_the_current_treasury(escrow, admin, stranger, new_treasury, force_sender, change_treasury):
    change_treasury(new_treasury)
    force_sender.force(escrow, {"from": admin, "value": FORCED_WEI})
    new_before = new_treasury.balance()

    escrow.sweep({"from": stranger})

    assert new_treasury.balance() == new_before + FORCED_WEI


def test_sweeping_an_escrow_without_forced_ether_reverts(escrow, stranger):
    with reverts_with("NothingToSweep"):
        escrow.sweep({"from": stranger})


def test_sweeping_an_escrow_holding_only_what_it_owes_reverts(escrow, stranger, paid_invoice):
    paid_invoice()

    with reverts_with("NothingToSweep"):
        escrow.sweep({"from": stranger})

    assert escrow.balance() == ONE_ETH


def test_sweeping_twice_reverts_and_sends_once(escrow, admin, stranger, treasury, force_sender):
    force_sender.force(escrow, {"from": admin, "value": FORCED_WEI})
    escrow.sweep({"from": stranger})
    treasury_after_first = treasury.balance()

    with reverts_with("NothingToSweep"):
        escrow.sweep({"from": stranger})

    assert treasury.balance() == treasury_after_first
