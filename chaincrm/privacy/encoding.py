"""The encodings every privacy document shares: canonical JSON, strict JSON parsing, base64, and the
checks on the integers and addresses that are bound into ciphertexts.

Parsing is strict for envelopes and decrypted plaintexts alike: an unknown or missing field, a
repeated JSON key, a wrong type, bad base64 or a wrong length is a :class:`PrivacyError`, since
every document was written by another client and read from an untrusted store.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.errors import ConfigError, PrivacyError

ADDRESS_BYTES = 20
UINT256_BYTES = 32
UINT256_MAX = 2**256 - 1


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no insignificant whitespace: one byte string per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def strict_json(raw: bytes, what: str) -> Any:
    """JSON as :func:`canonical_json` writes it: no repeated keys, no NaN or Infinity."""

    def refuse_constant(constant: str) -> Any:
        raise ValueError(constant)

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        fields = dict(pairs)
        if len(fields) != len(pairs):
            raise ValueError("repeated key")
        return fields

    if not isinstance(raw, bytes | bytearray | memoryview):
        raise PrivacyError(f"{what} is not bytes")
    try:
        return json.loads(bytes(raw), object_pairs_hook=unique_keys, parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PrivacyError(f"{what} is not JSON") from None


def b64(data: bytes) -> str:
    """Standard base64 (with padding), as every envelope writes binary fields."""
    return base64.b64encode(data).decode("ascii")


def unb64(value: Any, what: str, *, length: int | None = None) -> bytes:
    """Strict standard base64 of exactly `length` bytes if given; a :class:`PrivacyError` otherwise."""
    if not isinstance(value, str):
        raise PrivacyError(f"document {what} is not a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise PrivacyError(f"document {what} is not valid base64") from None
    if length is not None and len(data) != length:
        raise PrivacyError(f"document {what} is not {length} bytes")
    return data


def checked_address(what: str, address: str) -> str:
    """The checksummed form; a mixed-case address must already carry a valid checksum."""
    try:
        return parse_address(address)
    except AddressProblem as problem:
        if problem.kind == "checksum":
            raise ConfigError(f"{what} {address} has an invalid checksum") from None
        raise ConfigError(f"{what} is not a 0x-prefixed 20-byte hex address") from None


def is_uint256(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= UINT256_MAX


def require_uint256(what: str, value: int, *, minimum: int = 0) -> None:
    if not is_uint256(value) or value < minimum:
        raise ConfigError(f"{what} must be an integer from {minimum} to 2**256 - 1")
