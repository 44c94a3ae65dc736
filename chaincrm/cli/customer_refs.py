"""How the customer commands report a profile version: its fields for --json, its one-line summary,
and the hint that a reader must re-seal it when the chain's readers changed without a new version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaincrm.cli.context import EnumChoice
from chaincrm.cli.output import emit_line
from chaincrm.models import Purpose

if TYPE_CHECKING:
    from chaincrm.privacy.customers import ProfileRef

PURPOSE = EnumChoice(Purpose)


def ref_fields(ref: ProfileRef) -> dict[str, Any]:
    return {
        "customer_id": ref.customer_id,
        "profile_version": ref.version,
        "cid": ref.cid,
        "readers": list(ref.readers),
    }


def ref_line(verb: str, ref: ProfileRef) -> str:
    return (
        f"Customer {ref.customer_id} {verb}: profile version {ref.version}, document {ref.cid}, "
        f"readable by {', '.join(ref.readers)}"
    )


def print_ref(verb: str, ref: ProfileRef, as_json: bool) -> None:
    emit_line(ref_fields(ref), as_json, ref_line(verb, ref))


def resealed_fields(ref: ProfileRef | None) -> dict[str, Any] | None:
    return ref_fields(ref) if ref else None


def reseal_hint(customer_id: int, ref: ProfileRef | None, stale: bool) -> str:
    if ref is not None:
        return f"; re-sealed as profile version {ref.version} for {', '.join(ref.readers)}"
    if stale:
        return (
            f"; the profile is now sealed for other readers than the chain's: a reader (a manager, or staff "
            f"with a grant) re-seals it with `chaincrm customer reseal {customer_id}`"
        )
    return ""


def accept_wallet_command(customer_id: int, wallet: str) -> str:
    """The command a proposed wallet runs to bind itself to the customer."""
    return f"`chaincrm customer accept-wallet {customer_id} --keystore {wallet}`"
