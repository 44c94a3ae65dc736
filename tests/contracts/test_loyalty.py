"""Loyalty points: the non-transferable LoyaltyPoints token, and the escrow that mints them at release
and burns them when a payer redeems them against an invoice."""

from __future__ import annotations

import pytest
from brownie import chain

from tests.contracts.helpers import (
    DISPUTE_RESOLUTION_SECONDS,
    DISPUTE_WINDOW_SECONDS,
    ONE_ETH,
    OPEN,
    PAID,
    REFUNDED,
    RELEASED,
    ZERO_ADDRESS,
    private_key_of,
    reverts_with,
)
from tests.contracts.offers_fixtures import (
    STABLECOIN_UNIT,
    UINT128_MAX,
    WAD,
    deploy_stablecoin,
    sign_permit,
    win,
)

# ETH: 10 point base units earned per wei paid; one point base unit buys 0.01 wei of discount.
EARN_WAD = 10 * WAD
REDEEM_WAD = WAD // 100
# The stablecoin (6 decimals): one whole point (1e18 units) per cent paid; 1e18 point units buy one cent.
TOKEN_EARN_WAD = 10**14 * WAD  # a cent is 1e4 base units: 1e14 point units per base unit
TOKEN_REDEEM_WAD = 10**4  # 1e18 point units * 1e4 / 1e18 = 1e4 base units = one cent
INVOICE_WEI = ONE_ETH
TOKEN_INVOICE = 100 * STABLECOIN_UNIT
PERMIT_LIFETIME_SECONDS = 3600


def points_of(amount: int, earn_wad: int = EARN_WAD) -> int:
    return amount * earn_wad // WAD


def discount_of(points: int, redeem_wad: int = REDEEM_WAD) -> int:
    return points * redeem_wad // WAD


def events_of(tx, name: str, contract) -> list[dict]:
    """The `name` events `contract` emitted in `tx`, as dicts."""
    if name not in tx.events:
        return []
    return [dict(event) for event in tx.events[name] if event.address == contract.address]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def points(LoyaltyPoints, escrow, admin):
    """The escrow's loyalty points, deployed (the escrow is its minter) but not yet set as its program."""
    return LoyaltyPoints.deploy(escrow, {"from": admin})


@pytest.fixture(scope="module")
def eoa_minted(LoyaltyPoints, admin, stranger):
    """A LoyaltyPoints whose minter is an account (`stranger`), to call mint and burn directly."""
    return LoyaltyPoints.deploy(stranger, {"from": admin})


@pytest.fixture(scope="module")
def stablecoin(TestStablecoin, escrow, admin):
    return deploy_stablecoin(TestStablecoin, escrow, admin)


@pytest.fixture
def program(escrow, admin, points, stablecoin):
    """The loyalty program on, with rates for ETH and the stablecoin."""
    escrow.setLoyaltyProgram(points, {"from": admin})
    escrow.setLoyaltyRates(ZERO_ADDRESS, EARN_WAD, REDEEM_WAD, {"from": admin})
    escrow.setLoyaltyRates(stablecoin, TOKEN_EARN_WAD, TOKEN_REDEEM_WAD, {"from": admin})
    return points


@pytest.fixture(scope="module")
def eth_invoice(pipeline, agent, customer_id):
    """An open ETH invoice for `customer_id` (won by `agent`)."""

    def _eth_invoice(value: int = INVOICE_WEI) -> int:
        deal_id = pipeline.openDeal(customer_id, agent, value, {"from": agent}).return_value
        return win(pipeline, deal_id, agent)

    return _eth_invoice


@pytest.fixture(scope="module")
def token_invoice(pipeline, agent, manager, customer_id, stablecoin):
    """An open stablecoin invoice for `customer_id` (won by `manager`, as a token deal must be)."""

    def _token_invoice(value: int = TOKEN_INVOICE) -> int:
        deal_id = pipeline.openDealIn(customer_id, agent, value, stablecoin, {"from": agent}).return_value
        return win(pipeline, deal_id, manager)

    return _token_invoice


@pytest.fixture(scope="module")
def pay_token(escrow, customer, stablecoin):
    """Mint `amount` of the stablecoin to the customer, approve it and pay `invoice_id` with payToken."""

    def _pay_token(invoice_id: int, amount: int = TOKEN_INVOICE):
        stablecoin.mint(customer, amount, {"from": customer})
        stablecoin.approve(escrow, amount, {"from": customer})
        return escrow.payToken(invoice_id, {"from": customer})

    return _pay_token


@pytest.fixture(scope="module")
def release(escrow, customer):
    """Wait out the dispute window and release `invoice_id` (by the payer unless `by`)."""

    def _release(invoice_id: int, by=None):
        chain.sleep(DISPUTE_WINDOW_SECONDS)
        return escrow.release(invoice_id, {"from": by or customer})

    return _release


@pytest.fixture(scope="module")
def earn(escrow, customer, eth_invoice, release):
    """Pay and release an ETH invoice of `value` wei so the customer earns its points; returns them."""

    def _earn(value: int = INVOICE_WEI) -> int:
        invoice_id = eth_invoice(value)
        escrow.pay(invoice_id, {"from": customer, "value": value})
        tx = release(invoice_id)
        return tx.events["PointsAwarded"]["points"]

    return _earn


# --- LoyaltyPoints ------------------------------------------------------------------------------


def test_loyalty_points_are_named_crmp_with_18_decimals(points, escrow):
    assert points.name() == "chaincrm Loyalty Points"
    assert points.symbol() == "CRMP"
    assert points.decimals() == 18
    assert points.minter() == escrow.address
    assert points.totalSupply() == 0


def test_loyalty_points_refuse_the_zero_minter(LoyaltyPoints, admin):
    with reverts_with("MinterInvalid", ZERO_ADDRESS):
        LoyaltyPoints.deploy(ZERO_ADDRESS, {"from": admin})


def test_the_minter_mints_points(eoa_minted, stranger, customer):
    tx = eoa_minted.mint(customer, 500, {"from": stranger})

    assert eoa_minted.balanceOf(customer) == 500
    assert eoa_minted.totalSupply() == 500
    assert dict(tx.events["Transfer"]) == {"from": ZERO_ADDRESS, "to": customer.address, "value": 500}


def test_the_minter_burns_points(eoa_minted, stranger, customer):
    eoa_minted.mint(customer, 500, {"from": stranger})

    tx = eoa_minted.burn(customer, 200, {"from": stranger})

    assert eoa_minted.balanceOf(customer) == 300
    assert eoa_minted.totalSupply() == 300
    assert dict(tx.events["Transfer"]) == {"from": customer.address, "to": ZERO_ADDRESS, "value": 200}


def test_the_minter_cannot_burn_more_than_an_account_holds(eoa_minted, stranger, customer):
    eoa_minted.mint(customer, 5, {"from": stranger})

    with reverts_with("ERC20InsufficientBalance", customer, 5, 6):
        eoa_minted.burn(customer, 6, {"from": stranger})


@pytest.mark.parametrize("caller", ["admin", "manager", "customer", "agent"])
def test_only_the_minter_mints(request, eoa_minted, customer, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotMinter", account):
        eoa_minted.mint(customer, 1, {"from": account})
    assert eoa_minted.totalSupply() == 0


@pytest.mark.parametrize("caller", ["admin", "manager", "customer", "agent"])
def test_only_the_minter_burns(request, eoa_minted, stranger, customer, caller):
    eoa_minted.mint(customer, 10, {"from": stranger})
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotMinter", account):
        eoa_minted.burn(customer, 1, {"from": account})
    assert eoa_minted.balanceOf(customer) == 10


@pytest.mark.parametrize("caller", ["admin", "manager", "stranger"])
def test_no_one_but_the_escrow_mints_the_escrows_points(request, points, customer, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("CallerNotMinter", account):
        points.mint(customer, 1, {"from": account})


@pytest.mark.parametrize("amount", [0, 1, 10])
def test_a_holder_cannot_transfer_points(eoa_minted, stranger, customer, customer2, amount):
    eoa_minted.mint(customer, 10, {"from": stranger})

    with reverts_with("PointsNotTransferable"):
        eoa_minted.transfer(customer2, amount, {"from": customer})
    assert eoa_minted.balanceOf(customer) == 10


def test_the_minter_cannot_transfer_points_either(eoa_minted, stranger, customer):
    eoa_minted.mint(stranger, 10, {"from": stranger})

    with reverts_with("PointsNotTransferable"):
        eoa_minted.transfer(customer, 1, {"from": stranger})


@pytest.mark.parametrize("amount", [0, 1, 2**256 - 1])
def test_points_cannot_be_approved(eoa_minted, customer, customer2, amount):
    with reverts_with("PointsNotTransferable"):
        eoa_minted.approve(customer2, amount, {"from": customer})
    assert eoa_minted.allowance(customer, customer2) == 0


@pytest.mark.parametrize("amount", [0, 10])
def test_points_cannot_be_moved_with_transfer_from(eoa_minted, stranger, customer, customer2, amount):
    eoa_minted.mint(customer, 10, {"from": stranger})

    with reverts_with("PointsNotTransferable"):
        eoa_minted.transferFrom(customer, customer2, amount, {"from": customer2})
    assert eoa_minted.balanceOf(customer) == 10


# --- setLoyaltyProgram --------------------------------------------------------------------------


def test_the_admin_sets_the_loyalty_program(escrow, admin, points):
    assert escrow.loyaltyProgram() == ZERO_ADDRESS

    tx = escrow.setLoyaltyProgram(points, {"from": admin})

    assert escrow.loyaltyProgram() == points.address
    assert dict(tx.events["LoyaltyProgramSet"]) == {"points": points.address, "actor": admin.address}


@pytest.mark.parametrize("caller", ["manager", "agent", "auditor", "customer", "stranger"])
def test_only_the_admin_sets_the_loyalty_program(request, registry, escrow, points, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.DEFAULT_ADMIN_ROLE()):
        escrow.setLoyaltyProgram(points, {"from": account})
    assert escrow.loyaltyProgram() == ZERO_ADDRESS


def test_the_loyalty_program_is_set_once(LoyaltyPoints, escrow, admin, points):
    escrow.setLoyaltyProgram(points, {"from": admin})
    other = LoyaltyPoints.deploy(escrow, {"from": admin})

    for candidate in (points, other):
        with reverts_with("LoyaltyAlreadySet", points):
            escrow.setLoyaltyProgram(candidate, {"from": admin})
    assert escrow.loyaltyProgram() == points.address


def test_a_loyalty_token_minted_by_another_address_is_refused(escrow, admin, eoa_minted, stranger):
    with reverts_with("LoyaltyMinterMismatch", eoa_minted, stranger):
        escrow.setLoyaltyProgram(eoa_minted, {"from": admin})
    assert escrow.loyaltyProgram() == ZERO_ADDRESS


def test_a_loyalty_token_minted_by_another_escrow_is_refused(LoyaltyPoints, escrow, admin, pipeline):
    foreign = LoyaltyPoints.deploy(pipeline, {"from": admin})

    with reverts_with("LoyaltyMinterMismatch", foreign, pipeline):
        escrow.setLoyaltyProgram(foreign, {"from": admin})


@pytest.mark.parametrize("target", ["stranger", "zero"])
def test_an_account_without_code_is_refused_as_the_loyalty_program(request, escrow, admin, target):
    address = ZERO_ADDRESS if target == "zero" else request.getfixturevalue(target).address

    with reverts_with("LoyaltyMinterMismatch", address, ZERO_ADDRESS):
        escrow.setLoyaltyProgram(address, {"from": admin})


def test_an_allow_listed_token_is_refused_as_the_loyalty_program(escrow, admin, points):
    escrow.allowToken(points, True, {"from": admin})

    with reverts_with("TokenInvalid", points):
        escrow.setLoyaltyProgram(points, {"from": admin})


def test_the_loyalty_program_cannot_be_allow_listed_as_a_payment_token(escrow, admin, program):
    with reverts_with("TokenInvalid", program):
        escrow.allowToken(program, True, {"from": admin})


# --- setLoyaltyRates ----------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["eth", "stablecoin"])
def test_the_admin_sets_the_loyalty_rates_of_a_currency(request, escrow, admin, currency):
    address = ZERO_ADDRESS if currency == "eth" else request.getfixturevalue(currency).address
    assert tuple(escrow.loyaltyRatesOf(address)) == (0, 0)

    tx = escrow.setLoyaltyRates(address, EARN_WAD, REDEEM_WAD, {"from": admin})

    assert tuple(escrow.loyaltyRatesOf(address)) == (EARN_WAD, REDEEM_WAD)
    assert dict(tx.events["LoyaltyRatesChanged"]) == {
        "currency": address,
        "earnWad": EARN_WAD,
        "redeemWad": REDEEM_WAD,
        "actor": admin.address,
    }


def test_the_rates_of_one_currency_leave_the_others_alone(escrow, admin, stablecoin):
    escrow.setLoyaltyRates(stablecoin, TOKEN_EARN_WAD, TOKEN_REDEEM_WAD, {"from": admin})

    assert tuple(escrow.loyaltyRatesOf(ZERO_ADDRESS)) == (0, 0)


def test_the_largest_rates_are_uint128(escrow, admin):
    escrow.setLoyaltyRates(ZERO_ADDRESS, UINT128_MAX, UINT128_MAX, {"from": admin})

    assert tuple(escrow.loyaltyRatesOf(ZERO_ADDRESS)) == (UINT128_MAX, UINT128_MAX)


@pytest.mark.parametrize("rates", [(UINT128_MAX + 1, 0), (0, UINT128_MAX + 1), (2**256 - 1, 2**256 - 1)])
def test_rates_above_uint128_are_refused(escrow, admin, rates):
    with reverts_with("LoyaltyRateInvalid", *rates):
        escrow.setLoyaltyRates(ZERO_ADDRESS, *rates, {"from": admin})
    assert tuple(escrow.loyaltyRatesOf(ZERO_ADDRESS)) == (0, 0)


@pytest.mark.parametrize("caller", ["manager", "agent", "auditor", "customer", "stranger"])
def test_only_the_admin_sets_the_loyalty_rates(request, registry, escrow, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.DEFAULT_ADMIN_ROLE()):
        escrow.setLoyaltyRates(ZERO_ADDRESS, EARN_WAD, REDEEM_WAD, {"from": account})


# --- points minted at release -------------------------------------------------------------------


def test_paying_an_invoice_mints_no_points(escrow, customer, program, eth_invoice):
    invoice_id = eth_invoice()

    tx = escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})

    assert "PointsAwarded" not in tx.events
    assert events_of(tx, "Transfer", program) == []
    assert program.balanceOf(customer) == 0


def test_releasing_an_eth_invoice_mints_points_to_the_payer(escrow, customer, program, eth_invoice, release):
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})

    tx = release(invoice_id)

    expected = points_of(INVOICE_WEI)
    assert dict(tx.events["PointsAwarded"]) == {"invoiceId": invoice_id, "payer": customer.address, "points": expected}
    assert events_of(tx, "Transfer", program) == [{"from": ZERO_ADDRESS, "to": customer.address, "value": expected}]
    assert program.balanceOf(customer) == expected
    assert program.totalSupply() == expected


@pytest.mark.parametrize("releaser", ["treasury", "manager"])
def test_points_go_to_the_payer_whoever_releases(request, escrow, customer, program, eth_invoice, release, releaser):
    account = request.getfixturevalue(releaser)
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})

    tx = release(invoice_id, by=account)

    assert tx.events["PointsAwarded"]["payer"] == customer.address
    assert program.balanceOf(customer) == points_of(INVOICE_WEI)
    assert program.balanceOf(account) == 0


def test_a_disputed_invoice_released_by_a_manager_earns_points(escrow, manager, customer, program, eth_invoice):
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})
    escrow.dispute(invoice_id, {"from": customer})

    tx = escrow.release(invoice_id, {"from": manager})

    assert tx.events["PointsAwarded"]["points"] == points_of(INVOICE_WEI)


def test_releasing_a_token_invoice_mints_points_at_the_tokens_rate(
    escrow, customer, program, token_invoice, pay_token, release
):
    invoice_id = token_invoice()
    pay_token(invoice_id)

    tx = release(invoice_id)

    expected = points_of(TOKEN_INVOICE, TOKEN_EARN_WAD)
    assert expected == 100 * 100 * WAD  # one whole point per cent
    assert dict(tx.events["PointsAwarded"]) == {"invoiceId": invoice_id, "payer": customer.address, "points": expected}
    assert program.balanceOf(customer) == expected


def test_points_round_down(escrow, admin, customer, program, eth_invoice, release):
    escrow.setLoyaltyRates(ZERO_ADDRESS, WAD // 3, REDEEM_WAD, {"from": admin})
    invoice_id = eth_invoice(1_000)
    escrow.pay(invoice_id, {"from": customer, "value": 1_000})

    tx = release(invoice_id)

    assert tx.events["PointsAwarded"]["points"] == 333


def test_an_award_that_rounds_to_zero_mints_nothing(escrow, admin, customer, program, eth_invoice, release):
    escrow.setLoyaltyRates(ZERO_ADDRESS, 1, REDEEM_WAD, {"from": admin})
    invoice_id = eth_invoice(1_000)
    escrow.pay(invoice_id, {"from": customer, "value": 1_000})

    tx = release(invoice_id)

    assert "PointsAwarded" not in tx.events
    assert program.totalSupply() == 0


def test_no_points_are_minted_when_the_currencys_earn_rate_is_zero(
    escrow, admin, customer, program, eth_invoice, release
):
    escrow.setLoyaltyRates(ZERO_ADDRESS, 0, REDEEM_WAD, {"from": admin})
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})

    tx = release(invoice_id)

    assert tx.events["InvoiceReleased"]["amount"] == INVOICE_WEI
    assert "PointsAwarded" not in tx.events
    assert program.totalSupply() == 0


def test_no_points_are_minted_for_a_token_without_rates(
    escrow, admin, customer, points, token_invoice, pay_token, release
):
    escrow.setLoyaltyProgram(points, {"from": admin})
    escrow.setLoyaltyRates(ZERO_ADDRESS, EARN_WAD, REDEEM_WAD, {"from": admin})
    invoice_id = token_invoice()
    pay_token(invoice_id)

    tx = release(invoice_id)

    assert "PointsAwarded" not in tx.events
    assert points.totalSupply() == 0


def test_no_points_are_minted_while_the_program_is_unset(
    escrow, admin, treasury, customer, points, eth_invoice, release
):
    escrow.setLoyaltyRates(ZERO_ADDRESS, EARN_WAD, REDEEM_WAD, {"from": admin})
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})
    balance = treasury.balance()

    tx = release(invoice_id)

    assert "PointsAwarded" not in tx.events
    assert escrow.invoiceOf(invoice_id)["status"] == RELEASED
    assert treasury.balance() == balance + INVOICE_WEI
    assert points.totalSupply() == 0


def test_a_refunded_invoice_earns_no_points_ever(escrow, manager, customer, program, eth_invoice):
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})

    tx = escrow.refund(invoice_id, {"from": manager})
    chain.sleep(DISPUTE_WINDOW_SECONDS)

    assert "PointsAwarded" not in tx.events
    assert escrow.invoiceOf(invoice_id)["status"] == REFUNDED
    with reverts_with("InvoiceNotInEscrow", invoice_id, REFUNDED):
        escrow.release(invoice_id, {"from": customer})
    assert program.totalSupply() == 0


def test_a_reclaimed_invoice_earns_no_points(escrow, customer, program, eth_invoice):
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})
    escrow.dispute(invoice_id, {"from": customer})
    chain.sleep(DISPUTE_RESOLUTION_SECONDS)

    tx = escrow.reclaim(invoice_id, {"from": customer})

    assert "PointsAwarded" not in tx.events
    assert program.totalSupply() == 0


# --- payWithPoints ------------------------------------------------------------------------------


def test_paying_an_eth_invoice_with_points_charges_the_amount_less_the_discount(
    escrow, treasury, customer, program, earn, eth_invoice
):
    held = earn()
    invoice_id = eth_invoice()
    redeemed = held // 2
    discount = discount_of(redeemed)
    due = INVOICE_WEI - discount
    liabilities = escrow.liabilitiesWei()

    tx = escrow.payWithPoints(invoice_id, redeemed, {"from": customer, "value": due})

    assert discount == INVOICE_WEI // 20  # half of one invoice's points: 5 % off
    assert dict(tx.events["PointsRedeemed"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "points": redeemed,
        "discount": discount,
    }
    assert dict(tx.events["InvoicePaid"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "treasury": treasury.address,
        "amount": due,
        "at": tx.timestamp,
    }
    assert events_of(tx, "Transfer", program) == [{"from": customer.address, "to": ZERO_ADDRESS, "value": redeemed}]
    invoice = escrow.invoiceOf(invoice_id)
    assert invoice["amount"] == due
    assert invoice["status"] == PAID
    assert escrow.pointsRedeemedOn(invoice_id) == redeemed
    assert program.balanceOf(customer) == held - redeemed
    assert program.totalSupply() == held - redeemed
    assert escrow.liabilitiesWei() == liabilities + due


def test_an_invoice_paid_with_points_earns_points_on_what_was_paid(
    escrow, customer, program, earn, eth_invoice, release
):
    held = earn()
    invoice_id = eth_invoice()
    due = INVOICE_WEI - discount_of(held)
    escrow.payWithPoints(invoice_id, held, {"from": customer, "value": due})

    tx = release(invoice_id)

    assert tx.events["InvoiceReleased"]["amount"] == due
    assert tx.events["PointsAwarded"]["points"] == points_of(due)
    assert program.balanceOf(customer) == points_of(due)


def test_paying_with_zero_points_pays_the_whole_amount(escrow, customer, program, eth_invoice):
    invoice_id = eth_invoice()

    tx = escrow.payWithPoints(invoice_id, 0, {"from": customer, "value": INVOICE_WEI})

    assert "PointsRedeemed" not in tx.events
    assert tx.events["InvoicePaid"]["amount"] == INVOICE_WEI
    assert escrow.pointsRedeemedOn(invoice_id) == 0


def test_paying_a_token_invoice_with_points_pulls_the_amount_less_the_discount(
    escrow, admin, treasury, customer, stablecoin, program, earn, token_invoice
):
    held = earn()
    invoice_id = token_invoice()
    discount = discount_of(held, TOKEN_REDEEM_WAD)
    due = TOKEN_INVOICE - discount
    stablecoin.mint(customer, due, {"from": customer})
    stablecoin.approve(escrow, due, {"from": customer})

    tx = escrow.payWithPoints(invoice_id, held, {"from": customer})

    assert discount == 10 * 10**4  # ten whole points: ten cents
    assert dict(tx.events["PointsRedeemed"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "points": held,
        "discount": discount,
    }
    assert dict(tx.events["InvoicePaid"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "treasury": treasury.address,
        "amount": due,
        "at": tx.timestamp,
    }
    assert events_of(tx, "Transfer", program) == [{"from": customer.address, "to": ZERO_ADDRESS, "value": held}]
    assert events_of(tx, "Transfer", stablecoin) == [{"from": customer.address, "to": escrow.address, "value": due}]
    assert stablecoin.balanceOf(customer) == 0
    assert stablecoin.balanceOf(escrow) == due == escrow.tokenLiabilities(stablecoin)
    assert escrow.invoiceOf(invoice_id)["amount"] == due
    assert program.balanceOf(customer) == 0


def test_a_token_invoice_paid_with_points_refuses_ether(escrow, customer, stablecoin, program, earn, token_invoice):
    held = earn()
    invoice_id = token_invoice()

    with reverts_with("InvoiceCurrencyMismatch", invoice_id, stablecoin):
        escrow.payWithPoints(invoice_id, held, {"from": customer, "value": 1})
    assert program.balanceOf(customer) == held


def test_redeeming_more_points_than_held_is_refused(escrow, customer, program, earn, eth_invoice):
    held = earn()
    invoice_id = eth_invoice()

    with reverts_with("PointsInsufficient", customer, held, held + 1):
        escrow.payWithPoints(invoice_id, held + 1, {"from": customer, "value": INVOICE_WEI})
    assert program.balanceOf(customer) == held
    assert escrow.invoiceOf(invoice_id)["status"] == OPEN


def test_redeeming_points_without_any_is_refused(escrow, customer, program, eth_invoice):
    invoice_id = eth_invoice()

    with reverts_with("PointsInsufficient", customer, 0, 1):
        escrow.payWithPoints(invoice_id, 1, {"from": customer, "value": INVOICE_WEI})


@pytest.mark.parametrize("excess", [0, 1], ids=["equal", "above"])
def test_a_discount_not_below_the_amount_is_refused(escrow, customer, program, earn, eth_invoice, excess):
    held = earn()
    amount = discount_of(held) - excess  # the points buy the whole invoice, or more
    invoice_id = eth_invoice(amount)

    with reverts_with("PointsDiscountTooLarge", invoice_id, discount_of(held), amount):
        escrow.payWithPoints(invoice_id, held, {"from": customer, "value": 0})
    assert escrow.invoiceOf(invoice_id)["amount"] == amount
    assert program.balanceOf(customer) == held


def test_the_largest_discount_leaves_one_wei_to_pay(escrow, customer, program, earn, eth_invoice):
    held = earn()
    amount = discount_of(held) + 1
    invoice_id = eth_invoice(amount)

    tx = escrow.payWithPoints(invoice_id, held, {"from": customer, "value": 1})

    assert tx.events["InvoicePaid"]["amount"] == 1


def test_points_are_not_redeemable_in_a_currency_without_a_redeem_rate(
    escrow, admin, customer, program, earn, eth_invoice
):
    held = earn()
    escrow.setLoyaltyRates(ZERO_ADDRESS, EARN_WAD, 0, {"from": admin})
    invoice_id = eth_invoice()

    with reverts_with("PointsNotRedeemable", ZERO_ADDRESS):
        escrow.payWithPoints(invoice_id, held, {"from": customer, "value": INVOICE_WEI})


def test_points_are_not_redeemable_in_a_token_without_rates(
    escrow, admin, customer, stablecoin, points, earn, token_invoice
):
    escrow.setLoyaltyProgram(points, {"from": admin})
    escrow.setLoyaltyRates(ZERO_ADDRESS, EARN_WAD, REDEEM_WAD, {"from": admin})
    invoice_id = token_invoice()
    held = earn()

    with reverts_with("PointsNotRedeemable", stablecoin):
        escrow.payWithPoints(invoice_id, held, {"from": customer})


def test_redeeming_points_without_a_program_is_refused(escrow, customer, eth_invoice):
    invoice_id = eth_invoice()

    with reverts_with("LoyaltyNotSet"):
        escrow.payWithPoints(invoice_id, 1, {"from": customer, "value": INVOICE_WEI})


@pytest.mark.parametrize("sent", ["amount", "due_minus_one", "due_plus_one"])
def test_the_wrong_ether_after_the_discount_is_refused(escrow, customer, program, earn, eth_invoice, sent):
    held = earn()
    invoice_id = eth_invoice()
    due = INVOICE_WEI - discount_of(held)
    value = {"amount": INVOICE_WEI, "due_minus_one": due - 1, "due_plus_one": due + 1}[sent]

    with reverts_with("InvoiceAmountMismatch", invoice_id, due, value):
        escrow.payWithPoints(invoice_id, held, {"from": customer, "value": value})
    assert escrow.invoiceOf(invoice_id)["amount"] == INVOICE_WEI
    assert escrow.pointsRedeemedOn(invoice_id) == 0
    assert program.balanceOf(customer) == held


@pytest.mark.parametrize("caller", ["customer2", "manager", "stranger"])
def test_only_the_payer_pays_with_points(request, escrow, customer, program, earn, eth_invoice, caller):
    earn()
    invoice_id = eth_invoice()
    account = request.getfixturevalue(caller)

    with reverts_with("InvoicePayerMismatch", invoice_id, customer, account):
        escrow.payWithPoints(invoice_id, 1, {"from": account, "value": INVOICE_WEI})


def test_a_paid_invoice_is_not_paid_again_with_points(escrow, customer, program, earn, eth_invoice):
    held = earn()
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})

    with reverts_with("InvoiceAlreadyPaid", invoice_id):
        escrow.payWithPoints(invoice_id, held, {"from": customer, "value": 0})


# --- refunds restore redeemed points ------------------------------------------------------------


def test_a_refunded_invoice_restores_its_redeemed_points(escrow, manager, customer, program, earn, eth_invoice):
    held = earn()
    invoice_id = eth_invoice()
    due = INVOICE_WEI - discount_of(held)
    escrow.payWithPoints(invoice_id, held, {"from": customer, "value": due})

    tx = escrow.refund(invoice_id, {"from": manager})

    assert dict(tx.events["InvoiceRefunded"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "actor": manager.address,
        "amount": due,
    }
    assert dict(tx.events["PointsRestored"]) == {"invoiceId": invoice_id, "payer": customer.address, "points": held}
    assert events_of(tx, "Transfer", program) == [{"from": ZERO_ADDRESS, "to": customer.address, "value": held}]
    assert escrow.pointsRedeemedOn(invoice_id) == 0
    assert program.balanceOf(customer) == held
    assert escrow.refundOf(customer) == due


def test_a_reclaimed_invoice_restores_its_redeemed_points(escrow, customer, program, earn, eth_invoice):
    held = earn()
    invoice_id = eth_invoice()
    escrow.payWithPoints(invoice_id, held, {"from": customer, "value": INVOICE_WEI - discount_of(held)})
    escrow.dispute(invoice_id, {"from": customer})
    chain.sleep(DISPUTE_RESOLUTION_SECONDS)

    tx = escrow.reclaim(invoice_id, {"from": customer})

    assert tx.events["PointsRestored"]["points"] == held
    assert program.balanceOf(customer) == held


def test_a_refunded_token_invoice_restores_its_points_and_credits_the_tokens_paid(
    escrow, manager, customer, stablecoin, program, earn, token_invoice
):
    held = earn()
    invoice_id = token_invoice()
    due = TOKEN_INVOICE - discount_of(held, TOKEN_REDEEM_WAD)
    stablecoin.mint(customer, due, {"from": customer})
    stablecoin.approve(escrow, due, {"from": customer})
    escrow.payWithPoints(invoice_id, held, {"from": customer})

    tx = escrow.refund(invoice_id, {"from": manager})

    assert tx.events["PointsRestored"]["points"] == held
    assert program.balanceOf(customer) == held
    assert escrow.tokenRefundOf(stablecoin, customer) == due


def test_a_refund_without_redeemed_points_restores_none(escrow, manager, customer, program, earn, eth_invoice):
    held = earn()
    invoice_id = eth_invoice()
    escrow.pay(invoice_id, {"from": customer, "value": INVOICE_WEI})

    tx = escrow.refund(invoice_id, {"from": manager})

    assert "PointsRestored" not in tx.events
    assert program.balanceOf(customer) == held


def test_released_points_stay_redeemed(escrow, customer, program, earn, eth_invoice, release):
    held = earn()
    invoice_id = eth_invoice()
    due = INVOICE_WEI - discount_of(held)
    escrow.payWithPoints(invoice_id, held, {"from": customer, "value": due})

    tx = release(invoice_id)

    assert "PointsRestored" not in tx.events
    assert escrow.pointsRedeemedOn(invoice_id) == held
    assert program.balanceOf(customer) == points_of(due)


# --- payTokenWithPermit with points -------------------------------------------------------------


@pytest.fixture(scope="module")
def permit(escrow, customer, stablecoin):
    """The customer's permit for the escrow to pull `value` of the stablecoin: (deadline, v, r, s)."""

    def _permit(value: int) -> tuple[int, int, bytes, bytes]:
        deadline = chain[-1].timestamp + PERMIT_LIFETIME_SECONDS
        v, r, s = sign_permit(stablecoin, private_key_of(customer), customer, escrow, value, deadline)
        return deadline, v, r, s

    return _permit


def test_paying_a_token_invoice_with_a_permit_and_points(
    escrow, treasury, customer, stablecoin, program, earn, token_invoice, permit
):
    held = earn()
    invoice_id = token_invoice()
    discount = discount_of(held, TOKEN_REDEEM_WAD)
    due = TOKEN_INVOICE - discount
    stablecoin.mint(customer, due, {"from": customer})

    tx = escrow.payTokenWithPermit(invoice_id, held, *permit(due), {"from": customer})

    assert dict(tx.events["PointsRedeemed"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "points": held,
        "discount": discount,
    }
    assert dict(tx.events["InvoicePaid"]) == {
        "invoiceId": invoice_id,
        "payer": customer.address,
        "treasury": treasury.address,
        "amount": due,
        "at": tx.timestamp,
    }
    assert stablecoin.balanceOf(escrow) == due
    assert stablecoin.allowance(customer, escrow) == 0
    assert stablecoin.nonces(customer) == 1
    assert escrow.invoiceOf(invoice_id)["amount"] == due
    assert escrow.pointsRedeemedOn(invoice_id) == held
    assert program.balanceOf(customer) == 0


def test_a_permit_for_the_whole_amount_does_not_pay_a_discounted_invoice(
    escrow, customer, stablecoin, program, earn, token_invoice, permit
):
    held = earn()
    invoice_id = token_invoice()
    stablecoin.mint(customer, TOKEN_INVOICE, {"from": customer})

    with reverts_with("PermitInvalid", stablecoin):
        escrow.payTokenWithPermit(invoice_id, held, *permit(TOKEN_INVOICE), {"from": customer})
    assert program.balanceOf(customer) == held
    assert escrow.invoiceOf(invoice_id)["status"] == OPEN


def test_paying_with_a_permit_and_zero_points_pays_the_whole_amount(
    escrow, customer, stablecoin, program, token_invoice, permit
):
    invoice_id = token_invoice()
    stablecoin.mint(customer, TOKEN_INVOICE, {"from": customer})

    tx = escrow.payTokenWithPermit(invoice_id, 0, *permit(TOKEN_INVOICE), {"from": customer})

    assert "PointsRedeemed" not in tx.events
    assert tx.events["InvoicePaid"]["amount"] == TOKEN_INVOICE


def test_a_permit_with_more_points_than_held_is_refused(
    escrow, customer, stablecoin, program, earn, token_invoice, permit
):
    held = earn()
    invoice_id = token_invoice()

    with reverts_with("PointsInsufficient", customer, held, held + 1):
        escrow.payTokenWithPermit(invoice_id, held + 1, *permit(TOKEN_INVOICE), {"from": customer})


def test_a_permit_with_points_without_a_program_is_refused(escrow, customer, token_invoice, permit):
    invoice_id = token_invoice()

    with reverts_with("LoyaltyNotSet"):
        escrow.payTokenWithPermit(invoice_id, 1, *permit(TOKEN_INVOICE), {"from": customer})
