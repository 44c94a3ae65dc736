"""`chaincrm serve --staff --keystore ADDRESS`: loopback only, the console's URL printed with its
token, and that URL opening a session on the running server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from chaincrm.config import Settings
from chaincrm.services.anvil import free_port
from tests.cli.conftest import Accounts, cli_for, environment_for
from tests.console.conftest import ConsoleServer
from tests.portal.conftest import WAIT_SECONDS

STAFF_LINE = "Staff console: "


def test_serve_help_describes_the_staff_console(settings: Settings) -> None:
    shown = cli_for(environment_for(settings))("serve", "--help")

    assert shown.exit_code == 0
    assert "--staff" in shown.stdout and "--keystore" in shown.stdout
    assert "loopback only" in shown.stdout


def test_staff_on_a_non_loopback_host_is_one_line(console_server: ConsoleServer, accounts: Accounts) -> None:
    cli = cli_for(environment_for(console_server.settings))

    for host in ("0.0.0.0", "192.0.2.10", "::"):
        shown = cli(
            "serve", "--staff", "--keystore", accounts.agent.address, "--host", host,
            "--public-url", "https://crm.example", "--port", free_port(), "--no-follow",
        )  # fmt: skip

        assert shown.error.startswith(
            f"error: --staff serves on loopback only (127.0.0.1, ::1, localhost), not --host {host}"
        )


def test_a_keystore_without_staff_is_one_line(console_server: ConsoleServer, accounts: Accounts) -> None:
    cli = cli_for(environment_for(console_server.settings))

    shown = cli("serve", "--keystore", accounts.agent.address, "--port", free_port(), "--no-follow")

    assert shown.error == "error: --keystore names the staff console's keystore: it needs --staff"


def test_staff_without_a_keystore_is_one_line(console_server: ConsoleServer) -> None:
    cli = cli_for(environment_for(console_server.settings))

    shown = cli("serve", "--staff", "--port", free_port(), "--no-follow")

    assert "no signer: pass --keystore" in shown.error


def test_a_keystore_without_a_staff_role_is_one_line(console_server: ConsoleServer, accounts: Accounts) -> None:
    cli = cli_for(environment_for(console_server.settings))

    shown = cli("serve", "--staff", "--keystore", accounts.customer.address, "--port", free_port(), "--no-follow")

    address = accounts.customer.address
    refusal = "is neither an agent nor a manager on chain: it cannot use the staff console"
    assert shown.error == f"error: {address} {refusal}"


def test_serve_staff_prints_a_url_whose_token_opens_the_console(
    console_server: ConsoleServer, accounts: Accounts
) -> None:
    port = free_port()
    env = {**os.environ, **{k: v for k, v in environment_for(console_server.settings).items() if v is not None}}
    command = [sys.executable, "-c", "from chaincrm.cli import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen(
        # The test server's index, read as it is (--no-follow): this server only has to answer.
        [
            *command,
            "--no-follow",
            "--database",
            str(console_server.app_config.database),
            "--staff",
            "--keystore",
            accounts.agent.address,
        ],  # fmt: skip
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed: list[str] = []
        deadline = time.monotonic() + WAIT_SECONDS
        assert process.stdout is not None
        while not any(line.startswith(STAFF_LINE) for line in printed):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            printed.append(process.stdout.readline())
        url = next(line for line in printed if line.startswith(STAFF_LINE))[len(STAFF_LINE) :].strip()
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/config")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)

        with httpx.Client(timeout=30) as browser:
            without = browser.get(f"http://127.0.0.1:{port}/staff/")
            opened = browser.get(url)
            board = browser.get(f"http://127.0.0.1:{port}/staff/")

        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()

    prefix = f"http://127.0.0.1:{port}/staff/?token="
    assert url.startswith(prefix)
    assert len(url) - len(prefix) == 43  # secrets.token_urlsafe(32)
    assert without.status_code == 401
    assert opened.status_code == 303 and opened.headers["location"] == "/staff/"
    assert board.status_code == 200 and 'class="deal-card"' in board.text
    assert process.returncode == 0, stderr
    assert url.rsplit("=", 1)[1] not in stderr
