"""Who may use the staff console: the token of the printed URL opens a session; without it pages
answer 401 and actions 403, and a POST without the session's CSRF token does nothing."""

from __future__ import annotations

import httpx

from chaincrm.models import Stage
from chaincrm.portal.security import CONTENT_SECURITY_POLICY
from tests.console.conftest import ConsoleServer, StaffClient, new_deal


def test_the_token_opens_a_session_and_redirects_to_the_page_without_it(
    console_server: ConsoleServer, client: httpx.Client
) -> None:
    opened = client.get(f"/staff/invoices?token={console_server.token}&status=open")

    assert opened.status_code == 303
    assert opened.headers["location"] == "/staff/invoices?status=open"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith("chaincrm_staff=")
    for flag in ("HttpOnly", "Path=/staff", "SameSite=strict"):
        assert flag.lower() in cookie.lower()
    assert console_server.token not in cookie
    assert client.get("/staff/invoices?status=open").status_code == 200


def test_a_wrong_token_answers_401_and_opens_no_session(console_server: ConsoleServer, client: httpx.Client) -> None:
    refused = client.get(f"/staff/?token={console_server.token[:-1]}y")

    assert refused.status_code == 401
    assert "set-cookie" not in refused.headers
    assert 'data-kind="token_refused"' in refused.text
    assert client.get("/staff/").status_code == 401


def test_a_page_without_a_session_answers_401_and_shows_no_records(
    console_server: ConsoleServer, client: httpx.Client
) -> None:
    for path in ("/staff/", "/staff/customers?q=Ada", f"/staff/customers/{console_server.ada_id}", "/staff/invoices"):
        refused = client.get(path)

        assert refused.status_code == 401, path
        assert 'data-kind="staff_session_missing"' in refused.text
        assert "Okafor" not in refused.text
        assert 'class="deal-card"' not in refused.text


def test_a_chart_without_a_session_answers_401(console_server: ConsoleServer, client: httpx.Client) -> None:
    refused = client.get("/staff/report/charts/funnel.png")

    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("text/html")


def test_a_forged_session_cookie_answers_401(console_server: ConsoleServer, client: httpx.Client) -> None:
    client.cookies.set("chaincrm_staff", "forged", path="/staff")

    assert client.get("/staff/").status_code == 401


def test_a_move_with_nothing_sent_answers_403_and_moves_nothing(
    console_server: ConsoleServer, client: httpx.Client
) -> None:
    deal_id = new_deal(console_server, console_server.ada_id)

    refused = client.post(f"/staff/api/deals/{deal_id}/move")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "staff_session_missing"
    assert console_server.deal_stage(deal_id) is Stage.LEAD


def test_a_move_without_the_csrf_token_answers_403_and_moves_nothing(
    console_server: ConsoleServer, staff: StaffClient
) -> None:
    deal_id = new_deal(console_server, console_server.ada_id)

    refused = staff.post(f"/staff/api/deals/{deal_id}/move", json={"stage": "qualified"})

    assert refused.status_code == 403
    assert refused.json() == {
        "error": {"code": "csrf_refused", "message": "the request lacks this session's X-CSRF-Token: reload the page"}
    }
    assert console_server.deal_stage(deal_id) is Stage.LEAD


def test_a_move_with_another_sessions_csrf_token_answers_403(console_server: ConsoleServer, staff: StaffClient) -> None:
    deal_id = new_deal(console_server, console_server.ada_id)
    with StaffClient(base_url=console_server.url) as other:
        other.get(f"/staff/?token={console_server.token}")
        other_page = other.get("/staff/").text
    other_csrf = other_page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    assert other_csrf != staff.csrf

    refused = staff.move(deal_id, {"stage": "qualified"}, csrf=other_csrf)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_refused"
    assert console_server.deal_stage(deal_id) is Stage.LEAD


def test_a_move_from_another_origin_answers_403(console_server: ConsoleServer, staff: StaffClient) -> None:
    deal_id = new_deal(console_server, console_server.ada_id)

    refused = staff.post(
        f"/staff/api/deals/{deal_id}/move",
        json={"stage": "qualified"},
        headers={"X-CSRF-Token": staff.csrf, "Origin": "http://evil.example"},
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_refused"
    assert console_server.deal_stage(deal_id) is Stage.LEAD


def test_console_answers_carry_the_csp_and_no_store(console_server: ConsoleServer, staff: StaffClient) -> None:
    for path in ("/staff/", "/staff/customers", "/staff/invoices", "/staff/report"):
        page = staff.get(path)

        assert page.status_code == 200, path
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and "style=" not in page.text


def test_an_unknown_action_answers_a_json_404(console_server: ConsoleServer, staff: StaffClient) -> None:
    missing = staff.post("/staff/api/deals/1/teleport", headers={"X-CSRF-Token": staff.csrf})

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_console_url_without_its_trailing_slash_keeps_the_token(
    console_server: ConsoleServer, client: httpx.Client
) -> None:
    redirected = client.get(f"/staff?token={console_server.token}")

    assert redirected.status_code == 307
    assert redirected.headers["location"] == f"{console_server.url}/staff/?token={console_server.token}"
    assert client.get(redirected.headers["location"]).status_code == 303
