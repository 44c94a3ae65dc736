"""Reorgs (Anvil's `anvil_reorg`): an event already sent that a reorg removes is followed by
`<type>.reverted`; the events of the blocks that replaced it are sent; an event removed before it
was confirmations deep is never sent. On a chain of its own: a reorg rewrites history."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.models import Purpose
from tests.indexer.conftest import crm_on_own_anvil, entry, grant, register, reorg, signed_interaction
from tests.sdk.conftest import Staff
from tests.webhooks.conftest import Hooks, mine, scripted


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory, staff: Staff) -> Iterator[Crm]:
    with crm_on_own_anvil(tmp_path_factory.mktemp("webhook-reorg"), staff) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def chain(crm: Crm) -> Chain:
    return crm.chain


def test_a_sent_event_that_a_reorg_removes_is_reverted_and_its_replacement_sent(
    hooks: Hooks, chain: Chain, crm: Crm, staff: Staff
) -> None:
    customer_id = register(crm, staff)
    grant(crm, customer_id, staff.agent2, Purpose.SUPPORT, staff.manager)  # the replacement's author
    with scripted() as receiver:
        hooks.subscribe(receiver.url, "interaction.logged")
        hooks.start()
        crm.registry.log_interaction(entry(customer_id), staff.agent)
        hooks.sync()
        (sent,) = [json.loads(request.body) for request in receiver.requests]

        reorg(chain, 1, [signed_interaction(crm, staff, customer_id)])
        report = hooks.sync()

    assert report.reverted == 1
    after = {event["type"]: event for event in (json.loads(r.body) for r in receiver.requests[1:])}
    assert set(after) == {"interaction.logged.reverted", "interaction.logged"}
    reverted = after["interaction.logged.reverted"]
    assert reverted == sent | {
        "id": f"{sent['id']}:reverted",
        "type": "interaction.logged.reverted",
        "reverts": sent["id"],
        "created": reverted["created"],
    }
    replacement = after["interaction.logged"]
    assert replacement["id"] != sent["id"]
    assert (replacement["block_number"], replacement["data"]["author"]) == (sent["block_number"], staff.agent2.address)
    kinds = {(row["kind"], row["status"]) for row in hooks.delivery_rows()}
    assert kinds == {("event", "delivered"), ("reverted", "delivered")}


def test_an_event_a_reorg_removes_before_it_is_confirmations_deep_is_never_sent(
    hooks: Hooks, chain: Chain, crm: Crm, staff: Staff
) -> None:
    customer_id = register(crm, staff)
    dispatcher = hooks.new_dispatcher(confirmations=2)
    with scripted() as receiver:
        hooks.subscribe(receiver.url, "interaction.logged")
        hooks.sync(dispatcher)
        crm.registry.log_interaction(entry(customer_id), staff.agent)
        hooks.sync(dispatcher)

        reorg(chain, 1, [])
        mine(chain, 3)
        reports = [hooks.sync(dispatcher) for _ in range(2)]
        later = crm.registry.log_interaction(entry(customer_id), staff.agent)
        mine(chain, 2)
        hooks.sync(dispatcher)

    assert [(report.collected, report.attempted) for report in reports] == [(0, 0), (0, 0)]
    assert [json.loads(request.body)["tx_hash"] for request in receiver.requests] == [
        later["transactionHash"].to_0x_hex()
    ]
