"""`chaincrm invoice uri` also gives the portal's payment page link, and its QR code beside the URI's."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaincrm.contracts.payments import page_link
from chaincrm.errors import ConfigError
from tests.cli.conftest import Cli


def test_the_page_link_is_the_public_url_and_the_invoice() -> None:
    assert page_link("https://pay.example.org", 7) == "https://pay.example.org/pay/7"
    assert page_link("http://127.0.0.1:8700/", 12) == "http://127.0.0.1:8700/pay/12"


@pytest.mark.parametrize(
    "url", ["ftp://x.example", "127.0.0.1:8700", "https://x.example/portal", "https://x.example?a=1", "https://u@x"]
)
def test_a_public_url_that_is_not_an_origin_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="public URL"):
        page_link(url, 1)


def test_invoice_uri_prints_the_page_link_for_the_default_portal(cli: Cli, invoice_id: int) -> None:
    shown = cli("invoice", "uri", invoice_id)

    assert shown.exit_code == 0, shown.stderr
    assert f"Payment page (any browser wallet): http://127.0.0.1:8700/pay/{invoice_id}" in shown.stdout
    assert shown.stdout.splitlines()[0].startswith("ethereum:")


def test_invoice_uri_takes_the_public_url_from_the_flag_or_the_environment(cli: Cli, invoice_id: int) -> None:
    flagged = cli("invoice", "uri", invoice_id, "--public-url", "https://pay.example.org", "--json").json()
    from_env = cli("invoice", "uri", invoice_id, "--json", env={"CHAINCRM_PUBLIC_URL": "https://crm.example"}).json()

    assert flagged["page_url"] == f"https://pay.example.org/pay/{invoice_id}"
    assert from_env["page_url"] == f"https://crm.example/pay/{invoice_id}"


def test_invoice_uri_draws_two_qr_codes_side_by_side(cli: Cli, invoice_id: int) -> None:
    alone = cli("invoice", "uri", invoice_id).stdout.splitlines()[1:]

    qr_rows = [line for line in alone if "█" in line or "▀" in line or "▄" in line]
    assert qr_rows
    widest = max(len(line) for line in qr_rows)
    assert widest > 2 * 41  # two symbols of at least 41 modules each (version 6), one per character


def test_invoice_uri_writes_the_page_link_qr_code_beside_the_png(cli: Cli, invoice_id: int, tmp_path: Path) -> None:
    png = tmp_path / "inv.png"

    shown = cli("invoice", "uri", invoice_id, "--png", png, "--json").json()

    assert shown["png"] == str(png) and shown["page_png"] == str(tmp_path / "inv-page.png")
    for written in (png, tmp_path / "inv-page.png"):
        assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_bad_public_url_is_one_line(cli: Cli, invoice_id: int) -> None:
    refused = cli("invoice", "uri", invoice_id, "--public-url", "not a url")

    assert "public URL" in refused.error
