"""Gas of issue 11's operations (tokens, permit, loyalty, offers, reminders, off-chain payments),
and of the two anchors the issue names, measured on the same Anvil as the rest of `bench gas`.

Anchors:

- OpenZeppelin's bare ``transferFrom``: the test stablecoin's (OpenZeppelin ERC20), from a holder to
  a holder, under a finite allowance: the floor any escrow that pulls tokens pays.
- Request Network's ``ERC20EscrowToPay.payEscrow`` (with its ``ERC20FeeProxy``), deployed from the
  bytecode npm's ``@requestnetwork/smart-contracts`` 0.48.0 ships (its typechain factories), paid
  the same amount of the same token, after approve, to the same treasury.

Each figure is a steady-state one unless its name says otherwise: the escrow and the treasury
already hold the token, and the payer has paid (or permitted, or earned points) before, so no
storage slot goes from zero to non-zero that would not in a running CRM. The first-time cases
are measured too, under names ending in ``_first``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.client import Crm
from chaincrm.contracts.offers import sign_offer
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.contracts.tokens import Tokens
from chaincrm.models import InteractionKind, Outcome, Stage

ZERO_ADDRESS = "0x" + "00" * 20
TOKEN_UNIT = 10**6  # the test stablecoin has 6 decimals
TOKEN_INVOICE = 250 * TOKEN_UNIT
WAD = 10**18
REQUEST_NETWORK = Path("node_modules/@requestnetwork/smart-contracts")
REQUEST_NETWORK_VERSION = "0.48.0"

TARGETS = {
    "erc20_pay_after_approve": 70_000,
    "erc20_pay_with_permit": 110_000,
    "release_with_loyalty_mint": 90_000,
    "reminder_in_batch_100_per_record": 3_000,
    "accept_offer_opening_deal": 150_000,
}
NOTES = {
    "anchor_oz_transfer_from": "anchor: OpenZeppelin ERC20 transferFrom, holder to holder, finite allowance",
    "anchor_request_network_pay_escrow": (
        "anchor: Request Network ERC20EscrowToPay.payEscrow after approve, fee of 1 base unit"
    ),
    "erc20_pay_after_approve": "payToken after approve; escrow and treasury already hold the token",
    "erc20_pay_with_permit": "payTokenWithPermit: EIP-2612 permit and payment in one transaction",
    "erc20_pay_with_permit_first": "the same, the wallet's first permit (its permit nonce goes 0 -> 1)",
    "erc20_pay_with_points": "payWithPoints on a token invoice: points burned, the rest pulled",
    "pay_with_points": "payWithPoints on an ETH invoice: points burned, the rest sent",
    "release_with_loyalty_mint": "release by the treasury, points minted to a payer who holds some",
    "release_with_loyalty_mint_first": "the same, the payer's first points",
    "release_with_loyalty_mint_program_first": "the same, the program's very first points (its supply goes 0 -> 1)",
    "release_token_with_loyalty_mint": "release of a token invoice, points minted to a payer who holds some",
    "reminder_in_batch_100_per_record": "keeper's reminders (kind reminder), 100 customers in one batch",
    "accept_offer_opening_deal": "customer's wallet accepts a manager's EIP-712 offer, opening a deal at Proposal",
    "accept_offer_on_open_deal": "customer's wallet accepts an offer on an open deal of theirs",
    "record_offchain_payment": "manager records a bank transfer: receipt hash and CID digest",
    "open_deal_in_token": "agent opens a deal in an allow-listed token",
}


@dataclass(frozen=True)
class PaymentActors:
    admin: LocalAccount
    agent: LocalAccount
    manager: LocalAccount
    treasury: LocalAccount


class PaymentGas:
    """Measures issue 11's operations on `crm`, for the customer `customer_id` whose wallet is `payer`."""

    def __init__(
        self,
        crm: Crm,
        actors: PaymentActors,
        advance: Callable[[int], None],
        now: Callable[[], int],
    ) -> None:
        self.crm = crm
        self.actors = actors
        self.advance = advance
        self.now = now
        self.gas: dict[str, int] = {}
        self.token = self._deploy("TestStablecoin", "Bench USD", "BUSD")
        self.points = self._loyalty()
        self._rates()

    # ------------------------------------------------------------------ set-up

    def _deploy(self, name: str, *args: object) -> Any:
        artifact = load_artifact(name)
        w3 = self.crm.chain.w3
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.crm.chain.transact(factory.constructor(*args), self.actors.admin)
        return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)

    def _loyalty(self) -> Any:
        escrow = self.crm.escrow.contract
        address = escrow.functions.loyaltyProgram().call()
        if int(address, 16) == 0:
            points = self._deploy("LoyaltyPoints", escrow.address)
            self._send(escrow.functions.setLoyaltyProgram(points.address), self.actors.admin)
            address = points.address
        artifact = load_artifact("LoyaltyPoints")
        return self.crm.chain.w3.eth.contract(address=address, abi=artifact.abi)

    def _send(self, fn: Any, sender: LocalAccount, value: int = 0) -> TxReceipt:
        return self.crm.chain.transact(fn, sender, value=value)

    def _rates(self) -> None:
        """1 point per whole unit of currency released, each point worth 0.01 of it at redemption."""
        escrow, admin = self.crm.escrow.contract.functions, self.actors.admin
        self._send(escrow.allowToken(self.token.address, True), admin)
        # earnWad: point base units per currency base unit, x 1e18. ETH: 1 point (1e18) per 1e18 wei.
        self._send(escrow.setLoyaltyRates(ZERO_ADDRESS, WAD, WAD // 100), admin)
        # The token: 1 point (1e18) per 1e6 base units -> 1e12 per base unit; 1 point buys 0.01 token
        # (1e4 base units) -> 1e-14 per point base unit, x 1e18 = 1e4.
        self._send(escrow.setLoyaltyRates(self.token.address, 10**12 * WAD, 10**4), admin)

    # ------------------------------------------------------------------ deals

    def _won(self, customer_id: int, value: int, currency: str | None = None) -> int:
        pipeline = self.crm.pipeline.contract.functions
        agent, manager = self.actors.agent, self.actors.manager
        if currency is None:
            receipt = self._send(pipeline.openDeal(customer_id, agent.address, value), agent)
        else:
            receipt = self._send(pipeline.openDealIn(customer_id, agent.address, value, currency), agent)
            self.gas["open_deal_in_token"] = int(receipt["gasUsed"])
        deal_id = pipeline.dealCount().call()
        for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING):
            self._send(pipeline.moveStage(deal_id, int(stage)), agent)
        self._send(pipeline.moveStage(deal_id, int(Stage.WON)), manager)
        return int(pipeline.dealOf(deal_id).call()[5])

    def _measure(self, name: str, receipt: TxReceipt) -> None:
        self.gas[name] = int(receipt["gasUsed"])

    # ------------------------------------------------------------------ anchors

    def anchors(self, payer: LocalAccount) -> None:
        token, admin, treasury = self.token.functions, self.actors.admin, self.actors.treasury
        self._send(token.mint(payer.address, 10_000 * TOKEN_UNIT), admin)
        self._send(token.mint(treasury.address, TOKEN_UNIT), admin)
        self._send(token.approve(admin.address, 10 * TOKEN_INVOICE), payer)
        self._send(token.transferFrom(payer.address, treasury.address, TOKEN_INVOICE), admin)  # warm-up
        self._measure(
            "anchor_oz_transfer_from",
            self._send(token.transferFrom(payer.address, treasury.address, TOKEN_INVOICE), admin),
        )
        fee_proxy = self._deploy_request_network("ERC20FeeProxy")
        escrow_to_pay = self._deploy_request_network("ERC20EscrowToPay", fee_proxy.address, admin.address)
        self._send(token.approve(escrow_to_pay.address, 10 * TOKEN_INVOICE), payer)
        pay_escrow = escrow_to_pay.functions.payEscrow
        # payEscrow refuses a zero fee ("Zero Value"): the smallest it takes, 1 base unit, goes to
        # the treasury, which already holds the token.
        for _ in range(2):  # the second is measured: the escrow-to-pay then holds the token already
            reference = os.urandom(8)
            receipt = self._send(
                pay_escrow(self.token.address, treasury.address, TOKEN_INVOICE, reference, 1, treasury.address), payer
            )
        self._measure("anchor_request_network_pay_escrow", receipt)

    def _deploy_request_network(self, name: str, *args: object) -> Any:
        root = _request_network_root()
        abi = json.loads((root / f"dist/src/lib/artifacts/{name}/0.1.0.json").read_text())["abi"]
        factory_js = (root / f"types/factories/src/contracts/{name}__factory.js").read_text()
        match = re.search(r'_bytecode = "(0x[0-9a-fA-F]+)"', factory_js)
        if match is None:
            raise RuntimeError(f"no bytecode for {name} in @requestnetwork/smart-contracts {REQUEST_NETWORK_VERSION}")
        w3 = self.crm.chain.w3
        factory = w3.eth.contract(abi=abi, bytecode=match.group(1))
        receipt = self.crm.chain.transact(factory.constructor(*args), self.actors.admin)
        return w3.eth.contract(address=receipt["contractAddress"], abi=abi)

    # ------------------------------------------------------------------ ours

    def tokens(self, customer_id: int, payer: LocalAccount) -> None:
        escrow = self.crm.escrow.contract.functions
        escrow_address = self.crm.escrow.address
        token = self.token.functions

        first = self._won(customer_id, TOKEN_INVOICE, self.token.address)
        self._send(token.approve(escrow_address, TOKEN_INVOICE), payer)
        self._send(escrow.payToken(first), payer)  # warm-up: the escrow's first tokens
        measured = self._won(customer_id, TOKEN_INVOICE, self.token.address)
        self._send(token.approve(escrow_address, TOKEN_INVOICE), payer)
        self._measure("erc20_pay_after_approve", self._send(escrow.payToken(measured), payer))

        for name in ("erc20_pay_with_permit_first", "erc20_pay_with_permit"):
            invoice_id = self._won(customer_id, TOKEN_INVOICE, self.token.address)
            v, r, s, deadline = self._permit(payer, TOKEN_INVOICE)
            self._measure(name, self._send(escrow.payTokenWithPermit(invoice_id, 0, deadline, v, r, s), payer))

        self.advance(self.crm.deployment.dispute_window_seconds + 1)
        self._measure("release_token_with_loyalty_mint", self._send(escrow.release(first), self.actors.treasury))

        with_points = self._won(customer_id, TOKEN_INVOICE, self.token.address)
        points = 10 * WAD
        self._send(token.approve(escrow_address, TOKEN_INVOICE), payer)
        self._measure("erc20_pay_with_points", self._send(escrow.payWithPoints(with_points, points), payer))

    def _permit(self, owner: LocalAccount, value: int) -> tuple[int, bytes, bytes, int]:
        deadline = self.now() + 3600
        v, r, s = Tokens(self.crm.chain).sign_permit(
            self.token.address, owner, self.crm.escrow.address, value, deadline
        )
        return v, r, s, deadline

    def loyalty(self, customer_id: int, payer: LocalAccount, other: tuple[int, LocalAccount]) -> None:
        """Releases with points minted: another customer's first (the program's first supply, a
        one-time cost), then the payer's first points, then more; an ETH payment with points."""
        escrow = self.crm.escrow.contract.functions
        value = 10**17
        other_id, other_payer = other
        warm_up = self._won(other_id, value)
        self._send(escrow.pay(warm_up), other_payer, value=value)
        first, second = self._won(customer_id, value), self._won(customer_id, value)
        for invoice_id in (first, second):
            self._send(escrow.pay(invoice_id), payer, value=value)
        self.advance(self.crm.deployment.dispute_window_seconds + 1)
        self._measure(
            "release_with_loyalty_mint_program_first", self._send(escrow.release(warm_up), self.actors.treasury)
        )
        if self.points.functions.balanceOf(payer.address).call() != 0:
            raise AssertionError("the payer held points before its first release")
        self._measure("release_with_loyalty_mint_first", self._send(escrow.release(first), self.actors.treasury))
        self._measure("release_with_loyalty_mint", self._send(escrow.release(second), self.actors.treasury))

        redeemed = self._won(customer_id, value)
        points = WAD // 10  # 0.1 point: 0.001 ETH at 0.01 ETH a point
        discount = points * (WAD // 100) // WAD
        self._measure(
            "pay_with_points", self._send(escrow.payWithPoints(redeemed, points), payer, value=value - discount)
        )

    def offers(self, customer_id: int, payer: LocalAccount) -> None:
        pipeline = self.crm.pipeline
        manager = self.actors.manager
        for name, open_deal in (("accept_offer_opening_deal", False), ("accept_offer_on_open_deal", True)):
            deal_id = 0
            if open_deal:
                self._send(
                    pipeline.contract.functions.openDeal(customer_id, self.actors.agent.address, WAD), self.actors.agent
                )
                deal_id = pipeline.contract.functions.dealCount().call()
            offer = sign_offer(
                manager,
                chain_id=self.crm.chain.chain_id,
                pipeline=pipeline.address,
                customer_id=customer_id,
                discount_bps=500,
                expiry=self.now() + 86_400,
            )
            fn = pipeline.contract.functions.acceptOffer(
                offer.as_tuple, offer.issuer, offer.signature, deal_id, 0 if open_deal else WAD, ZERO_ADDRESS
            )
            self._measure(name, self._send(fn, payer))

    def offchain(self, customer_id: int) -> None:
        escrow = self.crm.escrow.contract.functions
        invoice_id = self._won(customer_id, 10**17)
        receipt = self._send(
            escrow.recordOffChainPayment(invoice_id, 1, os.urandom(32), os.urandom(32)), self.actors.manager
        )
        self._measure("record_offchain_payment", receipt)

    def reminders(self, customer_ids: list[int]) -> None:
        """The keeper's batch: one reminder each for 100 customers (the agent holds a grant on each)."""
        entries = [
            InteractionEntry(customer_id, InteractionKind.REMINDER, Outcome.NEUTRAL, os.urandom(32))
            for customer_id in customer_ids[:100]
        ]
        receipt = self.crm.registry.log_interactions(entries, self.actors.agent)
        self.gas["reminder_in_batch_100_per_record"] = int(receipt["gasUsed"]) // len(entries)


def _request_network_root() -> Path:
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / REQUEST_NETWORK
        if candidate.is_dir():
            return candidate
    raise RuntimeError(
        f"@requestnetwork/smart-contracts {REQUEST_NETWORK_VERSION} is not installed: run `./run setup` "
        "(package.json lists it for this anchor)"
    )
