"""The one currency module: amounts written exactly in whole units and parsed back (no chain)."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from chaincrm.currency import ETH, ETH_INFO, TokenInfo, amount_text, currency_key, info_for, parse_amount, units_text
from chaincrm.errors import ConfigError
from chaincrm.models import ZERO_ADDRESS

ADDRESS = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
USDC = TokenInfo("USDC", 6, to_checksum_address(ADDRESS))


def test_an_amount_is_written_exactly_with_trailing_zeros_cut() -> None:
    assert units_text(17_510_000, 6) == "17.51"
    assert units_text(17_000_000, 6) == "17"
    assert units_text(1, 18) == "0.000000000000000001"
    assert units_text(0, 18) == "0"
    assert units_text(7, 0) == "7"


def test_an_amount_beyond_decimal_precision_is_not_rounded() -> None:
    assert units_text(10**40 + 1, 6) == "10000000000000000000000000000000000.000001"


def test_a_negative_amount_keeps_its_sign() -> None:
    assert units_text(-1_500_000, 6) == "-1.5"
    assert units_text(-1, 6) == "-0.000001"


def test_an_amount_is_shown_with_its_symbol_and_eth_by_default() -> None:
    assert amount_text(125_500_000, USDC) == "125.5 USDC"
    assert amount_text(25 * 10**16) == "0.25 ETH"


def test_typed_text_becomes_base_units_and_back() -> None:
    assert parse_amount("125.50", USDC) == 125_500_000
    assert parse_amount(".5", ETH_INFO) == 5 * 10**17
    assert amount_text(parse_amount("1_000.000001", USDC), USDC) == "1000.000001 USDC"


@pytest.mark.parametrize("text", ["1.0000001", "-1", "1e3", "nan", "0", ""])
def test_inexact_or_non_positive_text_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_amount(text, USDC, what="--amount")

    assert "--amount" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_eth_has_one_key_however_it_is_named() -> None:
    assert currency_key(None) == currency_key(ZERO_ADDRESS) == currency_key("ETH") == ETH == ETH_INFO.key
    assert currency_key(ADDRESS) == USDC.key == USDC.address


def test_a_token_not_known_is_shown_as_its_short_address_in_base_units() -> None:
    shown = info_for(USDC.key, {})

    assert (shown.symbol, shown.decimals, shown.address) == ("0x5FbD…0aa3", 0, USDC.address)
    assert info_for(USDC.key, {USDC.key: USDC}) is USDC
