"""The DealPipeline contract: deals, their stages and the documents attached to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.chain import Chain, Sender, emitted_by
from chaincrm.chain.artifacts import load_artifact
from chaincrm.chain.contract import contract_at
from chaincrm.models import ZERO_ADDRESS, Deal, DocumentKind, LossReason, Stage, StageChange

if TYPE_CHECKING:
    from web3.contract import Contract
    from web3.types import TxReceipt

    from chaincrm.contracts.offers import Offer


class Pipeline:
    """Typed access to one deployed DealPipeline."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract: Contract = contract_at(chain, "DealPipeline", self.address, load_artifact("DealPipeline").abi)

    def open_deal(self, customer_id: int, owner: str, value_wei: int, sender: Sender) -> int:
        receipt = self.chain.transact(
            self.contract.functions.openDeal(customer_id, to_checksum_address(owner), value_wei), sender
        )
        (event,) = emitted_by(
            self.address, self.contract.events.DealOpened().process_receipt(receipt, errors=_discard())
        )
        return int(event["args"]["dealId"])

    def open_deal_in(self, customer_id: int, owner: str, value: int, currency: str | None, sender: Sender) -> int:
        """Open a deal valued in an allow-listed ERC-20 (`value` in its base units); None for ETH."""
        if currency is None:
            return self.open_deal(customer_id, owner, value, sender)
        fn = self.contract.functions.openDealIn(
            customer_id, to_checksum_address(owner), value, to_checksum_address(currency)
        )
        receipt = self.chain.transact(fn, sender)
        (event,) = emitted_by(
            self.address, self.contract.events.DealOpened().process_receipt(receipt, errors=_discard())
        )
        return int(event["args"]["dealId"])

    def move(self, deal_id: int, to: Stage, sender: Sender) -> TxReceipt:
        """Move a deal; moving to Won makes the contract issue the invoice in the same transaction."""
        return self.chain.transact(self.contract.functions.moveStage(deal_id, int(to)), sender)

    def mark_lost(self, deal_id: int, reason: LossReason, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.markLost(deal_id, int(reason)), sender)

    def reassign(self, deal_id: int, new_owner: str, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.reassign(deal_id, to_checksum_address(new_owner)), sender)

    def attach_document(
        self, deal_id: int, kind: DocumentKind, content_hash: bytes, cid_digest: bytes, sender: Sender
    ) -> TxReceipt:
        fn = self.contract.functions.attachDocument(deal_id, int(kind), content_hash, cid_digest)
        return self.chain.transact(fn, sender)

    def reissue_invoice(self, deal_id: int, sender: Sender) -> int:
        """Cancel a won deal's unpaid invoice and issue a new one to the current wallet (a manager)."""
        receipt = self.chain.transact(self.contract.functions.reissueInvoice(deal_id), sender)
        events = emitted_by(
            self.address, self.contract.events.DealInvoiced().process_receipt(receipt, errors=_discard())
        )
        return int(events[-1]["args"]["invoiceId"])

    # ------------------------------------------------------------------ offers (see contracts.offers)

    def accept_offer(
        self, offer: Offer, sender: Sender, *, deal_id: int = 0, value: int = 0, currency: str | None = None
    ) -> int:
        """Accept a signed offer from the customer's own wallet: with `deal_id` 0 it opens a deal
        (at Proposal, for `value` in `currency`, None for ETH); else it discounts that open deal.
        Returns the deal's id."""
        token = to_checksum_address(currency) if currency else ZERO_ADDRESS
        fn = self.contract.functions.acceptOffer(offer.as_tuple, offer.issuer, offer.signature, deal_id, value, token)
        receipt = self.chain.transact(fn, sender)
        (event,) = emitted_by(
            self.address, self.contract.events.OfferAccepted().process_receipt(receipt, errors=_discard())
        )
        return int(event["args"]["dealId"])

    def cancel_offer(self, nonce: int, sender: Sender) -> TxReceipt:
        """Withdraw every offer `sender` signed with `nonce`."""
        return self.chain.transact(self.contract.functions.cancelOffer(nonce), sender)

    def offer_digest(self, offer: Offer) -> bytes:
        return bytes(self.chain.call(self.contract.functions.offerDigest(offer.as_tuple)))

    def offer_uses(self, digest: bytes) -> int:
        return int(self.chain.call(self.contract.functions.offerUses(digest)))

    def offer_cancelled(self, issuer: str, nonce: int) -> bool:
        return bool(self.chain.call(self.contract.functions.offerCancelled(to_checksum_address(issuer), nonce)))

    def invoices_of(self, deal_id: int) -> list[int]:
        return [int(i) for i in self.chain.call(self.contract.functions.invoicesOf(deal_id))]

    def approval_threshold_wei(self) -> int:
        return int(self.chain.call(self.contract.functions.approvalThresholdWei()))

    def set_approval_threshold(self, threshold_wei: int, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.setApprovalThreshold(threshold_wei), sender)

    def deal(self, deal_id: int) -> Deal:
        return Deal.from_chain(deal_id, self.chain.call(self.contract.functions.dealOf(deal_id)))

    def deal_count(self) -> int:
        return int(self.chain.call(self.contract.functions.dealCount()))

    def deals(self) -> list[Deal]:
        """Every deal, read in JSON-RPC batches of `dealOf` calls at one block."""
        block = self.chain.block_number("latest")  # the count and the rows agree
        count = int(self.chain.call(self.contract.functions.dealCount(), block=block))
        ids = range(1, count + 1)
        rows = self.chain.call_many([self.contract.functions.dealOf(deal_id) for deal_id in ids], block=block)
        return [Deal.from_chain(deal_id, raw) for deal_id, raw in zip(ids, rows, strict=True)]

    def can_move(self, from_stage: Stage, to_stage: Stage) -> bool:
        return bool(self.chain.call(self.contract.functions.canMove(int(from_stage), int(to_stage))))

    def stage_changes(
        self, deal_id: int | None = None, from_block: int = 0, to_block: int | str = "latest"
    ) -> list[StageChange]:
        """Stage moves read from the chain's logs, in chain order (in block ranges the node
        accepts; a log from another address is dropped)."""
        filters = {"dealId": deal_id} if deal_id is not None else {}
        logs = self.chain.logs.events(
            self.contract.events.DealStageChanged, from_block=from_block, to_block=to_block, argument_filters=filters
        )
        return [
            StageChange(
                deal_id=int(log["args"]["dealId"]),
                from_stage=Stage(log["args"]["from"]),
                to_stage=Stage(log["args"]["to"]),
                actor=to_checksum_address(log["args"]["actor"]),
                at=int(log["args"]["at"]),
                block_number=int(log["blockNumber"]),
                tx_hash=log["transactionHash"].to_0x_hex(),
            )
            for log in logs
        ]


def _discard() -> object:
    """web3's "skip a log that does not decode" (imported where used: web3 is loaded by then)."""
    from web3.logs import DISCARD

    return DISCARD
