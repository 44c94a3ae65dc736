"""Refusals: keys (missing, invalid, revoked, read-only, beyond the role, signer not unlocked) and
bad input (malformed bodies, unknown fields, overflowing numbers, unknown ids). Each is a 4xx JSON
error with a stable code, and sends nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chaincrm.api.errors import MAX_BODY_BYTES
from tests.api.conftest import ApiServer, api_client, error_of, sent_count


@pytest.fixture
def unchanged(api_server: ApiServer) -> Iterator[None]:
    """The test sends no transaction from any unlocked signer."""
    crm, accounts = api_server.crm, api_server.accounts
    signers = (accounts.agent.address, accounts.manager.address)
    before = [sent_count(crm, address) for address in signers]
    yield
    assert [sent_count(crm, address) for address in signers] == before


def deal_body(server: ApiServer) -> dict[str, Any]:
    return {"customer_id": server.customer_id, "value_wei": "1000"}


# ------------------------------------------------------------------ keys


@pytest.mark.parametrize(
    "headers, code",
    [
        ({}, "api_key_missing"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "api_key_missing"),
        ({"Authorization": "Bearer"}, "api_key_missing"),
        ({"Authorization": "Bearer ck_not-a-key"}, "api_key_invalid"),
        ({"Authorization": "Bearer sk_live_123"}, "api_key_invalid"),
        ({"Authorization": "Bearer ck_" + "A" * 500}, "api_key_invalid"),
    ],
)
def test_a_request_without_a_valid_key_is_401(api_server: ApiServer, headers: dict[str, str], code: str) -> None:
    with httpx.Client(base_url=api_server.url + "/api/v1", headers=headers) as client:
        read = client.get("/customers")
        write = client.post("/deals", json=deal_body(api_server))

    assert read.status_code == write.status_code == 401
    assert error_of(read)["code"] == error_of(write)["code"] == code


def test_a_revoked_key_is_refused(api_server: ApiServer, unchanged: None) -> None:
    with api_client(api_server, api_server.keys.revoked) as client:
        read = client.get("/customers")
        write = client.post("/deals", json=deal_body(api_server))

    assert read.status_code == write.status_code == 401
    assert error_of(read)["code"] == error_of(write)["code"] == "api_key_revoked"


def test_a_key_revoked_while_the_server_runs_is_refused_at_once(api_server: ApiServer) -> None:
    record, key = api_server.key_store.create(api_server.accounts.agent.address, name="short-lived")
    with api_client(api_server, key) as client:
        before = client.get("/customers")
        api_server.key_store.revoke(record.id)
        after = client.get("/customers")

    assert before.status_code == 200
    assert after.status_code == 401 and error_of(after)["code"] == "api_key_revoked"


def test_a_read_only_key_reads_but_does_not_write(api_server: ApiServer, unchanged: None) -> None:
    with api_client(api_server, api_server.keys.read_only) as client:
        read = client.get("/deals")
        write = client.post("/deals", json=deal_body(api_server))
        action = client.post(f"/invoices/{api_server.invoice_id}/cancel")

    assert read.status_code == 200
    assert write.status_code == action.status_code == 403
    assert error_of(write)["code"] == error_of(action)["code"] == "api_key_read_only"


@pytest.mark.parametrize("action", ["refund", "release", "cancel"])
def test_an_agent_key_is_refused_a_managers_invoice_action(
    api_server: ApiServer, agent_api: httpx.Client, unchanged: None, action: str
) -> None:
    answer = agent_api.post(f"/invoices/{api_server.invoice_id}/{action}")

    assert answer.status_code == 403
    error = error_of(answer)
    assert error["code"] == "role_refused"
    assert "manager" in str(error["message"])


def test_an_agent_key_is_refused_a_reissue(api_server: ApiServer, agent_api: httpx.Client, unchanged: None) -> None:
    answer = agent_api.post("/deals/1/reissue")

    assert answer.status_code == 403
    assert error_of(answer)["code"] == "role_refused"


def test_a_key_whose_keystore_is_not_unlocked_cannot_write(api_server: ApiServer, unchanged: None) -> None:
    with api_client(api_server, api_server.keys.marketer) as client:
        read = client.get("/interactions")
        write = client.post("/deals", json=deal_body(api_server))

    assert read.status_code == 200
    assert write.status_code == 503
    assert error_of(write)["code"] == "signer_not_unlocked"


# ------------------------------------------------------------------ bad input

BAD_DEALS: list[tuple[str, Any]] = [
    ("not an object", [1, 2]),
    ("no value", {"customer_id": 1}),
    ("unknown field", {"customer_id": 1, "value_wei": "1", "discount": 5}),
    ("id as text", {"customer_id": "1", "value_wei": "1"}),
    ("id as float", {"customer_id": 1.0, "value_wei": "1"}),
    ("id as bool", {"customer_id": True, "value_wei": "1"}),
    ("id zero", {"customer_id": 0, "value_wei": "1"}),
    ("id 2**64", {"customer_id": 2**64, "value_wei": "1"}),
    ("id 2**256", {"customer_id": 2**256, "value_wei": "1"}),
    ("wei 2**256", {"customer_id": 1, "value_wei": str(2**256)}),
    ("wei 2**256 as a number", {"customer_id": 1, "value_wei": 2**256}),
    ("wei huge", {"customer_id": 1, "value_wei": "9" * 500}),
    ("wei negative", {"customer_id": 1, "value_wei": "-5"}),
    ("wei zero", {"customer_id": 1, "value_wei": "0"}),
    ("wei in ether", {"customer_id": 1, "value_wei": "1.5"}),
    ("wei exponent", {"customer_id": 1, "value_wei": 1e18}),
    ("owner not an address", {"customer_id": 1, "value_wei": "1", "owner": "0x1234"}),
    ("owner bad checksum", {"customer_id": 1, "value_wei": "1", "owner": "0x70997970c51812DC3A010C7d01b50e0d17dc79C8"}),
]


@pytest.mark.parametrize("body", [body for _, body in BAD_DEALS], ids=[name for name, _ in BAD_DEALS])
def test_a_malformed_deal_is_400(agent_api: httpx.Client, unchanged: None, body: Any) -> None:
    answer = agent_api.post("/deals", json=body)

    assert answer.status_code == 400, answer.text
    assert error_of(answer)["code"] == "invalid_request"


@pytest.mark.parametrize(
    "path, body",
    [
        ("/interactions", {"customer_id": 1, "kind": "fax"}),
        ("/interactions", {"customer_id": 1, "kind": "call", "outcome": "great"}),
        ("/interactions", {"customer_id": 1, "kind": 1}),
        ("/interactions", {"customer_id": 1, "kind": "call", "note": 5}),
        ("/interactions", {"customer_id": 1, "kind": "call", "note": "x" * 100_001}),
        ("/deals/1/stage", {"stage": "lost"}),
        ("/deals/1/stage", {"stage": "none"}),
        ("/deals/1/stage", {}),
        ("/deals/1/lose", {"reason": "bored"}),
        ("/deals/1/lose", {"reason": "price", "note": "x"}),
    ],
)
def test_a_malformed_write_is_400(agent_api: httpx.Client, unchanged: None, path: str, body: Any) -> None:
    answer = agent_api.post(path, json=body)

    assert answer.status_code == 400, answer.text
    assert error_of(answer)["code"] == "invalid_request"


@pytest.mark.parametrize(
    "content", [b"", b"{", b"{'a': 1}", b"NaN", b'{"customer_id": 1, "value_wei": "1"', b"\xff\xfe"]
)
def test_a_body_that_is_not_json_is_400(agent_api: httpx.Client, unchanged: None, content: bytes) -> None:
    answer = agent_api.post("/deals", content=content, headers={"Content-Type": "application/json"})

    assert answer.status_code == 400, answer.text
    assert error_of(answer)["code"] == "invalid_request"


def test_a_body_too_large_is_413(agent_api: httpx.Client, unchanged: None) -> None:
    answer = agent_api.post(
        "/interactions",
        content=b'{"note": "' + b"x" * MAX_BODY_BYTES + b'"}',
        headers={"Content-Type": "application/json"},
    )

    assert answer.status_code == 413
    assert error_of(answer)["code"] == "request_too_large"


@pytest.mark.parametrize("deal_id", ["0", "-1", "abc", str(2**64), str(2**256), "1.5"])
def test_a_path_id_out_of_range_is_400(agent_api: httpx.Client, unchanged: None, deal_id: str) -> None:
    read = agent_api.get(f"/deals/{deal_id}")
    write = agent_api.post(f"/deals/{deal_id}/stage", json={"stage": "qualified"})

    assert read.status_code == write.status_code == 400
    assert error_of(read)["code"] == error_of(write)["code"] == "invalid_request"


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"])
def test_a_malformed_idempotency_key_is_400(
    api_server: ApiServer, agent_api: httpx.Client, unchanged: None, key: str
) -> None:
    answer = agent_api.post("/deals", json=deal_body(api_server), headers=[("Idempotency-Key", key.encode())])

    assert answer.status_code == 400
    assert error_of(answer)["code"] == "invalid_request"


def test_an_unknown_route_and_method_answer_json(agent_api: httpx.Client) -> None:
    missing = agent_api.get("/contacts")
    wrong = agent_api.delete("/deals")

    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")
    assert (wrong.status_code, error_of(wrong)["code"]) == (405, "method_not_allowed")
