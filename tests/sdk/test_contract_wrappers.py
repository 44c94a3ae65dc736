"""The SDK's typed view of the contracts: models out, named errors, no raw tuples."""

from __future__ import annotations

import os

import pytest

from chaincrm.client import Crm
from chaincrm.models import (
    Customer,
    CustomerStatus,
    Deal,
    InteractionKind,
    Invoice,
    InvoiceStatus,
    Outcome,
    Purpose,
    Role,
    Stage,
)
from chaincrm.registry import InteractionEntry, pack_records, unpack_records
from chaincrm.reverts import revert_type
from tests.sdk.conftest import Staff

ONE_ETH = 10**18
PATH_TO_WON = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)


def _customer(crm: Crm, staff: Staff, wallet: str | None = None) -> int:
    return crm.registry.register_customer(os.urandom(32), os.urandom(32), wallet, Purpose.SALES, staff.agent)


def _won(crm: Crm, staff: Staff, customer_id: int, value: int = ONE_ETH) -> tuple[int, int]:
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, value, staff.agent)
    for stage in PATH_TO_WON:
        crm.pipeline.move(deal_id, stage, staff.agent)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    return deal_id, invoice_id


def test_a_registered_customer_comes_back_as_a_model(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff, staff.customer.address)

    customer = crm.registry.customer(customer_id)

    assert isinstance(customer, Customer)
    assert customer.wallet == staff.customer.address
    assert customer.status is CustomerStatus.ACTIVE
    assert customer.profile_version == 1


def test_a_customer_without_wallet_has_none(crm: Crm, staff: Staff, snapshot: None) -> None:
    assert crm.registry.customer(_customer(crm, staff)).wallet is None


def test_roles_are_read_by_name(crm: Crm, staff: Staff) -> None:
    assert crm.registry.roles_of(staff.manager.address) == [Role.MANAGER]
    assert crm.registry.roles_of(staff.stranger.address) == []


def test_packed_records_round_trip() -> None:
    entries = [InteractionEntry(i + 1, InteractionKind.EMAIL, Outcome.FOLLOW_UP, os.urandom(32)) for i in range(5)]

    assert unpack_records(pack_records(entries)) == entries
    assert len(pack_records(entries)) == 5 * 42


def test_single_and_batched_interactions_read_back_in_chain_order(crm: Crm, staff: Staff, snapshot: None) -> None:
    first, second = _customer(crm, staff), _customer(crm, staff)
    single = InteractionEntry(first, InteractionKind.CALL, Outcome.POSITIVE, os.urandom(32))
    batch = [
        InteractionEntry(c, InteractionKind.MEETING, Outcome.NEUTRAL, os.urandom(32)) for c in (first, second, first)
    ]

    crm.registry.log_interaction(single, staff.agent)
    crm.registry.log_interactions(batch, staff.agent2)

    mine = crm.registry.interactions(first)
    assert [i.content_hash for i in mine] == [single.content_hash, batch[0].content_hash, batch[2].content_hash]
    assert [i.author for i in mine] == [staff.agent.address, staff.agent2.address, staff.agent2.address]
    assert [i.position for i in mine] == [0, 0, 2]


def test_a_batch_with_an_erased_customer_is_refused_whole(crm: Crm, staff: Staff, snapshot: None) -> None:
    kept, erased = _customer(crm, staff), _customer(crm, staff)
    crm.registry.erase_customer(erased, os.urandom(32), staff.manager)
    batch = [InteractionEntry(c, InteractionKind.CALL, Outcome.NONE, os.urandom(32)) for c in (kept, erased)]

    with pytest.raises(revert_type("CustomerIsErased")):
        crm.registry.log_interactions(batch, staff.agent)

    assert crm.registry.interactions(kept) == []


def test_winning_a_deal_issues_its_invoice(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff, staff.customer.address)

    deal_id, invoice_id = _won(crm, staff, customer_id, 2 * ONE_ETH)

    deal, invoice = crm.pipeline.deal(deal_id), crm.escrow.invoice(invoice_id)
    assert isinstance(deal, Deal) and deal.stage is Stage.WON
    assert isinstance(invoice, Invoice)
    assert (invoice.deal_id, invoice.customer_id, invoice.payer, invoice.amount_wei) == (
        deal_id, customer_id, staff.customer.address, 2 * ONE_ETH
    )  # fmt: skip
    assert invoice.status is InvoiceStatus.OPEN


def test_every_stage_change_is_read_back_with_actor(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff, staff.customer.address)

    deal_id, _ = _won(crm, staff, customer_id)

    changes = crm.pipeline.stage_changes(deal_id)
    assert [(c.from_stage, c.to_stage) for c in changes] == [
        (Stage.NONE, Stage.LEAD), *zip((Stage.LEAD, *PATH_TO_WON[:-1]), PATH_TO_WON, strict=False)
    ]  # fmt: skip
    assert {c.actor for c in changes} == {staff.agent.address}


def test_paying_the_wrong_amount_changes_nothing(crm: Crm, staff: Staff, snapshot: None) -> None:
    _, invoice_id = _won(crm, staff, _customer(crm, staff, staff.customer.address))
    balance = crm.chain.w3.eth.get_balance(staff.customer.address)

    with pytest.raises(revert_type("InvoiceAmountMismatch")) as raised:
        crm.escrow.pay(invoice_id, staff.customer, amount_wei=ONE_ETH - 1)

    assert raised.value.args_by_name == {"invoiceId": invoice_id, "expected": ONE_ETH, "sent": ONE_ETH - 1}
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.OPEN
    assert crm.chain.w3.eth.get_balance(staff.customer.address) == balance


def test_paying_then_confirming_moves_the_money_to_the_treasury(crm: Crm, staff: Staff, snapshot: None) -> None:
    _, invoice_id = _won(crm, staff, _customer(crm, staff, staff.customer.address))
    treasury_before = crm.chain.w3.eth.get_balance(staff.treasury.address)

    crm.escrow.pay(invoice_id, staff.customer)
    held = crm.escrow.escrowed_wei()
    crm.escrow.confirm_delivery(invoice_id, staff.customer)

    assert held == ONE_ETH
    assert crm.escrow.escrowed_wei() == 0
    assert crm.chain.w3.eth.get_balance(staff.treasury.address) == treasury_before + ONE_ETH
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.RELEASED
