"""`chaincrm interaction log --batched`, `chaincrm batch status|flush` and `chaincrm verify interaction
--record|--root|--leaf|--proof-file`, run as a user runs them against a real stack."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from chaincrm.batches import LeafValue, MerkleTree
from chaincrm.contracts.client import Crm
from chaincrm.storage import KuboStore, cid_to_digest
from tests.batches.batch_documents import document
from tests.cli.conftest import Accounts, Cli, Run

pytestmark = pytest.mark.usefixtures("snapshot")
NOTE = "Asked for the renewal quote by Friday."


def log_batched(cli: Cli, accounts: Accounts, customer: int, *extra: object, **options: Any) -> Run:
    return cli(
        "interaction", "log", customer, "--kind", "call", "--note", NOTE, "--keystore", accounts.agent.address,
        *extra, **options,
    )  # fmt: skip


def flush(cli: Cli, accounts: Accounts) -> list[dict[str, Any]]:
    return cli("batch", "flush", "--keystore", accounts.agent.address, "--json").json()  # type: ignore[no-any-return]


def test_a_batched_interaction_is_queued_not_sent(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    before = crm.chain.block_number()

    queued = log_batched(cli, accounts, customer_id, "--batched", "--json").json()

    assert queued["mode"] == "batched" and len(bytes.fromhex(queued["record_id"][2:])) == 32
    assert queued["content_hash"] == "0x" + cid_to_digest(queued["cid"]).hex()
    assert NOTE.encode() not in store.get(queued["cid"])
    assert crm.chain.block_number() == before  # nothing sent
    status = cli("batch", "status", "--keystore", accounts.agent.address, "--json").json()
    assert (status["pending"], status["anchored"]) == (1, 0)


def test_the_mode_setting_batches_and_single_forces_a_transaction(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    batched = log_batched(cli, accounts, customer_id, "--json", env={"CHAINCRM_INTERACTION_MODE": "batched"}).json()
    single = log_batched(
        cli, accounts, customer_id, "--single", "--json", env={"CHAINCRM_INTERACTION_MODE": "batched"}
    ).json()

    assert batched["mode"] == "batched" and "tx_hash" not in batched
    assert "tx_hash" in single and len(crm.registry.interactions(customer_id)) == 1


def test_a_mode_setting_that_is_not_a_mode_is_one_line(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    refused = log_batched(cli, accounts, customer_id, env={"CHAINCRM_INTERACTION_MODE": "later"})

    assert refused.error == "error: CHAINCRM_INTERACTION_MODE is 'later': expected single or batched"


def test_flush_anchors_the_queue_and_verify_says_yes_with_block_and_tx(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    ids = [log_batched(cli, accounts, customer_id, "--batched", "--json").json()["record_id"] for _ in range(3)]

    (landed,) = flush(cli, accounts)
    proven = cli("verify", "interaction", "--record", ids[1])
    as_json = cli("verify", "interaction", "--record", ids[1], "--json").json()

    assert landed["count"] == 3
    assert proven.exit_code == 0 and proven.stdout.startswith("yes: ")
    assert f"block {landed['block_number']}" in proven.stdout and landed["tx_hash"] in proven.stdout
    assert as_json["verified"] and as_json["contract_agrees"] and as_json["record"]["record_id"] == ids[1]
    assert as_json["root"] == landed["root"] and as_json["tx_hash"] == landed["tx_hash"]
    status = cli("batch", "status", "--keystore", accounts.agent.address, "--json").json()
    assert (status["pending"], status["anchored"], status["anchored_batches"]) == (0, 3, 1)


def test_a_proof_file_for_the_anchored_root_says_yes(
    cli: Cli, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    record_id = log_batched(cli, accounts, customer_id, "--batched", "--json").json()["record_id"]
    flush(cli, accounts)
    proven = cli("verify", "interaction", "--record", record_id, "--json").json()
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps(proven["proof"]))

    again = cli("verify", "interaction", "--root", proven["root"], "--leaf", proven["leaf"], "--proof-file", proof_file)

    assert again.exit_code == 0 and again.stdout.startswith("yes: ")


def test_a_proof_for_another_root_is_one_line_and_exit_1(
    cli: Cli, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    log_batched(cli, accounts, customer_id, "--batched")
    (landed,) = flush(cli, accounts)
    other = MerkleTree.of([LeafValue(os.urandom(32), 1, 1, 0, os.urandom(32)) for _ in range(4)])
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(
        json.dumps({"leaf": "0x" + other.leaf(0).hex(), "proof": ["0x" + n.hex() for n in other.proof(0)]})
    )

    refused = cli("verify", "interaction", "--root", landed["root"], "--proof-file", proof_file)

    assert refused.exit_code == 1
    assert refused.stdout.strip() == f"no: the proof leads to root 0x{other.root.hex()}, not {landed['root']}"


def test_a_batch_on_ipfs_that_does_not_match_its_root_is_one_line_and_exit_1(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts
) -> None:
    values = [LeafValue(os.urandom(32), 1, 1, 0, os.urandom(32)) for _ in range(2)]
    cid = store.put(document(crm, accounts.agent, values, seconds_apart=0).to_bytes())
    claimed = os.urandom(32)
    crm.registry.anchor_interactions(claimed, cid_to_digest(cid), 2, accounts.agent)

    refused = cli("verify", "interaction", "--root", "0x" + claimed.hex(), "--record", "0x" + values[0].record_id.hex())

    assert refused.exit_code == 1
    (line,) = refused.stdout.strip().splitlines()
    assert (
        line.startswith(f"no: batch document {cid}: the batch document's root") and "is not the anchored root" in line
    )


def test_an_unknown_record_id_is_one_line_and_exit_1(cli: Cli, crm: Crm) -> None:
    unknown = "0x" + os.urandom(32).hex()

    refused = cli("verify", "interaction", "--record", unknown)

    assert refused.exit_code == 1
    assert refused.stdout.startswith(f"no: record {unknown} is not in this home's queue")


def test_a_pending_record_is_not_anchored_yet(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    record_id = log_batched(cli, accounts, customer_id, "--batched", "--json").json()["record_id"]

    refused = cli("verify", "interaction", "--record", record_id)

    assert refused.exit_code == 1 and refused.stdout.strip() == (
        f"no: record {record_id} is pending, not anchored yet (`chaincrm batch flush`)"
    )


def test_a_proof_file_that_is_not_a_proof_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps({"proof": ["0x1234"]}))

    refused = cli(
        "verify", "interaction", "--root", "0x" + "11" * 32, "--leaf", "0x" + "22" * 32, "--proof-file", proof_file
    )

    assert "proof[0] is not a 32-byte hex value" in refused.usage_error


def test_flush_by_a_non_agent_is_refused_by_name_and_keeps_the_records(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    from chaincrm.batches import InteractionQueue, QueueScope, queue_path

    home = Path(cli("batch", "status", "--keystore", accounts.stranger.address, "--json").json()["queue"]).parent
    scope = QueueScope(crm.chain.chain_id, crm.registry.address, accounts.stranger.address)
    with InteractionQueue(queue_path(home), scope) as queue:
        queue.enqueue(customer_id, 1, 0, os.urandom(32))

    refused = cli("batch", "flush", "--keystore", accounts.stranger.address)

    assert refused.error.startswith("error: AccessControlUnauthorizedAccount(")
    status = cli("batch", "status", "--keystore", accounts.stranger.address, "--json").json()
    assert (status["pending"], status["batched"], status["anchored"]) == (0, 1, 0)


def test_flush_with_nothing_pending_says_so(cli: Cli, accounts: Accounts) -> None:
    flushed = cli("batch", "flush", "--keystore", accounts.agent.address)

    assert flushed.exit_code == 0 and flushed.stdout.strip() == "nothing pending: no batch anchored"


def test_a_batched_interaction_the_contract_would_refuse_is_refused_now_and_queues_nothing(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    refused = cli(
        "interaction", "log", customer_id, "--kind", "call", "--note", NOTE, "--batched",
        "--keystore", accounts.stranger.address,
    )  # fmt: skip

    assert refused.error.startswith("error: AccessControlUnauthorizedAccount(")
    status = cli("batch", "status", "--keystore", accounts.stranger.address, "--json").json()
    assert (status["pending"], status["batched"], status["anchored"]) == (0, 0, 0)
