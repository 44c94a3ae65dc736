"""`chaincrm me ...` and `chaincrm.transparency`: the customer's own view of their records."""

from __future__ import annotations

from typing import Any

import pytest

from chaincrm.client import Crm
from chaincrm.customers import CustomerData
from chaincrm.documents import content_hash
from chaincrm.models import InteractionKind, Outcome, Purpose, Stage
from chaincrm.privacy import CustomerProfile
from chaincrm.registry import InteractionEntry
from chaincrm.transparency import CustomerView, customer_ids_of
from tests.cli.conftest import DEAL_VALUE_WEI, PROFILE, Accounts, Cli

pytestmark = pytest.mark.usefixtures("snapshot")

OTHER_PROFILE = CustomerProfile(name="Bruno Keller", email="bruno.keller@example.org")


def _other_customer(data: CustomerData, accounts: Accounts) -> int:
    """A second customer whose wallet is the stranger's."""
    return data.add(
        OTHER_PROFILE, wallet=accounts.stranger.address, purpose=Purpose.SALES, agent=accounts.agent
    ).customer_id


def _me(cli: Cli, accounts: Accounts, *args: object) -> Any:
    return cli("me", *args, "--keystore", accounts.customer.address, "--json").json()


# ------------------------------------------------------------------ which records


def test_the_wallet_owns_exactly_the_records_registered_for_it(
    crm: Crm, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)

    mine = customer_ids_of(crm, accounts.customer.address)

    assert mine == (customer_id,)
    assert customer_ids_of(crm, accounts.stranger.address) == (other,)


def test_a_record_moves_with_its_wallet(crm: Crm, customer_id: int, accounts: Accounts) -> None:
    crm.registry.set_customer_wallet(customer_id, accounts.stranger.address, accounts.manager)

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


# ------------------------------------------------------------------ the views


def test_the_customer_reads_their_own_decrypted_profile(cli: Cli, customer_id: int, accounts: Accounts) -> None:
    (profile,) = _me(cli, accounts, "profile")

    assert profile["customer_id"] == customer_id and profile["status"] == "active"
    assert profile["profile"]["name"] == PROFILE.name and profile["profile"]["email"] == PROFILE.email
    assert set(profile["readers"]) == {accounts.agent.address, accounts.customer.address}


def test_the_customer_sees_their_interactions_and_not_another_customers(
    cli: Cli, crm: Crm, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)
    crm.registry.log_interaction(
        InteractionEntry(customer_id, InteractionKind.CALL, Outcome.POSITIVE, content_hash(b"call")), accounts.agent
    )
    crm.registry.log_interaction(
        InteractionEntry(other, InteractionKind.EMAIL, Outcome.NEUTRAL, content_hash(b"theirs")), accounts.agent
    )
    crm.registry.log_interactions(
        [
            InteractionEntry(other, InteractionKind.NOTE, Outcome.NONE, content_hash(b"theirs too")),
            InteractionEntry(customer_id, InteractionKind.MEETING, Outcome.FOLLOW_UP, content_hash(b"meeting")),
        ],
        accounts.agent,
    )

    seen = _me(cli, accounts, "interactions")

    assert [(i["customer_id"], i["kind"], i["outcome"], i["author"], i["position"]) for i in seen] == [
        (customer_id, "call", "positive", accounts.agent.address, 0),
        (customer_id, "meeting", "follow-up", accounts.agent.address, 1),
    ]
    assert all(i["at"] > 0 for i in seen)


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


def test_the_customer_sees_their_invoice_and_their_payment(
    cli: Cli, crm: Crm, invoice_id: int, accounts: Accounts
) -> None:
    crm.escrow.pay(invoice_id, accounts.customer)

    (invoice,) = _me(cli, accounts, "invoices")

    assert invoice["invoice_id"] == invoice_id and invoice["status"] == "paid"
    assert [(e["what"], e["amount_wei"], e["by"]) for e in invoice["events"]] == [
        ("issued", str(DEAL_VALUE_WEI), crm.pipeline.address),
        ("paid", str(DEAL_VALUE_WEI), accounts.customer.address),
    ]


def test_the_customer_sees_every_grant_and_revocation_with_its_purpose(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    data.grant(customer_id, accounts.manager.address, Purpose.SUPPORT, accounts.customer)
    data.revoke(customer_id, accounts.manager.address, accounts.customer)

    (access,) = _me(cli, accounts, "access")

    assert [(e["what"], e["staff"], e["purpose"], e["actor"]) for e in access["events"]] == [
        ("granted", accounts.agent.address, "sales", accounts.agent.address),
        ("granted", accounts.manager.address, "support", accounts.customer.address),
        ("revoked", accounts.manager.address, "support", accounts.customer.address),
    ]
    assert [(g["staff"], g["purpose"]) for g in access["can_read"]] == [(accounts.agent.address, "sales")]
    assert access["could_read"] == [accounts.manager.address]
    assert set(access["profile_readers"]) == {accounts.agent.address, accounts.customer.address}


def test_the_customer_sees_their_consents_and_every_change(
    cli: Cli, crm: Crm, customer_id: int, accounts: Accounts
) -> None:
    crm.registry.set_consent(customer_id, Purpose.MARKETING, True, accounts.customer)
    crm.registry.set_consent(customer_id, Purpose.BILLING, True, accounts.customer)
    crm.registry.set_consent(customer_id, Purpose.MARKETING, False, accounts.customer)

    (consents,) = _me(cli, accounts, "consents")

    assert consents["given"] == ["billing"]
    assert [(c["purpose"], c["granted"]) for c in consents["changes"]] == [
        ("marketing", True),
        ("billing", True),
        ("marketing", False),
    ]


def test_a_profile_not_sealed_for_the_wallet_is_refused_with_one_line(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)  # the stranger never published a key

    run = cli("me", "profile", "--keystore", accounts.stranger.address)

    assert run.error.startswith(f"error: customer {other}'s profile is not sealed for {accounts.stranger.address}")


def test_me_all_shows_the_rest_when_the_profile_is_not_sealed_for_the_wallet(
    cli: Cli, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    other = _other_customer(data, accounts)

    everything = cli("me", "all", "--keystore", accounts.stranger.address, "--json").json()

    (record,) = everything["customers"]
    assert record["customer_id"] == other
    assert record["profile"]["profile"] is None and record["profile"]["sealed_for_you"] is False
    assert [e["staff"] for e in record["access"]["events"]] == [accounts.agent.address]


def test_an_erased_customer_sees_the_receipt_hash_and_no_readers(
    crm: Crm, data: CustomerData, customer_id: int, accounts: Accounts
) -> None:
    erased = data.erase(customer_id, accounts.customer)

    own = CustomerView(crm, data.store, accounts.customer).profile(customer_id)

    assert own.profile is None and own.readers == ()
    assert own.erasure_receipt_hash == erased.receipt_hash


def test_me_all_prints_every_section_as_tables(cli: Cli, crm: Crm, invoice_id: int, accounts: Accounts) -> None:
    run = cli("me", "all", "--keystore", accounts.customer.address)

    assert run.exit_code == 0, run.stderr
    for title in ("Customer ", "Interactions with customer", "Deals of customer", "Invoices of customer", "Access to"):
        assert title in run.stdout
    assert PROFILE.email in run.stdout and "Can read now:" in run.stdout and "consents to: nothing" in run.stdout


def test_me_all_as_json_holds_every_section(cli: Cli, customer_id: int, accounts: Accounts) -> None:
    everything = _me(cli, accounts, "all")

    assert everything["wallet"] == accounts.customer.address
    (record,) = everything["customers"]
    assert set(record) == {"customer_id", "profile", "interactions", "deals", "invoices", "access", "consents"}
    assert record["customer_id"] == customer_id
