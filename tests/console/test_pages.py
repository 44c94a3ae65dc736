"""The console's pages over HTTP: what each one lists, read from the index (and names decrypted
with the staff key only where the staff member is a reader)."""

from __future__ import annotations

import re
from html import unescape

from chaincrm.models import Stage
from tests.console.conftest import DEAL_VALUE_WEI, OVERDUE_BY_DAYS, ConsoleServer, StaffClient, new_deal


def rows(html: str, css_class: str, attribute: str) -> list[str]:
    return re.findall(rf'class="{css_class}" {attribute}="([^"]*)"', html)


def test_the_board_has_a_column_per_stage_and_a_card_per_open_deal(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    deal_id = new_deal(console_server, console_server.bruno_id, Stage.NEGOTIATION)

    html = staff.get("/staff/").text

    stages = re.findall(r'class="stage-column" data-stage="(\w+)"', html)
    assert stages == ["lead", "qualified", "proposal", "negotiation", "contracting", "won", "lost"]
    negotiation = html.split('data-stage="negotiation"', 1)[1].split('class="stage-column"', 1)[0]
    assert f'data-deal-id="{deal_id}"' in negotiation
    assert "Bruno Tavares" in negotiation


def test_searching_by_id_finds_that_customer(console_server: ConsoleServer, staff: StaffClient) -> None:
    html = staff.get("/staff/customers", params={"q": str(console_server.carla_id)}).text

    assert rows(html, "customer-row", "data-customer-id") == [str(console_server.carla_id)]
    assert "Carla Mendes" not in html  # found by id, but the agent is not among her readers


def test_searching_by_name_finds_the_customers_the_staff_member_reads(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    html = staff.get("/staff/customers", params={"q": "okaf"}).text

    assert rows(html, "customer-row", "data-customer-id") == [str(console_server.ada_id)]
    assert "Ada Okafor" in html


def test_searching_by_the_name_of_a_customer_the_staff_member_cannot_read_finds_nothing(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    html = staff.get("/staff/customers", params={"q": "Carla"}).text

    assert rows(html, "customer-row", "data-customer-id") == []
    assert "No customer found." in html


def test_the_customer_page_shows_the_profile_and_the_timeline(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    html = staff.get(f"/staff/customers/{console_server.ada_id}").text

    assert "Ada Okafor" in html and "ada@example.org" in html
    whats = re.findall(r'<p class="timeline-what"><strong>([^<]+)</strong>', html)
    for what in (
        "customer registered",
        "wallet accepted",
        "access granted",
        "deal opened",
        "stage changed",
        "invoice issued",
    ):
        assert what in whats
    assert whats[-1] == "customer registered"  # newest first


def test_an_unreadable_customer_page_keeps_the_profile_encrypted(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    html = unescape(staff.get(f"/staff/customers/{console_server.carla_id}").text)

    assert "Carla Mendes" not in html
    assert "you are not among this customer's readers" in html


def test_an_unknown_customer_answers_404(console_server: ConsoleServer, staff: StaffClient) -> None:
    missing = staff.get("/staff/customers/999999")
    invalid = staff.get("/staff/customers/abc")

    assert missing.status_code == 404 and 'data-kind="customer_unknown"' in missing.text
    assert invalid.status_code == 404 and 'data-kind="invalid_id"' in invalid.text


def test_invoices_show_the_overdue_one_in_its_aging_bucket(console_server: ConsoleServer, staff: StaffClient) -> None:
    html = staff.get("/staff/invoices").text

    row = html.split(f'data-invoice-id="{console_server.overdue_invoice_id}"', 1)[1].split("</tr>", 1)[0]
    assert row.startswith(' data-bucket="1-30">')
    assert f'<td class="num days-past-due">{OVERDUE_BY_DAYS}</td>' in row
    aging = dict(
        re.findall(r'<tr data-bucket="([^"]+)"><th scope="row">[^<]+</th><td class="num aging-count">(\d+)', html)
    )
    assert aging["1-30"] == "1"
    assert set(aging) == {"current", "1-30", "31-60", "61-90", "90+"}
    amount = html.split('<tr data-bucket="1-30">', 1)[1].split("</tr>", 1)[0]
    assert f"{DEAL_VALUE_WEI / 10**18:g} ETH" in amount


def test_the_overdue_filter_lists_only_overdue_invoices(console_server: ConsoleServer, staff: StaffClient) -> None:
    html = staff.get("/staff/invoices", params={"overdue": "1"}).text

    assert rows(html, "invoice-row", "data-invoice-id") == [str(console_server.overdue_invoice_id)]


def test_the_report_page_has_its_tables_and_png_charts(console_server: ConsoleServer, staff: StaffClient) -> None:
    html = staff.get("/staff/report").text

    charts = re.findall(r'src="(/staff/report/charts/(\w+)\.png\?block=\d+)"', html)
    assert [name for _, name in charts] == ["funnel", "stage_times", "staff", "aging", "revenue"]
    for src, _ in charts:
        png = staff.get(src)
        assert png.status_code == 200
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert staff.get("/staff/report/charts/nothing.png").status_code == 404
