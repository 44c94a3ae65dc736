"""`chaincrm offer ...` end to end against a real Anvil: suggest, issue, show, accept, cancel, report.

Each refusal is one line naming the pipeline's custom error, and the ones that can be seen before
sending (expiry, wallet, uses, cancellation, signature) send nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaincrm.chain.keystores import create_keystore
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.contracts.offers import Offer
from chaincrm.index.indexer import Indexer
from chaincrm.models import Stage
from chaincrm.offers.status import offer_from_link
from chaincrm.services.anvil import AnvilNode
from tests.cli.conftest import PASSWORD, SCRYPT_N_FOR_TESTS, Cli, cli_for, environment_for
from tests.offers.conftest import ONE_ETH, advance, new_customer, released_invoices
from tests.sdk.conftest import Staff

EXAMPLE_RULES = Path(__file__).resolve().parents[2] / "examples" / "offer-rules.toml"
BPS = 10_000


@dataclass(frozen=True)
class Story:
    loyal: int  # 3 released invoices: qualifies for both example rules
    newcomer: int  # a bound wallet, no history


@pytest.fixture(scope="module")
def story(crm: Crm, staff: Staff) -> Story:
    loyal = new_customer(crm, staff, staff.customer)
    released_invoices(crm, staff, loyal, staff.customer, 3)
    newcomer = new_customer(crm, staff, staff.customer2)
    return Story(loyal, newcomer)


@pytest.fixture(scope="module")
def home(crm: Crm, staff: Staff, anvil_node: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(rpc_url=anvil_node.url, home=tmp_path_factory.mktemp("home"))
    save_record(crm.deployment, settings.deployment_path)
    for account in (staff.manager, staff.agent, staff.customer, staff.customer2, staff.stranger):
        create_keystore(settings.keystore_dir, PASSWORD, private_key=bytes(account.key), scrypt_n=SCRYPT_N_FOR_TESTS)
    return settings


@pytest.fixture(scope="module")
def cli(home: Settings) -> Cli:
    return cli_for(environment_for(home))


def _issue(cli: Cli, staff: Staff, customer_id: int, out: Path, *more: object) -> dict:
    run = cli("offer", "issue", "--customer", customer_id, "--discount", "5%", "--out", out,
              "--keystore", staff.manager.address, "--json", *more)  # fmt: skip
    return run.json()


def _sent(crm: Crm, account: str) -> int:
    return int(crm.chain.w3.eth.get_transaction_count(account))  # type: ignore[arg-type]


def test_suggest_lists_who_qualifies_and_why(cli: Cli, story: Story) -> None:
    data = cli("offer", "suggest", "--rules", EXAMPLE_RULES, "--json").json()

    assert data["source"] == "chain"  # no index in this home
    rows = [(s["customer_id"], s["rule"], s["discount_bps"], s["figures"]) for s in data["suggestions"]]
    assert [(c, r, d) for c, r, d, _ in rows] == [(story.loyal, "big spender", 750), (story.loyal, "loyal", 500)]
    assert rows[0][3]["paid"] == "3" and rows[0][3]["currency"] == "ETH"
    assert rows[1][3]["released_invoices"] == 3
    assert "left_out" not in data


def test_suggest_all_says_why_the_others_are_left_out(cli: Cli, story: Story) -> None:
    run = cli("offer", "suggest", "--rules", EXAMPLE_RULES, "--all")

    assert run.exit_code == 0, run.stderr
    assert "Left out" in run.stdout and "meets no rule" in run.stdout
    left = {
        x["customer_id"]: x["reason"]
        for x in cli("offer", "suggest", "--rules", EXAMPLE_RULES, "--all", "--json").json()["left_out"]
    }
    assert left[story.newcomer].startswith("meets no rule: 'loyal' needs >= 3 released invoices")


def test_a_malformed_rules_file_is_one_line_with_the_key_and_line(cli: Cli, story: Story, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nmin_released_invoices = 1\ndiscount = "5%"\n')

    assert cli("offer", "suggest", "--rules", rules).error == (
        f"error: offer rules {rules} line 4: discount: unknown key (known: currency, discount_bps, discount_percent, "
        "max_uses, min_paid, min_released_invoices, name, valid_days, window_days)"
    )


def test_issue_writes_the_signed_offer_logs_it_and_prints_the_portal_link(
    cli: Cli, crm: Crm, staff: Staff, story: Story, home: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "offer.json"
    data = _issue(cli, staff, story.loyal, out, "--valid-days", 7, "--max-uses", 2, "--rule", "loyal",
                  "--public-url", "https://crm.example.org")  # fmt: skip

    offer = Offer.from_json(out.read_text())
    assert offer.issuer == staff.manager.address and offer.customer_id == story.loyal
    assert (offer.discount_bps, offer.max_uses) == (500, 2)
    now = crm.chain.block_timestamp(crm.chain.block_number("latest"))
    assert offer.expiry == pytest.approx(now + 7 * 86_400, abs=5)
    assert crm.pipeline.offer_digest(offer) == offer.digest and data["digest"] == "0x" + offer.digest.hex()
    assert data["link"].startswith("https://crm.example.org/offers/accept#")
    assert offer_from_link(data["link"]) == offer
    logged = [json.loads(line) for line in (home.home / "offers-issued.jsonl").read_text().splitlines()]
    assert logged[-1]["digest"] == data["digest"] and logged[-1]["rule"] == "loyal"
    assert "signature" not in logged[-1]


def test_only_a_manager_issues_and_only_for_a_customer_with_a_bound_wallet(
    cli: Cli, crm: Crm, staff: Staff, story: Story, tmp_path: Path, snapshot: None
) -> None:
    out = tmp_path / "offer.json"
    run = cli(
        "offer", "issue", "--customer", story.loyal, "--discount", "5%", "--out", out, "--keystore", staff.agent.address
    )
    assert run.error == f"error: {staff.agent.address} is not a manager: the pipeline accepts offers only from managers"
    unbound = new_customer(crm, staff, staff.stranger, accept=False)
    run = cli(
        "offer", "issue", "--customer", unbound, "--discount", "5%", "--out", out, "--keystore", staff.manager.address
    )
    assert run.error == f"error: customer {unbound} has no bound wallet: an offer is accepted from it"
    assert not out.exists()
    assert "is not a discount" in cli("offer", "issue", "--customer", 1, "--discount", "100%", "--out", out).usage_error


def test_the_customer_accepts_a_new_deal_and_a_second_use_is_refused_before_sending(
    cli: Cli, crm: Crm, staff: Staff, story: Story, tmp_path: Path, snapshot: None
) -> None:
    out = tmp_path / "offer.json"
    _issue(cli, staff, story.loyal, out)

    accepted = cli("offer", "accept", out, "--value", "1.5", "--keystore", staff.customer.address, "--json").json()

    deal = crm.pipeline.deal(accepted["deal_id"])
    assert deal.customer_id == story.loyal and deal.stage is Stage.PROPOSAL and deal.value_wei == 3 * ONE_ETH // 2
    assert deal.owner == staff.manager.address
    shown = cli("offer", "show", out, "--json").json()
    assert (shown["uses"], shown["cancelled"], shown["expired"]) == (1, False, False)
    before = _sent(crm, staff.customer.address)
    offer = Offer.from_json(out.read_text())
    assert cli("offer", "accept", out, "--value", "1", "--keystore", staff.customer.address).error == (
        f"error: OfferUsedUp(digest=0x{offer.digest.hex()}, maxUses=1)"
    )
    assert _sent(crm, staff.customer.address) == before


def test_accepting_on_an_open_deal_discounts_its_invoice(
    cli: Cli, crm: Crm, staff: Staff, story: Story, tmp_path: Path, snapshot: None
) -> None:
    out = tmp_path / "offer.json"
    _issue(cli, staff, story.loyal, out)
    deal_id = crm.pipeline.open_deal(story.loyal, staff.agent.address, 2 * ONE_ETH, staff.agent)

    assert (
        cli("offer", "accept", out, "--deal", deal_id, "--keystore", staff.customer.address, "--json").json()["deal_id"]
        == deal_id
    )
    for stage in (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        crm.pipeline.move(deal_id, stage, staff.agent)
    invoice = crm.escrow.invoice(crm.pipeline.invoices_of(deal_id)[-1])
    assert invoice.amount_wei == 2 * ONE_ETH - 2 * ONE_ETH * 500 // BPS


def test_another_wallet_is_refused_before_sending(
    cli: Cli, crm: Crm, staff: Staff, story: Story, tmp_path: Path, snapshot: None
) -> None:
    out = tmp_path / "offer.json"
    _issue(cli, staff, story.loyal, out)
    before = _sent(crm, staff.customer2.address)

    assert cli("offer", "accept", out, "--value", "1", "--keystore", staff.customer2.address).error == (
        f"error: OfferNotForCaller(customerId={story.loyal}, caller={staff.customer2.address})"
    )
    assert _sent(crm, staff.customer2.address) == before


def test_an_expired_offer_is_refused_before_sending(
    cli: Cli, crm: Crm, staff: Staff, story: Story, tmp_path: Path, snapshot: None
) -> None:
    out = tmp_path / "offer.json"
    data = _issue(cli, staff, story.loyal, out, "--valid-days", 1)
    advance(crm, 2 * 86_400)

    assert cli("offer", "accept", out, "--value", "1", "--keystore", staff.customer.address).error == (
        f"error: OfferExpired(expiry={data['expiry']})"
    )
    assert cli("offer", "show", out, "--json").json()["expired"] is True


def test_a_cancelled_offer_is_refused_and_only_its_issuer_cancels(
    cli: Cli, crm: Crm, staff: Staff, story: Story, tmp_path: Path, snapshot: None
) -> None:
    out = tmp_path / "offer.json"
    _issue(cli, staff, story.loyal, out)
    offer = Offer.from_json(out.read_text())

    assert cli("offer", "cancel", out, "--keystore", staff.agent.address).error == (
        f"error: only the offer's issuer {staff.manager.address} can cancel it, not {staff.agent.address}"
    )
    assert cli("offer", "cancel", out, "--keystore", staff.manager.address, "--json").json()["nonce"] == str(
        offer.nonce
    )
    assert crm.pipeline.offer_cancelled(offer.issuer, offer.nonce)
    refused = f"error: OfferIsCancelled(issuer={offer.issuer}, nonce={offer.nonce})"
    assert cli("offer", "accept", out, "--value", "1", "--keystore", staff.customer.address).error == refused
    assert cli("offer", "cancel", out, "--keystore", staff.manager.address).error == refused


def test_a_tampered_offer_is_refused_as_a_bad_signature(
    cli: Cli, crm: Crm, staff: Staff, story: Story, tmp_path: Path, snapshot: None
) -> None:
    out = tmp_path / "offer.json"
    _issue(cli, staff, story.loyal, out)
    fields = json.loads(out.read_text())
    out.write_text(json.dumps(fields | {"discount_bps": 5000}))

    assert cli("offer", "accept", out, "--value", "1", "--keystore", staff.customer.address).error == (
        f"error: OfferSignatureInvalid(issuer={staff.manager.address})"
    )


def test_the_contract_refuses_what_the_local_checks_cannot_see_by_the_same_name(
    crm: Crm, staff: Staff, story: Story, snapshot: None
) -> None:
    from chaincrm.chain.reverts import revert_type
    from chaincrm.contracts.offers import sign_offer

    offer = sign_offer(
        staff.manager, chain_id=crm.chain.chain_id, pipeline=crm.pipeline.address, customer_id=story.loyal,
        discount_bps=500, expiry=2**40,
    )  # fmt: skip
    with pytest.raises(revert_type("OfferNotForCaller")):
        crm.pipeline.accept_offer(offer, staff.customer2, value=ONE_ETH)


def test_accept_needs_a_deal_or_a_value(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "offer.json"
    out.write_text("{}")
    assert "give --deal N" in cli("offer", "accept", out).usage_error
    assert "not both" in cli("offer", "accept", out, "--deal", 1, "--value", "1").usage_error


def test_a_broken_offer_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "offer.json"
    out.write_text('{"type": "Offer"}')
    assert cli("offer", "show", out).error.startswith(f"error: the offer {out}: the signed Offer message has fields")


def test_the_report_counts_sent_and_accepted_offers_and_their_revenue(
    cli: Cli, crm: Crm, staff: Staff, story: Story, home: Settings, tmp_path: Path, snapshot: None
) -> None:
    log = tmp_path / "issued.jsonl"
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    _issue(cli, staff, story.loyal, first, "--log", log)
    _issue(cli, staff, story.loyal, second, "--log", log)
    deal_id = cli("offer", "accept", first, "--value", "2", "--keystore", staff.customer.address, "--json").json()[
        "deal_id"
    ]
    for stage in (Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON):
        crm.pipeline.move(deal_id, stage, staff.manager)
    invoice_id = crm.pipeline.invoices_of(deal_id)[-1]
    crm.escrow.pay(invoice_id, staff.customer)

    report = cli("offer", "report", "--log", log, "--json").json()

    paid = 2 * ONE_ETH - 2 * ONE_ETH * 500 // BPS
    assert (report["sent"], report["accepted"], report["sent_and_accepted"], report["acceptance_rate"]) == (
        2,
        1,
        1,
        0.5,
    )
    assert report["deals"] == [deal_id] and report["customers"] == 1
    assert report["revenue"] == [
        {"currency": "ETH", "paid": str(paid), "released": "0", "discount_granted": str(2 * ONE_ETH * 500 // BPS)}
    ]
    assert report["source"] == "chain"  # no index in this home
    human = cli("offer", "report", "--log", log)
    assert human.exit_code == 0 and "Revenue from accepted offers" in human.stdout
    with Indexer(crm.chain, crm.deployment, tmp_path / "index.sqlite", confirmations=0) as indexer:
        indexer.sync_once()
    indexed = cli("offer", "report", "--log", log, "--database", tmp_path / "index.sqlite", "--json").json()
    assert indexed["source"] == "index"
    assert {k: v for k, v in indexed.items() if k != "source"} == {k: v for k, v in report.items() if k != "source"}


def test_an_offer_for_another_pipeline_is_refused_in_one_line(
    cli: Cli, crm: Crm, staff: Staff, story: Story, tmp_path: Path
) -> None:
    from chaincrm.contracts.offers import sign_offer

    elsewhere = "0x" + "11" * 20
    offer = sign_offer(
        staff.manager, chain_id=crm.chain.chain_id, pipeline=elsewhere, customer_id=story.loyal, discount_bps=500,
        expiry=2**40,
    )  # fmt: skip
    out = tmp_path / "offer.json"
    out.write_text(offer.to_json())

    assert cli("offer", "accept", out, "--value", "1", "--keystore", staff.customer.address).error == (
        f"error: the offer is for the pipeline {offer.pipeline} on chain {crm.chain.chain_id}, not this "
        f"deployment's {crm.pipeline.address} on chain {crm.chain.chain_id}"
    )
