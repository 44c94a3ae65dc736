# ruff: noqa: F811 - the fixtures imported from branch_fixtures are parameters here
"""`chaincrm branch ...` as a user runs it, against a real Anvil: results, the contract's refusals by
name in one line, and bad input refused in one line before anything is sent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from tests.branches.branch_fixtures import (  # noqa: F401 - fixtures
    People,
    branch_anvil,
    branch_chain,
    cli_in,
    crm,
    people,
    register_customer,
    settings_in,
    snapshot,
)
from tests.cli.conftest import Cli, cli_for, environment_for

pytestmark = pytest.mark.usefixtures("snapshot")


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, crm: Crm, people: People) -> Cli:
    """`chaincrm` over the module's deployment, with a keystore for every person."""
    return cli_in(tmp_path_factory.mktemp("branch-home"), crm, people)


def test_a_manager_creates_a_branch_and_it_is_listed(cli: Cli, people: People) -> None:
    created = cli("branch", "create", "lisbon", "--keystore", people.manager.address, "--json").json()
    listed = cli("branch", "list", "--json").json()
    shown = cli("branch", "list")

    assert created == {"branch_id": 1, "name": "lisbon"}
    assert listed == [{"branch_id": 1, "name": "lisbon", "manager": None}]
    assert "lisbon" in shown.stdout


def test_naming_the_manager_by_branch_name_or_id_and_removing_it(cli: Cli, people: People) -> None:
    cli("branch", "create", "lisbon", "--keystore", people.manager.address)

    named = cli("branch", "manager", "lisbon", people.lisbon_boss.address, "--keystore", people.manager.address)
    again = cli("branch", "manager", "1", people.lisbon_boss.address, "--keystore", people.manager.address, "--json")
    removed = cli("branch", "manager", "1", "none", "--keystore", people.manager.address, "--json")

    assert named.exit_code == 0 and f"managed by {people.lisbon_boss.address}" in named.stdout
    assert again.json()["changed"] is False
    assert removed.json()["manager"] is None and removed.json()["changed"] is True
    assert cli("branch", "list", "--json").json()[0]["manager"] is None


def test_a_branch_manager_adds_and_removes_staff_of_their_branch(cli: Cli, crm: Crm, people: People) -> None:
    cli("branch", "create", "lisbon", "--keystore", people.manager.address)
    cli("branch", "manager", "lisbon", people.lisbon_boss.address, "--keystore", people.manager.address)

    added = cli("branch", "add-staff", "lisbon", people.newcomer.address, "--keystore", people.lisbon_boss.address)
    twice = cli(
        "branch", "add-staff", "lisbon", people.newcomer.address, "--keystore", people.lisbon_boss.address, "--json"
    )
    assert added.exit_code == 0 and "joined branch lisbon" in added.stdout
    assert twice.json()["changed"] is False
    assert crm.branches.branch_of(people.newcomer.address) == 1

    removed = cli("branch", "remove-staff", "1", people.newcomer.address, "--keystore", people.lisbon_boss.address)

    assert removed.exit_code == 0 and "left branch lisbon" in removed.stdout
    assert crm.branches.branch_of(people.newcomer.address) is None


def test_the_contracts_refusals_print_their_names_in_one_line(cli: Cli, crm: Crm, people: People) -> None:
    for name, boss in (("lisbon", people.lisbon_boss), ("porto", people.porto_boss)):
        cli("branch", "create", name, "--keystore", people.manager.address)
        cli("branch", "manager", name, boss.address, "--keystore", people.manager.address)
    cli("branch", "add-staff", "porto", people.newcomer.address, "--keystore", people.porto_boss.address)

    not_a_manager = cli("branch", "create", "faro", "--keystore", people.lisbon_boss.address)
    other_branch = cli(
        "branch", "add-staff", "porto", people.newcomer2.address, "--keystore", people.lisbon_boss.address
    )
    take_over = cli("branch", "add-staff", "lisbon", people.veteran.address, "--keystore", people.lisbon_boss.address)
    remove_other = cli(
        "branch", "remove-staff", "porto", people.newcomer.address, "--keystore", people.lisbon_boss.address
    )

    assert not_a_manager.error == f"error: NotRegistryManager(caller={people.lisbon_boss.address})"
    assert other_branch.error == f"error: NotBranchManager(branchId=2, caller={people.lisbon_boss.address})"
    assert take_over.error == f"error: StaffAlreadyAgent(account={people.veteran.address})"
    assert remove_other.error == f"error: NotBranchManager(branchId=2, caller={people.lisbon_boss.address})"
    assert crm.branches.branch_of(people.newcomer2.address) is None


def test_a_customer_is_assigned_by_its_id(cli: Cli, crm: Crm, people: People) -> None:
    cli("branch", "create", "lisbon", "--keystore", people.manager.address)
    customer_id = register_customer(crm, people.veteran)

    assigned = cli("branch", "assign-customer", "lisbon", customer_id, "--keystore", people.manager.address, "--json")
    unknown = cli("branch", "assign-customer", "lisbon", 999, "--keystore", people.manager.address)

    assert assigned.json()["changed"] is True and assigned.json()["customer_id"] == customer_id
    assert crm.branches.customer_branch_of(customer_id) == 1
    assert unknown.error == "error: CustomerUnknown(customerId=999)"


def test_an_unknown_branch_is_one_line_listing_the_known_names(cli: Cli, people: People) -> None:
    cli("branch", "create", "lisbon", "--keystore", people.manager.address)
    cli("branch", "create", "porto", "--keystore", people.manager.address)

    by_name = cli("branch", "add-staff", "madrid", people.newcomer.address, "--keystore", people.manager.address)
    by_id = cli("branch", "manager", "7", people.newcomer.address, "--keystore", people.manager.address)

    assert by_name.error == "error: unknown branch 'madrid' (branches: lisbon, porto)"
    assert by_id.error == "error: unknown branch '7' (branches: lisbon, porto)"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("create", "x" * 33), "33 bytes long"),
        (("create", "two words"), "visible ASCII"),
        (("create", "42"), "only digits"),
        (("add-staff", "0", "0x" + "11" * 20), "out of range"),
        (("add-staff", "y" * 40, "0x" + "11" * 20), "neither a branch id nor a branch name"),
        (("add-staff", "lisbon", "0x1234"), "is not an address"),
        (("manager", "lisbon", "nobody"), "is not an address"),
        (("assign-customer", "lisbon", "0"), "CUSTOMER"),
    ],
)
def test_bad_input_is_refused_in_one_line_and_sends_nothing(
    cli: Cli, crm: Crm, people: People, args: tuple[str, ...], says: str
) -> None:
    before = crm.chain.block_number()

    result = cli("branch", *args, "--keystore", people.manager.address)

    assert says in result.usage_error
    assert crm.chain.block_number() == before


def test_a_record_without_a_branch_directory_says_so_in_one_line(tmp_path: Path, crm: Crm, people: People) -> None:
    settings = settings_in(tmp_path, crm)
    save_record(dataclasses.replace(crm.deployment, branches=None), settings.deployment_path)
    old = cli_for(environment_for(settings))

    listed = old("branch", "list")
    created = old("branch", "create", "lisbon", "--keystore", people.manager.address)

    assert "has no branch directory" in listed.error
    assert "has no branch directory" in created.error
