"""The SDK's typed view of the contracts: models out, named errors, no raw tuples."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.chain.artifacts import load_artifact
from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import InteractionEntry, SealedVersion, pack_records, unpack_records
from chaincrm.contracts.signatures import sign_wallet_acceptance
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
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from tests.sdk.conftest import Staff

ONE_ETH = 10**18
PATH_TO_CONTRACTING = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING)
PATH_TO_WON = (*PATH_TO_CONTRACTING, Stage.WON)
SIGNATURE_LIFETIME_SECONDS = 3600


def _sealed_for(readers: list[str]) -> SealedVersion:
    """A version's hashes for `readers` (random document hashes: the contract never reads them)."""
    return SealedVersion(os.urandom(32), os.urandom(32), readers_hash(sorted(set(readers))))


def _first_readers(crm: Crm, registrar: LocalAccount) -> list[str]:
    registry = crm.registry
    return [registrar.address, *(m for m in registry.managers() if registry.encryption_key_of(m))]


def _customer(crm: Crm, staff: Staff, wallet: str | None = None, registrar: LocalAccount | None = None) -> int:
    registrar = registrar or staff.agent
    version = _sealed_for(_first_readers(crm, registrar))
    return crm.registry.register_customer(*version.hashes, wallet, Purpose.SALES, registrar)


def _with_wallet(crm: Crm, staff: Staff, wallet: LocalAccount | None = None) -> int:
    """A customer whose wallet (the customer's dev account by default) accepted by its own transaction."""
    wallet = wallet or staff.customer
    customer_id = _customer(crm, staff, wallet.address)
    crm.registry.approve_wallet(customer_id, wallet.address, staff.manager)
    crm.registry.accept_wallet(customer_id, public_key64(wallet), wallet)
    return customer_id


def _grant(crm: Crm, staff: Staff, customer_id: int, grantee: str, purpose: Purpose = Purpose.SUPPORT) -> None:
    version = _sealed_for([*crm.registry.readers_of(customer_id), grantee])
    crm.registry.grant_access(customer_id, grantee, purpose, version, staff.manager)


def _won(crm: Crm, staff: Staff, customer_id: int, value: int = ONE_ETH) -> tuple[int, int]:
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, value, staff.agent)
    for stage in PATH_TO_WON:
        crm.pipeline.move(deal_id, stage, staff.agent)
    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    return deal_id, invoice_id


def _paid(crm: Crm, staff: Staff) -> int:
    _, invoice_id = _won(crm, staff, _with_wallet(crm, staff))
    crm.escrow.pay(invoice_id, staff.customer)
    return invoice_id


def _advance(crm: Crm, seconds: int) -> None:
    provider = crm.chain.w3.provider
    provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _balance(crm: Crm, address: str) -> int:
    return int(crm.chain.w3.eth.get_balance(address))  # type: ignore[arg-type]


def _fee(receipt: object) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])  # type: ignore[index]


# ------------------------------------------------------------------ customers and wallets


def test_a_registered_customer_comes_back_as_a_model_with_its_wallet_only_proposed(
    crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = _customer(crm, staff, staff.customer.address)

    customer = crm.registry.customer(customer_id)

    assert isinstance(customer, Customer)
    assert (customer.wallet, customer.pending_wallet) == (None, staff.customer.address)
    assert customer.status is CustomerStatus.ACTIVE
    assert customer.profile_version == 1
    assert crm.registry.profile(customer_id, 1).readers_hash == readers_hash(_first_readers(crm, staff.agent))


def test_a_customer_without_wallet_has_none(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer = crm.registry.customer(_customer(crm, staff))

    assert (customer.wallet, customer.pending_wallet) == (None, None)


def test_an_accepted_wallet_is_the_customers_and_a_reader(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff, staff.customer.address)
    crm.registry.approve_wallet(customer_id, staff.customer.address, staff.manager)

    crm.registry.accept_wallet(customer_id, public_key64(staff.customer), staff.customer)

    customer = crm.registry.customer(customer_id)
    assert (customer.wallet, customer.pending_wallet) == (staff.customer.address, None)
    assert staff.customer.address in crm.registry.readers_of(customer_id)
    assert crm.registry.wallet_public_key(customer_id, staff.customer.address) == public_key64(staff.customer)
    assert crm.registry.readers_hash_of(customer_id) != crm.registry.profile(customer_id, 1).readers_hash


def test_an_agents_proposal_cannot_be_accepted_until_a_manager_approves_it(
    crm: Crm, staff: Staff, snapshot: None
) -> None:
    customer_id = _customer(crm, staff, staff.customer.address)

    with pytest.raises(revert_type("WalletNotApproved")):
        crm.registry.accept_wallet(customer_id, public_key64(staff.customer), staff.customer)

    assert crm.registry.wallet_proposal(customer_id)[:2] == (staff.customer.address, False)


def test_a_wallet_that_was_not_proposed_cannot_accept(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff, staff.customer.address)

    with pytest.raises(revert_type("WalletNotProposed")) as raised:
        crm.registry.accept_wallet(customer_id, public_key64(staff.stranger), staff.stranger)

    assert raised.value.args_by_name == {"customerId": customer_id, "wallet": staff.stranger.address}
    assert crm.registry.customer(customer_id).wallet is None


def test_a_relayed_signature_binds_a_wallet_that_holds_no_ether(crm: Crm, staff: Staff, snapshot: None) -> None:
    wallet = Account.create()
    customer_id = _customer(crm, staff, wallet.address)
    crm.registry.approve_wallet(customer_id, wallet.address, staff.manager)
    now = int(crm.chain.w3.eth.get_block("latest")["timestamp"])
    acceptance = sign_wallet_acceptance(
        wallet,
        chain_id=crm.chain.chain_id,
        registry=crm.registry.address,
        customer_id=customer_id,
        public_key=public_key64(wallet),
        nonce=crm.registry.nonce_of(customer_id),
        deadline=now + SIGNATURE_LIFETIME_SECONDS,
    )

    crm.registry.accept_wallet_by_sig(acceptance, staff.agent)

    assert crm.registry.customer(customer_id).wallet == wallet.address
    assert crm.registry.nonce_of(customer_id) == 1
    assert _balance(crm, wallet.address) == 0


def test_a_grant_records_the_version_sealed_for_the_new_reader(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff)

    _grant(crm, staff, customer_id, staff.agent2.address)

    grant = crm.registry.access_of(customer_id, staff.agent2.address)
    assert (grant.purpose, grant.active) == (Purpose.SUPPORT, True)
    assert crm.registry.customer(customer_id).profile_version == 2
    assert crm.registry.profile(customer_id, 2).readers_hash == crm.registry.readers_hash_of(customer_id)
    assert staff.agent2.address in crm.registry.readers_of(customer_id)


def test_a_version_sealed_for_other_readers_is_refused(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff)
    wrong = _sealed_for([staff.agent.address])  # leaves out the manager, a standing reader

    with pytest.raises(revert_type("ProfileReadersMismatch")):
        crm.registry.update_profile(customer_id, *wrong.hashes, staff.agent)

    assert crm.registry.customer(customer_id).profile_version == 1


def test_roles_are_read_by_name(crm: Crm, staff: Staff) -> None:
    assert crm.registry.roles_of(staff.manager.address) == [Role.MANAGER]
    assert crm.registry.roles_of(staff.stranger.address) == []


# ------------------------------------------------------------------ interactions


def test_packed_records_round_trip() -> None:
    entries = [InteractionEntry(i + 1, InteractionKind.REMINDER, Outcome.FOLLOW_UP, os.urandom(32)) for i in range(5)]

    assert unpack_records(pack_records(entries)) == entries
    assert len(pack_records(entries)) == 5 * 42


def test_single_and_batched_interactions_read_back_in_chain_order(crm: Crm, staff: Staff, snapshot: None) -> None:
    first, second = _customer(crm, staff), _customer(crm, staff, registrar=staff.agent2)
    _grant(crm, staff, first, staff.agent2.address)
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


def test_an_agent_without_a_grant_cannot_log(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff)

    with pytest.raises(revert_type("CallerWithoutAccess")) as raised:
        crm.registry.log_interaction(
            InteractionEntry(customer_id, InteractionKind.CALL, Outcome.NONE, os.urandom(32)), staff.agent2
        )

    assert raised.value.args_by_name == {"customerId": customer_id, "caller": staff.agent2.address}


def test_a_batch_with_an_erased_customer_is_refused_whole(crm: Crm, staff: Staff, snapshot: None) -> None:
    kept, erased = _customer(crm, staff), _customer(crm, staff)
    crm.registry.erase_customer(erased, os.urandom(32), staff.manager)
    batch = [InteractionEntry(c, InteractionKind.CALL, Outcome.NONE, os.urandom(32)) for c in (kept, erased)]

    with pytest.raises(revert_type("CustomerIsErased")):
        crm.registry.log_interactions(batch, staff.agent)

    assert crm.registry.interactions(kept) == []


# ------------------------------------------------------------------ deals


def test_winning_a_deal_issues_its_invoice_to_the_accepted_wallet(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _with_wallet(crm, staff)

    deal_id, invoice_id = _won(crm, staff, customer_id, 2 * ONE_ETH)

    deal, invoice = crm.pipeline.deal(deal_id), crm.escrow.invoice(invoice_id)
    assert isinstance(deal, Deal) and deal.stage is Stage.WON
    assert isinstance(invoice, Invoice)
    assert (invoice.deal_id, invoice.customer_id, invoice.payer, invoice.amount_wei) == (
        deal_id, customer_id, staff.customer.address, 2 * ONE_ETH
    )  # fmt: skip
    assert invoice.status is InvoiceStatus.OPEN
    assert crm.pipeline.invoices_of(deal_id) == [invoice_id]


def test_a_merely_proposed_wallet_cannot_be_invoiced(crm: Crm, staff: Staff, snapshot: None) -> None:
    customer_id = _customer(crm, staff, staff.customer.address)
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, ONE_ETH, staff.agent)
    for stage in PATH_TO_CONTRACTING:
        crm.pipeline.move(deal_id, stage, staff.agent)

    with pytest.raises(revert_type("CustomerWalletMissing")):
        crm.pipeline.move(deal_id, Stage.WON, staff.agent)

    assert crm.pipeline.deal(deal_id).stage is Stage.CONTRACTING


def test_a_deal_above_the_threshold_is_won_only_by_a_manager(crm: Crm, staff: Staff, snapshot: None) -> None:
    threshold = crm.pipeline.approval_threshold_wei()
    deal_id = crm.pipeline.open_deal(_with_wallet(crm, staff), staff.agent.address, threshold + 1, staff.agent)
    for stage in PATH_TO_CONTRACTING:
        crm.pipeline.move(deal_id, stage, staff.agent)

    with pytest.raises(revert_type("DealNeedsApproval")) as raised:
        crm.pipeline.move(deal_id, Stage.WON, staff.agent)
    crm.pipeline.move(deal_id, Stage.WON, staff.manager)

    assert raised.value.args_by_name == {"dealId": deal_id, "valueWei": threshold + 1, "thresholdWei": threshold}
    assert threshold == crm.deployment.approval_threshold_wei == 10 * ONE_ETH
    assert crm.pipeline.deal(deal_id).stage is Stage.WON


def test_reissuing_cancels_the_open_invoice_and_issues_a_new_one(crm: Crm, staff: Staff, snapshot: None) -> None:
    deal_id, first = _won(crm, staff, _with_wallet(crm, staff))

    second = crm.pipeline.reissue_invoice(deal_id, staff.manager)

    assert crm.pipeline.invoices_of(deal_id) == [first, second]
    assert crm.pipeline.deal(deal_id).invoice_id == second
    assert crm.escrow.invoice(first).status is InvoiceStatus.CANCELLED
    assert crm.escrow.invoice(second).status is InvoiceStatus.OPEN


def test_every_stage_change_is_read_back_with_actor(crm: Crm, staff: Staff, snapshot: None) -> None:
    deal_id, _ = _won(crm, staff, _with_wallet(crm, staff))

    changes = crm.pipeline.stage_changes(deal_id)

    assert [(c.from_stage, c.to_stage) for c in changes] == [
        (Stage.NONE, Stage.LEAD), *zip((Stage.LEAD, *PATH_TO_WON[:-1]), PATH_TO_WON, strict=False)
    ]  # fmt: skip
    assert {c.actor for c in changes} == {staff.agent.address}


# ------------------------------------------------------------------ escrow


def test_paying_the_wrong_amount_changes_nothing(crm: Crm, staff: Staff, snapshot: None) -> None:
    _, invoice_id = _won(crm, staff, _with_wallet(crm, staff))
    balance = _balance(crm, staff.customer.address)

    with pytest.raises(revert_type("InvoiceAmountMismatch")) as raised:
        crm.escrow.pay(invoice_id, staff.customer, amount_wei=ONE_ETH - 1)

    assert raised.value.args_by_name == {"invoiceId": invoice_id, "expected": ONE_ETH, "sent": ONE_ETH - 1}
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.OPEN
    assert _balance(crm, staff.customer.address) == balance


def test_paying_then_confirming_moves_the_money_to_the_treasury(crm: Crm, staff: Staff, snapshot: None) -> None:
    invoice_id = _paid(crm, staff)
    held = crm.escrow.escrowed_wei()
    treasury_before = _balance(crm, staff.treasury.address)

    crm.escrow.confirm_delivery(invoice_id, staff.customer)

    assert held == crm.escrow.liabilities_wei() + ONE_ETH == ONE_ETH
    assert crm.escrow.escrowed_wei() == 0
    assert _balance(crm, staff.treasury.address) == treasury_before + ONE_ETH
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.RELEASED
    assert crm.escrow.treasury_of(crm.escrow.invoice(invoice_id)) == staff.treasury.address


def test_the_treasury_releases_after_the_window_and_a_stranger_cannot(crm: Crm, staff: Staff, snapshot: None) -> None:
    invoice_id = _paid(crm, staff)
    _advance(crm, crm.deployment.dispute_window_seconds + 1)
    treasury_before = _balance(crm, staff.treasury.address)

    with pytest.raises(revert_type("CallerCannotRelease")):
        crm.escrow.release(invoice_id, staff.stranger)
    receipt = crm.escrow.release(invoice_id, staff.treasury)

    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.RELEASED
    assert _balance(crm, staff.treasury.address) == treasury_before + ONE_ETH - _fee(receipt)


def test_a_refund_is_credited_and_the_payer_withdraws_it(crm: Crm, staff: Staff, snapshot: None) -> None:
    invoice_id = _paid(crm, staff)

    crm.escrow.refund(invoice_id, staff.manager)
    credited = crm.escrow.refund_of(staff.customer.address)
    owed = crm.escrow.liabilities_wei()
    before = _balance(crm, staff.customer.address)
    receipt = crm.escrow.withdraw_refund(staff.customer)

    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.REFUNDED
    assert credited == owed == ONE_ETH
    assert _balance(crm, staff.customer.address) == before + ONE_ETH - _fee(receipt)
    assert crm.escrow.refund_of(staff.customer.address) == 0
    assert crm.escrow.liabilities_wei() == crm.escrow.escrowed_wei() == 0


def test_withdrawing_without_a_credit_reverts(crm: Crm, staff: Staff, snapshot: None) -> None:
    with pytest.raises(revert_type("NothingToWithdraw")) as raised:
        crm.escrow.withdraw_refund(staff.stranger)

    assert raised.value.args_by_name == {"account": staff.stranger.address}


def test_the_payer_reclaims_a_dispute_nobody_resolved_in_time(crm: Crm, staff: Staff, snapshot: None) -> None:
    invoice_id = _paid(crm, staff)
    crm.escrow.dispute(invoice_id, staff.customer)
    deadline = crm.escrow.dispute_deadline(invoice_id)
    assert deadline is not None

    with pytest.raises(revert_type("DisputeResolutionOpen")):
        crm.escrow.reclaim(invoice_id, staff.customer)
    _advance(crm, crm.deployment.dispute_resolution_seconds + 1)
    crm.escrow.reclaim(invoice_id, staff.customer)

    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.REFUNDED
    assert crm.escrow.refund_of(staff.customer.address) == ONE_ETH


def test_a_new_treasury_accepts_after_the_delay_and_paid_invoices_keep_theirs(
    crm: Crm, staff: Staff, snapshot: None
) -> None:
    paid_before = _paid(crm, staff)
    crm.escrow.propose_treasury(staff.stranger.address, staff.admin)
    proposed, effective_at = crm.escrow.pending_treasury()

    with pytest.raises(revert_type("TreasuryChangeNotReady")):
        crm.escrow.accept_treasury(staff.stranger)
    _advance(crm, crm.deployment.treasury_delay_seconds + 1)
    crm.escrow.accept_treasury(staff.stranger)

    assert proposed == staff.stranger.address
    assert effective_at > 0
    assert crm.escrow.pending_treasury() == (None, 0)
    assert crm.escrow.treasury() == staff.stranger.address
    assert crm.escrow.treasury_of(crm.escrow.invoice(paid_before)) == staff.treasury.address


def test_a_cancelled_treasury_change_leaves_the_treasury(crm: Crm, staff: Staff, snapshot: None) -> None:
    crm.escrow.propose_treasury(staff.stranger.address, staff.admin)

    crm.escrow.cancel_treasury_change(staff.admin)

    assert crm.escrow.pending_treasury() == (None, 0)
    with pytest.raises(revert_type("TreasuryChangeNotProposed")):
        crm.escrow.accept_treasury(staff.stranger)
    assert crm.escrow.treasury() == staff.treasury.address


def test_only_an_admin_proposes_a_treasury(crm: Crm, staff: Staff, snapshot: None) -> None:
    with pytest.raises(revert_type("AccessControlUnauthorizedAccount")) as raised:
        crm.escrow.propose_treasury(staff.stranger.address, staff.manager)

    assert raised.value.args_by_name["account"] == staff.manager.address
    assert crm.escrow.pending_treasury() == (None, 0)


def test_sweep_sends_forced_ether_to_the_treasury_and_leaves_what_is_owed(
    crm: Crm, staff: Staff, snapshot: None
) -> None:
    _paid(crm, staff)
    artifact = load_artifact("ForceSender")
    factory = crm.chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    forcer = crm.chain.transact(factory.constructor(), staff.stranger)["contractAddress"]
    force = crm.chain.w3.eth.contract(address=forcer, abi=artifact.abi).functions.force(crm.escrow.address)
    crm.chain.transact(force, staff.stranger, value=5)
    treasury_before = _balance(crm, staff.treasury.address)

    crm.escrow.sweep(staff.stranger)

    assert _balance(crm, staff.treasury.address) == treasury_before + 5
    assert crm.escrow.escrowed_wei() == crm.escrow.liabilities_wei() == ONE_ETH
    with pytest.raises(revert_type("NothingToSweep")):
        crm.escrow.sweep(staff.stranger)
