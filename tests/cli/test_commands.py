"""The command tree as a whole: help everywhere, JSON wherever data is printed, global options."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from chaincrm.cli.commands import cli as root
from tests.cli.conftest import cli_for

# Commands that print a report rather than data, and so have no --json.
NO_JSON = {("demo",), ("bench", "gas"), ("bench", "index"), ("bench", "throughput")}


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under `group`, the lazily imported ones included."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


ALL = list(_commands(root))
LEAVES = [(path, command) for path, command in ALL if not isinstance(command, click.Group)]


@pytest.mark.parametrize("path", [path for path, _ in ALL], ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    shown = cli_for({})(*path, "--help")

    assert shown.exit_code == 0
    usage = " ".join(shown.stdout.split("\n\n")[0].split())  # long usage lines wrap
    assert usage.startswith("Usage: ") and f"chaincrm {' '.join(path)} [OPTIONS]" in usage


@pytest.mark.parametrize(
    "path, command",
    [(p, c) for p, c in LEAVES if p not in NO_JSON],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_every_command_that_prints_data_has_a_json_option(path: tuple[str, ...], command: click.Command) -> None:
    assert "--json" in {option for param in command.params for option in param.opts}


def test_every_command_that_sends_takes_a_keystore_and_no_private_key() -> None:
    options = {option for _, command in LEAVES for param in command.params for option in param.opts}

    assert "--keystore" in options
    assert not {option for option in options if "private" in option or option == "--key"}


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
