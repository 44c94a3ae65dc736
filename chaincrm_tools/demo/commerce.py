"""The demo's issue-11 stories: loyalty points earned and redeemed, a manager's offer accepted by a
customer's wallet, a stablecoin invoice paid with an EIP-2612 permit, and a bank transfer recorded
off the chain with its receipt encrypted on IPFS. Each step is a real transaction on the demo's
chain; nothing is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from rich.console import Console

from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.client import Crm
from chaincrm.contracts.escrow import WAD, PaymentMethod
from chaincrm.contracts.offchain import record_off_chain_payment
from chaincrm.contracts.offers import sign_offer
from chaincrm.contracts.tokens import Tokens
from chaincrm.currency import amount_text
from chaincrm.models import InvoiceStatus, Stage
from chaincrm.privacy.notes import CustomerNotes
from chaincrm_tools.demo.seeding import DemoStaff, top_up

DAY_SECONDS = 24 * 3600
POINTS_PER_ETH = 100  # earned per whole ETH released
ETH_PER_POINT = 0.001  # what one point takes off an ETH invoice
STABLECOIN_UNITS_PER_POINT = 0.01
TOKEN_DEAL_UNITS = 1_250  # whole stablecoin units
OFFER_DISCOUNT_BPS = 1_000
OFFER_DEAL_WEI = 2 * WAD
PATH_TO_CONTRACTING = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING)


@dataclass(frozen=True)
class Stablecoin:
    address: str
    symbol: str
    decimals: int


def set_loyalty_rates(console: Console, crm: Crm, staff: DemoStaff) -> None:
    """The admin sets ETH's loyalty rates before any release, so the demo's releases earn points."""
    escrow = crm.escrow
    earn_wad = POINTS_PER_ETH * WAD  # point base units per wei, x 1e18 (both have 18 decimals)
    redeem_wad = int(ETH_PER_POINT * WAD)  # wei per point base unit, x 1e18
    escrow.set_loyalty_rates(None, earn_wad, redeem_wad, staff.admin)
    console.print(
        f"[bold]Loyalty[/]: points token {escrow.loyalty_program()} (not transferable); the admin set ETH's rates: "
        f"{POINTS_PER_ETH} points per ETH released, 1 point worth {ETH_PER_POINT:g} ETH at payment"
    )


def offer_and_points(console: Console, crm: Crm, staff: DemoStaff, customer_id: int, wallet: LocalAccount) -> int:
    """A manager's signed offer, accepted by the customer's own wallet (opening a deal at Proposal);
    the deal is won and its discounted invoice paid with the points the customer earned."""
    escrow, pipeline = crm.escrow, crm.pipeline
    now = int(crm.chain.w3.eth.get_block("latest")["timestamp"])
    offer = sign_offer(
        staff.manager,
        chain_id=crm.chain.chain_id,
        pipeline=pipeline.address,
        customer_id=customer_id,
        discount_bps=OFFER_DISCOUNT_BPS,
        expiry=now + 14 * DAY_SECONDS,
    )
    top_up(crm, staff, wallet.address, OFFER_DEAL_WEI)
    deal_id = pipeline.accept_offer(offer, wallet, value=OFFER_DEAL_WEI)
    console.print(
        f"[bold]Offer[/]: the manager signed {offer.discount_bps / 100:g}% off for customer {customer_id} (EIP-712, "
        f"once, 14 days); the customer's wallet accepted it and opened deal {deal_id} at Proposal for "
        f"{OFFER_DEAL_WEI / WAD:g} ETH (uses: {pipeline.offer_uses(offer.digest)} of {offer.max_uses})"
    )
    for stage in (Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        pipeline.move(deal_id, stage, staff.manager)
    invoice = escrow.invoice(pipeline.deal(deal_id).invoice_id or 0)
    held = escrow.points_of(wallet.address)
    points = held // 2
    quote = escrow.quote_points(invoice, wallet.address, points)
    _, receipt = escrow.pay_with_points(invoice.id, points, wallet)
    console.print(
        f"  won by the manager: invoice {invoice.id} for {invoice.amount_wei / WAD:g} ETH (the offer's discount "
        f"applied by the contract); the customer redeemed {points / WAD:g} of their {held / WAD:g} points for "
        f"{quote.discount / WAD:g} ETH off and paid {quote.due / WAD:g} ETH in the same transaction "
        f"(gas {receipt['gasUsed']:,}); points left: {escrow.points_of(wallet.address) / WAD:g}"
    )
    return invoice.id


def stablecoin_with_permit(
    console: Console, crm: Crm, staff: DemoStaff, customer_id: int, wallet: LocalAccount, owner: LocalAccount
) -> int:
    """A 6-decimal test stablecoin with permit, allow-listed; a deal in it; paid with one signature."""
    coin = _deploy_stablecoin(crm, staff)
    escrow, pipeline = crm.escrow, crm.pipeline
    escrow.allow_token(coin.address, staff.admin)
    unit = 10**coin.decimals
    # 1 point per whole dUSD released (1e18 point units per 1e6 base units, x 1e18); 1 point worth
    # 0.01 dUSD (1e4 base units per 1e18 point units, x 1e18).
    escrow.set_loyalty_rates(coin.address, 10**12 * WAD, int(STABLECOIN_UNITS_PER_POINT * unit), staff.admin)
    tokens = Tokens(crm.chain)
    crm.chain.transact(tokens.contract(coin.address).functions.mint(wallet.address, 5_000 * unit), staff.admin)
    deal_id = pipeline.open_deal_in(customer_id, owner.address, TOKEN_DEAL_UNITS * unit, coin.address, owner)
    for stage in PATH_TO_CONTRACTING:
        pipeline.move(deal_id, stage, owner)
    pipeline.move(deal_id, Stage.WON, staff.manager)  # a deal in a token reaches Won by a manager
    invoice = escrow.invoice(pipeline.deal(deal_id).invoice_id or 0)
    info = tokens.info(coin.address)
    receipt = escrow.pay_token_with_permit(invoice.id, wallet)
    paid = escrow.invoice(invoice.id)
    console.print(
        f"[bold]Stablecoin[/]: {coin.symbol} ({coin.decimals} decimals, EIP-2612 permit) at {coin.address}, "
        f"allow-listed by the admin; deal {deal_id} in {coin.symbol} won; invoice {invoice.id} for "
        f"{amount_text(invoice.amount_wei, info)} paid by the customer with a permit signature and the payment "
        f"in one transaction (gas {receipt['gasUsed']:,}, no approve); it is {paid.status.label}, the escrow holds "
        f"{amount_text(tokens.balance_of(coin.address, escrow.address), info)}"
    )
    return invoice.id


def won_invoice(crm: Crm, customer_id: int, owner: LocalAccount, value_wei: int) -> int:
    """A deal of the owner's (below the approval threshold) taken to Won: the invoice it issued."""
    pipeline = crm.pipeline
    deal_id = pipeline.open_deal(customer_id, owner.address, value_wei, owner)
    for stage in (*PATH_TO_CONTRACTING, Stage.WON):
        pipeline.move(deal_id, stage, owner)
    return pipeline.deal(deal_id).invoice_id or 0


def bank_transfer(console: Console, notes: CustomerNotes, staff: DemoStaff, invoice_id: int) -> None:
    """A manager records a bank transfer: the receipt sealed on IPFS, only its hashes on-chain."""
    recorded = record_off_chain_payment(
        notes,
        invoice_id,
        PaymentMethod.BANK,
        f"SEPA transfer, bank reference DEMO-{invoice_id:06d}",
        "bank-statement-line.txt",
        f"Credit transfer received for invoice {invoice_id}.\n".encode(),
        staff.manager,
    )
    status = notes.crm.escrow.invoice(invoice_id).status
    assert status is InvoiceStatus.PAID_OFF_CHAIN
    console.print(
        f"[bold]Off-chain payment[/]: the manager recorded invoice {invoice_id} as paid by bank transfer; the "
        f"receipt (with the bank reference) is encrypted for the customer's readers at {recorded.cid}, the chain "
        f"holds only its hash 0x{recorded.receipt_hash.hex()[:16]}… (block {recorded.block_number}); the invoice is "
        f"{status.label} and can no longer be paid on-chain"
    )


def _deploy_stablecoin(crm: Crm, staff: DemoStaff) -> Stablecoin:
    artifact = load_artifact("TestStablecoin")
    w3 = crm.chain.w3
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = crm.chain.transact(factory.constructor("Demo Dollar", "dUSD"), staff.admin)
    address = receipt["contractAddress"]
    assert address is not None
    return Stablecoin(address=address, symbol="dUSD", decimals=6)
