"""`chaincrm deal open|move|lose|show|list`."""

from __future__ import annotations

import pytest

from chaincrm.client import Crm
from chaincrm.models import Stage
from tests.cli.conftest import DEAL_VALUE_WEI, Accounts, Cli

pytestmark = pytest.mark.usefixtures("snapshot")

DEAL_KEYS = {"deal_id", "customer_id", "owner", "stage", "value_wei", "invoice_id", "opened_at"}
TX_KEYS = {"tx_hash", "block_number", "gas_used"}


def test_deal_open_opens_a_lead_owned_by_the_caller(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int) -> None:
    opened = cli("deal", "open", customer_id, "--value", "1.5", "--keystore", accounts.agent.address, "--json").json()

    assert set(opened) == DEAL_KEYS
    assert opened["stage"] == "lead" and opened["owner"] == accounts.agent.address
    assert opened["value_wei"] == str(15 * 10**17) and opened["invoice_id"] is None
    assert crm.pipeline.deal(opened["deal_id"]).customer_id == customer_id


@pytest.mark.parametrize("value, wei", [("2eth", 2 * 10**18), ("250 gwei", 250 * 10**9), ("12345wei", 12345)])
def test_deal_open_reads_the_value_in_ether_gwei_or_wei(
    cli: Cli, accounts: Accounts, customer_id: int, value: str, wei: int
) -> None:
    opened = cli("deal", "open", customer_id, "--value", value, "--keystore", accounts.agent.address, "--json").json()

    assert opened["value_wei"] == str(wei)


def test_deal_open_for_another_agent_makes_them_the_owner(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    opened = cli(
        "deal",
        "open",
        customer_id,
        "--value",
        "1",
        "--owner",
        accounts.manager.address,
        "--keystore",
        accounts.agent.address,
        "--json",
    ).json()

    assert opened["owner"] == accounts.manager.address


@pytest.mark.parametrize("value", ["abc", "-1", "0.0000000000000000001", "1.5btc"])
def test_deal_open_with_a_bad_amount_is_a_usage_error_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, value: str
) -> None:
    refused = cli("deal", "open", customer_id, "--value", value, "--keystore", accounts.agent.address)

    assert "Invalid value for '--value'" in refused.usage_error
    assert crm.pipeline.deal_count() == 0


def test_deal_open_with_a_zero_value_is_refused_by_the_contract(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("deal", "open", customer_id, "--value", "0", "--keystore", accounts.agent.address)

    assert "DealValueInvalid" in refused.error
    assert crm.pipeline.deal_count() == 0


def test_deal_open_for_an_unknown_customer_changes_nothing(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    refused = cli("deal", "open", 999, "--value", "1", "--keystore", accounts.agent.address)

    assert "CustomerUnknown(customerId=999)" in refused.error
    assert crm.pipeline.deal_count() == 0


def test_deal_open_by_someone_who_is_not_an_agent_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("deal", "open", customer_id, "--value", "1", "--keystore", accounts.stranger.address)

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert crm.pipeline.deal_count() == 0


def test_deal_move_goes_one_stage_forward(cli: Cli, accounts: Accounts, deal_id: int) -> None:
    moved = cli("deal", "move", deal_id, "qualified", "--keystore", accounts.agent.address, "--json").json()

    assert set(moved) == DEAL_KEYS | TX_KEYS
    assert moved["stage"] == "qualified"


def test_deal_move_to_won_issues_the_invoice(cli: Cli, crm: Crm, accounts: Accounts, deal_id: int) -> None:
    for stage in ("qualified", "proposal", "negotiation", "contracting"):
        cli("deal", "move", deal_id, stage, "--keystore", accounts.agent.address)

    won = cli("deal", "move", deal_id, "won", "--keystore", accounts.agent.address)

    invoice_id = crm.pipeline.deal(deal_id).invoice_id
    assert invoice_id is not None
    assert f"invoice {invoice_id} issued for 1.5 ETH" in won.stdout
    assert crm.escrow.invoice(invoice_id).payer == accounts.customer.address


def test_deal_move_skipping_a_stage_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, deal_id: int
) -> None:
    refused = cli("deal", "move", deal_id, "won", "--keystore", accounts.agent.address)

    assert "DealStageTransitionInvalid" in refused.error
    assert crm.pipeline.deal(deal_id).stage is Stage.LEAD


def test_deal_move_by_someone_else_is_refused_and_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, deal_id: int
) -> None:
    refused = cli("deal", "move", deal_id, "qualified", "--keystore", accounts.stranger.address)

    assert "CallerNotDealOwnerOrManager" in refused.error
    assert crm.pipeline.deal(deal_id).stage is Stage.LEAD


def test_deal_move_by_a_manager_is_allowed(cli: Cli, crm: Crm, accounts: Accounts, deal_id: int) -> None:
    cli("deal", "move", deal_id, "qualified", "--keystore", accounts.manager.address)

    assert crm.pipeline.deal(deal_id).stage is Stage.QUALIFIED


def test_deal_move_to_lost_is_a_usage_error(cli: Cli, accounts: Accounts, deal_id: int) -> None:
    refused = cli("deal", "move", deal_id, "lost", "--keystore", accounts.agent.address)

    assert "Invalid value for 'STAGE'" in refused.usage_error


def test_deal_move_of_an_unknown_deal_is_one_line(cli: Cli, accounts: Accounts, customer_id: int) -> None:
    refused = cli("deal", "move", 999, "qualified", "--keystore", accounts.agent.address)

    assert "DealUnknown(dealId=999)" in refused.error


def test_deal_lose_marks_the_deal_lost_with_a_reason(cli: Cli, crm: Crm, accounts: Accounts, deal_id: int) -> None:
    lost = cli("deal", "lose", deal_id, "--reason", "no-budget", "--keystore", accounts.agent.address, "--json").json()

    assert lost["stage"] == "lost" and lost["reason"] == "no-budget"
    assert crm.pipeline.deal(deal_id).stage is Stage.LOST


def test_deal_lose_of_a_lost_deal_is_refused(cli: Cli, accounts: Accounts, deal_id: int) -> None:
    cli("deal", "lose", deal_id, "--reason", "price", "--keystore", accounts.agent.address)

    refused = cli("deal", "lose", deal_id, "--reason", "price", "--keystore", accounts.agent.address)

    assert "DealIsFinal" in refused.error


def test_deal_show_gives_the_deal_and_its_stage_history(cli: Cli, accounts: Accounts, deal_id: int) -> None:
    cli("deal", "move", deal_id, "qualified", "--keystore", accounts.agent.address)

    shown = cli("deal", "show", deal_id, "--json").json()

    assert set(shown) == DEAL_KEYS | {"history"}
    assert [(change["from"], change["to"]) for change in shown["history"]] == [("none", "lead"), ("lead", "qualified")]
    assert shown["value_wei"] == str(DEAL_VALUE_WEI)


def test_deal_show_of_an_unknown_deal_is_one_line(cli: Cli) -> None:
    refused = cli("deal", "show", 999)

    assert "DealUnknown(dealId=999)" in refused.error


def test_deal_list_filters_by_stage_and_customer(cli: Cli, accounts: Accounts, deal_id: int, customer_id: int) -> None:
    cli("deal", "open", customer_id, "--value", "1", "--keystore", accounts.agent.address)
    cli("deal", "move", deal_id, "qualified", "--keystore", accounts.agent.address)

    qualified = cli("deal", "list", "--stage", "qualified", "--json").json()
    of_customer = cli("deal", "list", "--customer", customer_id, "--json").json()
    of_nobody = cli("deal", "list", "--customer", customer_id + 1, "--json").json()

    assert [d["deal_id"] for d in qualified] == [deal_id]
    assert len(of_customer) == 2 and of_nobody == []


def test_deal_list_prints_a_table(cli: Cli, deal_id: int) -> None:
    listed = cli("deal", "list")

    assert "Deals" in listed.stdout and "1.5 ETH" in listed.stdout and "lead" in listed.stdout
