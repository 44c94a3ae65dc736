"""`chaincrm interaction log|list|show`: notes and attachments are encrypted content; the chain gets
only the CID digest of the ciphertext, and readers read them back."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak
from hexbytes import HexBytes

from chaincrm.chain import event_topic
from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import Registry, interactions_of_log
from chaincrm.models import Interaction, InteractionKind, Outcome
from chaincrm.services.anvil import free_port
from chaincrm.storage import MAX_DOCUMENT_BYTES, KuboStore, cid_to_digest
from chaincrm.storage.node import api_address
from tests.cli.conftest import Accounts, Cli, Run

pytestmark = pytest.mark.usefixtures("snapshot")

LOG_KEYS = {
    "customer_id",
    "kind",
    "outcome",
    "content_hash",
    "cid",
    "attachments",
    "tx_hash",
    "block_number",
    "gas_used",
}
LIST_KEYS = {
    "index", "customer_id", "author", "kind", "outcome", "content_hash", "at", "block_number", "tx_hash",
    "source", "as_of_block",
}  # fmt: skip
NOTE = "Called about the renewal; wants a quote by Friday."


def _log(cli: Cli, accounts: Accounts, customer: int, *extra: object, **options: Any) -> Run:
    return cli(
        "interaction", "log", customer, "--kind", "call", "--keystore", accounts.agent.address, *extra, **options
    )


def _show(cli: Cli, customer: int, reader: str, *extra: object) -> Run:
    return cli("interaction", "show", customer, "--keystore", reader, *extra)


@pytest.fixture
def attachment(tmp_path: Path) -> Path:
    path = tmp_path / "minutes.txt"
    path.write_bytes(b"Minutes of the call: " + tmp_path.name.encode())  # unique per test
    return path


# ------------------------------------------------------------------ log: what reaches the chain


def test_interaction_log_records_the_cid_digest_of_the_encrypted_document(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    logged = _log(cli, accounts, customer_id, "--outcome", "positive", "--note", NOTE, "--json").json()

    assert set(logged) == LOG_KEYS
    (recorded,) = crm.registry.interactions(customer_id)
    assert recorded.content_hash == cid_to_digest(logged["cid"])
    assert logged["content_hash"] == "0x" + recorded.content_hash.hex()
    assert NOTE.encode() not in store.get(logged["cid"])
    assert (recorded.kind, recorded.outcome, recorded.author) == (
        InteractionKind.CALL,
        Outcome.POSITIVE,
        accounts.agent.address,
    )


def test_interaction_log_hash_is_no_hash_of_the_note(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int) -> None:
    _log(cli, accounts, customer_id, "--note", NOTE)

    (recorded,) = crm.registry.interactions(customer_id)
    assert recorded.content_hash not in (keccak(text=NOTE), hashlib.sha256(NOTE.encode()).digest())


def test_interaction_log_of_the_same_note_twice_records_two_different_hashes(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    _log(cli, accounts, customer_id, "--note", NOTE)
    _log(cli, accounts, customer_id, "--note", NOTE)

    first, second = crm.registry.interactions(customer_id)
    assert first.content_hash != second.content_hash


def test_interaction_log_never_puts_the_content_in_the_transaction(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    logged = _log(cli, accounts, customer_id, "--note", NOTE, "--json").json()

    transaction = crm.chain.w3.eth.get_transaction(logged["tx_hash"])
    assert NOTE.encode() not in bytes(transaction["input"])


def test_interaction_log_encrypts_the_note_and_attachments_in_one_document(
    cli: Cli, store: KuboStore, accounts: Accounts, customer_id: int, attachment: Path
) -> None:
    logged = _log(cli, accounts, customer_id, "--note", NOTE, "--attach", attachment, "--json").json()

    stored = store.get(logged["cid"])
    assert attachment.read_bytes() not in stored and NOTE.encode() not in stored
    assert logged["attachments"] == [attachment.name]


def test_interaction_log_takes_several_attachments(
    cli: Cli, accounts: Accounts, customer_id: int, attachment: Path, tmp_path: Path
) -> None:
    second = tmp_path / "quote.csv"
    second.write_text("item,price\nsupport,1.5\n")

    logged = _log(cli, accounts, customer_id, "--attach", attachment, "--attach", second, "--json").json()

    assert logged["attachments"] == ["minutes.txt", "quote.csv"]


def test_interaction_log_prints_one_line_for_people(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    logged = _log(cli, accounts, customer_id, "--note", NOTE)

    assert logged.stdout.startswith(f"Logged a call with customer {customer_id} (none) in block")
    assert len(logged.stdout.strip().splitlines()) == 1


# ------------------------------------------------------------------ log: where the note comes from


def test_interaction_log_with_a_note_file_logs_its_text_as_the_note(
    cli: Cli, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    note_file = tmp_path / "note.txt"
    note_file.write_text(NOTE)
    _log(cli, accounts, customer_id, "--note-file", note_file)

    (read,) = _show(cli, customer_id, accounts.agent.address, "--json").json()

    assert read["note"] == NOTE and read["attachments"] == []


def test_interaction_log_without_content_asks_for_a_note(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    _log(cli, accounts, customer_id, input=NOTE + "\n")

    (read,) = _show(cli, customer_id, accounts.agent.address, "--json").json()

    assert read["note"] == NOTE


def test_interaction_log_with_a_note_file_that_is_not_text_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    binary = tmp_path / "scan.bin"
    binary.write_bytes(b"\xff\xfe\x00binary")

    refused = _log(cli, accounts, customer_id, "--note-file", binary)

    assert "is not UTF-8 text: attach it with --attach instead" in refused.error
    assert crm.registry.interactions(customer_id) == []


def test_interaction_log_with_a_note_and_a_note_file_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, attachment: Path
) -> None:
    refused = _log(cli, accounts, customer_id, "--note", NOTE, "--note-file", attachment)

    assert "give only one of --note and --note-file" in refused.error
    assert crm.registry.interactions(customer_id) == []


def test_interaction_log_with_an_empty_note_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = _log(cli, accounts, customer_id, "--note", "   ")

    assert "the note is empty" in refused.error
    assert crm.registry.interactions(customer_id) == []


# ------------------------------------------------------------------ log: refusals change nothing


def test_interaction_log_with_a_missing_file_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    refused = _log(cli, accounts, customer_id, "--attach", tmp_path / "missing.pdf")

    assert "attachment" in refused.error and "missing.pdf does not exist" in refused.error
    assert crm.registry.interactions(customer_id) == []


def test_interaction_log_with_an_oversized_file_changes_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as handle:
        handle.truncate(MAX_DOCUMENT_BYTES + 1)  # sparse: nothing is written
    pins = store.pins()

    refused = _log(cli, accounts, customer_id, "--attach", huge)

    assert f"the limit is {MAX_DOCUMENT_BYTES:,}" in refused.error
    assert crm.registry.interactions(customer_id) == []
    assert store.pins() == pins


def test_interaction_log_for_an_unknown_customer_stores_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int, attachment: Path
) -> None:
    pins = store.pins()

    refused = _log(cli, accounts, 999, "--attach", attachment)

    assert "CustomerUnknown(customerId=999)" in refused.error
    assert crm.registry.interactions() == []
    assert store.pins() == pins


def test_interaction_log_by_someone_who_is_not_an_agent_stores_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int, attachment: Path
) -> None:
    pins = store.pins()

    refused = cli(
        "interaction",
        "log",
        customer_id,
        "--kind",
        "call",
        "--attach",
        attachment,
        "--keystore",
        accounts.customer.address,
    )

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert crm.registry.interactions(customer_id) == []
    assert store.pins() == pins


def test_interaction_log_by_an_agent_without_a_grant_stores_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    pins = store.pins()

    refused = cli(
        "interaction", "log", customer_id, "--kind", "call", "--note", NOTE, "--keystore", accounts.marketer.address
    )

    assert refused.error == f"error: CallerWithoutAccess(customerId={customer_id}, caller={accounts.marketer.address})"
    assert crm.registry.interactions(customer_id) == []
    assert store.pins() == pins


def test_interaction_log_with_an_unknown_kind_is_a_usage_error(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    refused = cli(
        "interaction", "log", customer_id, "--kind", "fax", "--note", NOTE, "--keystore", accounts.agent.address
    )

    assert "Invalid value for '--kind'" in refused.usage_error


def test_interaction_log_with_an_outcome_code_is_a_usage_error(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    refused = _log(cli, accounts, customer_id, "--outcome", "6", "--note", NOTE)

    assert "Invalid value for '--outcome'" in refused.usage_error


def test_interaction_log_when_the_ipfs_service_is_down_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, attachment: Path
) -> None:
    refused = cli(
        "--ipfs-api",
        api_address(free_port()),
        "interaction",
        "log",
        customer_id,
        "--kind",
        "call",
        "--attach",
        attachment,
        "--keystore",
        accounts.agent.address,
    )

    assert "is not reachable" in refused.error
    assert crm.registry.interactions(customer_id) == []


@pytest.mark.parametrize(
    "kind, outcome, error, args",
    [(1, 6, "InteractionOutcomeInvalid", {"outcome": 6}), (8, 0, "InteractionKindInvalid", {"kind": 8})],
)
def test_out_of_range_codes_sent_straight_to_the_contract_revert_by_name(
    crm: Crm, accounts: Accounts, customer_id: int, kind: int, outcome: int, error: str, args: dict[str, int]
) -> None:
    call = crm.registry.contract.functions.logInteraction(customer_id, kind, outcome, b"\x01" * 32)

    with pytest.raises(revert_type(error)) as refused:
        crm.chain.transact(call, accounts.agent)

    assert refused.value.args_by_name == args
    assert crm.registry.interactions(customer_id) == []


# ------------------------------------------------------------------ show: reading back


def test_interaction_show_lets_the_customer_read_the_note_back(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    _log(cli, accounts, customer_id, "--outcome", "follow-up", "--note", NOTE)

    (read,) = _show(cli, customer_id, accounts.customer.address, "--json").json()

    assert (read["index"], read["kind"], read["outcome"], read["note"]) == (1, "call", "follow-up", NOTE)
    assert read["problem"] is None


def test_interaction_show_prints_the_note_for_people(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    _log(cli, accounts, customer_id, "--note", NOTE)

    shown = _show(cli, customer_id, accounts.manager.address)

    assert shown.stdout.startswith("#1 ") and NOTE in shown.stdout


def test_interaction_show_index_gives_only_that_interaction(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    _log(cli, accounts, customer_id, "--note", "first")
    _log(cli, accounts, customer_id, "--note", "second")

    (read,) = _show(cli, customer_id, accounts.agent.address, "--index", 2, "--json").json()

    assert (read["index"], read["note"]) == (2, "second")


def test_interaction_show_tx_gives_the_interaction_that_transaction_logged(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    _log(cli, accounts, customer_id, "--note", "first")
    logged = _log(cli, accounts, customer_id, "--note", "second", "--json").json()

    (read,) = _show(cli, customer_id, accounts.agent.address, "--tx", logged["tx_hash"], "--json").json()

    assert (read["index"], read["note"], read["tx_hash"]) == (2, "second", logged["tx_hash"])


def test_interaction_show_saves_the_attachments(
    cli: Cli, accounts: Accounts, customer_id: int, attachment: Path, tmp_path: Path
) -> None:
    _log(cli, accounts, customer_id, "--note", NOTE, "--attach", attachment)
    folder = tmp_path / "saved"

    (read,) = _show(cli, customer_id, accounts.customer.address, "--save-attachments", folder, "--json").json()

    saved = folder / f"1-{attachment.name}"
    assert saved.read_bytes() == attachment.read_bytes()
    assert read["attachments"] == [
        {"name": attachment.name, "size": len(attachment.read_bytes()), "saved_to": str(saved)}
    ]


def test_interaction_show_never_replaces_a_file_when_saving(
    cli: Cli, accounts: Accounts, customer_id: int, attachment: Path, tmp_path: Path
) -> None:
    _log(cli, accounts, customer_id, "--attach", attachment)
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / f"1-{attachment.name}").write_text("mine")

    refused = _show(cli, customer_id, accounts.customer.address, "--save-attachments", folder)

    assert "already exists" in refused.error
    assert (folder / f"1-{attachment.name}").read_text() == "mine"


def test_interaction_show_by_someone_who_cannot_read_the_customer_is_one_line(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    _log(cli, accounts, customer_id, "--note", NOTE)

    refused = _show(cli, customer_id, accounts.marketer.address)

    assert f"{accounts.marketer.address} cannot read customer {customer_id}'s content" in refused.error
    assert NOTE not in refused.stdout + refused.stderr


def test_interaction_show_of_an_index_beyond_the_list_is_one_line(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    _log(cli, accounts, customer_id, "--note", NOTE)

    refused = _show(cli, customer_id, accounts.agent.address, "--index", 2)

    assert f"customer {customer_id} has 1 interaction(s); there is no index 2" in refused.error


def test_interaction_show_with_a_malformed_tx_hash_is_a_usage_error(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    refused = _show(cli, customer_id, accounts.agent.address, "--tx", "0x1234")

    assert "is not a transaction hash" in refused.usage_error


def test_interaction_show_marks_a_record_whose_document_is_missing_and_reads_the_rest(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    call = crm.registry.contract.functions.logInteraction(customer_id, 1, 0, b"\x07" * 32)
    crm.chain.transact(call, accounts.agent)  # a digest of nothing this node holds
    crm.chain.nonces.reset(accounts.agent.address)
    _log(cli, accounts, customer_id, "--note", NOTE)

    missing, readable = _show(cli, customer_id, accounts.agent.address, "--json").json()

    assert missing["note"] is None and "is not stored" in missing["problem"]
    assert readable["note"] == NOTE


# ------------------------------------------------------------------ list


def test_interaction_list_gives_each_interaction_of_a_customer_with_its_index(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    _log(cli, accounts, customer_id, "--outcome", "follow-up", "--note", NOTE)

    listed = cli("interaction", "list", customer_id, "--json").json()

    (only,) = listed
    assert set(only) == LIST_KEYS
    assert (only["index"], only["kind"], only["outcome"], only["author"]) == (
        1,
        "call",
        "follow-up",
        accounts.agent.address,
    )


def test_interaction_list_of_everyone_numbers_each_customers_interactions_apart(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    other = cli("customer", "add", "--name", "Noor", "--keystore", accounts.agent.address, "--json").json()
    _log(cli, accounts, customer_id, "--note", "a")
    _log(cli, accounts, other["customer_id"], "--note", "b")
    _log(cli, accounts, customer_id, "--note", "c")

    listed = cli("interaction", "list", "--json").json()

    assert [(i["customer_id"], i["index"]) for i in listed] == [
        (customer_id, 1),
        (other["customer_id"], 1),
        (customer_id, 2),
    ]


def test_interaction_list_prints_a_table(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    _log(cli, accounts, customer_id, "--note", NOTE)

    listed = cli("interaction", "list")

    assert "Interactions" in listed.stdout and accounts.agent.address in listed.stdout


def test_interaction_list_of_an_unknown_customer_is_one_line(cli: Cli) -> None:
    refused = cli("interaction", "list", 999)

    assert "CustomerUnknown(customerId=999)" in refused.error


def _crafted_logs(crm: Crm, author: str) -> list[Interaction]:
    """Interactions decoded from raw logs carrying codes no contract of this version emits: a single
    record with kind 9 and outcome 6, and a batch record with kind 0 and outcome 200."""
    contract = crm.registry.contract
    author_topic = HexBytes(bytes(12) + bytes.fromhex(author[2:]))
    single: dict[str, Any] = {
        "address": crm.registry.address,
        "topics": [
            HexBytes(event_topic(contract, "InteractionLogged")),
            HexBytes((1).to_bytes(32, "big")),
            author_topic,
        ],
        "data": HexBytes(encode(["bytes32", "uint8", "uint8", "uint64"], [b"\x01" * 32, 9, 6, 1_700_000_000])),
        "blockNumber": 10,
        "transactionHash": HexBytes(b"\x0a" * 32),
        "transactionIndex": 0,
        "blockHash": HexBytes(b"\x0b" * 32),
        "logIndex": 0,
        "removed": False,
    }
    record = (1).to_bytes(8, "big") + bytes([0, 200]) + b"\x02" * 32
    batch = single | {
        "topics": [HexBytes(event_topic(contract, "InteractionsLogged")), author_topic],
        "data": HexBytes(encode(["uint64", "bytes"], [1_700_000_001, record])),
        "blockNumber": 11,
        "transactionHash": HexBytes(b"\x0c" * 32),
    }
    decoded = [
        contract.events.InteractionLogged().process_log(single),
        contract.events.InteractionsLogged().process_log(batch),
    ]
    return [item for log in decoded for item in interactions_of_log(log["event"], log["args"], log)]


def test_interaction_list_shows_codes_it_does_not_know_as_unknown(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    crafted = _crafted_logs(crm, accounts.agent.address)
    monkeypatch.setattr(Registry, "interactions", lambda self, *args, **kwargs: crafted)

    listed = cli("interaction", "list", customer_id, "--json").json()

    assert [(i["kind"], i["outcome"]) for i in listed] == [("unknown(9)", "unknown(6)"), ("unknown(0)", "unknown(200)")]
    assert "unknown(200)" in cli("interaction", "list").stdout
