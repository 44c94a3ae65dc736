"""The InvoiceEscrow contract: invoices, payment into escrow, release, refund."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.chain import Chain, Sender
from chaincrm.chain.artifacts import load_artifact
from chaincrm.chain.contract import contract_at
from chaincrm.chain.reverts import revert_type
from chaincrm.models import ZERO_ADDRESS, Invoice, InvoiceStatus

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.contract import Contract
    from web3.types import TxReceipt


class Escrow:
    """Typed access to one deployed InvoiceEscrow."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract: Contract = contract_at(chain, "InvoiceEscrow", self.address, load_artifact("InvoiceEscrow").abi)

    def invoice(self, invoice_id: int) -> Invoice:
        return Invoice.from_chain(invoice_id, self.chain.call(self.contract.functions.invoiceOf(invoice_id)))

    def invoice_count(self) -> int:
        return int(self.chain.call(self.contract.functions.invoiceCount()))

    def invoices(self) -> list[Invoice]:
        """Every invoice, read in JSON-RPC batches of `invoiceOf` calls at one block."""
        block = self.chain.block_number("latest")  # the count and the rows agree
        count = int(self.chain.call(self.contract.functions.invoiceCount(), block=block))
        ids = range(1, count + 1)
        rows = self.chain.call_many([self.contract.functions.invoiceOf(invoice_id) for invoice_id in ids], block=block)
        return [Invoice.from_chain(invoice_id, raw) for invoice_id, raw in zip(ids, rows, strict=True)]

    def pay(self, invoice_id: int, sender: Sender, amount_wei: int | None = None) -> TxReceipt:
        """Pay an invoice from `sender`'s wallet; by default exactly the amount it asks for."""
        if amount_wei is None:
            amount_wei = self.invoice(invoice_id).amount_wei
        return self.chain.transact(self.contract.functions.pay(invoice_id), sender, value=amount_wei)

    def confirm_delivery(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.confirmDelivery(invoice_id), sender)

    def dispute(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.dispute(invoice_id), sender)

    def release(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.release(invoice_id), sender)

    def refund(self, invoice_id: int, sender: Sender) -> TxReceipt:
        """Credit the invoice's funds to its payer (a manager); the payer withdraws them."""
        return self.chain.transact(self.contract.functions.refund(invoice_id), sender)

    def reclaim(self, invoice_id: int, sender: Sender) -> TxReceipt:
        """The payer takes back a disputed invoice's funds after its resolution deadline."""
        return self.chain.transact(self.contract.functions.reclaim(invoice_id), sender)

    def withdraw_refund(self, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.withdrawRefund(), sender)

    def refund_of(self, payer: str) -> int:
        return int(self.chain.call(self.contract.functions.refundOf(to_checksum_address(payer))))

    def cancel(self, invoice_id: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.cancel(invoice_id), sender)

    def propose_treasury(self, treasury: str, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.proposeTreasury(to_checksum_address(treasury)), sender)

    def cancel_treasury_change(self, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.cancelTreasuryChange(), sender)

    def accept_treasury(self, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.acceptTreasury(), sender)

    def pending_treasury(self) -> tuple[str | None, int]:
        account, effective_at = self.chain.call(self.contract.functions.pendingTreasury())
        return (None if int(account, 16) == 0 else to_checksum_address(account)), int(effective_at)

    def sweep(self, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.sweep(), sender)

    def treasury(self) -> str:
        """Where invoices paid now will be released to."""
        return to_checksum_address(self.chain.call(self.contract.functions.treasury()))

    def treasury_of(self, invoice: Invoice) -> str | None:
        """The treasury fixed when the invoice was paid (None while unpaid)."""
        if not invoice.treasury_epoch:
            return None
        return to_checksum_address(self.chain.call(self.contract.functions.treasuryOf(invoice.treasury_epoch)))

    def dispute_deadline(self, invoice_id: int) -> int | None:
        return int(self.chain.call(self.contract.functions.disputeDeadlineOf(invoice_id))) or None

    def liabilities_wei(self) -> int:
        return int(self.chain.call(self.contract.functions.liabilitiesWei()))

    def payment_reference(self, invoice_id: int) -> bytes:
        return bytes(self.chain.call(self.contract.functions.paymentReference(invoice_id)))

    def is_overdue(self, invoice_id: int) -> bool:
        return bool(self.chain.call(self.contract.functions.isOverdue(invoice_id)))

    def escrowed_wei(self) -> int:
        return self.chain.balance(self.address)

    # ------------------------------------------------------------------ ERC-20 invoices

    def allow_token(self, token: str, sender: Sender, *, allowed: bool = True) -> TxReceipt:
        """Allow (or stop allowing) new invoices in an ERC-20 (admin)."""
        return self.chain.transact(self.contract.functions.allowToken(to_checksum_address(token), allowed), sender)

    def is_token_allowed(self, token: str) -> bool:
        return bool(self.chain.call(self.contract.functions.isTokenAllowed(to_checksum_address(token))))

    def token_changes(self, from_block: int = 0) -> list[tuple[str, bool, int]]:
        """Every TokenAllowed event as (token, allowed, block), in chain order."""
        logs = self.chain.logs.events(self.contract.events.TokenAllowed, from_block=from_block)
        return [
            (to_checksum_address(log["args"]["token"]), bool(log["args"]["allowed"]), int(log["blockNumber"]))
            for log in logs
        ]

    def pay_token(self, invoice_id: int, sender: Sender) -> tuple[TxReceipt | None, TxReceipt]:
        """Pay a token invoice: approve the escrow for its amount (unless already approved), then
        `payToken`. Returns both receipts (the first None when no approval was needed)."""
        from chaincrm.contracts.tokens import Tokens

        invoice = self.invoice(invoice_id)
        token = _token_of(invoice)
        tokens = Tokens(self.chain)
        approval = None
        if tokens.allowance(token, sender.address, self.address) < invoice.amount_wei:
            approval = tokens.approve(token, self.address, invoice.amount_wei, sender)
        return approval, self.chain.transact(self.contract.functions.payToken(invoice_id), sender)

    def pay_token_with_permit(
        self, invoice_id: int, sender: LocalAccount, *, points: int = 0, deadline: int | None = None
    ) -> TxReceipt:
        """Pay a token invoice in one transaction: an EIP-2612 permit for what is due (after the
        points' discount) signed by `sender`, handed to `payTokenWithPermit`."""
        from chaincrm.contracts.tokens import Tokens

        invoice = self.invoice(invoice_id)
        token = _token_of(invoice)
        due = self.quote_points(invoice, sender.address, points).due if points else invoice.amount_wei
        if deadline is None:
            deadline = _now(self.chain) + PERMIT_LIFETIME_SECONDS
        v, r, s = Tokens(self.chain).sign_permit(token, sender, self.address, due, deadline)
        fn = self.contract.functions.payTokenWithPermit(invoice_id, points, deadline, v, r, s)
        return self.chain.transact(fn, sender)

    def pay_with_points(self, invoice_id: int, points: int, sender: Sender) -> tuple[TxReceipt | None, TxReceipt]:
        """Redeem `points` against an invoice and pay the rest: ETH sent with the call, or a token
        approved first (returned as the first receipt, None for ETH or an existing approval)."""
        invoice = self.invoice(invoice_id)
        quote = self.quote_points(invoice, sender.address, points)
        approval = None
        if invoice.currency is None:
            fn = self.contract.functions.payWithPoints(invoice_id, points)
            return None, self.chain.transact(fn, sender, value=quote.due)
        from chaincrm.contracts.tokens import Tokens

        tokens = Tokens(self.chain)
        if tokens.allowance(invoice.currency, sender.address, self.address) < quote.due:
            approval = tokens.approve(invoice.currency, self.address, quote.due, sender)
        return approval, self.chain.transact(self.contract.functions.payWithPoints(invoice_id, points), sender)

    def quote_points(self, invoice: Invoice, payer: str, points: int) -> PointsQuote:
        """What redeeming `points` on `invoice` would take off, checked as the contract checks it
        (the same named errors, raised before anything is sent)."""
        currency = invoice.currency or ZERO_ADDRESS
        if self.loyalty_program() is None:
            raise revert_type("LoyaltyNotSet")("LoyaltyNotSet", {})
        _, redeem_wad = self.loyalty_rates(invoice.currency)
        if redeem_wad == 0:
            raise revert_type("PointsNotRedeemable")("PointsNotRedeemable", {"currency": currency})
        held = self.points_of(payer)
        if held < points:
            raise revert_type("PointsInsufficient")(
                "PointsInsufficient", {"account": to_checksum_address(payer), "held": held, "wanted": points}
            )
        discount = points * redeem_wad // WAD
        if discount >= invoice.amount_wei:
            raise revert_type("PointsDiscountTooLarge")(
                "PointsDiscountTooLarge", {"invoiceId": invoice.id, "discount": discount, "amount": invoice.amount_wei}
            )
        return PointsQuote(points, discount, invoice.amount_wei - discount)

    def points_redeemed_on(self, invoice_id: int) -> int:
        """Loyalty points (base units) redeemed against an invoice; 0 when none (or once restored)."""
        return int(self.chain.call(self.contract.functions.pointsRedeemedOn(invoice_id)))

    def token_refund_of(self, token: str, payer: str) -> int:
        fn = self.contract.functions.tokenRefundOf(to_checksum_address(token), to_checksum_address(payer))
        return int(self.chain.call(fn))

    def withdraw_token_refund(self, token: str, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.withdrawTokenRefund(to_checksum_address(token)), sender)

    # ------------------------------------------------------------------ payments made off the chain

    def record_off_chain_payment(
        self, invoice_id: int, method: PaymentMethod, receipt_hash: bytes, cid_digest: bytes, sender: Sender
    ) -> TxReceipt:
        fn = self.contract.functions.recordOffChainPayment(invoice_id, int(method), receipt_hash, cid_digest)
        return self.chain.transact(fn, sender)

    def off_chain_payment(self, invoice_id: int) -> OffChainPayment | None:
        """The InvoicePaidOffChain record of an invoice, if a manager recorded one."""
        logs = self.chain.logs.events(
            self.contract.events.InvoicePaidOffChain, argument_filters={"invoiceId": invoice_id}
        )
        if not logs:
            return None
        args = logs[-1]["args"]
        return OffChainPayment(
            invoice_id=invoice_id,
            actor=to_checksum_address(args["actor"]),
            method=PaymentMethod(args["method"]),
            receipt_hash=bytes(args["receiptHash"]),
            cid_digest=bytes(args["cidDigest"]),
            at=int(args["at"]),
        )

    # ------------------------------------------------------------------ loyalty (admin)

    def set_loyalty_rates(self, currency: str | None, earn_wad: int, redeem_wad: int, sender: Sender) -> TxReceipt:
        token = to_checksum_address(currency) if currency else ZERO_ADDRESS
        return self.chain.transact(self.contract.functions.setLoyaltyRates(token, earn_wad, redeem_wad), sender)

    def loyalty_rates(self, currency: str | None) -> tuple[int, int]:
        """(earnWad, redeemWad) for a currency (None for ETH)."""
        token = to_checksum_address(currency) if currency else ZERO_ADDRESS
        earn, redeem = self.chain.call(self.contract.functions.loyaltyRatesOf(token))
        return int(earn), int(redeem)

    def points_of(self, account: str) -> int:
        """The loyalty points `account` holds (0 when no program is set)."""
        program = self.loyalty_program()
        if program is None:
            return 0
        from chaincrm.contracts.tokens import Tokens

        return Tokens(self.chain).balance_of(program, account)

    def points_history(self, account: str | None = None, from_block: int = 0) -> list[PointsEntry]:
        """PointsAwarded / PointsRedeemed / PointsRestored, oldest first (one payer's with `account`)."""
        filters = {"payer": to_checksum_address(account)} if account else {}
        entries = []
        for kind, event in (
            ("awarded", self.contract.events.PointsAwarded),
            ("redeemed", self.contract.events.PointsRedeemed),
            ("restored", self.contract.events.PointsRestored),
        ):
            for log in self.chain.logs.events(event, from_block=from_block, argument_filters=filters):
                args = log["args"]
                entries.append(
                    PointsEntry(
                        kind=kind,
                        invoice_id=int(args["invoiceId"]),
                        payer=to_checksum_address(args["payer"]),
                        points=int(args["points"]),
                        discount=int(args.get("discount", 0)),
                        block_number=int(log["blockNumber"]),
                        log_index=int(log["logIndex"]),
                    )
                )
        return sorted(entries, key=lambda e: (e.block_number, e.log_index))

    # ------------------------------------------------------------------ loyalty (admin)

    def set_loyalty_program(self, points: str, sender: Sender) -> TxReceipt:
        """Name the LoyaltyPoints token this escrow mints and burns (admin, once)."""
        return self.chain.transact(self.contract.functions.setLoyaltyProgram(to_checksum_address(points)), sender)

    def loyalty_program(self) -> str | None:
        return _optional(self.chain.call(self.contract.functions.loyaltyProgram()))

    def held_invoices(self) -> list[Invoice]:
        return [i for i in self.invoices() if i.status in (InvoiceStatus.PAID, InvoiceStatus.DISPUTED)]


WAD = 10**18
PERMIT_LIFETIME_SECONDS = 3600  # a permit signed to be sent now: useless to anyone an hour later


class PaymentMethod(IntEnum):
    """How an invoice recorded as paid off the chain was paid (the contract's uint8 method)."""

    BANK = 1
    CARD = 2
    OTHER = 3

    @property
    def label(self) -> str:
        return {1: "bank transfer", 2: "card", 3: "other"}[int(self)]


@dataclass(frozen=True)
class OffChainPayment:
    invoice_id: int
    actor: str
    method: PaymentMethod
    receipt_hash: bytes
    cid_digest: bytes
    at: int


@dataclass(frozen=True)
class PointsQuote:
    points: int
    discount: int  # in the invoice's currency's base units
    due: int  # what is still paid


@dataclass(frozen=True)
class PointsEntry:
    kind: str  # awarded | redeemed | restored
    invoice_id: int
    payer: str
    points: int
    discount: int  # redeemed only
    block_number: int
    log_index: int


def _token_of(invoice: Invoice) -> str:
    if invoice.currency is None:
        raise revert_type("InvoiceCurrencyMismatch")(
            "InvoiceCurrencyMismatch", {"invoiceId": invoice.id, "currency": ZERO_ADDRESS}
        )
    return invoice.currency


def _now(chain: Chain) -> int:
    return int(chain.rpc(lambda: chain.w3.eth.get_block("latest"))["timestamp"])


def _optional(address: str) -> str | None:
    return None if int(address, 16) == 0 else to_checksum_address(address)
