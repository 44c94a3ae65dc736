"""The signature scheme (Stripe's: t=<unix>,v1=HMAC-SHA256(secret, f"{t}.{body}")) and the README's
receiver, which checks it with the standard library alone."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from chaincrm.webhooks.signing import WebhookSignatureError, sign, verify
from tests.webhooks.conftest import example_receiver, load_example

SECRET = "whsec_test-secret"
BODY = b'{"id":"31337:0xab:0","type":"invoice.paid","data":{"invoice_id":7}}'


def test_the_header_is_the_timestamp_and_the_hmac_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)

    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_a_fresh_signature_verifies_and_gives_its_timestamp() -> None:
    now = time.time()

    assert verify(SECRET, BODY, sign(SECRET, BODY, int(now)), now=now) == int(now)


@pytest.mark.parametrize(
    "body, secret, age, message",
    [
        (BODY + b" ", SECRET, 0, "does not match"),
        (BODY, "whsec_another", 0, "does not match"),
        (BODY, SECRET, 301, "301 s old"),
        (BODY, SECRET, -301, "s old"),
    ],
    ids=["tampered body", "another secret", "older than 5 minutes", "from the future"],
)
def test_a_wrong_or_stale_signature_is_refused(body: bytes, secret: str, age: int, message: str) -> None:
    now = 1_700_000_000
    header = sign(SECRET, BODY, timestamp=now - age)

    with pytest.raises(WebhookSignatureError, match=message):
        verify(secret, body, header, now=now)


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=00", "t=1700000000"])
def test_a_missing_or_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, BODY, header, now=1_700_000_000)


def test_any_one_of_several_v1_signatures_may_match_as_when_a_secret_is_rolled() -> None:
    now = 1_700_000_000
    good = sign(SECRET, BODY, timestamp=now).split("v1=")[1]

    assert verify(SECRET, BODY, f"t={now},v1={'0' * 64},v1={good}", now=now) == now


def test_the_readme_receiver_accepts_exactly_what_the_package_accepts() -> None:
    example = load_example()
    now = time.time()

    assert example.verify(SECRET, BODY, sign(SECRET, BODY, int(now)), now=now)
    assert not example.verify(SECRET, BODY + b" ", sign(SECRET, BODY, int(now)), now=now)
    assert not example.verify("whsec_another", BODY, sign(SECRET, BODY, int(now)), now=now)
    assert not example.verify(SECRET, BODY, sign(SECRET, BODY, int(now) - 301), now=now)
    assert not example.verify(SECRET, BODY, None, now=now)


def test_the_readme_receiver_refuses_a_stale_capture_and_handles_an_id_once() -> None:
    with example_receiver(SECRET) as receiver:

        def post(header: str) -> httpx.Response:
            return httpx.post(receiver.url, content=BODY, headers={"Chaincrm-Signature": header})

        stale = post(sign(SECRET, BODY, int(time.time()) - 301))
        first = post(sign(SECRET, BODY))
        again = post(sign(SECRET, BODY))

    assert (stale.status_code, stale.text) == (400, "bad or old signature")
    assert (first.status_code, first.text) == (200, "ok")
    assert (again.status_code, again.text) == (200, "already handled")
    assert receiver.events == [json.loads(BODY)]
