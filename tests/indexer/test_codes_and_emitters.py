"""What the chain may hold that this version does not expect: codes it does not know (a later
contract version, or logs from before the contracts bounded them) and logs with the CRM's topics
from other contracts. A node that serves such logs (`InjectingProvider`) must not break the index,
its timeline or a report; foreign logs are left out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from chaincrm.chain import Chain
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import deploy
from chaincrm.contracts.registry import InteractionEntry, pack_records
from chaincrm.index import schema as db
from chaincrm.models import InteractionKind, Outcome, Purpose, Role, Stage
from chaincrm.reports.kpis import compute, history_from_index
from chaincrm.services.anvil import AnvilNode
from tests.indexer.conftest import (
    InjectingProvider,
    MakeIndexer,
    at_block,
    chain_over,
    craft_log,
    dump,
    entry,
    register,
)
from tests.sdk.conftest import Staff

HASH = b"\x44" * 32
FIRST_CRAFTED_LOG_INDEX = 100  # well past the real logs of the block


def _crafted(crm: Crm, staff: Staff, customer_id: int, deal_id: int) -> list[dict[str, Any]]:
    """Logs with unknown codes in the newest block, from the deployment's own contracts."""
    where = at_block(crm.chain.w3, crm.chain.w3.eth.block_number)
    at = where["timestamp"]
    registry, pipeline, author = crm.registry.address, crm.pipeline.address, staff.agent.address
    batch = pack_records([InteractionEntry(customer_id, InteractionKind(200), Outcome.POSITIVE, HASH)])
    logs = [
        ("InteractionLogged", registry, {"customerId": customer_id, "author": author, "contentHash": HASH,
                                         "kind": 1, "outcome": 6, "at": at}),
        ("InteractionsLogged", registry, {"author": author, "at": at, "records": batch}),
        ("AccessGranted", registry, {"customerId": customer_id, "staff": staff.agent2.address, "purpose": 9,
                                     "actor": staff.manager.address}),
        ("DealStageChanged", pipeline, {"dealId": deal_id, "from": 1, "to": 9, "actor": author, "at": at}),
    ]  # fmt: skip
    return [
        craft_log(event, address, log_index=FIRST_CRAFTED_LOG_INDEX + i, **where, **args)
        for i, (event, address, args) in enumerate(logs)
    ]


def test_an_index_of_codes_this_version_does_not_know_reads_them_as_unknown(
    anvil_node: AnvilNode, chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    customer_id = register(crm, staff)
    deal_id = crm.pipeline.open_deal(customer_id, staff.agent.address, 10**18, staff.agent)
    provider = InjectingProvider(anvil_node.url, _crafted(crm, staff, customer_id, deal_id))

    indexer = make_indexer(chain_over(provider), crm)
    indexer.sync_once()

    timeline = indexer.timeline(customer_id)
    assert sorted((i.kind.label, i.outcome.label) for i in timeline) == [
        ("call", "unknown(6)"),
        ("unknown(200)", "positive"),
    ]
    with indexer.engine.connect() as conn:
        stage = conn.execute(select(db.deals.c.stage).where(db.deals.c.id == deal_id)).scalar_one()
        purposes = conn.execute(
            select(db.access_events.c.purpose).where(db.access_events.c.staff == staff.agent2.address)
        ).scalars()
        report = compute(history_from_index(conn))
    assert Stage(stage).label == "unknown(9)" and [Purpose(p).label for p in purposes] == ["unknown(9)"]
    assert report.deals == 1 and report.figures()["funnel lead"] == "1"


def test_logs_with_the_crms_topics_from_another_contract_are_left_out_of_the_index(
    anvil_node: AnvilNode, chain: Chain, crm: Crm, staff: Staff, make_indexer: MakeIndexer, snapshot: None
) -> None:
    """A second deployment on the same chain emits real look-alike events; a node that hands them
    over with ours changes nothing in the index."""
    other = Crm.attach(chain, deploy(chain, staff.admin, treasury=staff.treasury.address))
    other.registry.grant_role(Role.AGENT, staff.agent.address, staff.admin)
    look_alike = register(other, staff)
    receipt = other.registry.log_interaction(entry(look_alike), staff.agent)
    customer_id = register(crm, staff)
    crm.registry.log_interaction(entry(customer_id), staff.agent)
    foreign = chain.w3.eth.get_logs(
        {"address": other.registry.address, "fromBlock": other.deployment.block_number, "toBlock": "latest"}
    )
    raw_foreign = [
        {
            "address": log["address"].lower(),
            "topics": [topic.to_0x_hex() for topic in log["topics"]],
            "data": log["data"].to_0x_hex(),
            "blockNumber": hex(log["blockNumber"]),
            "blockHash": log["blockHash"].to_0x_hex(),
            "transactionHash": log["transactionHash"].to_0x_hex(),
            "transactionIndex": hex(log["transactionIndex"]),
            "logIndex": hex(log["logIndex"]),
            "removed": False,
        }
        for log in foreign
    ]
    lying = make_indexer(chain_over(InjectingProvider(anvil_node.url, raw_foreign)), crm, name="lying")
    honest = make_indexer(chain, crm, name="honest")

    report = lying.sync_once()
    honest.sync_once()

    assert receipt["status"] == 1 and report.foreign_logs == len(raw_foreign) > 0
    assert dump(lying.engine) == dump(honest.engine)
    assert [i.customer_id for i in lying.timeline(customer_id)] == [customer_id]
