"""The click options the load benchmarks share (`chaincrm bench api`, `chaincrm bench serve`).

Importing this module imports click only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def out_option(default: str) -> Callable[[F], F]:
    return click.option(
        "--out",
        type=click.Path(path_type=Path, dir_okay=False),
        default=Path(default),
        show_default=True,
        help="Where to write the figures (its folder is created).",
    )


def interactions_option(default: int) -> Callable[[F], F]:
    return click.option("--interactions", default=default, show_default=True, type=click.IntRange(1_000, 1_000_000))


def requests_option(default: int, measured: str) -> Callable[[F], F]:
    """``--requests``: how many requests per `measured` (a read, a page) are timed."""
    return click.option(
        "--requests",
        default=default,
        show_default=True,
        type=click.IntRange(100, 1_000_000),
        help=f"Requests per {measured} measured.",
    )


def concurrency_option(default: int) -> Callable[[F], F]:
    return click.option("--concurrency", default=default, show_default=True, type=click.IntRange(1, 256))


__all__ = ["concurrency_option", "interactions_option", "out_option", "requests_option"]
