"""`chaincrm webhook`: subscribing (the secret shown once), listing, removing, the deliveries and a
replay; bad URLs and event types refused in one line. The README's receiver run as a script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincrm.contracts.client import Crm
from chaincrm.services.anvil import free_port
from tests.cli.conftest import Cli, cli_for
from tests.indexer.conftest import register
from tests.sdk.conftest import Staff
from tests.webhooks.conftest import EXAMPLE, Hooks, scripted, wait_for


@pytest.fixture
def webhook_cli(tmp_path: Path) -> Cli:
    """`chaincrm` with a home of its own (no chain needed) and the hooks fixture's database."""
    return cli_for(
        {
            "CHAINCRM_HOME": str(tmp_path / "home"),
            "CHAINCRM_INTEGRATION_DATABASE": str(tmp_path / "integration.sqlite"),
        }
    )


def test_add_prints_the_id_and_the_secret_once_and_list_never_shows_it(webhook_cli: Cli) -> None:
    added = webhook_cli("webhook", "add", "https://crm.example.org/hooks", "--events", "invoice.paid,deal.opened")
    added_json = webhook_cli("webhook", "add", "http://127.0.0.1:9000/", "--events", "consent.changed", "--json")
    listed = webhook_cli("webhook", "list", "--json").json()
    shown = webhook_cli("webhook", "list")

    secret = added.stdout.split("Signing secret (shown once): ")[1].strip()
    assert added.stdout.startswith("Endpoint 1: https://crm.example.org/hooks receives deal.opened, invoice.paid\n")
    assert secret.startswith("whsec_") and len(secret) > 40
    second = added_json.json()
    assert (second["id"], second["events"], second["secret"].startswith("whsec_")) == (2, ["consent.changed"], True)
    assert [(e["id"], e["url"], e["events"], e["removed"]) for e in listed] == [
        (1, "https://crm.example.org/hooks", ["deal.opened", "invoice.paid"], False),
        (2, "http://127.0.0.1:9000/", ["consent.changed"], False),
    ]
    assert all("secret" not in endpoint for endpoint in listed)
    assert secret not in shown.stdout and "crm.example.org" in shown.stdout


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://files.example.org/hooks", "'ftp://files.example.org/hooks' is not an http:// or https:// URL"),
        ("not a URL", "'not a URL' is not an http:// or https:// URL with a host"),
        ("https://user:pass@example.org/", "must not carry a user, a password or a #fragment"),
        ("http://example.org:99999/", "is not a URL"),
    ],
)
def test_add_refuses_a_url_that_is_not_http_or_https_in_one_line(webhook_cli: Cli, url: str, message: str) -> None:
    refused = webhook_cli("webhook", "add", url, "--events", "invoice.paid")

    assert message in refused.error
    assert webhook_cli("webhook", "list", "--json").json() == []


def test_a_refused_url_with_a_password_is_not_echoed_and_a_long_one_is_cut(webhook_cli: Cli) -> None:
    with_password = webhook_cli("webhook", "add", "https://user:s3cret@example.org/", "--events", "invoice.paid")
    too_long = webhook_cli("webhook", "add", "ftp://" + "x" * 5000, "--events", "invoice.paid")

    assert "s3cret" not in with_password.error and with_password.error.count("\n") == 0
    assert len(too_long.error) < 250 and "..." in too_long.error


def test_add_refuses_an_unknown_event_type_in_one_line_naming_the_known_ones(webhook_cli: Cli) -> None:
    refused = webhook_cli("webhook", "add", "https://example.org/", "--events", "invoice.paid,invoice.lost")

    assert refused.error.startswith("error: unknown event type invoice.lost: choose among customer.registered, ")


def test_remove_stops_an_endpoint_and_a_second_remove_is_refused(webhook_cli: Cli) -> None:
    webhook_cli("webhook", "add", "https://example.org/", "--events", "invoice.paid")

    removed = webhook_cli("webhook", "remove", "1", "--json").json()
    again = webhook_cli("webhook", "remove", "1")

    assert (removed["id"], removed["removed"]) == (1, True)
    assert again.error == "error: webhook endpoint 1 is unknown (see `chaincrm webhook list`)"
    assert webhook_cli("webhook", "list", "--json").json() == []


def test_deliveries_lists_attempts_and_replay_sends_the_same_event_again(
    webhook_cli: Cli, hooks: Hooks, crm: Crm, staff: Staff
) -> None:
    with scripted(500) as receiver:
        webhook_cli("webhook", "add", receiver.url, "--events", "customer.registered")
        hooks.start()
        customer_id = register(crm, staff)
        hooks.sync()
        failed_once = webhook_cli("webhook", "deliveries", "--json").json()
        hooks.dispatcher.start()
        wait_for(lambda: webhook_cli("webhook", "deliveries", "--status", "delivered", "--json").json(), "delivered")
        hooks.dispatcher.stop()

        replayed = webhook_cli("webhook", "replay", str(failed_once[0]["id"]), "--json").json()
        hooks.sync(hooks.new_dispatcher())
        shown = webhook_cli("webhook", "deliveries")

    (first,) = failed_once
    assert {key: first[key] for key in ("id", "endpoint_id", "type", "kind", "status", "attempts")} == {
        "id": 1,
        "endpoint_id": 1,
        "type": "customer.registered",
        "kind": "event",
        "status": "pending",
        "attempts": 1,
    }
    assert (first["last_status_code"], first["last_error"]) == (500, "HTTP 500")
    assert (replayed["id"], replayed["replay_of"], replayed["status"], replayed["event_id"]) == (
        2,
        1,
        "pending",
        first["event_id"],
    )
    bodies = [json.loads(request.body) for request in receiver.answered(200)]
    assert [body["id"] for body in bodies] == [first["event_id"], first["event_id"]]
    assert bodies[0]["data"]["customer_id"] == customer_id
    delivered = webhook_cli("webhook", "deliveries", "--status", "delivered", "--json").json()
    assert [d["id"] for d in delivered] == [2, 1]
    assert webhook_cli("webhook", "deliveries", "--endpoint", "7", "--json").json() == []
    assert "replay of 1" in shown.stdout


def test_replay_of_an_unknown_delivery_is_refused_in_one_line(webhook_cli: Cli) -> None:
    assert webhook_cli("webhook", "replay", "42").error == (
        "error: webhook delivery 42 is unknown (see `chaincrm webhook deliveries`)"
    )


@pytest.fixture
def receiver_port() -> Iterator[int]:
    yield free_port()


def test_the_readme_receiver_run_as_a_script_prints_each_event_once(
    hooks: Hooks, crm: Crm, staff: Staff, receiver_port: int
) -> None:
    endpoint = hooks.subscribe(f"http://127.0.0.1:{receiver_port}/", "customer.registered")
    environment = {**os.environ, "WEBHOOK_SECRET": endpoint.secret}
    script = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", str(receiver_port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert script.stderr is not None and "listening on" in script.stderr.readline()
        hooks.start()
        customer_id = register(crm, staff)
        hooks.sync()
        (delivery,) = hooks.delivery_rows()
        replay = hooks.store.replay(delivery["id"])
        hooks.sync()
    finally:
        script.terminate()
        printed, _ = script.communicate(timeout=10)

    assert replay.replay_of == delivery["id"]
    assert [row["status"] for row in hooks.delivery_rows()] == ["delivered", "delivered"]
    lines = [json.loads(line) for line in printed.splitlines()]
    assert [(line["type"], line["data"]["customer_id"]) for line in lines] == [("customer.registered", customer_id)]
