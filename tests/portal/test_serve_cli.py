"""`chaincrm serve`: help, one-line errors, and a real start that Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.services.anvil import free_port
from tests.cli.conftest import Cli, cli_for, environment_for
from tests.portal.conftest import WAIT_SECONDS


def run_cli(settings: Settings) -> Cli:
    return cli_for(environment_for(settings))


def test_serve_help_describes_the_portal(settings: Settings) -> None:
    shown = run_cli(settings)("serve", "--help")

    assert shown.exit_code == 0
    for flag in ("--host", "--port", "--public-url", "--database", "--relayer-keystore", "--no-follow"):
        assert flag in shown.stdout


def test_an_unknown_flag_is_one_usage_line(settings: Settings) -> None:
    shown = run_cli(settings)("serve", "--colour")

    assert "No such option '--colour'" in shown.usage_error


def test_a_bad_port_is_one_usage_line(settings: Settings) -> None:
    shown = run_cli(settings)("serve", "--port", "70000")

    assert "--port" in shown.usage_error


def test_a_public_url_with_a_path_is_one_line(settings: Settings, crm: Crm) -> None:
    shown = run_cli(settings)("serve", "--public-url", "https://x.example/portal", "--port", free_port())

    assert "public URL" in shown.error


def test_serving_on_all_interfaces_without_a_public_url_is_one_line(settings: Settings, crm: Crm) -> None:
    shown = run_cli(settings)("serve", "--host", "0.0.0.0", "--port", free_port(), "--no-follow")

    assert shown.error.startswith("error: --public-url is needed with --host 0.0.0.0")


def test_a_port_in_use_is_one_line(settings: Settings, crm: Crm) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]

        shown = run_cli(settings)("serve", "--port", port, "--no-follow")

    assert shown.error.startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_a_missing_relayer_keystore_is_one_line(settings: Settings, crm: Crm) -> None:
    shown = run_cli(settings)("serve", "--relayer-keystore", "0x" + "12" * 20, "--port", free_port())

    assert "keystore" in shown.error


def test_serve_answers_then_stops_cleanly_on_ctrl_c(settings: Settings, crm: Crm, tmp_path: object) -> None:
    port = free_port()
    env = {**os.environ, **{k: v for k, v in environment_for(settings).items() if v is not None}}
    env.pop("CHAINCRM_KEYSTORE", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "from chaincrm.cli import main; main()", "serve", "--port", str(port), "--no-follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                config = httpx.get(f"http://127.0.0.1:{port}/api/config").json()
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.1)

        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()

    assert config["registry"] == crm.deployment.registry
    assert process.returncode == 0, stderr
    assert f"Serving the customer portal at http://127.0.0.1:{port}" in stdout
    assert f"http://127.0.0.1:{port}/pay/<invoice id>" in stdout
    assert stdout.rstrip().endswith("Stopped.")
