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

from chaincrm.client import Crm
from chaincrm.customers import CustomerData, public_key64
from chaincrm.documents import KuboStore, digest_to_cid
from chaincrm.errors import ChainCrmError, ConfigError, IntegrityError, PrivacyError, StorageError
from chaincrm.ipfs_node import NodeHandle
from chaincrm.models import CustomerStatus, InteractionKind, Outcome, Purpose
from chaincrm.privacy import CustomerProfile
from chaincrm.registry import InteractionEntry
from chaincrm.reverts import revert_type
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


@pytest.fixture(scope="module")
def keyed(crm: Crm, staff: Staff) -> Crm:
    """Staff and the customer have published their encryption keys (their account keys)."""
    for account in (staff.agent, staff.agent2, staff.manager, staff.auditor, staff.customer):
        crm.registry.register_encryption_key(public_key64(account), account)
    return crm


@pytest.fixture
def data(keyed: Crm, ipfs_node: NodeHandle, snapshot: None) -> Iterator[CustomerData]:
    with KuboStore(ipfs_node.api_addr) as store:
        yield CustomerData(keyed, store)


def _add(data: CustomerData, staff: Staff) -> int:
    return data.add(_profile(), wallet=staff.customer.address, purpose=Purpose.SALES, agent=staff.agent).customer_id


def test_the_registering_agent_and_the_customer_can_read_the_profile(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    assert data.read(customer_id, staff.agent) == _profile()
    assert data.read(customer_id, staff.customer) == _profile()


def test_staff_without_a_grant_cannot_read_the_profile(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    with pytest.raises(PrivacyError):
        data.read(customer_id, staff.agent2)


def test_a_grant_lets_staff_read_and_is_recorded_on_chain_with_its_purpose(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    ref = data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.customer)

    assert data.read(customer_id, staff.agent2) == _profile()
    assert ref.version == 2
    grant = data.crm.registry.access_of(customer_id, staff.agent2.address)
    assert grant.active and grant.purpose is Purpose.SUPPORT


def test_a_granter_who_cannot_read_the_profile_changes_nothing(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)

    with pytest.raises(PrivacyError):
        data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.manager)

    assert not data.crm.registry.access_of(customer_id, staff.agent2.address).active
    assert data.crm.registry.customer(customer_id).profile_version == 1


def test_a_revocation_rotates_the_key_so_later_versions_are_unreadable_to_the_revoked(
    data: CustomerData, staff: Staff
) -> None:
    customer_id = _add(data, staff)
    data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.customer)

    data.revoke(customer_id, staff.agent2.address, staff.customer)

    with pytest.raises(PrivacyError):
        data.read(customer_id, staff.agent2)
    assert data.read(customer_id, staff.agent) == _profile()
    assert not data.crm.registry.access_of(customer_id, staff.agent2.address).active


def test_an_update_is_a_new_version_for_the_same_readers(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    changed = CustomerProfile(name=SECRET_NAME, email="new.address@example.org")

    data.update(customer_id, changed, staff.customer)

    assert data.read(customer_id, staff.agent) == changed
    assert data.read(customer_id, staff.agent, version=1) == _profile()


def test_a_document_that_does_not_match_its_on_chain_hash_is_refused(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    other_cid = data.store.put(b"not the profile")
    recorded = data.crm.registry.profile(customer_id, 1)
    from chaincrm.documents import cid_to_digest

    data.crm.registry.update_profile(customer_id, recorded.content_hash, cid_to_digest(other_cid), staff.agent)

    with pytest.raises(IntegrityError):
        data.read(customer_id, staff.agent)


def test_after_erasure_nobody_can_decrypt_staff_included(data: CustomerData, staff: Staff) -> None:
    customer_id = _add(data, staff)
    data.grant(customer_id, staff.agent2.address, Purpose.SUPPORT, staff.customer)
    cids = [digest_to_cid(data.crm.registry.profile(customer_id, v).cid_digest) for v in (1, 2)]

    erasure = data.erase(customer_id, staff.manager)

    assert data.crm.registry.status_of(customer_id) is CustomerStatus.ERASED
    for cid in cids:
        assert not data.store.has(cid)
        with pytest.raises(StorageError):
            data.store.get(cid)
    for reader in (staff.agent, staff.agent2, staff.customer):
        with pytest.raises(PrivacyError):
            data.read(customer_id, reader)
    assert set(erasure.unpinned) == set(cids)


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
    with pytest.raises(ChainCrmError):
        data.update(customer_id, _profile(), staff.customer)


def test_an_agent_without_a_published_key_stores_nothing(data: CustomerData, staff: Staff, crm: Crm) -> None:
    from chaincrm.models import Role

    crm.registry.grant_role(Role.AGENT, staff.stranger.address, staff.admin)
    pins_before = data.store.pins()

    with pytest.raises(ConfigError):
        data.add(_profile(), wallet=None, purpose=Purpose.SALES, agent=staff.stranger)

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
    data.crm.registry.log_interaction(
        InteractionEntry(customer_id, InteractionKind.MEETING, Outcome.POSITIVE, b"\x02" * 32), staff.agent
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


def test_an_attachment_is_encrypted_for_the_profile_readers_and_checked_against_its_hash(
    data: CustomerData, staff: Staff
) -> None:
    from chaincrm.documents import content_hash

    customer_id = _add(data, staff)
    notes = f"Meeting with {SECRET_NAME}: {SECRET_NOTES}".encode()

    sealed = data.seal_attachment(customer_id, notes, staff.agent)
    cid = data.store.put(sealed)

    assert _contains_secret(sealed) is None
    assert data.open_attachment(customer_id, cid, content_hash(sealed), staff.customer) == notes
    with pytest.raises(PrivacyError):
        data.open_attachment(customer_id, cid, content_hash(sealed), staff.agent2)
    with pytest.raises(IntegrityError):
        data.open_attachment(customer_id, cid, b"\x00" * 32, staff.agent)
