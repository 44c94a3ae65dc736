"""The branch-node tests' settings (the on-chain branch fixtures are in branch_fixtures.py)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # ipfshttpclient 0.7.0 passes `strict` to urllib3 2.x; chaincrm.storage silences it at import,
    # but pytest drops filters set while it collects.
    config.addinivalue_line("filterwarnings", "ignore:The 'strict' parameter is no longer needed:FutureWarning")
