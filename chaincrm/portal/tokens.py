"""Amounts in their currency as the pages show them: the index's invoices, deals and loyalty points
with each amount's ERC-20 (symbol, decimals and name, read from the chain once per token by
:mod:`chaincrm.currency`, which keeps them).

The index holds each amount in its currency's base units and the currency's address (None for
ETH); the JSON adds ``currency`` (null for ETH, else ``{"address", "symbol", "decimals", "name"}``),
``unit`` (``ETH`` or the symbol) and the amount as exact text in whole units.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_utils import to_checksum_address

from chaincrm.chain.connection import Connection
from chaincrm.currency import ETH_DECIMALS, TokenInfo, known_info, tokens_info, units_text, unread
from chaincrm.models import InvoiceStatus


def token_json(token: TokenInfo) -> dict[str, Any]:
    return {"address": token.address, "symbol": token.symbol, "decimals": token.decimals, "name": token.name}


class Tokens:
    """The ERC-20s of the index's rows on the portal's chain (the metadata cache is shared by threads)."""

    def __init__(self, chain: Connection, loyalty: str | None) -> None:
        self.chain = chain
        self.loyalty = None if loyalty is None else to_checksum_address(loyalty)

    def missing(self, addresses: Iterable[str | None]) -> list[str]:
        """The tokens among `addresses` not read yet (None, ETH, is never missing)."""
        return unread(self.chain, addresses)

    def load(self, addresses: Iterable[str | None]) -> None:
        """Read the missing tokens' symbol, decimals and name from the chain, in one batch (blocking)."""
        tokens_info(self.chain, addresses)

    def info(self, address: str) -> TokenInfo:
        """A token as read (`load` it first: this never asks the node; unread, its short address)."""
        return known_info(self.chain, address)

    # ------------------------------------------------------------------ presenting the index's rows

    def _money(self, currency: str | None, amount: int) -> tuple[dict[str, Any] | None, str, str]:
        if currency is None:
            return None, "ETH", units_text(amount, ETH_DECIMALS)
        token = self.info(currency)
        return token_json(token), token.symbol, units_text(amount, token.decimals)

    def invoice(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """An invoice of :mod:`~chaincrm.portal.reads` with its currency and, while it is open and
        points can be redeemed on it, `loyalty` (the points token and the rates)."""
        shown = dict(invoice)
        currency = shown.pop("currency_address")
        rates = shown.pop("loyalty_rates")
        amount = int(shown["amount"])
        shown["currency"], shown["unit"], shown["amount_text"] = self._money(currency, amount)
        shown["loyalty"] = None
        if shown["status"] == InvoiceStatus.OPEN.label and self.loyalty is not None and rates and int(rates[1]) > 0:
            points = self.info(self.loyalty)
            shown["loyalty"] = {
                "points": points.address,
                "symbol": points.symbol,
                "decimals": points.decimals,
                "earn_wad": str(rates[0]),
                "redeem_wad": str(rates[1]),
            }
        return shown

    def deal(self, deal: dict[str, Any]) -> dict[str, Any]:
        shown = dict(deal)
        currency = shown.pop("currency_address")
        shown["currency"], shown["unit"], shown["value_text"] = self._money(currency, int(shown["value_wei"]))
        return shown

    def points(self, points: dict[str, Any] | None) -> dict[str, Any] | None:
        """A wallet's points (balance and history from the index) with the token's symbol."""
        if points is None or self.loyalty is None:
            return None
        token = self.info(self.loyalty)
        balance = int(points["balance"])
        return {
            **points,
            "token": token.address,
            "symbol": token.symbol,
            "decimals": token.decimals,
            "balance_text": units_text(balance, token.decimals),
            "transferable": False,
        }


__all__ = ["Tokens", "token_json"]
