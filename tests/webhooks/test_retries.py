"""Failures: retried with a growing backoff until the receiver answers 2xx, given up after the retry
window, never past a redirect, and resumed by a new dispatcher after a restart without a second
delivery."""

from __future__ import annotations

import json

from chaincrm.contracts.client import Crm
from chaincrm.webhooks.dispatcher import DispatchOptions, retry_delay
from tests.indexer.conftest import register
from tests.sdk.conftest import Staff
from tests.webhooks.conftest import FAST, Hooks, scripted, wait_for


def _delivered(hooks: Hooks) -> dict[str, object] | None:
    rows = hooks.delivery_rows()
    return rows[0] if rows and rows[0]["status"] == "delivered" else None


def test_retry_delays_double_from_the_base_up_to_the_cap_and_jitter_only_shortens_them() -> None:
    options = DispatchOptions(retry_base_seconds=5, retry_cap_seconds=3600, jitter=0.25)

    plain = [retry_delay(n, options, rand=lambda: 0.0) for n in (1, 2, 3, 4, 10, 11, 40)]
    most_jittered = retry_delay(3, options, rand=lambda: 1.0)

    assert plain == [5, 10, 20, 40, 2560, 3600, 3600]
    assert most_jittered == 15.0


def test_a_receiver_answering_500_is_retried_with_growing_delays_until_it_answers_200(
    hooks: Hooks, crm: Crm, staff: Staff
) -> None:
    with scripted(500, 500) as receiver:
        hooks.subscribe(receiver.url, "customer.registered")
        hooks.start()
        register(crm, staff)
        hooks.indexer.sync_once()

        hooks.dispatcher.start()
        row = wait_for(lambda: _delivered(hooks), "the delivery")

    requests = receiver.requests
    assert [request.answered for request in requests] == [500, 500, 200]
    assert len({request.headers["Chaincrm-Event-Id"] for request in requests}) == 1
    assert len({request.body for request in requests}) == 1
    gaps = [later.at - earlier.at for earlier, later in zip(requests, requests[1:], strict=False)]
    assert gaps[0] >= FAST.retry_base_seconds and gaps[1] >= 2 * FAST.retry_base_seconds
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (3, 200, None)


def test_a_receiver_that_hangs_is_timed_out_and_retried(hooks: Hooks, crm: Crm, staff: Staff) -> None:
    dispatcher = hooks.new_dispatcher(timeout_seconds=0.5)
    with scripted(("hang", 5)) as receiver:
        hooks.subscribe(receiver.url, "customer.registered")
        hooks.sync(dispatcher)
        register(crm, staff)

        hooks.sync(dispatcher)
        timed_out = hooks.delivery_rows()[0]
        dispatcher.start()
        row = wait_for(lambda: _delivered(hooks), "the retry")

    assert (timed_out["status"], timed_out["attempts"], timed_out["last_error"]) == (
        "pending",
        1,
        "timed out after 0.5 s",
    )
    assert [request.answered for request in receiver.requests] == [None, 200]
    assert row["attempts"] == 2


def test_a_redirect_is_not_followed(hooks: Hooks, crm: Crm, staff: Staff) -> None:
    with scripted() as elsewhere, scripted(default=("redirect", "")) as receiver:
        receiver.script.default = ("redirect", elsewhere.url)
        hooks.subscribe(receiver.url, "customer.registered")
        hooks.start()
        register(crm, staff)

        hooks.sync()

    (row,) = hooks.delivery_rows()
    assert (row["status"], row["last_status_code"], row["last_error"]) == (
        "pending",
        302,
        "HTTP 302 (redirects are not followed)",
    )
    assert (len(receiver.requests), elsewhere.requests) == (1, [])


def test_a_delivery_still_failing_after_the_retry_window_is_given_up(hooks: Hooks, crm: Crm, staff: Staff) -> None:
    dispatcher = hooks.new_dispatcher(retry_for_seconds=0.5)
    with scripted(default=503) as receiver:
        hooks.subscribe(receiver.url, "customer.registered")
        hooks.sync(dispatcher)
        register(crm, staff)
        hooks.indexer.sync_once()

        dispatcher.start()
        row = wait_for(lambda: next((r for r in hooks.delivery_rows() if r["status"] == "failed"), None), "failed")
        attempts_then = len(receiver.requests)
        dispatcher.stop()

    assert row["attempts"] == attempts_then >= 2
    assert (row["last_status_code"], row["last_error"]) == (503, "HTTP 503")
    assert row["last_attempt_at"] - row["first_attempt_at"] >= 0.5


def test_a_new_dispatcher_resumes_a_retry_after_a_restart_and_the_receiver_gets_one_success(
    hooks: Hooks, crm: Crm, staff: Staff
) -> None:
    first = hooks.new_dispatcher(retry_base_seconds=0.3)
    with scripted(500, 500, 500) as receiver:
        hooks.subscribe(receiver.url, "customer.registered")
        hooks.sync(first)
        customer_id = register(crm, staff)
        hooks.indexer.sync_once()
        first.start()
        wait_for(lambda: len(receiver.requests) >= 2, "two failed attempts")
        first.stop()
        stopped = hooks.delivery_rows()[0]

        second = hooks.new_dispatcher()
        second.start()
        row = wait_for(lambda: _delivered(hooks), "the delivery after the restart")
        wait_for(lambda: second.passes >= 5, "a few more passes")  # which must send nothing more
        second.stop()

    assert stopped["status"] == "pending" and stopped["attempts"] >= 2
    assert [request.answered for request in receiver.requests] == [500, 500, 500, 200]
    assert json.loads(receiver.answered(200)[0].body)["data"]["customer_id"] == customer_id
    assert row["attempts"] == 4


def test_a_delivered_event_is_not_sent_again_by_later_passes(hooks: Hooks, crm: Crm, staff: Staff) -> None:
    with scripted() as receiver:
        hooks.subscribe(receiver.url, "customer.registered")
        hooks.start()
        register(crm, staff)
        hooks.sync()

        later = [hooks.sync() for _ in range(3)]

    assert [report.attempted for report in later] == [0, 0, 0]
    assert len(receiver.requests) == 1
