"""Answers to reads: JSON bytes with an ETag (304 for a matching If-None-Match), and the opaque
cursors of paginated lists.

The ETag is a hash of the body, which holds ``as_of_block``: a client polling a list gets 304 until
the index read a block that changed the answer. A cursor is the base64url of the last item's key
in the list's order, as JSON; a cursor this API did not hand out is 400 ``invalid_cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import Connection, Select, Table, select
from starlette.requests import Request
from starlette.responses import Response

from chaincrm.api.errors import ApiError
from chaincrm.index import schema as db
from chaincrm.models import ChainCode

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
ETAG_HEX_CHARS = 32


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:ETAG_HEX_CHARS] + '"'


def matches(request: Request, etag: str) -> bool:
    sent = request.headers.get("if-none-match")
    if sent is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in sent.split(",")}
    return "*" in tags or etag in tags


def answer(request: Request, model: BaseModel) -> Response:
    """`model` as JSON with its ETag, or 304 when the client holds it already."""
    return _answer_body(request, model.model_dump_json(by_alias=True).encode())


def answer_data(request: Request, data: dict[str, Any]) -> Response:
    """As :func:`answer`, for the busiest reads: `data` already in the response model's shape (its
    fields in order, JSON types only), serialised by pydantic's own encoder without building a
    model per item, which would cost more than the query. The route's `response_model` still
    documents the shape; tests check the two agree."""
    return _answer_body(request, to_json(data))


class Labels(dict[int, str]):
    """Code -> label (``follow_up``; ``unknown(N)`` for a code the enum does not know) by a dict
    lookup, not an IntEnum call per row."""

    def __init__(self, enum: type[ChainCode]) -> None:
        super().__init__({int(member): member.label for member in enum})
        self.enum = enum

    def __missing__(self, code: int) -> str:
        text = self[code] = self.enum(code).label
        return text


def _answer_body(request: Request, body: bytes) -> Response:
    etag = etag_of(body)
    if matches(request, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


_AS_OF_BLOCK = select(db.sync_state.c.last_block).where(db.sync_state.c.id == 1)


def as_of_block(conn: Connection) -> int | None:
    """The last block the index read (None: no index yet), as chaincrm.portal.reads.as_of_block
    with a statement built once."""
    value = conn.execute(_AS_OF_BLOCK).scalar()
    return None if value is None else int(value)


def encode_cursor(key: Sequence[int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> tuple[int, ...] | None:
    """The key a cursor holds (`size` integers), None without one; ApiError 400 for anything else."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key: Any = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        key = None
    if (
        not isinstance(key, list)
        or len(key) != size
        or not all(isinstance(part, int) and not isinstance(part, bool) and 0 <= part < 2**63 for part in key)
    ):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API handed out")
    return tuple(key)


def next_cursor(rows: Sequence[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """The page (at most `limit` rows of the `limit + 1` read) and the cursor after it."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_cursor(key(page[-1]))


def id_page(table: Table, after: tuple[int, ...] | None, limit: int) -> Select[Any]:
    """The rows of `table` by id, after the cursor's id if any: `limit + 1` of them (see
    :func:`next_cursor`)."""
    query = select(table).order_by(table.c.id).limit(limit + 1)
    return query if after is None else query.where(table.c.id > after[0])


def page_answer(
    conn: Connection, rows: Sequence[Any], limit: int, key: Callable[[Any], list[int]], item: Callable[[Any], Any]
) -> dict[str, Any]:
    """A list endpoint's answer: the page of `rows` (:func:`next_cursor`) as items, the cursor after
    it and the block the index has reached."""
    page, cursor_after = next_cursor(rows, limit, key)
    return {"as_of_block": as_of_block(conn), "next_cursor": cursor_after, "items": [item(row) for row in page]}


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Labels",
    "answer",
    "answer_data",
    "as_of_block",
    "decode_cursor",
    "encode_cursor",
    "etag_of",
    "id_page",
    "matches",
    "next_cursor",
    "page_answer",
]
