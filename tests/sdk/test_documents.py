"""The document store: CIDs and digests, integrity checks, and KuboStore on a real node."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincrm.errors import ConfigError, IntegrityError, StorageError
from chaincrm.storage import (
    MAX_DOCUMENT_BYTES,
    Cid,
    DocumentStore,
    KuboStore,
    cid_to_digest,
    content_hash,
    digest_to_cid,
    get_checked,
    parse_cid,
)
from tests.sdk.ipfs_fixtures import free_port

HELLO = b"hello world\n"
HELLO_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"  # what `ipfs add` gives
HELLO_DIGEST = "46d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e"
KECCAK_OF_EMPTY = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
CIDV1 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
CHUNK_BYTES = 256 * 1024


# --- CIDs, digests and hashes -----------------------------------------------------------------


def test_a_cidv0_gives_its_sha256_digest() -> None:
    digest = cid_to_digest(HELLO_CID)

    assert digest.hex() == HELLO_DIGEST


@given(st.binary(min_size=32, max_size=32))
def test_a_digest_and_its_cid_round_trip(digest: bytes) -> None:
    cid = digest_to_cid(digest)

    assert cid.startswith("Qm")
    assert cid_to_digest(cid) == digest


def test_a_cidv1_is_refused_as_a_digest_source() -> None:
    with pytest.raises(StorageError, match="not a CIDv0"):
        cid_to_digest(CIDV1)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Qm",
        HELLO_CID[:-1],
        HELLO_CID + "1",
        HELLO_CID[:-1] + "0",  # '0' is not base58
        "Qm" + "1" * 44,  # base58, but not a sha2-256 multihash
        "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA",
    ],
)
def test_malformed_cids_are_refused(text: str) -> None:
    with pytest.raises(StorageError):
        parse_cid(text)


def test_a_digest_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(StorageError, match="32 bytes, not 31"):
        digest_to_cid(bytes(31))


def test_content_hash_is_keccak256() -> None:
    assert content_hash(b"").hex() == KECCAK_OF_EMPTY


# --- KuboStore on the embedded node -----------------------------------------------------------


def test_kubo_store_is_a_document_store(document_store: KuboStore) -> None:
    assert isinstance(document_store, DocumentStore)


def test_the_cid_of_known_bytes_equals_kubos(document_store: KuboStore) -> None:
    cid = document_store.put(HELLO)

    assert cid == HELLO_CID


def test_a_document_is_read_back_unchanged(document_store: KuboStore) -> None:
    document = os.urandom(3 * CHUNK_BYTES + 17)  # several blocks under one root

    cid = document_store.put(document)

    assert document_store.get(cid) == document


def test_a_stored_document_is_pinned(document_store: KuboStore) -> None:
    cid = document_store.put(os.urandom(64))

    assert cid in document_store.pins()


def test_an_unpinned_document_is_removed_by_gc(document_store: KuboStore) -> None:
    cid = document_store.put(os.urandom(2 * CHUNK_BYTES))
    document_store.unpin(cid)

    removed = document_store.gc()

    assert removed >= 3  # its root and its two leaves
    assert not document_store.has(cid)


def test_a_pinned_document_survives_gc(document_store: KuboStore) -> None:
    document = os.urandom(2 * CHUNK_BYTES)
    cid = document_store.put(document)

    document_store.gc()

    assert document_store.get(cid) == document


def test_a_document_over_the_limit_is_refused(document_store: KuboStore) -> None:
    size = MAX_DOCUMENT_BYTES + 1

    with pytest.raises(StorageError) as refused:
        document_store.put(bytes(size))

    assert str(refused.value) == f"document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES}"


def test_a_stored_document_over_a_readers_limit_is_refused(document_store: KuboStore) -> None:
    cid = document_store.put(os.urandom(2048))

    with (
        KuboStore(document_store.api_addr, max_document_bytes=1024) as strict,
        pytest.raises(StorageError, match="larger than the limit of 1024 bytes"),
    ):
        strict.get(cid)


def test_reading_an_unknown_cid_is_a_storage_error(document_store: KuboStore) -> None:
    unknown = digest_to_cid(os.urandom(32))

    with pytest.raises(StorageError, match=f"document {unknown} is not stored"):
        document_store.get(unknown)


def test_an_unknown_cid_is_not_held(document_store: KuboStore) -> None:
    assert not document_store.has(digest_to_cid(os.urandom(32)))


def test_pinning_an_unknown_cid_is_a_storage_error(document_store: KuboStore) -> None:
    unknown = digest_to_cid(os.urandom(32))

    with pytest.raises(StorageError, match="is not stored"):
        document_store.pin(unknown)


def test_unpinning_a_document_that_is_not_pinned_is_allowed(document_store: KuboStore) -> None:
    cid = document_store.put(os.urandom(64))
    document_store.unpin(cid)

    document_store.unpin(cid)

    assert cid not in document_store.pins()


def test_a_stopped_service_gives_a_one_line_storage_error() -> None:
    address = f"/ip4/127.0.0.1/tcp/{free_port()}/http"

    with KuboStore(address, timeout_seconds=2) as store, pytest.raises(StorageError) as refused:
        store.put(HELLO)

    assert str(refused.value) == (f"IPFS service at {address} is not reachable: start it with `chaincrm node up`")


def test_an_invalid_api_address_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid IPFS API address"):
        KuboStore("localhost:5001")


# --- Integrity against the chain's hash -------------------------------------------------------


def test_a_document_read_back_with_its_recorded_hash_is_returned(
    document_store: KuboStore,
) -> None:
    document = os.urandom(100)
    cid = document_store.put(document)

    assert get_checked(document_store, cid, content_hash(document)) == document


def test_a_document_read_back_with_a_different_hash_is_refused(
    document_store: KuboStore,
) -> None:
    cid = document_store.put(os.urandom(100))
    recorded = content_hash(b"what the chain says was stored")

    with pytest.raises(IntegrityError, match=f"document {cid} does not match"):
        get_checked(document_store, cid, recorded)


def test_a_recorded_hash_of_the_wrong_length_is_an_integrity_error(
    document_store: KuboStore,
) -> None:
    with pytest.raises(IntegrityError, match="20 bytes, not 32"):
        get_checked(document_store, Cid(HELLO_CID), bytes(20))
