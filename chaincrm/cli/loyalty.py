"""`chaincrm loyalty rates|balance`: the loyalty points the escrow mints at release and burns at redemption.

Rates are per currency and set by an admin in people's units: ``--earn 10`` is 10 points per whole
currency unit released (1 ETH, 1 USDC), ``--worth 0.01`` is what one point takes off an invoice in
that currency at redemption (0.01 USDC). The contract keeps both as WAD-scaled ratios of base units:
earnWad = earn * 10**(36 - decimals), redeemWad = worth * 10**decimals (points have 18 decimals).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from chaincrm.cli.context import ADDRESS, App, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, facts, tx_fields

if TYPE_CHECKING:
    from chaincrm.currency import TokenInfo

POINT_DECIMALS = 18
MAX_WAD = 2**128 - 1


@click.group(name="loyalty", help="Loyalty points: earned when an invoice is released, redeemed for a discount.")
def loyalty() -> None:
    pass


def earn_wad(earn: str, currency: TokenInfo) -> int:
    return _scaled(earn, 36 - currency.decimals, "--earn", f"points per 1 {currency.symbol}")


def redeem_wad(worth: str, currency: TokenInfo) -> int:
    return _scaled(worth, currency.decimals, "--worth", f"{currency.symbol} per point")


def _scaled(text: str, exponent: int, what: str, unit: str) -> int:
    from chaincrm.errors import ConfigError

    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ConfigError(f"{what} must be a number of {unit}, got {text!r}") from None
    if not number.is_finite() or number < 0:
        raise ConfigError(f"{what} must be a finite number of {unit}, at least 0, got {text!r}")
    scaled = number.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{what} {text!r} is finer than the contract can hold ({unit})")
    if int(scaled) > MAX_WAD:
        raise ConfigError(f"{what} {text!r} is too large")
    return int(scaled)


def _human(wad: int, exponent: int) -> str:
    text = format(Decimal(wad).scaleb(-exponent), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def rate_fields(earn: int, redeem: int, currency: TokenInfo) -> dict[str, Any]:
    return {
        "currency": currency.address,
        "currency_symbol": currency.symbol,
        "earn_wad": str(earn),
        "redeem_wad": str(redeem),
        "earn_points_per_unit": _human(earn, 36 - currency.decimals),
        "point_worth": _human(redeem, currency.decimals),
    }


@loyalty.command(
    help="Show a currency's rates, or set them (an admin): --earn X points per whole unit released, --worth Y "
    "units of discount per point redeemed. Only one given keeps the other as it is."
)
@click.option("--currency", default="ETH", show_default=True, metavar="ETH|SYMBOL|ADDRESS", help="The currency.")
@click.option("--earn", metavar="X", help="Points earned per 1 whole unit of the currency released (0: none).")
@click.option("--worth", metavar="Y", help="Units of the currency one point takes off an invoice (0: not redeemable).")
@keystore_option
@json_option
@pass_app
def rates(app: App, currency: str, earn: str | None, worth: str | None, keystore: str | None, as_json: bool) -> None:
    from chaincrm.cli.tokens import resolve_currency

    crm = app.crm
    token = resolve_currency(crm, currency)
    current_earn, current_redeem = crm.escrow.loyalty_rates(token.address)
    if earn is None and worth is None:
        fields = rate_fields(current_earn, current_redeem, token)

        def human(out: Console) -> None:
            out.print(
                facts(
                    f"Loyalty rates in {token.symbol}",
                    {
                        "earned": f"{fields['earn_points_per_unit']} points per 1 {token.symbol} released",
                        "worth": f"1 point takes {fields['point_worth']} {token.symbol} off an invoice",
                    },
                )
            )

        emit(fields, as_json, human)
        return
    new_earn = earn_wad(earn, token) if earn is not None else current_earn
    new_redeem = redeem_wad(worth, token) if worth is not None else current_redeem
    admin = app.signer(keystore)
    receipt = crm.escrow.set_loyalty_rates(token.address, new_earn, new_redeem, admin.account)
    fields = rate_fields(new_earn, new_redeem, token)
    line = (
        f"Loyalty in {token.symbol}: {fields['earn_points_per_unit']} points per 1 {token.symbol} released; "
        f"1 point is worth {fields['point_worth']} {token.symbol}"
    )
    emit_line(fields | tx_fields(receipt), as_json, line)


@loyalty.command(help="The points an address holds (default: your keystore's) and their history.")
@click.argument("address", type=ADDRESS, required=False)
@keystore_option
@json_option
@pass_app
def balance(app: App, address: str | None, keystore: str | None, as_json: bool) -> None:
    if address is None:
        address = app.signer(keystore).address
    fields = points_fields(app, address)

    def human(out: Console) -> None:
        out.print(f"{address} holds {fields['points']} points", markup=False)
        for entry in fields["history"]:
            out.print(f"  {entry['kind']:<8} {entry['points']:>14} points  invoice {entry['invoice_id']}", markup=False)

    emit(fields, as_json, human)


def points(amount: int) -> str:
    return _human(amount, POINT_DECIMALS) if amount else "0"


def points_fields(app: App, address: str) -> dict[str, Any]:
    """An account's points and their history (awarded, redeemed, restored), for `balance` and `me`."""
    escrow = app.crm.escrow
    held = escrow.points_of(address)
    history = escrow.points_history(address, from_block=app.crm.deployment.block_number)
    return {
        "address": address,
        "points": points(held),
        "points_units": str(held),
        "history": [
            {
                "kind": e.kind,
                "invoice_id": e.invoice_id,
                "points": points(e.points),
                "block_number": e.block_number,
            }
            for e in history
        ],
    }
