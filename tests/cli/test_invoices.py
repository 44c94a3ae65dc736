"""`chaincrm invoice show|list|pay|confirm|dispute|release|refund|reclaim|withdraw|cancel|uri|treasury`."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from chaincrm.contracts.client import Crm
from chaincrm.contracts.payments import parse_payment_uri
from chaincrm.models import InvoiceStatus
from tests.cli.conftest import DEAL_VALUE_WEI, Accounts, Cli, advance_time, balance

pytestmark = pytest.mark.usefixtures("snapshot")

INVOICE_KEYS = {
    "invoice_id",
    "deal_id",
    "customer_id",
    "payer",
    "amount_wei",
    "due_at",
    "paid_at",
    "status",
    "currency",
    "currency_symbol",
    "currency_decimals",
    "amount",
}
SHOW_KEYS = INVOICE_KEYS | {
    "overdue",
    "payment_reference",
    "treasury",
    "treasury_epoch",
    "dispute_window_ends_at",
    "dispute_deadline",
    "points_redeemed",
}
TX_KEYS = {"tx_hash", "block_number", "gas_used"}


@pytest.fixture
def paid(crm: Crm, accounts: Accounts, invoice_id: int) -> int:
    """The invoice, paid into escrow by the customer."""
    crm.escrow.pay(invoice_id, accounts.customer)
    return invoice_id


@pytest.fixture
def disputed(crm: Crm, accounts: Accounts, paid: int) -> int:
    """The invoice, paid and then disputed by the customer."""
    crm.escrow.dispute(paid, accounts.customer)
    return paid


def _after_the_dispute_window(crm: Crm) -> None:
    advance_time(crm, crm.deployment.dispute_window_seconds + 1)


def _after_the_dispute_deadline(crm: Crm) -> None:
    advance_time(crm, crm.deployment.dispute_resolution_seconds + 1)


def _cost(crm: Crm, tx_hash: str) -> int:
    receipt = crm.chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def test_invoice_show_gives_amount_payer_and_status(
    cli: Cli, accounts: Accounts, invoice_id: int, deal_id: int
) -> None:
    shown = cli("invoice", "show", invoice_id, "--json").json()

    assert set(shown) == SHOW_KEYS
    assert shown["amount_wei"] == str(DEAL_VALUE_WEI) and shown["payer"] == accounts.customer.address
    assert (shown["deal_id"], shown["status"], shown["paid_at"], shown["overdue"]) == (deal_id, "open", None, False)
    assert (shown["treasury"], shown["dispute_window_ends_at"], shown["dispute_deadline"]) == (None, None, None)


def test_invoice_show_gives_the_treasury_fixed_at_payment_and_when_the_dispute_window_ends(
    cli: Cli, crm: Crm, accounts: Accounts, paid: int
) -> None:
    crm.escrow.propose_treasury(accounts.stranger.address, accounts.admin)

    shown = cli("invoice", "show", paid, "--json").json()

    assert (shown["treasury"], shown["treasury_epoch"]) == (accounts.treasury.address, 1)
    assert shown["dispute_window_ends_at"] == shown["paid_at"] + crm.deployment.dispute_window_seconds
    assert accounts.treasury.address in cli("invoice", "show", paid).stdout


def test_invoice_show_of_a_disputed_invoice_gives_the_dispute_deadline(cli: Cli, crm: Crm, disputed: int) -> None:
    shown = cli("invoice", "show", disputed, "--json").json()

    assert shown["status"] == "disputed"
    assert shown["dispute_deadline"] == crm.escrow.dispute_deadline(disputed) is not None


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


def test_invoice_refund_by_a_manager_credits_the_payer_without_sending(
    cli: Cli, crm: Crm, accounts: Accounts, paid: int
) -> None:
    before = balance(crm, accounts.customer.address)

    refunded = cli("invoice", "refund", paid, "--keystore", accounts.manager.address, "--json").json()

    assert refunded["status"] == "refunded" and refunded["payer_credit_wei"] == str(DEAL_VALUE_WEI)
    assert crm.escrow.refund_of(accounts.customer.address) == DEAL_VALUE_WEI
    assert balance(crm, accounts.customer.address) == before


def test_invoice_refund_tells_the_payer_how_to_withdraw(cli: Cli, accounts: Accounts, paid: int) -> None:
    refunded = cli("invoice", "refund", paid, "--keystore", accounts.manager.address)

    assert f"credited to {accounts.customer.address}" in refunded.stdout
    assert f"chaincrm invoice withdraw --keystore {accounts.customer.address}" in refunded.stdout


def test_invoice_withdraw_pays_the_payer_its_credited_refunds(
    cli: Cli, crm: Crm, accounts: Accounts, paid: int
) -> None:
    crm.escrow.refund(paid, accounts.manager)
    before = balance(crm, accounts.customer.address)

    withdrawn = cli("invoice", "withdraw", "--keystore", accounts.customer.address, "--json").json()

    assert withdrawn["amount_wei"] == str(DEAL_VALUE_WEI)
    cost = _cost(crm, withdrawn["tx_hash"])
    assert balance(crm, accounts.customer.address) == before + DEAL_VALUE_WEI - cost
    assert crm.escrow.refund_of(accounts.customer.address) == 0


def test_invoice_withdraw_with_nothing_credited_is_refused(cli: Cli, accounts: Accounts, paid: int) -> None:
    refused = cli("invoice", "withdraw", "--keystore", accounts.customer.address)

    assert refused.error == f"error: NothingToWithdraw(account={accounts.customer.address})"


def test_invoice_refund_by_an_agent_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)

    refused = cli("invoice", "refund", invoice_id, "--keystore", accounts.agent.address)

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert crm.escrow.escrowed_wei() == DEAL_VALUE_WEI


def test_invoice_dispute_by_the_payer_within_the_window_holds_the_payment(
    cli: Cli, crm: Crm, accounts: Accounts, paid: int
) -> None:
    disputed = cli("invoice", "dispute", paid, "--keystore", accounts.customer.address, "--json").json()

    assert disputed["status"] == "disputed"
    assert disputed["dispute_deadline"] == crm.escrow.dispute_deadline(paid)


def test_invoice_dispute_after_the_window_is_refused(cli: Cli, crm: Crm, accounts: Accounts, paid: int) -> None:
    _after_the_dispute_window(crm)

    refused = cli("invoice", "dispute", paid, "--keystore", accounts.customer.address)

    assert f"DisputeWindowClosed(invoiceId={paid}" in refused.error
    assert crm.escrow.invoice(paid).status is InvoiceStatus.PAID


def test_invoice_release_after_the_window_by_the_treasury_pays_it(
    cli: Cli, crm: Crm, accounts: Accounts, paid: int
) -> None:
    _after_the_dispute_window(crm)
    before = balance(crm, accounts.treasury.address)

    released = cli("invoice", "release", paid, "--keystore", accounts.treasury.address, "--json").json()

    assert released["status"] == "released" and released["treasury"] == accounts.treasury.address
    assert balance(crm, accounts.treasury.address) == before + DEAL_VALUE_WEI - _cost(crm, released["tx_hash"])


@pytest.mark.parametrize("who", ["customer", "manager"])
def test_invoice_release_after_the_window_by_the_payer_or_a_manager_pays_the_treasury(
    cli: Cli, crm: Crm, accounts: Accounts, paid: int, who: str
) -> None:
    _after_the_dispute_window(crm)
    before = balance(crm, accounts.treasury.address)

    cli("invoice", "release", paid, "--keystore", getattr(accounts, who).address)

    assert balance(crm, accounts.treasury.address) == before + DEAL_VALUE_WEI


def test_invoice_release_within_the_window_is_refused(cli: Cli, crm: Crm, accounts: Accounts, paid: int) -> None:
    refused = cli("invoice", "release", paid, "--keystore", accounts.manager.address)

    assert f"DisputeWindowOpen(invoiceId={paid}" in refused.error
    assert crm.escrow.invoice(paid).status is InvoiceStatus.PAID


def test_invoice_release_by_an_agent_is_refused(cli: Cli, crm: Crm, accounts: Accounts, paid: int) -> None:
    _after_the_dispute_window(crm)

    refused = cli("invoice", "release", paid, "--keystore", accounts.agent.address)

    assert refused.error == f"error: CallerCannotRelease(invoiceId={paid}, caller={accounts.agent.address})"


def test_invoice_release_of_a_disputed_invoice_by_a_manager_resolves_it_for_the_treasury(
    cli: Cli, crm: Crm, accounts: Accounts, disputed: int
) -> None:
    before = balance(crm, accounts.treasury.address)

    cli("invoice", "release", disputed, "--keystore", accounts.manager.address)

    assert crm.escrow.invoice(disputed).status is InvoiceStatus.RELEASED
    assert balance(crm, accounts.treasury.address) == before + DEAL_VALUE_WEI


def test_invoice_reclaim_by_the_payer_after_the_dispute_deadline_credits_the_payment(
    cli: Cli, crm: Crm, accounts: Accounts, disputed: int
) -> None:
    _after_the_dispute_deadline(crm)

    reclaimed = cli("invoice", "reclaim", disputed, "--keystore", accounts.customer.address, "--json").json()

    assert reclaimed["status"] == "refunded"
    assert crm.escrow.refund_of(accounts.customer.address) == DEAL_VALUE_WEI


def test_invoice_reclaim_before_the_dispute_deadline_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, disputed: int
) -> None:
    refused = cli("invoice", "reclaim", disputed, "--keystore", accounts.customer.address)

    deadline = crm.escrow.dispute_deadline(disputed)
    assert refused.error == f"error: DisputeResolutionOpen(invoiceId={disputed}, resolveBy={deadline})"
    assert crm.escrow.refund_of(accounts.customer.address) == 0


def test_invoice_release_of_a_disputed_invoice_after_its_deadline_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, disputed: int
) -> None:
    _after_the_dispute_deadline(crm)

    refused = cli("invoice", "release", disputed, "--keystore", accounts.manager.address)

    assert f"DisputeResolutionExpired(invoiceId={disputed}" in refused.error


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

    assert set(shown) == {"invoice_id", "uri", "payer", "amount_wei", "png", "page_url", "page_png"}
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


# ------------------------------------------------------------------ treasury


def test_invoice_treasury_show_gives_the_treasury_and_no_pending_change(cli: Cli, accounts: Accounts) -> None:
    shown = cli("invoice", "treasury", "show", "--json").json()

    assert (shown["treasury"], shown["epoch"], shown["pending"]) == (accounts.treasury.address, 1, None)


def test_invoice_treasury_propose_by_an_admin_is_pending_until_the_delay(
    cli: Cli, crm: Crm, accounts: Accounts
) -> None:
    proposed = cli(
        "invoice", "treasury", "propose", accounts.stranger.address, "--keystore", accounts.admin.address, "--json"
    ).json()

    shown = cli("invoice", "treasury", "show", "--json").json()
    assert shown["pending"] == accounts.stranger.address == proposed["proposed"]
    assert shown["pending_effective_at"] == proposed["effective_at"]
    assert shown["treasury"] == accounts.treasury.address


def test_invoice_treasury_propose_by_a_manager_is_refused(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    refused = cli("invoice", "treasury", "propose", accounts.stranger.address, "--keystore", accounts.manager.address)

    assert "AccessControlUnauthorizedAccount" in refused.error and "DEFAULT_ADMIN_ROLE" in refused.error
    assert crm.escrow.pending_treasury() == (None, 0)


def test_invoice_treasury_accept_before_the_delay_is_refused(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    crm.escrow.propose_treasury(accounts.stranger.address, accounts.admin)

    refused = cli("invoice", "treasury", "accept", "--keystore", accounts.stranger.address)

    assert "TreasuryChangeNotReady" in refused.error
    assert crm.escrow.treasury() == accounts.treasury.address


def test_invoice_treasury_accept_after_the_delay_leaves_paid_invoices_with_their_treasury(
    cli: Cli, crm: Crm, accounts: Accounts, paid: int
) -> None:
    crm.escrow.propose_treasury(accounts.stranger.address, accounts.admin)
    advance_time(crm, crm.deployment.treasury_delay_seconds)

    cli("invoice", "treasury", "accept", "--keystore", accounts.stranger.address)

    assert crm.escrow.treasury() == accounts.stranger.address
    assert cli("invoice", "show", paid, "--json").json()["treasury"] == accounts.treasury.address


def test_invoice_treasury_cancel_by_an_admin_drops_the_pending_change(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    crm.escrow.propose_treasury(accounts.stranger.address, accounts.admin)

    cancelled = cli("invoice", "treasury", "cancel", "--keystore", accounts.admin.address, "--json").json()

    assert cancelled["cancelled"] == accounts.stranger.address
    assert crm.escrow.pending_treasury() == (None, 0)


def test_invoice_treasury_cancel_with_nothing_pending_is_refused(cli: Cli, accounts: Accounts) -> None:
    refused = cli("invoice", "treasury", "cancel", "--keystore", accounts.admin.address)

    assert refused.error == "error: TreasuryChangeNotProposed()"
