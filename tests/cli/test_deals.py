"""`chaincrm deal open|move|lose|reissue|attach|document|show|list`."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaincrm.contracts.client import Crm
from chaincrm.models import InvoiceStatus, Purpose, Stage
from chaincrm.privacy.customers import CustomerData, public_key64
from chaincrm.storage import KuboStore
from tests.cli.conftest import DEAL_VALUE_WEI, Accounts, Cli

pytestmark = pytest.mark.usefixtures("snapshot")

DEAL_KEYS = {"deal_id", "customer_id", "owner", "stage", "value_wei", "invoice_id", "opened_at"}
CURRENCY_KEYS = {"currency", "currency_symbol", "currency_decimals"}
SHOW_KEYS = (
    DEAL_KEYS
    | CURRENCY_KEYS
    | {"discount_bps", "history", "invoices", "documents", "won_needs_manager", "source", "as_of_block"}
)
TX_KEYS = {"tx_hash", "block_number", "gas_used"}
THRESHOLD_WEI = 10 * 10**18  # the deployment's default approval threshold
PROPOSAL = b"Proposal: 12 months of support at 1.5 ETH, signed off by legal."
OPEN_STAGES = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING)


def _to_contracting(crm: Crm, deal: int, accounts: Accounts) -> None:
    for stage in OPEN_STAGES:
        crm.pipeline.move(deal, stage, accounts.agent)


@pytest.fixture
def proposal(tmp_path: Path) -> Path:
    path = tmp_path / "proposal.txt"
    path.write_bytes(PROPOSAL)
    return path


def test_deal_open_opens_a_lead_owned_by_the_caller(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int) -> None:
    opened = cli("deal", "open", customer_id, "--value", "1.5", "--keystore", accounts.agent.address, "--json").json()

    assert set(opened) == DEAL_KEYS | CURRENCY_KEYS
    assert (opened["currency"], opened["currency_symbol"]) == (None, "ETH")
    assert opened["stage"] == "lead" and opened["owner"] == accounts.agent.address
    assert opened["value_wei"] == str(15 * 10**17) and opened["invoice_id"] is None
    assert crm.pipeline.deal(opened["deal_id"]).customer_id == customer_id


@pytest.mark.parametrize("value, wei", [("2eth", 2 * 10**18), ("250 gwei", 250 * 10**9), ("12345wei", 12345)])
def test_deal_open_reads_the_value_in_ether_gwei_or_wei(
    cli: Cli, accounts: Accounts, customer_id: int, value: str, wei: int
) -> None:
    opened = cli("deal", "open", customer_id, "--value", value, "--keystore", accounts.agent.address, "--json").json()

    assert opened["value_wei"] == str(wei)


def test_deal_open_for_another_agent_with_a_grant_makes_them_the_owner(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, customer_id: int
) -> None:
    CustomerData(crm, store).grant(customer_id, accounts.marketer.address, Purpose.SALES, accounts.manager)

    opened = cli(
        "deal",
        "open",
        customer_id,
        "--value",
        "1",
        "--owner",
        accounts.marketer.address,
        "--keystore",
        accounts.agent.address,
        "--json",
    ).json()

    assert opened["owner"] == accounts.marketer.address


def test_deal_open_for_an_owner_without_a_grant_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli(
        "deal",
        "open",
        customer_id,
        "--value",
        "1",
        "--owner",
        accounts.marketer.address,
        "--keystore",
        accounts.agent.address,
    )

    assert f"DealOwnerWithoutAccess(customerId={customer_id}, owner={accounts.marketer.address})" in refused.error
    assert crm.pipeline.deal_count() == 0


def test_deal_open_by_an_agent_without_a_grant_on_the_customer_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    refused = cli("deal", "open", customer_id, "--value", "1", "--keystore", accounts.marketer.address)

    assert f"CallerWithoutAccess(customerId={customer_id}, caller={accounts.marketer.address})" in refused.error
    assert crm.pipeline.deal_count() == 0


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


def test_deal_move_to_won_above_the_approval_threshold_by_its_agent_names_the_approval_needed(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    value = THRESHOLD_WEI + 1
    deal = crm.pipeline.open_deal(customer_id, accounts.agent.address, value, accounts.agent)
    _to_contracting(crm, deal, accounts)

    refused = cli("deal", "move", deal, "won", "--keystore", accounts.agent.address)

    assert refused.error == f"error: DealNeedsApproval(dealId={deal}, valueWei={value}, thresholdWei={THRESHOLD_WEI})"
    assert crm.pipeline.deal(deal).stage is Stage.CONTRACTING and crm.escrow.invoice_count() == 0


def test_deal_move_to_won_above_the_approval_threshold_by_a_manager_issues_the_invoice(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    deal = crm.pipeline.open_deal(customer_id, accounts.agent.address, THRESHOLD_WEI + 1, accounts.agent)
    _to_contracting(crm, deal, accounts)

    won = cli("deal", "move", deal, "won", "--keystore", accounts.manager.address, "--json").json()

    assert won["stage"] == "won" and won["invoice_id"] == 1


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

    assert set(shown) == SHOW_KEYS
    assert [(change["from"], change["to"]) for change in shown["history"]] == [("none", "lead"), ("lead", "qualified")]
    assert shown["value_wei"] == str(DEAL_VALUE_WEI)
    assert (shown["invoices"], shown["documents"], shown["won_needs_manager"]) == ([], [], False)


def test_deal_show_lists_the_deals_invoices(cli: Cli, accounts: Accounts, deal_id: int, invoice_id: int) -> None:
    shown = cli("deal", "show", deal_id, "--json").json()

    assert shown["invoices"] == [
        {
            "invoice_id": invoice_id,
            "status": "open",
            "payer": accounts.customer.address,
            "amount_wei": str(DEAL_VALUE_WEI),
            "amount": "1.5 ETH",
            "due_at": shown["invoices"][0]["due_at"],
        }
    ]
    assert "Invoices" in cli("deal", "show", deal_id).stdout


def test_deal_show_says_when_moving_to_won_needs_a_manager(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int
) -> None:
    deal = crm.pipeline.open_deal(customer_id, accounts.agent.address, THRESHOLD_WEI + 1, accounts.agent)

    shown = cli("deal", "show", deal)

    assert "a manager (above 10 ETH)" in shown.stdout


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


# ------------------------------------------------------------------ reissue


def test_deal_reissue_by_a_manager_invoices_the_customers_new_wallet(
    cli: Cli, crm: Crm, accounts: Accounts, deal_id: int, invoice_id: int, customer_id: int
) -> None:
    crm.registry.propose_wallet(customer_id, accounts.stranger.address, accounts.customer)
    crm.registry.accept_wallet(customer_id, public_key64(accounts.stranger), accounts.stranger)

    reissued = cli("deal", "reissue", deal_id, "--keystore", accounts.manager.address, "--json").json()

    assert reissued["cancelled_invoice_id"] == invoice_id and reissued["payer"] == accounts.stranger.address
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.CANCELLED
    assert crm.pipeline.invoices_of(deal_id) == [invoice_id, reissued["invoice_id"]]
    shown = cli("deal", "show", deal_id, "--json").json()
    assert [i["status"] for i in shown["invoices"]] == ["cancelled", "open"]


def test_deal_reissue_by_an_agent_changes_nothing(
    cli: Cli, crm: Crm, accounts: Accounts, deal_id: int, invoice_id: int
) -> None:
    refused = cli("deal", "reissue", deal_id, "--keystore", accounts.agent.address)

    assert "AccessControlUnauthorizedAccount" in refused.error and "MANAGER_ROLE" in refused.error
    assert crm.pipeline.invoices_of(deal_id) == [invoice_id]


def test_deal_reissue_of_a_paid_invoice_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, deal_id: int, invoice_id: int
) -> None:
    crm.escrow.pay(invoice_id, accounts.customer)

    refused = cli("deal", "reissue", deal_id, "--keystore", accounts.manager.address)

    assert f"DealInvoiceSettled(dealId={deal_id}, invoiceId={invoice_id})" in refused.error


def test_deal_reissue_of_a_deal_that_is_not_won_is_refused(cli: Cli, accounts: Accounts, deal_id: int) -> None:
    refused = cli("deal", "reissue", deal_id, "--keystore", accounts.manager.address)

    assert f"DealNotWon(dealId={deal_id}, stage=1)" in refused.error


# ------------------------------------------------------------------ documents


def test_deal_attach_stores_the_document_encrypted(
    cli: Cli, crm: Crm, store: KuboStore, accounts: Accounts, deal_id: int, proposal: Path
) -> None:
    attached = cli(
        "deal", "attach", deal_id, proposal, "--kind", "proposal", "--keystore", accounts.agent.address, "--json"
    ).json()

    stored = store.get(attached["cid"])
    assert PROPOSAL not in stored and b"12 months" not in stored
    (document,) = cli("deal", "show", deal_id, "--json").json()["documents"]
    assert (document["kind"], document["cid"], document["author"]) == (
        "proposal",
        attached["cid"],
        accounts.agent.address,
    )


def test_deal_document_is_read_back_by_a_reader_of_the_customer(
    cli: Cli, accounts: Accounts, deal_id: int, proposal: Path, tmp_path: Path
) -> None:
    cli("deal", "attach", deal_id, proposal, "--kind", "proposal", "--keystore", accounts.agent.address)
    out = tmp_path / "read-back.txt"

    read = cli("deal", "document", deal_id, 1, "--out", out, "--keystore", accounts.customer.address, "--json").json()

    assert out.read_bytes() == PROPOSAL
    assert read == {"deal_id": deal_id, "index": 1, "kind": "proposal", "size": len(PROPOSAL), "written_to": str(out)}


def test_deal_document_by_someone_who_cannot_read_the_customer_writes_nothing(
    cli: Cli, accounts: Accounts, deal_id: int, proposal: Path, tmp_path: Path
) -> None:
    cli("deal", "attach", deal_id, proposal, "--kind", "proposal", "--keystore", accounts.agent.address)
    out = tmp_path / "read-back.txt"

    refused = cli("deal", "document", deal_id, 1, "--out", out, "--keystore", accounts.marketer.address)

    assert f"{accounts.marketer.address} cannot read customer" in refused.error
    assert not out.exists()


def test_deal_attach_by_someone_else_stores_nothing(
    cli: Cli, store: KuboStore, accounts: Accounts, deal_id: int, proposal: Path
) -> None:
    pins = store.pins()

    refused = cli("deal", "attach", deal_id, proposal, "--kind", "contract", "--keystore", accounts.marketer.address)

    assert f"CallerNotDealOwnerOrManager(dealId={deal_id}, caller={accounts.marketer.address})" in refused.error
    assert store.pins() == pins


def test_deal_attach_with_an_unknown_kind_is_a_usage_error(
    cli: Cli, accounts: Accounts, deal_id: int, proposal: Path
) -> None:
    refused = cli("deal", "attach", deal_id, proposal, "--kind", "invoice", "--keystore", accounts.agent.address)

    assert "Invalid value for '--kind'" in refused.usage_error
