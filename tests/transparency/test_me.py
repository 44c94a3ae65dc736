"""`chaincrm me ...` and `chaincrm.views.own_records`: the customer's own view of their records."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from chaincrm.cli import me
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.registry import InteractionEntry
from chaincrm.models import InteractionKind, Outcome, Purpose, Stage
from chaincrm.privacy import Attachment, CustomerProfile, InteractionContent
from chaincrm.privacy.customers import CustomerData
from chaincrm.privacy.notes import CustomerNotes
from chaincrm.storage import content_hash
from chaincrm.views.own_records import CustomerView, customer_ids_of, records_of
from tests.cli.conftest import DEAL_VALUE_WEI, PROFILE, Accounts, Cli
from tests.indexer.conftest import InjectingProvider, at_block, chain_over, craft_log

pytestmark = pytest.mark.usefixtures("snapshot")

OTHER_PROFILE = CustomerProfile(name="Bruno Keller", email="bruno.keller@example.org")
NOTE = "Called about the renewal; wants a quote by Friday."
FORWARD = (Stage.QUALIFIED, Stage.PROPOSAL, Stage.NEGOTIATION, Stage.CONTRACTING, Stage.WON)


def _other_customer(data: CustomerData, accounts: Accounts, *, accept: bool = True) -> int:
    """A second customer whose wallet is the stranger's (accepted unless `accept` is False)."""
    other = data.add(OTHER_PROFILE, wallet=accounts.stranger.address, purpose=Purpose.SALES, agent=accounts.agent)
    if accept:
        data.approve_wallet(other.customer_id, accounts.stranger.address, accounts.manager)
        data.accept_wallet(other.customer_id, accounts.stranger)
    return other.customer_id


def _log_note(data: CustomerData, customer_id: int, accounts: Accounts) -> None:
    content = InteractionContent(NOTE)
    CustomerNotes(data.crm, data.store).log_interaction(
        customer_id, InteractionKind.CALL, Outcome.POSITIVE, content, accounts.agent
    )


def _me(cli: Cli, accounts: Accounts, *args: object) -> Any:
    return cli("me", *args, "--keystore", accounts.customer.address, "--json").json()


def _won(crm: Crm, deal_id: int, accounts: Accounts) -> int:
    for stage in FORWARD:
        crm.pipeline.move(deal_id, stage, accounts.agent)
    invoice = crm.pipeline.deal(deal_id).invoice_id
    assert invoice is not None
    return invoice


# ------------------------------------------------------------------ which records


def test_the_wallet_owns_exactly_the_records_it_accepted(
    crm: Crm, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)

    mine = customer_ids_of(crm, accounts.customer.address)

    assert mine == (customer_id,)
    assert customer_ids_of(crm, accounts.stranger.address) == (other,)


def test_a_proposed_wallet_that_has_not_accepted_sees_nothing(
    cli: Cli, crm: Crm, proposed_customer_id: int, accounts: Accounts
) -> None:
    run = cli("me", "all", "--keystore", accounts.customer.address)

    assert records_of(crm, accounts.customer.address).pending == (proposed_customer_id,)
    assert customer_ids_of(crm, accounts.customer.address) == ()
    assert run.error == (
        f"error: wallet {accounts.customer.address} was proposed for customer {proposed_customer_id} but has not "
        f"accepted: it sees nothing until it does (`chaincrm customer accept-wallet {proposed_customer_id} "
        f"--keystore {accounts.customer.address}`, or sign an acceptance for staff to relay: "
        f"`chaincrm customer sign-wallet-acceptance {proposed_customer_id}`)"
    )


def test_a_record_moves_with_its_wallet_once_the_new_wallet_accepts(
    crm: Crm, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    data.propose_wallet(customer_id, accounts.stranger.address, accounts.customer)
    proposed = customer_ids_of(crm, accounts.customer.address), customer_ids_of(crm, accounts.stranger.address)

    data.accept_wallet(customer_id, accounts.stranger)

    assert proposed == ((customer_id,), ())
    old, new = customer_ids_of(crm, accounts.customer.address), customer_ids_of(crm, accounts.stranger.address)
    assert old == () and new == (customer_id,)


def test_a_wallet_without_a_customer_record_gets_one_clear_line(
    cli: Cli, crm: Crm, customer_id: int, accounts: Accounts
) -> None:
    run = cli("me", "all", "--keystore", accounts.manager.address)

    assert run.error == (
        f"error: wallet {accounts.manager.address} has no customer record in the CRM at "
        f"{crm.registry.address} on chain {crm.chain.chain_id}"
    )


def test_asking_for_another_customers_record_is_refused(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)

    run = cli("me", "interactions", "--customer", other, "--keystore", accounts.customer.address)

    assert run.error == f"error: customer {other} is not a record of wallet {accounts.customer.address}"


# ------------------------------------------------------------------ the profile


def test_the_customer_reads_their_own_decrypted_profile(cli: Cli, customer_id: int, accounts: Accounts) -> None:
    (profile,) = _me(cli, accounts, "profile")

    assert profile["customer_id"] == customer_id and profile["status"] == "active"
    assert profile["profile"]["name"] == PROFILE.name and profile["profile"]["email"] == PROFILE.email
    assert set(profile["readers"]) == {accounts.agent.address, accounts.manager.address, accounts.customer.address}


def test_a_profile_not_yet_resealed_for_an_accepted_wallet_is_refused_with_one_line(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)  # accepted, never re-sealed for the stranger

    run = cli("me", "profile", "--keystore", accounts.stranger.address)

    assert run.error.startswith(f"error: customer {other}'s profile is not sealed for {accounts.stranger.address} yet")
    assert f"`chaincrm customer reseal {other}`" in run.error


def test_me_all_shows_the_rest_when_the_profile_is_not_sealed_for_the_wallet(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)

    everything = cli("me", "all", "--keystore", accounts.stranger.address, "--json").json()

    (record,) = everything["customers"]
    assert record["customer_id"] == other
    assert record["profile"]["profile"] is None and record["profile"]["sealed_for_you"] is False
    assert [(e["staff"], e["purpose"], e["basis"]) for e in record["access"]["events"]] == [
        (accounts.agent.address, "sales", "contract")
    ]


def test_an_erased_customer_sees_the_receipt_hash_and_no_readers(
    crm: Crm, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    _log_note(data, customer_id, accounts)
    erased = data.erase(customer_id, accounts.customer)

    records = CustomerView(crm, data.store, accounts.customer).everything(customer_id)

    assert records.profile.profile is None and records.profile.readers == ()
    assert records.profile.erasure_receipt_hash == erased.receipt_hash
    assert [(i.content, i.unreadable) for i in records.interactions] == [
        (None, "the customer was erased: no key exists any more")
    ]
    assert records.access.readers_now == () and records.consents.given == ()


# ------------------------------------------------------------------ interactions and notes


def test_the_customer_reads_the_notes_and_attachment_names_of_their_interactions_only(
    cli: Cli, crm: Crm, data: CustomerData, notes: CustomerNotes, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)
    content = InteractionContent(NOTE, (Attachment("quote.pdf", b"%PDF-1.7"), Attachment("photo.jpg", b"\xff\xd8")))
    notes.log_interaction(customer_id, InteractionKind.CALL, Outcome.POSITIVE, content, accounts.agent)
    notes.log_interaction(other, InteractionKind.EMAIL, Outcome.NEUTRAL, InteractionContent("theirs"), accounts.agent)
    crm.registry.log_interactions(
        [
            InteractionEntry(other, InteractionKind.NOTE, Outcome.NONE, content_hash(b"theirs too")),
            InteractionEntry(customer_id, InteractionKind.MEETING, Outcome.FOLLOW_UP, content_hash(b"never stored")),
        ],
        accounts.agent,
    )

    seen = _me(cli, accounts, "interactions")

    assert [(i["customer_id"], i["kind"], i["outcome"], i["position"]) for i in seen] == [
        (customer_id, "call", "positive", 0),
        (customer_id, "meeting", "follow-up", 1),
    ]
    assert (seen[0]["note"], seen[0]["attachments"], seen[0]["unreadable"]) == (NOTE, ["quote.pdf", "photo.jpg"], None)
    assert seen[1]["note"] is None and "is not stored" in seen[1]["unreadable"]


def test_codes_this_version_does_not_know_show_as_unknown_in_every_view(
    crm: Crm, data: CustomerData, settings: Settings, customer_id: int, accounts: Accounts
) -> None:
    where = at_block(crm.chain.w3, crm.chain.w3.eth.block_number)
    registry, stamp = crm.registry.address, where["timestamp"]
    crafted = [
        craft_log("InteractionLogged", registry, log_index=100, **where, customerId=customer_id,
                  author=accounts.agent.address, contentHash=b"\x05" * 32, kind=200, outcome=6, at=stamp),
        craft_log("AccessGranted", registry, log_index=101, **where, customerId=customer_id,
                  staff=accounts.marketer.address, purpose=9, actor=accounts.manager.address),
        craft_log("ConsentChanged", registry, log_index=102, **where, customerId=customer_id, purpose=9,
                  granted=True, relayer=accounts.customer.address),
        craft_log("InteractionLogged", accounts.stranger.address, log_index=103, **where, customerId=customer_id,
                  author=accounts.agent.address, contentHash=b"\x06" * 32, kind=1, outcome=1, at=stamp),
    ]  # fmt: skip
    lying = Crm.attach(chain_over(InjectingProvider(settings.rpc_url, crafted)), crm.deployment)

    records = CustomerView(lying, data.store, accounts.customer).everything(customer_id)

    (interaction,) = [me.interaction_json(i) for i in records.interactions]  # the stranger's look-alike is dropped
    assert (interaction["kind"], interaction["outcome"]) == ("unknown(200)", "unknown(6)")
    events = me.access_json(records.access)["events"]
    assert (events[-1]["purpose"], events[-1]["basis"]) == ("unknown(9)", None)
    assert [c["purpose"] for c in me.consents_json(records.consents)["changes"]] == ["unknown(9)"]
    out = Console(record=True, width=250)
    for show in (me.print_interactions, me.print_deals, me.print_invoices, me.print_refunds):
        show(out, customer_id, getattr(records, show.__name__.removeprefix("print_")))
    me.print_access(out, records.access)
    me.print_consents(out, records.consents)
    text = out.export_text()
    assert "unknown(200)" in text and "unknown(6)" in text and "unknown(9)" in text


# ------------------------------------------------------------------ deals, invoices, refunds


def test_the_customer_sees_their_deals_with_every_stage_change(
    cli: Cli, crm: Crm, deal_id: int, accounts: Accounts
) -> None:
    crm.pipeline.move(deal_id, Stage.QUALIFIED, accounts.agent)

    (deal,) = _me(cli, accounts, "deals")

    assert deal["deal_id"] == deal_id and deal["stage"] == "qualified" and deal["value_wei"] == str(DEAL_VALUE_WEI)
    assert [(c["from"], c["to"], c["actor"]) for c in deal["history"]] == [
        ("none", "lead", accounts.agent.address),
        ("lead", "qualified", accounts.agent.address),
    ]
    assert deal["invoice_ids"] == [] and deal["lost_reason"] is None


def test_the_customer_sees_their_invoice_paid_for_a_fixed_treasury(
    cli: Cli, crm: Crm, invoice_id: int, accounts: Accounts
) -> None:
    crm.escrow.pay(invoice_id, accounts.customer)

    (invoice,) = _me(cli, accounts, "invoices")

    assert invoice["invoice_id"] == invoice_id and invoice["status"] == "paid"
    assert invoice["treasury"] == accounts.treasury.address
    assert [(e["what"], e["amount_wei"], e["by"], e["to"]) for e in invoice["events"]] == [
        ("issued", str(DEAL_VALUE_WEI), crm.pipeline.address, None),
        ("paid", str(DEAL_VALUE_WEI), accounts.customer.address, accounts.treasury.address),
    ]


def test_a_reissued_invoice_shows_as_cancelled_and_replaced_on_the_same_deal(
    cli: Cli, crm: Crm, deal_id: int, accounts: Accounts
) -> None:
    first = _won(crm, deal_id, accounts)
    second = crm.pipeline.reissue_invoice(deal_id, accounts.manager)

    (deal,) = _me(cli, accounts, "deals")
    invoices = _me(cli, accounts, "invoices")

    assert deal["invoice_ids"] == [first, second] and deal["invoice_id"] == second
    assert [(i["invoice_id"], i["status"], [e["what"] for e in i["events"]]) for i in invoices] == [
        (first, "cancelled", ["issued", "cancelled"]),
        (second, "open", ["issued"]),
    ]


def test_a_refund_is_owed_to_the_payer_until_they_withdraw_it(
    cli: Cli, crm: Crm, invoice_id: int, accounts: Accounts
) -> None:
    crm.escrow.pay(invoice_id, accounts.customer)
    crm.escrow.refund(invoice_id, accounts.manager)
    (owed,) = _me(cli, accounts, "refunds")

    crm.escrow.withdraw_refund(accounts.customer)
    (withdrawn,) = _me(cli, accounts, "refunds")

    assert (owed["payer"], owed["owed_wei"], owed["withdrawals"]) == (
        accounts.customer.address,
        str(DEAL_VALUE_WEI),
        [],
    )
    assert [(c["invoice_id"], c["amount_wei"], c["to"]) for c in owed["credited"]] == [
        (invoice_id, str(DEAL_VALUE_WEI), accounts.customer.address)
    ]
    assert withdrawn["owed_wei"] == "0"
    assert [w["amount_wei"] for w in withdrawn["withdrawals"]] == [str(DEAL_VALUE_WEI)]


# ------------------------------------------------------------------ access and consent


def test_the_customer_sees_every_grant_and_revocation_with_its_purpose_and_lawful_basis(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    data.grant(customer_id, accounts.marketer.address, Purpose.BILLING, accounts.customer)
    data.revoke(customer_id, accounts.marketer.address, accounts.customer)

    (access,) = _me(cli, accounts, "access")

    agent, marketer, customer = accounts.agent.address, accounts.marketer.address, accounts.customer.address
    assert [(e["what"], e["staff"], e["purpose"], e["basis"], e["actor"]) for e in access["events"]] == [
        ("granted", agent, "sales", "contract", agent),
        ("granted", marketer, "billing", "legal-obligation", customer),
        ("revoked", marketer, "billing", "legal-obligation", customer),
    ]
    assert [(g["staff"], g["purpose"], g["basis"]) for g in access["can_read"]] == [(agent, "sales", "contract")]
    assert access["could_read"] == [marketer]
    assert {(r["address"], r["why"], r["purpose"]) for r in access["readers_now"]} == {
        (customer, "wallet", None),
        (accounts.manager.address, "manager", None),
        (agent, "grant", "sales"),
    }
    assert set(access["profile_readers"]) == {agent, accounts.manager.address, customer}


def test_withdrawing_a_consent_shows_the_grant_it_ended(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    data.set_consent(customer_id, Purpose.MARKETING, True, accounts.customer)
    data.grant(customer_id, accounts.marketer.address, Purpose.MARKETING, accounts.customer)
    data.set_consent(customer_id, Purpose.MARKETING, False, accounts.customer)

    (access,) = _me(cli, accounts, "access")

    ended = access["events"][-1]
    assert (ended["what"], ended["staff"], ended["purpose"], ended["basis"]) == (
        "revoked",
        accounts.marketer.address,
        "marketing",
        "consent",
    )
    assert ended["by_consent_withdrawal"] is True and ended["actor"] == accounts.customer.address


def test_the_customer_sees_each_consent_purpose_and_every_change(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    data.set_consent(customer_id, Purpose.MARKETING, True, accounts.customer)
    data.set_consent(customer_id, Purpose.PROFILING, True, accounts.customer)
    data.set_consent(customer_id, Purpose.MARKETING, False, accounts.customer)

    (consents,) = _me(cli, accounts, "consents")

    assert consents["given"] == ["profiling"]
    assert [(p["purpose"], p["given"], p["since"] is not None) for p in consents["purposes"]] == [
        ("marketing", False, True),
        ("profiling", True, True),
        ("third-party-sharing", False, False),
    ]
    assert [(c["purpose"], c["granted"], c["relayer"]) for c in consents["changes"]] == [
        ("marketing", True, accounts.customer.address),
        ("profiling", True, accounts.customer.address),
        ("marketing", False, accounts.customer.address),
    ]


# ------------------------------------------------------------------ everything


def test_me_all_prints_every_section_as_tables(
    cli: Cli, crm: Crm, notes: CustomerNotes, invoice_id: int, customer_id: int, accounts: Accounts
) -> None:
    notes.log_interaction(customer_id, InteractionKind.CALL, Outcome.POSITIVE, InteractionContent(NOTE), accounts.agent)

    run = cli("me", "all", "--keystore", accounts.customer.address)

    assert run.exit_code == 0, run.stderr
    titles = ("Customer ", "Interactions with customer", "Deals of customer", "Invoices of customer",
              "Refunds of customer", "Access to", "Who can read your data now", "Consents of customer")  # fmt: skip
    assert all(title in run.stdout for title in titles)
    assert PROFILE.email in run.stdout and NOTE[:40] in run.stdout
    assert "sales (contract)" in run.stdout and "consents to: nothing" in run.stdout


def test_me_all_as_json_holds_every_section(cli: Cli, customer_id: int, accounts: Accounts) -> None:
    everything = _me(cli, accounts, "all")

    assert everything["wallet"] == accounts.customer.address
    (record,) = everything["customers"]
    assert set(record) == {
        "customer_id",
        "profile",
        "interactions",
        "deals",
        "invoices",
        "refunds",
        "access",
        "consents",
    }
    assert record["customer_id"] == customer_id
