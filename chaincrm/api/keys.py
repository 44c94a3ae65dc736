"""API keys: created for one staff address, shown once, stored hashed, revoked by id.

A key is ``ck_`` followed by 32 random bytes in URL-safe base64 (43 characters). The database
keeps only its SHA-256: the key has 256 bits of entropy, so a fast hash cannot be brute-forced and
a slow password hash (bcrypt, Argon2: made for guessable secrets) would only slow every request;
a plain digest also lets a request find its key by an indexed lookup, with no key compared
character by character. Whoever reads the database learns which keys exist, not the keys.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)

from chaincrm.errors import ConfigError
from chaincrm.index.database import database_errors, writing

KEY_PREFIX = "ck_"
KEY_BYTES = 32
HINT_CHARS = 6  # the key's first characters after the prefix, shown by `api-key list`
MAX_NAME_CHARS = 100
DIGEST_HEX_CHARS = 64

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_NAME_CHARS), nullable=False),
    Column("staff", String(42), nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("digest", String(DIGEST_HEX_CHARS), nullable=False, unique=True),
    Column("hint", String(len(KEY_PREFIX) + HINT_CHARS), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)


@dataclass(frozen=True)
class ApiKey:
    """A key's record (never the key itself)."""

    id: int
    name: str
    staff: ChecksumAddress
    read_only: bool
    hint: str
    created_at: int
    revoked_at: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class KeyRefused(Exception):
    """A request's key is missing, unknown or revoked: ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _record(row: object) -> ApiKey:
    mapping = row._mapping  # type: ignore[attr-defined]
    return ApiKey(
        id=int(mapping["id"]),
        name=mapping["name"],
        staff=to_checksum_address(mapping["staff"]),
        read_only=bool(mapping["read_only"]),
        hint=mapping["hint"],
        created_at=int(mapping["created_at"]),
        revoked_at=None if mapping["revoked_at"] is None else int(mapping["revoked_at"]),
    )


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.staff,
    api_keys.c.read_only,
    api_keys.c.hint,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)
_BY_DIGEST = select(*_COLUMNS).where(api_keys.c.digest == bindparam("digest"))  # built once: no compiling per request


class ApiKeys:
    """The keys in one integration database (see :mod:`chaincrm.api.database`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, staff: str, *, read_only: bool = False, name: str = "") -> tuple[ApiKey, str]:
        """A new key for `staff`: its record and the key, which is not stored and cannot be shown again."""
        if len(name) > MAX_NAME_CHARS:
            raise ConfigError(f"a key's name is at most {MAX_NAME_CHARS} characters")
        key = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
        values = {
            "name": name,
            "staff": to_checksum_address(staff),
            "read_only": read_only,
            "digest": digest_of(key),
            "hint": key[: len(KEY_PREFIX) + HINT_CHARS],
            "created_at": int(time.time()),
            "revoked_at": None,
        }
        with database_errors(self.engine), writing(self.engine) as conn:
            key_id = conn.execute(insert(api_keys).values(**values)).inserted_primary_key
        assert key_id is not None
        return self.get(int(key_id[0])), key

    def get(self, key_id: int) -> ApiKey:
        with database_errors(self.engine), self.engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise ConfigError(f"there is no API key {key_id} (see `chaincrm api-key list`)")
        return _record(row)

    def all(self) -> list[ApiKey]:
        with database_errors(self.engine), self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(select(*_COLUMNS).order_by(api_keys.c.id))]

    def revoke(self, key_id: int) -> ApiKey:
        """Revoke a key for good (revoking a revoked key keeps its first revocation time)."""
        with database_errors(self.engine), writing(self.engine) as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=int(time.time()))
            )
        return self.get(key_id)

    def verify(self, key: str) -> ApiKey:
        """The record of a presented key; KeyRefused when it is not one of ours or was revoked."""
        if not key.startswith(KEY_PREFIX) or len(key) > len(KEY_PREFIX) + 2 * KEY_BYTES:
            raise KeyRefused("api_key_invalid", "the API key is not valid")
        with database_errors(self.engine), self.engine.connect() as conn:
            row = conn.execute(_BY_DIGEST, {"digest": digest_of(key)}).first()
        if row is None:
            raise KeyRefused("api_key_invalid", "the API key is not valid")
        found = _record(row)
        if found.revoked:
            raise KeyRefused("api_key_revoked", f"API key {found.id} was revoked")
        return found


__all__ = ["KEY_PREFIX", "ApiKey", "ApiKeys", "KeyRefused", "api_keys", "digest_of", "metadata"]
