"""What a read command loads: reading invoices, deals, staff, customers and interactions from a
node imports neither web3 nor eth-account, whose import (about 0.6 s) was most of every command's
start. A structural check: no timings.

A command that reads logs decodes them without web3, so the last test checks that decoding against
web3's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm

WEB3_AND_SIGNERS = (
    "web3",
    "eth_account",
    "eth_keys",
    "eth_keyfile",
    "aiohttp",
    "websockets",
    "brownie",
    "chaincrm.chain.sending",
    "chaincrm.chain.receipts",
)
NOT_FOR_READS = (
    *WEB3_AND_SIGNERS,
    "requests",
    "hexbytes",
    "rlp",
    "sqlalchemy",
    "cryptography",
    "chaincrm.contracts.registry",
    "chaincrm.storage",
    "chaincrm.privacy",
)


def _loaded_by(settings: Settings, *args: str) -> list[str]:
    """Which of NOT_FOR_READS a run of `chaincrm ARGS --json` imports, in a fresh interpreter."""
    probe = (
        "import json, sys\n"
        f"sys.argv = ['chaincrm', *{[*args, '--json']!r}]\n"
        "from chaincrm.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        f"    print(json.dumps(sorted(m for m in {NOT_FOR_READS!r} if m in sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, "CHAINCRM_HOME": str(settings.home), "CHAINCRM_RPC_URL": settings.rpc_url}
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    json.loads(ran.stdout)  # the command did read and print its answer
    return list(json.loads(ran.stderr.strip().splitlines()[-1]))


def _web3_or_signer(loaded: list[str]) -> list[str]:
    return [module for module in loaded if module in WEB3_AND_SIGNERS]


def test_showing_an_invoice_imports_neither_web3_nor_a_signer(settings: Settings, invoice_id: int) -> None:
    loaded = _loaded_by(settings, "invoice", "show", str(invoice_id))

    assert loaded == []


def test_listing_invoices_imports_neither_web3_nor_a_signer(settings: Settings, invoice_id: int) -> None:
    loaded = _loaded_by(settings, "invoice", "list")

    assert loaded == []


def test_listing_deals_imports_neither_web3_nor_a_signer(settings: Settings, deal_id: int) -> None:
    loaded = _loaded_by(settings, "deal", "list")

    assert loaded == []


def test_showing_a_deal_and_its_history_imports_neither_web3_nor_a_signer(settings: Settings, deal_id: int) -> None:
    loaded = _loaded_by(settings, "deal", "show", str(deal_id))

    assert _web3_or_signer(loaded) == []


def test_listing_staff_from_the_role_logs_imports_neither_web3_nor_a_signer(settings: Settings, crm: Crm) -> None:
    loaded = _loaded_by(settings, "staff", "list")

    assert _web3_or_signer(loaded) == []
    assert "chaincrm.privacy" not in loaded


def test_showing_a_staff_member_imports_neither_web3_nor_a_signer(settings: Settings, crm: Crm) -> None:
    loaded = _loaded_by(settings, "staff", "show", crm.deployment.deployer)

    assert _web3_or_signer(loaded) == []


def test_showing_a_customer_without_a_keystore_imports_neither_web3_nor_a_signer(
    settings: Settings, customer_id: int
) -> None:
    loaded = _loaded_by(settings, "customer", "show", str(customer_id))

    assert _web3_or_signer(loaded) == []


def test_listing_customers_imports_neither_web3_nor_a_signer(settings: Settings, customer_id: int) -> None:
    loaded = _loaded_by(settings, "customer", "list")

    assert _web3_or_signer(loaded) == []


def test_a_customer_timeline_imports_neither_web3_nor_a_signer(
    settings: Settings, customer_id: int, deal_id: int
) -> None:
    loaded = _loaded_by(settings, "customer", "timeline", str(customer_id))

    assert _web3_or_signer(loaded) == []


def test_listing_interactions_from_the_chain_imports_neither_web3_nor_a_signer(
    settings: Settings, customer_id: int
) -> None:
    loaded = _loaded_by(settings, "interaction", "list", str(customer_id), "--from-chain")

    assert _web3_or_signer(loaded) == []


def test_events_read_without_web3_are_what_web3_decodes(crm: Crm, deal_id: int) -> None:
    """Every field web3's get_logs gives (arguments with their types, hashes, positions) for the
    registry's and the pipeline's events, from the raw eth_getLogs the read commands use."""
    start = crm.deployment.block_number
    events = [
        (crm.registry.contract, "RoleGranted", {}),
        (crm.registry.contract, "ProfileUpdated", {}),
        (crm.registry.contract, "WalletAccepted", {}),
        (crm.pipeline.contract, "DealOpened", {"dealId": [deal_id, deal_id + 1]}),
    ]

    for contract, name, filters in events:
        ours = crm.chain.logs.events(getattr(contract.events, name), from_block=start, argument_filters=filters)
        theirs = getattr(contract.events, name)().get_logs(from_block=start, argument_filters=filters)

        assert ours, name
        assert [dict(log) | {"args": dict(log["args"])} for log in ours] == [
            dict(log) | {"args": dict(log["args"])} for log in theirs
        ], name
        assert [[type(v) for v in log["args"].values()] for log in ours] == [
            [type(v) for v in log["args"].values()] for log in theirs
        ], name
