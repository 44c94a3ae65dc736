"""`chaincrm token allow|disallow|list`: the ERC-20 tokens invoices may be issued in (an admin).

Also the helpers the other commands use to show an amount in its own currency: :func:`money`
writes base units with the currency's symbol, :func:`resolve_currency` reads ``--currency``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.console import Console

from chaincrm.cli.context import ADDRESS, App, json_option, keystore_option, pass_app
from chaincrm.cli.output import emit, emit_line, table, tx_fields

if TYPE_CHECKING:
    from chaincrm.contracts.client import Crm
    from chaincrm.contracts.tokens import Tokens
    from chaincrm.currency import TokenInfo

_TOKENS: dict[int, Tokens] = {}


def tokens_of(crm: Crm) -> Tokens:
    """One token cache per CRM object (symbols and decimals are read once)."""
    from chaincrm.contracts.tokens import Tokens

    found = _TOKENS.get(id(crm))
    if found is None or found.chain is not crm.chain:
        found = _TOKENS[id(crm)] = Tokens(crm.chain)
    return found


def money(amount: int, currency: TokenInfo) -> str:
    from chaincrm.currency import amount_text

    return amount_text(amount, currency)


def resolve_currency(crm: Crm, text: str) -> TokenInfo:
    """``--currency``: ETH, a token's address, or the symbol of a token the escrow allows."""
    from chaincrm.currency import ETH_INFO
    from chaincrm.errors import ConfigError

    tokens = tokens_of(crm)
    if text.strip().upper() == "ETH":
        return ETH_INFO
    if text.startswith("0x"):
        from chaincrm.contracts.tokens import token_address

        address = token_address(text)
        if not crm.escrow.is_token_allowed(address):
            raise ConfigError(f"--currency {address} is not an allowed token (`chaincrm token list`)")
        return tokens.info(address)
    matches = [t.info for t in allowed_tokens(crm) if t.allowed and t.info.symbol.lower() == text.strip().lower()]
    if not matches:
        raise ConfigError(f"--currency {text!r} is no allowed token's symbol (`chaincrm token list`), nor ETH")
    if len(matches) > 1:
        raise ConfigError(f"--currency {text!r} names {len(matches)} allowed tokens: give the address instead")
    return matches[0]


def allowed_tokens(crm: Crm) -> list[_Listed]:
    """Every token the escrow's TokenAllowed events named, with whether it is allowed now."""
    tokens = tokens_of(crm)
    changes = crm.escrow.token_changes(from_block=crm.deployment.block_number)
    last: dict[str, int] = {}
    for token, _, block in changes:
        last[token] = block
    return [_Listed(tokens.info(t), crm.escrow.is_token_allowed(t), block) for t, block in last.items()]


class _Listed:
    def __init__(self, info: TokenInfo, allowed: bool, changed_at_block: int) -> None:
        self.info, self.allowed, self.changed_at_block = info, allowed, changed_at_block


@click.group(name="token", help="ERC-20 tokens invoices may be issued in: allowed by an admin.")
def token() -> None:
    pass


def _set(app: App, address: str, keystore: str | None, as_json: bool, allowed: bool) -> None:
    crm = app.crm
    info = tokens_of(crm).info(address)  # refuses a contract that is no ERC-20 before sending
    admin = app.signer(keystore)
    receipt = crm.escrow.allow_token(address, admin.account, allowed=allowed)
    fields = {"token": info.address, "symbol": info.symbol, "decimals": info.decimals, "allowed": allowed}
    verb = "allowed: deals and invoices may now be" if allowed else "no longer allowed: no new deals or invoices"
    line = f"{info.symbol} ({info.address}, {info.decimals} decimals) {verb} in it"
    emit_line(fields | tx_fields(receipt), as_json, line)


@token.command(help="Allow new deals and invoices in an ERC-20 (an admin).")
@click.argument("address", type=ADDRESS)
@keystore_option
@json_option
@pass_app
def allow(app: App, address: str, keystore: str | None, as_json: bool) -> None:
    _set(app, address, keystore, as_json, True)


@token.command(help="Stop new invoices in an ERC-20 (an admin); invoices already issued in it stay payable.")
@click.argument("address", type=ADDRESS)
@keystore_option
@json_option
@pass_app
def disallow(app: App, address: str, keystore: str | None, as_json: bool) -> None:
    _set(app, address, keystore, as_json, False)


@token.command(name="list", help="Every token an admin ever allowed, with its symbol, decimals and whether it is now.")
@json_option
@pass_app
def list_tokens(app: App, as_json: bool) -> None:
    listed = allowed_tokens(app.crm)
    rows = [
        {
            "token": t.info.address,
            "symbol": t.info.symbol,
            "decimals": t.info.decimals,
            "allowed": t.allowed,
            "changed_at_block": t.changed_at_block,
        }
        for t in listed
    ]

    def human(out: Console) -> None:
        shown = [(r["symbol"], r["token"], r["decimals"], "yes" if r["allowed"] else "no") for r in rows]
        out.print(table("Tokens", ("symbol", "address", "decimals", "allowed"), shown))

    emit(rows, as_json, human)
