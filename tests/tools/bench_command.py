"""Running a load benchmark through its click command at a small size (tests/tools/test_bench_*.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import click
from click.testing import CliRunner

from chaincrm.cli.context import App
from chaincrm.config import Settings


def run_bench_command(
    command: click.Command,
    module: ModuleType,
    name: str,
    small: Callable[..., Any],
    options: dict[str, int],
    out: Path,
    home: Path,
) -> tuple[dict[str, Any], str]:
    """Invoke `command` with `options` and ``--out OUT``, `module`'s function `name` replaced by
    `small` (it sets the sizes the command does not take); the figures it wrote and what it printed."""
    arguments = [str(item) for pair in options.items() for item in pair] + ["--out", str(out)]
    with mock.patch.object(module, name, small):
        run = CliRunner().invoke(command, arguments, obj=App(Settings(home=home)), catch_exceptions=False)

    assert run.exit_code == 0, run.output
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures, run.output
