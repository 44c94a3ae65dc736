"""`chaincrm customer grant|revoke|reseal|erase`: who may read a customer's profile, and its end.

A grant or a revocation and the profile version re-sealed for the new readers are one transaction.
When the chain's readers change without a new version (a role or a consent withdrawn), a reader
re-seals the stale version with `reseal`; `staff remove` does it for every customer its caller can
read. `erase` unpins every document and destroys the keys.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chaincrm.cli import Declined
from chaincrm.cli.context import ADDRESS, ID, App, json_option, keystore_option, pass_app
from chaincrm.cli.customer_refs import PURPOSE, print_ref, ref_fields
from chaincrm.cli.customer_wallets import DAY_SECONDS, check_sign_only, sign_only_options, write_signed
from chaincrm.cli.output import emit_line, hex32, purpose_with_basis, tracked, working
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.models import CustomerStatus, Purpose
from chaincrm.privacy.customers import ProfileRef

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


@click.command(
    help="Let a staff member read the profile for a purpose (a manager, or the customer's accepted wallet): "
    "the grant and the version re-sealed for them are one transaction. A consent purpose needs the consent."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.argument("staff", type=ADDRESS)
@click.option("--purpose", type=PURPOSE, default="sales", show_default=True, help="Why they may read it.")
@keystore_option
@json_option
@pass_app
def grant(app: App, customer_id: int, staff: str, purpose: Purpose, keystore: str | None, as_json: bool) -> None:
    granter = app.signer(keystore)
    with working("Sealing the profile for the new reader"):
        ref = app.customers.grant(customer_id, staff, purpose, granter.account)
    print_ref(f"shared with {staff} for {purpose_with_basis(purpose)}", ref, as_json)


@click.command(
    help="Take a staff member's grant away (a manager, or the customer's accepted wallet): the revocation and "
    "the version re-sealed without them under a new content key are one transaction. --sign-only (the "
    "customer's wallet) signs a RevokeAccess for anyone to relay instead (no ETH needed; a reader re-seals "
    "afterwards)."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.argument("staff", type=ADDRESS)
@sign_only_options("revocation")
@keystore_option
@json_option
@pass_app
def revoke(
    app: App,
    customer_id: int,
    staff: str,
    sign_only: bool,
    out: Path | None,
    valid_days: int,
    keystore: str | None,
    as_json: bool,
) -> None:
    check_sign_only(sign_only, out)
    revoker = app.signer(keystore)
    if sign_only:
        signed = app.customers.sign_access_revocation(customer_id, staff, revoker.account, valid_days * DAY_SECONDS)
        write_signed(signed.to_json(), out, f"Signed revocation for customer {customer_id}", as_json)
        return
    with working("Rotating the data key"):
        ref = app.customers.revoke(customer_id, staff, revoker.account)
    print_ref(f"no longer shared with {staff}", ref, as_json)


@click.command(
    help="Erase a customer (a manager, or the customer's accepted wallet): unpin every profile version, "
    "interaction and deal document, destroy the keys, record a receipt."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@keystore_option
@json_option
@pass_app
def erase(app: App, customer_id: int, yes: bool, keystore: str | None, as_json: bool) -> None:
    actor = app.signer(keystore)
    question = f"Erase customer {customer_id}? Their data can never be read again"
    if not yes and not click.confirm(question, err=True):
        raise Declined("nothing was erased")
    with working(f"Erasing customer {customer_id}"):
        erased = app.customers.erase(customer_id, actor.account)
    fields = {
        "customer_id": erased.customer_id,
        "receipt_cid": erased.receipt_cid,
        "receipt_hash": hex32(erased.receipt_hash),
        "unpinned": list(erased.unpinned),
        "unreadable_batches": list(erased.unreadable_batches),
        "tx_hash": erased.tx_hash,
    }
    line = (
        f"Customer {customer_id} erased: {len(erased.unpinned)} documents unpinned, "
        f"receipt {erased.receipt_cid} (keccak256 {fields['receipt_hash']}) recorded in {erased.tx_hash}"
    )
    if erased.unreadable_batches:
        line += (
            f"; {len(erased.unreadable_batches)} anchored batch document(s) could not be read "
            f"({erased.unreadable_batches[0]}...): notes they may name for this customer were not found here, "
            "and their keys are gone with the profile"
        )
    emit_line(fields, as_json, line)


@click.command(
    help="Re-seal a stale profile for the chain's current readers (a reader of the current version: a manager, "
    "staff with a grant, or the customer). --all-stale re-seals every stale customer you can read."
)
@click.argument("customer_id", metavar="[CUSTOMER]", type=ID, required=False)
@click.option("--all-stale", is_flag=True, help="Every customer whose current version is stale, instead of one.")
@keystore_option
@json_option
@pass_app
def reseal(app: App, customer_id: int | None, all_stale: bool, keystore: str | None, as_json: bool) -> None:
    if (customer_id is None) == (not all_stale):
        raise ConfigError("give a CUSTOMER or --all-stale (not both)")
    sealer = app.signer(keystore)
    if customer_id is not None:
        with working(f"Re-sealing customer {customer_id}"):
            ref = app.customers.reseal(customer_id, sealer.account)
        if ref is None:
            unchanged: dict[str, Any] = {"customer_id": customer_id, "resealed": None}
            emit_line(unchanged, as_json, f"Customer {customer_id} is not stale: its profile is sealed for its readers")
            return
        print_ref("re-sealed", ref, as_json)
        return
    outcome = reseal_stale(app, sealer.account)
    fields = {"resealed": [ref_fields(ref) for ref in outcome.resealed], "unreadable": outcome.unreadable}
    emit_line(fields, as_json, outcome.line(sealer.address))


@dataclasses.dataclass(frozen=True)
class ResealOutcome:
    resealed: list[ProfileRef]
    unreadable: list[int]  # stale customers the sealer cannot read

    def line(self, sealer: str) -> str:
        text = f"Re-sealed {len(self.resealed)} stale customer(s)"
        if self.resealed:
            text += f" ({', '.join(str(ref.customer_id) for ref in self.resealed)})"
        if self.unreadable:
            ids = " ".join(str(i) for i in self.unreadable)
            text += (
                f"; {len(self.unreadable)} stale customer(s) that {sealer} cannot read (customers {ids}): a manager "
                "re-seals them with `chaincrm customer reseal --all-stale`"
            )
        return text


def reseal_stale(app: App, sealer: LocalAccount) -> ResealOutcome:
    """Re-seal every active customer whose current version is stale and that `sealer` can read and
    write (is among the chain's readers); the others are reported, not attempted."""
    registry = app.crm.registry
    data = app.customers
    resealed: list[ProfileRef] = []
    unreadable: list[int] = []
    for customer_id in tracked(range(1, registry.customer_count() + 1), "Re-sealing stale customers"):
        if registry.status_of(customer_id) is not CustomerStatus.ACTIVE or not data.is_stale(customer_id):
            continue
        if sealer.address not in registry.readers_of(customer_id):
            unreadable.append(customer_id)
            continue
        try:
            ref = data.reseal(customer_id, sealer)
        except PrivacyError:
            unreadable.append(customer_id)
            continue
        if ref is not None:
            resealed.append(ref)
    return ResealOutcome(resealed, unreadable)


ACCESS_COMMANDS = (grant, revoke, reseal, erase)
