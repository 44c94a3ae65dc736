"""`chaincrm offer suggest|issue|show|accept|cancel|report`: discounts earned by a customer's history.

Rules in a TOML file say who earns what (:mod:`chaincrm.offers.rules`); `suggest` lists who
qualifies and why. A manager issues an offer as an EIP-712 signature (a JSON file and a portal
link); the customer accepts it from their own wallet by a transaction, which opens a deal or
discounts an open one. Refusals are the pipeline's own errors (`OfferExpired(expiry=...)`), checked
here before anything is sent where they can be.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chaincrm.cli.context import ADDRESS, ID, App, index_source_options, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, facts, table, tx_fields, when, working
from chaincrm.errors import ConfigError

if TYPE_CHECKING:
    from chaincrm.contracts.offers import Offer
    from chaincrm.offers.status import OfferStatus

SECONDS_PER_DAY = 86_400
PUBLIC_URL_ENV = "CHAINCRM_PUBLIC_URL"  # as `chaincrm serve` (not imported: start-up)
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8700"


class DiscountType(click.ParamType):
    """A discount: `5%`, `2.5%`, `5` (percent) or `250bps`; at most 99.99 %."""

    name = "discount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from chaincrm.offers.rules import parse_discount

        if isinstance(value, int):
            return value
        bps = parse_discount(str(value))
        if bps is None:
            self.fail(f"{value!r} is not a discount from 0.01% to 99.99% (e.g. 5%, 2.5%, 250bps)", param, ctx)
        return bps


def _log_option(func: Any) -> Any:
    return click.option(
        "--log",
        "log_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="The local log of offers issued (JSON lines) [default: <home>/offers-issued.jsonl].",
    )(func)


def _read_offer(path: Path) -> Offer:
    from chaincrm.cli.files import read_bytes
    from chaincrm.contracts.offers import Offer

    try:
        text = read_bytes(path, "the offer").decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"the offer {path} is not UTF-8 JSON") from None
    try:
        return Offer.from_json(text)
    except ConfigError as exc:
        raise ConfigError(f"the offer {path}: {exc}") from None


def _percent(bps: int) -> str:
    whole, rest = divmod(bps, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


def offer_fields(offer: Offer, status: OfferStatus | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "customer_id": offer.customer_id,
        "discount_bps": offer.discount_bps,
        "expiry": offer.expiry,
        "max_uses": offer.max_uses,
        "nonce": str(offer.nonce),
        "issuer": offer.issuer,
        "chain_id": offer.chain_id,
        "pipeline": offer.pipeline,
        "digest": "0x" + offer.digest.hex(),
    }
    if status is not None:
        fields |= {
            "uses": status.uses,
            "cancelled": status.cancelled,
            "expired": status.expired,
            "chain_time": status.chain_time,
            "as_of_block": status.block_number,
        }
    return fields


@click.group(
    name="offer", help="Offers: discounts a customer's history earns, signed by a manager, accepted by the customer."
)
def offer() -> None:
    pass


# ------------------------------------------------------------------ suggest


@offer.command(
    name="suggest",
    help="Who qualifies for which rule in the rules file, with the figures that made them qualify (released "
    "invoices, amounts paid, over each rule's window). Only active customers with a bound wallet qualify; --all "
    "also lists everyone left out and why. Reads the event index when it follows this deployment, else the chain.",
)
@click.option(
    "--rules",
    "rules_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The TOML rules file (see examples/offer-rules.toml).",
)
@click.option("--all", "show_all", is_flag=True, help="Also list the customers left out, and why.")
@index_source_options
@json_option
@pass_app
def suggest_command(
    app: App, rules_file: Path, show_all: bool, database: str | None, from_chain: bool, as_json: bool
) -> None:
    from chaincrm.offers.rules import load_rules
    from chaincrm.offers.suggest import read_histories, resolve_currencies, seen_currencies, suggest

    rules = load_rules(rules_file)  # a bad file is refused before the chain is touched
    crm = app.crm
    with working("Reading invoices"):
        histories = read_histories(crm, database=database, home=app.settings.home, from_chain=from_chain)
        currencies = resolve_currencies(crm, rules.rules, seen_currencies(histories))
    found = suggest(histories, rules.rules, currencies)
    data: dict[str, Any] = {
        "source": found.source,
        "as_of_block": found.end_block,
        "as_of": found.as_of,
        "suggestions": [
            {
                "customer_id": s.customer_id,
                "wallet": s.wallet,
                "rule": s.rule.name,
                "discount_bps": s.rule.discount_bps,
                "valid_days": s.rule.valid_days,
                "max_uses": s.rule.max_uses,
                "figures": s.figures.as_dict(),
            }
            for s in found.suggestions
        ],
    }
    if show_all:
        data["left_out"] = [{"customer_id": left.customer_id, "reason": left.reason} for left in found.left_out]

    def human(out: Any) -> None:
        rows = [
            (s.customer_id, s.rule.name, _percent(s.rule.discount_bps), s.figures.describe(), s.wallet)
            for s in found.suggestions
        ]
        title = f"Qualifying customers (from the {found.source}, block {found.end_block})"
        out.print(table(title, ["customer", "rule", "discount", "why", "wallet"], rows))
        if not rows:
            out.print("nobody qualifies")
        if show_all:
            out.print(table("Left out", ["customer", "reason"], [(x.customer_id, x.reason) for x in found.left_out]))

    emit(data, as_json, human)


# ------------------------------------------------------------------ issue


@offer.command(
    name="issue",
    help="Sign an offer for a customer with a manager's keystore (EIP-712; a random 256-bit nonce), write it "
    "to --out, log it in the issued-offers log and print the portal link the customer opens to accept it. "
    "The customer must be active with a bound wallet: the offer is accepted from it.",
)
@click.option("--customer", "customer_id", required=True, type=ID, help="The customer's id.")
@click.option("--discount", required=True, type=DiscountType(), help="5%, 2.5% or 250bps (at most 99.99%).")
@click.option(
    "--valid-days", default=14, show_default=True, type=click.IntRange(1, 3650), help="Days until it expires."
)
@click.option(
    "--max-uses", default=1, show_default=True, type=click.IntRange(1, 2**32 - 1), help="Times it can be accepted."
)
@click.option(
    "--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Where to write the offer (JSON)."
)
@click.option("--rule", "rule_name", metavar="NAME", help="The rule it was issued under (recorded in the log).")
@click.option(
    "--public-url",
    envvar=PUBLIC_URL_ENV,
    default=DEFAULT_PUBLIC_URL,
    show_default=True,
    metavar="URL",
    help=f"Where `chaincrm serve` is reached, for the link [env {PUBLIC_URL_ENV}].",
)
@click.option(
    "--email",
    is_flag=True,
    help="Also e-mail the link to the customer (read from their profile with the manager's key; only with "
    "marketing consent), over the [smtp] settings of --schedule.",
)
@click.option(
    "--schedule",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The reminder schedule whose [smtp] table sends --email (as `chaincrm automate --schedule`).",
)
@_log_option
@keystore_option
@json_option
@pass_app
def issue_command(
    app: App,
    customer_id: int,
    discount: int,
    valid_days: int,
    max_uses: int,
    out: Path,
    rule_name: str | None,
    public_url: str,
    email: bool,
    schedule: Path | None,
    log_file: Path | None,
    keystore: str | None,
    as_json: bool,
) -> None:
    from chaincrm.cli.files import check_writable
    from chaincrm.contracts.offers import sign_offer
    from chaincrm.models import CustomerStatus, Role
    from chaincrm.offers.log import append_issued, default_log
    from chaincrm.offers.status import ACCEPT_PATH, accept_link, public_base

    check_writable(out, "the offer", create_folder=True)
    public_base(public_url)  # a bad --public-url is refused before anything is signed
    crm = app.crm
    customer = crm.registry.customer(customer_id)
    if customer.status is not CustomerStatus.ACTIVE:
        raise ConfigError(f"customer {customer_id} is {customer.status.name.lower()}: no offer for them")
    if customer.wallet is None:
        raise ConfigError(f"customer {customer_id} has no bound wallet: an offer is accepted from it")
    signer = app.signer(keystore)
    if not crm.registry.has_role(Role.MANAGER, signer.address):
        raise ConfigError(f"{signer.address} is not a manager: the pipeline accepts offers only from managers")
    recipient = _recipient(app, customer_id, signer.account, schedule) if email else None
    chain_time = crm.chain.block_timestamp(crm.chain.block_number("latest"))
    signed = sign_offer(
        signer.account,
        chain_id=crm.chain.chain_id,
        pipeline=crm.pipeline.address,
        customer_id=customer_id,
        discount_bps=discount,
        expiry=chain_time + valid_days * SECONDS_PER_DAY,
        max_uses=max_uses,
    )
    out.write_text(signed.to_json() + "\n", encoding="utf-8")
    log = log_file or default_log(app.settings.home)
    append_issued(log, signed, rule=rule_name)
    link = accept_link(public_url, signed)
    data = offer_fields(signed) | {"file": str(out), "link": link, "log": str(log), "emailed": False}
    if recipient is not None:
        _send(recipient, signed, link, out)
        data["emailed"] = True

    def human(console: Any) -> None:
        console.print(
            f"offer for customer {customer_id}: {_percent(discount)} off, until {when(signed.expiry)}, "
            f"{max_uses} use{'s' if max_uses != 1 else ''}; written to {out}"
        )
        console.print(f"digest 0x{signed.digest.hex()}")
        console.print(f"portal link ({ACCEPT_PATH}): {link}", soft_wrap=True)
        if data["emailed"]:
            console.print(f"e-mailed to customer {customer_id}")

    emit(data, as_json, human)


def _recipient(app: App, customer_id: int, reader: Any, schedule: Path | None) -> tuple[Any, str, str]:
    """(SMTP settings, address, name) for --email, every refusal made before anything is signed."""
    from chaincrm.automation.schedule import load_schedule
    from chaincrm.models import Purpose

    if schedule is None:
        raise click.UsageError("--email needs --schedule FILE for its [smtp] settings")
    smtp = load_schedule(schedule).smtp
    if smtp is None:
        raise ConfigError(f"the schedule {schedule} has no [smtp] table: --email cannot send")
    if not app.crm.registry.customer(customer_id).consents_to(Purpose.MARKETING):
        raise ConfigError(f"customer {customer_id} has not consented to marketing: no offer e-mail (nothing signed)")
    profile = app.customers.read(customer_id, reader)
    if not profile.email:
        raise ConfigError(f"customer {customer_id}'s profile has no e-mail address (nothing signed)")
    return smtp, profile.email, profile.name


def _send(recipient: tuple[Any, str, str], signed: Offer, link: str, out: Path) -> None:
    from chaincrm.automation.mailer import Mailer, SmtpUnavailable
    from chaincrm.offers.mail import offer_message

    smtp, address, name = recipient
    try:
        with Mailer(smtp) as mailer:
            mailer.send(offer_message(signed, to=address, name=name, link=link, sender=smtp.sender))
    except SmtpUnavailable as exc:
        raise SmtpUnavailable(f"the offer is written to {out} and logged, but not e-mailed: {exc}") from None


# ------------------------------------------------------------------ show


@offer.command(name="show", help="An offer's terms, digest, uses so far, and whether it is cancelled or expired.")
@click.argument("offer_file", metavar="OFFER.json", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@pass_app
def show_command(app: App, offer_file: Path, as_json: bool) -> None:
    from chaincrm.offers.status import offer_status

    signed = _read_offer(offer_file)
    status = offer_status(app.crm, signed)
    data = offer_fields(signed, status) | {"signature_valid": signed.recovered_signer() == signed.issuer}

    def human(console: Any) -> None:
        state = "cancelled" if status.cancelled else "expired" if status.expired else "open"
        if not status.cancelled and status.uses >= signed.max_uses:
            state = "used up"
        rows = {
            "customer": signed.customer_id,
            "discount": _percent(signed.discount_bps),
            "expires": when(signed.expiry),
            "uses": f"{status.uses} of {signed.max_uses}",
            "state": state,
            "issuer": signed.issuer,
            "signature": "valid" if data["signature_valid"] else "does not recover to the issuer",
            "nonce": str(signed.nonce),
            "digest": data["digest"],
        }
        console.print(facts(f"Offer {offer_file}", rows))

    emit(data, as_json, human)


# ------------------------------------------------------------------ accept


@offer.command(
    name="accept",
    help="Accept an offer with the customer's own wallet (a transaction): --deal N discounts that open deal of "
    "yours; otherwise a new deal is opened at the proposal stage for --value (ETH, or --currency 0xTOKEN in "
    "its units). Refused before sending when the wallet is not the customer's, or the offer is expired, "
    "cancelled or used up.",
)
@click.argument("offer_file", metavar="OFFER.json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--deal", "deal_id", type=ID, help="Discount this open deal of the customer's.")
@click.option("--value", metavar="AMOUNT", help="The new deal's value: 1.5 (in ETH, or the token's units).")
@click.option("--currency", default="ETH", show_default=True, metavar="ETH|0xTOKEN", help="The new deal's currency.")
@keystore_option
@json_option
@pass_app
def accept_command(
    app: App,
    offer_file: Path,
    deal_id: int | None,
    value: str | None,
    currency: str,
    keystore: str | None,
    as_json: bool,
) -> None:
    from chaincrm.offers.status import check_acceptable

    if deal_id is not None and value is not None:
        raise click.UsageError("give --deal (discount an open deal) or --value (open a new one), not both")
    if deal_id is None and value is None:
        raise click.UsageError("give --deal N to discount an open deal, or --value AMOUNT to open a new one")
    if deal_id is not None and currency.upper() != "ETH":
        raise click.UsageError("--currency goes with --value (a new deal), not with --deal")
    signed = _read_offer(offer_file)
    crm = app.crm
    token, base_units = (None, 0) if value is None else _value(crm, value, currency)
    signer = app.signer(keystore)
    check_acceptable(crm, signed, signer.address)
    with working("Accepting the offer"):
        accepted = crm.pipeline.accept_offer(
            signed, signer.account, deal_id=deal_id or 0, value=base_units, currency=token
        )
    data = {"deal_id": accepted, "digest": "0x" + signed.digest.hex(), "discount_bps": signed.discount_bps}
    verb = "discounted" if deal_id else "opened"
    emit(
        data,
        as_json,
        lambda c: c.print(f"offer accepted: deal {accepted} {verb} with {_percent(signed.discount_bps)} off"),
    )


def _value(crm: Any, value: str, currency: str) -> tuple[str | None, int]:
    """(token address or None for ETH, the value in base units)."""
    from decimal import Decimal, InvalidOperation

    from chaincrm.chain.addresses import AddressProblem, parse_address
    from chaincrm.offers.suggest import token_currency

    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount (e.g. 1.5)", param_hint="'--value'") from None
    if not amount.is_finite() or amount <= 0:
        raise click.BadParameter(f"{value!r} is not a positive amount", param_hint="'--value'")
    if currency.strip().upper() == "ETH":
        token, decimals = None, 18
    else:
        try:
            token = str(parse_address(currency.strip()))
        except AddressProblem:
            raise click.BadParameter(f"{currency!r} is not ETH or a token address", param_hint="'--currency'") from None
        decimals = token_currency(crm, token).decimals
    units = amount.scaleb(decimals)
    if units != units.to_integral_value():
        raise click.BadParameter(f"{value!r} has more than {decimals} decimals", param_hint="'--value'")
    return token, int(units)


# ------------------------------------------------------------------ cancel


@offer.command(name="cancel", help="Cancel an offer you issued (cancelOffer(nonce)): it can no longer be accepted.")
@click.argument("offer_file", metavar="OFFER.json", type=click.Path(path_type=Path, dir_okay=False))
@keystore_option
@json_option
@pass_app
def cancel_command(app: App, offer_file: Path, keystore: str | None, as_json: bool) -> None:
    from chaincrm.offers.status import check_cancellable

    signed = _read_offer(offer_file)
    crm = app.crm
    signer = app.signer(keystore)
    check_cancellable(crm, signed, signer.address)
    receipt = crm.pipeline.cancel_offer(signed.nonce, signer.account)
    data = {"digest": "0x" + signed.digest.hex(), "nonce": str(signed.nonce)} | tx_fields(receipt)
    emit(data, as_json, lambda c: c.print(f"offer 0x{signed.digest.hex()} cancelled"))


# ------------------------------------------------------------------ report


@offer.command(
    name="report",
    help="Offers sent (from the local issued-offers log: offers are off-chain signatures), accepted (the "
    "pipeline's OfferAccepted events, from the index when it follows this deployment, else the chain) and the "
    "revenue of the deals they opened or discounted.",
)
@_log_option
@index_source_options
@json_option
@pass_app
def report_command(app: App, log_file: Path | None, database: str | None, from_chain: bool, as_json: bool) -> None:
    from chaincrm.cli.output import eth
    from chaincrm.offers.log import default_log
    from chaincrm.reports.offers import offer_report

    log = log_file or default_log(app.settings.home)
    report = offer_report(app.crm, log, database=database, home=app.settings.home, from_chain=from_chain)

    def human(console: Any) -> None:
        rate = "-" if report.acceptance_rate is None else f"{report.acceptance_rate:.0%}"
        console.print(
            f"sent: counted from {report.log}; accepted: from the {report.source} up to block {report.end_block}"
        )
        console.print(
            facts(
                "Offers",
                {
                    "sent": report.sent,
                    "accepted (uses)": report.accepted,
                    "offers accepted": report.offers_accepted,
                    "acceptance rate": rate,
                    "customers": report.customers,
                    "deals": ", ".join(map(str, report.deals)) or "-",
                },
            )
        )
        rows = [
            (r.currency, *(eth(v) if r.currency == "ETH" else str(v) for v in (r.paid, r.released, r.discount_granted)))
            for r in report.revenue
        ]
        console.print(table("Revenue from accepted offers", ["currency", "paid", "released", "discount granted"], rows))

    emit(report.as_json(), as_json, human)


__all__ = ["ADDRESS", "offer"]
