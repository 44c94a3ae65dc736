"""Offer rules: who earns a discount on their next deal, read from a TOML file.

One ``[[rule]]`` table per rule; every condition a rule names must hold (they are and-ed)::

    [[rule]]
    name = "loyal"                 # required, unique
    min_released_invoices = 3      # at least 3 invoices released to the treasury...
    min_paid = "2.5"               # ...and at least 2.5 paid (a decimal string, in `currency`)
    currency = "ETH"               # ETH (default), a token's symbol or its address
    window_days = 365              # both counted over the last 365 days (default: all history)
    discount_percent = "5"         # or discount_bps = 500 (exactly one of the two)
    valid_days = 14                # an offer issued from it expires after 14 days (default 14)
    max_uses = 1                   # and can be accepted once (default 1)

A file the reader cannot use is refused with one line naming the key and its line number
(``offer-rules.toml line 7: discount_bps: must be a whole number from 1 to 10000``); a key it
does not know is refused the same way, so a typo never silently drops a condition.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from chaincrm.errors import ConfigError

BPS_PER_WHOLE = 10_000  # 100 % in basis points
MAX_DISCOUNT_BPS = BPS_PER_WHOLE - 1  # the contract refuses 100 % and more (OfferDiscountInvalid)
UINT32_MAX = 2**32 - 1  # Offer.maxUses
MAX_VALID_DAYS = 3650
ETH = "ETH"
DEFAULT_VALID_DAYS = 14
DEFAULT_MAX_USES = 1

CONDITION_KEYS = ("min_released_invoices", "min_paid")
RULE_KEYS = frozenset(
    {
        "name",
        "min_released_invoices",
        "min_paid",
        "currency",
        "window_days",
        "discount_percent",
        "discount_bps",
        "valid_days",
        "max_uses",
    }
)
TOP_KEYS = frozenset({"rule"})
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SYMBOL = re.compile(r"^[A-Za-z0-9.\-_]{1,16}$")


@dataclass(frozen=True)
class Rule:
    """One rule: conditions (None: not required), the discount and the offer's terms."""

    name: str
    discount_bps: int
    valid_days: int = DEFAULT_VALID_DAYS
    max_uses: int = DEFAULT_MAX_USES
    min_released_invoices: int | None = None
    min_paid: Decimal | None = None  # in whole units of `currency` (ETH, or the token's)
    currency: str = ETH  # "ETH", a token symbol, or a checksummed token address
    window_days: int | None = None  # None: the whole history

    def describe(self) -> str:
        """The rule's conditions in words: `>= 3 released invoices and >= 2.5 ETH paid, last 365 days`."""
        parts = []
        if self.min_released_invoices is not None:
            parts.append(f">= {self.min_released_invoices} released invoices")
        if self.min_paid is not None:
            parts.append(f">= {self.min_paid} {self.currency} paid")
        window = f", last {self.window_days} days" if self.window_days is not None else ""
        return " and ".join(parts) + window


@dataclass(frozen=True)
class Rules:
    path: Path
    rules: tuple[Rule, ...]


def load_rules(path: Path) -> Rules:
    """The rules in the TOML file at `path`; a ConfigError naming the key and line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"offer rules {path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"offer rules {path}: not UTF-8 text") from None
    return parse_rules(text, path)


def parse_rules(text: str, path: Path) -> Rules:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"offer rules {path}: not valid TOML: {exc}") from None
    lines = _KeyLines(text)

    def fail(rule: int | None, key: str | None, problem: str) -> ConfigError:
        line = lines.line_of(rule, key)
        where = f"{path} line {line}" if line is not None else str(path)
        return ConfigError(f"offer rules {where}: {key + ': ' if key else ''}{problem}")

    for key in document:
        if key not in TOP_KEYS:
            raise fail(None, key, "unknown key (expected [[rule]] tables)")
    tables = document.get("rule")
    if tables is None:
        raise ConfigError(f"offer rules {path}: no [[rule]] table")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise fail(None, "rule", "must be [[rule]] tables")
    rules = tuple(_rule(table, index, fail) for index, table in enumerate(tables))
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.name in seen:
            raise fail(index, "name", f"{rule.name!r} is also the name of rule {seen[rule.name] + 1}")
        seen[rule.name] = index
    return Rules(path, rules)


def _rule(table: Mapping[str, Any], index: int, fail: Any) -> Rule:
    for key in table:
        if key not in RULE_KEYS:
            raise fail(index, key, f"unknown key (known: {', '.join(sorted(RULE_KEYS))})")
    name = table.get("name")
    if name is None:
        raise fail(index, None, f"rule {index + 1} has no name")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise fail(index, "name", "must be a non-empty string of at most 64 characters")
    if not any(key in table for key in CONDITION_KEYS):
        raise fail(index, None, f"rule {name!r} has no condition ({' or '.join(CONDITION_KEYS)})")

    def whole(key: str, low: int, high: int) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise fail(index, key, f"must be a whole number from {low} to {high}")
        return value

    if "discount_percent" in table and "discount_bps" in table:
        raise fail(index, "discount_bps", "give discount_percent or discount_bps, not both")
    if "discount_bps" in table:
        bps = whole("discount_bps", 1, MAX_DISCOUNT_BPS)
    elif "discount_percent" in table:
        bps = _percent_bps(table["discount_percent"])
        if bps is None:
            raise fail(index, "discount_percent", 'must be a percentage from 0.01 to 99.99 in steps of 0.01 (e.g. "5")')
    else:
        raise fail(index, None, f"rule {name!r} has no discount (discount_percent or discount_bps)")
    assert bps is not None

    min_paid: Decimal | None = None
    if "min_paid" in table:
        min_paid = _amount(table["min_paid"])
        if min_paid is None:
            raise fail(index, "min_paid", 'must be a positive decimal string, e.g. "2.5"')
    currency = table.get("currency", ETH)
    if "currency" in table:
        if min_paid is None:
            raise fail(index, "currency", "applies only to min_paid, which this rule does not set")
        currency = _currency(currency)
        if currency is None:
            raise fail(index, "currency", "must be ETH, a token symbol or a token address (0x and 40 hex digits)")

    return Rule(
        name=name.strip(),
        discount_bps=bps,
        valid_days=_or(whole("valid_days", 1, MAX_VALID_DAYS), DEFAULT_VALID_DAYS),
        max_uses=_or(whole("max_uses", 1, UINT32_MAX), DEFAULT_MAX_USES),
        min_released_invoices=whole("min_released_invoices", 1, UINT32_MAX),
        min_paid=min_paid,
        currency=currency,
        window_days=whole("window_days", 1, MAX_VALID_DAYS * 10),
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def parse_discount(text: str) -> int | None:
    """`5%`, `5`, `2.5%` (percent) or `250bps` as basis points from 1 to 9999; None otherwise."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned.endswith("bps"):
        digits = cleaned[:-3]
        if not digits.isdigit():
            return None
        bps = int(digits)
        return bps if 1 <= bps <= MAX_DISCOUNT_BPS else None
    return _percent_bps(cleaned.removesuffix("%"))


def _percent_bps(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None  # a float is refused: 2.3 is not exactly 2.3
    try:
        percent = Decimal(str(value).strip().removesuffix("%"))
    except InvalidOperation:
        return None
    if not percent.is_finite():
        return None
    bps = percent * 100
    if bps != bps.to_integral_value() or not 1 <= bps <= MAX_DISCOUNT_BPS:
        return None
    return int(bps)


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount > 0 else None


def _currency(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.upper() == ETH:
        return ETH
    if _ADDRESS.match(text):
        from chaincrm.chain.addresses import AddressProblem, parse_address

        try:
            return str(parse_address(text))
        except AddressProblem:
            return None
    if text.startswith("0x") or not _SYMBOL.match(text):
        return None
    return text


class _KeyLines:
    """Where each key of the file sits: (rule index or None at the top, key) -> line number.

    tomllib reports no positions for values, so the lines are found by a light scan: a header
    ``[[rule]]`` starts the next rule, ``[rule.x]`` is key x of the current rule, and ``key = ...``
    (bare, quoted or dotted) is a key of whatever table is open."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
    _KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*[.=]""")

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[int | None, str], int] = {}
        self.headers: dict[int, int] = {}
        rule: int | None = None
        count = 0
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                parts = [p.strip().strip("\"'") for p in header.group(2).split(".")]
                if header.group(1) == "[[" and parts == ["rule"]:
                    rule = count
                    self.headers[rule] = number
                    count += 1
                    continue
                if parts[0] == "rule" and len(parts) > 1 and rule is not None:
                    self.keys.setdefault((rule, parts[1]), number)
                else:
                    rule = None
                    self.keys.setdefault((None, parts[0]), number)
                continue
            key = self._KEY.match(line)
            if key:
                self.keys.setdefault((rule, key.group(1).strip("\"'")), number)

    def line_of(self, rule: int | None, key: str | None) -> int | None:
        if key is not None and (rule, key) in self.keys:
            return self.keys[(rule, key)]
        return self.headers.get(rule) if rule is not None else None


__all__ = ["ETH", "Rule", "Rules", "load_rules", "parse_discount", "parse_rules"]
