"""Units the whole package shares (no imports, so the CLI can use them at start-up)."""

from __future__ import annotations

WEI_PER_ETH = 10**18
"""1 ETH in wei."""
