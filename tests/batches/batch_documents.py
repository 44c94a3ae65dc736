"""Batch documents made up for a test and anchored straight through the registry (not through the
Batcher): the index, chain-records and report tests build their batches with these."""

from __future__ import annotations

import os
from typing import Any

from eth_account.signers.local import LocalAccount

from chaincrm.batches.document import BatchDocument, build_document
from chaincrm.batches.tree import LeafValue
from chaincrm.contracts.client import Crm
from chaincrm.models import InteractionKind, Outcome
from chaincrm.storage import KuboStore, cid_to_digest

CREATED_AT = 1_700_000_000


def value(customer_id: int, *, record_id: bytes | None = None, kind: int = int(InteractionKind.CALL)) -> LeafValue:
    """A positive interaction of `customer_id` with a random record id (unless given) and content hash."""
    return LeafValue(record_id or os.urandom(32), customer_id, kind, int(Outcome.POSITIVE), os.urandom(32))


def document(crm: Crm, author: LocalAccount, values: list[LeafValue], *, seconds_apart: int = 1) -> BatchDocument:
    """A batch of `values` for `crm`'s deployment, logged `seconds_apart` one after the other."""
    return build_document(
        chain_id=crm.deployment.chain_id,
        registry=crm.deployment.registry,
        author=author.address,
        created_at=CREATED_AT,
        values=values,
        logged_at=[CREATED_AT + i * seconds_apart for i in range(len(values))],
    )


def anchor(crm: Crm, author: LocalAccount, root: bytes, digest: bytes, count: int) -> dict[str, Any]:
    """Anchor straight through the registry; the anchor's block, log index and block time."""
    fn = crm.registry.contract.functions.anchorInteractions(root, digest, count)
    receipt = crm.chain.transact(fn, author)
    block = crm.chain.w3.eth.get_block(receipt["blockNumber"])
    (log,) = receipt["logs"]
    return {"block": receipt["blockNumber"], "log": log["logIndex"], "at": int(block["timestamp"])}


def store_and_anchor(crm: Crm, store: KuboStore, author: LocalAccount, batch: BatchDocument) -> dict[str, Any]:
    """Put `batch` on `store` and anchor its root and CID; as `anchor`."""
    digest = cid_to_digest(store.put(batch.to_bytes()))
    return anchor(crm, author, batch.root, digest, batch.count)
