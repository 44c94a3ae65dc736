"""The batch document: built, stored as JSON, read back whole, and checked against its anchor."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from chaincrm.batches.document import FORMAT, BatchDocument, build_document, parse_document
from chaincrm.batches.tree import LeafValue
from chaincrm.errors import BatchMismatch

REGISTRY = "0x" + "ab" * 20
AUTHOR = "0x" + "cd" * 20


def document(count: int = 5) -> BatchDocument:
    values = [LeafValue(os.urandom(32), 10 + i, 1, 2, os.urandom(32)) for i in range(count)]
    return build_document(
        chain_id=31337,
        registry=REGISTRY,
        author=AUTHOR,
        created_at=1_700_000_000,
        values=values,
        logged_at=[1_700_000_000 - i for i in range(count)],
    )


def tampered(batch: BatchDocument, change: Any) -> bytes:
    raw = json.loads(batch.to_bytes())
    change(raw)
    return json.dumps(raw).encode()


def test_a_document_reads_back_as_the_same_batch() -> None:
    batch = document()

    again = parse_document(batch.to_bytes())

    assert again == batch
    assert again.to_bytes() == batch.to_bytes()
    assert json.loads(batch.to_bytes())["format"] == FORMAT


def test_the_same_batch_gives_the_same_bytes() -> None:
    batch = document()

    assert parse_document(batch.to_bytes()).to_bytes() == batch.to_bytes()


def test_a_document_matches_its_anchor() -> None:
    batch = document()

    batch.check(root=batch.root, count=batch.count, chain_id=31337, registry=REGISTRY.upper(), author=AUTHOR)


@pytest.mark.parametrize(
    ("anchor", "says"),
    [
        ({"root": b"\x01" * 32}, "is not the anchored root"),
        ({"count": 6}, "the anchor says 6"),
        ({"chain_id": 1}, "not chain 1"),
        ({"registry": "0x" + "ef" * 20}, "registry"),
        ({"author": "0x" + "ef" * 20}, "author"),
    ],
)
def test_a_document_that_does_not_match_its_anchor_is_one_line(anchor: dict[str, Any], says: str) -> None:
    with pytest.raises(BatchMismatch) as refused:
        document().check(**anchor)

    assert says in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda raw: raw.update(root="0x" + "00" * 32), "root"),
        (lambda raw: raw.update(count=4), "count 4"),
        (lambda raw: raw.update(format="other/1"), "format"),
        (lambda raw: raw.update(chainId="31337"), "chainId"),
        (lambda raw: raw.update(author="nobody"), "author"),
        (lambda raw: raw["loggedAt"].pop(), "loggedAt"),
        (lambda raw: raw["tree"]["values"][0]["value"].__setitem__(1, "99"), "tree.tree"),
    ],
)
def test_a_document_that_is_not_whole_is_refused(change: Any, says: str) -> None:
    with pytest.raises(BatchMismatch) as refused:
        parse_document(tampered(document(), change))

    assert says in str(refused.value)


def test_bytes_that_are_not_json_are_refused() -> None:
    with pytest.raises(BatchMismatch, match="not JSON"):
        parse_document(b"\xff\x00 not json")
