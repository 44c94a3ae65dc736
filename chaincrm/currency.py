"""Currencies: ETH and the ERC-20 tokens amounts are in, their symbols and decimals, and amounts in
their own units. Every part of the package (SDK, CLI, reports, console, REST API, portal) uses this
one module for what a currency is, for reading a token's metadata and for writing and parsing amounts.

- :class:`TokenInfo` is a currency as people read it (``address`` None for ETH); :func:`currency_key`
  names a currency the same way everywhere a figure is computed (``"ETH"`` or the token's checksummed
  address), so figures from the index and from the chain compare equal.
- A token's symbol, decimals and name are read from the chain once per connection and token and kept
  (a token's metadata does not change), in one JSON-RPC batch for many tokens. The reads go through
  :func:`~chaincrm.chain.contract.contract_at` and ``call_many``, which any
  :class:`~chaincrm.chain.connection.Connection` (a :class:`~chaincrm.chain.Chain` is one) does
  without web3. Two ways to ask: :func:`token_info` / :func:`tokens_info` for showing an amount (a
  token that does not answer, or answers oddly, reads as its short address with 0 decimals: it is
  displayed, never refused) and :func:`erc20_info` for paying in it (a ConfigError instead).
- An amount on the chain is an integer of its currency's base units (wei for ETH, the token's
  smallest unit otherwise). :func:`units_text` writes it exactly in whole units (``"17.51"``, no
  float, trailing zeros cut), :func:`amount_text` with the symbol (``"1.5 USDC"``);
  :func:`parse_amount` turns typed text (``125.50``) into base units, refusing anything inexact.
  An amount is always shown in its own currency, never converted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from threading import Lock
from typing import TYPE_CHECKING, Any, cast
from weakref import WeakKeyDictionary

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.errors import ConfigError
from chaincrm.models import ZERO_ADDRESS

if TYPE_CHECKING:
    from chaincrm.chain.connection import Connection

ETH = "ETH"
"""The key of ETH wherever currencies are named (a token's key is its checksummed address)."""
ETH_DECIMALS = 18
MAX_DECIMALS = 36  # beyond this a token's decimals are a mistake (or hostile): refused for payments
MAX_SYMBOL_LENGTH = 16  # a longer (or odd) symbol is cut for display
_SYMBOL = re.compile(r"[A-Za-z0-9.$_-]{1,16}")
_AMOUNT = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]*))?|\.(?P<only_fraction>[0-9]+)")
METADATA_ABI: tuple[dict[str, Any], ...] = (
    {"type": "function", "name": "symbol", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "string"}]},
    {"type": "function", "name": "decimals", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "uint8"}]},
    {"type": "function", "name": "name", "stateMutability": "view", "inputs": [],
     "outputs": [{"name": "", "type": "string"}]},
)  # fmt: skip


@dataclass(frozen=True)
class TokenInfo:
    """A currency as people read it: ``address`` None for ETH; ``name`` when the token has one."""

    symbol: str
    decimals: int
    address: ChecksumAddress | None = None
    name: str | None = None

    @property
    def is_eth(self) -> bool:
        return self.address is None

    @property
    def key(self) -> str:
        """``"ETH"`` or the token's checksummed address (:func:`currency_key`)."""
        return self.address or ETH

    @property
    def onchain(self) -> str:
        """The address the contracts take for this currency (the zero address for ETH)."""
        return self.address or ZERO_ADDRESS


ETH_INFO = TokenInfo(ETH, ETH_DECIMALS)


# ------------------------------------------------------------------ naming a currency


def currency_key(address: str | None) -> str:
    """``"ETH"`` for None, ``"ETH"`` or the zero address, else the token's checksummed address."""
    if address is None or address in (ETH, ZERO_ADDRESS) or int(address, 16) == 0:
        return ETH
    return to_checksum_address(address)


def short_address(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def unknown_token(key: str) -> TokenInfo:
    """How a token is shown whose metadata is not known: its short address, in base units."""
    return TokenInfo(short_address(key), 0, cast("ChecksumAddress", key))


def info_for(key: str, known: Mapping[str, TokenInfo]) -> TokenInfo:
    """The display of currency `key` from `known` (by key), else its short address in base units."""
    if key == ETH:
        return ETH_INFO
    return known.get(key) or unknown_token(key)


# ------------------------------------------------------------------ amounts


def units_text(amount: int, decimals: int) -> str:
    """Exact base units as text in whole units: (17510000, 6) -> ``"17.51"`` (no float, no rounding)."""
    sign = "-" if amount < 0 else ""
    if decimals <= 0:
        return f"{amount}"
    whole, fraction = divmod(abs(amount), 10**decimals)
    digits = str(fraction).zfill(decimals).rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def amount_text(amount: int, info: TokenInfo | None = None) -> str:
    """``1.5 USDC``, ``0.25 ETH``: exact, trailing zeros cut. No info: ETH."""
    info = info or ETH_INFO
    return f"{units_text(amount, info.decimals)} {info.symbol}"


def parse_amount(text: str, currency: TokenInfo, *, what: str = "--value") -> int:
    """``125.50`` in `currency`'s whole units as an integer of its base units; one-line ConfigError
    for anything but a plain positive decimal with at most the currency's decimals."""
    cleaned = text.strip().replace("_", "")
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        raise ConfigError(f"{what} must be a plain amount such as 125.50 {currency.symbol}, got {text!r}")
    whole = match["whole"] or "0"
    fraction = (match["fraction"] or match["only_fraction"] or "").rstrip("0")
    if len(fraction) > currency.decimals:
        raise ConfigError(f"{what} {text!r} has more decimals than {currency.symbol} has ({currency.decimals})")
    amount = int(whole) * 10**currency.decimals + int(fraction.ljust(currency.decimals, "0") or "0")
    if amount <= 0:
        raise ConfigError(f"{what} must be more than 0 {currency.symbol}")
    return amount


# ------------------------------------------------------------------ reading a token's metadata

# Per connection (a node and what is deployed on it), by the token's checksummed address: the
# metadata exactly as the token answered. Failures are not kept: a node that was down is asked again.
_read: WeakKeyDictionary[Connection, dict[str, TokenInfo]] = WeakKeyDictionary()
_lock = Lock()


def unread(node: Connection, currencies: Iterable[str | None]) -> list[str]:
    """The tokens among `currencies` (None or ``"ETH"``: ETH, never unread) not read from `node` yet."""
    keys = {currency_key(c) for c in currencies} - {ETH}
    with _lock:
        known = _read.get(node, {})
        return sorted(key for key in keys if key not in known)


def _load(node: Connection, currencies: Iterable[str | None]) -> dict[str, str]:
    """Read the unread tokens among `currencies` into the cache (one batch); what could not be read: why."""
    wanted = unread(node, currencies)
    if not wanted:
        return {}
    try:
        answers = node.call_many([call for key in wanted for call in _calls(node, key)])
        found = {key: answers[3 * i : 3 * i + 3] for i, key in enumerate(wanted)}
        problems: dict[str, str] = {}
    except Exception:  # noqa: BLE001 - one token failed the batch: ask each alone, the name last
        found, problems = {}, {}
        for key in wanted:
            symbol, decimals, name = _calls(node, key)
            try:
                found[key] = [*node.call_many([symbol, decimals]), _or_none(node, name)]
            except Exception as exc:  # noqa: BLE001 - no code, no metadata, a revert, an odd answer
                problems[key] = str(exc) or type(exc).__name__
    infos = {}
    for key, (symbol, decimals, name) in found.items():
        if not isinstance(symbol, str) or not isinstance(decimals, int):
            problems[key] = f"symbol() and decimals() answered {symbol!r} and {decimals!r}"
            continue
        infos[key] = TokenInfo(symbol, decimals, to_checksum_address(key), None if name is None else str(name))
    with _lock:
        _read.setdefault(node, {}).update(infos)
    return problems


def _calls(node: Connection, key: str) -> list[Any]:
    from chaincrm.chain.contract import contract_at

    functions = contract_at(node, "ERC20", to_checksum_address(key), METADATA_ABI).functions
    return [functions.symbol(), functions.decimals(), functions.name()]


def _or_none(node: Connection, call: Any) -> Any:
    try:
        return node.call(call)
    except Exception:  # noqa: BLE001 - name() is optional in ERC-20
        return None


def _cached(node: Connection, key: str) -> TokenInfo | None:
    with _lock:
        return _read.get(node, {}).get(key)


def _shown(info: TokenInfo | None, key: str) -> TokenInfo:
    """`info` as it may be displayed: printable symbol, at most MAX_SYMBOL_LENGTH characters."""
    if info is None:
        return unknown_token(key)
    text = "".join(ch for ch in info.symbol if ch.isprintable()).strip()[:MAX_SYMBOL_LENGTH]
    return info if text == info.symbol else replace(info, symbol=text or short_address(key))


def known_info(node: Connection, currency: str | None) -> TokenInfo:
    """A currency's display from what was read already, never from the node (a token not read, or
    unreadable: its short address in base units). For code that must not block: read first."""
    key = currency_key(currency)
    return ETH_INFO if key == ETH else _shown(_cached(node, key), key)


def tokens_info(node: Connection, currencies: Iterable[str | None]) -> dict[str, TokenInfo]:
    """The display of each currency (None: ETH), by key; the tokens not read yet are read in one batch."""
    keys = list(dict.fromkeys(currency_key(c) for c in currencies))  # in the order given
    _load(node, keys)
    return {key: known_info(node, key) for key in keys}


def token_info(node: Connection, currency: str | None) -> TokenInfo:
    """A currency's display: symbol and decimals read from the token once per connection and token."""
    return tokens_info(node, [currency])[currency_key(currency)]


def erc20_info(node: Connection, token: str | None) -> TokenInfo:
    """A currency to pay or be paid in (ETH for None or the zero address): a token's symbol and
    decimals as it answers them; a one-line ConfigError when it does not answer as an ERC-20 or its
    symbol or decimals are unusable."""
    key = currency_key(token)
    if key == ETH:
        return ETH_INFO
    problem = _load(node, [key]).get(key)
    info = _cached(node, key)
    if info is None:
        raise ConfigError(f"{key} does not answer symbol() and decimals() as an ERC-20 does ({problem})")
    if not _SYMBOL.fullmatch(info.symbol) or not 0 <= info.decimals <= MAX_DECIMALS:
        raise ConfigError(f"{key} reports an unusable symbol {info.symbol[:20]!r} or decimals {info.decimals}")
    return info


__all__ = [
    "ETH",
    "ETH_DECIMALS",
    "ETH_INFO",
    "METADATA_ABI",
    "TokenInfo",
    "amount_text",
    "currency_key",
    "erc20_info",
    "info_for",
    "known_info",
    "parse_amount",
    "short_address",
    "token_info",
    "tokens_info",
    "units_text",
    "unknown_token",
    "unread",
]
