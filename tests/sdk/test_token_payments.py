"""ERC-20 invoices through the SDK against hostile tokens: every revert comes back named."""

from __future__ import annotations

import os

import pytest
from eth_utils import to_checksum_address

from chaincrm.chain.artifacts import load_artifact
from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm
from chaincrm.contracts.tokens import Tokens
from chaincrm.models import InvoiceStatus, Purpose, Stage
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from tests.sdk.conftest import Staff

pytestmark = pytest.mark.usefixtures("snapshot")

PATH_TO_WON = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)
AMOUNT = 50 * 10**18


def _token(crm: Crm, staff: Staff, name: str, *args: object) -> str:
    artifact = load_artifact(name)
    factory = crm.chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    address = to_checksum_address(crm.chain.transact(factory.constructor(*args), staff.admin)["contractAddress"])
    crm.escrow.allow_token(address, staff.admin)
    minted = crm.chain.w3.eth.contract(address=address, abi=artifact.abi).functions.mint(staff.customer.address, AMOUNT)
    crm.chain.transact(minted, staff.admin)
    return address


def _invoice_in(crm: Crm, staff: Staff, token: str, value: int = AMOUNT) -> int:
    registry = crm.registry
    readers = {staff.agent.address, *(m for m in registry.managers() if registry.encryption_key_of(m))}
    customer_id = registry.register_customer(
        os.urandom(32), os.urandom(32), readers_hash(readers), staff.customer.address, Purpose.BILLING, staff.agent
    )
    registry.approve_wallet(customer_id, staff.customer.address, staff.manager)
    registry.accept_wallet(customer_id, public_key64(staff.customer), staff.customer)
    deal_id = crm.pipeline.open_deal_in(customer_id, staff.agent.address, value, token, staff.agent)
    for stage in PATH_TO_WON:
        crm.pipeline.move(deal_id, stage, staff.manager)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    return invoice_id


def test_a_token_invoice_carries_its_currency_from_the_deal(crm: Crm, staff: Staff) -> None:
    token = _token(crm, staff, "TestStablecoin", "Test USD", "TUSD")

    invoice = crm.escrow.invoice(_invoice_in(crm, staff, token, 10**6))

    assert invoice.currency == token and invoice.amount_wei == 10**6
    assert crm.pipeline.deal(invoice.deal_id).currency == token
    assert Tokens(crm.chain).info(token).symbol == "TUSD"


def test_a_token_that_returns_false_is_refused_as_safe_erc20_failed_operation(crm: Crm, staff: Staff) -> None:
    token = _token(crm, staff, "FalseReturningToken")
    invoice_id = _invoice_in(crm, staff, token)
    crm.chain.transact(
        crm.chain.w3.eth.contract(address=token, abi=load_artifact("FalseReturningToken").abi).functions.setRefuseAll(
            True
        ),
        staff.admin,
    )

    with pytest.raises(revert_type("SafeERC20FailedOperation")) as raised:
        crm.escrow.pay_token(invoice_id, staff.customer)

    assert raised.value.args_by_name == {"token": token}
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.OPEN


def test_a_fee_on_transfer_token_is_refused_as_a_short_transfer(crm: Crm, staff: Staff) -> None:
    token = _token(crm, staff, "FeeOnTransferToken")
    invoice_id = _invoice_in(crm, staff, token)

    with pytest.raises(revert_type("TokenTransferShort")):
        crm.escrow.pay_token(invoice_id, staff.customer)

    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.OPEN


def test_paying_an_eth_invoice_as_a_token_one_is_refused_locally(crm: Crm, staff: Staff) -> None:
    token = _token(crm, staff, "TestStablecoin", "Test USD", "TUSD")
    invoice_id = _invoice_in(crm, staff, token, 10**6)

    with pytest.raises(revert_type("InvoiceCurrencyMismatch")):
        crm.escrow.pay(invoice_id, staff.customer)


def test_a_permit_payment_moves_the_tokens_in_one_transaction(crm: Crm, staff: Staff) -> None:
    token = _token(crm, staff, "TestStablecoin", "Test USD", "TUSD")
    invoice_id = _invoice_in(crm, staff, token, 10**6)

    crm.escrow.pay_token_with_permit(invoice_id, staff.customer)

    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.PAID
    assert Tokens(crm.chain).balance_of(token, crm.escrow.address) == 10**6
    assert Tokens(crm.chain).allowance(token, staff.customer.address, crm.escrow.address) == 0
