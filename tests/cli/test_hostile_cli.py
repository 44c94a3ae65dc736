"""A confused user and an attacker at the integration commands: every mistake prints one `error:`
line (one JSON line with --json), exits non-zero and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from chaincrm.contracts.client import Crm
from tests.cli.conftest import Accounts, Cli

STAFF = "0x0000000000000000000000000000000000000001"


def only_error(run) -> str:  # type: ignore[no-untyped-def]
    assert run.exit_code != 0, run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    return lines[0]


# ------------------------------------------------------------------ integration database


def test_an_integration_database_in_a_missing_folder_is_refused_not_created(cli: Cli, tmp_path: Path) -> None:
    database = tmp_path / "typo" / "integration.sqlite"
    for args in (
        ("api-key", "create", "--staff", STAFF),
        ("api-key", "list"),
        ("webhook", "add", "http://127.0.0.1:9/hook", "--events", "invoice.paid"),
        ("webhook", "list"),
        ("webhook", "deliveries"),
    ):
        error = cli(*args, "--integration-database", database).error
        assert error == (
            f"error: --integration-database {database}: the folder {database.parent} does not exist (create it first)"
        )
    assert not database.parent.exists()


def test_serve_refuses_an_integration_database_in_a_missing_folder(cli: Cli, tmp_path: Path) -> None:
    database = tmp_path / "typo" / "integration.sqlite"
    error = cli("serve", "--port", 18999, "--integration-database", database).error
    assert "does not exist" in error
    assert not database.parent.exists()


def test_an_integration_database_that_is_a_folder_or_not_sqlite_is_one_error_line(cli: Cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    assert "cannot be used" in cli("api-key", "list", "--integration-database", tmp_path).error
    assert "not a SQLite database" in cli("webhook", "list", "--integration-database", junk).error
    assert junk.read_text() == "not a database"
    inside_a_file = junk / "x.sqlite"
    assert "error: " in cli("api-key", "create", "--staff", STAFF, "--integration-database", inside_a_file).error


def test_an_integration_database_url_of_an_unknown_kind_is_one_error_line(cli: Cli) -> None:
    error = cli("api-key", "list", "--integration-database", "bogus://x").error
    assert error == "error: the index supports SQLite and PostgreSQL, not bogus"


def test_an_unreachable_postgres_integration_database_is_one_json_error_line(cli: Cli) -> None:
    run = cli("api-key", "list", "--json", "--integration-database", "postgresql://u:secret@127.0.0.1:1/x")
    assert run.exit_code == 1 and run.stdout == ""
    (line,) = run.stderr.strip().splitlines()
    assert json.loads(line)["error"]["code"] == "config"
    assert "secret" not in line


# ------------------------------------------------------------------ api keys


def test_api_key_usage_mistakes_are_usage_errors(cli: Cli, tmp_path: Path) -> None:
    database = tmp_path / "i.sqlite"
    assert (
        "not an address"
        in cli("api-key", "create", "--staff", "nothex", "--integration-database", database).usage_error
    )
    assert "--staff" in cli("api-key", "create", "--integration-database", database).usage_error
    for bad in ("0", "abc", str(2**64)):
        cli("api-key", "revoke", bad, "--integration-database", database).usage_error  # noqa: B018
    assert not database.exists()


def test_revoking_an_unknown_api_key_is_one_error_and_keeps_the_others(cli: Cli, tmp_path: Path) -> None:
    database = tmp_path / "i.sqlite"
    assert cli("api-key", "create", "--staff", STAFF, "--integration-database", database).exit_code == 0
    before = cli("api-key", "list", "--json", "--integration-database", database).json()
    assert cli("api-key", "revoke", 999, "--integration-database", database).error == (
        "error: there is no API key 999 (see `chaincrm api-key list`)"
    )
    assert cli("api-key", "list", "--json", "--integration-database", database).json() == before


# ------------------------------------------------------------------ webhooks


def test_webhook_urls_that_are_not_http_are_refused_and_nothing_is_subscribed(cli: Cli, tmp_path: Path) -> None:
    database = tmp_path / "i.sqlite"
    for url in (
        "ftp://x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "http:///p",
        "http://h:99999/x",
        "http://[::1/x",
        "http://h/ x",
        "http://h/\nx",
    ):
        error = cli("webhook", "add", url, "--events", "invoice.paid", "--integration-database", database).error
        assert error.startswith(f"error: {url!r} ")
    with_password = cli(
        "webhook", "add", "http://u:p@h/x", "--events", "invoice.paid", "--integration-database", database
    )
    assert with_password.error == "error: a webhook URL must not carry a user, a password or a #fragment"
    for events in ("", ",", "bogus", "*", "INVOICE.PAID", "invoice.paid.reverted"):
        cli("webhook", "add", "http://h/x", "--events", events, "--integration-database", database).error  # noqa: B018
    assert not database.exists() or cli("webhook", "list", "--json", "--integration-database", database).json() == []


def test_webhook_ids_that_do_not_exist_are_one_error_line(cli: Cli, tmp_path: Path) -> None:
    database = tmp_path / "i.sqlite"
    assert "unknown" in cli("webhook", "remove", 999, "--integration-database", database).error
    assert "unknown" in cli("webhook", "replay", 999, "--integration-database", database).error
    cli("webhook", "replay", 0, "--integration-database", database).usage_error  # noqa: B018
    cli("webhook", "deliveries", "--limit", 0, "--integration-database", database).usage_error  # noqa: B018
    cli("webhook", "deliveries", "--status", "lost", "--integration-database", database).usage_error  # noqa: B018
    run = cli("webhook", "replay", 999, "--json", "--integration-database", database)
    (line,) = run.stderr.strip().splitlines()
    assert run.exit_code == 1 and "unknown" in json.loads(line)["error"]["message"]


# ------------------------------------------------------------------ serve flags


def test_serve_refuses_bad_flag_combinations_before_listening(cli: Cli, tmp_path: Path) -> None:
    assert "loopback" in cli("serve", "--host", "0.0.0.0", "--staff", "--port", 18999).error
    assert "needs --staff" in cli("serve", "--keystore", STAFF, "--port", 18999).error
    assert "--public-url is needed" in cli("serve", "--host", "0.0.0.0", "--port", 18999).error
    for url in ("ftp://x", "notaurl", "http://h/ x", "http://h/path"):
        assert "public URL" in cli("serve", "--public-url", url, "--port", 18999).error
    cli("serve", "--port", 0).usage_error  # noqa: B018
    cli("serve", "--webhook-confirmations", -1).usage_error  # noqa: B018
    assert "error: " in cli("serve", "--signer", tmp_path / "none.json", "--port", 18999).error
    junk = tmp_path / "junk.json"
    junk.write_text("{")
    assert "error: " in cli("serve", "--relayer-keystore", junk, "--port", 18999).error
    assert "cannot listen" in cli("serve", "--host", "999.1.1.1", "--port", 18999).error


# ------------------------------------------------------------------ relayed revocations


def _signed_revocation(cli: Cli, customer_id: int, staff: str, customer: str, out: Path) -> dict:  # type: ignore[type-arg]
    run = cli("customer", "revoke", customer_id, staff, "--sign-only", "--out", out, "--keystore", customer)
    assert run.exit_code == 0, run.stderr
    return json.loads(out.read_text())


def test_revoke_sign_only_to_an_unwritable_place_is_one_error(
    cli: Cli, customer_id: int, accounts: Accounts, tmp_path: Path
) -> None:
    out = tmp_path / "no-such-folder" / "revoke.json"
    args = ("customer", "revoke", customer_id, accounts.agent.address, "--sign-only", "--keystore")
    assert "error: " in cli(*args, accounts.customer.address, "--out", out).error
    assert "is a directory" in cli(*args, accounts.customer.address, "--out", tmp_path).usage_error
    assert not out.parent.exists()


def test_relaying_broken_revocation_files_is_one_error_and_the_grant_stays(
    cli: Cli, crm: Crm, customer_id: int, accounts: Accounts, tmp_path: Path
) -> None:
    signed = _signed_revocation(
        cli, customer_id, accounts.agent.address, accounts.customer.address, tmp_path / "r.json"
    )
    text = json.dumps(signed)
    variants: dict[str, str] = {"truncated": text[: len(text) // 2], "empty": "", "list": "[]", "null": "null"}
    for key, value in signed.items():
        if isinstance(value, dict):
            for inner in value:
                variants[f"{key}.{inner}-number"] = json.dumps({**signed, key: {**value, inner: 12}})
                variants[f"{key}.{inner}-missing"] = json.dumps(
                    {**signed, key: {k: v for k, v in value.items() if k != inner}}
                )
                variants[f"{key}.{inner}-list"] = json.dumps({**signed, key: {**value, inner: [1]}})
        variants[f"{key}-missing"] = json.dumps({k: v for k, v in signed.items() if k != key})
        variants[f"{key}-string"] = json.dumps({**signed, key: "x"})
    for name, body in variants.items():
        file = tmp_path / f"{name}.json"
        file.write_text(body)
        run = cli("customer", "relay", customer_id, file, "--keystore", accounts.agent.address)
        only_error(run)
    assert accounts.agent.address in crm.registry.readers_of(customer_id)


def test_a_revocation_relayed_for_another_customer_or_twice_is_refused(
    cli: Cli, crm: Crm, customer_id: int, accounts: Accounts, tmp_path: Path
) -> None:
    file = tmp_path / "r.json"
    _signed_revocation(cli, customer_id, accounts.agent.address, accounts.customer.address, file)
    only_error(cli("customer", "relay", customer_id + 1, file, "--keystore", accounts.agent.address))
    only_error(cli("customer", "relay", 2**256, file, "--keystore", accounts.agent.address))
    assert accounts.agent.address in crm.registry.readers_of(customer_id)
    first = cli("customer", "relay", customer_id, file, "--keystore", accounts.manager.address)
    assert first.exit_code == 0, first.stderr
    only_error(cli("customer", "relay", customer_id, file, "--keystore", accounts.manager.address))


# ------------------------------------------------------------------ invoice links and index reads


def test_invoice_uri_refuses_bad_public_urls_and_unwritable_png(cli: Cli, invoice_id: int, tmp_path: Path) -> None:
    for url in ("ftp://x", "notaurl", "http://h/ x", "javascript:alert(1)"):
        only_error(cli("invoice", "uri", invoice_id, "--public-url", url))
    only_error(cli("invoice", "uri", invoice_id, "--png", tmp_path / "missing" / "qr.png"))
    assert not (tmp_path / "missing").exists()


def test_timeline_and_deal_show_with_a_broken_index_are_one_error_or_read_the_chain(
    cli: Cli, deal_id: int, customer_id: int, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    for database in (tmp_path / "missing" / "index.sqlite", junk, tmp_path):
        for args in (("customer", "timeline", customer_id), ("deal", "show", deal_id)):
            run = cli(*args, "--database", database)
            if run.exit_code != 0:
                only_error(run)
            assert cli(*args, "--database", database, "--from-chain").exit_code == 0
    assert not (tmp_path / "missing").exists()
    assert junk.read_text() == "not a database"
