"""The reminder keeper against a real Anvil, IPFS node and SMTP server, walking the chain's clock
through the schedule's levels (3 days before due, on the due date, 7 days after)."""

from __future__ import annotations

import threading

from sqlalchemy import select

from chaincrm.automation.keeper import Keeper, PassReport
from chaincrm.automation.mailer import message_id
from chaincrm.automation.reminders import reminder_hash
from chaincrm.models import InteractionKind, Purpose
from chaincrm.privacy import CustomerProfile
from chaincrm.webhooks import store as webhook_tables
from chaincrm.webhooks.store import WebhookStore
from tests.automation.conftest import World

ADA = CustomerProfile(name="Ada Okafor", email="ada@customer.example")
BEN = CustomerProfile(name="Ben Osei", email="ben@customer.example")
NO_EMAIL = CustomerProfile(name="Cleo Marsh", phone="+44 20 7946 0000")
DAYS_TO_DUE = 30  # the deployment's default payment term


def _recipients(world: World) -> list[tuple[str, str]]:
    return [(str(m["To"]), str(m["Subject"])) for m in world.smtp.messages]


def test_each_level_sends_one_email_when_its_time_comes_and_records_it_on_chain(world: World) -> None:
    customer_id = world.customer(ADA)
    invoice_id = world.invoice(customer_id)
    keeper = world.keeper(world.staff.agent)
    world.sync()
    assert keeper.pass_once().recorded == 0  # nothing due 30 days ahead

    world.travel(DAYS_TO_DUE - 3)
    world.sync()
    report = keeper.pass_once()
    assert (report.recorded, report.batches, report.emails_sent) == (1, 1, 1)
    assert report.line().startswith("1 reminder recorded in 1 batch (tx 0x")
    assert keeper.pass_once().recorded == 0  # the same level again: nothing
    world.travel(3)
    world.sync()
    assert keeper.pass_once().emails_sent == 1
    world.travel(7)
    world.sync()
    assert keeper.pass_once().emails_sent == 1
    world.travel(30)
    world.sync()
    assert keeper.pass_once().recorded == 0  # no level after the last

    assert _recipients(world) == [
        ("ada@customer.example", f"Payment reminder: invoice {invoice_id}"),
        ("ada@customer.example", f"Payment reminder: invoice {invoice_id}"),
        ("ada@customer.example", f"Invoice {invoice_id} is overdue"),
    ]
    chain_id, escrow = world.crm.deployment.chain_id, world.crm.deployment.escrow
    hashes = [reminder_hash(chain_id, escrow, invoice_id, name) for name in ("due-soon", "due", "overdue")]
    assert [m["Message-ID"] for m in world.smtp.messages] == [message_id(h, "billing@crm.example") for h in hashes]
    recorded = [i for i in world.crm.registry.interactions(customer_id) if i.kind == InteractionKind.REMINDER]
    assert [(i.content_hash, i.author) for i in recorded] == [(h, world.staff.agent.address) for h in hashes]
    assert all(b"Ada" not in i.content_hash for i in recorded)


def test_the_webhook_channel_queues_an_invoice_reminder_event_without_personal_data(world: World) -> None:
    invoice_id = world.invoice(world.customer(ADA))
    keeper = world.keeper(world.staff.agent)
    assert keeper.integration is not None
    WebhookStore(keeper.integration).add_endpoint("https://hooks.example/in", ["invoice.reminder"])
    world.travel(DAYS_TO_DUE - 2)
    world.sync()
    assert keeper.pass_once().webhooks_queued == 1
    with keeper.integration.connect() as conn:
        rows = conn.execute(select(webhook_tables.events.c.payload)).scalars().all()
    assert len(rows) == 1
    data = rows[0]["data"]
    assert rows[0]["type"] == "invoice.reminder"
    assert set(data) == {
        "invoice_id",
        "level",
        "customer_id",
        "due_at",
        "amount_wei",
        "amount_base_units",
        "currency",
        "content_hash",
        "at",
    }
    assert (data["invoice_id"], data["level"]) == (invoice_id, "due-soon")
    assert "ada" not in str(rows[0]).lower()


def test_a_restarted_keeper_sends_nothing_twice(world: World) -> None:
    world.invoice(world.customer(ADA))
    world.travel(DAYS_TO_DUE)
    world.sync()
    assert world.keeper(world.staff.agent).pass_once().emails_sent == 1
    restarted = world.keeper(world.staff.agent)  # same journal, a new process's objects
    report = restarted.pass_once()
    assert (report.recorded, report.emails_sent) == (0, 0)
    world.sync()
    fresh_journal = world.keeper(world.staff.agent, journal="other")  # even without the journal: the chain says so
    assert fresh_journal.pass_once().recorded == 0
    assert len(world.smtp.messages) == 1


def test_two_keepers_racing_for_the_same_reminders_send_each_once(world: World) -> None:
    for profile in (ADA, BEN):
        customer_id = world.customer(profile)
        world.customers.grant(customer_id, world.staff.agent2.address, Purpose.BILLING, world.staff.manager)
        world.invoice(customer_id)
    world.travel(DAYS_TO_DUE)
    world.sync()
    first = world.keeper(world.staff.agent, journal="first")
    second = world.keeper(world.staff.agent2, journal="second")
    seen_by_second = second.sources.snapshot()  # both decided before either recorded
    won = first.pass_once()
    lost = second.pass_once(seen_by_second)
    assert (won.recorded, won.emails_sent) == (2, 2)
    assert (lost.recorded, lost.lost, lost.emails_sent) == (0, 2, 0)  # its records came second: it sends nothing
    assert second.pass_once().emails_sent == 0
    assert sorted(str(m["To"]) for m in world.smtp.messages) == ["ada@customer.example", "ben@customer.example"]


def test_two_keepers_running_at_the_same_time_send_each_reminder_once(world: World) -> None:
    for profile in (ADA, BEN, NO_EMAIL):
        customer_id = world.customer(profile)
        world.customers.grant(customer_id, world.staff.agent2.address, Purpose.BILLING, world.staff.manager)
        world.invoice(customer_id)
    world.travel(DAYS_TO_DUE)
    world.sync()
    keepers = [world.keeper(world.staff.agent, journal="one"), world.keeper(world.staff.agent2, journal="two")]
    barrier = threading.Barrier(len(keepers))
    reports: list[PassReport] = []
    failures: list[BaseException] = []

    def run(keeper: Keeper) -> None:
        barrier.wait()
        try:
            reports.append(keeper.pass_once())
        except BaseException as exc:  # reported below, with its traceback
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(keeper,)) for keeper in keepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if failures:
        raise failures[0]
    assert len(reports) == 2
    assert sum(report.recorded for report in reports) == 3  # each reminder owned by exactly one keeper
    assert sum(report.emails_sent for report in reports) == 2
    assert sorted(str(m["To"]) for m in world.smtp.messages) == ["ada@customer.example", "ben@customer.example"]
    assert sum(keeper.pass_once().emails_sent for keeper in keepers) == 0


def test_an_smtp_server_that_is_down_loses_no_reminder(world: World) -> None:
    for profile in (ADA, BEN):
        world.invoice(world.customer(profile))
    world.travel(DAYS_TO_DUE)
    world.sync()
    keeper = world.keeper(world.staff.agent)
    world.smtp.stop()
    down = keeper.pass_once()
    assert (down.recorded, down.emails_sent, down.emails_waiting) == (2, 0, 2)
    assert "waiting" in down.line()
    world.smtp.start()
    up = world.keeper(world.staff.agent).pass_once()  # after a restart, too
    assert (up.recorded, up.emails_sent, up.emails_waiting) == (0, 2, 0)
    assert keeper.pass_once().emails_sent == 0
    assert len(world.smtp.messages) == 2


def test_an_email_waiting_for_the_smtp_server_is_dropped_once_its_invoice_is_settled(world: World) -> None:
    invoice_id = world.invoice(world.customer(ADA))
    world.travel(DAYS_TO_DUE)
    world.sync()
    keeper = world.keeper(world.staff.agent)
    world.smtp.stop()
    assert keeper.pass_once().emails_waiting == 1
    world.crm.escrow.cancel(invoice_id, world.staff.manager)
    world.smtp.start()
    assert keeper.pass_once().emails_sent == 0
    assert [e.email for e in keeper.journal.entries()] == ["dropped"]
    assert world.smtp.messages == []


def test_a_paid_or_cancelled_invoice_gets_no_more_reminders(world: World) -> None:
    customer_id = world.customer(ADA)
    paid = world.invoice(customer_id)
    cancelled = world.invoice(world.customer(BEN))
    keeper = world.keeper(world.staff.agent)
    world.travel(DAYS_TO_DUE - 3)
    world.sync()
    assert keeper.pass_once().emails_sent == 2
    world.crm.escrow.cancel(cancelled, world.staff.manager)
    world.crm.escrow.pay(paid, world.wallets[customer_id])  # after the index's last block: the chain is read
    world.travel(10)
    assert keeper.pass_once().recorded == 0
    world.sync()
    assert keeper.pass_once().recorded == 0
    assert len(world.smtp.messages) == 2


def test_a_customer_without_an_email_address_is_recorded_and_the_others_still_go(world: World) -> None:
    world.invoice(world.customer(ADA))
    silent = world.invoice(world.customer(NO_EMAIL))
    unreadable = world.invoice(world.customer(BEN, agent=world.staff.agent2), agent=world.staff.agent2)
    world.travel(DAYS_TO_DUE)
    world.sync()
    keeper = world.keeper(world.staff.agent)
    report = keeper.pass_once()
    assert (report.recorded, report.emails_sent, report.without_email) == (2, 1, 2)
    assert sorted(report.without_email_ids) == sorted([silent, unreadable])
    assert "2 without an e-mail address" in report.line()
    problems = {e.invoice_id: e.email_problem for e in keeper.journal.entries("email = 'no_address'")}
    assert problems == {silent: "no e-mail address in the profile"}
    assert keeper.pass_once().without_email == 1  # the one without a grant is decided again each pass


def test_a_keeper_without_a_grant_records_nothing_and_says_so(world: World) -> None:
    invoice_id = world.invoice(world.customer(ADA))
    world.travel(DAYS_TO_DUE)
    world.sync()
    outsider = world.keeper(world.staff.agent2, journal="outsider").pass_once()
    assert (outsider.recorded, outsider.without_email, outsider.without_email_ids) == (0, 1, (invoice_id,))
    assert world.keeper(world.staff.agent).pass_once().emails_sent == 1


def test_an_erased_customer_gets_no_reminder_and_the_pass_says_so(world: World) -> None:
    erased_customer = world.customer(BEN)
    erased = world.invoice(erased_customer)
    world.invoice(world.customer(ADA))
    world.customers.erase(erased_customer, world.staff.manager)
    world.travel(DAYS_TO_DUE)
    world.sync()
    report = world.keeper(world.staff.agent).pass_once()
    assert (report.recorded, report.emails_sent, report.without_email_ids) == (1, 1, (erased,))
    assert [str(m["To"]) for m in world.smtp.messages] == ["ada@customer.example"]
