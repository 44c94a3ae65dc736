"""Decoding of reverts: from the 4-byte selector web3.py hands back to a named exception.

Each Solidity custom error of the CRM's contracts becomes a subclass of
:class:`chaincrm.errors.ContractRevert` with the error's name, created once from the ABIs, so a
caller can write ``except revert_type("InvoiceAlreadyPaid")`` and a user reads
``InvoiceAlreadyPaid(invoiceId=7)`` instead of ``0x...``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from chaincrm.errors import ContractRevert, TransactionError
from chaincrm.models import Role

# Solidity's built-in Error(string) and Panic(uint256).
_ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
_PANIC_SELECTOR = bytes.fromhex("4e487b71")

_REVERT_TYPES: dict[str, type[ContractRevert]] = {}
# Role ids print as their names: "AccessControlUnauthorizedAccount(account=0x..., neededRole=MANAGER_ROLE)".
_ROLE_NAMES = {role.role_id: "DEFAULT_ADMIN_ROLE" if role is Role.ADMIN else f"{role.name}_ROLE" for role in Role}


def revert_type(name: str) -> type[ContractRevert]:
    """The exception class for the Solidity error `name` (created on first use)."""
    existing = _REVERT_TYPES.get(name)
    if existing is None:
        existing = type(
            name, (ContractRevert,), {"__module__": __name__, "__doc__": f"The contract reverted with {name}."}
        )
        _REVERT_TYPES[name] = existing
    return existing


@dataclass(frozen=True)
class _ErrorSpec:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...]


def _canonical_type(item: dict[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(component) for component in item["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _error(name: str, *inputs: tuple[str, str]) -> dict[str, Any]:
    return {"type": "error", "name": name, "inputs": [{"name": n, "type": t} for t, n in inputs]}


# Errors a payment can bubble up from an ERC-20 the escrow pulls from (OpenZeppelin's IERC20Errors
# and ERC20Permit, which most current tokens use) and from the loyalty points: they are not in the
# CRM's ABIs, and a payer should read "ERC20InsufficientAllowance(...)", not 0x-bytes.
TOKEN_ERRORS: tuple[dict[str, Any], ...] = (
    _error("ERC20InsufficientBalance", ("address", "sender"), ("uint256", "balance"), ("uint256", "needed")),
    _error("ERC20InsufficientAllowance", ("address", "spender"), ("uint256", "allowance"), ("uint256", "needed")),
    _error("ERC20InvalidSender", ("address", "sender")),
    _error("ERC20InvalidReceiver", ("address", "receiver")),
    _error("ERC20InvalidApprover", ("address", "approver")),
    _error("ERC20InvalidSpender", ("address", "spender")),
    _error("ERC2612ExpiredSignature", ("uint256", "deadline")),
    _error("ERC2612InvalidSigner", ("address", "signer"), ("address", "owner")),
    _error("InvalidAccountNonce", ("address", "account"), ("uint256", "currentNonce")),
    _error("SafeERC20FailedOperation", ("address", "token")),
    _error("PointsNotTransferable"),
    _error("CallerNotMinter", ("address", "caller")),
)


class RevertDecoder:
    """Maps error selectors found in ABIs (and the common token errors, :data:`TOKEN_ERRORS`) to
    named exceptions with decoded arguments."""

    def __init__(self, abis: Iterable[Iterable[dict[str, Any]]]) -> None:
        self._specs: dict[bytes, _ErrorSpec] = {}
        for abi in (TOKEN_ERRORS, *abis):
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = tuple(_canonical_type(arg) for arg in item.get("inputs", []))
                names = tuple(str(arg.get("name") or f"arg{i}") for i, arg in enumerate(item.get("inputs", [])))
                selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
                self._specs[selector] = _ErrorSpec(str(item["name"]), types, names)
                revert_type(str(item["name"]))

    def decode(self, data: bytes | str | None) -> ContractRevert | TransactionError:
        """Turn revert data into the matching exception (not raised)."""
        raw = _to_bytes(data)
        if len(raw) < 4:
            return TransactionError("the transaction reverted without a reason")
        selector, payload = raw[:4], raw[4:]
        if selector == _ERROR_STRING_SELECTOR:
            (message,) = decode(["string"], payload)
            return revert_type("Error")("Error", {"message": message})
        if selector == _PANIC_SELECTOR:
            (code,) = decode(["uint256"], payload)
            return revert_type("Panic")("Panic", {"code": hex(code)})
        spec = self._specs.get(selector)
        if spec is None:
            return TransactionError(f"the transaction reverted with an unknown error 0x{raw.hex()}")
        values = decode(list(spec.types), payload)
        args = {name: _readable(value, kind) for name, value, kind in zip(spec.names, values, spec.types, strict=False)}
        shown = {
            name: _ROLE_NAMES[value]
            for name, value in args.items()
            if isinstance(value, bytes) and value in _ROLE_NAMES
        }
        return revert_type(spec.name)(spec.name, args, shown=shown)


def _to_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    text = data[2:] if data.startswith("0x") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""


def _readable(value: Any, kind: str) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    return value
