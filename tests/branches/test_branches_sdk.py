# ruff: noqa: F811 - the fixtures imported from branch_fixtures are parameters here
"""The BranchDirectory through the SDK, against a real Anvil: each write's happy path and every
refusal, by its decoded error name."""

from __future__ import annotations

import dataclasses

import pytest

from chaincrm.chain.reverts import revert_type
from chaincrm.contracts.branches import Branch, decode_branch_name, encode_branch_name
from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError, ContractRevert
from chaincrm.models import Role
from tests.branches.branch_fixtures import (  # noqa: F401 - fixtures
    People,
    branch_anvil,
    branch_chain,
    crm,
    people,
    register_customer,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("snapshot")


def lisbon(crm: Crm, people: People) -> int:
    """The lisbon branch, managed by lisbon_boss."""
    branch_id = crm.branches.create_branch("lisbon", people.manager)
    crm.branches.set_branch_manager(branch_id, people.lisbon_boss.address, people.manager)
    return branch_id


def porto(crm: Crm, people: People) -> int:
    branch_id = crm.branches.create_branch("porto", people.manager)
    crm.branches.set_branch_manager(branch_id, people.porto_boss.address, people.manager)
    return branch_id


def refused(error: pytest.ExceptionInfo[ContractRevert], error_name: str, **args: object) -> None:
    assert isinstance(error.value, revert_type(error_name)), error.value
    assert error.value.name == error_name
    for key, value in args.items():
        assert error.value.args_by_name[key] == value, error.value


# ------------------------------------------------------------------ creating and naming


def test_a_manager_creates_branches_numbered_from_one_and_lists_them(crm: Crm, people: People) -> None:
    first = crm.branches.create_branch("lisbon", people.manager)
    second = crm.branches.create_branch("sales-north", people.manager)

    assert (first, second) == (1, 2)
    assert crm.branches.branches() == [Branch(1, "lisbon", None), Branch(2, "sales-north", None)]
    assert crm.branches.branch_id_of("sales-north") == 2
    assert crm.branches.branch_id_of("madrid") is None


def test_a_name_is_stored_right_padded_in_32_bytes_and_read_back() -> None:
    encoded = encode_branch_name("lisbon")

    assert encoded == b"lisbon" + b"\0" * 26
    assert decode_branch_name(encoded) == "lisbon"
    assert decode_branch_name("0x" + encoded.hex()) == "lisbon"
    assert decode_branch_name(b"\xff" * 32) == "0x" + "ff" * 32


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "cannot be empty"),
        ("x" * 33, "33 bytes long; at most 32"),
        ("lisboa-é", "visible ASCII"),
        ("two words", "visible ASCII"),
        ("2024", "only digits"),
    ],
)
def test_a_bad_name_is_refused_in_one_line_before_anything_is_sent(
    crm: Crm, people: People, name: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=says) as error:
        crm.branches.create_branch(name, people.manager)

    assert "\n" not in str(error.value)
    assert crm.branches.branch_count() == 0


def test_a_taken_name_reverts_with_branch_name_taken(crm: Crm, people: People) -> None:
    crm.branches.create_branch("lisbon", people.manager)

    with pytest.raises(ContractRevert) as error:
        crm.branches.create_branch("lisbon", people.manager)

    refused(error, "BranchNameTaken", name=encode_branch_name("lisbon"))


def test_someone_who_is_not_a_registry_manager_cannot_create_a_branch(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)

    for outsider in (people.lisbon_boss, people.veteran, people.stranger):
        with pytest.raises(ContractRevert) as error:
            crm.branches.create_branch("porto", outsider)
        refused(error, "NotRegistryManager", caller=outsider.address)
    assert crm.branches.branch_count() == branch_id


def test_only_a_registry_manager_names_a_branch_manager_and_none_removes_it(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)

    with pytest.raises(ContractRevert) as error:
        crm.branches.set_branch_manager(branch_id, people.stranger.address, people.lisbon_boss)
    refused(error, "NotRegistryManager", caller=people.lisbon_boss.address)
    assert crm.branches.branch(branch_id).manager == people.lisbon_boss.address

    crm.branches.set_branch_manager(branch_id, None, people.manager)

    assert crm.branches.branch(branch_id) == Branch(branch_id, "lisbon", None)


def test_an_unknown_branch_id_reverts_with_branch_unknown(crm: Crm, people: People) -> None:
    lisbon(crm, people)

    with pytest.raises(ContractRevert) as error:
        crm.branches.add_staff(7, people.newcomer.address, people.manager)

    refused(error, "BranchUnknown", branchId=7)


# ------------------------------------------------------------------ staff


def test_a_branch_manager_brings_a_newcomer_in_as_an_agent_of_the_branch(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)

    crm.branches.add_staff(branch_id, people.newcomer.address, people.lisbon_boss)

    assert crm.branches.branch_of(people.newcomer.address) == branch_id
    assert crm.registry.has_role(Role.AGENT, people.newcomer.address)
    assert crm.branches.branch_of(people.stranger.address) is None


def test_a_branch_manager_cannot_add_staff_to_another_branch(crm: Crm, people: People) -> None:
    lisbon(crm, people)
    porto_id = porto(crm, people)

    with pytest.raises(ContractRevert) as error:
        crm.branches.add_staff(porto_id, people.newcomer.address, people.lisbon_boss)

    refused(error, "NotBranchManager", branchId=porto_id, caller=people.lisbon_boss.address)
    assert not crm.registry.has_role(Role.AGENT, people.newcomer.address)


def test_a_branch_manager_cannot_take_over_an_agent_granted_elsewhere(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)

    with pytest.raises(ContractRevert) as error:
        crm.branches.add_staff(branch_id, people.veteran.address, people.lisbon_boss)

    refused(error, "StaffAlreadyAgent", account=people.veteran.address)
    assert crm.branches.branch_of(people.veteran.address) is None


def test_a_registry_manager_may_bring_an_existing_agent_into_a_branch(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)

    crm.branches.add_staff(branch_id, people.veteran.address, people.manager)

    assert crm.branches.branch_of(people.veteran.address) == branch_id


def test_staff_of_one_branch_cannot_be_added_to_another(crm: Crm, people: People) -> None:
    lisbon_id = lisbon(crm, people)
    porto_id = porto(crm, people)
    crm.branches.add_staff(lisbon_id, people.newcomer.address, people.lisbon_boss)

    with pytest.raises(ContractRevert) as error:
        crm.branches.add_staff(porto_id, people.newcomer.address, people.manager)

    refused(error, "StaffInOtherBranch", account=people.newcomer.address, branchId=lisbon_id)


def test_a_branch_manager_cannot_remove_staff_of_another_branch(crm: Crm, people: People) -> None:
    lisbon_id = lisbon(crm, people)
    porto_id = porto(crm, people)
    crm.branches.add_staff(porto_id, people.newcomer.address, people.porto_boss)

    with pytest.raises(ContractRevert) as by_other_manager:
        crm.branches.remove_staff(porto_id, people.newcomer.address, people.lisbon_boss)
    with pytest.raises(ContractRevert) as through_own_branch:
        crm.branches.remove_staff(lisbon_id, people.newcomer.address, people.lisbon_boss)

    refused(by_other_manager, "NotBranchManager", branchId=porto_id, caller=people.lisbon_boss.address)
    refused(through_own_branch, "StaffNotInBranch", account=people.newcomer.address, branchId=lisbon_id)
    assert crm.registry.has_role(Role.AGENT, people.newcomer.address)


def test_removing_staff_takes_away_the_agent_role(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)
    crm.branches.add_staff(branch_id, people.newcomer.address, people.lisbon_boss)

    crm.branches.remove_staff(branch_id, people.newcomer.address, people.lisbon_boss)

    assert crm.branches.branch_of(people.newcomer.address) is None
    assert not crm.registry.has_role(Role.AGENT, people.newcomer.address)


def test_a_stranger_cannot_add_or_remove_staff(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)

    with pytest.raises(ContractRevert) as error:
        crm.branches.add_staff(branch_id, people.newcomer.address, people.stranger)

    refused(error, "NotBranchManager", branchId=branch_id, caller=people.stranger.address)


# ------------------------------------------------------------------ customers


def test_a_branch_manager_assigns_an_unassigned_customer_to_the_branch(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)
    customer_id = register_customer(crm, people.veteran)

    crm.branches.assign_customer(branch_id, customer_id, people.lisbon_boss)

    assert crm.branches.customer_branch_of(customer_id) == branch_id


def test_a_branch_manager_cannot_take_a_customer_from_another_branch(crm: Crm, people: People) -> None:
    lisbon_id = lisbon(crm, people)
    porto_id = porto(crm, people)
    customer_id = register_customer(crm, people.veteran)
    crm.branches.assign_customer(porto_id, customer_id, people.porto_boss)

    with pytest.raises(ContractRevert) as error:
        crm.branches.assign_customer(lisbon_id, customer_id, people.lisbon_boss)
    refused(error, "CustomerInOtherBranch", customerId=customer_id, branchId=porto_id)

    crm.branches.assign_customer(lisbon_id, customer_id, people.manager)  # a registry manager may move it
    assert crm.branches.customer_branch_of(customer_id) == lisbon_id


def test_assigning_a_customer_that_does_not_exist_reverts_with_customer_unknown(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)

    with pytest.raises(ContractRevert) as error:
        crm.branches.assign_customer(branch_id, 999, people.manager)

    refused(error, "CustomerUnknown", customerId=999)
    assert crm.branches.customer_branch_of(999) is None


# ------------------------------------------------------------------ reading


def test_a_branch_is_found_by_name_or_id_and_an_unknown_one_lists_the_names(crm: Crm, people: People) -> None:
    lisbon_id = lisbon(crm, people)
    porto(crm, people)

    assert crm.branches.resolve("lisbon").branch_id == lisbon_id
    assert crm.branches.resolve(str(lisbon_id)).name == "lisbon"
    with pytest.raises(ConfigError, match=r"^unknown branch 'madrid' \(branches: lisbon, porto\)$"):
        crm.branches.resolve("madrid")
    with pytest.raises(ConfigError, match="unknown branch '9'"):
        crm.branches.resolve("9")


def test_the_roster_has_each_stay_with_its_blocks_and_times(crm: Crm, people: People) -> None:
    branch_id = lisbon(crm, people)
    joined = crm.branches.add_staff(branch_id, people.newcomer.address, people.lisbon_boss)
    left = crm.branches.remove_staff(branch_id, people.newcomer.address, people.lisbon_boss)
    rejoined = crm.branches.add_staff(branch_id, people.newcomer.address, people.manager)

    roster = crm.branches.roster(crm.deployment.block_number)

    assert roster.branches == (Branch(branch_id, "lisbon", people.lisbon_boss.address),)
    stays = [(p.joined_block, p.left_block) for p in roster.periods]
    assert stays == [
        (joined["blockNumber"], left["blockNumber"]),
        (rejoined["blockNumber"], None),
    ]
    first = roster.periods[0]
    assert first.joined_at == crm.chain.block_timestamp(joined["blockNumber"])
    assert first.left_at == crm.chain.block_timestamp(left["blockNumber"])
    assert roster.members(branch_id) == frozenset({people.newcomer.address})


def test_a_deployment_without_a_branch_directory_says_so_in_one_line(crm: Crm) -> None:
    old = Crm.attach(crm.chain, dataclasses.replace(crm.deployment, branches=None), check=False)

    with pytest.raises(ConfigError, match="has no branch directory") as error:
        old.branches.branches()

    assert "\n" not in str(error.value)
