"""`chaincrm interaction log|list`: only a hash goes on-chain; attachments go to IPFS."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import keccak

from chaincrm.client import Crm
from chaincrm.customers import CustomerData
from chaincrm.devchain import free_port
from chaincrm.documents import MAX_DOCUMENT_BYTES, KuboStore
from chaincrm.ipfs_node import api_address
from chaincrm.models import InteractionKind, Outcome
from tests.cli.conftest import Accounts, Cli, Run

pytestmark = pytest.mark.usefixtures("snapshot")

LOG_KEYS = {"customer_id", "kind", "outcome", "content_hash", "cid", "tx_hash", "block_number", "gas_used"}
NOTE = "Called about the renewal; wants a quote by Friday."


def _log(cli: Cli, accounts: Accounts, customer: int, *extra: object, **options: object) -> Run:
    return cli(
        "interaction", "log", customer, "--kind", "call", "--keystore", accounts.agent.address, *extra, **options
    )


@pytest.fixture
def attachment(tmp_path: Path) -> Path:
    path = tmp_path / "minutes.txt"
    path.write_bytes(b"Minutes of the call: " + tmp_path.name.encode())  # unique per test
    return path


def test_interaction_log_with_an_attachment_stores_it_encrypted_and_records_its_keccak256(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int, attachment: Path
) -> None:
    logged = _log(cli, accounts, customer_id, "--outcome", "positive", "--attach", attachment, "--json").json()

    assert set(logged) == LOG_KEYS
    stored = store.get(logged["cid"])
    assert attachment.read_bytes() not in stored
    opened = CustomerData(crm, store).open_attachment(customer_id, logged["cid"], keccak(stored), accounts.agent)
    assert opened == attachment.read_bytes()
    (recorded,) = crm.registry.interactions(customer_id)
    assert recorded.content_hash == keccak(stored)
    assert (recorded.kind, recorded.outcome, recorded.author) == (
        InteractionKind.CALL,
        Outcome.POSITIVE,
        accounts.agent.address,
    )
    assert logged["content_hash"] == "0x" + recorded.content_hash.hex()


def test_interaction_log_with_a_note_hashes_it_locally_and_stores_nothing(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    pins = store.pins()

    logged = _log(cli, accounts, customer_id, "--note", NOTE, "--json").json()

    assert logged["cid"] is None and logged["outcome"] == "none"
    assert crm.registry.interactions(customer_id)[0].content_hash == keccak(text=NOTE)
    assert store.pins() == pins


def test_interaction_log_with_a_note_file_hashes_the_file_locally(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int, attachment: Path
) -> None:
    pins = store.pins()

    logged = _log(cli, accounts, customer_id, "--note-file", attachment, "--json").json()

    assert logged["cid"] is None
    assert crm.registry.interactions(customer_id)[0].content_hash == keccak(attachment.read_bytes())
    assert store.pins() == pins


def test_interaction_log_without_content_asks_for_a_note(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    _log(cli, accounts, customer_id, input=NOTE + "\n")

    assert crm.registry.interactions(customer_id)[0].content_hash == keccak(text=NOTE)


def test_interaction_log_never_puts_the_content_on_chain(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    logged = _log(cli, accounts, customer_id, "--note", NOTE, "--json").json()

    transaction = crm.chain.w3.eth.get_transaction(logged["tx_hash"])
    assert NOTE.encode() not in bytes(transaction["input"])


def test_interaction_log_prints_one_line_for_people(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    logged = _log(cli, accounts, customer_id, "--note", NOTE)

    assert logged.stdout.startswith(f"Logged a call with customer {customer_id} (none) in block")


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


def test_interaction_log_with_two_contents_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, attachment: Path
) -> None:
    refused = _log(cli, accounts, customer_id, "--note", NOTE, "--attach", attachment)

    assert "only one of --note, --note-file and --attach" in refused.error
    assert crm.registry.interactions(customer_id) == []


def test_interaction_log_with_an_empty_note_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = _log(cli, accounts, customer_id, "--note", "   ")

    assert "the note is empty" in refused.error
    assert crm.registry.interactions(customer_id) == []


def test_interaction_log_with_an_unknown_kind_is_a_usage_error(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    refused = cli(
        "interaction", "log", customer_id, "--kind", "fax", "--note", NOTE, "--keystore", accounts.agent.address
    )

    assert "Invalid value for '--kind'" in refused.usage_error


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


def test_interaction_list_gives_each_interaction_of_a_customer(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    _log(cli, accounts, customer_id, "--outcome", "follow-up", "--note", NOTE)

    listed = cli("interaction", "list", customer_id, "--json").json()

    (only,) = listed
    assert set(only) == {"customer_id", "author", "kind", "outcome", "content_hash", "at", "block_number", "tx_hash"}
    assert (only["kind"], only["outcome"], only["author"]) == ("call", "follow-up", accounts.agent.address)


def test_interaction_list_prints_a_table(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    _log(cli, accounts, customer_id, "--note", NOTE)

    listed = cli("interaction", "list")

    assert "Interactions" in listed.stdout and accounts.agent.address in listed.stdout


def test_interaction_list_of_an_unknown_customer_is_one_line(cli: Cli) -> None:
    refused = cli("interaction", "list", 999)

    assert "CustomerUnknown(customerId=999)" in refused.error
