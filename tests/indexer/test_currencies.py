"""ERC-20 invoices, loyalty points, off-chain payments and signed offers, followed into the index and
the reports: one story on an Anvil of its own (the last test rewrites its last block).

The story: a stablecoin (6 decimals) allowed; ETH earns 100 points per ETH and redeems a point for
0.001 ETH. Customer 1 (wallet `customer`): invoice 1 (1 ETH) paid and released (100 points awarded);
invoice 2 (100 USDC) paid with a permit; invoice 3 (1 ETH) paid with 10 points (0.01 ETH off) and
refunded (the 10 points restored); invoice 4 (1 ETH) paid with 10 points; invoice 5 (0.5 ETH) paid
off-chain by bank transfer. A manager's offer (10% off) accepted by the customer's wallet opens
deal 6, won: invoice 6 (0.9 ETH) paid.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import _deploy
from chaincrm.contracts.offers import sign_offer
from chaincrm.index import schema as db
from chaincrm.index.reads import read_timeline
from chaincrm.models import InvoiceStatus, Stage
from chaincrm.reports.figures import compute
from chaincrm.reports.history import history_from_chain, history_from_index
from chaincrm.reports.reconcile import reconcile
from tests.indexer.conftest import MakeIndexer, crm_on_own_anvil, dump, register, reorg
from tests.sdk.conftest import Staff

ETH = 10**18
USDC = 10**6
POINT = 10**18
FORWARD = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)
PERMIT_TYPES = {
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


@dataclass(frozen=True)
class TokenStory:
    crm: Crm
    token: str
    customer_id: int
    offer_deal: int


def _won_invoice(crm: Crm, deal_id: int, agent: LocalAccount, manager: LocalAccount) -> int:
    deal = crm.pipeline.deal(deal_id)
    for stage in FORWARD:
        if int(stage) <= int(deal.stage):
            continue
        crm.pipeline.move(deal_id, stage, manager if stage is Stage.WON else agent)
    return crm.pipeline.invoices_of(deal_id)[-1]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, staff: Staff) -> Iterator[TokenStory]:
    with crm_on_own_anvil(tmp_path_factory.mktemp("currencies"), staff) as crm:
        chain, escrow, pipeline = crm.chain, crm.escrow, crm.pipeline
        agent, manager, admin, wallet = staff.agent, staff.manager, staff.admin, staff.customer
        token_address = _deploy(chain, admin, "TestStablecoin", "Test USD", "USDC")
        token = chain.w3.eth.contract(address=token_address, abi=load_artifact("TestStablecoin").abi)
        esc = escrow.contract.functions
        chain.transact(esc.allowToken(token_address, True), admin)
        chain.transact(esc.setLoyaltyRates("0x" + "00" * 20, 100 * ETH, 10**15), admin)
        chain.transact(token.functions.mint(wallet.address, 1_000 * USDC), admin)
        customer = register(crm, staff, wallet=wallet)

        # invoice 1: 1 ETH paid and released: 100 points awarded
        first = _won_invoice(crm, pipeline.open_deal(customer, agent.address, ETH, agent), agent, manager)
        escrow.pay(first, wallet)
        chain.w3.provider.make_request("evm_increaseTime", [40 * 86_400])  # type: ignore[arg-type]
        chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        escrow.release(first, manager)
        # invoice 2: 100 USDC paid with a permit
        receipt = chain.transact(pipeline.contract.functions.openDealIn(customer, agent.address, 100 * USDC,
                                                                        token_address), agent)  # fmt: skip
        token_deal = pipeline.deal_count()
        assert receipt["status"] == 1
        second = _won_invoice(crm, token_deal, agent, manager)
        deadline = int(time.time()) + 10 * 365 * 86_400
        message = {"owner": wallet.address, "spender": escrow.address, "value": 100 * USDC,
                   "nonce": token.functions.nonces(wallet.address).call(), "deadline": deadline}  # fmt: skip
        domain = {"name": "Test USD", "version": "1", "chainId": chain.chain_id, "verifyingContract": token_address}
        signed = Account.sign_typed_data(wallet.key, domain, PERMIT_TYPES, message)
        chain.transact(esc.payTokenWithPermit(second, 0, deadline, signed.v, signed.r.to_bytes(32, "big"),
                                              signed.s.to_bytes(32, "big")), wallet)  # fmt: skip
        # invoice 3: 1 ETH paid with 10 points, refunded: the points restored
        third = _won_invoice(crm, pipeline.open_deal(customer, agent.address, ETH, agent), agent, manager)
        chain.transact(esc.payWithPoints(third, 10 * POINT), wallet, value=ETH - 10**16)
        escrow.refund(third, manager)
        # invoice 4: 1 ETH paid with 10 points
        fourth = _won_invoice(crm, pipeline.open_deal(customer, agent.address, ETH, agent), agent, manager)
        chain.transact(esc.payWithPoints(fourth, 10 * POINT), wallet, value=ETH - 10**16)
        # the offer: 10% off a new deal of 1 ETH, won, invoice 6 (0.9 ETH) paid
        offer = sign_offer(manager, chain_id=chain.chain_id, pipeline=pipeline.address, customer_id=customer,
                           discount_bps=1_000, expiry=deadline)  # fmt: skip
        offer_deal = pipeline.accept_offer(offer, wallet, value=ETH)
        sixth = _won_invoice(crm, offer_deal, manager, manager)
        escrow.pay(sixth, wallet)
        # invoice 6: 0.5 ETH paid off-chain, the last transaction
        fifth = _won_invoice(crm, pipeline.open_deal(customer, agent.address, ETH // 2, agent), agent, manager)
        chain.transact(esc.recordOffChainPayment(fifth, 1, b"\x01" * 32, b"\x02" * 32), manager)
        assert (first, second, third, fourth, sixth, fifth) == (1, 2, 3, 4, 5, 6)
        yield TokenStory(crm, token_address, customer, offer_deal)


def test_the_index_keeps_currencies_points_offers_and_off_chain_payments(
    story: TokenStory, make_indexer: MakeIndexer
) -> None:
    indexer = make_indexer(story.crm.chain, story.crm)
    indexer.sync_once()

    with indexer.engine.connect() as conn:
        invoices = {r.id: r for r in conn.execute(select(db.invoices))}
        deals = {r.id: r for r in conn.execute(select(db.deals))}
        points = [(r.invoice_id, r.kind, r.points) for r in conn.execute(select(db.loyalty_events))]
        offers = conn.execute(select(db.offer_events)).all()
        tokens = [r.kind for r in conn.execute(select(db.token_events))]
    assert invoices[2].currency == story.token and invoices[1].currency is None
    assert invoices[2].amount_wei == 100 * USDC and invoices[2].status == int(InvoiceStatus.PAID)
    assert invoices[4].amount_wei == ETH - 10**16 and invoices[4].amount_issued == ETH
    assert invoices[4].points_redeemed == 10 * POINT and invoices[4].points_discount == 10**16
    assert invoices[1].points_awarded == 100 * POINT and invoices[3].points_restored == 10 * POINT
    assert invoices[6].status == int(InvoiceStatus.PAID_OFF_CHAIN) and invoices[6].off_chain_method == 1
    assert invoices[6].receipt_hash == "0x" + "01" * 32 and invoices[6].paid_at is not None
    assert deals[2].currency == story.token and deals[story.offer_deal].discount_bps == 1_000
    assert invoices[5].amount_wei == ETH * 9 // 10
    assert sorted(points) == [
        (1, "awarded", 100 * POINT), (3, "redeemed", 10 * POINT), (3, "restored", 10 * POINT),
        (4, "redeemed", 10 * POINT),
    ]  # fmt: skip
    assert [(o.kind, o.deal_id, o.discount_bps, o.uses) for o in offers] == [("accepted", story.offer_deal, 1_000, 1)]
    assert "token_allowed" in tokens and "loyalty_rates_changed" in tokens and "loyalty_program_set" in tokens


def test_an_index_followed_step_by_step_equals_a_fresh_rebuild(story: TokenStory, make_indexer: MakeIndexer) -> None:
    stepwise = make_indexer(story.crm.chain, story.crm, "stepwise", initial_range=1, max_range=1)
    stepwise.sync_once()
    fresh = make_indexer(story.crm.chain, story.crm, "fresh")
    fresh.sync_once()

    assert dump(stepwise.engine) == dump(fresh.engine)


def test_the_report_keeps_currencies_apart_and_matches_the_chain(story: TokenStory, make_indexer: MakeIndexer) -> None:
    indexer = make_indexer(story.crm.chain, story.crm, "report")
    indexer.sync_once()
    with indexer.engine.connect() as conn:
        indexed = history_from_index(conn)
    from_index = compute(indexed)
    from_chain = compute(history_from_chain(story.crm, to_block=indexed.end_block))

    checks = reconcile(from_index, from_chain)
    assert [c for c in checks if not c.matches] == []
    figures = from_index.figures()

    def total(what: str) -> int:  # over the months (the story spans more than one)
        return sum(int(v) for k, v in figures.items() if k.startswith("revenue ") and k.endswith(f": {what}"))

    assert total(f"paid {story.token}") == 100 * USDC
    assert total("paid wei") == ETH + 2 * (ETH - 10**16) + ETH * 9 // 10
    assert total("paid off-chain wei") == ETH // 2
    assert total("refunded wei") == ETH - 10**16
    assert total(f"released {story.token}") == 0
    assert figures["points minted"] == str(100 * POINT)
    assert figures["points redeemed"] == str(20 * POINT)
    assert figures["points restored"] == str(10 * POINT)
    assert figures["points outstanding"] == str(90 * POINT)
    assert figures["offers accepted"] == "1" and figures["deals with an accepted offer"] == "1"
    assert figures["offer deals revenue: paid wei"] == str(ETH * 9 // 10)
    assert figures["offer discount granted wei"] == str(ETH // 10)
    assert figures["refunds owed wei"] == str(ETH - 10**16)


def test_the_timeline_shows_the_new_events_the_same_from_the_index_and_the_chain(
    story: TokenStory, make_indexer: MakeIndexer, tmp_path: Path
) -> None:
    indexer = make_indexer(story.crm.chain, story.crm, "timeline")
    indexer.sync_once()
    database = tmp_path / "timeline.sqlite"

    indexed = read_timeline(story.crm, story.customer_id, database=database, home=tmp_path)
    chained = read_timeline(story.crm, story.customer_id, database=database, home=tmp_path, from_chain=True)

    assert indexed.source == "index" and chained.source == "chain"
    assert indexed.entries == chained.entries
    details = [entry.detail for entry in indexed.entries]
    assert "issued 100 USDC for deal 2" in details
    assert any(d.startswith("paid off-chain by bank transfer") for d in details)
    assert "10 points redeemed for 0.01 ETH off" in details and "100 points awarded" in details
    assert "10 points restored" in details
    assert any(d.startswith("offer accepted: 10% off") for d in details)


def test_a_reorg_rolls_back_the_off_chain_payment(story: TokenStory, make_indexer: MakeIndexer) -> None:
    indexer = make_indexer(story.crm.chain, story.crm, "reorg", confirmations=5)
    indexer.sync_once()
    reorg(story.crm.chain, 1, [])  # the block with recordOffChainPayment is replaced by an empty one
    indexer.sync_once()

    with indexer.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(db.invoice_events).where(db.invoice_events.c.invoice_id == 6))]
        status = conn.execute(select(db.invoices.c.status).where(db.invoices.c.id == 6)).scalar_one()
    assert kinds == ["issued"] and status == int(InvoiceStatus.OPEN)
    fresh = make_indexer(story.crm.chain, story.crm, "after-reorg")
    fresh.sync_once()
    assert dump(indexer.engine) == dump(fresh.engine)
