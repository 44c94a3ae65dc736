"""`chaincrm verify interaction|stage|payment|erasure`: check a record against any node.

Each command prints `yes: ...` with the block and transaction that record the claim and exits 0,
or `no: <reason>` and exits 1. The event must come from the deployment's contract, its
transaction must have succeeded and be in the canonical chain. The node is `--rpc-url` (any
node of the deployment's chain: your own, a public one), the contracts those in `--deployment`.

An interaction is recorded by the CID of its encrypted document (trust model v2), so it is named
by that CID or by its transaction; `--fetch` re-reads the document from the IPFS service and
`--keystore` (a reader) decrypts it. A note's plaintext cannot be hashed to check it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from hexbytes import HexBytes

from chaincrm.cli.context import ADDRESS, ETH_AMOUNT, ID, App, EnumChoice, F, json_option, pass_app
from chaincrm.cli.files import read_bytes
from chaincrm.cli.output import emit_line
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import load_record, record_for
from chaincrm.errors import StorageError
from chaincrm.models import Stage
from chaincrm.storage import DocumentStore, cid_to_digest, content_hash
from chaincrm.views.verify import UNIXFS_CHUNK_BYTES, Verdict, Verifier, document_digest

MAX_RECEIPT_BYTES = 1024 * 1024


class Hash32Type(click.ParamType):
    """32 bytes in hex with 0x: a transaction hash, a content hash, a receipt hash."""

    name = "hash"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bytes:
        if isinstance(value, bytes):
            return value
        text = str(value).strip()
        try:
            digest = bytes(HexBytes(text)) if text.startswith("0x") else b""
        except ValueError:
            digest = b""
        if len(digest) != 32:
            self.fail(f"{text!r} is not a 32-byte hash (0x and 64 hex digits)", param, ctx)
        return digest


class CidType(click.ParamType):
    """A CIDv0 (`Qm` and 44 base58 characters): the chain records the sha2-256 digest inside it."""

    name = "cid"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bytes:
        if isinstance(value, bytes):
            return value
        try:
            return cid_to_digest(str(value).strip())
        except StorageError as problem:
            self.fail(str(problem), param, ctx)


HASH32 = Hash32Type()
CID = CidType()
STAGE = EnumChoice(Stage, exclude=(Stage.NONE,))
MAX_DOCUMENT_FILE_BYTES = UNIXFS_CHUNK_BYTES  # a document hashed here is one Kubo chunk at most


def endpoint_options(func: F) -> F:
    """--rpc-url and --deployment: which node to ask, which contracts to trust."""
    func = click.option(
        "--deployment",
        "record",
        type=click.Path(path_type=Path, dir_okay=False),
        help="The deployment record naming the contracts [default: <home>/deployments/<chainid>.json].",
    )(func)
    return click.option(
        "--rpc-url", help="Any JSON-RPC node of the deployment's chain [default: chaincrm's --rpc-url]."
    )(func)


def tx_option(func: F) -> F:
    return click.option("--tx", "tx_hash", type=HASH32, help="The transaction that records it.")(func)


def _verifier(app: App, rpc_url: str | None, record: Path | None, *, store: DocumentStore | None = None) -> Verifier:
    chain = connect(rpc_url or app.settings.rpc_url)
    return Verifier(Crm.attach(chain, load_record(record or record_for(app.settings.home, chain))), store)


def _tx(tx_hash: bytes | None) -> str | None:
    return "0x" + tx_hash.hex() if tx_hash is not None else None


def _report(verdict: Verdict, as_json: bool) -> None:
    """Print the verdict; a no exits 1."""
    evidence = verdict.evidence
    data: dict[str, Any] = {"verified": verdict.verified, "claim": verdict.claim, "reason": verdict.reason}
    if evidence is not None:
        data |= {
            "event": evidence.event,
            "contract": evidence.contract,
            "tx_hash": evidence.tx_hash,
            "block_number": evidence.block_number,
            "block_hash": evidence.block_hash,
            "log_index": evidence.log_index,
            "confirmations": evidence.confirmations,
            "fields": dict(evidence.fields),
        }
        line = (
            f"yes: {verdict.reason}; {evidence.event} from {evidence.contract} in block {evidence.block_number} "
            f"({evidence.block_hash}), tx {evidence.tx_hash}, {evidence.confirmations} confirmation(s)"
        )
    else:
        line = f"no: {verdict.reason}"
    emit_line(data, as_json, line)
    if not verdict.verified:
        sys.exit(1)


@click.group(
    name="verify",
    help="Check a record against any node: yes (exit 0) with its block and transaction, or no (exit 1) and why.",
)
def verify_command() -> None:
    pass


@verify_command.command(
    help="An interaction with CUSTOMER: by the CID of its encrypted document (--cid, what the chain records), "
    "by --tx (and --position in a batch), or both. --fetch re-reads the document from the IPFS service "
    "(--ipfs-api) and checks it; --keystore (a reader: the customer, a manager, staff with a grant) also "
    "decrypts it. --document FILE names the interaction by a copy of its encrypted document. A record logged "
    "--batched is named by --record ID (its root from this home's queue, or --root), or proven with --root, "
    "--leaf and --proof-file: its batch is read from IPFS and the contract checks the proof."
)
@click.argument("customer_id", metavar="[CUSTOMER]", type=ID, required=False)
@click.option("--cid", "cid_digest", type=CID, help="The CID of its encrypted document (Qm...).")
@tx_option
@click.option("--position", type=click.IntRange(min=0), help="The record's index in a batch (from 0).")
@click.option("--customer", "customer_option", type=ID, hidden=True)
@click.option("--content-hash", type=HASH32, help="The digest the chain holds (the sha2-256 inside the CID), in hex.")
@click.option(
    "--document",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A copy of the encrypted document as stored (up to 256 KiB): its CID is computed here.",
)
@click.option("--content-file", type=click.Path(path_type=Path, dir_okay=False), hidden=True)
@click.option("--fetch", is_flag=True, help="Re-read the stored document from the IPFS service and check it.")
@click.option(
    "--keystore",
    metavar="ADDRESS|PATH",
    help="A reader's keystore: decrypt the re-read document as them (not read from CHAINCRM_KEYSTORE: "
    "verifying needs no key unless you ask).",
)
@click.option("--record", "batch_record", type=HASH32, help="A record logged --batched: its record id.")
@click.option("--root", "batch_root", type=HASH32, help="The anchored Merkle root of the record's batch.")
@click.option("--leaf", "batch_leaf", type=HASH32, help="The record's Merkle leaf (with --proof-file).")
@click.option(
    "--proof-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A Merkle proof: a JSON list of 32-byte hex nodes (or an object with proof, leaf, root).",
)
@endpoint_options
@json_option
@pass_app
def interaction(
    app: App,
    customer_id: int | None,
    cid_digest: bytes | None,
    tx_hash: bytes | None,
    position: int | None,
    customer_option: int | None,
    content_hash: bytes | None,
    document: Path | None,
    content_file: Path | None,
    fetch: bool,
    keystore: str | None,
    rpc_url: str | None,
    record: Path | None,
    as_json: bool,
    batch_record: bytes | None = None,
    batch_root: bytes | None = None,
    batch_leaf: bytes | None = None,
    proof_file: Path | None = None,
) -> None:
    if any(value is not None for value in (batch_record, batch_root, batch_leaf, proof_file)):
        from chaincrm.cli.verify_interaction import verify_batched

        single = (customer_id, cid_digest, tx_hash, position, customer_option, content_hash, document, content_file)
        if any(value is not None for value in single) or fetch or keystore:
            raise click.UsageError("a batched record is named by --record/--root/--leaf/--proof-file alone")
        verify_batched(
            app,
            record_id=batch_record,
            root=batch_root,
            leaf=batch_leaf,
            proof_file=proof_file,
            rpc_url=rpc_url,
            deployment=record,
            as_json=as_json,
        )
        return
    if content_file is not None:
        raise click.UsageError(
            "--content-file is gone: the chain records the CID of the encrypted document, not a hash of the note; "
            "give --cid (or --document with the encrypted copy), or --tx with --fetch --keystore to read it back"
        )
    if customer_id is not None and customer_option is not None and customer_id != customer_option:
        raise click.UsageError("give the customer once")
    customer_id = customer_id if customer_id is not None else customer_option
    named = [digest for digest in (cid_digest, content_hash, _document_digest(document)) if digest is not None]
    if len(named) > 1:
        raise click.UsageError("name the document once: --cid, --content-hash or --document")
    digest = named[0] if named else None
    if tx_hash is None and digest is None:
        raise click.UsageError("name the interaction: --cid (with CUSTOMER), --document, or --tx")
    if position is not None and tx_hash is None:
        raise click.UsageError("--position needs the batch's --tx")
    reader = app.signer(keystore).account if keystore else None
    store = app.store if fetch or reader is not None else None
    verifier = _verifier(app, rpc_url, record, store=store)
    verdict = verifier.interaction(
        tx_hash=_tx(tx_hash),
        position=position,
        customer_id=customer_id,
        content_hash=digest,
        fetch=fetch,
        reader=reader,
    )
    _report(verdict, as_json)


def _document_digest(path: Path | None) -> bytes | None:
    if path is None:
        return None
    digest = document_digest(read_bytes(path, "document", MAX_DOCUMENT_FILE_BYTES))
    if digest is None:  # read_bytes already refused a larger file
        raise click.UsageError(f"{path} is larger than one chunk: give its --cid")
    return digest


@verify_command.command(help="A stage change: --deal and --to, and/or the --tx that made it.")
@click.option("--deal", "deal_id", type=ID, help="The deal.")
@click.option("--to", "to_stage", type=STAGE, help="The stage it moved to.")
@tx_option
@endpoint_options
@json_option
@pass_app
def stage(
    app: App,
    deal_id: int | None,
    to_stage: Stage | None,
    tx_hash: bytes | None,
    rpc_url: str | None,
    record: Path | None,
    as_json: bool,
) -> None:
    if tx_hash is None and (deal_id is None or to_stage is None):
        raise click.UsageError("name the stage change: --deal and --to, or --tx")
    verifier = _verifier(app, rpc_url, record)
    _report(verifier.stage_change(deal_id=deal_id, to_stage=to_stage, tx_hash=_tx(tx_hash)), as_json)


@verify_command.command(help="An invoice payment: its InvoicePaid event, and the amount (--amount) if you give one.")
@click.argument("invoice_id", metavar="INVOICE", type=ID)
@click.option("--amount", "amount_wei", type=ETH_AMOUNT, help="What was paid: 1.5 (ETH), 20gwei, 100wei.")
@click.option("--payer", type=ADDRESS, help="Who paid.")
@tx_option
@endpoint_options
@json_option
@pass_app
def payment(
    app: App,
    invoice_id: int,
    amount_wei: int | None,
    payer: str | None,
    tx_hash: bytes | None,
    rpc_url: str | None,
    record: Path | None,
    as_json: bool,
) -> None:
    verifier = _verifier(app, rpc_url, record)
    _report(verifier.payment(invoice_id, amount_wei=amount_wei, payer=payer, tx_hash=_tx(tx_hash)), as_json)


@verify_command.command(
    help="An erasure receipt: keccak256 of the receipt file (or --receipt-hash) must be what the chain recorded. "
    "With the file, it must also be this customer's and list every document the chain ties to them (profile "
    "versions, interaction documents, deal documents); --check-store: none is still on the IPFS service."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--receipt", type=click.Path(path_type=Path, dir_okay=False), help="The erasure receipt file.")
@click.option("--receipt-hash", type=HASH32, help="Its keccak256, if you do not have the file.")
@click.option("--check-store", is_flag=True, help="Also check that no listed document is still stored (--ipfs-api).")
@tx_option
@endpoint_options
@json_option
@pass_app
def erasure(
    app: App,
    customer_id: int,
    receipt: Path | None,
    receipt_hash: bytes | None,
    check_store: bool,
    tx_hash: bytes | None,
    rpc_url: str | None,
    record: Path | None,
    as_json: bool,
) -> None:
    if (receipt is None) == (receipt_hash is None):
        raise click.UsageError("give exactly one of --receipt FILE and --receipt-hash")
    if check_store and receipt is None:
        raise click.UsageError("--check-store needs the --receipt file (it lists the documents)")
    receipt_bytes = read_bytes(receipt, "receipt", MAX_RECEIPT_BYTES) if receipt is not None else None
    if receipt_bytes is not None:
        receipt_hash = content_hash(receipt_bytes)
    assert receipt_hash is not None
    # A receipt lists the customer's documents, batched notes among them: reading which ones the
    # chain's batches hold needs the IPFS service (and --check-store asks it for each document).
    verifier = _verifier(app, rpc_url, record, store=app.store if receipt is not None else None)
    verdict = verifier.erasure(
        customer_id, receipt_hash, tx_hash=_tx(tx_hash), receipt=receipt_bytes, check_store=check_store
    )
    _report(verdict, as_json)
