"""KPIs computed from the chain's logs for the story in conftest, to the exact figure."""

from __future__ import annotations

import pytest

from chaincrm.models import InvoiceStatus, Stage
from chaincrm.reports.kpis import History, Report, ReportFilter, compute, history_from_chain
from tests.reports.conftest import DAY, ETH, HOUR, Story


@pytest.fixture(scope="module")
def history(story: Story) -> History:
    return history_from_chain(story.crm, to_block=story.end_block)


@pytest.fixture(scope="module")
def report(history: History) -> Report:
    return compute(history)


def funnel(report: Report) -> dict[Stage, int]:
    return {step.stage: step.deals for step in report.funnel}


def times(report: Report) -> dict[Stage, tuple[int, float | None, float | None]]:
    return {t.stage: (t.deals, t.median_seconds, t.p90_seconds) for t in report.stage_times}


def test_the_report_ends_at_the_last_block(report: Report, story: Story) -> None:
    assert (report.as_of, report.end_block) == (story.end, story.end_block)


def test_the_funnel_counts_the_deals_that_reached_each_stage(report: Report) -> None:
    assert funnel(report) == {
        Stage.LEAD: 6,
        Stage.QUALIFIED: 6,
        Stage.PROPOSAL: 5,
        Stage.NEGOTIATION: 4,
        Stage.CONTRACTING: 4,
        Stage.WON: 4,
    }
    assert [step.of_previous for step in report.funnel] == [None, 1.0, 5 / 6, 4 / 5, 1.0, 1.0]


def test_the_win_rate_is_won_over_closed(report: Report) -> None:
    assert (report.deals, report.won, report.lost, report.win_rate) == (6, 4, 1, 0.8)


def test_time_in_stage_gives_median_and_p90_in_seconds(report: Report) -> None:
    qualified_p90 = 4 * HOUR + 0.5 * ((72 * DAY - 3 * HOUR) - 4 * HOUR)  # deal 4 is still qualified

    assert times(report) == {
        Stage.LEAD: (6, 1 * HOUR, 2.5 * HOUR),
        Stage.QUALIFIED: (6, 3 * HOUR, pytest.approx(qualified_p90)),
        Stage.PROPOSAL: (5, 1 * HOUR, pytest.approx(4.2 * HOUR)),
        Stage.NEGOTIATION: (4, 2.5 * HOUR, pytest.approx(5.4 * HOUR)),
        Stage.CONTRACTING: (4, 3 * HOUR, pytest.approx(5.7 * HOUR)),
    }


def test_staff_effectiveness_credits_wins_to_the_deal_owner(report: Report, story: Story) -> None:
    rows = {row.agent: row for row in report.staff}

    assert set(rows) == {story.agent_a, story.agent_b, story.manager}
    a, b, m = rows[story.agent_a], rows[story.agent_b], rows[story.manager]
    assert (a.interactions, a.stage_moves, a.deals_moved, a.deals_won, a.revenue_won_wei) == (3, 14, 3, 3, 8 * ETH)
    assert (b.interactions, b.stage_moves, b.deals_moved, b.deals_won, b.revenue_won_wei) == (3, 10, 3, 1, 6 * ETH)
    assert (m.interactions, m.stage_moves, m.deals_moved, m.deals_won, m.revenue_won_wei) == (0, 1, 1, 0, 0)


def test_aging_buckets_open_invoices_by_days_past_due(report: Report) -> None:
    assert [(b.label, b.invoices, b.amount_wei) for b in report.aging] == [
        ("current", 1, 6 * ETH),
        ("1-30", 0, 0),
        ("31-60", 1, 2 * ETH),
        ("61-90", 0, 0),
        ("90+", 0, 0),
    ]


def test_overdue_lists_the_unpaid_invoice_past_its_due_date(report: Report, story: Story) -> None:
    (overdue,) = report.overdue

    assert (overdue.invoice_id, overdue.deal_id, overdue.owner, overdue.amount_wei) == (2, 2, story.agent_a, 2 * ETH)
    assert (overdue.due_at, overdue.days_past_due) == (story.t0 + 32 * DAY, 43)


def test_revenue_by_month_sums_payments_releases_and_refunds_credited(report: Report, story: Story) -> None:
    assert [(m.month, m.paid_wei, m.released_wei, m.refunded_wei) for m in report.revenue] == [
        (story.month(0), 1 * ETH, 1 * ETH, 0),
        (story.month(36 * DAY), 5 * ETH, 0, 5 * ETH),
    ]


def test_a_refund_is_owed_from_its_credit_until_the_payer_withdraws_it(history: History, story: Story) -> None:
    def owed(until: int) -> int | None:
        return compute(history, ReportFilter(until=story.t0 + until)).refunds_owed_wei

    assert [owed(36 * DAY), owed(37 * DAY), owed(38 * DAY - 1), owed(38 * DAY)] == [0, 5 * ETH, 5 * ETH, 0]


def test_refunds_owed_are_not_split_by_agent(history: History, story: Story) -> None:
    """A withdrawal takes every refund credited to a payer at once: it belongs to no agent."""
    report = compute(history, ReportFilter(agents=frozenset({story.agent_a}), until=story.t0 + 37 * DAY))

    assert report.refunds_owed_wei is None
    assert report.figures()["refunds owed wei"] == "-"


def test_a_reissued_invoice_is_receivable_once_as_the_new_invoice(history: History, story: Story) -> None:
    deal_6 = sorted(i.invoice_id for i in history.invoices if i.deal_id == 6)
    cancelled = {e.invoice_id for e in history.invoice_events if e.status is InvoiceStatus.CANCELLED}
    before = compute(history, ReportFilter(until=story.t0 + 60 * DAY - 1))
    after = compute(history)

    assert deal_6 == [4, 5] and cancelled == {4}
    assert [(b.label, b.invoices, b.amount_wei) for b in before.aging if b.invoices] == [
        ("current", 1, 6 * ETH),  # invoice 4
        ("1-30", 1, 2 * ETH),
    ]
    assert [(b.label, b.invoices, b.amount_wei) for b in after.aging if b.invoices] == [
        ("current", 1, 6 * ETH),  # invoice 5, not 4 and 5
        ("31-60", 1, 2 * ETH),
    ]
    assert after.deals == 6 and after.won == 4  # one deal, however many invoices


def test_an_agent_filter_keeps_that_agents_deals_and_activity(history: History, story: Story) -> None:
    report = compute(history, ReportFilter(agents=frozenset({story.agent_b})))

    assert funnel(report) == {
        Stage.LEAD: 3,
        Stage.QUALIFIED: 3,
        Stage.PROPOSAL: 2,
        Stage.NEGOTIATION: 1,
        Stage.CONTRACTING: 1,
        Stage.WON: 1,
    }
    assert (report.won, report.lost, report.win_rate) == (1, 1, 0.5)
    assert [row.agent for row in report.staff] == [story.agent_b]
    assert [(b.label, b.invoices) for b in report.aging if b.invoices] == [("current", 1)]
    assert report.overdue == () and report.revenue == ()


def test_a_since_filter_keeps_deals_opened_and_events_after_it(history: History, story: Story) -> None:
    report = compute(history, ReportFilter(since=story.t0 + 30 * DAY))

    assert (report.deals, report.won, report.lost) == (2, 2, 0)
    assert {row.agent: (row.interactions, row.stage_moves) for row in report.staff} == {
        story.agent_a: (1, 5),
        story.agent_b: (0, 5),
    }
    assert [(m.month, m.paid_wei, m.released_wei) for m in report.revenue] == [(story.month(36 * DAY), 5 * ETH, 0)]


def test_an_until_filter_reports_as_the_books_stood_then(history: History, story: Story) -> None:
    report = compute(history, ReportFilter(until=story.t0 + 40 * DAY))

    assert (report.as_of, report.deals, report.won) == (story.t0 + 40 * DAY, 5, 3)
    assert [(b.label, b.invoices, b.amount_wei) for b in report.aging if b.invoices] == [("1-30", 1, 2 * ETH)]
    assert report.overdue[0].days_past_due == 8
    # Deals 1-5 were qualified for 2h, 4h, 4h, 1h and deal 4 for 2h + (37d - 5h) by then.
    assert times(report)[Stage.QUALIFIED] == (5, 4 * HOUR, pytest.approx(4 * HOUR + 0.6 * (37 * DAY - 7 * HOUR)))
