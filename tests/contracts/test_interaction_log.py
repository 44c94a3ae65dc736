"""CrmRegistry as an interaction log: single interactions and packed batches.

Only an agent with an active grant on a customer logs for it; kind codes run 1 to 7 and outcome
codes 0 to 5, and every boundary code is sent as a raw integer so the contract alone decides.

Refusals are checked by simulating the transaction (eth_call): the same code path without mining a
block, which keeps the suite fast and clear of Brownie's receipt polling.
"""

from __future__ import annotations

import pytest
from brownie import chain, web3

from tests.contracts.helpers import (
    KIND_CALL,
    MAX_KIND,
    MAX_OUTCOME,
    OUTCOME_POSITIVE,
    PURPOSE_AUDIT,
    PURPOSE_SALES,
    PURPOSE_SUPPORT,
    ZERO_ADDRESS,
    ZERO_HASH,
    random_hash,
    readers_hash,
    reverts_with,
)

RECORD_BYTES = 42
MAX_BATCH_RECORDS = 1000
KIND_EMAIL = 2
OUTCOME_NONE = 0
HIGHEST_UINT8 = 255
MAX_CUSTOMER_ID = 2**64 - 1
# Grants and erasures are bitmaps of 256 customers per word: 255 is the last id of word 0, 256 the
# first of word 1, and id 1 and id 257 hold the same bit of their words. The crowd fixture registers
# ids 1-3 and 253-260 through `agent`, so the agent holds a grant on each; ids 4-252 are skipped.
LAST_OF_FIRST_WORD = 255
FIRST_OF_SECOND_WORD = 256
CROWD_HEAD = (1, 2, 3)
CROWD_TAIL = tuple(range(253, 261))
CROWD = CROWD_HEAD + CROWD_TAIL
CROWD_SIZE = CROWD[-1]
# CrmRegistry's storage slot of _customerCount (checked against customerCount() before writing).
CUSTOMER_COUNT_SLOT = 5
# Enough for registerCustomer; Anvil here runs with a zero base fee.
GAS_PER_REGISTRATION = 400_000
# Anvil mines on arrival but may answer eth_sendTransaction a moment before the receipt exists.
RECEIPT_POLL_SECONDS = 0.005
ROLE_OUTSIDERS = ("admin", "manager", "auditor", "customer", "stranger")


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


def readers_hash_after(registry, customer_id: int, joining=(), leaving=()) -> bytes:
    readers = {str(reader).lower() for reader in registry.readersOf(customer_id)}
    readers |= {str(getattr(account, "address", account)).lower() for account in joining}
    readers -= {str(getattr(account, "address", account)).lower() for account in leaving}
    return readers_hash(*readers)


def grant(registry, customer_id: int, staff, by, purpose: int = PURPOSE_SUPPORT, dry_run: bool = False):
    """Grant `staff` access, re-sealing the profile for the reader set that results.

    With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals.
    """
    sealed_for = readers_hash_after(registry, customer_id, joining=[staff])
    send = registry.grantAccess.call if dry_run else registry.grantAccess
    return send(customer_id, staff, purpose, random_hash(), random_hash(), sealed_for, {"from": by})


def revoke(registry, customer_id: int, staff, by, dry_run: bool = False):
    """With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals."""
    sealed_for = readers_hash_after(registry, customer_id, leaving=[staff])
    send = registry.revokeAccess.call if dry_run else registry.revokeAccess
    return send(customer_id, staff, random_hash(), random_hash(), sealed_for, {"from": by})


def erase(registry, manager, customer_id: int) -> None:
    registry.eraseCustomer(customer_id, random_hash(), {"from": manager})


def log(
    registry, author, customer_id: int, kind: int = KIND_CALL, outcome: int = OUTCOME_POSITIVE, dry_run: bool = False
):
    """With `dry_run`, the transaction is only simulated (eth_call): how the tests check refusals."""
    send = registry.logInteraction.call if dry_run else registry.logInteraction
    return send(customer_id, kind, outcome, random_hash(), {"from": author})


def register_quietly(registry, agent, manager, count: int) -> None:
    """Register `count` customers through `agent`, straight through web3 with a fixed gas limit.

    Brownie's transaction handling (receipt decoding, an undo snapshot per transaction) would add
    about 30 ms to each write.
    """
    raw_registry = web3.eth.contract(address=registry.address, abi=registry.abi)
    sealed_for = readers_hash(agent, manager)
    sent = [
        raw_registry.functions.registerCustomer(
            random_hash(), random_hash(), sealed_for, ZERO_ADDRESS, PURPOSE_SALES
        ).transact({"from": agent.address, "gas": GAS_PER_REGISTRATION, "gasPrice": 0})
        for _ in range(count)
    ]
    for tx_hash in sent:
        receipt = web3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=RECEIPT_POLL_SECONDS)
        assert receipt["status"] == 1


def skip_customer_ids(registry, count: int) -> None:
    """Advance the customer count in storage, so that the next registration gets id count + 1.

    Registering the 249 customers in between would make the chain 249 blocks taller, and on a
    tall chain Brownie's confirmation of a transaction races Anvil's receipts (the transaction
    is reported dropped). The skipped ids read as active but have no record and no grant.
    """
    slot = web3.eth.get_storage_at(registry.address, CUSTOMER_COUNT_SLOT)
    assert int.from_bytes(slot, "big") == registry.customerCount(), "the count moved: update CUSTOMER_COUNT_SLOT"
    web3.provider.make_request(
        "anvil_setStorageAt", [registry.address, hex(CUSTOMER_COUNT_SLOT), "0x" + count.to_bytes(32, "big").hex()]
    )
    assert registry.customerCount() == count


@pytest.fixture(scope="module", autouse=True)
def crowd(registry, agent, manager) -> None:
    """Ids 1-3 and 253-260 are customers registered by `agent`: batches may cross a bitmap word."""
    assert registry.customerCount() == 0
    register_quietly(registry, agent, manager, len(CROWD_HEAD))
    skip_customer_ids(registry, CROWD_TAIL[0] - 1)
    register_quietly(registry, agent, manager, len(CROWD_TAIL))
    assert registry.customerCount() == CROWD_SIZE
    assert all(registry.hasActiveGrant(customer_id, agent) for customer_id in CROWD)


@pytest.fixture
def foreign_customer(registry, agent2, manager) -> int:
    """A customer registered by agent2: `agent` holds no grant on it."""
    tx = registry.registerCustomer(
        random_hash(), random_hash(), readers_hash(agent2, manager), ZERO_ADDRESS, PURPOSE_SALES, {"from": agent2}
    )
    return tx.return_value


# ---------------------------------------------------------------- logInteraction: who


def test_an_agent_with_a_grant_logs_an_interaction(registry, agent, customer_id):
    content_hash = random_hash()

    tx = registry.logInteraction(customer_id, KIND_EMAIL, OUTCOME_POSITIVE, content_hash, {"from": agent})

    event = tx.events["InteractionLogged"]
    assert event["customerId"] == customer_id
    assert event["author"] == agent
    assert bytes(event["contentHash"]) == content_hash
    assert event["kind"] == KIND_EMAIL
    assert event["outcome"] == OUTCOME_POSITIVE
    assert event["at"] == tx.timestamp == chain[tx.block_number].timestamp


def test_an_agent_without_a_grant_on_the_customer_may_not_log(registry, agent2, customer_id):
    with reverts_with("CallerWithoutAccess", customer_id, agent2):
        log(registry, agent2, customer_id, dry_run=True)


def test_an_agent_granted_access_later_logs(registry, manager, agent2, customer_id):
    grant(registry, customer_id, agent2, by=manager)

    tx = log(registry, agent2, customer_id)

    assert tx.events["InteractionLogged"]["author"] == agent2


def test_an_agent_whose_grant_was_revoked_may_not_log(registry, manager, agent, customer_id):
    revoke(registry, customer_id, agent, by=manager)

    with reverts_with("CallerWithoutAccess", customer_id, agent):
        log(registry, agent, customer_id, dry_run=True)


def test_logging_an_interaction_is_refused_for_anyone_without_the_agent_role(registry, request, customer_id):
    for account in map(request.getfixturevalue, ROLE_OUTSIDERS):
        with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
            log(registry, account, customer_id, dry_run=True)


def test_an_auditor_with_a_grant_may_not_log(registry, manager, auditor, customer_id):
    grant(registry, customer_id, auditor, by=manager, purpose=PURPOSE_AUDIT)

    with reverts_with("AccessControlUnauthorizedAccount", auditor, registry.AGENT_ROLE()):
        log(registry, auditor, customer_id, dry_run=True)


def test_a_former_agent_may_not_log_through_a_grant_that_outlived_its_role(registry, admin, agent, customer_id):
    registry.revokeRole(registry.AGENT_ROLE(), agent, {"from": admin})

    with reverts_with("AccessControlUnauthorizedAccount", agent, registry.AGENT_ROLE()):
        log(registry, agent, customer_id, dry_run=True)


def test_logging_an_interaction_for_an_unknown_customer_reverts(registry, agent):
    for missing in (0, registry.customerCount() + 1):
        with reverts_with("CustomerUnknown", missing):
            log(registry, agent, missing, dry_run=True)


def test_logging_an_interaction_for_an_erased_customer_reverts(registry, agent, manager, customer_id):
    erase(registry, manager, customer_id)

    with reverts_with("CustomerIsErased", customer_id):
        log(registry, agent, customer_id, dry_run=True)


def test_an_interaction_is_logged_on_either_side_of_a_bitmap_word_boundary(registry, agent):
    logged = [
        log(registry, agent, customer).events["InteractionLogged"]["customerId"]
        for customer in (LAST_OF_FIRST_WORD, FIRST_OF_SECOND_WORD)
    ]

    assert logged == [LAST_OF_FIRST_WORD, FIRST_OF_SECOND_WORD]


def test_a_grant_in_the_second_word_does_not_open_the_same_position_in_the_first(registry, manager, agent2):
    grant(registry, FIRST_OF_SECOND_WORD + 1, agent2, by=manager)  # bit 1 of word 1

    log(registry, agent2, FIRST_OF_SECOND_WORD + 1)
    with reverts_with("CallerWithoutAccess", 1, agent2):  # bit 1 of word 0
        log(registry, agent2, 1, dry_run=True)


# ---------------------------------------------------------------- logInteraction: codes


def test_the_lowest_and_highest_kind_codes_are_logged(registry, agent, customer_id):
    kinds = [log(registry, agent, customer_id, kind=kind).events["InteractionLogged"]["kind"] for kind in (1, MAX_KIND)]

    assert kinds == [1, MAX_KIND]


def test_a_kind_code_out_of_range_reverts(registry, agent, customer_id):
    for kind in (0, MAX_KIND + 1, HIGHEST_UINT8):
        with reverts_with("InteractionKindInvalid", kind):
            log(registry, agent, customer_id, kind=kind, dry_run=True)


def test_the_lowest_and_highest_outcome_codes_are_logged(registry, agent, customer_id):
    outcomes = [
        log(registry, agent, customer_id, outcome=outcome).events["InteractionLogged"]["outcome"]
        for outcome in (OUTCOME_NONE, MAX_OUTCOME)
    ]

    assert outcomes == [OUTCOME_NONE, MAX_OUTCOME]


def test_an_outcome_code_out_of_range_reverts(registry, agent, customer_id):
    for outcome in (MAX_OUTCOME + 1, HIGHEST_UINT8):
        with reverts_with("InteractionOutcomeInvalid", outcome):
            log(registry, agent, customer_id, outcome=outcome, dry_run=True)


def test_logging_an_interaction_without_a_content_hash_reverts(registry, agent, customer_id):
    with reverts_with("ContentHashMissing"):
        registry.logInteraction.call(customer_id, KIND_CALL, OUTCOME_POSITIVE, ZERO_HASH, {"from": agent})


# ---------------------------------------------------------------- logInteractions: accepted batches


def test_a_batch_over_several_customers_emits_the_exact_records(registry, agent):
    records = (
        record(1, KIND_CALL, OUTCOME_POSITIVE)
        + record(3, KIND_CALL, OUTCOME_POSITIVE)
        + record(253, MAX_KIND, OUTCOME_POSITIVE)
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
    records = batch(*(CROWD[index % len(CROWD)] for index in range(MAX_BATCH_RECORDS)))

    tx = registry.logInteractions(records, {"from": agent})

    assert len(bytes(tx.events["InteractionsLogged"]["records"])) == MAX_BATCH_RECORDS * RECORD_BYTES


def test_an_agent_logs_a_batch_over_exactly_the_customers_it_was_granted(registry, manager, agent2):
    for customer_id in (3, FIRST_OF_SECOND_WORD):
        grant(registry, customer_id, agent2, by=manager)
    records = batch(3, FIRST_OF_SECOND_WORD, 3)

    tx = registry.logInteractions(records, {"from": agent2})

    assert tx.events["InteractionsLogged"]["author"] == agent2


# ---------------------------------------------------------------- logInteractions: refused batches


def test_logging_a_batch_is_refused_for_anyone_without_the_agent_role(registry, request):
    for account in map(request.getfixturevalue, ROLE_OUTSIDERS):
        with reverts_with("AccessControlUnauthorizedAccount", account, registry.AGENT_ROLE()):
            registry.logInteractions.call(batch(1, 2), {"from": account})


def test_an_empty_batch_reverts(registry, agent):
    with reverts_with("InteractionBatchMalformed", 0):
        registry.logInteractions.call(b"", {"from": agent})


def test_a_batch_whose_length_is_not_a_multiple_of_the_record_size_reverts(registry, agent):
    for length in (1, RECORD_BYTES - 1, RECORD_BYTES + 1, 2 * RECORD_BYTES - 1, 3 * RECORD_BYTES + 10):
        records = (batch(1, 2, 3, 4) + b"\x01" * RECORD_BYTES)[:length]
        with reverts_with("InteractionBatchMalformed", length):
            registry.logInteractions.call(records, {"from": agent})


def test_a_batch_of_more_than_the_maximum_number_of_records_reverts(registry, agent):
    records = batch(*(CROWD[index % len(CROWD)] for index in range(MAX_BATCH_RECORDS + 1)))

    with reverts_with("InteractionBatchTooLarge", MAX_BATCH_RECORDS + 1, MAX_BATCH_RECORDS):
        registry.logInteractions.call(records, {"from": agent})


POSITIONS = (0, 2, 4)  # first, middle and last of five records


def with_bad_record(bad: bytes, position: int) -> bytes:
    """Five records, four of them valid (ids in both bitmap words), `bad` at `position`."""
    good = [record(1), record(LAST_OF_FIRST_WORD), record(FIRST_OF_SECOND_WORD), record(CROWD_SIZE)]
    good.insert(position, bad)
    return b"".join(good)


def test_a_batch_with_a_customer_the_agent_has_no_grant_on_anywhere_reverts(registry, agent, foreign_customer):
    for position in POSITIONS:
        with reverts_with("CallerWithoutAccess", foreign_customer, agent):
            registry.logInteractions.call(with_bad_record(record(foreign_customer), position), {"from": agent})


def test_a_batch_with_a_revoked_grant_anywhere_reverts(registry, agent, manager):
    revoke(registry, 3, agent, by=manager)

    for position in POSITIONS:
        with reverts_with("CallerWithoutAccess", 3, agent):
            registry.logInteractions.call(with_bad_record(record(3), position), {"from": agent})


def test_a_batch_with_an_unknown_customer_anywhere_reverts(registry, agent):
    missing = registry.customerCount() + 1

    for position in POSITIONS:
        with reverts_with("CustomerUnknown", missing):
            registry.logInteractions.call(with_bad_record(record(missing), position), {"from": agent})


def test_a_batch_with_an_erased_customer_anywhere_reverts(registry, agent, manager):
    erase(registry, manager, 3)

    for position in POSITIONS:
        with reverts_with("CustomerIsErased", 3):
            registry.logInteractions.call(with_bad_record(record(3), position), {"from": agent})


def test_a_batch_with_a_kind_code_out_of_range_anywhere_reverts(registry, agent):
    for kind in (0, MAX_KIND + 1):
        for position in POSITIONS:
            with reverts_with("InteractionKindInvalid", kind):
                registry.logInteractions.call(with_bad_record(record(2, kind=kind), position), {"from": agent})


def test_a_batch_with_an_outcome_code_out_of_range_anywhere_reverts(registry, agent):
    for position in POSITIONS:
        with reverts_with("InteractionOutcomeInvalid", MAX_OUTCOME + 1):
            registry.logInteractions.call(
                with_bad_record(record(2, outcome=MAX_OUTCOME + 1), position), {"from": agent}
            )


def test_a_batch_with_a_record_without_a_content_hash_anywhere_reverts(registry, agent):
    for position in POSITIONS:
        with reverts_with("ContentHashMissing"):
            registry.logInteractions.call(with_bad_record(record(2, content_hash=ZERO_HASH), position), {"from": agent})


def test_a_batch_naming_customer_zero_reverts(registry, agent):
    with reverts_with("CustomerUnknown", 0):
        registry.logInteractions.call(batch(1, 0), {"from": agent})


def test_a_batch_naming_the_largest_packable_customer_id_reverts(registry, agent):
    with reverts_with("CustomerUnknown", MAX_CUSTOMER_ID):
        registry.logInteractions.call(batch(1, MAX_CUSTOMER_ID), {"from": agent})


def test_a_batch_crossing_into_a_word_where_the_same_position_is_granted_reverts(registry, manager, agent2):
    # agent2 holds bit 1 of word 0 only: a check that kept word 0 for id 257 (bit 1 of word 1)
    # would accept the batch.
    grant(registry, 1, agent2, by=manager)

    with reverts_with("CallerWithoutAccess", FIRST_OF_SECOND_WORD + 1, agent2):
        registry.logInteractions.call(batch(1, FIRST_OF_SECOND_WORD + 1), {"from": agent2})


def test_a_batch_returning_to_an_earlier_word_rereads_it(registry, manager, agent2):
    # agent2 holds ids 1, 256 and 258 but not 2: a check that kept word 1 for the return to id 2
    # would read bit 2 of word 1 (id 258) and accept.
    for customer_id in (1, FIRST_OF_SECOND_WORD, FIRST_OF_SECOND_WORD + 2):
        grant(registry, customer_id, agent2, by=manager)

    with reverts_with("CallerWithoutAccess", 2, agent2):
        registry.logInteractions.call(batch(1, FIRST_OF_SECOND_WORD, 2), {"from": agent2})


def test_a_batch_crossing_into_a_word_where_the_first_customer_is_erased_reverts(registry, agent, manager):
    erase(registry, manager, FIRST_OF_SECOND_WORD)

    with reverts_with("CustomerIsErased", FIRST_OF_SECOND_WORD):
        registry.logInteractions.call(batch(LAST_OF_FIRST_WORD, FIRST_OF_SECOND_WORD), {"from": agent})


def test_a_batch_over_erased_neighbours_of_active_customers_is_accepted(registry, agent, manager):
    for erased in (LAST_OF_FIRST_WORD - 1, FIRST_OF_SECOND_WORD + 1):
        erase(registry, manager, erased)
    records = batch(LAST_OF_FIRST_WORD, FIRST_OF_SECOND_WORD)

    tx = registry.logInteractions(records, {"from": agent})

    assert bytes(tx.events["InteractionsLogged"]["records"]) == records
