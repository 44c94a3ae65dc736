"""Fixtures every test folder may use: the one Chromium of the run (see tests/chromium.py)."""

from tests.chromium import browser, chromium

__all__ = ["browser", "chromium"]
