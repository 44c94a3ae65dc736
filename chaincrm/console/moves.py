"""Moving a deal from the board: the staff member's unlocked keystore signs, through the SDK.

A move to an open stage or to Won is ``DealPipeline.moveStage`` (Won issues the invoice in the
same transaction); a move to Lost is ``markLost`` with a reason. The contract decides what is
allowed (one step at a time, owner or manager, the approval threshold for Won): a refusal is the
dry run's revert, decoded into its error's name and arguments (stages by name), and nothing is
sent. Moves are sent one at a time, each with the nonce the node counts (the staff member may also
send from the CLI with the same key).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from chaincrm.console.reads import BOARD_STAGES
from chaincrm.contracts.client import Crm
from chaincrm.errors import ContractRevert
from chaincrm.models import LossReason, Stage
from chaincrm.portal.reads import BadId, parse_id
from chaincrm.portal.security import Refusal

STAGES_BY_NAME = {stage.label: stage for stage in BOARD_STAGES}
REASONS_BY_NAME = {reason.label: reason for reason in LossReason}
STAGE_ARGUMENTS = frozenset({"from", "to", "stage"})  # DealPipeline errors' arguments that hold a Stage


class MoveRefused(Refusal):
    """A move refused before or by the contract: a JSON error code, a message, an HTTP status and,
    for a revert, {"name", "args"}."""


@dataclass(frozen=True)
class Move:
    deal_id: int
    stage: Stage
    reason: LossReason | None = None


def parse_move(deal_text: str, body: Any) -> Move:
    """The move a request asks for: the deal id from the URL, ``{"stage": name, "reason"?: name}``."""
    try:
        deal_id = parse_id(deal_text)
    except BadId:
        raise MoveRefused("invalid_id", f"not a deal id: {deal_text[:40]}", 400) from None
    if not isinstance(body, dict) or not set(body) <= {"stage", "reason"} or not isinstance(body.get("stage"), str):
        raise MoveRefused("invalid_request", 'the body must be {"stage": "qualified"} (and "reason" for lost)', 400)
    stage = STAGES_BY_NAME.get(body["stage"])
    if stage is None:
        raise MoveRefused("invalid_request", f"stage must be one of {', '.join(STAGES_BY_NAME)}", 400)
    reason_text = body.get("reason")
    if stage is Stage.LOST:
        reason = REASONS_BY_NAME.get(reason_text) if isinstance(reason_text, str) else None
        if reason is None:
            raise MoveRefused(
                "invalid_request", f"a lost deal needs a reason: one of {', '.join(REASONS_BY_NAME)}", 400
            )
        return Move(deal_id, stage, reason)
    if reason_text is not None:
        raise MoveRefused("invalid_request", "only a move to lost takes a reason", 400)
    return Move(deal_id, stage)


def revert_json(revert: ContractRevert) -> dict[str, Any]:
    """{"name", "args"}: arguments as text, hex for bytes, stages by name."""
    shown = {}
    for key, value in revert.args_by_name.items():
        if key in STAGE_ARGUMENTS and isinstance(value, int):
            shown[key] = Stage(value).label
        elif isinstance(value, bytes):
            shown[key] = "0x" + value.hex()
        else:
            shown[key] = str(value)
    return {"name": revert.name, "args": shown}


def revert_text(revert: dict[str, Any]) -> str:
    args = ", ".join(f"{key}={value}" for key, value in revert["args"].items())
    return f"{revert['name']}({args})"


class Mover:
    """Sends the board's moves as `staff`."""

    def __init__(self, crm: Crm, staff: LocalAccount) -> None:
        self.crm = crm
        self.staff = staff
        self._lock = threading.Lock()

    def move(self, move: Move) -> dict[str, Any]:
        """Send `move` and wait for its receipt (blocking); MoveRefused for a revert."""
        pipeline = self.crm.pipeline
        with self._lock:
            # The same key may have sent from elsewhere since (the CLI): the next nonce comes from the node.
            self.crm.chain.nonces.reset(self.staff.address)
            try:
                if move.stage is Stage.LOST:
                    assert move.reason is not None
                    receipt = pipeline.mark_lost(move.deal_id, move.reason, self.staff)
                else:
                    receipt = pipeline.move(move.deal_id, move.stage, self.staff)
            except ContractRevert as exc:
                revert = revert_json(exc)
                raise MoveRefused(
                    "contract_refused", f"the contract refused the move: {revert_text(revert)}", 409, revert
                ) from None
            deal = pipeline.deal(move.deal_id)
        return {
            "deal": {
                "id": deal.id,
                "stage": deal.stage.label,
                "owner": deal.owner,
                "value_wei": str(deal.value_wei),
                "invoice_id": deal.invoice_id,
            },
            "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
            "block_number": int(receipt["blockNumber"]),
            "gas_used": int(receipt["gasUsed"]),
        }


__all__ = ["Move", "MoveRefused", "Mover", "parse_move", "revert_json", "revert_text"]
