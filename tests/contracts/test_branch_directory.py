"""BranchDirectory and the registry's branch hooks: branches, their managers, staff and customers.

The registry trusts one directory (set once by the default admin) to grant and revoke the agent
role; the directory lets a branch's manager bring newcomers into that branch and take its own
staff out, and nothing else. Registry managers create branches, name their managers and may move
anyone. Refusals are checked by simulating the transaction (eth_call), as elsewhere.

The last section is a hypothesis state machine over random branch operations by random callers.
"""

from __future__ import annotations

import time
import types
from collections import Counter

import brownie.network.transaction
import pytest
from brownie import chain, web3
from eth_abi import encode
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.contracts.helpers import (
    ADMIN_TRANSFER_DELAY_SECONDS,
    ZERO_ADDRESS,
    random_hash,
    reverts_with,
)

LISBON, PORTO, FARO = b"lisbon", b"porto", b"faro"
NO_BRANCH = 0
ROLE_OUTSIDERS = ("admin", "agent", "auditor", "customer", "stranger")  # not registry managers
RECEIPT_POLL_SECONDS = 0.01


def name_of(label: bytes) -> bytes:
    """A branch name as the contract keeps it: a short ASCII label right-padded to bytes32."""
    return label.ljust(32, b"\x00")


def throwaway_key(purpose: str) -> bytes:
    """A key for an account these tests create with accounts.add() (never a real key)."""
    return keccak(f"chaincrm contract tests: {purpose}".encode())


def address_of(account) -> str:
    return str(getattr(account, "address", account))


def event_names(tx) -> list[str]:
    return [event.name for event in tx.events]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def directory(BranchDirectory, registry, admin):
    """A BranchDirectory the registry trusts (set by the default admin)."""
    directory = BranchDirectory.deploy(registry, {"from": admin})
    registry.setBranchDirectory(directory, {"from": admin})
    return directory


@pytest.fixture(scope="module")
def lisbon_manager(accounts):
    """Gas is free on this Anvil: accounts made here need no funds."""
    return accounts.add(throwaway_key("lisbon branch manager"))


@pytest.fixture(scope="module")
def porto_manager(accounts):
    return accounts.add(throwaway_key("porto branch manager"))


@pytest.fixture(scope="module")
def newcomers(accounts):
    """Accounts with no role and no branch: the people branch managers hire."""
    return [accounts.add(throwaway_key(f"newcomer {index}")) for index in range(3)]


@pytest.fixture(scope="module")
def newcomer(newcomers):
    return newcomers[0]


@pytest.fixture(scope="module", autouse=True)
def branches(directory, manager, lisbon_manager, porto_manager) -> tuple[int, int]:
    """Lisbon (1) and Porto (2), each with its branch manager, in every test of this module (tests
    that need a directory without branches take `bare_directory`)."""
    lisbon = directory.createBranch(name_of(LISBON), {"from": manager}).return_value
    porto = directory.createBranch(name_of(PORTO), {"from": manager}).return_value
    directory.setBranchManager(lisbon, lisbon_manager, {"from": manager})
    directory.setBranchManager(porto, porto_manager, {"from": manager})
    return lisbon, porto


@pytest.fixture(scope="module")
def lisbon(branches) -> int:
    return branches[0]


@pytest.fixture(scope="module")
def porto(branches) -> int:
    return branches[1]


@pytest.fixture(scope="module")
def bare_registry(CrmRegistry, admin, agent, manager, auditor):
    """A second registry that names no branch directory, with the same roles as `registry`."""
    registry = CrmRegistry.deploy(admin, ADMIN_TRANSFER_DELAY_SECONDS, {"from": admin})
    registry.grantRole(registry.AGENT_ROLE(), agent, {"from": admin})
    registry.grantRole(registry.MANAGER_ROLE(), manager, {"from": admin})
    registry.grantRole(registry.AUDITOR_ROLE(), auditor, {"from": admin})
    return registry


@pytest.fixture(scope="module")
def bare_directory(BranchDirectory, bare_registry, admin):
    """A directory bound to `bare_registry`, which does not trust it (yet)."""
    return BranchDirectory.deploy(bare_registry, {"from": admin})


def is_agent(registry, account) -> bool:
    return registry.hasRole(registry.AGENT_ROLE(), account)


# ---------------------------------------------------------------- registry: setBranchDirectory


def test_no_branch_directory_is_set_at_first(bare_registry):
    assert bare_registry.branchDirectory() == ZERO_ADDRESS


def test_the_default_admin_sets_the_branch_directory(bare_registry, bare_directory, admin):
    tx = bare_registry.setBranchDirectory(bare_directory, {"from": admin})

    assert event_names(tx) == ["BranchDirectorySet"]
    assert tx.events["BranchDirectorySet"]["directory"] == bare_directory
    assert bare_registry.branchDirectory() == bare_directory


def test_only_the_default_admin_sets_the_branch_directory(bare_registry, bare_directory, request):
    admin_role = bare_registry.DEFAULT_ADMIN_ROLE()
    for name in ("manager", "agent", "auditor", "customer", "stranger"):
        account = request.getfixturevalue(name)
        with reverts_with("AccessControlUnauthorizedAccount", account, admin_role):
            bare_registry.setBranchDirectory.call(bare_directory, {"from": account})


def test_the_branch_directory_is_set_once(BranchDirectory, bare_registry, bare_directory, admin):
    bare_registry.setBranchDirectory(bare_directory, {"from": admin})
    another = BranchDirectory.deploy(bare_registry, {"from": admin})

    for candidate in (another, bare_directory):
        with reverts_with("BranchDirectoryAlreadySet", bare_directory):
            bare_registry.setBranchDirectory.call(candidate, {"from": admin})


def test_an_address_without_code_is_refused_as_branch_directory(bare_registry, admin, stranger):
    for candidate in (stranger, ZERO_ADDRESS):
        with reverts_with("NotBranchDirectory", candidate):
            bare_registry.setBranchDirectory.call(candidate, {"from": admin})


def test_a_directory_bound_to_another_registry_is_refused(BranchDirectory, registry, bare_registry, admin):
    elsewhere = BranchDirectory.deploy(registry, {"from": admin})

    with reverts_with("NotBranchDirectory", elsewhere):
        bare_registry.setBranchDirectory.call(elsewhere, {"from": admin})


def test_a_contract_that_is_no_directory_is_refused(RootEmitter, bare_registry, admin):
    emitter = RootEmitter.deploy({"from": admin})

    with reverts_with("NotBranchDirectory", emitter):
        bare_registry.setBranchDirectory.call(emitter, {"from": admin})


# ---------------------------------------------------------------- registry: the directory's hooks


def test_only_the_directory_grants_or_revokes_agents_for_a_branch(directory, registry, request, newcomer, agent):
    for name in ("admin", "manager", "agent", "auditor", "customer", "stranger"):
        caller = request.getfixturevalue(name)
        with reverts_with("NotBranchDirectory", caller):
            registry.grantAgentForBranch.call(newcomer, {"from": caller})
        with reverts_with("NotBranchDirectory", caller):
            registry.revokeAgentForBranch.call(agent, {"from": caller})


def test_the_hooks_refuse_everyone_while_no_directory_is_set(bare_registry, admin, manager, newcomer, agent):
    for caller in (admin, manager):
        with reverts_with("NotBranchDirectory", caller):
            bare_registry.grantAgentForBranch.call(newcomer, {"from": caller})
        with reverts_with("NotBranchDirectory", caller):
            bare_registry.revokeAgentForBranch.call(agent, {"from": caller})


def test_a_directory_the_registry_does_not_trust_cannot_add_staff(bare_directory, bare_registry, manager, newcomer):
    branch = bare_directory.createBranch(name_of(LISBON), {"from": manager}).return_value

    with reverts_with("NotBranchDirectory", bare_directory):
        bare_directory.addStaff.call(branch, newcomer, {"from": manager})
    assert not is_agent(bare_registry, newcomer)


def test_a_trusted_directory_adds_staff_once_the_admin_sets_it(bare_directory, bare_registry, admin, manager, newcomer):
    branch = bare_directory.createBranch(name_of(LISBON), {"from": manager}).return_value
    bare_registry.setBranchDirectory(bare_directory, {"from": admin})

    bare_directory.addStaff(branch, newcomer, {"from": manager})

    assert is_agent(bare_registry, newcomer)


# ---------------------------------------------------------------- constructor and views


def test_a_directory_needs_a_registry(BranchDirectory, admin):
    with reverts_with("ZeroAddress"):
        BranchDirectory.deploy(ZERO_ADDRESS, {"from": admin})


def test_a_new_directory_names_its_registry_and_has_no_branch(bare_directory, bare_registry, newcomer):
    assert bare_directory.registry() == bare_registry
    assert bare_directory.branchCount() == 0
    assert bare_directory.branchOf(newcomer) == NO_BRANCH
    assert bare_directory.branchIdOf(name_of(LISBON)) == NO_BRANCH
    assert bare_directory.customerBranchOf(1) == NO_BRANCH
    with reverts_with("BranchUnknown", 1):
        bare_directory.branchInfo(1)


def test_the_views_report_branches_their_managers_staff_and_customers(
    directory, registry, lisbon, porto, lisbon_manager, porto_manager, newcomer, register
):
    customer_id = register()
    directory.addStaff(porto, newcomer, {"from": porto_manager})
    directory.assignCustomer(lisbon, customer_id, {"from": lisbon_manager})

    assert directory.registry() == registry
    assert directory.branchCount() == 2
    assert [directory.branchIdOf(name_of(label)) for label in (LISBON, PORTO, FARO)] == [lisbon, porto, NO_BRANCH]
    assert [(bytes(name), manager) for name, manager in map(directory.branchInfo, (lisbon, porto))] == [
        (name_of(LISBON), lisbon_manager),
        (name_of(PORTO), porto_manager),
    ]
    assert directory.branchOf(newcomer) == porto
    assert directory.branchOf(lisbon_manager) == NO_BRANCH  # managing a branch is not working in it
    assert directory.customerBranchOf(customer_id) == lisbon
    assert directory.customerBranchOf(customer_id + 1) == NO_BRANCH


def test_an_unknown_branch_has_no_info(directory, branches):
    for unknown in (0, directory.branchCount() + 1):
        with reverts_with("BranchUnknown", unknown):
            directory.branchInfo(unknown)


# ---------------------------------------------------------------- createBranch


def test_a_registry_manager_creates_branches_numbered_from_one(bare_directory, manager):
    directory = bare_directory
    first = directory.createBranch(name_of(LISBON), {"from": manager})
    second = directory.createBranch(name_of(PORTO), {"from": manager})

    assert (first.return_value, second.return_value) == (1, 2)
    assert event_names(first) == ["BranchCreated"]
    event = first.events["BranchCreated"]
    assert event["branchId"] == 1
    assert bytes(event["name"]) == name_of(LISBON)
    assert event["by"] == manager
    assert directory.branchCount() == 2
    assert directory.branchIdOf(name_of(LISBON)) == 1
    assert directory.branchIdOf(name_of(PORTO)) == 2
    name, branch_manager = directory.branchInfo(1)
    assert (bytes(name), branch_manager) == (name_of(LISBON), ZERO_ADDRESS)


def test_only_registry_managers_create_branches(directory, request, branches, lisbon_manager):
    for caller in [*map(request.getfixturevalue, ROLE_OUTSIDERS), lisbon_manager]:
        with reverts_with("NotRegistryManager", caller):
            directory.createBranch.call(name_of(FARO), {"from": caller})


def test_a_branch_needs_a_name(directory, manager):
    with reverts_with("BranchNameMissing"):
        directory.createBranch.call(b"\x00" * 32, {"from": manager})


def test_branch_names_are_unique(directory, manager, branches):
    with reverts_with("BranchNameTaken", name_of(LISBON)):
        directory.createBranch.call(name_of(LISBON), {"from": manager})


def test_branch_names_are_compared_byte_for_byte(directory, manager, branches):
    """The contract keeps labels as given: normalising case is the client's business."""
    tx = directory.createBranch(name_of(b"Lisbon"), {"from": manager})

    assert tx.return_value == 3
    assert directory.branchIdOf(name_of(b"Lisbon")) == 3
    assert directory.branchIdOf(name_of(LISBON)) == 1


# ---------------------------------------------------------------- setBranchManager


def test_a_registry_manager_names_a_branch_manager(directory, manager, lisbon_manager):
    branch = directory.createBranch(name_of(FARO), {"from": manager}).return_value

    tx = directory.setBranchManager(branch, lisbon_manager, {"from": manager})

    assert event_names(tx) == ["BranchManagerSet"]
    event = tx.events["BranchManagerSet"]
    assert (event["branchId"], event["manager"], event["by"]) == (branch, lisbon_manager, manager)
    assert directory.branchInfo(branch)[1] == lisbon_manager


def test_the_zero_address_leaves_a_branch_without_manager(directory, manager, lisbon):
    tx = directory.setBranchManager(lisbon, ZERO_ADDRESS, {"from": manager})

    assert tx.events["BranchManagerSet"]["manager"] == ZERO_ADDRESS
    assert directory.branchInfo(lisbon)[1] == ZERO_ADDRESS


def test_only_registry_managers_name_branch_managers(directory, request, lisbon, lisbon_manager, newcomer):
    for caller in [*map(request.getfixturevalue, ROLE_OUTSIDERS), lisbon_manager]:
        with reverts_with("NotRegistryManager", caller):
            directory.setBranchManager.call(lisbon, newcomer, {"from": caller})


def test_an_unknown_branch_gets_no_manager(directory, manager, branches, newcomer):
    for unknown in (0, directory.branchCount() + 1):
        with reverts_with("BranchUnknown", unknown):
            directory.setBranchManager.call(unknown, newcomer, {"from": manager})


# ---------------------------------------------------------------- addStaff


def test_a_branch_manager_brings_a_newcomer_in_as_an_agent(directory, registry, lisbon, lisbon_manager, newcomer):
    assert not is_agent(registry, newcomer)

    tx = directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})

    joined = tx.events["StaffJoinedBranch"]
    assert (joined["branchId"], joined["account"], joined["by"]) == (lisbon, newcomer, lisbon_manager)
    granted = tx.events["RoleGranted"]
    assert bytes(granted["role"]) == bytes(registry.AGENT_ROLE())
    assert granted["account"] == newcomer
    assert granted["sender"] == directory
    assert sorted(event_names(tx)) == ["RoleGranted", "StaffJoinedBranch"]
    assert is_agent(registry, newcomer)
    assert directory.branchOf(newcomer) == lisbon


def test_staff_a_branch_manager_brought_in_anchor_interactions(directory, registry, lisbon, lisbon_manager, newcomer):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})

    tx = registry.anchorInteractions(random_hash(), random_hash(), 1, {"from": newcomer})

    assert tx.events["InteractionBatchAnchored"]["author"] == newcomer


def test_a_branch_manager_may_not_add_staff_to_another_branch(directory, lisbon_manager, porto, newcomer):
    with reverts_with("NotBranchManager", porto, lisbon_manager):
        directory.addStaff.call(porto, newcomer, {"from": lisbon_manager})


def test_a_branch_manager_may_not_take_over_an_agent_granted_elsewhere(directory, lisbon, lisbon_manager, agent):
    with reverts_with("StaffAlreadyAgent", agent):
        directory.addStaff.call(lisbon, agent, {"from": lisbon_manager})


def test_a_branch_manager_may_not_make_a_manager_or_an_auditor_an_agent(
    directory, registry, lisbon, lisbon_manager, manager, auditor
):
    for account in (manager, auditor):
        with reverts_with("StaffAlreadyAgent", account):
            directory.addStaff.call(lisbon, account, {"from": lisbon_manager})
        assert not is_agent(registry, account)


def test_a_registry_manager_places_an_existing_agent_in_a_branch(directory, registry, manager, lisbon, agent):
    tx = directory.addStaff(lisbon, agent, {"from": manager})

    assert event_names(tx) == ["StaffJoinedBranch"]  # the role was already held: no RoleGranted
    assert tx.events["StaffJoinedBranch"]["by"] == manager
    assert directory.branchOf(agent) == lisbon
    assert is_agent(registry, agent)


def test_a_registry_manager_brings_a_newcomer_into_any_branch(directory, registry, manager, porto, newcomer):
    tx = directory.addStaff(porto, newcomer, {"from": manager})

    assert tx.events["RoleGranted"]["sender"] == directory
    assert directory.branchOf(newcomer) == porto


def test_staff_of_one_branch_may_not_be_added_to_another(
    directory, manager, lisbon, porto, lisbon_manager, porto_manager, newcomer
):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})

    for caller in (manager, porto_manager):
        with reverts_with("StaffInOtherBranch", newcomer, lisbon):
            directory.addStaff.call(porto, newcomer, {"from": caller})


def test_the_zero_address_is_not_staff(directory, manager, lisbon, lisbon_manager):
    for caller in (manager, lisbon_manager):
        with reverts_with("ZeroAddress"):
            directory.addStaff.call(lisbon, ZERO_ADDRESS, {"from": caller})


def test_adding_staff_already_in_the_branch_changes_nothing(
    directory, registry, lisbon, lisbon_manager, manager, newcomer
):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})

    for caller in (lisbon_manager, manager):
        tx = directory.addStaff(lisbon, newcomer, {"from": caller})
        assert event_names(tx) == []
    assert directory.branchOf(newcomer) == lisbon
    assert is_agent(registry, newcomer)


def test_only_the_branch_manager_or_a_registry_manager_adds_staff(directory, request, lisbon, newcomer):
    for caller in map(request.getfixturevalue, ROLE_OUTSIDERS):
        with reverts_with("NotBranchManager", lisbon, caller):
            directory.addStaff.call(lisbon, newcomer, {"from": caller})


def test_a_branch_without_a_manager_takes_staff_from_registry_managers_only(
    directory, manager, lisbon_manager, newcomer
):
    faro = directory.createBranch(name_of(FARO), {"from": manager}).return_value

    with reverts_with("NotBranchManager", faro, lisbon_manager):
        directory.addStaff.call(faro, newcomer, {"from": lisbon_manager})
    directory.addStaff(faro, newcomer, {"from": manager})
    assert directory.branchOf(newcomer) == faro


def test_staff_is_not_added_to_an_unknown_branch(directory, manager, lisbon_manager, branches, newcomer):
    for unknown in (0, directory.branchCount() + 1):
        for caller in (manager, lisbon_manager):
            with reverts_with("BranchUnknown", unknown):
                directory.addStaff.call(unknown, newcomer, {"from": caller})


# ---------------------------------------------------------------- removeStaff


def test_a_branch_manager_takes_own_staff_out_and_their_agent_role_with_them(
    directory, registry, lisbon, lisbon_manager, newcomer
):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})

    tx = directory.removeStaff(lisbon, newcomer, {"from": lisbon_manager})

    left = tx.events["StaffLeftBranch"]
    assert (left["branchId"], left["account"], left["by"]) == (lisbon, newcomer, lisbon_manager)
    revoked = tx.events["RoleRevoked"]
    assert bytes(revoked["role"]) == bytes(registry.AGENT_ROLE())
    assert (revoked["account"], revoked["sender"]) == (newcomer, directory)
    assert sorted(event_names(tx)) == ["RoleRevoked", "StaffLeftBranch"]
    assert not is_agent(registry, newcomer)
    assert directory.branchOf(newcomer) == NO_BRANCH


def test_removed_staff_may_no_longer_anchor(directory, registry, lisbon, lisbon_manager, newcomer):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})
    directory.removeStaff(lisbon, newcomer, {"from": lisbon_manager})

    with reverts_with("AccessControlUnauthorizedAccount", newcomer, registry.AGENT_ROLE()):
        registry.anchorInteractions.call(random_hash(), random_hash(), 1, {"from": newcomer})


def test_a_branch_manager_may_not_remove_staff_of_another_branch(
    directory, registry, lisbon, porto, lisbon_manager, porto_manager, newcomer
):
    directory.addStaff(porto, newcomer, {"from": porto_manager})

    with reverts_with("NotBranchManager", porto, lisbon_manager):
        directory.removeStaff.call(porto, newcomer, {"from": lisbon_manager})
    with reverts_with("StaffNotInBranch", newcomer, lisbon):
        directory.removeStaff.call(lisbon, newcomer, {"from": lisbon_manager})
    assert is_agent(registry, newcomer)


def test_a_branch_manager_may_not_revoke_an_agent_in_no_branch(directory, registry, lisbon, lisbon_manager, agent):
    with reverts_with("StaffNotInBranch", agent, lisbon):
        directory.removeStaff.call(lisbon, agent, {"from": lisbon_manager})
    assert is_agent(registry, agent)


def test_a_registry_manager_removes_staff_of_any_branch(directory, registry, manager, porto, porto_manager, newcomer):
    directory.addStaff(porto, newcomer, {"from": porto_manager})

    tx = directory.removeStaff(porto, newcomer, {"from": manager})

    assert tx.events["StaffLeftBranch"]["by"] == manager
    assert not is_agent(registry, newcomer)


def test_staff_is_removed_once(directory, lisbon, lisbon_manager, manager, newcomer):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})
    directory.removeStaff(lisbon, newcomer, {"from": lisbon_manager})

    for caller in (lisbon_manager, manager):
        with reverts_with("StaffNotInBranch", newcomer, lisbon):
            directory.removeStaff.call(lisbon, newcomer, {"from": caller})


def test_only_the_branch_manager_or_a_registry_manager_removes_staff(
    directory, request, lisbon, lisbon_manager, newcomer
):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})

    for caller in map(request.getfixturevalue, ROLE_OUTSIDERS):
        with reverts_with("NotBranchManager", lisbon, caller):
            directory.removeStaff.call(lisbon, newcomer, {"from": caller})


def test_staff_is_not_removed_from_an_unknown_branch(directory, manager, branches, newcomer):
    for unknown in (0, directory.branchCount() + 1):
        with reverts_with("BranchUnknown", unknown):
            directory.removeStaff.call(unknown, newcomer, {"from": manager})


def test_a_removed_newcomer_may_join_another_branch(
    directory, registry, lisbon, porto, lisbon_manager, porto_manager, newcomer
):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})
    directory.removeStaff(lisbon, newcomer, {"from": lisbon_manager})

    directory.addStaff(porto, newcomer, {"from": porto_manager})

    assert directory.branchOf(newcomer) == porto
    assert is_agent(registry, newcomer)


def test_staff_whose_role_the_admin_revoked_is_still_taken_out_cleanly(
    directory, registry, admin, lisbon, lisbon_manager, newcomer
):
    directory.addStaff(lisbon, newcomer, {"from": lisbon_manager})
    registry.revokeRole(registry.AGENT_ROLE(), newcomer, {"from": admin})

    tx = directory.removeStaff(lisbon, newcomer, {"from": lisbon_manager})

    assert event_names(tx) == ["StaffLeftBranch"]  # no role left to revoke
    assert directory.branchOf(newcomer) == NO_BRANCH


def test_a_registry_manager_taking_a_placed_agent_out_revokes_the_role(directory, registry, manager, lisbon, agent):
    directory.addStaff(lisbon, agent, {"from": manager})

    directory.removeStaff(lisbon, agent, {"from": manager})

    assert not is_agent(registry, agent)


# ---------------------------------------------------------------- assignCustomer


@pytest.fixture
def customer_in_no_branch(register) -> int:
    return register()


def test_a_branch_manager_assigns_a_customer_in_no_branch(directory, lisbon, lisbon_manager, customer_in_no_branch):
    tx = directory.assignCustomer(lisbon, customer_in_no_branch, {"from": lisbon_manager})

    assert event_names(tx) == ["CustomerAssignedToBranch"]
    event = tx.events["CustomerAssignedToBranch"]
    assert (event["branchId"], event["customerId"], event["by"]) == (lisbon, customer_in_no_branch, lisbon_manager)
    assert directory.customerBranchOf(customer_in_no_branch) == lisbon


def test_an_unregistered_customer_is_not_assigned(directory, registry, manager, lisbon, lisbon_manager):
    for missing in (0, registry.customerCount() + 1):
        for caller in (manager, lisbon_manager):
            with reverts_with("CustomerUnknown", missing):
                directory.assignCustomer.call(lisbon, missing, {"from": caller})


def test_a_branch_manager_may_not_move_a_customer_of_another_branch(
    directory, lisbon, porto, lisbon_manager, porto_manager, customer_in_no_branch
):
    directory.assignCustomer(porto, customer_in_no_branch, {"from": porto_manager})

    with reverts_with("CustomerInOtherBranch", customer_in_no_branch, porto):
        directory.assignCustomer.call(lisbon, customer_in_no_branch, {"from": lisbon_manager})


def test_a_registry_manager_moves_a_customer_between_branches(
    directory, manager, lisbon, porto, porto_manager, customer_in_no_branch
):
    directory.assignCustomer(porto, customer_in_no_branch, {"from": porto_manager})

    tx = directory.assignCustomer(lisbon, customer_in_no_branch, {"from": manager})

    event = tx.events["CustomerAssignedToBranch"]
    assert (event["branchId"], event["by"]) == (lisbon, manager)
    assert directory.customerBranchOf(customer_in_no_branch) == lisbon


def test_assigning_a_customer_to_its_own_branch_changes_nothing(
    directory, manager, lisbon, lisbon_manager, customer_in_no_branch
):
    directory.assignCustomer(lisbon, customer_in_no_branch, {"from": lisbon_manager})

    for caller in (lisbon_manager, manager):
        assert event_names(directory.assignCustomer(lisbon, customer_in_no_branch, {"from": caller})) == []
    assert directory.customerBranchOf(customer_in_no_branch) == lisbon


def test_only_a_branch_manager_or_a_registry_manager_assigns_customers(
    directory, request, lisbon, porto_manager, customer_in_no_branch
):
    for caller in [*map(request.getfixturevalue, ROLE_OUTSIDERS), porto_manager]:
        with reverts_with("NotBranchManager", lisbon, caller):
            directory.assignCustomer.call(lisbon, customer_in_no_branch, {"from": caller})


def test_a_customer_is_not_assigned_to_an_unknown_branch(directory, manager, branches, customer_in_no_branch):
    for unknown in (0, directory.branchCount() + 1):
        with reverts_with("BranchUnknown", unknown):
            directory.assignCustomer.call(unknown, customer_in_no_branch, {"from": manager})


# ---------------------------------------------------------------- a replaced branch manager


@pytest.mark.parametrize("successor", ("porto_manager", "nobody"))
def test_a_replaced_branch_manager_loses_every_power_over_the_branch(
    directory, registry, request, manager, lisbon, lisbon_manager, newcomers, register, successor
):
    staff, hire = newcomers[0], newcomers[1]
    directory.addStaff(lisbon, staff, {"from": lisbon_manager})
    customer_id = register()
    new_manager = request.getfixturevalue(successor) if successor != "nobody" else None

    directory.setBranchManager(lisbon, new_manager or ZERO_ADDRESS, {"from": manager})

    with reverts_with("NotBranchManager", lisbon, lisbon_manager):
        directory.addStaff.call(lisbon, hire, {"from": lisbon_manager})
    with reverts_with("NotBranchManager", lisbon, lisbon_manager):
        directory.removeStaff.call(lisbon, staff, {"from": lisbon_manager})
    with reverts_with("NotBranchManager", lisbon, lisbon_manager):
        directory.assignCustomer.call(lisbon, customer_id, {"from": lisbon_manager})
    with reverts_with("NotRegistryManager", lisbon_manager):
        directory.setBranchManager.call(lisbon, lisbon_manager, {"from": lisbon_manager})
    if new_manager is not None:  # the successor holds the powers now
        directory.removeStaff(lisbon, staff, {"from": new_manager})
        assert not is_agent(registry, staff)


def test_one_account_may_manage_two_branches(directory, manager, lisbon, porto, lisbon_manager, newcomers):
    directory.setBranchManager(porto, lisbon_manager, {"from": manager})

    directory.addStaff(lisbon, newcomers[0], {"from": lisbon_manager})
    directory.addStaff(porto, newcomers[1], {"from": lisbon_manager})

    assert [directory.branchOf(account) for account in newcomers[:2]] == [lisbon, porto]


# ---------------------------------------------------------------- state machine

# Derandomized, as in test_state_machines.py: every run plays the same examples.
MACHINE_SETTINGS = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
BRANCH_LABELS = (LISBON, PORTO, FARO, b"braga")
PICKS = st.integers(0, 99)  # reduced modulo what there is to pick from
AGENT_ROLE = keccak(b"AGENT_ROLE")


def read_many(calls: list[tuple]) -> list[bytes]:
    """The raw results of many eth_calls (contract, signature, types, arguments) in one JSON-RPC
    batch: the state machine reads every account after every step, and one round trip keeps that
    within its time budget."""
    requests = [
        (
            "eth_call",
            [
                {"to": address_of(contract), "data": "0x" + (keccak(text=signature)[:4] + encode(types, args)).hex()},
                "latest",
            ],
        )
        for contract, signature, types, args in calls
    ]
    responses = sorted(web3.provider.make_batch_request(requests), key=lambda response: response["id"])
    return [bytes.fromhex(response["result"].removeprefix("0x")) for response in responses]


@pytest.fixture(scope="module")
def prompt_receipts():
    """Poll for receipts every 10 ms instead of Brownie's second (as test_state_machines.py does)."""
    poll = types.SimpleNamespace(time=time.time, sleep=lambda seconds: time.sleep(min(seconds, RECEIPT_POLL_SECONDS)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(brownie.network.transaction, "time", poll)
        yield


class BranchMachine(RuleBasedStateMachine):
    """Random create/setManager/add/remove by random callers, each predicted from a Python model.

    Invariants: every account's branchOf is the model's; every member of a branch holds the agent
    role; no account that is not a registry manager ever changed the membership of a branch it did
    not manage at that moment (checked on every StaffJoinedBranch/StaffLeftBranch event).
    """

    directory = registry = manager = None
    preloaded: dict[int, str] = {}  # branch id -> manager, made before the snapshot
    preloaded_names: frozenset = frozenset()
    callers: tuple = ()  # the registry manager first, then would-be branch managers and outsiders
    people: tuple = ()  # accounts that may be added or removed
    initial_agents: frozenset = frozenset()
    other_staff: frozenset = frozenset()  # managers and auditors: staff a branch manager may not add
    outcomes: Counter = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.managers = dict(self.preloaded)  # branch id -> branch manager address (ZERO_ADDRESS: none)
        self.member_of: dict[str, int] = {}  # account address -> branch id
        self.agents = set(self.initial_agents)  # addresses holding AGENT_ROLE
        self.taken_names = set(self.preloaded_names)

    def teardown(self) -> None:
        chain.revert()

    # -- helpers

    def _known(self, branch_id: int) -> bool:
        return 1 <= branch_id <= len(self.managers)

    def _is_registry_manager(self, caller) -> bool:
        return address_of(caller) == address_of(self.manager)

    def _check_membership_events(self, tx, caller) -> None:
        for name in ("StaffJoinedBranch", "StaffLeftBranch"):
            for event in (event for event in tx.events if event.name == name):
                assert event["by"] == address_of(caller)
                allowed = self._is_registry_manager(caller) or self.managers[event["branchId"]] == address_of(caller)
                assert allowed, f"{caller} changed branch {event['branchId']} it does not manage"

    def _authorize(self, branch_id: int, caller) -> tuple[str, tuple] | None:
        """The refusal _authorize predicts, or None."""
        if not self._known(branch_id):
            return "BranchUnknown", (branch_id,)
        if not self._is_registry_manager(caller) and self.managers[branch_id] != address_of(caller):
            return "NotBranchManager", (branch_id, caller)
        return None

    # -- rules

    def _registry_side_caller(self, caller: int):
        """Mostly the registry manager, so that branches get created and managed."""
        return self.callers[caller % len(self.callers)] if caller % 3 == 0 else self.manager

    @rule(label=st.sampled_from(BRANCH_LABELS), caller=PICKS)
    def create(self, label: bytes, caller: int) -> None:
        sender = self._registry_side_caller(caller)
        name = name_of(label)
        refusal = None
        if not self._is_registry_manager(sender):
            refusal = "NotRegistryManager", (sender,)
        elif name in self.taken_names:
            refusal = "BranchNameTaken", (name,)
        if refusal is not None:
            self.outcomes[f"create refused: {refusal[0]}"] += 1
            with reverts_with(refusal[0], *refusal[1]):
                self.directory.createBranch.call(name, {"from": sender})
            return

        tx = self.directory.createBranch(name, {"from": sender})

        branch_id = len(self.managers) + 1
        assert tx.return_value == branch_id
        event = tx.events["BranchCreated"]
        assert (event["branchId"], bytes(event["name"]), event["by"]) == (branch_id, name, address_of(sender))
        self.managers[branch_id] = ZERO_ADDRESS
        self.taken_names.add(name)
        self.outcomes["created"] += 1

    @rule(branch=PICKS, candidate=PICKS, caller=PICKS)
    def set_manager(self, branch: int, candidate: int, caller: int) -> None:
        branch_id = self._branch(branch)
        sender = self._registry_side_caller(caller)
        pool = (*self.callers[1:], ZERO_ADDRESS)
        new_manager = pool[candidate % len(pool)]
        refusal = None
        if not self._is_registry_manager(sender):
            refusal = "NotRegistryManager", (sender,)
        elif not self._known(branch_id):
            refusal = "BranchUnknown", (branch_id,)
        if refusal is not None:
            self.outcomes[f"set manager refused: {refusal[0]}"] += 1
            with reverts_with(refusal[0], *refusal[1]):
                self.directory.setBranchManager.call(branch_id, new_manager, {"from": sender})
            return

        tx = self.directory.setBranchManager(branch_id, new_manager, {"from": sender})

        assert tx.events["BranchManagerSet"]["manager"] == address_of(new_manager)
        self.managers[branch_id] = address_of(new_manager)
        self.outcomes["manager set"] += 1

    def _branch(self, pick: int) -> int:
        """Mostly a branch that exists; one pick in eight is 0 or the id after the last."""
        if pick % 8 == 0:
            return 0 if pick % 16 == 0 else len(self.managers) + 1
        return 1 + pick % len(self.managers)

    def _aimed_caller(self, branch_id: int, caller: int):
        """Often the branch's own manager, so that the happy paths are common."""
        if caller % 2 and self._known(branch_id) and self.managers[branch_id] != ZERO_ADDRESS:
            return next(account for account in self.callers if address_of(account) == self.managers[branch_id])
        return self.callers[caller % len(self.callers)]

    @rule(branch=PICKS, person=PICKS, caller=PICKS)
    def add(self, branch: int, person: int, caller: int) -> None:
        branch_id = self._branch(branch)
        sender = self._aimed_caller(branch_id, caller)
        account = self.people[person % len(self.people)]
        address = address_of(account)
        current = self.member_of.get(address, NO_BRANCH)
        refusal = self._authorize(branch_id, sender)
        if refusal is None and address == ZERO_ADDRESS:
            refusal = "ZeroAddress", ()
        if refusal is None and current not in (NO_BRANCH, branch_id):
            refusal = "StaffInOtherBranch", (account, current)
        if (
            refusal is None
            and current == NO_BRANCH
            and not self._is_registry_manager(sender)
            and (address in self.agents or address in self.other_staff)
        ):
            refusal = "StaffAlreadyAgent", (account,)
        if refusal is not None:
            self.outcomes[f"add refused: {refusal[0]}"] += 1
            with reverts_with(refusal[0], *refusal[1]):
                self.directory.addStaff.call(branch_id, account, {"from": sender})
            return

        tx = self.directory.addStaff(branch_id, account, {"from": sender})

        self._check_membership_events(tx, sender)
        if current == branch_id:
            assert event_names(tx) == []
            self.outcomes["add no-op"] += 1
            return
        assert tx.events["StaffJoinedBranch"]["account"] == address
        assert ("RoleGranted" in tx.events) == (address not in self.agents)
        self.member_of[address] = branch_id
        self.agents.add(address)
        self.outcomes["added"] += 1

    @rule(branch=PICKS, person=PICKS, caller=PICKS)
    def remove(self, branch: int, person: int, caller: int) -> None:
        """Mostly a member from their own branch, so that removals are common."""
        members = [account for account in self.people if address_of(account) in self.member_of]
        if members and person % 4:
            account = members[person % len(members)]
            branch_id = self.member_of[address_of(account)] if branch % 4 else self._branch(branch)
        else:
            account, branch_id = self.people[person % len(self.people)], self._branch(branch)
        address = address_of(account)
        sender = self._aimed_caller(branch_id, caller)
        refusal = self._authorize(branch_id, sender)
        if refusal is None and self.member_of.get(address, NO_BRANCH) != branch_id:
            refusal = "StaffNotInBranch", (account, branch_id)
        if refusal is not None:
            self.outcomes[f"remove refused: {refusal[0]}"] += 1
            with reverts_with(refusal[0], *refusal[1]):
                self.directory.removeStaff.call(branch_id, account, {"from": sender})
            return

        tx = self.directory.removeStaff(branch_id, account, {"from": sender})

        self._check_membership_events(tx, sender)
        assert tx.events["StaffLeftBranch"]["account"] == address
        assert tx.events["RoleRevoked"]["account"] == address
        del self.member_of[address]
        self.agents.discard(address)
        self.outcomes["removed"] += 1

    # -- invariants

    @invariant()
    def the_chain_matches_the_model(self) -> None:
        """Every account's branch is the model's; every branch member holds the agent role, and
        exactly the model's accounts do; every branch has the model's manager."""
        people = [address_of(account) for account in self.people if address_of(account) != ZERO_ADDRESS]
        calls = [(self.directory, "branchOf(address)", ["address"], [person]) for person in people]
        calls += [
            (self.registry, "hasRole(bytes32,address)", ["bytes32", "address"], [AGENT_ROLE, person])
            for person in people
        ]
        calls += [(self.directory, "branchInfo(uint32)", ["uint32"], [branch_id]) for branch_id in self.managers]
        words = read_many(calls)
        branch_of = dict(zip(people, words[: len(people)], strict=True))
        is_agent_now = dict(zip(people, words[len(people) : 2 * len(people)], strict=True))
        managers = dict(zip(self.managers, words[2 * len(people) :], strict=True))

        for person in people:
            assert int.from_bytes(branch_of[person], "big") == self.member_of.get(person, NO_BRANCH), person
            holds = int.from_bytes(is_agent_now[person], "big") == 1
            assert holds == (person in self.agents), person
            if person in self.member_of:
                assert holds, f"{person} is in branch {self.member_of[person]} without the agent role"
        for branch_id, info in managers.items():
            assert "0x" + info[44:64].hex() == self.managers[branch_id].lower(), branch_id


def test_branch_membership_follows_the_model_and_branch_managers_stay_in_their_branch(
    directory,
    registry,
    manager,
    admin,
    stranger,
    agent,
    agent2,
    auditor,
    lisbon_manager,
    porto_manager,
    newcomers,
    lisbon,
    porto,
    prompt_receipts,
):
    assert bytes(registry.AGENT_ROLE()) == AGENT_ROLE
    BranchMachine.directory, BranchMachine.registry, BranchMachine.manager = directory, registry, manager
    BranchMachine.preloaded = {lisbon: address_of(lisbon_manager), porto: address_of(porto_manager)}
    BranchMachine.preloaded_names = frozenset({name_of(LISBON), name_of(PORTO)})
    assert directory.branchCount() == len(BranchMachine.preloaded)
    # Would-be branch managers, then outsiders: a branch manager may add itself; the auditor is
    # staff already, whom only the registry manager may make an agent.
    BranchMachine.callers = (manager, lisbon_manager, porto_manager, admin, stranger)
    BranchMachine.people = (*newcomers, agent, auditor, lisbon_manager, ZERO_ADDRESS)
    BranchMachine.initial_agents = frozenset({address_of(agent), address_of(agent2)})
    BranchMachine.other_staff = frozenset({address_of(auditor), address_of(manager)})
    BranchMachine.outcomes = Counter()
    chain.snapshot()

    run_state_machine_as_test(BranchMachine, settings=MACHINE_SETTINGS)

    outcomes = BranchMachine.outcomes
    print(dict(outcomes))
    assert all(outcomes[name] > 0 for name in ("created", "manager set", "added", "removed")), outcomes
