"""ERC-20 invoices, loyalty points and payments recorded off the chain, through the CLI:
`token allow|disallow|list`, `deal open --currency`, `invoice pay` (approve, --permit, --points),
`invoice uri` for a token, `invoice record-offchain|receipt`, `loyalty rates|balance`, `me points`."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import to_checksum_address

from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.client import Crm
from chaincrm.contracts.payments import approve_uri
from chaincrm.currency import TokenInfo, amount_text, parse_amount
from chaincrm.errors import ConfigError
from chaincrm.models import InvoiceStatus, Stage
from tests.cli.conftest import Accounts, Cli, advance_time

pytestmark = pytest.mark.usefixtures("snapshot")

TUSD = TokenInfo("TUSD", 6)
MINTED = 10_000 * 10**6


def _deploy_stablecoin(crm: Crm, accounts: Accounts) -> str:
    artifact = load_artifact("TestStablecoin")
    factory = crm.chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = crm.chain.transact(factory.constructor("Test USD", "TUSD"), accounts.admin)
    return to_checksum_address(receipt["contractAddress"])


@pytest.fixture
def token(crm: Crm, accounts: Accounts, customer_id: int) -> str:
    """The test stablecoin (6 decimals, permit), allowed by the admin, with tokens for the customer."""
    address = _deploy_stablecoin(crm, accounts)
    crm.escrow.allow_token(address, accounts.admin)
    stablecoin = crm.chain.w3.eth.contract(address=address, abi=load_artifact("TestStablecoin").abi)
    crm.chain.transact(stablecoin.functions.mint(accounts.customer.address, MINTED), accounts.admin)
    return address


@pytest.fixture
def token_invoice(cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, token: str) -> int:
    """An open invoice for 125.50 TUSD: the deal opened by the agent, won by a manager."""
    opened = cli(
        "deal", "open", customer_id, "--value", "125.50", "--currency", "TUSD",
        "--keystore", accounts.agent.address, "--json",
    ).json()  # fmt: skip
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        crm.pipeline.move(opened["deal_id"], stage, accounts.manager)
    invoice = crm.pipeline.deal(opened["deal_id"]).invoice_id
    assert invoice is not None
    return invoice


def _balance(crm: Crm, token: str, account: str) -> int:
    from chaincrm.contracts.tokens import Tokens

    return Tokens(crm.chain).balance_of(token, account)


# ------------------------------------------------------------------ amounts


@pytest.mark.parametrize(
    ("text", "units"), [("125.50", 125_500_000), ("1", 10**6), ("0.000001", 1), (".5", 500_000), ("1_000", 10**9)]
)
def test_an_amount_in_whole_units_becomes_exact_base_units(text: str, units: int) -> None:
    assert parse_amount(text, TUSD) == units


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0.0000001", "more decimals than TUSD has (6)"),
        ("-1", "plain amount"),
        ("NaN", "plain amount"),
        ("1e3", "plain amount"),
        ("inf", "plain amount"),
        ("0", "more than 0"),
        ("", "plain amount"),
        ("1,5", "plain amount"),
    ],
)
def test_an_amount_that_is_not_exact_in_the_currency_is_refused_with_one_line(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_amount(text, TUSD)

    assert reason in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_amount_is_written_in_its_own_currency() -> None:
    assert amount_text(125_500_000, TUSD) == "125.5 TUSD"
    assert amount_text(1, TUSD) == "0.000001 TUSD"


# ------------------------------------------------------------------ tokens


def test_token_allow_then_list_shows_symbol_decimals_and_whether_allowed(
    cli: Cli, crm: Crm, accounts: Accounts
) -> None:
    address = _deploy_stablecoin(crm, accounts)

    allowed = cli("token", "allow", address, "--keystore", accounts.admin.address, "--json").json()
    listed = cli("token", "list", "--json").json()

    assert (allowed["symbol"], allowed["decimals"], allowed["allowed"]) == ("TUSD", 6, True)
    assert [(t["token"], t["symbol"], t["decimals"], t["allowed"]) for t in listed] == [(address, "TUSD", 6, True)]

    cli("token", "disallow", address, "--keystore", accounts.admin.address)

    assert cli("token", "list", "--json").json()[0]["allowed"] is False


def test_token_allow_by_someone_not_an_admin_is_refused(cli: Cli, crm: Crm, accounts: Accounts) -> None:
    address = _deploy_stablecoin(crm, accounts)

    refused = cli("token", "allow", address, "--keystore", accounts.manager.address)

    assert "AccessControlUnauthorizedAccount" in refused.error
    assert not crm.escrow.is_token_allowed(address)


def test_token_allow_of_an_address_that_is_no_token_is_refused_before_sending(cli: Cli, accounts: Accounts) -> None:
    refused = cli("token", "allow", accounts.stranger.address, "--keystore", accounts.admin.address)

    assert "symbol() and decimals()" in refused.error


# ------------------------------------------------------------------ deals and invoices in a token


def test_a_deal_opened_in_a_token_is_shown_in_its_units(
    cli: Cli, accounts: Accounts, customer_id: int, token: str
) -> None:
    opened = cli(
        "deal", "open", customer_id, "--value", "125.50", "--currency", "TUSD", "--keystore", accounts.agent.address
    )
    assert "for 125.5 TUSD" in opened.stdout

    shown = cli("deal", "show", "1", "--from-chain", "--json").json()

    assert (shown["value_wei"], shown["currency"], shown["currency_symbol"]) == ("125500000", token, "TUSD")
    assert shown["won_needs_manager"] is True


@pytest.mark.parametrize(
    ("value", "currency", "reason"),
    [
        ("1.0000001", "TUSD", "more decimals than TUSD has (6)"),
        ("-3", "TUSD", "plain amount"),
        ("NaN", "TUSD", "plain amount"),
        ("10", "DOGE", "no allowed token's symbol"),
    ],
)
def test_deal_open_in_a_token_refuses_a_bad_value_or_currency_in_one_line(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, token: str, value: str, currency: str, reason: str
) -> None:
    refused = cli(
        "deal", "open", customer_id, "--value", value, "--currency", currency, "--keystore", accounts.agent.address
    )

    assert reason in refused.error
    assert crm.pipeline.deal_count() == 0


def test_invoice_show_and_list_give_a_token_invoice_in_its_own_units(
    cli: Cli, accounts: Accounts, token: str, token_invoice: int
) -> None:
    shown = cli("invoice", "show", token_invoice, "--json").json()
    listed = cli("invoice", "list").stdout

    assert (shown["amount_wei"], shown["amount"], shown["currency"]) == ("125500000", "125.5 TUSD", token)
    assert "125.5 TUSD" in listed
    assert "ETH" not in listed


def test_a_token_invoice_is_paid_by_approve_then_pay_in_two_transactions(
    cli: Cli, crm: Crm, accounts: Accounts, token: str, token_invoice: int
) -> None:
    run = cli("invoice", "pay", token_invoice, "--keystore", accounts.customer.address)

    assert "two transactions" in run.stdout and "125.5 TUSD" in run.stdout
    assert crm.escrow.invoice(token_invoice).status is InvoiceStatus.PAID
    assert _balance(crm, token, crm.escrow.address) == 125_500_000


def test_a_token_invoice_is_paid_with_a_permit_in_one_transaction(
    cli: Cli, crm: Crm, accounts: Accounts, token: str, token_invoice: int
) -> None:
    nonce_before = crm.chain.w3.eth.get_transaction_count(accounts.customer.address)

    paid = cli("invoice", "pay", token_invoice, "--permit", "--keystore", accounts.customer.address, "--json").json()

    assert paid["status"] == "paid" and paid["permit"] is True
    assert crm.chain.w3.eth.get_transaction_count(accounts.customer.address) == nonce_before + 1
    assert _balance(crm, token, crm.escrow.address) == 125_500_000


def test_permit_on_an_eth_invoice_is_refused_before_anything_is_sent(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int
) -> None:
    refused = cli("invoice", "pay", invoice_id, "--permit", "--keystore", accounts.customer.address)

    assert "--permit is for token invoices" in refused.error
    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.OPEN


def test_paying_a_token_invoice_without_enough_tokens_names_the_token_error(
    cli: Cli, crm: Crm, accounts: Accounts, token: str, token_invoice: int
) -> None:
    stablecoin = crm.chain.w3.eth.contract(address=token, abi=load_artifact("TestStablecoin").abi)
    crm.chain.transact(stablecoin.functions.transfer(accounts.stranger.address, MINTED), accounts.customer)

    refused = cli("invoice", "pay", token_invoice, "--keystore", accounts.customer.address)

    assert "ERC20InsufficientBalance" in refused.error


def test_invoice_uri_for_a_token_says_a_uri_cannot_pay_it_and_gives_the_approve_step(
    cli: Cli, crm: Crm, token: str, token_invoice: int
) -> None:
    shown = cli("invoice", "uri", token_invoice, "--json").json()
    human = cli("invoice", "uri", token_invoice).stdout

    chain_id = crm.chain.chain_id
    assert shown["uri"] is None
    assert shown["approve_uri"] == (
        f"ethereum:{token}@{chain_id}/approve?address={crm.escrow.address}&uint256=125500000"
    )
    assert shown["approve_uri"] == approve_uri(chain_id, crm.escrow.address, crm.escrow.invoice(token_invoice))
    assert "cannot pay it from a URI alone" in " ".join(human.split())
    assert f"payToken({token_invoice})" in human


# ------------------------------------------------------------------ loyalty


def test_loyalty_rates_are_set_in_human_units_and_shown_back(
    cli: Cli, crm: Crm, accounts: Accounts, token: str
) -> None:
    cli(
        "loyalty",
        "rates",
        "--currency",
        "TUSD",
        "--earn",
        "10",
        "--worth",
        "0.01",
        "--keystore",
        accounts.admin.address,
    )

    shown = cli("loyalty", "rates", "--currency", "TUSD", "--json").json()

    # 10 points (18 decimals) per 10**6 base units; 1 point (10**18) worth 10**4 base units.
    assert crm.escrow.loyalty_rates(token) == (10 * 10**30, 10**4)
    assert (shown["earn_points_per_unit"], shown["point_worth"]) == ("10", "0.01")


def test_loyalty_rates_finer_than_the_contract_holds_are_refused(cli: Cli, accounts: Accounts, token: str) -> None:
    refused = cli(
        "loyalty", "rates", "--currency", "TUSD", "--worth", "0.0000001", "--keystore", accounts.admin.address
    )

    assert "finer than the contract can hold" in refused.error


def _earn_points(cli: Cli, crm: Crm, accounts: Accounts, invoice: int) -> None:
    """Pay the invoice and let it be released: the customer earns points."""
    cli("invoice", "pay", invoice, "--keystore", accounts.customer.address)
    advance_time(crm, crm.deployment.dispute_window_seconds + 1)
    crm.escrow.release(invoice, accounts.manager)


def test_points_are_earned_at_release_and_redeemed_for_a_discount_shown_first(
    cli: Cli, crm: Crm, accounts: Accounts, customer_id: int, token: str, token_invoice: int
) -> None:
    admin = accounts.admin.address
    cli("loyalty", "rates", "--currency", "TUSD", "--earn", "10", "--worth", "0.01", "--keystore", admin)
    _earn_points(cli, crm, accounts, token_invoice)
    assert cli("loyalty", "balance", accounts.customer.address, "--json").json()["points"] == "1255"

    second = cli(
        "deal", "open", customer_id, "--value", "100", "--currency", "TUSD", "--keystore", accounts.agent.address,
        "--json",
    ).json()  # fmt: skip
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        crm.pipeline.move(second["deal_id"], stage, accounts.manager)
    invoice = crm.pipeline.deal(second["deal_id"]).invoice_id
    assert invoice is not None

    run = cli("invoice", "pay", invoice, "--points", "500", "--keystore", accounts.customer.address)

    assert "Redeeming 500 points for 5 TUSD off: paying 95 TUSD of 100 TUSD" in run.stderr
    assert crm.escrow.invoice(invoice).amount_wei == 95 * 10**6
    assert cli("invoice", "show", invoice, "--json").json()["points_redeemed"] == str(500 * 10**18)
    held = cli("me", "points", "--keystore", accounts.customer.address, "--json").json()
    assert held["points"] == "755"
    assert [e["kind"] for e in held["history"]] == ["awarded", "redeemed"]


def test_redeeming_more_points_than_held_is_refused_locally_with_the_contract_error(
    cli: Cli, crm: Crm, accounts: Accounts, token: str, token_invoice: int
) -> None:
    cli(
        "loyalty", "rates", "--currency", "TUSD", "--earn", "1", "--worth", "0.01", "--keystore", accounts.admin.address
    )
    nonce_before = crm.chain.w3.eth.get_transaction_count(accounts.customer.address)

    refused = cli("invoice", "pay", token_invoice, "--points", "5", "--keystore", accounts.customer.address)

    assert f"PointsInsufficient(account={accounts.customer.address}, held=0, wanted={5 * 10**18})" in refused.error
    assert crm.chain.w3.eth.get_transaction_count(accounts.customer.address) == nonce_before


def test_points_that_would_pay_the_whole_invoice_are_refused_locally(
    cli: Cli, crm: Crm, accounts: Accounts, token: str, token_invoice: int
) -> None:
    admin = accounts.admin.address
    cli("loyalty", "rates", "--currency", "TUSD", "--earn", "10", "--worth", "1", "--keystore", admin)
    _earn_points(cli, crm, accounts, token_invoice)  # 1255 points, each worth 1 TUSD
    opened = cli(
        "deal", "open", crm.pipeline.deal(1).customer_id, "--value", "1", "--currency", "TUSD",
        "--keystore", accounts.agent.address, "--json",
    ).json()  # fmt: skip
    deal = opened["deal_id"]
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        crm.pipeline.move(deal, stage, accounts.manager)
    invoice = crm.pipeline.deal(deal).invoice_id

    refused = cli("invoice", "pay", invoice, "--points", "1", "--keystore", accounts.customer.address)

    assert "PointsDiscountTooLarge" in refused.error
    assert crm.escrow.invoice(invoice or 0).status is InvoiceStatus.OPEN


# ------------------------------------------------------------------ off-chain payments


def test_an_off_chain_payment_is_recorded_with_an_encrypted_receipt_and_shown(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int, tmp_path: Path
) -> None:
    slip = tmp_path / "transfer.pdf"
    slip.write_bytes(b"%PDF-1.4 bank slip")
    reference = "SEPA-REF-8812-SECRET"

    recorded = cli(
        "invoice", "record-offchain", invoice_id, "--method", "bank", "--reference", reference,
        "--receipt", slip, "--keystore", accounts.manager.address, "--json",
    ).json()  # fmt: skip
    shown = cli("invoice", "show", invoice_id).stdout
    read = cli(
        "invoice", "receipt", invoice_id, "--out", tmp_path / "back.pdf", "--keystore", accounts.customer.address,
        "--json",
    ).json()  # fmt: skip

    assert crm.escrow.invoice(invoice_id).status is InvoiceStatus.PAID_OFF_CHAIN
    assert "paid off-chain (bank transfer) on" in " ".join(shown.split())
    assert (read["reference"], (tmp_path / "back.pdf").read_bytes()) == (reference, slip.read_bytes())
    tx = crm.chain.w3.eth.get_transaction(recorded["tx_hash"])
    receipt = crm.chain.w3.eth.get_transaction_receipt(recorded["tx_hash"])
    assert reference.encode().hex() not in bytes(tx["input"]).hex()
    assert all(reference.encode().hex() not in bytes(log["data"]).hex() for log in receipt["logs"])


def test_recording_an_off_chain_payment_twice_is_refused_before_anything_is_stored(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int, tmp_path: Path
) -> None:
    slip = tmp_path / "slip.txt"
    slip.write_bytes(b"card slip 1")
    args = ("--method", "card", "--reference", "R1", "--receipt", slip, "--keystore", accounts.manager.address)
    cli("invoice", "record-offchain", invoice_id, *args)

    slip.write_bytes(b"card slip 2")
    refused = cli("invoice", "record-offchain", invoice_id, *args)

    assert f"InvoiceNotOpen(invoiceId={invoice_id}" in refused.error


def test_an_off_chain_payment_after_an_on_chain_one_is_refused_locally(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int, tmp_path: Path
) -> None:
    crm.escrow.pay(invoice_id, accounts.customer)
    slip = tmp_path / "slip.txt"
    slip.write_bytes(b"x")

    refused = cli(
        "invoice", "record-offchain", invoice_id, "--method", "other", "--reference", "R", "--receipt", slip,
        "--keystore", accounts.manager.address,
    )  # fmt: skip

    assert "InvoiceNotOpen" in refused.error


def test_paying_an_invoice_settled_off_chain_is_refused(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int, tmp_path: Path
) -> None:
    slip = tmp_path / "slip.txt"
    slip.write_bytes(b"x")
    cli(
        "invoice", "record-offchain", invoice_id, "--method", "bank", "--reference", "R", "--receipt", slip,
        "--keystore", accounts.manager.address,
    )  # fmt: skip

    refused = cli("invoice", "pay", invoice_id, "--keystore", accounts.customer.address)

    assert "InvoiceSettledOffChain" in refused.error or "InvoiceNotOpen" in refused.error


def test_the_customer_sees_an_off_chain_payment_and_points_in_me(
    cli: Cli, crm: Crm, accounts: Accounts, invoice_id: int, tmp_path: Path
) -> None:
    slip = tmp_path / "slip.txt"
    slip.write_bytes(b"x")
    cli(
        "invoice", "record-offchain", invoice_id, "--method", "bank", "--reference", "R", "--receipt", slip,
        "--keystore", accounts.manager.address,
    )  # fmt: skip

    shown = " ".join(cli("me", "invoices", "--keystore", accounts.customer.address).stdout.split())
    everything = cli("me", "all", "--keystore", accounts.customer.address, "--json").json()

    assert "paid off-chain (bank transfer)" in shown
    assert everything["points"]["points"] == "0"
    (invoice,) = everything["customers"][0]["invoices"]
    assert invoice["status"] == "paid-off-chain"
    assert [e["method"] for e in invoice["events"] if e["what"] == "paid_off_chain"] == ["bank transfer"]
