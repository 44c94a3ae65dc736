"""`chaincrm customer propose-wallet|approve-wallet|accept-wallet|sign-wallet-acceptance|relay|consent`.

A proposed wallet gets a customer's powers (reading, consent, grants, erasure) only once it
accepts, by its own transaction or by a signed EIP-712 acceptance that anyone relays (so the
customer needs no ETH). Consent is given or withdrawn the same two ways.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chaincrm.cli.context import ADDRESS, ID, App, F, enum_name, json_option, keystore_option, pass_app
from chaincrm.cli.customer_refs import PURPOSE, accept_wallet_command, reseal_hint, resealed_fields
from chaincrm.cli.files import read_bytes
from chaincrm.cli.output import emit_line, purpose_with_basis, tx_fields, working
from chaincrm.errors import ConfigError, PrivacyError
from chaincrm.models import CONSENT_PURPOSES, Purpose
from chaincrm.privacy.customers import ProfileRef

if TYPE_CHECKING:
    from chaincrm.chain.keystores import LocalSigner

CONSENT_NAMES = ", ".join(enum_name(purpose) for purpose in CONSENT_PURPOSES)
SIGNED_FILE_LIMIT_BYTES = 64 * 1024
DAY_SECONDS = 24 * 3600
DEFAULT_SIGNATURE_DAYS = 7


def signature_days_option(func: F) -> F:
    return click.option(
        "--valid-days",
        type=click.IntRange(1, 365),
        default=DEFAULT_SIGNATURE_DAYS,
        show_default=True,
        help="How long the signature may be relayed.",
    )(func)


def sign_only_options(what: str) -> Callable[[F], F]:
    """--sign-only, --out and --valid-days for a change the customer's wallet may sign for others
    to relay instead of sending it."""

    def add(func: F) -> F:
        func = signature_days_option(func)
        func = click.option(
            "--out",
            type=click.Path(path_type=Path, dir_okay=False),
            help="With --sign-only: write the signed JSON here.",
        )(func)
        return click.option(
            "--sign-only", is_flag=True, help=f"Only sign the {what} (print it, or write it to --out)."
        )(func)

    return add


def check_sign_only(sign_only: bool, out: Path | None) -> None:
    if out is not None and not sign_only:
        raise ConfigError("--out goes with --sign-only")


def _consent_purpose(purpose: Purpose) -> Purpose:
    """Only the consent purposes have a consent to give or withdraw; the rest rest on another basis."""
    if not purpose.needs_consent:
        raise ConfigError(
            f"purpose {enum_name(purpose)} rests on {enum_name(purpose.basis).replace('-', ' ')}, not consent: "
            f"there is no consent to give or withdraw (consent purposes: {CONSENT_NAMES})"
        )
    return purpose


SIGNED_KINDS = ("AcceptWallet", "SetConsent", "RevokeAccess")


def _read_signed(path: Path) -> tuple[str, str]:
    """(message type, text) of a signed message file written by `sign-wallet-acceptance`, `consent --sign-only`
    or `revoke --sign-only`."""
    import json

    raw = read_bytes(path, "signed message", SIGNED_FILE_LIMIT_BYTES)
    try:
        text = raw.decode()
        kind = json.loads(text).get("type")
    except (UnicodeDecodeError, ValueError, AttributeError):
        raise ConfigError(f"signed message {path} is not a JSON object") from None
    if kind not in SIGNED_KINDS:
        raise ConfigError(f"signed message {path} is not an AcceptWallet, SetConsent or RevokeAccess message")
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


def write_signed(text: str, out: Path | None, what: str, as_json: bool) -> None:
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


@click.command(
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
            f"until it accepts ({accept_wallet_command(customer_id, address)})"
        )
    emit_line(fields, as_json, line)


@click.command(
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
        f"accepts ({accept_wallet_command(customer_id, address)})"
    )
    emit_line(fields, as_json, line)


@click.command(
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
    emit_line(fields | tx_fields(receipt), as_json, line + reseal_hint(customer_id, None, stale))


@click.command(
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
    write_signed(signed.to_json(), out, f"Acceptance of customer {customer_id}'s wallet {wallet.address}", as_json)


@click.command(
    help="Relay a signed message from the customer's wallet (an AcceptWallet from `sign-wallet-acceptance`, a "
    "SetConsent from `consent --sign-only` or a RevokeAccess from `revoke --sign-only`), sent and paid by "
    "--keystore; then re-seal when you can read."
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
    # only relaying needs EIP-712
    from chaincrm.contracts.signatures import AccessRevocation, ConsentChange, WalletAcceptance

    kind, text = _read_signed(file)
    if only is not None and kind != only:
        raise ConfigError(f"{file} holds a {kind} message, not an {only} message")
    parsers: dict[str, Callable[[str], WalletAcceptance | ConsentChange | AccessRevocation]] = {
        "AcceptWallet": WalletAcceptance.from_json,
        "SetConsent": ConsentChange.from_json,
        "RevokeAccess": AccessRevocation.from_json,
    }
    message = parsers[kind](text)
    if message.customer_id != customer_id:
        raise ConfigError(f"{file} is signed for customer {message.customer_id}, not {customer_id}")
    relayer = app.signer(keystore)
    data = app.customers
    with working("Relaying the signed message"):
        if isinstance(message, WalletAcceptance):
            ref = data.relay_wallet_acceptance(message, relayer.account)
            done = f"Customer {customer_id}'s wallet is now {message.wallet} (accepted by signature, relayed)"
            fields: dict[str, Any] = {"wallet": message.wallet}
        elif isinstance(message, AccessRevocation):
            ref = data.relay_access_revocation(message, relayer.account)
            done = f"Customer {customer_id} revoked {message.staff}'s access (signed, relayed)"
            fields = {"staff": message.staff}
        else:
            ref = data.relay_consent_change(message, relayer.account)
            verb = "gave" if message.granted else "withdrew"
            done = f"Customer {customer_id} {verb} consent for {purpose_with_basis(message.purpose)} (signed, relayed)"
            fields = {"purpose": enum_name(message.purpose), "granted": message.granted}
    stale = ref is None and data.is_stale(customer_id)
    fields = {"customer_id": customer_id, "type": kind} | fields | {"resealed": resealed_fields(ref), "stale": stale}
    emit_line(fields, as_json, done + reseal_hint(customer_id, ref, stale))


# ------------------------------------------------------------------ consent


@click.command(
    help=f"Give or withdraw consent for a purpose that needs it ({CONSENT_NAMES}), by the customer's accepted "
    "wallet's own transaction; withdrawing ends the grants for that purpose and re-seals without them. "
    "--sign-only signs a SetConsent for staff to relay instead (no ETH needed)."
)
@click.argument("customer_id", metavar="CUSTOMER", type=ID)
@click.option("--purpose", type=PURPOSE, required=True, help=f"What the consent is for: {CONSENT_NAMES}.")
@click.option("--withdraw", is_flag=True, help="Withdraw the consent instead of giving it.")
@sign_only_options("change")
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
    check_sign_only(sign_only, out)
    wallet = app.signer(keystore)
    data = app.customers
    granted = not withdraw
    if sign_only:
        signed = data.sign_consent_change(customer_id, purpose, granted, wallet.account, valid_days * DAY_SECONDS)
        write_signed(signed.to_json(), out, f"Signed consent change for customer {customer_id}", as_json)
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
        "resealed": resealed_fields(ref),
        "stale": stale,
    } | tx_fields(receipt)
    verb = "gave" if granted else "withdrew"
    line = f"Customer {customer_id} {verb} consent for {purpose_with_basis(purpose)} (block {receipt['blockNumber']})"
    emit_line(fields, as_json, line + reseal_hint(customer_id, ref, stale))


WALLET_COMMANDS = (propose_wallet, approve_wallet, accept_wallet, sign_wallet_acceptance, relay, consent)
