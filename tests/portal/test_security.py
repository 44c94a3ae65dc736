"""Security headers on every response, CORS closed, cross-origin POSTs refused, rate limits."""

from __future__ import annotations

import httpx
import pytest

from chaincrm.portal import RateLimits
from chaincrm.portal.security import CONTENT_SECURITY_POLICY
from tests.portal.conftest import PortalServer, other_server_config, serve

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def test_the_policy_allows_only_this_origin() -> None:
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


@pytest.mark.parametrize(
    "path",
    ["/", "/me", "/pay/1", "/pay/abc", "/nowhere", "/api/config", "/api/invoices/1", "/api/invoices/x", "/api/me",
     "/static/vendor/ethers.min.js"],
)  # fmt: skip
def test_every_response_carries_the_security_headers(client: httpx.Client, path: str) -> None:
    answer = client.get(path)

    assert {name: answer.headers.get(name) for name in EXPECTED} == EXPECTED
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)


def test_a_cross_origin_preflight_gets_no_cors_permission(client: httpx.Client) -> None:
    answer = client.options(
        "/api/relay",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )

    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)


def test_a_cross_origin_get_gets_no_cors_permission(client: httpx.Client) -> None:
    answer = client.get("/api/config", headers={"Origin": "https://evil.example"})

    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("path", ["/api/siwe/verify", "/api/siwe/logout", "/api/relay"])
def test_a_post_from_another_origin_is_refused(signed_in: httpx.Client, path: str) -> None:
    answer = signed_in.post(path, json={}, headers={"Origin": "https://evil.example"})

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "origin_refused"
    assert signed_in.get("/api/me").status_code == 200  # the session survived the refused sign-out


def test_a_post_from_the_portals_own_origin_is_accepted(portal_server: PortalServer, signed_in: httpx.Client) -> None:
    answer = signed_in.post("/api/siwe/logout", headers={"Origin": portal_server.url})

    assert answer.status_code == 200


def test_the_api_is_not_cached(client: httpx.Client) -> None:
    assert client.get("/api/config").headers["cache-control"] == "no-store"


def test_sign_in_nonces_are_rate_limited_per_client(portal_server: PortalServer) -> None:
    config = other_server_config(portal_server, rate_limits=RateLimits(nonce="3/minute", sign_in="2/minute"))
    with serve(config), httpx.Client(base_url=config.public_url) as http:
        allowed = [http.get("/api/siwe/nonce").status_code for _ in range(3)]
        limited = http.get("/api/siwe/nonce")
        verify = [http.post("/api/siwe/verify", json={}).status_code for _ in range(3)]

    assert allowed == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-frame-options"] == "DENY"
    assert verify == [400, 400, 429]


def test_relays_are_rate_limited(portal_server: PortalServer) -> None:
    config = other_server_config(portal_server, rate_limits=RateLimits(relay="1/minute"))
    with serve(config), httpx.Client(base_url=config.public_url) as http:
        first = http.post("/api/relay", json={})
        second = http.post("/api/relay", json={})

    assert first.status_code == 401
    assert second.status_code == 429 and "retry-after" in second.headers


def test_a_forwarded_for_header_does_not_change_the_rate_limit_key(portal_server: PortalServer) -> None:
    config = other_server_config(portal_server, rate_limits=RateLimits(nonce="1/minute"))
    with serve(config), httpx.Client(base_url=config.public_url) as http:
        http.get("/api/siwe/nonce")
        spoofed = http.get("/api/siwe/nonce", headers={"X-Forwarded-For": "203.0.113.9"})

    assert spoofed.status_code == 429
