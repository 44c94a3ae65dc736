"""The command tree as a whole, lazily loaded commands included: help of its own everywhere, JSON wherever
data is printed, a keystore wherever a transaction is sent, global options."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from chaincrm.cli.commands import cli as root
from tests.cli.conftest import cli_for

# Every leaf command, by what it does. A new command must be added to exactly one of these, which
# decides what it must offer: a command that sends a transaction signs with --keystore, and every
# command except the tools prints its result as --json as well.
SENDS = {
    ("batch", "flush"),
    ("batch", "run"),
    ("automate",),  # logs each reminder as an interaction
    ("branch", "add-staff"),
    ("branch", "assign-customer"),
    ("branch", "create"),
    ("branch", "manager"),
    ("branch", "remove-staff"),
    ("customer", "accept-wallet"),
    ("customer", "add"),
    ("customer", "approve-wallet"),
    ("customer", "consent"),
    ("customer", "erase"),
    ("customer", "grant"),
    ("customer", "propose-wallet"),
    ("customer", "relay"),
    ("customer", "reseal"),
    ("customer", "revoke"),
    ("customer", "update"),
    ("deal", "attach"),
    ("deal", "lose"),
    ("deal", "move"),
    ("deal", "open"),
    ("deal", "reissue"),
    ("deploy",),
    ("interaction", "log"),
    ("invoice", "cancel"),
    ("invoice", "confirm"),
    ("invoice", "dispute"),
    ("invoice", "pay"),
    ("invoice", "record-offchain"),
    ("invoice", "reclaim"),
    ("invoice", "refund"),
    ("invoice", "release"),
    ("invoice", "treasury", "accept"),
    ("invoice", "treasury", "cancel"),
    ("invoice", "treasury", "propose"),
    ("invoice", "withdraw"),
    ("key", "publish"),
    ("loyalty", "rates"),  # shows the rates without --earn/--worth
    ("offer", "accept"),
    ("offer", "cancel"),
    ("staff", "add"),
    ("staff", "key"),
    ("staff", "remove"),
    ("token", "allow"),
    ("token", "disallow"),
}
PRINTS = {
    ("batch", "status"),
    ("deploy", "networks"),
    ("node", "join"),
    ("node", "peers"),
    ("node", "replicate"),
    ("node", "swarm-key", "new"),
    ("node", "sweep"),
    ("api-key", "create"),
    ("api-key", "list"),
    ("api-key", "revoke"),
    ("branch", "list"),
    ("customer", "list"),
    ("customer", "show"),
    ("customer", "sign-wallet-acceptance"),  # signs a message for someone else to relay; sends nothing
    ("customer", "timeline"),
    ("deal", "document"),
    ("deal", "list"),
    ("deal", "show"),
    ("index",),
    ("interaction", "list"),
    ("interaction", "show"),
    ("invoice", "list"),
    ("invoice", "receipt"),
    ("invoice", "show"),
    ("invoice", "treasury", "show"),
    ("invoice", "uri"),
    ("key", "list"),
    ("key", "new"),
    ("loyalty", "balance"),
    ("me", "access"),
    ("me", "all"),
    ("me", "consents"),
    ("me", "deals"),
    ("me", "interactions"),
    ("me", "invoices"),
    ("me", "points"),
    ("me", "profile"),
    ("me", "refunds"),
    ("node", "down"),
    ("node", "status"),
    ("node", "up"),
    ("offer", "issue"),  # signs an offer for the customer to accept; sends nothing
    ("offer", "report"),
    ("offer", "show"),
    ("offer", "suggest"),
    ("report",),
    ("staff", "list"),
    ("staff", "show"),
    ("token", "list"),
    ("verify", "erasure"),
    ("verify", "interaction"),
    ("verify", "payment"),
    ("verify", "stage"),
    ("webhook", "add"),
    ("webhook", "deliveries"),
    ("webhook", "list"),
    ("webhook", "remove"),
    ("webhook", "replay"),
}
# Tools that start their own chain with its development accounts and print a report rather than
# data, and the portal's server (its relayer keystore is --relayer-keystore): no --keystore, no --json.
TOOLS = {
    ("demo",),
    ("bench", "api"),
    ("bench", "faults"),
    ("bench", "gas"),
    ("bench", "index"),
    ("bench", "keeper"),
    ("bench", "serve"),
    ("bench", "throughput"),
    ("serve",),
}


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under `group`, through `get_command`, so the lazily imported ones included."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


ALL = list(_commands(root))
# A group that runs itself as well (`chaincrm deploy`, with `chaincrm deploy networks` under it) is a
# command in its own right.
LEAVES = {
    path: command for path, command in ALL if not isinstance(command, click.Group) or command.invoke_without_command
}


def _ids(value: object) -> str:
    return " ".join(value) if isinstance(value, tuple) else ""


def _options(command: click.Command) -> set[str]:
    return {option for param in command.params for option in param.opts}


def _words(text: str) -> str:
    return " ".join(text.split())


def _letters(text: str) -> str:
    """`text` without its whitespace: click re-wraps help, breaking lines at spaces and hyphens."""
    return "".join(text.split())


def test_every_command_is_classified_once_as_sending_printing_or_a_tool() -> None:
    classified = [*SENDS, *PRINTS, *TOOLS]

    assert len(classified) == len(set(classified)), "a command is in two classes"
    assert set(classified) == set(LEAVES), (set(LEAVES) - set(classified), set(classified) - set(LEAVES))


@pytest.mark.parametrize("path", sorted(SENDS), ids=_ids)
def test_every_command_that_sends_a_transaction_signs_with_a_keystore(path: tuple[str, ...]) -> None:
    shown = cli_for({})(*path, "--help")

    assert "--keystore" in _options(LEAVES[path])
    assert "--keystore" in shown.stdout  # offered, not hidden


@pytest.mark.parametrize("path", sorted(SENDS | PRINTS), ids=_ids)
def test_every_command_that_prints_data_has_a_json_option(path: tuple[str, ...]) -> None:
    shown = cli_for({})(*path, "--help")

    assert "--json" in _options(LEAVES[path])
    assert "--json" in shown.stdout


def test_no_command_takes_a_private_key() -> None:
    options = set().union(*(_options(command) for _, command in ALL))

    assert not {option for option in options if "private" in option or option == "--key"}


@pytest.mark.parametrize("path, command", ALL, ids=_ids)
def test_every_command_has_help_of_its_own(path: tuple[str, ...], command: click.Command) -> None:
    shown = cli_for({})(*path, "--help")

    assert shown.exit_code == 0, shown.stderr
    usage = _words(shown.stdout.split("\n\n")[0])  # long usage lines wrap
    assert usage.startswith("Usage: ") and f"chaincrm {' '.join(path)} [OPTIONS]" in usage
    assert command.help and command.help.strip(), f"{' '.join(path)} has no help text"
    assert _letters(command.help) in _letters(shown.stdout)  # shown whole, under the usage line
    same = [other for other, twin in ALL if twin is not command and twin.help == command.help]
    assert not same, f"{' '.join(path)} repeats the help of {same}"


def test_the_index_command_is_listed_although_it_is_imported_only_when_used() -> None:
    assert ("index",) in [path for path, _ in ALL]


def test_every_command_of_trust_model_v2_is_registered() -> None:
    paths = {path for path, _ in ALL}

    assert {
        ("customer", "propose-wallet"),
        ("customer", "accept-wallet"),
        ("customer", "sign-wallet-acceptance"),
        ("customer", "relay"),
        ("customer", "reseal"),
        ("customer", "list"),
        ("staff", "remove"),
        ("staff", "list"),
        ("interaction", "show"),
        ("invoice", "withdraw"),
        ("invoice", "reclaim"),
        ("invoice", "release"),
        ("invoice", "dispute"),
        ("invoice", "treasury", "propose"),
        ("invoice", "treasury", "accept"),
        ("invoice", "treasury", "cancel"),
        ("invoice", "treasury", "show"),
        ("deal", "reissue"),
        ("deal", "attach"),
        ("deal", "document"),
    } <= paths


def test_the_help_of_a_changed_flag_says_what_it_means_now() -> None:
    add = cli_for({})("customer", "add", "--help").stdout
    refund = cli_for({})("invoice", "refund", "--help").stdout

    assert "only PROPOSES" in add and "CREDITED" in refund


def test_an_unknown_command_is_a_usage_error() -> None:
    refused = cli_for({})("customers")

    assert "No such command 'customers'" in refused.usage_error


def test_the_home_option_comes_before_the_command(tmp_path) -> None:
    listed = cli_for({"CHAINCRM_HOME": None})("--home", tmp_path, "key", "list", "--json")

    assert listed.json() == []
