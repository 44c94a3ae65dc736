"""CrmRegistry as an interaction log: single interactions and packed batches."""

from __future__ import annotations

import pytest
from brownie import chain, web3

from tests.contracts.helpers import (
    KIND_CALL,
    OUTCOME_POSITIVE,
    PURPOSE_SALES,
    ZERO_ADDRESS,
    ZERO_HASH,
    random_hash,
    reverts_with,
)

RECORD_BYTES = 42
MAX_BATCH_RECORDS = 1000
KIND_EMAIL = 2
OUTCOME_NONE = 0
MAX_OUTCOME = 255
MAX_CUSTOMER_ID = 2**64 - 1
# The erased bitmap packs 256 customers per word: 255 is the last id of word 0, 256 the first of
# word 1. The crowd fixture registers every id up to CROWD_SIZE.
LAST_OF_FIRST_WORD = 255
FIRST_OF_SECOND_WORD = 256
CROWD_SIZE = 260
# Enough for registerCustomer; Anvil here runs with a zero base fee.
GAS_PER_REGISTRATION = 300_000
# Anvil mines on arrival but may answer eth_sendTransaction a moment before the receipt exists.
RECEIPT_POLL_SECONDS = 0.005
ROLE_OUTSIDERS = ["admin", "manager", "auditor", "customer", "stranger"]


def record(
    customer_id: int,
    kind: int = KIND_CALL,
    outcome: int = OUTCOME_POSITIVE,
    content_hash: bytes | None = None,
) -> bytes:
    """One packed record: uint64 customerId (big-endian) | uint8 kind | uint8 outcome | bytes32 hash."""
    content_hash = random_hash() if content_hash is None else content_hash
    return customer_id.to_bytes(8, "big") + bytes([kind, outcome]) + content_hash


def batch(*customer_ids: int) -> bytes:
    return b"".join(record(customer_id) for customer_id in customer_ids)


@pytest.fixture(scope="module", autouse=True)
def crowd(registry, agent) -> None:
    """Every id from 1 to CROWD_SIZE is an active customer: batches may cross a bitmap word.

    Sent straight through web3 with a fixed gas limit: Brownie's transaction handling (receipt
    decoding, an undo snapshot per transaction) would add about 30 ms to each of 130 writes.
    """
    raw_registry = web3.eth.contract(address=registry.address, abi=registry.abi)
    sent = [
        raw_registry.functions.registerCustomer(random_hash(), random_hash(), ZERO_ADDRESS, PURPOSE_SALES).transact(
            {"from": agent.address, "gas": GAS_PER_REGISTRATION, "gasPrice": 0}
        )
        for _ in range(CROWD_SIZE - registry.customerCount())
    ]
    for tx_hash in sent:
        receipt = web3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=RECEIPT_POLL_SECONDS)
        assert receipt["status"] == 1
    assert registry.customerCount() == CROWD_SIZE


def erase(registry, manager, customer_id: int) -> None:
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})


# ---------------------------------------------------------------- logInteraction


def test_an_agent_logs_an_interaction(registry, agent, customer_id):
    content_hash = random_hash()

    tx = registry.logInteraction(customer_id, KIND_EMAIL, OUTCOME_POSITIVE, content_hash, {"from": agent})

    event = tx.events["InteractionLogged"]
    assert event["customerId"] == customer_id
    assert event["author"] == agent
    assert bytes(event["contentHash"]) == content_hash
    assert event["kind"] == KIND_EMAIL
    assert event["outcome"] == OUTCOME_POSITIVE
    assert event["at"] == tx.timestamp == chain[tx.block_number].timestamp


def test_an_agent_without_access_to_the_customer_still_logs_an_interaction(registry, agent2, customer_id):
    tx = registry.logInteraction(customer_id, KIND_CALL, OUTCOME_NONE, random_hash(), {"from": agent2})

    assert tx.events["InteractionLogged"]["author"] == agent2


@pytest.mark.parametrize("outcome", [OUTCOME_NONE, MAX_OUTCOME])
def test_any_outcome_code_is_logged_as_given(registry, agent, customer_id, outcome):
    tx = registry.logInteraction(customer_id, KIND_CALL, outcome, random_hash(), {"from": agent})

    assert tx.events["InteractionLogged"]["outcome"] == outcome


@pytest.mark.parametrize("customer", [LAST_OF_FIRST_WORD, FIRST_OF_SECOND_WORD])
def test_an_interaction_is_logged_on_either_side_of_a_bitmap_word_boundary(registry, agent, customer):
    tx = registry.logInteraction(customer, KIND_CALL, OUTCOME_POSITIVE, random_hash(), {"from": agent})

    assert tx.events["InteractionLogged"]["customerId"] == customer


@pytest.mark.parametrize("caller", ROLE_OUTSIDERS)
def test_logging_an_interaction_is_refused_for_anyone_without_the_agent_role(registry, request, caller, customer_id):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
        registry.logInteraction(customer_id, KIND_CALL, OUTCOME_POSITIVE, random_hash(), {"from": account})


@pytest.mark.parametrize("which", ["zero", "next"])
def test_logging_an_interaction_for_an_unknown_customer_reverts(registry, agent, which):
    missing = 0 if which == "zero" else registry.customerCount() + 1

    with reverts_with("CustomerUnknown", missing):
        registry.logInteraction(missing, KIND_CALL, OUTCOME_POSITIVE, random_hash(), {"from": agent})


def test_logging_an_interaction_for_an_erased_customer_reverts(registry, agent, manager, customer_id):
    erase(registry, manager, customer_id)

    with reverts_with("CustomerIsErased", customer_id):
        registry.logInteraction(customer_id, KIND_CALL, OUTCOME_POSITIVE, random_hash(), {"from": agent})


def test_logging_an_interaction_of_kind_zero_reverts(registry, agent, customer_id):
    with reverts_with("InteractionKindInvalid", 0):
        registry.logInteraction(customer_id, 0, OUTCOME_POSITIVE, random_hash(), {"from": agent})


def test_logging_an_interaction_without_a_content_hash_reverts(registry, agent, customer_id):
    with reverts_with("ContentHashMissing"):
        registry.logInteraction(customer_id, KIND_CALL, OUTCOME_POSITIVE, ZERO_HASH, {"from": agent})


# ---------------------------------------------------------------- logInteractions: accepted batches


def test_a_batch_over_several_customers_emits_the_exact_records(registry, agent):
    records = (
        record(1, KIND_CALL, OUTCOME_POSITIVE)
        + record(127, KIND_CALL, OUTCOME_POSITIVE)
        + record(128, KIND_CALL, OUTCOME_POSITIVE)
        + record(LAST_OF_FIRST_WORD, KIND_EMAIL, OUTCOME_NONE)
        + record(FIRST_OF_SECOND_WORD, 3, MAX_OUTCOME)
        + record(CROWD_SIZE, KIND_CALL, OUTCOME_POSITIVE)
        + record(2, KIND_CALL, OUTCOME_POSITIVE)
    )

    tx = registry.logInteractions(records, {"from": agent})

    event = tx.events["InteractionsLogged"]
    assert event["author"] == agent
    assert event["at"] == tx.timestamp == chain[tx.block_number].timestamp
    assert bytes(event["records"]) == records


def test_a_batch_emits_one_event_and_no_per_record_events(registry, agent):
    tx = registry.logInteractions(batch(1, 2, 3), {"from": agent})

    assert [event.name for event in tx.events] == ["InteractionsLogged"]


def test_a_batch_of_one_record_is_accepted(registry, agent, customer_id):
    records = record(customer_id)

    tx = registry.logInteractions(records, {"from": agent})

    assert bytes(tx.events["InteractionsLogged"]["records"]) == records


def test_a_batch_may_name_the_same_customer_many_times(registry, agent, customer_id):
    records = batch(customer_id, customer_id, customer_id)

    tx = registry.logInteractions(records, {"from": agent})

    assert bytes(tx.events["InteractionsLogged"]["records"]) == records


def test_a_batch_of_exactly_the_maximum_size_is_accepted(registry, agent):
    records = batch(*(1 + index % CROWD_SIZE for index in range(MAX_BATCH_RECORDS)))

    tx = registry.logInteractions(records, {"from": agent})

    assert len(bytes(tx.events["InteractionsLogged"]["records"])) == MAX_BATCH_RECORDS * RECORD_BYTES


# ---------------------------------------------------------------- logInteractions: refused batches


@pytest.mark.parametrize("caller", ROLE_OUTSIDERS)
def test_logging_a_batch_is_refused_for_anyone_without_the_agent_role(registry, request, caller):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
        registry.logInteractions(batch(1, 2), {"from": account})


def test_an_empty_batch_reverts(registry, agent):
    with reverts_with("InteractionBatchMalformed", 0):
        registry.logInteractions(b"", {"from": agent})


@pytest.mark.parametrize("length", [1, RECORD_BYTES - 1, RECORD_BYTES + 1, 2 * RECORD_BYTES - 1, 3 * RECORD_BYTES + 10])
def test_a_batch_whose_length_is_not_a_multiple_of_the_record_size_reverts(registry, agent, length):
    records = (batch(1, 2, 3, 4) + b"\x01" * RECORD_BYTES)[:length]

    with reverts_with("InteractionBatchMalformed", length):
        registry.logInteractions(records, {"from": agent})


def test_a_batch_of_more_than_the_maximum_number_of_records_reverts(registry, agent):
    records = batch(*(1 + index % CROWD_SIZE for index in range(MAX_BATCH_RECORDS + 1)))

    with reverts_with("InteractionBatchTooLarge", MAX_BATCH_RECORDS + 1, MAX_BATCH_RECORDS):
        registry.logInteractions(records, {"from": agent})


POSITIONS = {"first": 0, "middle": 2, "last": 4}


def with_bad_record(bad: bytes, position: str) -> bytes:
    """Five records, four of them valid (ids in both bitmap words), `bad` at `position`."""
    good = [record(1), record(LAST_OF_FIRST_WORD), record(FIRST_OF_SECOND_WORD), record(CROWD_SIZE)]
    good.insert(POSITIONS[position], bad)
    return b"".join(good)


@pytest.mark.parametrize("position", POSITIONS)
def test_a_batch_with_an_unknown_customer_anywhere_reverts(registry, agent, position):
    missing = registry.customerCount() + 1
    records = with_bad_record(record(missing), position)

    with reverts_with("CustomerUnknown", missing):
        registry.logInteractions(records, {"from": agent})


@pytest.mark.parametrize("position", POSITIONS)
def test_a_batch_with_an_erased_customer_anywhere_reverts(registry, agent, manager, position):
    erase(registry, manager, 5)
    records = with_bad_record(record(5), position)

    with reverts_with("CustomerIsErased", 5):
        registry.logInteractions(records, {"from": agent})


@pytest.mark.parametrize("position", POSITIONS)
def test_a_batch_with_a_record_of_kind_zero_anywhere_reverts(registry, agent, position):
    records = with_bad_record(record(3, kind=0), position)

    with reverts_with("InteractionKindInvalid", 0):
        registry.logInteractions(records, {"from": agent})


@pytest.mark.parametrize("position", POSITIONS)
def test_a_batch_with_a_record_without_a_content_hash_anywhere_reverts(registry, agent, position):
    records = with_bad_record(record(3, content_hash=ZERO_HASH), position)

    with reverts_with("ContentHashMissing"):
        registry.logInteractions(records, {"from": agent})


def test_a_batch_naming_customer_zero_reverts(registry, agent):
    with reverts_with("CustomerUnknown", 0):
        registry.logInteractions(batch(1, 0), {"from": agent})


def test_a_batch_naming_the_largest_packable_customer_id_reverts(registry, agent):
    with reverts_with("CustomerUnknown", MAX_CUSTOMER_ID):
        registry.logInteractions(batch(1, MAX_CUSTOMER_ID), {"from": agent})


def test_a_batch_with_an_unknown_customer_in_an_already_read_word_reverts(registry, agent):
    # The next id shares word 1 with the crowd's last customers and its erased bit is clear:
    # only the customer count says it does not exist.
    missing = registry.customerCount() + 1

    with reverts_with("CustomerUnknown", missing):
        registry.logInteractions(batch(FIRST_OF_SECOND_WORD, CROWD_SIZE, missing), {"from": agent})


def test_a_batch_crossing_into_a_word_where_the_first_customer_is_erased_reverts(registry, agent, manager):
    erase(registry, manager, FIRST_OF_SECOND_WORD)

    with reverts_with("CustomerIsErased", FIRST_OF_SECOND_WORD):
        registry.logInteractions(batch(LAST_OF_FIRST_WORD, FIRST_OF_SECOND_WORD), {"from": agent})


def test_a_batch_crossing_back_into_a_word_where_the_last_customer_is_erased_reverts(registry, agent, manager):
    erase(registry, manager, LAST_OF_FIRST_WORD)

    with reverts_with("CustomerIsErased", LAST_OF_FIRST_WORD):
        registry.logInteractions(batch(FIRST_OF_SECOND_WORD, LAST_OF_FIRST_WORD), {"from": agent})


def test_a_batch_returning_to_an_earlier_word_rereads_it(registry, agent, manager):
    erase(registry, manager, 2)

    with reverts_with("CustomerIsErased", 2):
        registry.logInteractions(batch(1, FIRST_OF_SECOND_WORD, 2), {"from": agent})


def test_a_batch_over_erased_neighbours_of_active_customers_is_accepted(registry, agent, manager):
    for erased in (LAST_OF_FIRST_WORD - 1, FIRST_OF_SECOND_WORD + 1):
        erase(registry, manager, erased)
    records = batch(LAST_OF_FIRST_WORD, FIRST_OF_SECOND_WORD)

    tx = registry.logInteractions(records, {"from": agent})

    assert bytes(tx.events["InteractionsLogged"]["records"]) == records
