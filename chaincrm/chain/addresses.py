"""Ethereum addresses as users type them: one parser for the SDK and the CLI.

An address in a single case carries no checksum and is taken as it is; a mixed-case address must
carry a valid EIP-55 checksum, which catches a mistyped character.
"""

from __future__ import annotations

import re
from typing import Literal

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

_PREFIXED = re.compile(r"0x[0-9a-fA-F]{40}")
_PREFIX_OPTIONAL = re.compile(r"(?:0[xX])?[0-9a-fA-F]{40}")


class AddressProblem(ValueError):
    """Why a text is not an address: it is malformed, or its mixed case is a wrong checksum."""

    def __init__(self, kind: Literal["malformed", "checksum"], text: str) -> None:
        self.kind = kind
        super().__init__(f"{text!r} is {'not a 20-byte hex address' if kind == 'malformed' else 'mis-checksummed'}")


def parse_address(text: object, *, prefix_optional: bool = False) -> ChecksumAddress:
    """The checksummed form of `text`, or AddressProblem saying what is wrong with it.

    `prefix_optional` also accepts the bare 40 hex digits keystore files use.
    """
    pattern = _PREFIX_OPTIONAL if prefix_optional else _PREFIXED
    if not isinstance(text, str) or pattern.fullmatch(text) is None:
        raise AddressProblem("malformed", str(text))
    digits = text[-40:]
    checksummed = to_checksum_address("0x" + digits)
    if digits not in (digits.lower(), digits.upper()) and "0x" + digits != checksummed:
        raise AddressProblem("checksum", text)
    return checksummed
