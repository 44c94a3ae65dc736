"""Relayed consent changes and grant revocations: what reaches the chain, and every refusal, each
of which sends nothing (the customer's nonce and the relayer's transaction count stay put)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chaincrm.models import Purpose
from tests.contracts.helpers import REGISTRY_DOMAIN_NAME, REGISTRY_DOMAIN_VERSION, SET_CONSENT_TYPES
from tests.portal.conftest import (
    PortalServer,
    new_customer,
    other_server_config,
    serve,
    sign_in,
    wait_for,
)

CHAIN_ID = 31337
LOW_BALANCE_WEI = 10**9


def sign_typed(account: LocalAccount, typed: dict[str, Any]) -> str:
    """What eth_signTypedData_v4 returns for the server's typed data."""
    types = {key: value for key, value in typed["types"].items() if key != "EIP712Domain"}
    message = {
        key: int(value) if isinstance(value, str) and not value.startswith("0x") else value
        for key, value in typed["message"].items()
    }
    signed = Account.sign_typed_data(account.key, typed["domain"], types, message)
    return "0x" + bytes(signed.signature).hex()


def consent_body(client: httpx.Client, wallet: LocalAccount, customer_id: int, granted: bool = True) -> dict[str, Any]:
    """A relay body as the page makes it: typed data from the server, signed by the wallet."""
    answer = client.get(
        "/api/me/typed-data",
        params={"action": "consent", "customer": customer_id, "purpose": "marketing", "granted": str(granted).lower()},
    )
    assert answer.status_code == 200, answer.text
    typed = answer.json()["typed_data"]
    return {
        "action": "consent",
        "customer_id": customer_id,
        "purpose": "marketing",
        "granted": granted,
        "nonce": int(typed["message"]["nonce"]),
        "deadline": answer.json()["deadline"],
        "signature": sign_typed(wallet, typed),
    }


def with_domain(body: dict[str, Any], wallet: LocalAccount, **domain: Any) -> dict[str, Any]:
    """`body` signed for another EIP-712 domain."""
    typed = {
        "domain": {
            "name": REGISTRY_DOMAIN_NAME,
            "version": REGISTRY_DOMAIN_VERSION,
            "chainId": CHAIN_ID,
            "verifyingContract": domain.pop("registry"),
            **domain,
        },
        "types": SET_CONSENT_TYPES,
        "message": {
            "customerId": body["customer_id"],
            "purpose": int(Purpose.MARKETING),
            "granted": body["granted"],
            "nonce": body["nonce"],
            "deadline": body["deadline"],
        },
    }
    return {**body, "signature": sign_typed(wallet, typed)}


class Unchanged:
    """Asserts that nothing was sent: the customer's nonce and the relayer's transaction count."""

    def __init__(self, server: PortalServer, customer_id: int) -> None:
        self.server = server
        self.customer_id = customer_id
        self.before = self.now()

    def now(self) -> tuple[int, int, bool]:
        crm = self.server.crm
        return (
            crm.registry.nonce_of(self.customer_id),
            int(crm.chain.w3.eth.get_transaction_count(self.server.relayer.address)),
            crm.registry.has_consent(self.customer_id, Purpose.MARKETING),
        )

    def check(self) -> None:
        assert self.now() == self.before


def refused(client: httpx.Client, body: Any, status: int, code: str) -> dict[str, Any]:
    answer = client.post("/api/relay", json=body)
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code
    return error


@pytest.fixture
def fresh(portal_server: PortalServer, store: Any, accounts: Any) -> Iterator[tuple[int, LocalAccount]]:
    """A customer of its own, bound to a new wallet, with the agent's sales grant."""
    wallet = Account.create()
    crm = portal_server.crm
    crm.chain.transfer(wallet.address, 10**18, accounts.admin)
    yield new_customer(crm, store, accounts, wallet), wallet


@pytest.fixture
def fresh_client(portal_server: PortalServer, fresh: tuple[int, LocalAccount]) -> Iterator[httpx.Client]:
    customer_id, wallet = fresh
    with httpx.Client(base_url=portal_server.url, timeout=30) as http:
        wait_for(lambda: sign_in(http, wallet, CHAIN_ID).json().get("customers") == [customer_id], "the new customer")
        yield http


def test_the_typed_data_is_what_eth_sign_typed_data_v4_takes(
    portal_server: PortalServer, signed_in: httpx.Client
) -> None:
    answer = signed_in.get(
        "/api/me/typed-data",
        params={"action": "consent", "customer": portal_server.customer_id, "purpose": "marketing", "granted": "true"},
    )

    body = answer.json()
    nonce = portal_server.crm.registry.nonce_of(portal_server.customer_id)
    assert body["typed_data"] == {
        "domain": {
            "name": REGISTRY_DOMAIN_NAME,
            "version": REGISTRY_DOMAIN_VERSION,
            "chainId": CHAIN_ID,
            "verifyingContract": portal_server.crm.registry.address,
        },
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **SET_CONSENT_TYPES,
        },
        "primaryType": "SetConsent",
        "message": {
            "customerId": str(portal_server.customer_id),
            "purpose": 4,
            "granted": True,
            "nonce": str(nonce),
            "deadline": str(body["deadline"]),
        },
    }
    assert 14 * 60 <= body["deadline"] - time.time() <= 16 * 60 + 5


def test_typed_data_for_another_customer_is_refused(portal_server: PortalServer, signed_in: httpx.Client) -> None:
    answer = signed_in.get(
        "/api/me/typed-data",
        params={"action": "revoke", "customer": portal_server.other_customer_id, "staff": portal_server.agent.address},
    )

    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_your_customer"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"action": "consent", "customer": "abc", "purpose": "marketing", "granted": "true"},
        {"action": "consent", "customer": "1", "purpose": "fun", "granted": "true"},
        {"action": "consent", "customer": "1", "purpose": "marketing", "granted": "yes"},
        {"action": "revoke", "customer": "1", "staff": "0x123"},
        {"action": "erase", "customer": "1"},
    ],
)
def test_malformed_typed_data_requests_are_refused(signed_in: httpx.Client, params: dict[str, str]) -> None:
    answer = signed_in.get("/api/me/typed-data", params=params)

    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"


def test_a_relayed_consent_change_reaches_the_chain_and_the_index(
    portal_server: PortalServer, fresh: tuple[int, LocalAccount], fresh_client: httpx.Client
) -> None:
    customer_id, wallet = fresh
    crm = portal_server.crm
    body = consent_body(fresh_client, wallet, customer_id)
    wallet_balance = crm.chain.w3.eth.get_balance(wallet.address)

    answer = fresh_client.post("/api/relay", json=body)

    assert answer.status_code == 200, answer.text
    result = answer.json()
    receipt = crm.chain.w3.eth.get_transaction_receipt(result["tx_hash"])
    assert (result["block_number"], result["gas_used"]) == (receipt["blockNumber"], receipt["gasUsed"])
    assert receipt["from"] == portal_server.relayer.address
    assert crm.registry.has_consent(customer_id, Purpose.MARKETING)
    assert crm.chain.w3.eth.get_balance(wallet.address) == wallet_balance  # the customer paid no gas

    def marketing() -> dict[str, Any] | None:
        (area,) = fresh_client.get("/api/me").json()["customers"]
        consent = next(c for c in area["consents"] if c["purpose"] == "marketing")
        return consent if consent["given"] else None

    consent = wait_for(marketing, "the consent in the index")
    assert consent["changed_at"] == crm.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]


def test_a_relayed_revocation_ends_the_grant(
    portal_server: PortalServer, fresh: tuple[int, LocalAccount], fresh_client: httpx.Client
) -> None:
    customer_id, wallet = fresh
    crm = portal_server.crm
    agent = portal_server.agent.address
    assert crm.registry.has_active_grant(customer_id, agent)
    typed = fresh_client.get(
        "/api/me/typed-data", params={"action": "revoke", "customer": customer_id, "staff": agent}
    ).json()
    body = {
        "action": "revoke",
        "customer_id": customer_id,
        "staff": agent,
        "nonce": int(typed["typed_data"]["message"]["nonce"]),
        "deadline": typed["deadline"],
        "signature": sign_typed(wallet, typed["typed_data"]),
    }

    answer = fresh_client.post("/api/relay", json=body)

    assert answer.status_code == 200, answer.text
    assert not crm.registry.has_active_grant(customer_id, agent)

    def revoked() -> list[dict[str, Any]] | None:
        (area,) = fresh_client.get("/api/me").json()["customers"]
        return area["access"] if area["grants"] == [] else None

    access = wait_for(revoked, "the revocation in the index")
    assert [(event["staff"], event["granted"], event["purpose"]) for event in access] == [
        (agent, True, "sales"),
        (agent, False, "sales"),
    ]
    assert access[-1]["actor"] == wallet.address


def test_a_replayed_signature_is_refused(
    portal_server: PortalServer, fresh: tuple[int, LocalAccount], fresh_client: httpx.Client
) -> None:
    customer_id, wallet = fresh
    body = consent_body(fresh_client, wallet, customer_id)
    assert fresh_client.post("/api/relay", json=body).status_code == 200
    unchanged = Unchanged(portal_server, customer_id)

    refused(fresh_client, body, 409, "signature_replayed")

    unchanged.check()


def test_a_signature_for_another_chain_is_refused(portal_server: PortalServer, signed_in: httpx.Client) -> None:
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id)
    other_chain = with_domain(body, portal_server.customer, registry=portal_server.crm.registry.address, chainId=1)
    unchanged = Unchanged(portal_server, portal_server.customer_id)

    refused(signed_in, other_chain, 400, "signature_invalid")

    unchanged.check()


def test_a_signature_for_another_contract_is_refused(portal_server: PortalServer, signed_in: httpx.Client) -> None:
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id)
    other_contract = with_domain(body, portal_server.customer, registry=portal_server.crm.escrow.address)
    unchanged = Unchanged(portal_server, portal_server.customer_id)

    refused(signed_in, other_contract, 400, "signature_invalid")

    unchanged.check()


def test_an_expired_signature_is_refused(portal_server: PortalServer, signed_in: httpx.Client) -> None:
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id)
    expired = with_domain(
        {**body, "deadline": int(time.time()) - 1}, portal_server.customer, registry=portal_server.crm.registry.address
    )
    unchanged = Unchanged(portal_server, portal_server.customer_id)

    refused(signed_in, expired, 400, "signature_expired")

    unchanged.check()


def test_another_customers_signature_is_refused(portal_server: PortalServer, signed_in: httpx.Client) -> None:
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id)
    by_stranger = with_domain(body, portal_server.stranger, registry=portal_server.crm.registry.address)
    unchanged = Unchanged(portal_server, portal_server.customer_id)

    refused(signed_in, by_stranger, 400, "signature_invalid")

    unchanged.check()


def test_a_relay_for_a_customer_that_is_not_yours_is_refused(
    portal_server: PortalServer, signed_in: httpx.Client
) -> None:
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id)
    unchanged = Unchanged(portal_server, portal_server.other_customer_id)

    refused(signed_in, {**body, "customer_id": portal_server.other_customer_id}, 403, "not_your_customer")
    refused(signed_in, {**body, "customer_id": 99999}, 403, "not_your_customer")

    unchanged.check()


def test_a_change_the_contract_refuses_is_answered_with_its_error(
    portal_server: PortalServer, signed_in: httpx.Client
) -> None:
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id, granted=False)
    unchanged = Unchanged(portal_server, portal_server.customer_id)

    error = refused(signed_in, body, 409, "contract_refused")

    assert error["revert"] == {
        "name": "ConsentUnchanged",
        "args": {"customerId": str(portal_server.customer_id), "purpose": "4", "granted": "False"},
    }
    unchanged.check()


def test_a_relayer_low_on_eth_says_so_and_sends_nothing(portal_server: PortalServer, signed_in: httpx.Client) -> None:
    crm = portal_server.crm
    provider = crm.chain.w3.provider
    balance = crm.chain.w3.eth.get_balance(portal_server.relayer.address)
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id)
    unchanged = Unchanged(portal_server, portal_server.customer_id)
    provider.make_request("anvil_setBalance", [portal_server.relayer.address, hex(LOW_BALANCE_WEI)])  # type: ignore[arg-type]
    try:
        error = refused(signed_in, body, 503, "relayer_balance_low")
    finally:
        provider.make_request("anvil_setBalance", [portal_server.relayer.address, hex(balance)])  # type: ignore[arg-type]

    assert "out of ETH" in error["message"] and "your own wallet" in error["message"]
    unchanged.check()


def test_a_portal_without_a_relayer_answers_503(portal_server: PortalServer) -> None:
    config = other_server_config(portal_server, relayer=None)
    with serve(config), httpx.Client(base_url=config.public_url) as http:
        assert sign_in(http, portal_server.customer, CHAIN_ID).status_code == 200
        body = consent_body(http, portal_server.customer, portal_server.customer_id)
        unchanged = Unchanged(portal_server, portal_server.customer_id)

        refused(http, body, 503, "relayer_unavailable")

    unchanged.check()


def test_a_relay_without_a_session_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    refused(client, {"action": "consent"}, 401, "session_missing")


JUNK: list[Any] = [
    [],
    "consent",
    None,
    {},
    {"action": "erase"},
    {"action": "consent", "customer_id": 1},
    {"action": "consent", "customer_id": "1", "purpose": "marketing", "granted": True, "nonce": 0, "deadline": 1,
     "signature": "0x" + "11" * 65},
    {"action": "consent", "customer_id": 1, "purpose": "marketing", "granted": "true", "nonce": 0, "deadline": 1,
     "signature": "0x" + "11" * 65},
    {"action": "consent", "customer_id": 1, "purpose": "marketing", "granted": True, "nonce": 2**256, "deadline": 1,
     "signature": "0x" + "11" * 65},
    {"action": "consent", "customer_id": 2**70, "purpose": "marketing", "granted": True, "nonce": 0, "deadline": 1,
     "signature": "0x" + "11" * 65},
    {"action": "consent", "customer_id": 1, "purpose": "marketing", "granted": True, "nonce": -1, "deadline": 1,
     "signature": "0x" + "11" * 65},
    {"action": "consent", "customer_id": 1, "purpose": "marketing", "granted": True, "nonce": 0.5, "deadline": 1,
     "signature": "0x" + "11" * 65},
    {"action": "consent", "customer_id": 1, "purpose": "fun", "granted": True, "nonce": 0, "deadline": 1,
     "signature": "0x" + "11" * 65},
    {"action": "consent", "customer_id": 1, "purpose": "marketing", "granted": True, "nonce": 0, "deadline": 1,
     "signature": "0xzz"},
    {"action": "consent", "customer_id": 1, "purpose": "marketing", "granted": True, "nonce": 0, "deadline": 1,
     "signature": "0x" + "11" * 64},
    {"action": "consent", "customer_id": 1, "purpose": "marketing", "granted": True, "nonce": 0, "deadline": 1,
     "signature": "0x" + "11" * 65, "extra": 1},
    {"action": "revoke", "customer_id": 1, "staff": "0x123", "nonce": 0, "deadline": 1,
     "signature": "0x" + "11" * 65},
    {"action": "revoke", "customer_id": 1, "staff": 5, "nonce": 0, "deadline": 1, "signature": "0x" + "11" * 65},
]  # fmt: skip


@pytest.mark.parametrize("body", JUNK)
def test_junk_relay_bodies_are_refused_and_send_nothing(
    portal_server: PortalServer, signed_in: httpx.Client, body: Any
) -> None:
    unchanged = Unchanged(portal_server, portal_server.customer_id)

    refused(signed_in, body, 400, "invalid_request")

    unchanged.check()


@pytest.mark.parametrize("content", [b"not json", b"{", b"Infinity", b"[1e999999]", b"9" * 5000])
def test_relay_bodies_that_are_not_json_are_refused(signed_in: httpx.Client, content: bytes) -> None:
    answer = signed_in.post("/api/relay", content=content, headers={"content-type": "application/json"})

    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"


def test_a_well_formed_signature_from_no_one_is_refused(portal_server: PortalServer, signed_in: httpx.Client) -> None:
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id)
    unchanged = Unchanged(portal_server, portal_server.customer_id)

    for signature in ("0x" + "00" * 65, "0x" + "ff" * 65, "0x" + "ab" * 64 + "99"):
        refused(signed_in, {**body, "signature": signature}, 400, "signature_invalid")

    unchanged.check()
