"""The whole story through the installed `chaincrm` console script, as staff and a customer run it.

Staff work in one home (the stack, the deployment record, their keystores); the customer works
in a home of their own that holds only their keystore and a copy of the deployment record. Every
step is a separate process, so nothing is shared but the chain, the IPFS node and the files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaincrm.contracts.payments import parse_payment_uri
from chaincrm.services import stack
from chaincrm.services.anvil import PROJECT_ROOT
from tests.cli.conftest import SCRYPT_N_FOR_TESTS, settings_for, two_free_ports

CHAINCRM = PROJECT_ROOT / ".venv" / "bin" / "chaincrm"
PASSWORD = "story password"
COMMAND_TIMEOUT_SECONDS = 120

ADMIN, AGENT, MANAGER, CUSTOMER, TREASURY = 0, 1, 2, 3, 5  # Anvil's dev accounts by index


@dataclass(frozen=True)
class Person:
    """Somebody at a terminal: their own CHAINCRM_HOME and keystore."""

    home: Path
    environment: dict[str, str]

    def run(self, *args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CHAINCRM), *(str(arg) for arg in args)],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )

    def ok(self, *args: object) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"chaincrm {' '.join(map(str, args))} failed: {done.stderr}"
        return done.stdout

    def json(self, *args: object) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def new_key(self, dev_account: int) -> str:
        # --scrypt-n only lowers the keystore's cost so that each step unlocks in milliseconds.
        return str(self.json("key", "new", "--dev-account", dev_account, "--scrypt-n", SCRYPT_N_FOR_TESTS)["address"])


@pytest.fixture
def people(tmp_path: Path) -> Iterator[tuple[Person, Person]]:
    """Staff and a customer on a stack with free ports; the stack is stopped at the end, also on failure."""
    if not CHAINCRM.exists():
        pytest.fail(f"{CHAINCRM} is missing: run `.venv/bin/pip install --no-deps --no-build-isolation -e .`")
    chain_port, ipfs_port = two_free_ports()
    staff_settings = settings_for(tmp_path / "staff", chain_port, ipfs_port)

    def person(home: Path) -> Person:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("CHAINCRM_")}
        environment |= {
            "CHAINCRM_HOME": str(home),
            "CHAINCRM_PASSWORD": PASSWORD,
            "CHAINCRM_RPC_URL": staff_settings.rpc_url,
            "CHAINCRM_IPFS_API": staff_settings.ipfs_api,
        }
        return Person(home, environment)

    try:
        yield person(staff_settings.home), person(tmp_path / "customer")
    finally:
        stack.down(staff_settings)  # a no-op when the story's own `node down` ran


def test_a_customer_accepts_their_wallet_reads_their_data_and_pays_from_it(
    people: tuple[Person, Person], tmp_path: Path
) -> None:
    staff, customer = people

    # Staff start the local stack and deploy the CRM.
    started = staff.json("node", "up")
    assert started["chain"]["running"] and started["ipfs"]["running"]
    admin, agent, treasury = staff.new_key(ADMIN), staff.new_key(AGENT), staff.new_key(TREASURY)
    deployed = staff.json("deploy", "--keystore", admin, "--treasury", treasury)
    assert deployed["treasury"] == treasury

    # The admin hires an agent, who publishes their encryption key, and a manager.
    manager = staff.new_key(MANAGER)
    assert staff.json("staff", "add", manager, "--role", "manager", "--keystore", admin)["changed"]
    assert staff.json("staff", "add", agent, "--role", "agent", "--keystore", admin)["changed"]
    assert staff.json("staff", "key", "--keystore", agent)["changed"]

    # The customer, on their own machine, makes a keystore; their key travels with their acceptance.
    wallet = customer.new_key(CUSTOMER)
    shutil.copytree(staff.home / "deployments", customer.home / "deployments")

    # The agent registers the customer: the wallet is only proposed, and cannot read anything yet.
    added = staff.json(
        "customer", "add", "--name", "Lena Lindqvist", "--email", "lena@example.org", "--wallet", wallet,
        "--keystore", agent,
    )  # fmt: skip
    customer_id = added["customer_id"]
    assert added["proposed_wallet"] == wallet and wallet not in added["readers"]
    record = staff.json("customer", "show", customer_id)
    assert (record["wallet"], record["pending_wallet"]) == (None, wallet)

    # One agent alone cannot bind a wallet: the customer cannot accept before a manager approves.
    refused = customer.run("customer", "accept-wallet", customer_id, "--keystore", wallet)
    assert refused.returncode != 0 and "WalletNotApproved" in refused.stderr
    staff.json("customer", "approve-wallet", customer_id, wallet, "--keystore", manager)

    # The customer accepts the binding with their own transaction; the profile is now stale.
    accepted = customer.json("customer", "accept-wallet", customer_id, "--keystore", wallet)
    assert accepted["wallet"] == wallet and accepted["stale"] is True

    # The agent, a reader of the current version, re-seals it for the chain's readers: now the customer too.
    resealed = staff.json("customer", "reseal", customer_id, "--keystore", agent)
    assert wallet in resealed["readers"] and agent in resealed["readers"]

    # The agent logs a meeting with its minutes attached: encrypted on IPFS, the CID digest on-chain.
    minutes = tmp_path / "minutes.txt"
    minutes.write_text("Agreed on a pilot of 1.25 ETH.\n")
    logged = staff.json(
        "interaction", "log", customer_id, "--kind", "meeting", "--outcome", "positive", "--note",
        "Pilot agreed.", "--attach", minutes, "--keystore", agent,
    )  # fmt: skip
    assert logged["cid"].startswith("Qm")
    assert staff.json("interaction", "list", customer_id)[0]["content_hash"] == logged["content_hash"]

    # The customer reads their own profile and the meeting's note, decrypted with their wallet's key.
    (mine,) = customer.json("me", "profile", "--keystore", wallet)
    assert mine["profile"]["name"] == "Lena Lindqvist"
    assert mine["wallet"] == wallet and mine["sealed_for_you"] is True
    (meeting,) = customer.json("me", "interactions", "--keystore", wallet)
    assert (meeting["note"], meeting["attachments"]) == ("Pilot agreed.", ["minutes.txt"])

    # The agent opens a deal and takes it all the way to won, which issues the invoice to the wallet.
    deal_id = staff.json("deal", "open", customer_id, "--value", "1.25", "--keystore", agent)["deal_id"]
    for stage in ("qualified", "proposal", "negotiation", "contracting"):
        assert staff.json("deal", "move", deal_id, stage, "--keystore", agent)["stage"] == stage
    won = staff.json("deal", "move", deal_id, "won", "--keystore", agent)
    invoice_id = won["invoice_id"]
    assert won["stage"] == "won" and invoice_id is not None

    # The agent hands the customer a payment request.
    png = tmp_path / "invoice.png"
    shown = staff.ok("invoice", "uri", invoice_id, "--png", png)
    request = parse_payment_uri(shown.splitlines()[0])
    assert (request.address, request.invoice_id, request.value_wei) == (deployed["escrow"], invoice_id, 125 * 10**16)
    assert png.stat().st_size > 0

    # The customer pays from their own wallet and confirms delivery.
    assert customer.json("invoice", "pay", invoice_id, "--keystore", wallet)["status"] == "paid"
    assert customer.json("invoice", "confirm", invoice_id, "--keystore", wallet)["status"] == "released"

    # A mistake along the way is one line and changes nothing.
    refused = customer.run("invoice", "pay", invoice_id, "--keystore", wallet)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"error: InvoiceAlreadyPaid(invoiceId={invoice_id})"

    # Staff stop the stack.
    stopped = staff.json("node", "down")
    assert {name: service["stopped"] for name, service in stopped.items()} == {"chain": True, "ipfs": True}
    assert staff.json("node", "status")["chain"]["running"] is False
