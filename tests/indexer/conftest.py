"""Fixtures for the off-chain index: the SDK's session Anvil and module deployment, plus helpers
that build an indexer over a fresh SQLite file and read a whole index back for comparison.

The index never reads a profile or a note, so customers here are registered straight through the
registry with made-up document hashes, declared for the readers the chain computes (trust model v2:
the registry refuses any other readers hash). A wallet is proposed at registration and accepted by
its own transaction, which makes it the customer's payer."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic
from sqlalchemy import Engine, select
from web3 import HTTPProvider, Web3

from chaincrm.chain import Chain
from chaincrm.chain.artifacts import CONTRACT_NAMES, load_artifact
from chaincrm.contracts.client import Crm, chain_for, connect
from chaincrm.contracts.deployment import deploy
from chaincrm.contracts.registry import InteractionEntry, SealedVersion
from chaincrm.index import schema as db
from chaincrm.index.indexer import Indexer, open_database
from chaincrm.models import InteractionKind, Outcome, Purpose, Role
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilOptions, free_port, start_anvil, stop_process
from tests.sdk.conftest import Staff, anvil_node, chain, crm, snapshot, staff  # noqa: F401 - fixtures

MakeIndexer = Callable[..., Indexer]


@pytest.fixture
def make_indexer(tmp_path: Path) -> Iterator[MakeIndexer]:
    """Indexers over SQLite files in the test's folder (`name` picks the file), closed afterwards."""
    made: list[Indexer] = []

    def make(over: Chain, deployed: Crm, name: str = "index", **options: Any) -> Indexer:
        options.setdefault("confirmations", 0)
        indexer = Indexer(over, deployed.deployment, tmp_path / f"{name}.sqlite", **options)
        made.append(indexer)
        return indexer

    yield make
    for indexer in made:
        indexer.close()


def entry(customer_id: int, kind: InteractionKind = InteractionKind.CALL) -> InteractionEntry:
    return InteractionEntry(customer_id, kind, Outcome.POSITIVE, os.urandom(32))


def publish_key(deployed: Crm, account: LocalAccount) -> None:
    """Publish `account`'s encryption key unless it already did (registering and grants need one)."""
    if deployed.registry.encryption_key_of(account.address) is None:
        deployed.registry.register_encryption_key(public_key64(account), account)


def register(
    deployed: Crm,
    people: Staff,
    *,
    wallet: LocalAccount | None = None,
    agent: LocalAccount | None = None,
    purpose: Purpose = Purpose.SALES,
) -> int:
    """A customer registered by `agent` (default: the agent, who gets the grant), sealed for the
    readers the chain computes; `wallet`, if given, proposed and then accepted by itself."""
    agent = agent or people.agent
    publish_key(deployed, agent)
    registry = deployed.registry
    readers = {agent.address, *(m for m in registry.managers() if registry.encryption_key_of(m))}
    wallet_address = wallet.address if wallet is not None else None
    customer_id = registry.register_customer(
        os.urandom(32), os.urandom(32), readers_hash(readers), wallet_address, purpose, agent
    )
    if wallet is not None:
        registry.approve_wallet(customer_id, wallet.address, people.manager)
        registry.accept_wallet(customer_id, public_key64(wallet), wallet)
    return customer_id


def sealed_for(
    deployed: Crm, customer_id: int, *, adding: str | None = None, removing: str | None = None
) -> SealedVersion:
    """Made-up version hashes declared for the chain's readers once `adding` joins or `removing`
    leaves them: what a grant or a revocation records in the same transaction."""
    readers = set(deployed.registry.readers_of(customer_id))
    if adding is not None:
        readers.add(adding)
    if removing is not None:
        readers.discard(removing)
    return SealedVersion(os.urandom(32), os.urandom(32), readers_hash(readers))


def grant(deployed: Crm, customer_id: int, member: LocalAccount, purpose: Purpose, granter: LocalAccount) -> None:
    publish_key(deployed, member)
    version = sealed_for(deployed, customer_id, adding=member.address)
    deployed.registry.grant_access(customer_id, member.address, purpose, version, granter)


def revoke(deployed: Crm, customer_id: int, member: LocalAccount, revoker: LocalAccount) -> None:
    stays = member.address in deployed.registry.managers()  # managers remain readers without a grant
    version = sealed_for(deployed, customer_id, removing=None if stays else member.address)
    deployed.registry.revoke_access(customer_id, member.address, version, revoker)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every event and state table, without surrogate ids, in a stable order."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in (*db.EVENT_TABLES, *db.STATE_TABLES):
            columns = [column for column in table.columns if column.name != "id" or table in db.STATE_TABLES]
            rows = conn.execute(select(*columns)).all()
            tables[table.name] = sorted(tuple(row) for row in rows)
    return tables


def sqlite_engine(path: Path) -> Engine:
    return open_database(path)


# ------------------------------------------------------------------ fault injection in the transport


class RefusingProvider(HTTPProvider):
    """A node that refuses eth_getLogs over more than `max_span` blocks, the way hosted nodes do,
    or times out on them (`timeout=True`)."""

    def __init__(self, url: str, max_span: int, *, timeout: bool = False) -> None:
        super().__init__(url, exception_retry_configuration=None)
        self.max_span = max_span
        self.timeout = timeout
        self.spans: list[int] = []

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_getLogs":
            span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
            self.spans.append(span)
            if span > self.max_span:
                if self.timeout:
                    raise requests.ReadTimeout("read timed out")
                return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "query exceeds block range"}}
        return super().make_request(method, params)


def chain_over(provider: HTTPProvider) -> Chain:
    return chain_for(Web3(provider))


# ------------------------------------------------------------------ crafted logs


def craft_log(
    event: str,
    address: str,
    *,
    block_number: int = 16,
    block_hash: str = "0x" + "11" * 32,
    timestamp: int = 1_700_000_000,
    log_index: int = 0,
    tx_hash: str = "0x" + "22" * 32,
    **args: Any,
) -> dict[str, Any]:
    """A raw `eth_getLogs` entry for `event` (found in the CRM's ABIs) emitted by `address`, with
    `args` by name: what a node answers, whatever the contracts would accept today."""
    (abi,) = [
        item
        for name in CONTRACT_NAMES
        for item in load_artifact(name).abi
        if item.get("type") == "event" and item["name"] == event
    ]
    indexed = [arg for arg in abi["inputs"] if arg["indexed"]]
    data = [arg for arg in abi["inputs"] if not arg["indexed"]]
    topics = ["0x" + bytes(event_abi_to_log_topic(abi)).hex()]  # type: ignore[arg-type]
    topics += ["0x" + encode([arg["type"]], [args[arg["name"]]]).hex() for arg in indexed]
    return {
        "address": address.lower(),
        "topics": topics,
        "data": "0x" + encode([arg["type"] for arg in data], [args[arg["name"]] for arg in data]).hex(),
        "blockNumber": hex(block_number),
        "blockHash": block_hash,
        "blockTimestamp": hex(timestamp),
        "transactionHash": tx_hash,
        "transactionIndex": "0x0",
        "logIndex": hex(log_index),
        "removed": False,
    }


def at_block(w3: Web3, number: int) -> dict[str, Any]:
    """`craft_log` options that place a log in an existing block (its hash and time)."""
    block = w3.eth.get_block(number)
    return {"block_number": number, "block_hash": block["hash"].to_0x_hex(), "timestamp": int(block["timestamp"])}


class InjectingProvider(HTTPProvider):
    """A node that answers `eth_getLogs` with the chain's logs plus `extra` (crafted) ones in the
    asked range and with the asked first topic, whatever their address: a node that lies, or a
    chain where codes this version does not know were emitted."""

    def __init__(self, url: str, extra: list[dict[str, Any]]) -> None:
        super().__init__(url, exception_retry_configuration=None)
        self.extra = extra

    def make_request(self, method: Any, params: Any) -> Any:
        response = super().make_request(method, params)
        if method != "eth_getLogs" or "result" not in response:
            return response
        query = params[0]
        first = int(query.get("fromBlock", "0x0"), 16)
        last = int(query["toBlock"], 16) if query.get("toBlock", "latest") != "latest" else 2**63
        wanted = (query.get("topics") or [None])[0]
        wanted_topics = {wanted} if isinstance(wanted, str) else set(wanted or ())
        added = [
            log
            for log in self.extra
            if first <= int(log["blockNumber"], 16) <= last and (not wanted_topics or log["topics"][0] in wanted_topics)
        ]
        logs = sorted(
            [*response["result"], *added], key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16))
        )
        return {**response, "result": logs}


# ------------------------------------------------------------------ reorgs, on a chain of their own


@contextmanager
def crm_on_own_anvil(folder: Path, staff: Staff) -> Iterator[Crm]:  # noqa: F811
    """A fresh deployment on an Anvil of its own (a reorg rewrites history), logging to `folder`,
    with agent, agent2 and the manager in their roles; the node stops on the way out."""
    node, process = start_anvil(AnvilOptions(port=free_port(), log_file=folder / "anvil.log"))
    try:
        chain = connect(node.url)
        crm = Crm.attach(chain, deploy(chain, staff.admin, treasury=staff.treasury.address))
        for agent in (staff.agent, staff.agent2):
            crm.registry.grant_role(Role.AGENT, agent.address, staff.admin)
        crm.registry.grant_role(Role.MANAGER, staff.manager.address, staff.admin)
        yield crm
    finally:
        stop_process(process.pid)


def reorg(chain: Chain, depth: int, raw_transactions: list[bytes]) -> None:  # noqa: F811
    """Replace the last `depth` blocks; the given transactions go into the first new block."""
    params = [depth, [["0x" + raw.hex(), 0] for raw in raw_transactions]]
    response = chain.w3.provider.make_request("anvil_reorg", params)  # type: ignore[arg-type]
    assert "error" not in response, response
    chain.nonces.reset_all()


def signed_interaction(deployed: Crm, staff: Staff, customer_id: int) -> bytes:  # noqa: F811
    """agent2's signed, unsent logInteraction for the customer: what a reorg puts in its new block."""
    e = entry(customer_id)
    fn = deployed.registry.contract.functions.logInteraction(e.customer_id, int(e.kind), int(e.outcome), e.content_hash)
    tx = deployed.chain.build(fn, staff.agent2)
    return bytes(staff.agent2.sign_transaction(tx).raw_transaction)  # type: ignore[arg-type]
