"""Runtime code: does the code at an address match the compiled contract, and which EVM features
does the bytecode need.

The compiler leaves each immutable as a zero placeholder in the runtime code (``PUSH32 0``) and the
constructor writes the value there, so the code on chain differs from the artifact's
``deployedBytecode`` exactly at those 32-byte operands. solc never emits ``PUSH32 0`` otherwise
(it uses ``PUSH0``), so the placeholders are found from the runtime code itself, the same places
solc's ``immutableReferences`` list. Solidity's metadata (CBOR, its length in the last two bytes)
is data, not code, and is compared whole.
"""

from __future__ import annotations

from collections.abc import Iterator

PUSH1, PUSH32 = 0x60, 0x7F
FEATURES = {
    0x5F: ("PUSH0", "Shanghai (EIP-3855)"),
    0x5E: ("MCOPY", "Cancun (EIP-5656)"),
    0x5C: ("TLOAD", "Cancun (EIP-1153 transient storage)"),
    0x5D: ("TSTORE", "Cancun (EIP-1153 transient storage)"),
    0x49: ("BLOBHASH", "Cancun (EIP-4844)"),
    0x4A: ("BLOBBASEFEE", "Cancun (EIP-7516)"),
}
"""Opcodes newer than Paris (the Merge), by the fork that brought them."""
CANCUN_PROBE = bytes.fromhex("5f5c5060015f5d5f5f5f5e00")
"""Init code run by an eth_call: PUSH0 TLOAD POP, PUSH1 1 PUSH0 TSTORE, PUSH0 PUSH0 PUSH0 MCOPY, STOP.
A chain without Shanghai's PUSH0 or Cancun's transient storage and MCOPY fails it."""


def metadata_start(code: bytes) -> int:
    """Where Solidity's CBOR metadata starts (the code's end when there is none)."""
    if len(code) < 2:
        return len(code)
    length = int.from_bytes(code[-2:], "big")
    start = len(code) - 2 - length
    if start < 0 or code[start] not in (0xA1, 0xA2, 0xA3):  # a CBOR map of 1..3 entries
        return len(code)
    return start


def instructions(code: bytes) -> Iterator[tuple[int, int]]:
    """(offset, opcode) of each instruction before the metadata, skipping PUSH operands."""
    end = metadata_start(code)
    i = 0
    while i < end:
        op = code[i]
        yield i, op
        i += 1 + (op - PUSH1 + 1 if PUSH1 <= op <= PUSH32 else 0)


def immutable_slots(runtime: bytes) -> list[int]:
    """Offsets of the 32-byte immutable placeholders (operands of ``PUSH32 0``)."""
    return [
        offset + 1
        for offset, op in instructions(runtime)
        if op == PUSH32 and runtime[offset + 1 : offset + 33] == bytes(32)
    ]


def matches_runtime(expected: bytes, actual: bytes) -> bool:
    """Whether `actual` (code on chain) is `expected` (the artifact's runtime code) with its
    immutables filled in: equal everywhere but inside the placeholders."""
    if len(expected) != len(actual):
        return False
    masked_expected, masked_actual = bytearray(expected), bytearray(actual)
    for slot in immutable_slots(expected):
        masked_expected[slot : slot + 32] = bytes(32)
        masked_actual[slot : slot + 32] = bytes(32)
    return masked_expected == masked_actual


def evm_features(code: bytes) -> dict[str, int]:
    """How many times each post-Merge opcode occurs in `code` (instructions only)."""
    found: dict[str, int] = {}
    for _, op in instructions(code):
        if op in FEATURES:
            name = FEATURES[op][0]
            found[name] = found.get(name, 0) + 1
    return found


__all__ = [
    "CANCUN_PROBE",
    "FEATURES",
    "evm_features",
    "immutable_slots",
    "instructions",
    "matches_runtime",
    "metadata_start",
]
