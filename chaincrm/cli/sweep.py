"""`chaincrm node sweep`: unpin the documents our IPFS node pins that nothing on-chain points to.

Registered on the `node` group by the root group's lazy loader (see
:data:`chaincrm.cli.commands.LAZY_SUBCOMMANDS`); this module imports only click at load time.
"""

from __future__ import annotations

import re
from typing import Any

import click

from chaincrm.cli.context import App, json_option, pass_app

GRACE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_GRACE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


class GraceType(click.ParamType):
    """A duration: a number of seconds, or with a unit: 90s, 30m, 24h, 7d."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        match = _GRACE_PATTERN.match(str(value))
        if match is None:
            self.fail(f"{value!r} is not a duration (seconds, or a number with s, m, h or d: 30m, 24h)", param, ctx)
        number, unit = match.groups()
        return float(number) * GRACE_UNITS[unit or "s"]


@click.command(
    name="sweep",
    help="Find the documents the IPFS node pins that nothing on-chain points to (a write that failed between "
    "storing its document and recording it) and unpin those seen unreferenced for longer than --grace: the first "
    "sweep that finds an orphan notes when (in <home>/state/orphans.json), a later one unpins it, so an upload "
    "whose transaction or batch is still on its way is kept. --grace 0 unpins at once: only when no writer runs. "
    "The node must serve this deployment alone.",
)
@click.option(
    "--grace",
    type=GraceType(),
    default="24h",
    show_default=True,
    help="How long a document must stay unreferenced before it is unpinned (seconds, or 30m, 24h, 7d).",
)
@click.option("--dry-run", is_flag=True, help="Report the orphans and unpin nothing (the grace clocks do not start).")
@json_option
@pass_app
def sweep_command(app: App, grace: float, dry_run: bool, as_json: bool) -> None:
    from chaincrm.cli.output import emit, working
    from chaincrm.storage.orphans import MARKS_FILE_NAME, sweep_orphans

    marks = app.settings.state_dir / MARKS_FILE_NAME
    with working("Reading what the chain points to"):
        result = sweep_orphans(app.crm, app.store, marks, grace_seconds=grace, dry_run=dry_run)
    fields = {
        "pinned": result.pinned,
        "referenced": result.referenced,
        "orphans": list(result.orphans),
        "unpinned": list(result.unpinned),
        "waiting": list(result.waiting),
        "grace_seconds": result.grace_seconds,
        "dry_run": result.dry_run,
    }

    def human(out: Any) -> None:
        out.print(
            f"{result.pinned} pinned, {result.referenced} pointed to on-chain, {len(result.orphans)} orphaned",
            markup=False,
        )
        verb = "would unpin" if dry_run else "unpinned"
        for cid in result.orphans:
            state = "kept (grace period)" if cid in result.waiting else verb
            out.print(f"  {cid}: {state}", markup=False)
        if dry_run and result.orphans:
            out.print("Dry run: nothing was unpinned", markup=False)

    emit(fields, as_json, human)
