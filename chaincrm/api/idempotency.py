"""``Idempotency-Key``: a retried write answers what the first one answered, and sends nothing.

The first request with a key claims it (a row ``in_flight`` with the request's hash), runs, and
stores its answer (``done``). A later request with the same API key and idempotency key:

- same request (method, path and body, compared by hash): the stored answer, nothing sent;
- another request: 409 ``idempotency_key_reused``;
- while the first is still running: 409 ``idempotency_in_flight``.

A key is claimed only once the request passed its checks (API key, role, body: those refusals
are answered again on a retry, and claim nothing). The answer is stored when the write reached a
verdict: sent (2xx) or refused by the contract (4xx). When it could not run (503: node, IPFS or
signer unavailable) or failed unexpectedly, the claim is dropped, so a retry runs it again. A row
stays ``in_flight`` only if the server stopped in the middle of a write: whether it was sent is
then for the chain to say, and the key keeps answering 409 rather than risk a second transaction.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc

from chaincrm.index.database import database_errors, writing
from chaincrm.portal.security import Refusal

MAX_KEY_CHARS = 255
IN_FLIGHT = "in_flight"
DONE = "done"

metadata = MetaData()

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("api_key_id", Integer, primary_key=True, autoincrement=False),
    Column("idempotency_key", String(MAX_KEY_CHARS), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("status_code", Integer),
    Column("body", Text),
    Column("created_at", BigInteger, nullable=False),
)


class IdempotencyConflict(Refusal):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, 409)


@dataclass(frozen=True)
class Claim:
    api_key_id: int
    idempotency_key: str


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: bytes


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def valid_key(key: str) -> bool:
    """1 to 255 printable ASCII characters."""
    return 0 < len(key) <= MAX_KEY_CHARS and key.isascii() and key.isprintable()


class IdempotencyRecords:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, api_key_id: int, key: str, digest: str) -> Claim | Stored:
        """Claim `key` for this request, or the stored answer of an earlier identical one."""
        table = idempotency_records
        where = (table.c.api_key_id == api_key_id, table.c.idempotency_key == key)
        with database_errors(self.engine), writing(self.engine) as conn:
            row = conn.execute(select(table).where(*where)).mappings().first()
            if row is None:
                try:
                    conn.execute(
                        insert(table).values(
                            api_key_id=api_key_id,
                            idempotency_key=key,
                            request_hash=digest,
                            state=IN_FLIGHT,
                            created_at=int(time.time()),
                        )
                    )
                except sa_exc.IntegrityError:  # PostgreSQL: another request inserted it first
                    raise IdempotencyConflict(
                        "idempotency_in_flight", "a request with this Idempotency-Key is still running"
                    ) from None
                return Claim(api_key_id, key)
        if row["request_hash"] != digest:
            raise IdempotencyConflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request: use a new key for a new request",
            )
        if row["state"] != DONE:
            raise IdempotencyConflict(
                "idempotency_in_flight",
                "a request with this Idempotency-Key is still running (if it stays so, the server stopped during "
                "the write: check the chain before using a new key)",
            )
        return Stored(int(row["status_code"]), str(row["body"]).encode())

    def finish(self, claim: Claim, status_code: int, body: bytes) -> None:
        table = idempotency_records
        with database_errors(self.engine), writing(self.engine) as conn:
            conn.execute(
                update(table)
                .where(table.c.api_key_id == claim.api_key_id, table.c.idempotency_key == claim.idempotency_key)
                .values(state=DONE, status_code=status_code, body=body.decode())
            )

    def release(self, claim: Claim) -> None:
        """Drop the claim: the request did not run, a retry may."""
        table = idempotency_records
        with database_errors(self.engine), writing(self.engine) as conn:
            conn.execute(
                delete(table).where(
                    table.c.api_key_id == claim.api_key_id, table.c.idempotency_key == claim.idempotency_key
                )
            )


__all__ = [
    "Claim",
    "IdempotencyConflict",
    "IdempotencyRecords",
    "Stored",
    "idempotency_records",
    "metadata",
    "request_hash",
    "valid_key",
]
