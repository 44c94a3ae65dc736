"""The pipeline board in Chromium: a staff member drags a deal to the next column (or uses its
button or list) and the move lands on chain, signed by the keystore the server unlocked; a move the
contract refuses shows its decoded revert and leaves the card where it was."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from chaincrm.models import Stage
from tests.browser.actions import expect_message, message
from tests.browser.conftest import Watch, screenshot
from tests.console.conftest import ConsoleServer, new_deal, open_url

REFUSED_STATUS = "status of 409"  # Chromium logs the refused POST's answer; the page shows the revert


def card(page: Page, deal_id: int) -> Locator:
    return page.locator(f'.deal-card[data-deal-id="{deal_id}"]')


def column(page: Page, stage: str) -> Locator:
    return page.locator(f'.stage-column[data-stage="{stage}"]')


def in_column(page: Page, stage: str, deal_id: int) -> Locator:
    return column(page, stage).locator(f'.deal-card[data-deal-id="{deal_id}"]')


def count(page: Page, stage: str) -> int:
    return int(column(page, stage).locator(".count").inner_text())


def test_the_printed_url_opens_the_board_and_leaves_no_token_in_the_address(
    page: Page, console_server: ConsoleServer
) -> None:
    page.goto(open_url(console_server))

    assert page.url == f"{console_server.url}/staff/"
    expect(page.locator(".stage-column")).to_have_count(7)
    expect(page.locator(".staff-id")).to_have_attribute("title", console_server.staff.address)
    cookie = next(c for c in page.context.cookies() if c["name"] == "chaincrm_staff")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/staff"


def test_dragging_a_card_to_the_next_column_moves_the_deal_on_chain(board: Page, console_server: ConsoleServer) -> None:
    deal_id = new_deal(console_server, console_server.ada_id)
    board.reload()
    lead, qualified = count(board, "lead"), count(board, "qualified")

    card(board, deal_id).drag_to(column(board, "qualified"))

    expect_message(board, "done")
    expect(message(board)).to_contain_text(f"Deal {deal_id} moved to qualified")
    expect(in_column(board, "qualified", deal_id)).to_be_visible()
    assert console_server.deal_stage(deal_id) is Stage.QUALIFIED
    assert (count(board, "lead"), count(board, "qualified")) == (lead - 1, qualified + 1)
    screenshot(board, "staff-board")
    console_server.indexed()
    board.reload()
    expect(in_column(board, "qualified", deal_id)).to_be_visible()


def test_dragging_a_card_past_a_stage_shows_the_decoded_revert(
    board: Page, console_server: ConsoleServer, watch: Watch
) -> None:
    watch.expect_console_error(REFUSED_STATUS)
    deal_id = new_deal(console_server, console_server.ada_id)
    board.reload()

    card(board, deal_id).drag_to(column(board, "proposal"))

    expect_message(board, "contract_refused")
    expect(message(board)).to_have_text(
        f"The contract refused to move deal {deal_id}: DealStageTransitionInvalid(dealId={deal_id}, from=lead, "
        "to=proposal)."
    )
    expect(in_column(board, "lead", deal_id)).to_be_visible()
    assert console_server.deal_stage(deal_id) is Stage.LEAD


def test_moving_another_agents_deal_shows_the_decoded_revert(
    board: Page, console_server: ConsoleServer, watch: Watch
) -> None:
    watch.expect_console_error(REFUSED_STATUS)
    deal_id = new_deal(console_server, console_server.carla_id, owner=console_server.other_agent)
    board.reload()

    card(board, deal_id).locator("button.move-next").click()

    expect_message(board, "contract_refused")
    expect(message(board)).to_contain_text(
        f"CallerNotDealOwnerOrManager(dealId={deal_id}, caller={console_server.staff.address})"
    )
    expect(in_column(board, "lead", deal_id)).to_be_visible()
    assert console_server.deal_stage(deal_id) is Stage.LEAD


def test_the_next_stage_button_moves_a_deal_from_the_keyboard(board: Page, console_server: ConsoleServer) -> None:
    deal_id = new_deal(console_server, console_server.bruno_id, Stage.CONTRACTING)
    board.reload()
    button = card(board, deal_id).locator("button.move-next")
    expect(button).to_have_accessible_name(f"Move deal {deal_id} to won")

    button.focus()
    board.keyboard.press("Enter")

    expect_message(board, "done")
    won = in_column(board, "won", deal_id)
    expect(won).to_be_visible()
    invoice_id = console_server.crm.pipeline.deal(deal_id).invoice_id
    assert console_server.deal_stage(deal_id) is Stage.WON and invoice_id is not None
    expect(won.locator(".deal-invoice a")).to_have_attribute("href", f"/pay/{invoice_id}")
    expect(won.locator("button, select")).to_have_count(0)
    expect(won).to_be_focused()


def test_the_move_to_list_marks_a_deal_lost_with_a_reason(board: Page, console_server: ConsoleServer) -> None:
    deal_id = new_deal(console_server, console_server.ada_id, Stage.PROPOSAL)
    board.reload()
    moved = card(board, deal_id)

    moved.get_by_label(f"Move deal {deal_id} to", exact=True).select_option("lost:no_budget")
    moved.locator("button.move-go").click()

    expect_message(board, "done")
    expect(in_column(board, "lost", deal_id)).to_be_visible()
    assert console_server.deal_stage(deal_id) is Stage.LOST
