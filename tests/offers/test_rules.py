"""Offer rules from TOML: what a good file gives, and one line naming the key and its line for a bad one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from chaincrm.errors import ConfigError
from chaincrm.offers.rules import Rule, load_rules, parse_discount, parse_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "offer-rules.toml"

GOOD = """\
# loyal customers
[[rule]]
name = "loyal"
min_released_invoices = 3
window_days = 365
discount_percent = "5"

[[rule]]
name = "big spender"
min_paid = "2.5"
currency = "eth"
window_days = 365
discount_bps = 750
valid_days = 7
max_uses = 2
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_rules(text, Path("rules.toml"))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_good_file_gives_each_rule_with_its_defaults() -> None:
    rules = parse_rules(GOOD, Path("rules.toml")).rules

    assert rules == (
        Rule(name="loyal", discount_bps=500, min_released_invoices=3, window_days=365),
        Rule(
            name="big spender",
            discount_bps=750,
            valid_days=7,
            max_uses=2,
            min_paid=Decimal("2.5"),
            currency="ETH",
            window_days=365,
        ),
    )
    assert rules[0].valid_days == 14 and rules[0].max_uses == 1


def test_the_shipped_example_is_a_valid_rules_file() -> None:
    assert load_rules(EXAMPLE).rules


def test_an_unknown_key_is_refused_with_its_name_and_line() -> None:
    assert _error(GOOD.replace("window_days = 365\ndiscount_percent", "windw_days = 365\ndiscount_percent")) == (
        "offer rules rules.toml line 5: windw_days: unknown key (known: currency, discount_bps, discount_percent, "
        "max_uses, min_paid, min_released_invoices, name, valid_days, window_days)"
    )


def test_an_unknown_top_level_key_is_refused_with_its_line() -> None:
    assert _error("version = 2\n" + GOOD).startswith("offer rules rules.toml line 1: version: unknown key")


def test_a_value_out_of_range_names_its_key_and_line() -> None:
    assert _error(GOOD.replace("discount_bps = 750", "discount_bps = 20000")) == (
        "offer rules rules.toml line 13: discount_bps: must be a whole number from 1 to 9999"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('min_paid = "2.5"', "min_paid = 2.5", 'line 10: min_paid: must be a positive decimal string, e.g. "2.5"'),
        ('min_paid = "2.5"', 'min_paid = "-1"', "line 10: min_paid: must be a positive decimal"),
        ('currency = "eth"', 'currency = "0x12"', "line 11: currency: must be ETH, a token symbol or a token address"),
        ('discount_percent = "5"', 'discount_percent = "5.001"', "line 6: discount_percent: must be a percentage"),
        ("max_uses = 2", "max_uses = 0", "line 15: max_uses: must be a whole number from 1 to 4294967295"),
        ("valid_days = 7", "valid_days = true", "line 14: valid_days: must be a whole number"),
        ('name = "big spender"', 'name = "loyal"', "line 9: name: 'loyal' is also the name of rule 1"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_it(old: str, new: str, expected: str) -> None:
    assert expected in _error(GOOD.replace(old, new))


def test_a_rule_needs_a_condition_and_a_discount() -> None:
    assert _error('[[rule]]\nname = "x"\ndiscount_bps = 1\n') == (
        "offer rules rules.toml line 1: rule 'x' has no condition (min_released_invoices or min_paid)"
    )
    assert "rule 'x' has no discount" in _error('[[rule]]\nname = "x"\nmin_released_invoices = 1\n')
    assert "give discount_percent or discount_bps, not both" in _error(
        '[[rule]]\nname = "x"\nmin_released_invoices = 1\ndiscount_bps = 1\ndiscount_percent = "1"\n'
    )


def test_a_currency_without_min_paid_is_refused() -> None:
    assert "line 4: currency: applies only to min_paid" in _error(
        '[[rule]]\nname = "x"\nmin_released_invoices = 1\ncurrency = "USDC"\ndiscount_bps = 1\n'
    )


def test_a_sub_table_in_a_rule_is_an_unknown_key_on_its_header_line() -> None:
    assert _error(GOOD + "\n[rule.conditions]\nmin_paid = 1\n").startswith(
        "offer rules rules.toml line 17: conditions: unknown key"
    )


def test_broken_toml_is_refused_with_the_parsers_line() -> None:
    message = _error("[[rule]\nname = 1\n")
    assert message.startswith("offer rules rules.toml: not valid TOML:") and "line 1" in message


def test_a_missing_file_is_one_line() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_rules(Path("/nonexistent/rules.toml"))


@pytest.mark.parametrize(
    ("text", "bps"),
    [("5%", 500), ("5", 500), ("2.5%", 250), ("0.01%", 1), ("99.99%", 9_999), ("250bps", 250), ("250 bps", 250)],
)
def test_a_discount_is_read_as_percent_or_basis_points(text: str, bps: int) -> None:
    assert parse_discount(text) == bps


@pytest.mark.parametrize("text", ["0%", "101%", "0.001%", "five", "-5%", "0bps", "10000bps", "100%", "nan%"])
def test_a_discount_out_of_range_is_not_read(text: str) -> None:
    assert parse_discount(text) is None
