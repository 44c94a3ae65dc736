"""Customer data end to end: encrypted on IPFS, readable by key, erasable with proof.

Real Anvil, real embedded Kubo node, real cryptography: no mocks.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.errors import ChainCrmError, ConfigError, IntegrityError, PrivacyError, StorageError
from chaincrm.models import CustomerStatus, InteractionKind, Outcome, Purpose, Role
from chaincrm.privacy import CustomerProfile, InteractionContent, KeyRing, readers_hash, seal_profile
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.notes import CustomerNotes
from chaincrm.storage import KuboStore, digest_to_cid
from chaincrm.storage.node import NodeHandle
from tests.sdk.conftest import Staff

SECRET_NAME = "Quillon Zebrowski-Vantablack"
SECRET_EMAIL = "quillon.vantablack.7731@example.org"
SECRET_PHONE = "+351 987 650 431"
SECRET_NOTES = "allergic to marzipan-lemon-9Q7"
SECRETS = (SECRET_NAME, SECRET_EMAIL, SECRET_PHONE, SECRET_NOTES)


def _profile() -> CustomerProfile:
    return CustomerProfile(
        name=SECRET_NAME, email=SECRET_EMAIL, phone=SECRET_PHONE, address="1 Secret Way", notes=SECRET_NOTES
    )


@pytest.fixture
def data(crm: Crm, ipfs_node: NodeHandle, snapshot: None) -> Iterator[CustomerData]:
    with KuboStore(ipfs_node.api_addr) as store:
        yield CustomerData(crm, store)


def _add(data: CustomerData, staff: Staff) -> int:
    """A customer registered by `agent` whose wallet `customer` accepted, re-sealed for it."""
    customer_id = data.add(
        _profile(), wallet=staff.customer.address, purpose=Purpose.SALES, agent=staff.agent
    ).customer_id
    data.approve_wallet(customer_id, staff.customer.address, staff.manager)
    data.accept_wallet(customer_id, staff.customer)
    data.reseal(customer_id, staff.agent)
    return customer_id


def _add_unbound(data: CustomerData, staff: Staff, wallet: str | None = None) -> int:
    return data.add(_profile(), wallet=wallet, purpose=Purpose.SALES, agent=staff.agent).customer_id


def test_the_registering_agent_the_managers_and_the_accepted_wallet_can_read_the_profile(
    data: CustomerData, staff: Staff
) -> None:
    customer_id = _add(data, staff)

    for reader in (staff.agent, staff.manager, staff.customer):
        assert data.read(customer_id, reader) == _profile()


def test_a_proposed_wallet_reads_nothing_until_it_accepts(data: CustomerData, staff: Staff) -> None:
    customer_id = _add_unbound(data, staff, wallet=staff.customer.address)

    with pytest.raises(PrivacyError):
        data.read(customer_id, staff.customer)
    assert staff.customer.address not in data.readers(customer_id)
    assert data.crm.registry.customer(customer_id).pending_wallet == staff.customer.address


def test_a_proposed_wallet_has_none_of_the_customers_powers(data: CustomerData, staff: Staff) -> None:
    customer_id = _add_unbound(data, staff, wallet=staff.customer.address)

    with pytest.raises(revert_type("CallerNotCustomer")):
        data.crm.registry.set_consent(customer_id, Purpose.MARKETING, True, staff.customer)
    with pytest.raises(revert_type("CallerNotManagerOrCustomer")):
        data.erase(customer_id, staff.customer)
    assert data.crm.registry.customer(customer_id).wallet is None


def test_the_forged_consent_attack_fails(data: CustomerData, staff: Staff) -> None:
    """An agent registers a customer with a second wallet of his own and tries to act as them."""
    own_second_wallet = staff.stranger
    customer_id = _add_unbound(data, staff, wallet=own_second_wallet.address)

    with pytest.raises(revert_type("WalletNotApproved")):
        data.accept_wallet(customer_id, own_second_wallet)

    with pytest.raises(revert_type("CallerNotCustomer")):
        data.crm.registry.set_consent(customer_id, Purpose.MARKETING, True, own_second_wallet)
    with pytest.raises(ChainCrmError):
        data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, own_second_wallet)
    with pytest.raises(revert_type("CallerNotManagerOrCustomer")):
        data.erase(customer_id, own_second_wallet)

    assert not data.crm.registry.has_consent(customer_id, Purpose.MARKETING)
    assert data.crm.registry.status_of(customer_id) is CustomerStatus.ACTIVE


def test_a_wallet_with_no_ether_binds_itself_by_a_signature_staff_relay(data: CustomerData, staff: Staff) -> None:
    from eth_account import Account

    penniless = Account.create()
    customer_id = _add_unbound(data, staff, wallet=penniless.address)
    data.approve_wallet(customer_id, penniless.address, staff.manager)
    acceptance = data.sign_wallet_acceptance(customer_id, penniless)

    ref = data.relay_wallet_acceptance(acceptance, staff.agent)

    assert data.crm.chain.w3.eth.get_balance(penniless.address) == 0
    assert data.crm.registry.customer(customer_id).wallet == penniless.address
    assert ref is not None and penniless.address in ref.readers
    assert data.read(customer_id, penniless) == _profile()


def test_a_relayed_acceptance_cannot_be_replayed(data: CustomerData, staff: Staff) -> None:
    customer_id = _add_unbound(data, staff, wallet=staff.customer.address)
    data.approve_wallet(customer_id, staff.customer.address, staff.manager)
    acceptance = data.sign_wallet_acceptance(customer_id, staff.customer)
    data.relay_wallet_acceptance(acceptance, staff.agent)
    data.propose_wallet(customer_id, staff.customer2.address, staff.customer)
    data.accept_wallet(customer_id, staff.customer2)
    data.propose_wallet(customer_id, staff.customer.address, staff.customer2)

    with pytest.raises(revert_type("SignatureInvalid")):
        data.crm.registry.accept_wallet_by_sig(acceptance, staff.agent)

    assert data.crm.registry.customer(customer_id).wallet == staff.customer2.address


def test_staff_without_a_grant_cannot_read_the_profile(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    with pytest.raises(PrivacyError):
        data.read(customer_id, staff.agent2)


def test_a_grant_and_its_reseal_are_one_transaction(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    ref = data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.customer)

    assert data.read(customer_id, staff.agent2) == _profile()
    grant = data.crm.registry.access_of(customer_id, staff.agent2.address)
    assert grant.active and grant.purpose is Purpose.SUPPORT
    recorded = data.crm.registry.profile(customer_id, ref.version)
    assert recorded.readers_hash == readers_hash(ref.readers) == data.crm.registry.readers_hash_of(customer_id)


def test_a_manager_shares_a_customer_who_has_no_wallet(data: CustomerData, staff: Staff) -> None:
    customer_id = _add_unbound(data, staff)

    data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.manager)
    data.revoke(customer_id, staff.agent.address, staff.manager)

    assert data.read(customer_id, staff.agent2) == _profile()
    with pytest.raises(PrivacyError):
        data.read(customer_id, staff.agent)


def test_a_granter_who_cannot_read_the_profile_changes_nothing(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    with pytest.raises(PrivacyError):
        data.grant(customer_id, staff.auditor.address, Purpose.AUDIT, staff.agent2)

    assert not data.crm.registry.has_active_grant(customer_id, staff.auditor.address)
    assert data.crm.registry.customer(customer_id).profile_version == 2


def test_a_revocation_rotates_the_key_so_later_versions_are_unreadable_to_the_revoked(
    data: CustomerData, staff: Staff
) -> None:
    customer_id = _add(data, staff)
    data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.customer)
    before = data.vault(customer_id, staff.agent2).keyring

    data.revoke(customer_id, staff.agent2.address, staff.customer)

    with pytest.raises(PrivacyError):
        data.read(customer_id, staff.agent2)
    after = data.vault(customer_id, staff.agent).keyring
    assert after.current_epoch == before.current_epoch + 1
    assert not data.crm.registry.access_of(customer_id, staff.agent2.address).active


def test_readers_are_computed_from_the_chain_not_copied_from_the_last_version(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.manager)
    data.crm.registry.revoke_role(Role.AGENT, staff.agent2.address, staff.admin)
    assert data.is_stale(customer_id)

    ref = data.reseal(customer_id, staff.manager)

    assert ref is not None and staff.agent2.address not in ref.readers
    assert not data.is_stale(customer_id)
    data.update(customer_id, _profile(), staff.customer)
    assert staff.agent2.address not in data.readers(customer_id)


def test_a_version_sealed_for_other_readers_than_the_chain_recorded_is_not_trusted(
    data: CustomerData, staff: Staff
) -> None:
    """A granted agent with his own client seals a version for himself alone."""
    from chaincrm.storage import cid_to_digest, content_hash

    customer_id = _add(data, staff)
    version = data.crm.registry.customer(customer_id).profile_version + 1
    sealed = seal_profile(
        _profile(),
        readers={staff.agent.address: data.crm.registry.encryption_key_of(staff.agent.address) or b""},
        context=data.context(customer_id, version),
        keyring=KeyRing.fresh(),
    )
    cid = data.store.put(sealed.document)
    data.crm.registry.update_profile(
        customer_id,
        content_hash(sealed.document),
        cid_to_digest(cid),
        data.crm.registry.readers_hash_of(customer_id),
        staff.agent,
    )

    with pytest.raises(PrivacyError, match="readers other than"):
        data.read(customer_id, staff.agent)


def test_a_marketing_grant_needs_the_customers_consent(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    with pytest.raises(ConfigError, match="consent"):
        data.grant(customer_id, staff.agent2.address, Purpose.MARKETING, staff.manager)
    data.set_consent(customer_id, Purpose.MARKETING, True, staff.customer)
    data.grant(customer_id, staff.agent2.address, Purpose.MARKETING, staff.manager)

    assert data.read(customer_id, staff.agent2) == _profile()


def test_withdrawing_consent_deactivates_its_grants_and_reseals_without_them(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    data.set_consent(customer_id, Purpose.MARKETING, True, staff.customer)
    data.grant(customer_id, staff.agent2.address, Purpose.MARKETING, staff.manager)
    data.grant(customer_id, staff.auditor.address, Purpose.AUDIT, staff.manager)

    ref = data.set_consent(customer_id, Purpose.MARKETING, False, staff.customer)

    assert not data.crm.registry.has_active_grant(customer_id, staff.agent2.address)
    assert data.crm.registry.has_active_grant(customer_id, staff.auditor.address)
    assert ref is not None and staff.agent2.address not in ref.readers
    with pytest.raises(PrivacyError):
        data.read(customer_id, staff.agent2)
    assert data.read(customer_id, staff.auditor) == _profile()


def test_a_relayed_consent_change_needs_no_ether_from_the_customer(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    change = data.sign_consent_change(customer_id, Purpose.PROFILING, True, staff.customer)
    balance = data.crm.chain.w3.eth.get_balance(staff.customer.address)

    data.relay_consent_change(change, staff.agent)

    assert data.crm.registry.has_consent(customer_id, Purpose.PROFILING)
    assert data.crm.chain.w3.eth.get_balance(staff.customer.address) == balance


def test_an_update_is_a_new_version_for_the_same_readers(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    changed = CustomerProfile(name=SECRET_NAME, email="new.address@example.org")

    data.update(customer_id, changed, staff.customer)

    assert data.read(customer_id, staff.agent) == changed
    assert data.read(customer_id, staff.agent, version=2) == _profile()


def test_a_document_that_does_not_match_its_on_chain_hash_is_refused(data: CustomerData, staff: Staff) -> None:
    from chaincrm.storage import cid_to_digest

    customer_id = _add(data, staff)
    other_cid = data.store.put(b"not the profile")
    recorded = data.crm.registry.profile(customer_id, 2)
    data.crm.registry.update_profile(
        customer_id, recorded.content_hash, cid_to_digest(other_cid), recorded.readers_hash, staff.agent
    )

    with pytest.raises(IntegrityError):
        data.read(customer_id, staff.agent)


def test_erasure_destroys_every_document_tied_to_the_customer(
    data: CustomerData, staff: Staff, ipfs_node: NodeHandle
) -> None:
    from chaincrm.models import DocumentKind, Stage

    customer_id = _add(data, staff)
    notes = CustomerNotes(data.crm, data.store)
    note = notes.log_interaction(
        customer_id, InteractionKind.MEETING, Outcome.POSITIVE, InteractionContent(SECRET_NOTES), staff.agent
    )
    deal_id = data.crm.pipeline.open_deal(customer_id, staff.agent.address, 10**17, staff.agent)
    proposal = notes.attach_deal_document(
        deal_id, DocumentKind.PROPOSAL, b"proposal for " + SECRET_NAME.encode(), staff.agent
    )
    data.crm.pipeline.move(deal_id, Stage.QUALIFIED, staff.agent)
    documents = {note.cid, proposal.cid} | {
        digest_to_cid(data.crm.registry.profile(customer_id, v).cid_digest) for v in (1, 2)
    }
    stored = [data.store.get(cid) for cid in documents]

    erasure = data.erase(customer_id, staff.manager)

    assert set(erasure.unpinned) == documents
    receipt = data.store.get(erasure.receipt_cid).decode()
    for cid in documents:
        assert not data.store.has(cid)
        assert cid in receipt
    for path in Path(ipfs_node.repo_dir).rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert not any(document[:64] in blob for document in stored), path
    for reader in (staff.agent, staff.manager, staff.customer):
        with pytest.raises(PrivacyError):
            data.read(customer_id, reader)


def test_an_off_chain_payments_receipt_is_unpinned_by_the_customers_erasure_and_can_no_longer_be_read(
    data: CustomerData, staff: Staff
) -> None:
    from chaincrm.contracts.escrow import PaymentMethod
    from chaincrm.contracts.offchain import read_receipt, record_off_chain_payment
    from chaincrm.models import Stage

    customer_id = _add(data, staff)
    notes = CustomerNotes(data.crm, data.store)
    deal_id = data.crm.pipeline.open_deal(customer_id, staff.agent.address, 10**17, staff.agent)
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        data.crm.pipeline.move(deal_id, stage, staff.agent)
    invoice_id = data.crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    paid = record_off_chain_payment(
        notes, invoice_id, PaymentMethod.BANK, "TRF-" + SECRET_PHONE, "statement.pdf", b"%PDF statement", staff.manager
    )
    assert read_receipt(notes, invoice_id, staff.customer).data == b"%PDF statement"
    assert json.loads(data.store.get(digest_to_cid(paid.cid_digest)))["kind"] == "payment-receipt"

    erasure = data.erase(customer_id, staff.manager)

    assert paid.cid in {str(cid) for cid in erasure.unpinned}
    assert not data.store.has(digest_to_cid(paid.cid_digest))
    receipt = json.loads(data.store.get(erasure.receipt_cid))
    assert {"cid": paid.cid, "kind": "payment-receipt"} in receipt["documents"]
    for reader in (staff.manager, staff.customer):
        with pytest.raises(StorageError):
            read_receipt(notes, invoice_id, reader)


def test_erasure_clears_the_wallet_the_grants_and_the_consents_from_storage(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    data.set_consent(customer_id, Purpose.MARKETING, True, staff.customer)
    data.grant(customer_id, staff.agent2.address, Purpose.MARKETING, staff.manager)

    data.erase(customer_id, staff.customer)

    record = data.crm.registry.customer(customer_id)
    assert record.wallet is None and record.pending_wallet is None and record.consent_bits == 0
    assert data.crm.registry.grantees_of(customer_id) == []
    assert not data.crm.registry.has_active_grant(customer_id, staff.agent.address)


def test_the_erasure_receipt_on_chain_matches_the_receipt_document(data: CustomerData, staff: Staff) -> None:
    from eth_utils import keccak

    customer_id = _add(data, staff)

    erasure = data.erase(customer_id, staff.customer)

    (log,) = data.crm.registry.contract.events.CustomerErased().get_logs(
        from_block=0, argument_filters={"customerId": customer_id}
    )
    receipt = data.store.get(erasure.receipt_cid)
    assert bytes(log["args"]["receiptHash"]) == keccak(receipt) == erasure.receipt_hash
    assert not any(secret.encode() in receipt for secret in SECRETS)


def test_a_stranger_cannot_erase_and_nothing_is_destroyed(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    with pytest.raises(revert_type("CallerNotManagerOrCustomer")):
        data.erase(customer_id, staff.stranger)

    assert data.read(customer_id, staff.customer) == _profile()


def test_an_erased_customer_refuses_further_writes(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    data.erase(customer_id, staff.manager)

    with pytest.raises(revert_type("CustomerIsErased")):
        data.crm.registry.log_interaction(
            InteractionEntry(customer_id, InteractionKind.CALL, Outcome.NONE, b"\x01" * 32), staff.agent
        )
    with pytest.raises(revert_type("CustomerIsErased")):
        data.crm.pipeline.open_deal(customer_id, staff.agent.address, 10**17, staff.manager)
    with pytest.raises(ChainCrmError):
        data.update(customer_id, _profile(), staff.customer)


def test_an_agent_without_a_published_key_stores_nothing(data: CustomerData, staff: Staff, crm: Crm) -> None:
    crm.registry.grant_role(Role.AGENT, staff.stranger.address, staff.admin)
    pins_before = data.store.pins()

    with pytest.raises(ConfigError):
        data.add(_profile(), wallet=None, purpose=Purpose.SALES, agent=staff.stranger)

    assert data.store.pins() == pins_before


def test_a_purpose_that_needs_consent_cannot_be_the_registration_purpose(data: CustomerData, staff: Staff) -> None:
    pins_before = data.store.pins()

    with pytest.raises(ConfigError, match="consent"):
        data.add(_profile(), wallet=None, purpose=Purpose.MARKETING, agent=staff.agent)

    assert data.store.pins() == pins_before


# ---------------------------------------------------------------- the plaintext scan


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw.lower(), raw.hex().encode(), base64.b64encode(raw)]


def _contains_secret(blob: bytes) -> str | None:
    lowered = blob.lower()
    for secret in SECRETS:
        for form in _forms(secret):
            if form.lower() in lowered:
                return secret
    return None


def test_no_plaintext_appears_anywhere_the_system_wrote(
    data: CustomerData, staff: Staff, ipfs_node: NodeHandle, anvil_node, tmp_path: Path
) -> None:
    """Calldata, event logs, contract storage, every IPFS block, and the logs: no secret."""
    w3 = data.crm.chain.w3
    start = w3.eth.block_number
    customer_id = _add(data, staff)
    data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.customer)
    CustomerNotes(data.crm, data.store).log_interaction(
        customer_id,
        InteractionKind.MEETING,
        Outcome.POSITIVE,
        InteractionContent(f"{SECRET_NAME} said {SECRET_NOTES}"),
        staff.agent,
    )
    data.update(customer_id, CustomerProfile(name=SECRET_NAME, email=SECRET_EMAIL, notes=SECRET_NOTES), staff.agent)
    assert data.read(customer_id, staff.customer).name == SECRET_NAME  # the secrets really are in there
    assert _contains_secret(b"xx" + _profile().to_json() + b"yy") is not None  # and the detector sees plaintext

    scanned: dict[str, int] = {"transactions": 0, "logs": 0, "storage slots": 0, "ipfs files": 0, "log files": 0}
    for number in range(start, w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            assert _contains_secret(bytes(tx["input"])) is None
            scanned["transactions"] += 1
            for log in w3.eth.get_transaction_receipt(tx["hash"])["logs"]:
                assert _contains_secret(bytes(log["data"]) + b"".join(bytes(t) for t in log["topics"])) is None
                scanned["logs"] += 1
    dump = w3.provider.make_request("anvil_dumpState", [])["result"]  # type: ignore[arg-type]
    state = json.loads(gzip.decompress(bytes.fromhex(dump[2:])))
    for account in state["accounts"].values():
        for value in (account.get("storage") or {}).values():
            assert _contains_secret(bytes.fromhex(value[2:].rjust(64, "0"))) is None
            scanned["storage slots"] += 1
    for path in Path(ipfs_node.repo_dir).rglob("*"):
        if path.is_file():
            assert _contains_secret(path.read_bytes()) is None, path
            scanned["ipfs files"] += 1
    for path in (ipfs_node.log_file, Path(anvil_node.options.log_file or "")):
        if path.is_file():
            assert _contains_secret(path.read_bytes()) is None, path
            scanned["log files"] += 1

    assert all(count > 0 for count in scanned.values()), scanned
