"""The console's record pages in Chromium: customer search by id and by decrypted name, a
customer's timeline, the invoices with their aging, the report with its charts."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.console.conftest import OVERDUE_BY_DAYS, ConsoleServer


def search(page: Page, text: str) -> None:
    page.get_by_label("Search by customer id, or by name").fill(text)
    page.keyboard.press("Enter")


def test_customers_are_found_by_decrypted_name_and_by_id(board: Page, console_server: ConsoleServer) -> None:
    board.get_by_role("link", name="Customers").click()

    search(board, "okafor")
    rows = board.locator("tr.customer-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-customer-id", str(console_server.ada_id))
    expect(rows.first.locator(".customer-name")).to_have_text("Ada Okafor")

    search(board, str(console_server.bruno_id))
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".customer-name")).to_have_text("Bruno Tavares")

    search(board, "Mendes")  # a customer the agent is not a reader of
    expect(rows).to_have_count(0)
    expect(board.locator(".empty")).to_have_text("No customer found.")


def test_a_customers_timeline_shows_what_the_chain_recorded(board: Page, console_server: ConsoleServer) -> None:
    board.locator(f'.deal-card a[href="/staff/customers/{console_server.ada_id}"]').first.click()

    expect(board.locator("h1")).to_have_text(f"Customer {console_server.ada_id} · Ada Okafor")
    entries = board.locator(".timeline-entry .timeline-what strong")
    expect(entries.last).to_have_text("customer registered")
    for what in ("deal opened", "stage changed", "invoice issued", "access granted"):
        expect(entries.filter(has_text=what).first).to_be_visible()


def test_invoices_show_their_aging(board: Page, console_server: ConsoleServer) -> None:
    board.get_by_role("link", name="Invoices").click()

    overdue = board.locator(f'tr.invoice-row[data-invoice-id="{console_server.overdue_invoice_id}"]')
    expect(overdue).to_have_attribute("data-bucket", "1-30")
    expect(overdue.locator(".days-past-due")).to_have_text(str(OVERDUE_BY_DAYS))
    expect(board.locator('table.aging tr[data-bucket="1-30"] .aging-count')).to_have_text("1")

    board.get_by_label("overdue only").check()
    board.get_by_role("button", name="Filter").click()
    expect(board.locator("tr.invoice-row")).to_have_count(1)


def test_the_report_shows_its_charts(board: Page) -> None:
    board.get_by_role("link", name="Report").click()

    expect(board.locator("img.chart")).to_have_count(5)
    board.wait_for_function(
        "() => [...document.querySelectorAll('img.chart')].every((img) => img.complete && img.naturalWidth > 0)"
    )
    expect(board.locator('.report-table[data-table="summary"] table')).to_be_visible()
    expect(board.get_by_role("img", name="Conversion funnel chart")).to_be_visible()
