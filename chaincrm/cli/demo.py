"""`chaincrm demo`: the whole story on a local chain and IPFS node.

The story is demo tooling, not library: it lives in :mod:`chaincrm_tools.demo.story` with the
seeding it uses, and is imported only when `chaincrm demo` runs.
"""

from __future__ import annotations

from chaincrm_tools.demo.story import run_demo

__all__ = ["run_demo"]
