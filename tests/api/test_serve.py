"""`chaincrm serve --signer ... --integration-database ...`: the REST API with a key made by
`chaincrm api-key create`, writing through the unlocked keystore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.models import Stage
from chaincrm.services.anvil import free_port
from tests.cli.conftest import Accounts, cli_for, environment_for
from tests.portal.conftest import WAIT_SECONDS, new_customer


def test_serve_signs_api_writes_with_the_unlocked_keystore(
    settings: Settings, crm: Crm, store: object, accounts: Accounts, tmp_path: Path
) -> None:
    customer_id = new_customer(crm, store, accounts, accounts.customer)  # type: ignore[arg-type]
    database = tmp_path / "integration.sqlite"
    cli = cli_for(environment_for(settings))
    key = cli(
        "api-key", "create", "--staff", accounts.agent.address, "--integration-database", database, "--json"
    ).json()["key"]
    port = free_port()
    env = {**os.environ, **{k: v for k, v in environment_for(settings).items() if v is not None}}
    command = [
        sys.executable,
        "-c",
        "from chaincrm.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--no-follow",
        "--signer",
        accounts.agent.address,
        "--integration-database",
        str(database),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/config")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.1)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/deals",
            json={"customer_id": customer_id, "value_wei": str(10**18)},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
        crm.chain.nonces.reset_all()

    assert answer.status_code == 201, answer.text
    deal = crm.pipeline.deal(answer.json()["deal_id"])
    assert (deal.customer_id, deal.owner, deal.stage) == (customer_id, accounts.agent.address, Stage.LEAD)
    assert f"REST API: http://127.0.0.1:{port}/api/v1 (docs: http://127.0.0.1:{port}/api/v1/docs)" in stdout
    assert f"API writes signed by: {accounts.agent.address}" in stdout
    assert process.returncode == 0, stderr


def test_a_missing_signer_keystore_is_one_line(settings: Settings, crm: Crm) -> None:
    shown = cli_for(environment_for(settings))(
        "serve", "--signer", "0x" + "12" * 20, "--port", free_port(), "--no-follow"
    )

    assert "keystore" in shown.error
