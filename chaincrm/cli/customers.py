"""`chaincrm customer ...`: encrypted profiles, wallets, access, consent and erasure (trust model v2).

Profiles are sealed before they leave this process; only hashes reach the chain. The readers of a
profile are computed by the registry (the accepted wallet, the managers, staff with an active
grant), and every version records the hash of the readers it was sealed for. When the chain's
readers change without a new version (a wallet accepted, a role or a consent withdrawn), the
current version is *stale* and a reader re-seals it (`customer reseal`).

A wallet given to `customer add` or `customer propose-wallet` is only proposed: it gets a
customer's powers (reading, consent, grants, erasure) once it accepts, by its own transaction or
by a signed acceptance that anyone relays (so the customer needs no ETH).

Every command that changes something asks the contract first (the SDK dry-runs the call), so a
caller without the right role or access changes nothing, on the chain or on IPFS.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from chaincrm.cli import Declined
from chaincrm.cli.context import (
    ADDRESS,
    ID,
    App,
    EnumChoice,
    F,
    enum_name,
    json_option,
    keystore_option,
    pass_app,
)
from chaincrm.cli.files import read_bytes, read_json_object
from chaincrm.cli.output import (
    emit,
    emit_line,
    facts,
    hex32,
    purpose_with_basis,
    table,
    tracked,
    tx_fields,
    when,
    working,
)
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.models import CONSENT_PURPOSES, Customer, CustomerStatus, Purpose
from chaincrm.privacy import CustomerProfile
from chaincrm.privacy.customers import ProfileRef
from chaincrm.views.timeline import customer_timeline

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from chaincrm.chain.keystores import LocalSigner

PROFILE_FIELDS = tuple(field.name for field in dataclasses.fields(CustomerProfile))
PURPOSE = EnumChoice(Purpose)
CONSENT_NAMES = ", ".join(enum_name(purpose) for purpose in CONSENT_PURPOSES)
SIGNED_FILE_LIMIT_BYTES = 64 * 1024
DAY_SECONDS = 24 * 3600
DEFAULT_SIGNATURE_DAYS = 7


def profile_options(func: F) -> F:
    """--name --email --phone --address --notes and --from-json FILE (options win over the file)."""
    func = click.option(
        "--from-json",
        type=click.Path(path_type=Path, dir_okay=False),
        help=f"A JSON object with any of the fields {', '.join(PROFILE_FIELDS)}.",
    )(func)
    for name in reversed(PROFILE_FIELDS):
        func = click.option(f"--{name}", help=f"The customer's {name}.")(func)
    return func


def signature_days_option(func: F) -> F:
    return click.option(
        "--valid-days",
        type=click.IntRange(1, 365),
        default=DEFAULT_SIGNATURE_DAYS,
        show_default=True,
        help="How long the signature may be relayed.",
    )(func)


def profile_fields(from_json: Path | None, options: dict[str, str | None]) -> dict[str, str]:
    fields: dict[str, Any] = read_json_object(from_json, "profile file") if from_json else {}
    unknown = sorted(set(fields) - set(PROFILE_FIELDS))
    if unknown:
        raise ConfigError(f"profile file {from_json} has unknown fields: {', '.join(unknown)}")
    fields.update({name: value for name, value in options.items() if value is not None})
    return fields


def ref_fields(ref: ProfileRef) -> dict[str, Any]:
    return {
        "customer_id": ref.customer_id,
        "profile_version": ref.version,
        "cid": ref.cid,
        "readers": list(ref.readers),
    }


def _ref_line(verb: str, ref: ProfileRef) -> str:
    return (
        f"Customer {ref.customer_id} {verb}: profile version {ref.version}, document {ref.cid}, "
        f"readable by {', '.join(ref.readers)}"
    )


def _print_ref(verb: str, ref: ProfileRef, as_json: bool) -> None:
    emit_line(ref_fields(ref), as_json, _ref_line(verb, ref))


def _resealed_fields(ref: ProfileRef | None) -> dict[str, Any] | None:
    return ref_fields(ref) if ref else None


def _reseal_hint(customer_id: int, ref: ProfileRef | None, stale: bool) -> str:
    if ref is not None:
        return f"; re-sealed as profile version {ref.version} for {', '.join(ref.readers)}"
    if stale:
        return (
            f"; the profile is now sealed for other readers than the chain's: a reader (a manager, or staff "
            f"with a grant) re-seals it with `chaincrm customer reseal {customer_id}`"
        )
    return ""


def _consent_purpose(purpose: Purpose) -> Purpose:
    """Only the consent purposes have a consent to give or withdraw; the rest rest on another basis."""
    if not purpose.needs_consent:
        raise ConfigError(
            f"purpose {enum_name(purpose)} rests on {enum_name(purpose.basis).replace('-', ' ')}, not consent: "
            f"there is no consent to give or withdraw (consent purposes: {CONSENT_NAMES})"
        )
    return purpose


def _read_signed(path: Path) -> tuple[str, str]:
    """(message type, text) of a signed message file written by `sign-wallet-acceptance` or `consent --sign-only`."""
    import json

    raw = read_bytes(path, "signed message", SIGNED_FILE_LIMIT_BYTES)
    try:
        text = raw.decode()
        kind = json.loads(text).get("type")
    except (UnicodeDecodeError, ValueError, AttributeError):
        raise ConfigError(f"signed message {path} is not a JSON object") from None
    if kind not in ("AcceptWallet", "SetConsent"):
        raise ConfigError(f"signed message {path} is neither an AcceptWallet nor a SetConsent message")
    return str(kind), text


def _reseal_if_reader(app: App, customer_id: int, signer: LocalSigner) -> ProfileRef | None:
    """Re-seal a stale profile when `signer` is among the chain's readers and can open the current
    version; None when it is not stale or `signer` cannot (a reader does it later)."""
    if signer.address not in app.crm.registry.readers_of(customer_id):
        return None
    try:
        return app.customers.reseal(customer_id, signer.account)
    except PrivacyError:
        return None


def _write_signed(text: str, out: Path | None, what: str, as_json: bool) -> None:
    if out is None:
        click.echo(text)
        return
    if out.exists():
        raise ConfigError(f"{out} already exists: choose another --out")
    try:
        out.write_text(text + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write {out} ({exc.strerror})") from None
    emit_line({"written_to": str(out)}, as_json, f"{what} written to {out}: hand it to staff to relay")


@click.group(
    name="customer",
    help="Customers: encrypted profiles on IPFS, hashes on the chain, wallets that accept, access and consent.",
)
def customer() -> None:
    pass


# ------------------------------------------------------------------ profile


@customer.command(
    help="Register a customer (an agent), the profile sealed for you and the managers. --wallet only PROPOSES "
    "the customer's wallet: it reads, consents and grants once it accepts (`customer accept-wallet`, or "
    "`customer sign-wallet-acceptance` for staff to relay)."
)
@profile_options
@click.option(
    "--wallet",
    type=ADDRESS,
    help="The customer's own wallet, proposed: it has no power until it accepts. Never a staff account.",
)
@click.option(
    "--purpose",
    type=PURPOSE,
    default="sales",
    show_default=True,
    help="Why you hold the data (a purpose that needs no consent).",
)
@keystore_option
@json_option
@pass_app
def add(
    app: App,
    from_json: Path | None,
    wallet: str | None,
    purpose: Purpose,
    keystore: str | None,
    as_json: bool,
    **options: str | None,
) -> None:
    fields = profile_fields(from_json, options)
    if "name" not in fields:
        raise ConfigError('a customer needs a name: --name, or "name" in --from-json')
    profile = CustomerProfile(**fields)
    agent = app.signer(keystore)
    with working("Sealing the profile and registering the customer"):
        ref = app.customers.add(profile, wallet=wallet, purpose=purpose, agent=agent.account)
    line = _ref_line("added", ref)
    if wallet:
        line += (
            f"; wallet {wallet} PROPOSED, not bound: a manager approves it (`chaincrm customer approve-wallet "
            f"{ref.customer_id} {wallet}`), then it accepts with `chaincrm customer accept-wallet "
            f"{ref.customer_id} --keystore {wallet}` (or signs `customer sign-wallet-acceptance` for staff to relay)"
        )
    emit_line(ref_fields(ref) | {"proposed_wallet": wallet}, as_json, line)


@customer.command(
    help="A customer's public on-chain record (wallet, pending wallet, profile versions, readers, grants, "
    "consents) and, when --keystore can read it, the decrypted profile. A keystore that cannot read it still "
    "gets the public record, with the reason."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--version", "version", type=ID, help="An earlier profile version [default: the latest].")
@keystore_option
@json_option
@pass_app
def show(app: App, customer_id: int, version: int | None, keystore: str | None, as_json: bool) -> None:
    crm = app.crm
    record = crm.registry.customer(customer_id)
    if version is not None and not 1 <= version <= record.profile_version:
        raise ConfigError(f"customer {customer_id} has profile versions 1 to {record.profile_version}")
    public = _public_record(app, record)
    profile: CustomerProfile | None = None
    problem: str | None = None
    if record.status is not CustomerStatus.ACTIVE:
        problem = "erased: its data keys no longer exist"
    elif not keystore:
        problem = "not decrypted: pass --keystore with a reader's keystore"
    else:
        reader = app.signer(keystore)
        try:
            profile = app.customers.read(customer_id, reader.account, version)
        except PrivacyError as exc:
            problem = f"not readable by {reader.address} ({exc})"
    fields = public | {
        "profile": dataclasses.asdict(profile) if profile else None,
        "profile_problem": problem,
    }

    def human(out: Console) -> None:
        rows: dict[str, Any] = (
            {name: getattr(profile, name) for name in PROFILE_FIELDS} if profile else {"profile": problem}
        )
        current = public["profile_version"]
        rows |= {
            "status": public["status"],
            "wallet": public["wallet"] or "none",
            "pending wallet": public["pending_wallet"] or "none",
            "registered": when(record.registered_at),
            "profile version": f"{current} (stale: run `chaincrm customer reseal {customer_id}`)"
            if public["stale"]
            else current,
            "readers (chain)": ", ".join(public["readers"]) or "none",
            "consent": ", ".join(name for name, given in public["consent"].items() if given) or "none",
        }
        out.print(facts(f"Customer {customer_id}", rows))
        grants = [
            (g["staff"], g["purpose_with_basis"], "active" if g["active"] else "inactive", when(g["since"]))
            for g in public["grants"]
        ]
        out.print(table("Grants", ("staff", "purpose (basis)", "state", "since"), grants))
        versions = [(v["version"], v["cid"], v["readers_hash"][:18] + "…") for v in public["versions"]]
        out.print(table("Profile versions", ("version", "document", "readers hash"), versions))

    emit(fields, as_json, human)


def _public_record(app: App, record: Customer) -> dict[str, Any]:
    """What the chain says about a customer, readable by anyone: no keystore needed."""
    from chaincrm.storage import digest_to_cid

    crm = app.crm
    registry = crm.registry
    customer_id = record.id
    versions = [registry.profile(customer_id, number) for number in range(1, record.profile_version + 1)]
    active = record.status is CustomerStatus.ACTIVE
    readers = list(registry.readers_of(customer_id)) if active else []
    stale = bool(active and versions and versions[-1].readers_hash != registry.readers_hash_of(customer_id))
    grants = registry.grants_of(customer_id, from_block=crm.deployment.block_number)
    return {
        "customer_id": customer_id,
        "status": enum_name(record.status),
        "wallet": record.wallet,
        "pending_wallet": record.pending_wallet,
        "registered_at": record.registered_at,
        "profile_version": record.profile_version,
        "stale": stale,
        "readers": readers,
        "versions": [
            {
                "version": v.version,
                "content_hash": hex32(v.content_hash),
                "cid": str(digest_to_cid(v.cid_digest)),
                "readers_hash": hex32(v.readers_hash),
            }
            for v in versions
        ],
        "grants": [
            {
                "staff": grant.staff,
                "purpose": enum_name(grant.purpose) if grant.purpose else None,
                "purpose_with_basis": purpose_with_basis(grant.purpose) if grant.purpose else "",
                "active": grant.active,
                "since": grant.since,
            }
            for grant in grants
        ],
        "consent": {enum_name(purpose): record.consents_to(purpose) for purpose in CONSENT_PURPOSES},
    }


@customer.command(name="list", help="Every customer's public record: status, wallet, pending wallet, version, stale.")
@click.option("--stale", "only_stale", is_flag=True, help="Only customers whose current version needs a re-seal.")
@json_option
@pass_app
def list_customers(app: App, only_stale: bool, as_json: bool) -> None:
    registry = app.crm.registry
    rows: list[dict[str, Any]] = []
    for customer_id in tracked(range(1, registry.customer_count() + 1), "Reading customers"):
        record = registry.customer(customer_id)
        stale = record.status is CustomerStatus.ACTIVE and app.customers.is_stale(customer_id)
        if only_stale and not stale:
            continue
        rows.append(
            {
                "customer_id": customer_id,
                "status": enum_name(record.status),
                "wallet": record.wallet,
                "pending_wallet": record.pending_wallet,
                "profile_version": record.profile_version,
                "stale": stale,
                "consent": [enum_name(purpose) for purpose in record.consents],
                "registered_at": record.registered_at,
            }
        )

    def human(out: Console) -> None:
        shown = [
            (
                r["customer_id"],
                r["status"],
                r["wallet"],
                r["pending_wallet"],
                r["profile_version"],
                "yes" if r["stale"] else "",
                ", ".join(r["consent"]),
                when(r["registered_at"]),
            )
            for r in rows
        ]
        columns = ("customer", "status", "wallet", "pending wallet", "version", "stale", "consent", "registered")
        out.print(table("Customers", columns, shown))

    emit(rows, as_json, human)


@customer.command(help="Change profile fields (the others are kept): a new version for the chain's readers.")
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@profile_options
@keystore_option
@json_option
@pass_app
def update(
    app: App, customer_id: int, from_json: Path | None, keystore: str | None, as_json: bool, **options: str | None
) -> None:
    changes = profile_fields(from_json, options)
    if not changes:
        raise ConfigError("nothing to update: give --name, --email, --phone, --address, --notes or --from-json")
    editor = app.signer(keystore)
    data = app.customers
    try:
        current = data.read(customer_id, editor.account)
    except PrivacyError as exc:
        raise PrivacyError(f"{editor.address} cannot read customer {customer_id}'s profile ({exc})") from None
    profile = dataclasses.replace(current, **changes)
    with working("Sealing the new profile version"):
        ref = data.update(customer_id, profile, editor.account)
    _print_ref("updated", ref, as_json)


@customer.command(
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
        _print_ref("re-sealed", ref, as_json)
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


# ------------------------------------------------------------------ access


@customer.command(
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
    _print_ref(f"shared with {staff} for {purpose_with_basis(purpose)}", ref, as_json)


@customer.command(
    help="Take a staff member's grant away (a manager, or the customer's accepted wallet): the revocation and "
    "the version re-sealed without them under a new content key are one transaction."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.argument("staff", type=ADDRESS)
@keystore_option
@json_option
@pass_app
def revoke(app: App, customer_id: int, staff: str, keystore: str | None, as_json: bool) -> None:
    revoker = app.signer(keystore)
    with working("Rotating the data key"):
        ref = app.customers.revoke(customer_id, staff, revoker.account)
    _print_ref(f"no longer shared with {staff}", ref, as_json)


@customer.command(
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
        "tx_hash": erased.tx_hash,
    }
    line = (
        f"Customer {customer_id} erased: {len(erased.unpinned)} documents unpinned, "
        f"receipt {erased.receipt_cid} (keccak256 {fields['receipt_hash']}) recorded in {erased.tx_hash}"
    )
    emit_line(fields, as_json, line)


# ------------------------------------------------------------------ wallet binding


@customer.command(
    name="propose-wallet",
    help="Propose ADDRESS as the customer's wallet: the current wallet (moving itself); a manager (replacing a "
    "bound wallet waits 7 days, during which the bound wallet can --withdraw it); or an agent with a grant while "
    "the customer has no wallet, which a manager must then `approve-wallet`. It binds only when the wallet "
    "accepts. --withdraw drops a proposal.",
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.argument("address", type=ADDRESS, required=False)
@click.option("--withdraw", is_flag=True, help="Withdraw the pending proposal instead (no ADDRESS).")
@keystore_option
@json_option
@pass_app
def propose_wallet(
    app: App, customer_id: int, address: str | None, withdraw: bool, keystore: str | None, as_json: bool
) -> None:
    if (address is None) == (not withdraw):
        raise ConfigError("give the wallet's ADDRESS, or --withdraw to drop the pending proposal (not both)")
    proposer = app.signer(keystore)
    receipt = app.crm.registry.propose_wallet(customer_id, address, proposer.account)
    fields = {"customer_id": customer_id, "proposed_wallet": address} | tx_fields(receipt)
    if address is None:
        line = f"Customer {customer_id}'s wallet proposal withdrawn (block {fields['block_number']})"
    else:
        line = (
            f"Wallet {address} proposed for customer {customer_id} (block {fields['block_number']}): not bound "
            f"until it accepts (`chaincrm customer accept-wallet {customer_id} --keystore {address}`)"
        )
    emit_line(fields, as_json, line)


@customer.command(
    name="approve-wallet",
    help="Approve an agent's wallet proposal (a manager), so that the wallet can accept: one agent alone cannot "
    "bind a wallet to a customer.",
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.argument("address", type=ADDRESS)
@keystore_option
@json_option
@pass_app
def approve_wallet(app: App, customer_id: int, address: str, keystore: str | None, as_json: bool) -> None:
    manager = app.signer(keystore)
    receipt = app.crm.registry.approve_wallet(customer_id, address, manager.account)
    fields = {"customer_id": customer_id, "approved_wallet": address} | tx_fields(receipt)
    line = (
        f"Wallet {address} approved for customer {customer_id} (block {fields['block_number']}): it binds when it "
        f"accepts (`chaincrm customer accept-wallet {customer_id} --keystore {address}`)"
    )
    emit_line(fields, as_json, line)


@customer.command(
    name="accept-wallet",
    help="Bind the proposed wallet. With --keystore WALLET alone: the wallet's own transaction (it pays the gas; "
    "a reader then re-seals). With --signature FILE: relay the wallet's signed acceptance from --keystore "
    "(any account, typically staff), then re-seal when you can read the profile.",
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option(
    "--signature",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A signed acceptance written by `customer sign-wallet-acceptance`, to relay.",
)
@keystore_option
@json_option
@pass_app
def accept_wallet(app: App, customer_id: int, signature: Path | None, keystore: str | None, as_json: bool) -> None:
    if signature is not None:
        _relay(app, customer_id, signature, keystore, as_json, only="AcceptWallet")
        return
    wallet = app.signer(keystore)
    receipt = app.crm.registry.accept_wallet(customer_id, wallet.public_key64, wallet.account)
    # The new wallet cannot read the current version, so it cannot re-seal it: a reader does.
    stale = app.customers.is_stale(customer_id)
    fields = {"customer_id": customer_id, "wallet": wallet.address, "resealed": None, "stale": stale}
    line = f"Customer {customer_id}'s wallet is now {wallet.address} (block {receipt['blockNumber']})"
    emit_line(fields | tx_fields(receipt), as_json, line + _reseal_hint(customer_id, None, stale))


@customer.command(
    name="sign-wallet-acceptance",
    help="Sign the proposed wallet's EIP-712 acceptance with --keystore WALLET (no transaction, no ETH needed) "
    "and print it, or write it to --out FILE; staff relay it with `customer relay CUSTOMER FILE`.",
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the signed JSON here.")
@signature_days_option
@keystore_option
@json_option
@pass_app
def sign_wallet_acceptance(
    app: App, customer_id: int, out: Path | None, valid_days: int, keystore: str | None, as_json: bool
) -> None:
    wallet = app.signer(keystore)
    signed = app.customers.sign_wallet_acceptance(customer_id, wallet.account, valid_days * DAY_SECONDS)
    _write_signed(signed.to_json(), out, f"Acceptance of customer {customer_id}'s wallet {wallet.address}", as_json)


@customer.command(
    help="Relay a signed message from the customer's wallet (an AcceptWallet from `sign-wallet-acceptance` or a "
    "SetConsent from `consent --sign-only`), sent and paid by --keystore; then re-seal when you can read."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@keystore_option
@json_option
@pass_app
def relay(app: App, customer_id: int, file: Path, keystore: str | None, as_json: bool) -> None:
    _relay(app, customer_id, file, keystore, as_json)


def _relay(
    app: App, customer_id: int, file: Path, keystore: str | None, as_json: bool, only: str | None = None
) -> None:
    from chaincrm.contracts.signatures import ConsentChange, WalletAcceptance  # only relaying needs EIP-712

    kind, text = _read_signed(file)
    if only is not None and kind != only:
        raise ConfigError(f"{file} holds a {kind} message, not an {only} message")
    message: WalletAcceptance | ConsentChange = (
        WalletAcceptance.from_json(text) if kind == "AcceptWallet" else ConsentChange.from_json(text)
    )
    if message.customer_id != customer_id:
        raise ConfigError(f"{file} is signed for customer {message.customer_id}, not {customer_id}")
    relayer = app.signer(keystore)
    data = app.customers
    with working("Relaying the signed message"):
        if isinstance(message, WalletAcceptance):
            ref = data.relay_wallet_acceptance(message, relayer.account)
            done = f"Customer {customer_id}'s wallet is now {message.wallet} (accepted by signature, relayed)"
            fields: dict[str, Any] = {"wallet": message.wallet}
        else:
            ref = data.relay_consent_change(message, relayer.account)
            verb = "gave" if message.granted else "withdrew"
            done = f"Customer {customer_id} {verb} consent for {purpose_with_basis(message.purpose)} (signed, relayed)"
            fields = {"purpose": enum_name(message.purpose), "granted": message.granted}
    stale = ref is None and data.is_stale(customer_id)
    fields = {"customer_id": customer_id, "type": kind} | fields | {"resealed": _resealed_fields(ref), "stale": stale}
    emit_line(fields, as_json, done + _reseal_hint(customer_id, ref, stale))


# ------------------------------------------------------------------ consent


@customer.command(
    help=f"Give or withdraw consent for a purpose that needs it ({CONSENT_NAMES}), by the customer's accepted "
    "wallet's own transaction; withdrawing ends the grants for that purpose and re-seals without them. "
    "--sign-only signs a SetConsent for staff to relay instead (no ETH needed)."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--purpose", type=PURPOSE, required=True, help=f"What the consent is for: {CONSENT_NAMES}.")
@click.option("--withdraw", is_flag=True, help="Withdraw the consent instead of giving it.")
@click.option("--sign-only", is_flag=True, help="Only sign the change (print it, or write it to --out).")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="With --sign-only: write the signed JSON here."
)
@signature_days_option
@keystore_option
@json_option
@pass_app
def consent(
    app: App,
    customer_id: int,
    purpose: Purpose,
    withdraw: bool,
    sign_only: bool,
    out: Path | None,
    valid_days: int,
    keystore: str | None,
    as_json: bool,
) -> None:
    purpose = _consent_purpose(purpose)
    if out is not None and not sign_only:
        raise ConfigError("--out goes with --sign-only")
    wallet = app.signer(keystore)
    data = app.customers
    granted = not withdraw
    if sign_only:
        signed = data.sign_consent_change(customer_id, purpose, granted, wallet.account, valid_days * DAY_SECONDS)
        _write_signed(signed.to_json(), out, f"Signed consent change for customer {customer_id}", as_json)
        return
    with working("Recording the consent"):
        receipt = app.crm.registry.set_consent(customer_id, purpose, granted, wallet.account)
        ref = _reseal_if_reader(app, customer_id, wallet)
    stale = ref is None and data.is_stale(customer_id)
    fields = {
        "customer_id": customer_id,
        "purpose": enum_name(purpose),
        "basis": enum_name(purpose.basis),
        "granted": granted,
        "resealed": _resealed_fields(ref),
        "stale": stale,
    } | tx_fields(receipt)
    verb = "gave" if granted else "withdrew"
    line = f"Customer {customer_id} {verb} consent for {purpose_with_basis(purpose)} (block {receipt['blockNumber']})"
    emit_line(fields, as_json, line + _reseal_hint(customer_id, ref, stale))


@customer.command(help="Everything the chain recorded about a customer, oldest first.")
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@json_option
@pass_app
def timeline(app: App, customer_id: int, as_json: bool) -> None:
    crm = app.crm
    entries = customer_timeline(crm, customer_id, from_block=crm.deployment.block_number)
    rows = [dataclasses.asdict(entry) for entry in entries]

    def human(out: Console) -> None:
        out.print(
            table(
                f"Customer {customer_id}",
                ("time", "block", "what", "detail", "by"),
                [(when(e.at), e.block_number, e.what, e.detail, e.actor) for e in entries],
            )
        )

    emit(rows, as_json, human)
