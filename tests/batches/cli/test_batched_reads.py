"""Batched interactions in the CLI's chain reads: `interaction show` numbers them as `interaction
list` does and decrypts them, and `me interactions` shows them to the customer."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Accounts, Cli, Run

pytestmark = pytest.mark.usefixtures("snapshot")


def log(cli: Cli, accounts: Accounts, customer: int, note: str, *extra: object) -> Run:
    return cli(
        "interaction", "log", customer, "--kind", "call", "--note", note, "--keystore", accounts.agent.address, *extra
    )


def test_interaction_show_numbers_batched_records_as_interaction_list_does(
    cli: Cli, accounts: Accounts, customer_id: int
) -> None:
    log(cli, accounts, customer_id, "first, on its own")
    log(cli, accounts, customer_id, "second, batched", "--batched")
    log(cli, accounts, customer_id, "third, batched", "--batched")
    cli("batch", "flush", "--keystore", accounts.agent.address)
    log(cli, accounts, customer_id, "fourth, on its own")

    listed = cli("interaction", "list", customer_id, "--from-chain", "--json").json()
    shown = cli("interaction", "show", customer_id, "--keystore", accounts.customer.address, "--json").json()
    (third,) = cli(
        "interaction", "show", customer_id, "--keystore", accounts.manager.address, "--index", 3, "--json"
    ).json()

    assert [row["index"] for row in listed] == [1, 2, 3, 4]
    assert [(row["index"], row["content_hash"]) for row in shown] == [
        (row["index"], row["content_hash"]) for row in listed
    ]
    assert [row["note"] for row in shown] == [
        "first, on its own",
        "second, batched",
        "third, batched",
        "fourth, on its own",
    ]
    assert third["note"] == "third, batched" and third["content_hash"] == listed[2]["content_hash"]


def test_the_customer_sees_their_batched_interactions(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    log(cli, accounts, customer_id, "on its own")
    log(cli, accounts, customer_id, "batched", "--batched")
    cli("batch", "flush", "--keystore", accounts.agent.address)

    found = cli("me", "interactions", "--keystore", accounts.customer.address, "--json").json()

    assert [(row["note"], row["unreadable"]) for row in found] == [("on its own", None), ("batched", None)]
