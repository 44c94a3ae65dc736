"""What a read command loads: reading invoices from a node imports neither web3 nor eth-account,
whose import (about 0.6 s) was most of every command's start. A structural check: no timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from chaincrm.config import Settings

NOT_FOR_READS = (
    "web3",
    "eth_account",
    "eth_keys",
    "eth_keyfile",
    "aiohttp",
    "requests",
    "websockets",
    "hexbytes",
    "rlp",
    "sqlalchemy",
    "brownie",
    "cryptography",
    "chaincrm.chain.sending",
    "chaincrm.chain.receipts",
    "chaincrm.contracts.registry",
    "chaincrm.storage",
    "chaincrm.privacy",
)


def _loaded_by(settings: Settings, *args: str) -> list[str]:
    """Which of NOT_FOR_READS a run of `chaincrm ARGS` imports, in a fresh interpreter."""
    probe = (
        "import json, sys\n"
        f"sys.argv = ['chaincrm', *{list(args)!r}]\n"
        "from chaincrm.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        f"    print(json.dumps(sorted(m for m in {NOT_FOR_READS!r} if m in sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, "CHAINCRM_HOME": str(settings.home), "CHAINCRM_RPC_URL": settings.rpc_url}
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert '"status"' in ran.stdout, ran.stderr  # the command did read the invoice
    return list(json.loads(ran.stderr.strip().splitlines()[-1]))


def test_showing_an_invoice_imports_neither_web3_nor_a_signer(settings: Settings, invoice_id: int) -> None:
    loaded = _loaded_by(settings, "invoice", "show", str(invoice_id), "--json")

    assert loaded == []


def test_listing_invoices_imports_neither_web3_nor_a_signer(settings: Settings, invoice_id: int) -> None:
    loaded = _loaded_by(settings, "invoice", "list", "--json")

    assert loaded == []
