"""Hostile input to the REST API: odd ids, query parameters, cursors, bodies, headers and methods.
Each is a 4xx JSON error with a stable code (or an ordinary answer where the input is harmless),
sends nothing, and leaves no 500 (the autouse check on the server's unexpected_errors)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from chaincrm.api.answers import encode_cursor
from tests.api.conftest import ApiServer, error_of, sent_count


@pytest.fixture
def unchanged(api_server: ApiServer) -> Iterator[None]:
    crm, accounts = api_server.crm, api_server.accounts
    signers = (accounts.agent.address, accounts.manager.address)
    before = [sent_count(crm, address) for address in signers]
    yield
    assert [sent_count(crm, address) for address in signers] == before


def refused(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert error_of(answer)["code"] == code


# ------------------------------------------------------------------ ids in the path

ODD_IDS = ["0", "-1", "1e3", "0x1", "１", "٣", str(2**64), str(10**30), "9" * 5000, "%00", "nul%00l"]


@pytest.mark.parametrize("text", ODD_IDS)
@pytest.mark.parametrize("path", ["/customers/{}", "/customers/{}/timeline", "/deals/{}", "/invoices/{}"])
def test_a_malformed_id_in_the_path_is_400(agent_api: httpx.Client, path: str, text: str) -> None:
    refused(agent_api.get(path.format(text)), 400, "invalid_request")


@pytest.mark.parametrize("text", [str(2**63), str(2**64 - 1)])
@pytest.mark.parametrize(
    "path, code",
    [("/customers/{}", "customer_unknown"), ("/deals/{}", "deal_unknown"), ("/invoices/{}", "invoice_unknown")],
)
def test_an_id_the_index_cannot_hold_is_unknown(agent_api: httpx.Client, path: str, code: str, text: str) -> None:
    refused(agent_api.get(path.format(text)), 404, code)


def test_a_percent_encoded_slash_in_an_id_is_not_found(agent_api: httpx.Client) -> None:
    refused(agent_api.get("/deals/1%2F2"), 404, "not_found")


# ------------------------------------------------------------------ query parameters

LISTS = ["/customers", "/deals", "/invoices", "/interactions"]
BAD_LIMITS = ["0", "-1", str(10**30), "1.5", "ten", "１", "1e2"]


@pytest.mark.parametrize("limit", BAD_LIMITS)
@pytest.mark.parametrize("path", [*LISTS, "/customers/{customer}/timeline"])
def test_a_limit_out_of_range_or_not_a_number_is_400(
    api_server: ApiServer, agent_api: httpx.Client, path: str, limit: str
) -> None:
    answer = agent_api.get(path.format(customer=api_server.customer_id), params={"limit": limit})
    refused(answer, 400, "invalid_request")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GARBAGE_CURSORS = [
    "garbage",
    "!!!!",
    "=",
    "%00",
    _b64(b"\xff\xfe\x00junk"),
    _b64(b"{}"),
    _b64(b"null"),
    _b64(b'"1"'),
    _b64(b"[true]"),
    _b64(b"[-1]"),
    _b64(b"[1.5]"),
    _b64(b"[1e400]"),
    _b64(b"[NaN]"),
    _b64(b"[" + str(2**63).encode() + b"]"),
    _b64(b"[" * 140),
    "x" * 201,
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
@pytest.mark.parametrize("path", [*LISTS, "/customers/{customer}/timeline"])
def test_a_cursor_this_api_did_not_hand_out_is_400(
    api_server: ApiServer, agent_api: httpx.Client, path: str, cursor: str
) -> None:
    answer = agent_api.get(path.format(customer=api_server.customer_id), params={"cursor": cursor})
    code = "invalid_request" if len(cursor) > 200 else "invalid_cursor"
    refused(answer, 400, code)


@pytest.mark.parametrize(
    "path, cursor",
    [
        ("/interactions", encode_cursor([1])),  # a cursor of /customers
        ("/customers/{customer}/timeline", encode_cursor([1, 2, 3])),  # one of /interactions
        ("/deals", encode_cursor([1, 2, 3, 4])),  # one of a timeline
    ],
)
def test_a_cursor_from_another_endpoint_is_400(
    api_server: ApiServer, agent_api: httpx.Client, path: str, cursor: str
) -> None:
    answer = agent_api.get(path.format(customer=api_server.customer_id), params={"cursor": cursor})
    refused(answer, 400, "invalid_cursor")


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": "-1"},
        {"until": str(2**63)},
        {"since": str(10**30)},
        {"since": "1.5"},
        {"since": "2024-01-01"},
        {"since": "10", "until": "5"},
    ],
)
@pytest.mark.parametrize("path", ["/deals", "/interactions", "/kpis"])
def test_a_malformed_time_window_is_400(agent_api: httpx.Client, path: str, params: dict[str, str]) -> None:
    refused(agent_api.get(path, params=params), 400, "invalid_request")


@pytest.mark.parametrize(
    "path, params",
    [
        ("/deals", {"stage": "Won"}),
        ("/deals", {"stage": "WON"}),
        ("/deals", {"stage": "winning"}),
        ("/deals", {"stage": ""}),
        ("/deals", {"stage": "won\u0000"}),
        ("/deals", {"stage": "ｗｏｎ"}),
        ("/invoices", {"status": "Paid"}),
        ("/invoices", {"status": "settled"}),
        ("/invoices", {"overdue": "maybe"}),
        ("/customers", {"status": "ACTIVE"}),
        ("/customers", {"status": "gone"}),
        ("/deals", {"agent": "nobody"}),
        ("/deals", {"agent": "0x" + "g" * 40}),
        ("/interactions", {"agent": "0x1234"}),
        ("/deals", {"customer": "0"}),
        ("/deals", {"customer": str(2**64)}),
        ("/invoices", {"deal": "-3"}),
        ("/invoices", {"customer": "abc"}),
        ("/interactions", {"customer": "1e0"}),
        ("/kpis", {"agent": "0xZZ"}),
    ],
)
def test_an_unknown_or_malformed_filter_is_400(agent_api: httpx.Client, path: str, params: dict[str, str]) -> None:
    refused(agent_api.get(path, params=params), 400, "invalid_request")


@pytest.mark.parametrize("path", ["/deals", "/kpis"])
def test_an_unknown_branch_is_400(agent_api: httpx.Client, path: str) -> None:
    refused(agent_api.get(path, params={"branch": "../../etc/passwd"}), 400, "invalid_request")


# ------------------------------------------------------------------ headers


@pytest.mark.parametrize(
    "value, code",
    [
        (b"Bearer", "api_key_missing"),
        (b"Token ck_abc", "api_key_missing"),
        (b"Bearer\tck_abc", "api_key_missing"),
        (b"Bearer  ck_abc", "api_key_invalid"),
        (b"Bearer ck_\xff\xfe", "api_key_invalid"),
        (b"Bearer " + "ключ".encode(), "api_key_invalid"),
        (b"Bearer ck_a, Bearer ck_b", "api_key_invalid"),
        (b"Bearer " + b"k" * 8000, "api_key_invalid"),
    ],
)
def test_a_malformed_authorization_header_is_401(api_server: ApiServer, value: bytes, code: str) -> None:
    with httpx.Client(base_url=api_server.url + "/api/v1", headers={"Authorization": value}) as client:
        refused(client.get("/customers"), 401, code)


def test_two_bearer_tokens_in_one_header_are_refused_even_if_one_is_valid(api_server: ApiServer) -> None:
    both = f"Bearer {api_server.keys.agent}, Bearer ck_other".encode()
    with httpx.Client(base_url=api_server.url + "/api/v1", headers={"Authorization": both}) as client:
        refused(client.get("/customers"), 401, "api_key_invalid")


def test_two_authorization_headers_are_refused(api_server: ApiServer, unchanged: None) -> None:
    headers = [
        ("Authorization", f"Bearer {api_server.keys.read_only}"),
        ("Authorization", f"Bearer {api_server.keys.agent}"),
    ]
    with httpx.Client(base_url=api_server.url + "/api/v1") as client:
        read = client.get("/customers", headers=headers)
        write = client.post("/deals", headers=headers, json={"customer_id": api_server.customer_id, "value_wei": "0"})

    refused(read, 401, "api_key_invalid")
    refused(write, 401, "api_key_invalid")


@pytest.mark.parametrize("tag", [b"garbage", b'W/"', b'"' + b"a" * 8000 + b'"', b"\xff\xfe", b",,,"])
def test_a_garbage_if_none_match_is_a_full_answer(agent_api: httpx.Client, tag: bytes) -> None:
    answer = agent_api.get("/customers", headers={"If-None-Match": tag})

    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] is not None


@pytest.mark.parametrize("key", [b"\xff", b"k" * 10_000, b"\x80abc"])
def test_a_hostile_idempotency_key_is_400_and_sends_nothing(
    api_server: ApiServer, agent_api: httpx.Client, unchanged: None, key: bytes
) -> None:
    answer = agent_api.post(
        "/deals", json={"customer_id": api_server.customer_id, "value_wei": "1"}, headers={"Idempotency-Key": key}
    )
    refused(answer, 400, "invalid_request")


# ------------------------------------------------------------------ bodies

HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("null", b"null"),
    ("a string", b'"deal"'),
    ("a number", b"42"),
    ("an array of the object", b'[{"customer_id": 1, "value_wei": "1"}]'),
    ("deeply nested arrays", b"[" * 50_000 + b"]" * 50_000),
    ("deeply nested objects", b'{"a":' * 20_000 + b"1" + b"}" * 20_000),
    ("nested value", b'{"customer_id": 1, "value_wei": {"wei": "1"}}'),
    ("value as a list", b'{"customer_id": 1, "value_wei": ["1"]}'),
    ("id as a list", b'{"customer_id": [1], "value_wei": "1"}'),
    ("id huge", b'{"customer_id": ' + b"9" * 5000 + b', "value_wei": "1"}'),
    ("wei over 2**256 by one", b'{"customer_id": 1, "value_wei": "' + str(2**256).encode() + b'"}'),
    ("wei negative number", b'{"customer_id": 1, "value_wei": -1}'),
    ("wei bool", b'{"customer_id": 1, "value_wei": true}'),
    ("wei with spaces", b'{"customer_id": 1, "value_wei": " 1"}'),
    ("wei unicode digits", '{"customer_id": 1, "value_wei": "١٢"}'.encode()),
    ("wei Infinity", b'{"customer_id": 1, "value_wei": Infinity}'),
    ("wei huge exponent", b'{"customer_id": 1, "value_wei": 1e400}'),
    ("id NaN", b'{"customer_id": NaN, "value_wei": "1"}'),
    ("lone surrogate", b'{"customer_id": 1, "value_wei": "1", "owner": "\\ud800"}'),
    ("bom", b'\xef\xbb\xbf{"customer_id": 1, "value_wei": "0"}'),
]


@pytest.mark.parametrize("content", [body for _, body in HOSTILE_BODIES], ids=[name for name, _ in HOSTILE_BODIES])
def test_a_hostile_deal_body_is_400(agent_api: httpx.Client, unchanged: None, content: bytes) -> None:
    answer = agent_api.post("/deals", content=content, headers={"Content-Type": "application/json"})
    refused(answer, 400, "invalid_request")


@pytest.mark.parametrize(
    "content",
    [
        b'{"stage": "won", "stage": "bogus"}',
        b'{"reason": "price", "reason": 3}',
        b'{"stage": null}',
        b'{"stage": ["won"]}',
        b'{"stage": 3}',
        b'{"stage": "WON"}',
    ],
)
def test_a_hostile_stage_or_loss_body_is_400(agent_api: httpx.Client, unchanged: None, content: bytes) -> None:
    path = "/deals/1/lose" if b"reason" in content else "/deals/1/stage"
    answer = agent_api.post(path, content=content, headers={"Content-Type": "application/json"})
    refused(answer, 400, "invalid_request")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"],
)
def test_a_body_that_is_not_declared_json_is_400(
    api_server: ApiServer, agent_api: httpx.Client, unchanged: None, content_type: str
) -> None:
    body = json.dumps({"customer_id": api_server.customer_id, "value_wei": "1"}).encode()
    answer = agent_api.post("/deals", content=body, headers={"Content-Type": content_type})
    refused(answer, 400, "invalid_request")


def test_json_in_a_charset_it_is_not_is_400(agent_api: httpx.Client, unchanged: None) -> None:
    answer = agent_api.post(
        "/interactions",
        content='{"customer_id": 1, "kind": "call", "note": "é"}'.encode("latin-1"),
        headers={"Content-Type": "application/json; charset=latin-1"},
    )
    refused(answer, 400, "invalid_request")


def test_a_chunked_body_over_the_limit_is_413(agent_api: httpx.Client, unchanged: None) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"customer_id": 1, "kind": "call", "note": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    answer = agent_api.post("/interactions", content=chunks(), headers={"Content-Type": "application/json"})
    refused(answer, 413, "request_too_large")


@pytest.mark.parametrize("length", ["-1", "abc", "1e9", str(10**30)])
def test_a_malformed_content_length_is_413(api_server: ApiServer, unchanged: None, length: str) -> None:
    import socket

    host, port = api_server.url.removeprefix("http://").split(":")
    request = (
        f"POST /api/v1/deals HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {api_server.keys.agent}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{{}}"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500, reply[:200]


# ------------------------------------------------------------------ methods


@pytest.mark.parametrize(
    "method, path",
    [
        ("PUT", "/deals"),
        ("DELETE", "/deals/1"),
        ("PATCH", "/invoices/1"),
        ("GET", "/deals/1/stage"),
        ("GET", "/invoices/1/refund"),
        ("POST", "/customers"),
        ("POST", "/kpis"),
        ("HEAD", "/deals/1/stage"),
        ("OPTIONS", "/deals"),
        ("TRACE", "/customers"),
    ],
)
def test_a_method_a_route_does_not_take_is_405(
    agent_api: httpx.Client, unchanged: None, method: str, path: str
) -> None:
    answer = agent_api.request(method, path)

    assert answer.status_code == 405, answer.text
    if method != "HEAD":
        assert error_of(answer)["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/customers/../../etc/passwd", "/nothing", "/deals/1/fly", "/%2e%2e/config"])
def test_an_unknown_route_is_404_json(agent_api: httpx.Client, path: str) -> None:
    refused(agent_api.get(path), 404, "not_found")


def test_a_write_body_with_a_name_twice_is_400_and_sends_nothing(
    api_server: ApiServer, agent_api: httpx.Client, unchanged: None
) -> None:
    content = f'{{"customer_id": {api_server.customer_id}, "value_wei": "5", "value_wei": "7"}}'.encode()
    answer = agent_api.post("/deals", content=content, headers={"Content-Type": "application/json"})
    refused(answer, 400, "invalid_request")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-be"])
def test_a_write_body_not_in_utf_8_is_400_and_sends_nothing(
    api_server: ApiServer, agent_api: httpx.Client, unchanged: None, encoding: str
) -> None:
    content = json.dumps({"customer_id": api_server.customer_id, "value_wei": "5"}).encode(encoding)
    answer = agent_api.post("/deals", content=content, headers={"Content-Type": "application/json"})
    refused(answer, 400, "invalid_request")


def test_an_interaction_with_a_name_twice_is_400_and_sends_nothing(
    api_server: ApiServer, agent_api: httpx.Client, unchanged: None
) -> None:
    content = f'{{"customer_id": {api_server.customer_id}, "kind": "call", "kind": "email"}}'.encode()
    answer = agent_api.post("/interactions", content=content, headers={"Content-Type": "application/json"})
    refused(answer, 400, "invalid_request")


@pytest.mark.parametrize(
    "params, code",
    [
        ({"limit": ""}, "invalid_request"),
        ({"cursor": ""}, "invalid_cursor"),
        ({"since": ""}, "invalid_request"),
        ({"stage": "won", "limit": " "}, "invalid_request"),
    ],
)
def test_an_empty_query_parameter_is_400(agent_api: httpx.Client, params: dict[str, str], code: str) -> None:
    refused(agent_api.get("/deals", params=params), 400, code)


@pytest.mark.parametrize("path", ["/customers", "/deals/1", "/kpis"])
def test_head_on_a_read_is_405_without_a_body(agent_api: httpx.Client, path: str) -> None:
    answer = agent_api.head(path)

    assert answer.status_code == 405
    assert answer.content == b""
