"""`chaincrm invoice show|list|pay|confirm|refund|cancel|uri`."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from chaincrm.client import Crm
from chaincrm.models import InvoiceStatus
from chaincrm.payments import parse_payment_uri
from tests.cli.conftest import DEAL_VALUE_WEI, Accounts, Cli, balance

pytestmark = pytest.mark.usefixtures("snapshot")

INVOICE_KEYS = {"invoice_id", "deal_id", "customer_id", "payer", "amount_wei", "due_at", "paid_at", "status"}
TX_KEYS = {"tx_hash", "block_number", "gas_used"}


def test_invoice_show_gives_amount_payer_and_status(
    cli: Cli, accounts: Accounts, invoice_id: int, deal_id: int
) -> None:
    shown = cli("invoice", "show", invoice_id, "--json").json()

    assert set(shown) == INVOICE_KEYS | {"overdue", "payment_reference"}
    assert shown["amount_wei"] == str(DEAL_VALUE_WEI) and shown["payer"] == accounts.customer.address
    assert (shown["deal_id"], shown["status"], shown["paid_at"], shown["overdue"]) == (deal_id, "open", None, False)


def test_invoice_show_of_an_unknown_invoice_is_one_line(cli: Cli) -> None:
    refused = cli("invoice", "show", 999)

    assert "InvoiceUnknown(invoiceId=999)" in refused.error


def test_invoice_list_gives_every_invoice(cli: Cli, invoice_id: int) -> None:
    listed = cli("invoice", "list", "--json").json()

    assert [i["invoice_id"] for i in listed] == [invoice_id]
    assert "Invoices" in cli("invoice", "list").stdout


def test_invoice_pay_by_the_payer_puts_the_amount_in_escrow(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    paid = cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address, "--json").json()

    assert set(paid) == INVOICE_KEYS | TX_KEYS
    assert paid["status"] == "paid"
    assert crm.escrow.escrowed_wei() == DEAL_VALUE_WEI


def test_invoice_pay_with_the_wrong_amount_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    before = balance(crm, accounts.customer.address)

    refused = cli("invoice", "pay", invoice_id, "--amount", "1", "--keystore", accounts.customer.address)

    assert f"InvoiceAmountMismatch(invoiceId={invoice_id}, expected={DEAL_VALUE_WEI}, sent={10**18})" in refused.error
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.OPEN
    assert balance(crm, accounts.customer.address) == before


def test_invoice_pay_with_an_unreadable_amount_is_a_usage_error(cli: Cli, accounts: Accounts, invoice_id: int) -> None:
    refused = cli("invoice", "pay", invoice_id, "--amount", "lots", "--keystore", accounts.customer.address)

    assert "Invalid value for '--amount'" in refused.usage_error


def test_invoice_pay_by_someone_else_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    refused = cli("invoice", "pay", invoice_id, "--keystore", accounts.agent.address)

    assert "InvoicePayerMismatch" in refused.error
    assert crm.escrow.escrowed_wei() == 0


def test_invoice_pay_of_an_unknown_invoice_is_one_line(cli: Cli, accounts: Accounts, invoice_id: int) -> None:
    refused = cli("invoice", "pay", 999, "--keystore", accounts.customer.address)

    assert "InvoiceUnknown(invoiceId=999)" in refused.error


def test_invoice_pay_twice_is_refused(cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int) -> None:
    cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)

    refused = cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)

    assert f"InvoiceAlreadyPaid(invoiceId={invoice_id})" in refused.error
    assert crm.escrow.escrowed_wei() == DEAL_VALUE_WEI


def test_invoice_confirm_by_the_payer_releases_the_payment_to_the_treasury(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)
    before = balance(crm, accounts.treasury.address)

    confirmed = cli("invoice", "confirm", invoice_id, "--keystore", accounts.customer.address, "--json").json()

    assert confirmed["status"] == "released"
    assert balance(crm, accounts.treasury.address) == before + DEAL_VALUE_WEI


def test_invoice_confirm_by_someone_else_is_refused(cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int) -> None:
    cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)

    refused = cli("invoice", "confirm", invoice_id, "--keystore", accounts.agent.address)

    assert "InvoicePayerMismatch" in refused.error
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.PAID


def test_invoice_refund_by_a_manager_returns_the_payment(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)
    before = balance(crm, accounts.customer.address)

    refunded = cli("invoice", "refund", invoice_id, "--keystore", accounts.manager.address, "--json").json()

    assert refunded["status"] == "refunded"
    assert balance(crm, accounts.customer.address) == before + DEAL_VALUE_WEI


def test_invoice_refund_by_an_agent_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)

    refused = cli("invoice", "refund", invoice_id, "--keystore", accounts.agent.address)

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert crm.escrow.escrowed_wei() == DEAL_VALUE_WEI


def test_invoice_cancel_by_a_manager_cancels_an_unpaid_invoice(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    cancelled = cli("invoice", "cancel", invoice_id, "--keystore", accounts.manager.address, "--json").json()

    assert cancelled["status"] == "cancelled"
    assert "InvoiceIsCancelled" in cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address).error


def test_invoice_cancel_by_an_agent_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    refused = cli("invoice", "cancel", invoice_id, "--keystore", accounts.agent.address)

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.OPEN


def test_invoice_uri_prints_the_eip681_uri_and_a_qr_code(cli: Cli, crm: Crm, invoice_id: int) -> None:
    shown = cli("invoice", "uri", invoice_id)

    uri = shown.stdout.splitlines()[0]
    request = parse_payment_uri(uri)
    assert (request.address, request.chain_id, request.invoice_id, request.value_wei) == (
        crm.escrow.address,
        31337,
        invoice_id,
        DEAL_VALUE_WEI,
    )
    assert "█" in shown.stdout  # the QR code, drawn in half blocks


def test_invoice_uri_writes_a_png_when_asked(cli: Cli, invoice_id: int, tmp_path: Path) -> None:
    png = tmp_path / "invoice.png"

    shown = cli("invoice", "uri", invoice_id, "--png", png, "--json").json()

    assert set(shown) == {"invoice_id", "uri", "payer", "amount_wei", "png"}
    assert shown["png"] == str(png)
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width == image.height


def test_invoice_uri_of_a_paid_invoice_is_refused(
    cli: Cli, accounts: Accounts, invoice_id: int, tmp_path: Path
) -> None:
    cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)

    refused = cli("invoice", "uri", invoice_id, "--png", tmp_path / "x.png")

    assert "is paid, not open" in refused.error
    assert not (tmp_path / "x.png").exists()
