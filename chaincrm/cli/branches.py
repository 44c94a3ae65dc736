"""`chaincrm branch create|list|manager|add-staff|remove-staff|assign-customer`: branches on chain.

A registry manager creates branches and names their managers; a branch's manager (or a registry
manager) brings staff in (the directory grants them the agent role) and takes them out (revokes
it), and assigns customers. BRANCH is a branch's name or its id. What the contract refuses comes
back as its named error (``NotBranchManager(branchId=1, caller=0x..)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from chaincrm.cli.context import ADDRESS, ID, App, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, table, tx_fields

if TYPE_CHECKING:
    from rich.console import Console

    from chaincrm.contracts.branches import Branch

UINT32_MAX = 2**32 - 1
NAME_BYTES = 32  # as chaincrm.contracts.branches.BRANCH_NAME_BYTES (not imported here: start-up)
NO_MANAGER = "none"


class BranchNameType(click.ParamType):
    """A new branch's name: a short visible-ASCII label (1-32 bytes), not only digits."""

    name = "name"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from chaincrm.contracts.branches import encode_branch_name
        from chaincrm.errors import ConfigError

        try:
            encode_branch_name(str(value))
        except ConfigError as problem:
            self.fail(str(problem), param, ctx)
        return str(value).strip()


class BranchRefType(click.ParamType):
    """A branch by name (a label of 1-32 bytes) or by id (1 to 2^32-1)."""

    name = "branch"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if text.isdigit():
            if not 1 <= int(text) <= UINT32_MAX:
                self.fail(f"branch id {text} is out of range (1 to {UINT32_MAX})", param, ctx)
            return text
        if not text or len(text.encode()) > NAME_BYTES or not text.isascii():
            self.fail(f"{text!r} is neither a branch id nor a branch name (ASCII, 1-{NAME_BYTES} bytes)", param, ctx)
        return text


class ManagerType(click.ParamType):
    """An address, or `none` to leave the branch without a manager."""

    name = "address|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str | None:
        if str(value).strip().lower() == NO_MANAGER:
            return None
        return str(ADDRESS.convert(value, param, ctx))


BRANCH_NAME = BranchNameType()
BRANCH = BranchRefType()
MANAGER = ManagerType()


@click.group(
    name="branch",
    help="Branches (offices, departments) on chain: their managers, staff and customers. A registry manager "
    "creates branches and names their managers; a branch manager brings staff in and out of their own branch "
    "only. BRANCH is a name or an id.",
)
def branch() -> None:
    pass


def _branch_fields(found: Branch) -> dict[str, Any]:
    return {"branch_id": found.branch_id, "name": found.name, "manager": found.manager}


@branch.command(help="Create a branch named NAME (a registry manager): a short ASCII label such as lisbon.")
@click.argument("name", type=BRANCH_NAME)
@keystore_option
@json_option
@pass_app
def create(app: App, name: str, keystore: str | None, as_json: bool) -> None:
    directory = app.crm.branches
    signer = app.signer(keystore)
    branch_id = directory.create_branch(name, signer.account)
    emit_line({"branch_id": branch_id, "name": name}, as_json, f"Created branch {name} (id {branch_id})")


@branch.command(name="list", help="Every branch: id, name and manager.")
@json_option
@pass_app
def list_branches(app: App, as_json: bool) -> None:
    rows = [_branch_fields(found) for found in app.crm.branches.branches()]

    def human(out: Console) -> None:
        if not rows:
            out.print("No branch yet: a manager creates one with `chaincrm branch create NAME`")
            return
        shown = [(row["branch_id"], row["name"], row["manager"] or "none") for row in rows]
        out.print(table("Branches", ("id", "name", "manager"), shown))

    emit(rows, as_json, human)


@branch.command(help="Make ADDRESS the manager of BRANCH (a registry manager); `none` removes the manager.")
@click.argument("branch_ref", metavar="BRANCH", type=BRANCH)
@click.argument("manager", metavar="ADDRESS|none", type=MANAGER)
@keystore_option
@json_option
@pass_app
def manager(app: App, branch_ref: str, manager: str | None, keystore: str | None, as_json: bool) -> None:
    directory = app.crm.branches
    found = directory.resolve(branch_ref)
    fields = _branch_fields(found) | {"manager": manager}
    who = manager or "no one"
    if found.manager == manager:
        emit_line(fields | {"changed": False}, as_json, f"Branch {found.name} is already managed by {who}")
        return
    receipt = directory.set_branch_manager(found.branch_id, manager, app.signer(keystore).account)
    line = f"Branch {found.name} is now managed by {who} (block {receipt['blockNumber']})"
    emit_line(fields | {"changed": True} | tx_fields(receipt), as_json, line)


@branch.command(
    name="add-staff",
    help="Bring ADDRESS into BRANCH; the directory grants it the agent role. The branch's manager (for an "
    "account in no branch and not yet an agent) or a registry manager.",
)
@click.argument("branch_ref", metavar="BRANCH", type=BRANCH)
@click.argument("address", type=ADDRESS)
@keystore_option
@json_option
@pass_app
def add_staff(app: App, branch_ref: str, address: str, keystore: str | None, as_json: bool) -> None:
    directory = app.crm.branches
    found = directory.resolve(branch_ref)
    fields: dict[str, Any] = {"branch_id": found.branch_id, "name": found.name, "address": address}
    if directory.branch_of(address) == found.branch_id:
        emit_line(fields | {"changed": False}, as_json, f"{address} is already staff of branch {found.name}")
        return
    receipt = directory.add_staff(found.branch_id, address, app.signer(keystore).account)
    line = f"{address} joined branch {found.name} as an agent (block {receipt['blockNumber']})"
    emit_line(fields | {"changed": True} | tx_fields(receipt), as_json, line)


@branch.command(
    name="remove-staff",
    help="Take ADDRESS out of BRANCH; the directory revokes its agent role. The branch's manager or a "
    "registry manager.",
)
@click.argument("branch_ref", metavar="BRANCH", type=BRANCH)
@click.argument("address", type=ADDRESS)
@keystore_option
@json_option
@pass_app
def remove_staff(app: App, branch_ref: str, address: str, keystore: str | None, as_json: bool) -> None:
    directory = app.crm.branches
    found = directory.resolve(branch_ref)
    receipt = directory.remove_staff(found.branch_id, address, app.signer(keystore).account)
    fields: dict[str, Any] = {"branch_id": found.branch_id, "name": found.name, "address": address, "changed": True}
    line = f"{address} left branch {found.name} and is no longer an agent (block {receipt['blockNumber']})"
    emit_line(fields | tx_fields(receipt), as_json, line)


@branch.command(
    name="assign-customer",
    help="Assign customer CUSTOMER (its id) to BRANCH: a registry manager, or the branch's manager for a "
    "customer in no branch yet.",
)
@click.argument("branch_ref", metavar="BRANCH", type=BRANCH)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@keystore_option
@json_option
@pass_app
def assign_customer(app: App, branch_ref: str, customer_id: int, keystore: str | None, as_json: bool) -> None:
    directory = app.crm.branches
    found = directory.resolve(branch_ref)
    fields: dict[str, Any] = {"branch_id": found.branch_id, "name": found.name, "customer_id": customer_id}
    if directory.customer_branch_of(customer_id) == found.branch_id:
        emit_line(fields | {"changed": False}, as_json, f"Customer {customer_id} is already in branch {found.name}")
        return
    receipt = directory.assign_customer(found.branch_id, customer_id, app.signer(keystore).account)
    line = f"Customer {customer_id} is now in branch {found.name} (block {receipt['blockNumber']})"
    emit_line(fields | {"changed": True} | tx_fields(receipt), as_json, line)
