"""InvoiceEscrow.recordOffChainPayment: a manager records an open invoice as paid by bank transfer,
card or otherwise; the invoice is then settled and no on-chain payment, cancel or re-issue applies."""

from __future__ import annotations

import pytest
from brownie import chain

from tests.contracts.helpers import (
    CANCELLED,
    CONTRACTING,
    NEGOTIATION,
    ONE_ETH,
    PAID,
    PAYMENT_TERM_SECONDS,
    PROPOSAL,
    QUALIFIED,
    WON,
    ZERO_HASH,
    random_hash,
    reverts_with,
)

PAID_OFF_CHAIN = 7
METHOD_BANK_TRANSFER, METHOD_CARD, METHOD_OTHER = 1, 2, 3
TOKEN_AMOUNT = 500 * 10**6
UNKNOWN_INVOICE_ID = 999
AMOUNT, DUE_AT, PAID_AT, STATUS = range(4)
RECEIPT_HASH = bytes.fromhex("11" * 32)
CID_DIGEST = bytes.fromhex("22" * 32)


@pytest.fixture
def won(won_invoice, customer_id) -> tuple[int, int]:
    """A deal won in ETH: (deal_id, invoice_id), the invoice open."""
    return won_invoice(customer_id)


@pytest.fixture
def invoice_id(won) -> int:
    return won[1]


@pytest.fixture
def recorded(escrow, manager, invoice_id):
    """The invoice recorded as paid by bank transfer; returns the transaction."""
    return escrow.recordOffChainPayment(invoice_id, METHOD_BANK_TRANSFER, RECEIPT_HASH, CID_DIGEST, {"from": manager})


@pytest.fixture(scope="module")
def stablecoin(TestStablecoin, escrow, admin, customer):
    token = TestStablecoin.deploy("Test Dollar", "TUSD", {"from": admin})
    escrow.allowToken(token, True, {"from": admin})
    token.mint(customer, 10 * TOKEN_AMOUNT, {"from": admin})
    return token


@pytest.fixture
def token_invoice_id(pipeline, escrow, agent, manager, customer, customer_id, stablecoin) -> int:
    """An open invoice in the stablecoin, approved by its payer but not paid."""
    deal_id = pipeline.openDealIn(customer_id, agent, TOKEN_AMOUNT, stablecoin, {"from": agent}).return_value
    for stage in (QUALIFIED, PROPOSAL, NEGOTIATION, CONTRACTING):
        pipeline.moveStage(deal_id, stage, {"from": agent})
    pipeline.moveStage(deal_id, WON, {"from": manager})
    stablecoin.approve(escrow, TOKEN_AMOUNT, {"from": customer})
    return escrow.invoiceCount()


# --- the record --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [METHOD_BANK_TRANSFER, METHOD_CARD, METHOD_OTHER], ids=["bank", "card", "other"])
def test_a_manager_records_an_open_invoice_as_paid_off_chain(escrow, manager, invoice_id, method):
    tx = escrow.recordOffChainPayment(invoice_id, method, RECEIPT_HASH, CID_DIGEST, {"from": manager})

    invoice = escrow.invoiceOf(invoice_id)
    assert (invoice[STATUS], invoice[PAID_AT], invoice[AMOUNT]) == (PAID_OFF_CHAIN, tx.timestamp, ONE_ETH)
    assert dict(tx.events["InvoicePaidOffChain"]) == {
        "invoiceId": invoice_id,
        "actor": manager.address,
        "method": method,
        "receiptHash": "0x" + RECEIPT_HASH.hex(),
        "cidDigest": "0x" + CID_DIGEST.hex(),
        "at": tx.timestamp,
    }


def test_recording_an_off_chain_payment_moves_no_money(escrow, manager, treasury, invoice_id):
    treasury_before = treasury.balance()

    escrow.recordOffChainPayment(invoice_id, METHOD_CARD, random_hash(), random_hash(), {"from": manager})

    assert (escrow.balance(), escrow.liabilitiesWei(), treasury.balance()) == (0, 0, treasury_before)


def test_a_token_invoice_is_recorded_as_paid_off_chain_and_holds_nothing(
    escrow, stablecoin, manager, customer, token_invoice_id
):
    escrow.recordOffChainPayment(token_invoice_id, METHOD_BANK_TRANSFER, RECEIPT_HASH, CID_DIGEST, {"from": manager})

    assert escrow.invoiceOf(token_invoice_id)[STATUS] == PAID_OFF_CHAIN
    assert (stablecoin.balanceOf(escrow), escrow.tokenLiabilities(stablecoin)) == (0, 0)
    assert stablecoin.balanceOf(customer) == 10 * TOKEN_AMOUNT


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["agent", "auditor", "customer", "stranger", "admin", "treasury"])
def test_recording_an_off_chain_payment_is_refused_to_anyone_but_a_manager(
    request, escrow, registry, invoice_id, caller
):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.MANAGER_ROLE()):
        escrow.recordOffChainPayment(invoice_id, METHOD_BANK_TRANSFER, RECEIPT_HASH, CID_DIGEST, {"from": account})


@pytest.mark.parametrize("method", [0, 4, 255])
def test_an_unknown_payment_method_reverts(escrow, manager, invoice_id, method):
    with reverts_with("PaymentMethodInvalid", method):
        escrow.recordOffChainPayment(invoice_id, method, RECEIPT_HASH, CID_DIGEST, {"from": manager})


@pytest.mark.parametrize(
    ("receipt_hash", "cid_digest"),
    [(ZERO_HASH, CID_DIGEST), (RECEIPT_HASH, ZERO_HASH), (ZERO_HASH, ZERO_HASH)],
    ids=["no-receipt-hash", "no-cid-digest", "neither"],
)
def test_a_record_without_its_receipt_hashes_reverts(escrow, manager, invoice_id, receipt_hash, cid_digest):
    with reverts_with("ReceiptHashMissing"):
        escrow.recordOffChainPayment(invoice_id, METHOD_BANK_TRANSFER, receipt_hash, cid_digest, {"from": manager})


def test_recording_an_unknown_invoice_reverts(escrow, manager):
    with reverts_with("InvoiceUnknown", UNKNOWN_INVOICE_ID):
        escrow.recordOffChainPayment(UNKNOWN_INVOICE_ID, METHOD_CARD, RECEIPT_HASH, CID_DIGEST, {"from": manager})


def test_recording_the_same_invoice_twice_reverts(escrow, manager, invoice_id, recorded):
    with reverts_with("InvoiceNotOpen", invoice_id, PAID_OFF_CHAIN):
        escrow.recordOffChainPayment(invoice_id, METHOD_CARD, random_hash(), random_hash(), {"from": manager})


def test_recording_an_invoice_paid_on_chain_reverts(escrow, manager, customer, invoice_id):
    escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})

    with reverts_with("InvoiceNotOpen", invoice_id, PAID):
        escrow.recordOffChainPayment(invoice_id, METHOD_BANK_TRANSFER, RECEIPT_HASH, CID_DIGEST, {"from": manager})


def test_recording_a_cancelled_invoice_reverts(escrow, manager, invoice_id):
    escrow.cancel(invoice_id, {"from": manager})

    with reverts_with("InvoiceNotOpen", invoice_id, CANCELLED):
        escrow.recordOffChainPayment(invoice_id, METHOD_BANK_TRANSFER, RECEIPT_HASH, CID_DIGEST, {"from": manager})


# --- after the record --------------------------------------------------------------------------


def test_paying_an_invoice_settled_off_chain_reverts(escrow, customer, invoice_id, recorded):
    with reverts_with("InvoiceSettledOffChain", invoice_id):
        escrow.pay(invoice_id, {"from": customer, "value": ONE_ETH})
    assert escrow.balance() == 0


def test_paying_an_invoice_settled_off_chain_with_points_reverts(escrow, customer, invoice_id, recorded):
    with reverts_with("InvoiceSettledOffChain", invoice_id):
        escrow.payWithPoints(invoice_id, 0, {"from": customer, "value": ONE_ETH})


def test_paying_a_token_invoice_settled_off_chain_reverts(escrow, manager, customer, stablecoin, token_invoice_id):
    escrow.recordOffChainPayment(token_invoice_id, METHOD_CARD, RECEIPT_HASH, CID_DIGEST, {"from": manager})

    with reverts_with("InvoiceSettledOffChain", token_invoice_id):
        escrow.payToken(token_invoice_id, {"from": customer})
    with reverts_with("InvoiceSettledOffChain", token_invoice_id):
        escrow.payWithPoints(token_invoice_id, 0, {"from": customer})
    with reverts_with("InvoiceSettledOffChain", token_invoice_id):
        escrow.payTokenWithPermit(token_invoice_id, 0, 0, 27, RECEIPT_HASH, CID_DIGEST, {"from": customer})
    assert stablecoin.balanceOf(escrow) == 0


def test_cancelling_an_invoice_settled_off_chain_reverts(escrow, manager, invoice_id, recorded):
    with reverts_with("InvoiceNotOpen", invoice_id, PAID_OFF_CHAIN):
        escrow.cancel(invoice_id, {"from": manager})


@pytest.mark.parametrize("action", ["confirmDelivery", "dispute", "release"])
def test_an_invoice_settled_off_chain_holds_nothing_to_release_or_dispute(
    escrow, customer, invoice_id, recorded, action
):
    with reverts_with("InvoiceNotInEscrow", invoice_id, PAID_OFF_CHAIN):
        getattr(escrow, action)(invoice_id, {"from": customer})


def test_an_invoice_settled_off_chain_cannot_be_refunded(escrow, manager, invoice_id, recorded):
    with reverts_with("InvoiceNotInEscrow", invoice_id, PAID_OFF_CHAIN):
        escrow.refund(invoice_id, {"from": manager})


def test_an_invoice_settled_off_chain_is_never_overdue(escrow, invoice_id, recorded):
    chain.sleep(PAYMENT_TERM_SECONDS + 24 * 3600)
    chain.mine()

    assert escrow.isOverdue(invoice_id) is False


def test_reissuing_the_invoice_of_a_deal_settled_off_chain_reverts(pipeline, manager, won, recorded):
    deal_id, invoice_id = won

    with reverts_with("DealInvoiceSettled", deal_id, invoice_id):
        pipeline.reissueInvoice(deal_id, {"from": manager})
