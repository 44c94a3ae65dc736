"""Notes, attachments and deal documents: content encrypted under the customer's key ring.

Real Anvil, real embedded Kubo node, real cryptography: no mocks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from eth_utils import keccak

from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm
from chaincrm.errors import PrivacyError
from chaincrm.models import DocumentKind, InteractionKind, Outcome, Purpose
from chaincrm.privacy import Attachment, CustomerProfile, InteractionContent
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.notes import CustomerNotes, documents_of
from chaincrm.storage import KuboStore, cid_to_digest
from chaincrm.storage.node import NodeHandle
from tests.sdk.conftest import Staff

NOTE = "No answer"


@pytest.fixture
def notes(crm: Crm, ipfs_node: NodeHandle, snapshot: None) -> Iterator[CustomerNotes]:
    with KuboStore(ipfs_node.api_addr) as store:
        yield CustomerNotes(crm, store)


def _customer(notes: CustomerNotes, staff: Staff) -> int:
    data: CustomerData = notes.customers
    customer_id = data.add(
        CustomerProfile(name="Ada Example"), wallet=staff.customer.address, purpose=Purpose.SALES, agent=staff.agent
    ).customer_id
    data.approve_wallet(customer_id, staff.customer.address, staff.manager)
    data.accept_wallet(customer_id, staff.customer)
    data.reseal(customer_id, staff.agent)
    return customer_id


def _log(notes: CustomerNotes, customer_id: int, staff: Staff, content: InteractionContent | None = None) -> bytes:
    stored = notes.log_interaction(
        customer_id, InteractionKind.CALL, Outcome.NO_ANSWER, content or InteractionContent(NOTE), staff.agent
    )
    return stored.digest


def test_a_note_is_read_back_by_the_customers_readers(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)
    digest = _log(notes, customer_id, staff)

    for reader in (staff.agent, staff.manager, staff.customer):
        assert notes.read_interaction(customer_id, digest, reader).note == NOTE


def test_staff_who_are_not_readers_cannot_read_a_note(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)
    digest = _log(notes, customer_id, staff)

    with pytest.raises(PrivacyError):
        notes.read_interaction(customer_id, digest, staff.agent2)


def test_the_on_chain_hash_cannot_be_recomputed_from_the_note(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)

    first = _log(notes, customer_id, staff)
    second = _log(notes, customer_id, staff)

    guesses = {keccak(text=NOTE), hashlib.sha256(NOTE.encode()).digest(), keccak(NOTE.encode() + b"\n")}
    assert first != second
    assert not {first, second} & guesses
    logged = {i.content_hash for i in notes.crm.registry.interactions(customer_id)}
    assert logged == {first, second}


def test_identical_notes_about_two_customers_cannot_be_linked(notes: CustomerNotes, staff: Staff) -> None:
    one = _customer(notes, staff)
    two = _customer(notes, staff)

    assert _log(notes, one, staff) != _log(notes, two, staff)


def test_attachments_travel_with_the_note(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)
    content = InteractionContent("see the scan", (Attachment("scan.pdf", b"%PDF-1.7 \x00\x01binary"),))

    digest = _log(notes, customer_id, staff, content)

    assert notes.read_interaction(customer_id, digest, staff.customer) == content


def test_a_reader_granted_later_reads_the_history(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)
    digest = _log(notes, customer_id, staff)

    notes.customers.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.manager)

    assert notes.read_interaction(customer_id, digest, staff.agent2).note == NOTE


def test_a_revoked_reader_cannot_read_what_is_written_after_the_revocation(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)
    notes.customers.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.manager)
    ring_before = notes.keyring(customer_id, staff.agent2)
    notes.customers.revoke(customer_id, staff.agent2.address, staff.manager)

    digest = _log(notes, customer_id, staff)

    from chaincrm.privacy import open_content
    from chaincrm.privacy.notes import INTERACTION
    from chaincrm.storage import digest_to_cid

    document = notes.store.get(digest_to_cid(digest))
    with pytest.raises(PrivacyError):
        open_content(document, keyring=ring_before, context=notes.context(customer_id, INTERACTION))


def test_an_agent_without_a_grant_stores_no_note(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)
    pins_before = notes.store.pins()

    with pytest.raises(revert_type("CallerWithoutAccess")):
        notes.log_interaction(customer_id, InteractionKind.CALL, Outcome.NONE, InteractionContent(NOTE), staff.agent2)

    assert notes.store.pins() == pins_before


def test_a_deal_document_is_encrypted_and_read_back(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)
    deal_id = notes.crm.pipeline.open_deal(customer_id, staff.agent.address, 10**17, staff.agent)

    stored = notes.attach_deal_document(deal_id, DocumentKind.PROPOSAL, b"Proposal: 12 seats", staff.agent)

    assert b"12 seats" not in notes.store.get(stored.cid)
    assert notes.read_deal_document(customer_id, stored.digest, staff.customer) == b"Proposal: 12 seats"


def test_every_document_of_a_customer_is_found_from_the_chain(notes: CustomerNotes, staff: Staff) -> None:
    customer_id = _customer(notes, staff)
    digest = _log(notes, customer_id, staff)
    deal_id = notes.crm.pipeline.open_deal(customer_id, staff.agent.address, 10**17, staff.agent)
    stored = notes.attach_deal_document(deal_id, DocumentKind.CONTRACT, b"contract", staff.agent)

    found = documents_of(notes.crm, customer_id)

    kinds = {kind for kind, _ in found}
    assert kinds == {"profile", "interaction", "deal-document"}
    digests = {cid_to_digest(cid) for _, cid in found}
    assert {digest, stored.digest} <= digests
    assert sum(kind == "profile" for kind, _ in found) == notes.crm.registry.customer(customer_id).profile_version
