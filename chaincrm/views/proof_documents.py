"""The document checks of a claim: an interaction's document re-read from IPFS (and decrypted by a
reader), and an erasure receipt's content against the documents the chain ties to the customer."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from chaincrm.models import Interaction
from chaincrm.privacy.erasure import documents_of
from chaincrm.privacy.receipts import RECEIPT_FORMAT
from chaincrm.storage import Cid, DocumentStore, digest_to_cid
from chaincrm.views.document_digest import document_digest
from chaincrm.views.note_reader import NoteReader

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm


class Refuted(Exception):
    """A check failed: the claim does not hold, for the reason given."""


def reread_interaction(
    crm: Crm, store: DocumentStore, found: Interaction, fields: dict[str, Any], reader: LocalAccount | None
) -> str:
    """Fetch the interaction's document again and check it; the summary's tail, or refuted."""
    cid = digest_to_cid(found.content_hash)
    if not store.has(cid):
        raise Refuted(f"the document {cid} of the interaction is not stored on the IPFS service (erased?)")
    document = store.get(cid)
    digest = document_digest(document)
    if digest is not None and digest != found.content_hash:
        raise Refuted(
            f"the IPFS service answered {cid} with {len(document)} bytes whose CID is {digest_to_cid(digest)}"
        )
    fields["document_bytes"] = len(document)
    fields["document_rehashed"] = digest is not None
    tail = f"; its document is stored ({len(document)} bytes" + (", re-hashed)" if digest is not None else ")")
    if reader is None:
        return tail
    view = NoteReader(crm, store, reader).read(found)
    if view.content is None:
        raise Refuted(f"the document {cid} does not open as customer {found.customer_id}'s note: {view.unreadable}")
    fields["note"] = view.content.note
    fields["attachments"] = list(view.attachment_names)
    return tail + f" and decrypts for {reader.address} as a note with {len(view.attachment_names)} attachment(s)"


def receipt_documents(
    crm: Crm, store: DocumentStore | None, customer_id: int, receipt: bytes, fields: dict[str, Any], check_store: bool
) -> str:
    """Check the receipt's content against the chain; the summary's tail, or refuted."""
    try:
        parsed = json.loads(receipt)
        listed = {(str(item["kind"]), str(item["cid"])) for item in parsed["documents"]}
        format_, receipt_customer = parsed["format"], parsed["customer_id"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError):
        raise Refuted("the receipt matches the chain's hash but is not a chaincrm erasure receipt") from None
    if format_ != RECEIPT_FORMAT:
        raise Refuted(f"the receipt's format is {str(format_)[:40]!r}, not {RECEIPT_FORMAT}")
    if receipt_customer != customer_id:
        raise Refuted(f"the receipt is for customer {receipt_customer}, not {customer_id}")
    expected = {(kind, str(cid)) for kind, cid in documents_of(crm, customer_id, store)}
    missing = sorted(expected - listed)
    if missing:
        shown = ", ".join(f"{kind} {cid}" for kind, cid in missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise Refuted(
            f"the receipt leaves out {len(missing)} document(s) the chain ties to customer {customer_id}: {shown}"
        )
    counts = Counter(kind for kind, _ in listed)
    fields["documents"] = dict(sorted(counts.items()))
    tail = (
        f"; it lists all {len(listed)} of their documents ("
        + ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
        + ")"
    )
    if check_store:
        assert store is not None
        kept = sorted(cid for _, cid in expected if store.has(Cid(cid)))
        if kept:
            raise Refuted(f"{len(kept)} erased document(s) are still stored on the IPFS service: {kept[0]}")
        tail += ", none of them stored on the IPFS service any more"
    return tail
