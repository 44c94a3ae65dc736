"""`chaincrm verify interaction --record|--root|--leaf|--proof-file`: a record anchored in a batch.

- ``--record ID``: a record of this home's queue (its root from the queue), or of any batch with
  ``--root``: the batch document is read from IPFS by the anchored CID digest, checked against
  the anchor, and the record's proof taken from its tree;
- ``--root ROOT --leaf LEAF --proof-file FILE``: a proof you hold (a JSON list of hex nodes, or an
  object with ``proof`` and optionally ``leaf`` and ``root``).

Either way one log query finds the root's anchor, the proof is checked here and by the contract
(``verifyInteraction``), and the answer is `yes: ...` (exit 0) or `no: <one line why>` (exit 1),
as for every `verify` command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chaincrm.cli.context import App
from chaincrm.cli.files import read_bytes
from chaincrm.cli.output import emit_line, hex32

if TYPE_CHECKING:
    from chaincrm.batches.verify import Inclusion

MAX_PROOF_FILE_BYTES = 64 * 1024
HASH_HEX_CHARS = 64


def verify_batched(
    app: App,
    *,
    record_id: bytes | None,
    root: bytes | None,
    leaf: bytes | None,
    proof_file: Path | None,
    rpc_url: str | None,
    deployment: Path | None,
    as_json: bool,
) -> None:
    from chaincrm.batches.verify import Inclusion, check_proof, prove_record
    from chaincrm.contracts.client import Crm, connect
    from chaincrm.contracts.deployment import load_record, record_for

    if record_id is not None and (leaf is not None or proof_file is not None):
        raise click.UsageError("give --record, or --leaf with --proof-file, not both")
    if record_id is None and proof_file is None:
        raise click.UsageError("name the record: --record ID, or --root with --leaf and --proof-file")
    chain = connect(rpc_url or app.settings.rpc_url)
    crm = Crm.attach(chain, load_record(deployment or record_for(app.settings.home, chain)))
    since = crm.deployment.block_number
    if record_id is not None:
        if root is None:
            root, problem = _root_from_queue(app, crm, record_id)
            if root is None:
                _report(Inclusion(False, problem, b""), as_json)
                return
        verdict = prove_record(crm.registry, app.store, root, record_id, from_block=since)
    else:
        assert proof_file is not None
        file_root, file_leaf, proof = _proof_file(proof_file)
        root, leaf = _one(root, file_root, "--root"), _one(leaf, file_leaf, "--leaf")
        if root is None or leaf is None:
            raise click.UsageError("--proof-file needs --root and --leaf (or a file that names them)")
        verdict = check_proof(crm.registry, root, leaf, proof, from_block=since)
    _report(verdict, as_json)


def _root_from_queue(app: App, crm: Any, record_id: bytes) -> tuple[bytes | None, str]:
    """The anchored root of a record in this home's queue (whichever agent's it is)."""
    import sqlite3

    from chaincrm.batches import queue_path

    path = queue_path(app.settings.state_dir)
    unknown = f"record {hex32(record_id)} is not in this home's queue ({path}): give the batch's --root"
    if not path.is_file():
        return None, unknown
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT s.author FROM records r JOIN scopes s ON s.id = r.scope_id"
                " WHERE r.record_id = ? AND s.chain_id = ? AND s.registry = ?",
                (record_id, crm.chain.chain_id, crm.registry.address),
            ).fetchone()
    except sqlite3.Error as exc:
        return None, f"the queue {path} cannot be read ({exc})"
    if row is None:
        return None, unknown
    from chaincrm.batches import open_queue

    with open_queue(crm, app.settings.state_dir, row[0]) as queue:
        found = queue.record(record_id)
    if found.state != "anchored" or found.root is None:
        return None, f"record {hex32(record_id)} is {found.state}, not anchored yet (`chaincrm batch flush`)"
    return found.root, ""


def _proof_file(path: Path) -> tuple[bytes | None, bytes | None, list[bytes]]:
    raw = read_bytes(path, "proof file", MAX_PROOF_FILE_BYTES)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise click.BadParameter(f"{path} is not JSON", param_hint="'--proof-file'") from None
    if isinstance(data, list):
        data = {"proof": data}
    if not isinstance(data, dict) or not isinstance(data.get("proof"), list):
        raise click.BadParameter(
            f"{path}: expected a list of 32-byte hex nodes, or an object with a 'proof' list",
            param_hint="'--proof-file'",
        )
    proof = [_hash(node, f"proof[{i}]", path) for i, node in enumerate(data["proof"])]
    root = _hash(data["root"], "root", path) if data.get("root") is not None else None
    leaf = _hash(data["leaf"], "leaf", path) if data.get("leaf") is not None else None
    return root, leaf, proof


def _hash(value: Any, field: str, path: Path) -> bytes:
    text = value if isinstance(value, str) else ""
    if len(text) == 2 + HASH_HEX_CHARS and text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            pass
    raise click.BadParameter(
        f"{path}: {field} is not a 32-byte hex value (0x and 64 hex digits)", param_hint="'--proof-file'"
    )


def _one(given: bytes | None, in_file: bytes | None, option: str) -> bytes | None:
    if given is not None and in_file is not None and given != in_file:
        raise click.UsageError(f"{option} differs from the one in --proof-file")
    return given if given is not None else in_file


def _report(verdict: Inclusion, as_json: bool) -> None:
    anchor = verdict.anchor
    data: dict[str, Any] = {
        "verified": verdict.included,
        "claim": "interaction in an anchored batch",
        "reason": verdict.reason,
        "root": hex32(verdict.root) if verdict.root else None,
        "leaf": hex32(verdict.leaf) if verdict.leaf else None,
        "proof": [hex32(node) for node in verdict.proof],
        "cid": verdict.cid,
        "contract_agrees": verdict.contract_agrees,
    }
    if verdict.record is not None:
        data["record"] = {
            "record_id": hex32(verdict.record.record_id),
            "customer_id": verdict.record.customer_id,
            "kind": verdict.record.kind,
            "outcome": verdict.record.outcome,
            "content_hash": hex32(verdict.record.content_hash),
            "logged_at": verdict.logged_at,
        }
    if anchor is not None:
        data |= {
            "event": "InteractionBatchAnchored",
            "author": anchor.author,
            "count": anchor.count,
            "tx_hash": anchor.tx_hash,
            "block_number": anchor.block_number,
            "block_hash": anchor.block_hash,
            "log_index": anchor.log_index,
        }
    if verdict.included and anchor is not None:
        line = (
            f"yes: {verdict.reason}; anchored in block {anchor.block_number} ({anchor.block_hash}), tx {anchor.tx_hash}"
        )
    else:
        line = f"no: {verdict.reason}"
    emit_line(data, as_json, line)
    if not verdict.included:
        sys.exit(1)
