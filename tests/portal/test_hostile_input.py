"""Hostile input to the customer portal: odd invoice ids, sign-in messages and signatures, relay
bodies, headers and methods. Each is a 4xx JSON error with a stable code (the 404 page for HTML),
changes nothing, and leaves no 500 (the autouse check on the server's unexpected_errors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chaincrm.portal.api import MAX_BODY_BYTES
from tests.portal.conftest import PortalServer, personal_sign, sign_in, siwe_message
from tests.portal.test_relay import Unchanged, consent_body

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def refused(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"]["code"] == code


ODD_IDS = ["0x1", "-1", "+1", "1.0", "1e3", "1_000", "１", " 1", str(2**64), "9" * 5000, "%00", "%2e%2e"]


@pytest.mark.parametrize("text", ODD_IDS)
def test_a_malformed_invoice_id_is_400_as_json_and_the_404_page_as_html(client: httpx.Client, text: str) -> None:
    refused(client.get(f"/api/invoices/{text}"), 400, "invalid_id")
    page = client.get(f"/pay/{text}")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("text", [str(2**63), str(2**64 - 1), "999999"])
def test_an_invoice_id_that_names_nothing_is_404(client: httpx.Client, text: str) -> None:
    refused(client.get(f"/api/invoices/{text}"), 404, "invoice_unknown")
    assert client.get(f"/pay/{text}").status_code == 404


@pytest.mark.parametrize("path", ["/api/invoices/1/2", "/api/invoices/", "/api/nothing", "/api/me/../config/x"])
def test_an_unknown_api_route_is_a_json_404(client: httpx.Client, path: str) -> None:
    refused(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/api/config"),
        ("PUT", "/api/invoices/1"),
        ("DELETE", "/api/me"),
        ("GET", "/api/siwe/verify"),
        ("GET", "/api/relay"),
        ("PATCH", "/api/siwe/logout"),
        ("OPTIONS", "/api/relay"),
    ],
)
def test_a_method_a_route_does_not_take_is_405(client: httpx.Client, method: str, path: str) -> None:
    refused(client.request(method, path), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/config", "/api/invoices/1", "/pay/1", "/"])
def test_head_answers_like_get_without_a_body(client: httpx.Client, path: str) -> None:
    answer = client.head(path)

    assert answer.status_code == 200
    assert answer.content == b""


def test_a_post_to_a_page_is_405(client: httpx.Client) -> None:
    assert client.post("/pay/1").status_code == 405


# ------------------------------------------------------------------ bodies

HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("null", b"null"),
    ("a string", b'"hello"'),
    ("an array", b'[{"message": "m", "signature": "0x"}]'),
    ("deeply nested", b"[" * 10_000),
    ("utf-16", '{"message": "m", "signature": "0x"}'.encode("utf-16")),
    ("not utf-8", b'{"message": "\xff", "signature": "0x"}'),
    ("duplicate keys", b'{"message": "m", "message": "n", "signature": "0x"}'),
    ("numbers", b'{"message": 1, "signature": 2}'),
    ("nulls", b'{"message": null, "signature": null}'),
    ("NaN", b'{"message": NaN, "signature": "0x"}'),
    ("huge number", b'{"message": ' + b"9" * 5000 + b', "signature": "0x"}'),
]


@pytest.mark.parametrize("content", [body for _, body in HOSTILE_BODIES], ids=[name for name, _ in HOSTILE_BODIES])
@pytest.mark.parametrize("path", ["/api/siwe/verify", "/api/relay"])
def test_a_hostile_body_is_400(portal_server: PortalServer, signed_in: httpx.Client, path: str, content: bytes) -> None:
    answer = signed_in.post(path, content=content, headers={"Content-Type": "application/json"})
    refused(answer, 400, "invalid_request")


def test_a_body_over_the_limit_is_413(client: httpx.Client) -> None:
    refused(client.post("/api/siwe/verify", content=b"x" * (MAX_BODY_BYTES + 1)), 413, "request_too_large")


def test_a_chunked_body_over_the_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 1024

    refused(client.post("/api/siwe/verify", content=chunks()), 413, "request_too_large")


RELAY_BASE: dict[str, Any] = {
    "action": "consent",
    "customer_id": 1,
    "purpose": "marketing",
    "granted": True,
    "nonce": 0,
    "deadline": 2**40,
    "signature": "0x" + "11" * 65,
}


@pytest.mark.parametrize(
    "change",
    [
        {"customer_id": "1"},
        {"customer_id": 1.0},
        {"customer_id": True},
        {"customer_id": 2**64},
        {"nonce": 2**256},
        {"nonce": -1},
        {"deadline": "9999999999"},
        {"deadline": 2**256},
        {"granted": "true"},
        {"granted": 1},
        {"purpose": "Marketing"},
        {"purpose": ["marketing"]},
        {"action": "CONSENT"},
        {"signature": "0x" + "11" * 64},
        {"signature": "0x" + "11" * 66},
        {"signature": "0x" + "zz" * 65},
        {"signature": "11" * 66},
        {"signature": None},
    ],
)
def test_a_relay_body_with_a_wrong_type_or_range_is_400(signed_in: httpx.Client, change: dict[str, Any]) -> None:
    refused(signed_in.post("/api/relay", json={**RELAY_BASE, **change}), 400, "invalid_request")


@pytest.mark.parametrize(
    "params",
    [
        {"action": "consent", "customer": "-1", "purpose": "marketing", "granted": "true"},
        {"action": "consent", "customer": "1", "purpose": "marketing", "granted": "True"},
        {"action": "consent", "customer": "1", "purpose": "MARKETING", "granted": "true"},
        {"action": "consent", "customer": "9" * 100, "purpose": "marketing", "granted": "true"},
        {"action": "revoke", "customer": "1", "staff": "0x1234"},
        {"action": "Revoke", "customer": "1"},
        {"action": "consent"},
    ],
)
def test_a_malformed_typed_data_query_is_400(signed_in: httpx.Client, params: dict[str, str]) -> None:
    refused(signed_in.get("/api/me/typed-data", params=params), 400, "invalid_request")


# ------------------------------------------------------------------ sign-in


def _verify(client: httpx.Client, message: str, signature: str) -> httpx.Response:
    return client.post("/api/siwe/verify", json={"message": message, "signature": signature})


def _message(server: PortalServer, client: httpx.Client, **changes: Any) -> str:
    fields: dict[str, Any] = {
        "domain": client.base_url.netloc.decode(),
        "address": server.customer.address,
        "chain_id": server.crm.chain.chain_id,
        "nonce": client.get("/api/siwe/nonce").json()["nonce"],
    }
    return siwe_message(**{**fields, **changes})


def test_a_message_not_yet_valid_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    message = _message(portal_server, client).replace(
        "\nIssued At:", "\nNot Before: 2999-01-01T00:00:00.000Z\nIssued At:"
    )
    lines = message.split("\n")
    not_before = lines.pop(next(i for i, line in enumerate(lines) if line.startswith("Not Before")))
    lines.append(not_before)  # EIP-4361 puts Not Before after the Expiration Time
    message = "\n".join(lines)
    refused(_verify(client, message, personal_sign(portal_server.customer, message)), 401, "siwe_invalid")


def test_a_message_issued_in_the_future_and_already_expired_is_refused(
    portal_server: PortalServer, client: httpx.Client
) -> None:
    message = _message(
        portal_server, client, issued_at=datetime.now(tz=UTC) - timedelta(days=1), expires_in=timedelta(seconds=1)
    )
    refused(_verify(client, message, personal_sign(portal_server.customer, message)), 401, "siwe_expired")


@pytest.mark.parametrize("line", ["Chain ID: 1", "Nonce: aaaaaaaaaaaaaaaa", "Version: 1", "URI: http://evil.example"])
def test_a_message_with_a_duplicated_field_is_refused(
    portal_server: PortalServer, client: httpx.Client, line: str
) -> None:
    message = _message(portal_server, client) + "\n" + line
    refused(_verify(client, message, personal_sign(portal_server.customer, message)), 401, "siwe_invalid")


@pytest.mark.parametrize("domain", ["evil.example", "127.0.0.1", "localhost", "127.0.0.1:1"])
def test_a_message_for_another_host_or_port_is_refused(
    portal_server: PortalServer, client: httpx.Client, domain: str
) -> None:
    message = _message(portal_server, client, domain=domain)
    refused(_verify(client, message, personal_sign(portal_server.customer, message)), 401, "siwe_domain")


@pytest.mark.parametrize("chain_id", [1, 0, 2**256])
def test_a_message_for_another_chain_is_refused(
    portal_server: PortalServer, client: httpx.Client, chain_id: int
) -> None:
    message = _message(portal_server, client, chain_id=chain_id)
    answer = _verify(client, message, personal_sign(portal_server.customer, message))
    refused(answer, 401, "siwe_invalid" if chain_id == 0 else "siwe_chain")  # EIP-4361 chain ids start at 1


def _high_s(signature: str) -> str:
    raw = bytes.fromhex(signature[2:])
    s = int.from_bytes(raw[32:64], "big")
    v = raw[64]
    flipped = 27 + (1 - (v - 27)) if v >= 27 else 1 - v
    return "0x" + (raw[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([flipped])).hex()


def test_a_high_s_signature_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    message = _message(portal_server, client)
    refused(_verify(client, message, _high_s(personal_sign(portal_server.customer, message))), 401, "siwe_invalid")


@pytest.mark.parametrize(
    "signature",
    [
        "0x",
        "0x" + "00" * 64,
        "0x" + "00" * 66,
        "0x" + "ff" * 65,
        "0x" + "00" * 65,
        "0X" + "11" * 65,
        "0x" + "１" * 130,
        "0x" + "11" * 64 + "05",
        "0x" + "ff" * 32 + "11" * 32 + "1b",
    ],
)
def test_a_signature_of_the_wrong_length_or_out_of_range_is_refused(
    portal_server: PortalServer, client: httpx.Client, signature: str
) -> None:
    refused(_verify(client, _message(portal_server, client), signature), 401, "siwe_invalid")


def test_a_huge_sign_in_message_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    message = _message(portal_server, client) + "\nResources:\n- " + "a" * 5000
    refused(_verify(client, message, "0x" + "11" * 65), 401, "siwe_invalid")


# ------------------------------------------------------------------ headers and cookies


@pytest.mark.parametrize("cookie", ["", "x", "a" * 4000, "e30.garbage", '"quoted"', "%00", "eyJhIjogMX0.AAAA"])
def test_a_garbage_session_cookie_is_session_missing(client: httpx.Client, cookie: str) -> None:
    refused(client.get("/api/me", headers={"Cookie": f"chaincrm_session={cookie}"}), 401, "session_missing")


@pytest.mark.parametrize("origin", ["null", "http://evil.example", "http://127.0.0.1", "HTTP://127.0.0.1:1"])
def test_a_sign_in_from_another_origin_is_403(client: httpx.Client, origin: str) -> None:
    answer = client.post("/api/siwe/verify", json={"message": "m", "signature": "0x"}, headers={"Origin": origin})
    refused(answer, 403, "origin_refused")


def test_a_valid_sign_in_still_works_after_the_probes(portal_server: PortalServer, client: httpx.Client) -> None:
    assert sign_in(client, portal_server.customer, portal_server.crm.chain.chain_id).status_code == 200


def test_a_high_s_relay_signature_is_refused_and_sends_nothing(
    portal_server: PortalServer, signed_in: httpx.Client
) -> None:
    body = consent_body(signed_in, portal_server.customer, portal_server.customer_id)
    unchanged = Unchanged(portal_server, portal_server.customer_id)

    answer = signed_in.post("/api/relay", json={**body, "signature": _high_s(body["signature"])})

    refused(answer, 400, "signature_invalid")
    unchanged.check()
