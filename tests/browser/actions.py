"""What a user does and reads on the portal's pages, in the words of the DOM contract (spec: ids,
classes, data attributes). Tests act through these; none reaches into the page's scripts."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

CONFIRM_TIMEOUT_MS = 15_000  # a transaction's receipt plus the index catching up


def message(page: Page) -> Any:
    return page.locator("#message")


def expect_message(page: Page, kind: str) -> None:
    """The page shows one plain message of `kind` (#message[data-kind])."""
    expect(message(page)).to_have_attribute("data-kind", kind, timeout=CONFIRM_TIMEOUT_MS)
    expect(message(page)).not_to_be_empty()


def connect(page: Page, address: str) -> None:
    """Click "Connect wallet" and wait until the page shows the connected account."""
    page.locator("button#connect").click()
    expect(page.locator("#account")).to_contain_text(address, ignore_case=True)


def record_texts(page: Page, selector: str) -> None:
    """Start recording every text the element at `selector` shows (what a user sees, in order)."""
    page.evaluate(
        """(selector) => {
            const seen = [];
            const element = document.querySelector(selector);
            const note = () => { const t = element.textContent.trim(); if (seen.at(-1) !== t) seen.push(t); };
            note();
            new MutationObserver(note).observe(element, {childList: true, characterData: true, subtree: true});
            window.__seenTexts = window.__seenTexts || {};
            window.__seenTexts[selector] = seen;
        }""",
        selector,
    )


def recorded_texts(page: Page, selector: str) -> list[str]:
    return list(page.evaluate("(selector) => window.__seenTexts[selector]", selector))


def pay(page: Page) -> None:
    page.locator("button#pay").click()


def expect_confirmed(page: Page) -> None:
    expect(page.locator("#tx-state")).to_have_text("confirmed", timeout=CONFIRM_TIMEOUT_MS)


def expect_status(page: Page, status: str) -> None:
    expect(page.locator("#invoice-status")).to_have_text(status, timeout=CONFIRM_TIMEOUT_MS)


def scroll_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return int(page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth"))


def sign_in(page: Page, address: str) -> None:
    page.locator("button#sign-in").click()
    expect(page.locator("#session-address")).to_contain_text(address, ignore_case=True, timeout=CONFIRM_TIMEOUT_MS)
