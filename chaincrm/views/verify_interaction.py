"""The claim "an interaction was logged", checked by :class:`~chaincrm.views.verify.Verifier`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaincrm.chain import event_topic
from chaincrm.contracts.anchors import ANCHOR_EVENT
from chaincrm.contracts.registry import interactions_of_log
from chaincrm.errors import ConfigError
from chaincrm.models import Interaction
from chaincrm.storage import digest_to_cid
from chaincrm.views.proof_documents import Refuted, reread_interaction
from chaincrm.views.verify_events import CanonicalReceipt, EventFinder, Evidence, Verdict

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm

_INTERACTION_EVENTS = ("InteractionLogged", "InteractionsLogged")


class InteractionClaim(EventFinder):
    """An interaction was logged: found by transaction (and position), or by its document."""

    def interaction(
        self,
        *,
        tx_hash: str | None = None,
        position: int | None = None,
        customer_id: int | None = None,
        content_hash: bytes | None = None,
        fetch: bool = False,
        reader: LocalAccount | None = None,
    ) -> Verdict:
        """An interaction was logged: by transaction (and position in a batch), by its document's
        digest (`content_hash`, the digest inside its CID), or both. `fetch` re-reads the document
        from the store and checks it; a `reader` also decrypts it."""
        claim = _interaction_claim(tx_hash, position, customer_id, content_hash)
        if tx_hash is None and content_hash is None:
            raise ConfigError("name the interaction: a transaction hash, or its document's CID (and customer)")
        if position is not None and tx_hash is None:
            raise ConfigError("a position in a batch needs the batch's transaction hash")
        if (fetch or reader is not None) and self.store is None:
            raise ConfigError("re-reading an interaction's document needs the IPFS service")

        def check() -> tuple[str, Evidence]:
            if tx_hash is None:
                assert content_hash is not None
                found = self._interaction_by_content(customer_id, content_hash)
                receipt = self._receipt(found.tx_hash)
            else:
                receipt = self._receipt(tx_hash)
                found = self._interaction_in(receipt, position, customer_id, content_hash)
            log = next(log for log in receipt.logs if int(log["logIndex"]) == found.log_index)
            self._require_from(log, self._registry)
            fields: dict[str, Any] = {
                "customer_id": found.customer_id,
                "kind": found.kind.label,
                "outcome": found.outcome.label,
                "author": found.author,
                "content_hash": "0x" + found.content_hash.hex(),
                "cid": str(digest_to_cid(found.content_hash)),
                "at": found.at,
                "position": found.position,
            }
            event = _event_name(self.crm, log)
            summary = (
                f"a {found.kind.label} with customer {found.customer_id} "
                f"({found.outcome.label.replace('_', ' ')}) by {found.author}, document {fields['cid']}"
            )
            if fetch or reader is not None:
                assert self.store is not None
                summary += reread_interaction(self.crm, self.store, found, fields, reader)
            return summary, self._evidence(event, receipt, log, fields)

        return self._verdict(claim, check)

    def _interaction_by_content(self, customer_id: int | None, content_hash: bytes) -> Interaction:
        """The latest interaction with the document: logged singly or packed, or (with the IPFS
        service) anchored in a batch and counted by the index's rules."""
        registry = self.crm.registry
        found = [
            i
            for i in registry.interactions(customer_id, from_block=self.logs.from_block)
            if i.content_hash == content_hash
        ]
        unread = ""
        if self.store is not None:
            from chaincrm.batches.chain_records import chain_batches

            batches = chain_batches(self.crm, self.store, from_block=self.logs.from_block, customer_id=customer_id)
            found += [i for i in batches.interactions() if i.content_hash == content_hash]
            found.sort(key=lambda i: (i.block_number, i.log_index, i.position))
            if batches.unavailable:
                unread = f" ({len(batches.unavailable)} anchored batch document(s) could not be read)"
        elif not found and registry.anchors(from_block=self.logs.from_block):
            unread = " (records anchored in batches are searched only with the IPFS service: --fetch)"
        if not found:
            whose = f"with customer {customer_id} " if customer_id is not None else ""
            raise Refuted(
                f"no interaction {whose}has document {digest_to_cid(content_hash)} on the registry "
                f"{registry.address}{unread}"
            )
        return found[-1]

    def _interaction_in(
        self, receipt: CanonicalReceipt, position: int | None, customer_id: int | None, content_hash: bytes | None
    ) -> Interaction:
        events = self.crm.registry.contract.events
        ours = self._events_in(receipt, self._registry, _INTERACTION_EVENTS, named="interaction", verb="logged")
        records: list[Interaction] = []
        for log in ours:
            event = events.InteractionsLogged if _is_batch(self.crm, log) else events.InteractionLogged
            decoded = event().process_log(log)
            records.extend(interactions_of_log(decoded["event"], decoded["args"], log))
        if position is not None:
            at_position = [r for r in records if r.position == position]
            if not at_position:
                raise Refuted(
                    f"transaction {receipt.tx_hash} logged {len(records)} interaction(s): "
                    f"there is no position {position}"
                )
            records = at_position
        candidates = records
        if customer_id is not None:
            candidates = [r for r in candidates if r.customer_id == customer_id]
            if not candidates:
                seen = sorted({r.customer_id for r in records})
                raise Refuted(
                    f"the interaction(s) in transaction {receipt.tx_hash} are with customer(s) "
                    f"{', '.join(map(str, seen))}, not {customer_id}"
                )
        if content_hash is not None:
            matching = [r for r in candidates if r.content_hash == content_hash]
            if not matching:
                recorded = (
                    f"has document {digest_to_cid(candidates[0].content_hash)}"
                    if len(candidates) == 1
                    else "has no record with that document"
                )
                raise Refuted(
                    f"the interaction in transaction {receipt.tx_hash} {recorded}, not {digest_to_cid(content_hash)}"
                )
            candidates = matching
        if len(candidates) > 1:
            raise ConfigError(
                f"transaction {receipt.tx_hash} logged {len(candidates)} interactions: "
                "name one with a position, a customer or its document's CID"
            )
        return candidates[0]


def _event_name(crm: Crm, log: Any) -> str:
    topic = bytes(log["topics"][0])
    for name in (*_INTERACTION_EVENTS, ANCHOR_EVENT):
        if topic == event_topic(crm.registry.contract, name):
            return name
    return "InteractionLogged"


def _is_batch(crm: Crm, log: Any) -> bool:
    return bytes(log["topics"][0]) == event_topic(crm.registry.contract, "InteractionsLogged")


def _interaction_claim(
    tx_hash: str | None, position: int | None, customer_id: int | None, content_hash: bytes | None
) -> str:
    parts = ["an interaction"]
    if customer_id is not None:
        parts.append(f"with customer {customer_id}")
    if content_hash is not None:
        parts.append(f"with document {digest_to_cid(content_hash)}")
    if tx_hash is not None:
        parts.append(f"in transaction {tx_hash}" + (f" at position {position}" if position is not None else ""))
    return " ".join(parts)
