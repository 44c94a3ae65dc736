"""`offer issue --email`: the link goes to the address in the customer's encrypted profile, over a
real SMTP server, and only with the customer's marketing consent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaincrm.chain.keystores import create_keystore
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.contracts.deployment import save_record
from chaincrm.contracts.offers import Offer
from chaincrm.models import Purpose
from chaincrm.offers.status import offer_from_link
from chaincrm.privacy import CustomerProfile
from chaincrm.privacy.customers import CustomerData
from chaincrm.services.anvil import AnvilNode
from chaincrm.storage import KuboStore
from tests.automation.conftest import SmtpServer, schedule_text, smtp
from tests.cli.conftest import PASSWORD, SCRYPT_N_FOR_TESTS, Cli, cli_for, environment_for
from tests.sdk.conftest import Staff
from tests.sdk.ipfs_fixtures import ipfs_node

__all__ = ["ipfs_node", "smtp"]

PROFILE = CustomerProfile(name="Ada Okafor", email="ada.okafor@example.org")


@pytest.fixture(scope="module")
def store(ipfs_node) -> Iterator[KuboStore]:  # type: ignore[no-untyped-def]
    with KuboStore(ipfs_node.api_addr) as opened:
        yield opened


@pytest.fixture(scope="module")
def customer_id(crm: Crm, staff: Staff, store: KuboStore) -> int:
    data = CustomerData(crm, store)
    ref = data.add(PROFILE, wallet=staff.customer.address, purpose=Purpose.SALES, agent=staff.agent)
    data.approve_wallet(ref.customer_id, staff.customer.address, staff.manager)
    data.accept_wallet(ref.customer_id, staff.customer)
    return ref.customer_id


@pytest.fixture(scope="module")
def cli(crm: Crm, staff: Staff, anvil_node: AnvilNode, ipfs_node, tmp_path_factory: pytest.TempPathFactory) -> Cli:  # type: ignore[no-untyped-def]
    settings = Settings(rpc_url=anvil_node.url, ipfs_api=ipfs_node.api_addr, home=tmp_path_factory.mktemp("home"))
    save_record(crm.deployment, settings.deployment_path)
    create_keystore(settings.keystore_dir, PASSWORD, private_key=bytes(staff.manager.key), scrypt_n=SCRYPT_N_FOR_TESTS)
    return cli_for(environment_for(settings))


def _issue(cli: Cli, staff: Staff, customer_id: int, tmp_path: Path, schedule: Path, *more: str) -> object:
    return cli("offer", "issue", "--customer", customer_id, "--discount", "7.5%", "--out", tmp_path / "offer.json",
               "--keystore", staff.manager.address, "--email", "--schedule", schedule, *more)  # fmt: skip


def test_the_offer_is_emailed_to_a_consenting_customer(
    cli: Cli, crm: Crm, staff: Staff, store: KuboStore, customer_id: int, smtp: SmtpServer, tmp_path: Path,
    snapshot: None,
) -> None:  # fmt: skip
    CustomerData(crm, store).set_consent(customer_id, Purpose.MARKETING, True, staff.customer)
    schedule = tmp_path / "automation.toml"
    schedule.write_text(schedule_text(smtp.port))

    data = _issue(cli, staff, customer_id, tmp_path, schedule, "--json").json()  # type: ignore[attr-defined]

    assert data["emailed"] is True
    (message,) = smtp.messages
    assert message["To"] == PROFILE.email
    assert message["Subject"] == "A 7.5% discount on your next deal"
    offer = Offer.from_json((tmp_path / "offer.json").read_text())
    assert "".join(message["X-Chaincrm-Offer"].split()) == "0x" + offer.digest.hex()  # a long header is folded
    body = message.get_payload(decode=True).decode()  # quoted-printable on the wire
    assert "Hello Ada Okafor" in body and data["link"] in body
    assert offer_from_link(data["link"]) == offer


def test_without_marketing_consent_nothing_is_signed_or_sent(
    cli: Cli, staff: Staff, customer_id: int, smtp: SmtpServer, tmp_path: Path
) -> None:
    schedule = tmp_path / "automation.toml"
    schedule.write_text(schedule_text(smtp.port))

    run = _issue(cli, staff, customer_id, tmp_path, schedule)

    assert run.error == (  # type: ignore[attr-defined]
        f"error: customer {customer_id} has not consented to marketing: no offer e-mail (nothing signed)"
    )
    assert not (tmp_path / "offer.json").exists() and smtp.messages == []


def test_email_needs_a_schedule_with_smtp(cli: Cli, staff: Staff, customer_id: int, tmp_path: Path) -> None:
    run = cli("offer", "issue", "--customer", customer_id, "--discount", "5%", "--out", tmp_path / "o.json",
              "--keystore", staff.manager.address, "--email")  # fmt: skip
    assert "--email needs --schedule FILE" in run.usage_error
