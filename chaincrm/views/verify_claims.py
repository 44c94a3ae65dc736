"""The claims on deals, money and erasure checked by :class:`~chaincrm.views.verify.Verifier`:
a deal reached a stage, an invoice was paid, a customer was erased with this receipt. Each finds
its event through :meth:`EventFinder._find` and then checks its own fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_utils import to_checksum_address

from chaincrm.errors import ConfigError
from chaincrm.models import Stage
from chaincrm.views.proof_documents import Refuted, receipt_documents
from chaincrm.views.verify_events import CanonicalReceipt, EventFinder, EventSource, Evidence, Verdict


class StageChangeClaim(EventFinder):
    """A deal moved to a stage on the deployment's pipeline."""

    def stage_change(
        self, *, deal_id: int | None = None, to_stage: Stage | None = None, tx_hash: str | None = None
    ) -> Verdict:
        """A deal moved to a stage: by deal and stage, by transaction, or both."""
        if tx_hash is None and (deal_id is None or to_stage is None):
            raise ConfigError("name the stage change: a deal and the stage it moved to, or a transaction hash")
        move = (f"deal {deal_id}" if deal_id is not None else "a deal") + (
            f" to {_stage(to_stage)}" if to_stage is not None else " to any stage"
        )
        claim = f"a stage change of {move}" + (f" in transaction {tx_hash}" if tx_hash else "")
        pipeline = self.crm.pipeline

        def wanted(args: Mapping[str, Any]) -> bool:
            return (deal_id is None or int(args["dealId"]) == deal_id) and (
                to_stage is None or Stage(args["to"]) == to_stage
            )

        def moved(receipt: CanonicalReceipt, decoded: list[Mapping[str, Any]]) -> str:
            seen = ", ".join(f"deal {a['dealId']} to {_stage(Stage(a['to']))}" for a in decoded)
            return f"transaction {receipt.tx_hash} moved {seen}, not {move}"

        def check() -> tuple[str, Evidence]:
            found = self._find(
                EventSource(pipeline, "pipeline"),
                "DealStageChanged",
                tx_hash=tx_hash,
                filters={"dealId": deal_id},
                wanted=wanted,
                none_recorded=f"deal {deal_id} never moved to {_stage(to_stage)} on the pipeline {pipeline.address}",
                none_in_tx=moved,
            )
            args = found.args
            fields = {
                "deal_id": int(args["dealId"]),
                "from": _stage(Stage(args["from"])),
                "to": _stage(Stage(args["to"])),
                "actor": to_checksum_address(args["actor"]),
                "at": int(args["at"]),
            }
            summary = f"deal {fields['deal_id']} moved {fields['from']} -> {fields['to']} by {fields['actor']}"
            return summary, self._evidence("DealStageChanged", found.receipt, found.log, fields)

        return self._verdict(claim, check)


class PaymentClaim(EventFinder):
    """An invoice was paid into the deployment's escrow."""

    def payment(
        self,
        invoice_id: int,
        *,
        amount_wei: int | None = None,
        payer: str | None = None,
        tx_hash: str | None = None,
    ) -> Verdict:
        """An invoice was paid into escrow (optionally: this amount, by this payer, in this transaction)."""
        claim = f"a payment of invoice {invoice_id}" + (f" of {amount_wei} wei" if amount_wei is not None else "")
        escrow = self.crm.escrow
        payer = to_checksum_address(payer) if payer else None

        def check() -> tuple[str, Evidence]:
            found = self._find(
                EventSource(escrow, "escrow"),
                "InvoicePaid",
                tx_hash=tx_hash,
                filters={"invoiceId": invoice_id},
                wanted=lambda args: int(args["invoiceId"]) == invoice_id,
                none_recorded=f"invoice {invoice_id} has no InvoicePaid event from the escrow {escrow.address}",
                none_in_tx=lambda receipt, _: (
                    f"transaction {receipt.tx_hash} pays no InvoicePaid for invoice {invoice_id}"
                ),
            )
            paid_wei = int(found.args["amount"])
            paid_by = to_checksum_address(found.args["payer"])
            where = f"(block {found.receipt.block_number}, tx {found.receipt.tx_hash})"
            if amount_wei is not None and paid_wei != amount_wei:
                raise Refuted(f"invoice {invoice_id} was paid {paid_wei} wei, not {amount_wei} wei {where}")
            if payer is not None and paid_by != payer:
                raise Refuted(f"invoice {invoice_id} was paid by {paid_by}, not {payer} {where}")
            fields = {
                "invoice_id": invoice_id,
                "amount_wei": str(paid_wei),
                "payer": paid_by,
                "at": int(found.args["at"]),
            }
            summary = f"invoice {invoice_id} was paid {paid_wei} wei into escrow by {paid_by}"
            return summary, self._evidence("InvoicePaid", found.receipt, found.log, fields)

        return self._verdict(claim, check)


class ErasureClaim(EventFinder):
    """A customer was erased on the deployment's registry with exactly this receipt."""

    def erasure(
        self,
        customer_id: int,
        receipt_hash: bytes,
        *,
        tx_hash: str | None = None,
        receipt: bytes | None = None,
        check_store: bool = False,
    ) -> Verdict:
        """A customer was erased and the chain recorded keccak256 of exactly this receipt. Given the
        `receipt` itself: it is this customer's and lists every document the chain ties to them;
        `check_store`: none of them is still stored on the IPFS service."""
        claim = f"the erasure of customer {customer_id} with receipt 0x{receipt_hash.hex()}"
        registry = self.crm.registry
        if check_store and (receipt is None or self.store is None):
            raise ConfigError("checking that the erased documents are gone needs the receipt and the IPFS service")

        def check() -> tuple[str, Evidence]:
            found = self._find(
                self._registry,
                "CustomerErased",
                tx_hash=tx_hash,
                filters={"customerId": customer_id},
                wanted=lambda args: int(args["customerId"]) == customer_id,
                none_recorded=(
                    f"customer {customer_id} has no CustomerErased event from the registry {registry.address}"
                ),
                none_in_tx=lambda mined, _: f"transaction {mined.tx_hash} does not erase customer {customer_id}",
            )
            mined = found.receipt
            recorded = bytes(found.args["receiptHash"])
            if recorded != receipt_hash:
                raise Refuted(
                    f"the receipt's keccak256 is 0x{receipt_hash.hex()}, the chain recorded 0x{recorded.hex()} "
                    f"for customer {customer_id} (block {mined.block_number}, tx {mined.tx_hash})"
                )
            fields: dict[str, Any] = {
                "customer_id": customer_id,
                "receipt_hash": "0x" + recorded.hex(),
                "actor": to_checksum_address(found.args["actor"]),
                "at": int(found.args["at"]),
            }
            summary = f"customer {customer_id} was erased by {fields['actor']} with this receipt"
            if receipt is not None:
                summary += receipt_documents(self.crm, self.store, customer_id, receipt, fields, check_store)
            return summary, self._evidence("CustomerErased", mined, found.log, fields)

        return self._verdict(claim, check)


def _stage(stage: Stage | None) -> str:
    return stage.label if stage is not None else "?"
