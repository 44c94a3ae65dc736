"""`chaincrm batch status|flush|run`: the local queue of interactions logged `--batched`.

Records wait in ``<home>/state/interaction-queue.sqlite`` (one queue per chain, registry and
agent) until a batch of them is stored on IPFS and its Merkle root anchored on-chain: `flush`
anchors everything pending now, `run` keeps anchoring every N records or T seconds until stopped.
Either resumes, first, any batch a stopped or killed process left incomplete.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from chaincrm.cli.context import App, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, facts, hex32, table, when
from chaincrm.errors import KeystoreError

if TYPE_CHECKING:
    from chaincrm.batches import Batcher, InteractionQueue, LandedBatch

MAX_EVERY = 1000
DEFAULT_EVERY = 100  # as chaincrm.batches.DEFAULT_EVERY (not imported: start-up)
DEFAULT_WITHIN_SECONDS = 30.0
ADDRESS_HEX_CHARS = 40


@click.group(
    name="batch",
    help="Interactions logged --batched: the local queue, and anchoring its batches (Merkle roots) on-chain.",
)
def batch() -> None:
    pass


def author_of(app: App, keystore: str | None) -> str:
    """The queue's agent: the keystore's address, read without unlocking it."""
    from eth_utils import is_address, to_checksum_address

    if not keystore:
        raise KeystoreError("no agent: pass --keystore ADDRESS|PATH or set CHAINCRM_KEYSTORE")
    text = keystore.strip()
    if is_address(text) and len(text.removeprefix("0x")) == ADDRESS_HEX_CHARS:
        return str(to_checksum_address(text))
    path = Path(text).expanduser()
    try:
        recorded = json.loads(path.read_text()).get("address")
    except (OSError, ValueError, AttributeError):
        raise KeystoreError(f"keystore {text} cannot be read") from None
    if not isinstance(recorded, str) or not is_address("0x" + recorded.removeprefix("0x")):
        raise KeystoreError(f"keystore {text} records no address")
    return str(to_checksum_address("0x" + recorded.removeprefix("0x")))


def open_home_queue(app: App, author: str) -> InteractionQueue:
    from chaincrm.batches import open_queue

    return open_queue(app.crm, app.settings.state_dir, author)


def make_batcher(app: App, keystore: str | None, every: int, within: float) -> Batcher:
    from chaincrm.batches import Batcher

    agent = app.signer(keystore).account
    queue = open_home_queue(app, agent.address)
    crm = app.crm
    return Batcher(
        queue, crm.registry, app.store, agent, every=every, within=within, from_block=crm.deployment.block_number
    )


def every_option(func: Any) -> Any:
    return click.option(
        "--every",
        type=click.IntRange(1, MAX_EVERY),
        default=DEFAULT_EVERY,
        show_default=True,
        help=f"Records per batch (at most {MAX_EVERY}; the anchor costs the same for any size).",
    )(func)


def landed_fields(landed: LandedBatch) -> dict[str, Any]:
    return {
        "batch_id": landed.batch_id,
        "root": hex32(landed.root),
        "count": landed.count,
        "cid": landed.cid,
        "tx_hash": landed.tx_hash,
        "block_number": landed.block_number,
    }


def landed_line(landed: LandedBatch) -> str:
    return (
        f"anchored {landed.count} record(s) as root {hex32(landed.root)} in block {landed.block_number}, "
        f"tx {landed.tx_hash}; document {landed.cid}"
    )


@batch.command(help="What the queue holds: pending, batched and anchored records, and the latest batches.")
@keystore_option
@json_option
@pass_app
def status(app: App, keystore: str | None, as_json: bool) -> None:
    author = author_of(app, keystore)
    with open_home_queue(app, author) as queue:
        state = queue.status()
        recent = queue.anchored_batches(limit=10)
        open_batches = queue.open_batches()
    data = {
        "queue": str(queue.path),
        "author": author,
        "pending": state.pending,
        "batched": state.batched,
        "anchored": state.anchored,
        "open_batches": [
            {"batch_id": b.id, "root": hex32(b.root), "count": b.count, "state": b.state, "cid": b.cid}
            for b in open_batches
        ],
        "anchored_batches": state.anchored_batches,
        "oldest_pending_age_seconds": state.oldest_pending_age_seconds,
        "latest": [
            {"batch_id": b.id, "root": hex32(b.root), "count": b.count, "tx_hash": b.tx_hash, "block": b.block_number}
            for b in recent
        ],
    }

    def human(out: Console) -> None:
        age = state.oldest_pending_age_seconds
        out.print(
            facts(
                f"Interaction queue of {author}",
                {
                    "file": str(queue.path),
                    "pending": f"{state.pending:,}" + (f" (oldest {age:.0f} s)" if age is not None else ""),
                    "in batches not anchored yet": f"{state.batched:,} in {state.open_batches} batch(es)",
                    "anchored": f"{state.anchored:,} in {state.anchored_batches} batch(es)",
                },
            )
        )
        if recent:
            rows = [
                (b.id, hex32(b.root)[:18] + "…", b.count, b.block_number, b.tx_hash, when(b.created_at)) for b in recent
            ]
            out.print(table("Latest anchored batches", ("batch", "root", "records", "block", "tx", "formed"), rows))

    emit(data, as_json, human)


@batch.command(
    help="Anchor everything pending now, in batches of --every records (after resuming any batch a stopped "
    "process left incomplete). Needs the agent's keystore."
)
@every_option
@keystore_option
@json_option
@pass_app
def flush(app: App, every: int, keystore: str | None, as_json: bool) -> None:
    batcher = make_batcher(app, keystore, every, DEFAULT_WITHIN_SECONDS)
    with batcher.queue:
        landed = batcher.flush()
    rows = [landed_fields(item) for item in landed]
    if as_json:
        emit_line(rows, True, "")
        return
    for item in landed:
        click.echo(landed_line(item))
    if not landed:
        click.echo("nothing pending: no batch anchored")


@batch.command(
    help="Keep anchoring: a batch every --every records or when its oldest record has waited --within seconds, "
    "until interrupted (Ctrl-C, SIGTERM). One line per anchored batch (a JSON line each with --json)."
)
@every_option
@click.option(
    "--within",
    type=click.FloatRange(min=0.1, max=86_400),
    default=DEFAULT_WITHIN_SECONDS,
    show_default=True,
    help="Seconds a record waits at most before its batch is anchored.",
)
@keystore_option
@json_option
@pass_app
def run(app: App, every: int, within: float, keystore: str | None, as_json: bool) -> None:
    batcher = make_batcher(app, keystore, every, within)
    stop = threading.Event()

    def stopping(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, stopping)

    def report(landed: LandedBatch) -> None:
        click.echo(json.dumps(landed_fields(landed), sort_keys=True) if as_json else landed_line(landed))

    try:
        with batcher.queue:
            total = batcher.run(stop, on_landed=report)
    except KeyboardInterrupt:
        total = None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not as_json and total is not None:
        click.echo(f"stopped after anchoring {total} batch(es)", err=True)
