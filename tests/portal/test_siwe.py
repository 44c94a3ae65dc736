"""Sign-In with Ethereum and the session: nonces single use, domain and chain checked, tampered,
expired and replayed messages refused, sessions that expire and end."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.portal.conftest import (
    PortalServer,
    local_url,
    other_server_config,
    personal_sign,
    serve,
    sign_in,
    siwe_message,
)

CHAIN_ID = 31337


def error_code(answer: httpx.Response) -> str:
    code: str = answer.json()["error"]["code"]
    return code


def test_a_customer_signs_in_and_sees_their_records(portal_server: PortalServer, client: httpx.Client) -> None:
    answer = sign_in(client, portal_server.customer, CHAIN_ID)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["address"] == portal_server.customer.address
    assert body["customers"] == [portal_server.customer_id]
    assert abs(body["expires_at"] - (time.time() + portal_server.app_config.session_seconds)) < 60
    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["address"] == portal_server.customer.address
    assert [customer["id"] for customer in me.json()["customers"]] == [portal_server.customer_id]


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_on_http(
    portal_server: PortalServer, client: httpx.Client
) -> None:
    answer = sign_in(client, portal_server.customer, CHAIN_ID)

    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("chaincrm_session=")
    parts = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= parts
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in parts


def test_the_session_cookie_is_secure_when_the_public_url_is_https(portal_server: PortalServer) -> None:
    port = local_url().rsplit(":", 1)[1]
    secure = other_server_config(portal_server, public_url=f"https://127.0.0.1:{port}")
    with serve(secure), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        nonce = http.get("/api/siwe/nonce").json()["nonce"]
        message = siwe_message(
            domain=f"127.0.0.1:{port}", address=portal_server.customer.address, chain_id=CHAIN_ID, nonce=nonce
        )
        answer = http.post(
            "/api/siwe/verify", json={"message": message, "signature": personal_sign(portal_server.customer, message)}
        )

    assert answer.status_code == 200, answer.text
    assert "secure" in {part.strip().lower() for part in answer.headers["set-cookie"].split(";")}


def test_a_replayed_sign_in_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    nonce = client.get("/api/siwe/nonce").json()["nonce"]
    message = siwe_message(
        domain=client.base_url.netloc.decode(), address=portal_server.customer.address, chain_id=CHAIN_ID, nonce=nonce
    )
    body = {"message": message, "signature": personal_sign(portal_server.customer, message)}
    assert client.post("/api/siwe/verify", json=body).status_code == 200

    with httpx.Client(base_url=portal_server.url) as attacker:
        replayed = attacker.post("/api/siwe/verify", json=body)

    assert replayed.status_code == 401
    assert error_code(replayed) == "siwe_nonce"
    assert "set-cookie" not in replayed.headers


def test_a_nonce_the_server_never_issued_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    answer = sign_in(client, portal_server.customer, CHAIN_ID, nonce="madeup12345678")

    assert answer.status_code == 401
    assert error_code(answer) == "siwe_nonce"


def test_an_expired_nonce_is_refused(portal_server: PortalServer) -> None:
    config = other_server_config(portal_server, nonce_seconds=1)
    with serve(config), httpx.Client(base_url=config.public_url) as http:
        nonce = http.get("/api/siwe/nonce").json()["nonce"]
        time.sleep(1.2)
        answer = sign_in(http, portal_server.customer, CHAIN_ID, nonce=nonce)

    assert answer.status_code == 401
    assert error_code(answer) == "siwe_nonce"


def test_a_message_for_another_domain_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    answer = sign_in(client, portal_server.customer, CHAIN_ID, domain="evil.example")

    assert answer.status_code == 401
    assert error_code(answer) == "siwe_domain"


def test_a_message_for_another_chain_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    answer = sign_in(client, portal_server.customer, 1)

    assert answer.status_code == 401
    assert error_code(answer) == "siwe_chain"


def test_an_expired_message_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    answer = sign_in(
        client,
        portal_server.customer,
        CHAIN_ID,
        issued_at=datetime.now(tz=UTC) - timedelta(minutes=20),
        expires_in=timedelta(minutes=10),
    )

    assert answer.status_code == 401
    assert error_code(answer) == "siwe_expired"


def test_a_tampered_message_is_refused_and_keeps_its_nonce_unused(
    portal_server: PortalServer, client: httpx.Client
) -> None:
    nonce = client.get("/api/siwe/nonce").json()["nonce"]
    domain = client.base_url.netloc.decode()
    signed = siwe_message(domain=domain, address=portal_server.stranger.address, chain_id=CHAIN_ID, nonce=nonce)
    signature = personal_sign(portal_server.stranger, signed)
    tampered = signed.replace(portal_server.stranger.address, portal_server.customer.address)

    answer = client.post("/api/siwe/verify", json={"message": tampered, "signature": signature})

    assert answer.status_code == 401
    assert error_code(answer) == "siwe_invalid"
    honest = client.post("/api/siwe/verify", json={"message": signed, "signature": signature})
    assert honest.status_code == 200 and honest.json()["address"] == portal_server.stranger.address


def test_a_message_signed_by_another_account_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    nonce = client.get("/api/siwe/nonce").json()["nonce"]
    message = siwe_message(
        domain=client.base_url.netloc.decode(), address=portal_server.customer.address, chain_id=CHAIN_ID, nonce=nonce
    )

    answer = client.post(
        "/api/siwe/verify", json={"message": message, "signature": personal_sign(portal_server.stranger, message)}
    )

    assert answer.status_code == 401
    assert error_code(answer) == "siwe_invalid"


def test_junk_sign_in_bodies_are_refused_with_json_errors(portal_server: PortalServer, client: httpx.Client) -> None:
    junk: list[tuple[dict[str, object], int, str]] = [
        ({"content": b"not json"}, 400, "invalid_request"),
        ({"json": []}, 400, "invalid_request"),
        ({"json": {"message": "x"}}, 400, "invalid_request"),
        ({"json": {"message": 1, "signature": "0x"}}, 400, "invalid_request"),
        ({"json": {"message": "hello", "signature": "0x" + "00" * 65}}, 401, "siwe_invalid"),
        ({"json": {"message": "hello", "signature": "0xzz"}}, 401, "siwe_invalid"),
        ({"json": {"message": "x" * 5000, "signature": "0x" + "11" * 65}}, 401, "siwe_invalid"),
        ({"content": b"[" * 100_000}, 413, "request_too_large"),
        ({"content": b"NaN"}, 400, "invalid_request"),
    ]
    for request, status, code in junk:
        answer = client.post("/api/siwe/verify", **request)  # type: ignore[arg-type]
        assert (answer.status_code, error_code(answer)) == (status, code), request


def test_a_valid_message_with_a_garbage_signature_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    nonce = client.get("/api/siwe/nonce").json()["nonce"]
    message = siwe_message(
        domain=client.base_url.netloc.decode(), address=portal_server.customer.address, chain_id=CHAIN_ID, nonce=nonce
    )

    for signature in ("0x" + "ff" * 65, "0x" + "00" * 64 + "1b", "0x" + "ab" * 64 + "99"):
        answer = client.post("/api/siwe/verify", json={"message": message, "signature": signature})
        assert (answer.status_code, error_code(answer)) == (401, "siwe_invalid")


def test_without_a_session_the_area_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    answer = client.get("/api/me")

    assert answer.status_code == 401
    assert error_code(answer) == "session_missing"


def test_a_forged_session_cookie_is_refused(portal_server: PortalServer, client: httpx.Client) -> None:
    client.cookies.set("chaincrm_session", "eyJhIjoiMHgwIn0.forged")

    answer = client.get("/api/me")

    assert (answer.status_code, error_code(answer)) == (401, "session_missing")


def test_an_expired_session_is_refused_as_expired(portal_server: PortalServer) -> None:
    config = other_server_config(portal_server, session_seconds=1)
    with serve(config), httpx.Client(base_url=config.public_url) as http:
        assert sign_in(http, portal_server.customer, CHAIN_ID).status_code == 200
        assert http.get("/api/me").status_code == 200
        time.sleep(1.5)

        answer = http.get("/api/me")
        page = http.get("/me")

    assert answer.status_code == 401
    assert error_code(answer) == "session_expired"
    assert page.status_code == 200 and "session_expired" in page.text


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    portal_server: PortalServer, signed_in: httpx.Client
) -> None:
    cookie = signed_in.cookies["chaincrm_session"]

    answer = signed_in.post("/api/siwe/logout")

    assert answer.json() == {"signed_out": True}
    assert signed_in.get("/api/me").status_code == 401
    with httpx.Client(base_url=portal_server.url, cookies={"chaincrm_session": cookie}) as copy:
        replayed = copy.get("/api/me")
    assert (replayed.status_code, error_code(replayed)) == (401, "session_missing")


def test_a_wallet_without_records_signs_in_to_an_empty_area(portal_server: PortalServer, client: httpx.Client) -> None:
    answer = sign_in(client, portal_server.agent, CHAIN_ID)

    assert answer.status_code == 200
    assert answer.json()["customers"] == []
    assert client.get("/api/me").json()["customers"] == []
