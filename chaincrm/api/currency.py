"""Amounts in the REST API's answers: each in its own currency (ETH or an ERC-20), never summed
across currencies.

An invoice or a deal carries ``currency`` (``{"address": null, "symbol": "ETH", "decimals": 18}``,
or the token's checksummed address, symbol and decimals, read from the token once per token:
:func:`chaincrm.currency.token_info`; a token without them shows its short address and 0
decimals), the amount as exact decimal text in whole units (``"1234.56"``) and in base units (wei,
or the token's smallest unit). The ``*_wei`` fields from before ERC-20 invoices keep their meaning:
wei, so they are null for an amount in a token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from chaincrm.chain import Chain
from chaincrm.currency import ETH, TokenInfo, currency_key, info_for, tokens_info, units_text

OFF_CHAIN_METHODS = {1: "bank_transfer", 2: "card", 3: "other"}  # InvoicePaidOffChain's method (uint8)


async def currencies_of(chain: Chain, addresses: Iterable[str | None]) -> dict[str, TokenInfo]:
    """The display of each currency among `addresses` (None: ETH), by key; a token's first read
    goes to the node in a worker thread, later ones come from :func:`token_info`'s cache."""
    keys = {currency_key(address) for address in addresses} - {ETH}
    if not keys:
        return {}
    return await run_in_threadpool(tokens_info, chain, sorted(keys))


def currency_json(address: str | None, known: Mapping[str, TokenInfo]) -> dict[str, Any]:
    key = currency_key(address)
    info = info_for(key, known)
    return {"address": None if key == ETH else key, "symbol": info.symbol, "decimals": info.decimals}


def amount_text(amount: int, currency: Mapping[str, Any]) -> str:
    """Exact whole units as decimal text: (1234560000, 6 decimals) -> ``"1234.56"``."""
    return units_text(int(amount), int(currency["decimals"]))


def wei_or_none(amount: int | None, address: str | None) -> str | None:
    """An amount for a ``*_wei`` field: wei as a decimal string for ETH, null for a token."""
    return None if amount is None or currency_key(address) != ETH else str(amount)


def method_label(code: int | None) -> str | None:
    if code is None:
        return None
    return OFF_CHAIN_METHODS.get(int(code), f"unknown({int(code)})")


__all__ = ["OFF_CHAIN_METHODS", "amount_text", "currencies_of", "currency_json", "method_label", "wei_or_none"]
