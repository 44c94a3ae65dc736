"""chaincrm: a customer-relationship manager whose record of truth is a set of Ethereum contracts."""

from __future__ import annotations

__version__ = "0.1.0"
