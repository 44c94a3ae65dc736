"""The customer's own area, /me, in Chromium: Sign-In with Ethereum, the records `chaincrm me`
shows, and consent and access changes by a signature the portal's relayer submits (the customer
pays no gas) or by a transaction from the wallet."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from chaincrm.models import Purpose
from tests.browser.actions import expect_message, scroll_overflow, sign_in
from tests.browser.conftest import PHONE, Browsing, Portal, Watch, screenshot
from tests.browser.wallet import TestWallet

UNAUTHORIZED_ON_LOAD = "status of 401"  # GET /api/me before signing in: the page then offers sign-in


@pytest.fixture
def me_page(page: Page, watch: Watch, portal: Portal) -> Page:
    """/me opened, not signed in yet."""
    watch.expect_console_error(UNAUTHORIZED_ON_LOAD)
    page.goto(f"{portal.url}/me")
    expect(page.locator("button#sign-in")).to_be_visible()
    return page


def customer_section(page: Page, portal: Portal) -> Any:
    return page.locator(f'section.customer[data-customer-id="{portal.customer_id}"]')


def consent_state(page: Page, portal: Portal, purpose: str) -> str:
    return str(
        customer_section(page, portal).locator(f'.consent[data-purpose="{purpose}"] .consent-state').inner_text()
    )


def consents_in_chaincrm_me(portal: Portal) -> dict[str, bool]:
    run = portal.cli("me", "consents", "--json", "--keystore", str(portal.customer_keystore))
    assert run.returncode == 0, run.stderr
    (consents,) = json.loads(run.stdout)
    assert consents["customer_id"] == portal.customer_id
    return {state["purpose"]: state["given"] for state in consents["purposes"]}


# ------------------------------------------------------------------ signing in


def test_signing_in_shows_the_customers_own_records(me_page: Page, portal: Portal, wallet: TestWallet) -> None:
    sign_in(me_page, portal.customer.address)

    section = customer_section(me_page, portal)
    expect(section).to_be_visible()
    expect(section.locator(".profile-note")).to_contain_text("chaincrm me")
    expect(section.locator(f'.invoice a[href="/pay/{portal.invoice_id}"]')).to_have_count(1)
    expect(section.locator(".deal").first).to_be_visible()
    expect(section.locator(".stage-change").first).to_be_visible()
    expect(section.locator(".access-event").filter(has_text="sales").filter(has_text="granted").first).to_be_visible()
    marketing = "given" if portal.crm.registry.has_consent(portal.customer_id, Purpose.MARKETING) else "not given"
    expect(section.locator('.consent[data-purpose="marketing"] .consent-state')).to_have_text([marketing])
    expect(section.locator(f'.grant[data-staff="{portal.granted_staff}"]')).to_have_count(1)
    ((method, message, _),) = wallet.signed
    host = portal.url.removeprefix("http://")
    assert method == "personal_sign"
    assert message.startswith(f"{host} wants you to sign in with your Ethereum account:\n{portal.customer.address}\n")
    assert f"\nURI: {portal.url}\n" in message
    assert f"\nChain ID: {portal.crm.chain.chain_id}\n" in message
    screenshot(me_page, "customer-area")


def test_a_replayed_sign_in_is_refused(me_page: Page, portal: Portal) -> None:
    with me_page.expect_request(lambda r: r.url.endswith("/api/siwe/verify")) as verifying:
        sign_in(me_page, portal.customer.address)
    first: Request = verifying.value
    signed = first.post_data_json

    replayed = httpx.post(f"{portal.url}/api/siwe/verify", json=signed, timeout=10)

    assert first.response() is not None and first.response().status == 200  # type: ignore[union-attr]
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "siwe_nonce"
    assert "chaincrm_session" not in replayed.cookies


def test_signing_out_ends_the_session(me_page: Page, portal: Portal) -> None:
    sign_in(me_page, portal.customer.address)

    me_page.locator("button#sign-out").click()

    expect(me_page.locator("button#sign-in")).to_be_visible()
    expect(customer_section(me_page, portal)).to_have_count(0)
    assert me_page.context.request.get(f"{portal.url}/api/me").status == 401


# ------------------------------------------------------------------ consent and access


def test_a_consent_changed_by_signature_shows_on_chain_and_in_chaincrm_me(
    me_page: Page, portal: Portal, wallet: TestWallet
) -> None:
    sign_in(me_page, portal.customer.address)
    given_before = portal.crm.registry.has_consent(portal.customer_id, Purpose.MARKETING)
    balance = portal.balance(portal.customer.address)
    expected = "not given" if given_before else "given"

    customer_section(me_page, portal).locator('.consent[data-purpose="marketing"] button.consent-sign').click()

    expect_message(me_page, "done")
    expect(customer_section(me_page, portal).locator('.consent[data-purpose="marketing"] .consent-state')).to_have_text(
        expected
    )
    assert portal.crm.registry.has_consent(portal.customer_id, Purpose.MARKETING) is (not given_before)
    assert consents_in_chaincrm_me(portal)["marketing"] is (not given_before)
    typed = [what for method, what, _ in wallet.signed if method == "eth_signTypedData_v4"]
    assert [t["primaryType"] for t in typed] == ["SetConsent"]
    assert typed[0]["message"]["granted"] is (not given_before)
    assert wallet.sent == []
    assert portal.balance(portal.customer.address) == balance  # the relayer paid the gas


def test_a_consent_changed_by_a_transaction_is_sent_and_paid_by_the_wallet(
    me_page: Page, portal: Portal, wallet: TestWallet
) -> None:
    sign_in(me_page, portal.customer.address)
    given_before = portal.crm.registry.has_consent(portal.customer_id, Purpose.PROFILING)

    customer_section(me_page, portal).locator('.consent[data-purpose="profiling"] button.consent-tx').click()

    expect_message(me_page, "done")
    assert len(wallet.sent) == 1
    expect(me_page.locator("#message")).to_contain_text(wallet.sent[0])
    assert portal.crm.registry.has_consent(portal.customer_id, Purpose.PROFILING) is (not given_before)
    expect(customer_section(me_page, portal).locator('.consent[data-purpose="profiling"] .consent-state')).to_have_text(
        "not given" if given_before else "given"
    )


def test_revoking_a_grant_by_signature_ends_it_on_chain(me_page: Page, portal: Portal, wallet: TestWallet) -> None:
    sign_in(me_page, portal.customer.address)
    assert portal.crm.registry.has_active_grant(portal.customer_id, portal.granted_staff)
    balance = portal.balance(portal.customer.address)

    customer_section(me_page, portal).locator(f'.grant[data-staff="{portal.granted_staff}"] button.revoke-sign').click()

    expect_message(me_page, "done")
    expect(customer_section(me_page, portal).locator(f'.grant[data-staff="{portal.granted_staff}"]')).to_have_count(0)
    assert not portal.crm.registry.has_active_grant(portal.customer_id, portal.granted_staff)
    revoked = customer_section(me_page, portal).locator(".access-event").filter(has_text="revoked")
    expect(revoked.filter(has_text="support")).to_have_count(1)
    typed = [what for method, what, _ in wallet.signed if method == "eth_signTypedData_v4"]
    assert [t["primaryType"] for t in typed] == ["RevokeAccess"]
    assert wallet.sent == []
    assert portal.balance(portal.customer.address) == balance


def test_at_a_phones_width_the_customer_area_does_not_scroll_sideways(
    browsing: Browsing, portal: Portal, wallet: TestWallet
) -> None:
    page = browsing.open([wallet], viewport=PHONE)
    browsing.watch(page).expect_console_error(UNAUTHORIZED_ON_LOAD)
    page.goto(f"{portal.url}/me")

    sign_in(page, portal.customer.address)

    expect(customer_section(page, portal)).to_be_visible()
    assert scroll_overflow(page) <= 0
