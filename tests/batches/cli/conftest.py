"""The CLI's real stack (tests/cli/conftest.py) for the batch commands, with the home's queue file
removed around each test (the chain is rewound after each; the queue would remember)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaincrm.config import Settings
from tests.cli.conftest import (  # noqa: F401 - fixtures
    accounts,
    cli,
    crm,
    customer_id,
    proposed_customer_id,
    pytest_configure,
    settings,
    snapshot,
    store,
)


@pytest.fixture(autouse=True)
def fresh_queue(settings: Settings) -> Iterator[None]:  # noqa: F811
    def remove() -> None:
        for path in settings.state_dir.glob("interaction-queue.sqlite*"):
            path.unlink()

    remove()
    yield
    remove()
