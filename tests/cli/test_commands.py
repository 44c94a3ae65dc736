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
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


ALL = list(_commands(root))
LEAVES = [(path, command) for path, command in ALL if not isinstance(command, click.Group)]


@pytest.mark.parametrize("path", [path for path, _ in ALL], ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    shown = cli_for({})(*path, "--help")

    assert shown.exit_code == 0
    usage = shown.stdout.splitlines()[0]
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


def test_an_unknown_command_is_a_usage_error() -> None:
    refused = cli_for({})("customers")

    assert "No such command 'customers'" in refused.usage_error


def test_the_home_option_comes_before_the_command(tmp_path) -> None:
    listed = cli_for({"CHAINCRM_HOME": None})("--home", tmp_path, "key", "list", "--json")

    assert listed.json() == []
