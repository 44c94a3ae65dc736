"""A deployed contract as the wrappers use it, with web3's Contract built only when needed.

``handle.functions.name(*args)`` gives a :class:`FunctionCall` that :meth:`Connection.call`
encodes and decodes with eth_abi directly (:mod:`~chaincrm.chain.codec`), and ``handle.events.Name``
an :class:`EventHandle` that :meth:`LogReader.events <chaincrm.chain.logs.LogReader.events>` reads
with raw eth_getLogs, so a command that only reads never imports web3. Sending (gas estimates,
constructors), decoding a receipt's events (``handle.events.Name()``, web3's ContractEvent) and
anything else web3's Contract offers go to that Contract, built from the same address and ABI on
first use.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from eth_typing import ChecksumAddress

if TYPE_CHECKING:
    from web3.contract import Contract
    from web3.contract.contract import ContractEvent, ContractFunction

    from chaincrm.chain.connection import Connection


class FunctionCall:
    """One call of a contract function: its address, ABI and arguments (what the codec needs)."""

    def __init__(self, contract: ContractHandle, abi: dict[str, Any], args: tuple[Any, ...]) -> None:
        self.contract = contract
        self.address: ChecksumAddress = contract.address
        self.abi = abi
        self.fn_name: str = abi["name"]
        self.args = args

    def web3_function(self) -> ContractFunction:
        """The same call as web3's ContractFunction (imports web3)."""
        return getattr(self.contract.web3.functions, self.fn_name)(*self.args)  # type: ignore[no-any-return]

    def estimate_gas(self, transaction: Any = None, block_identifier: Any = None) -> int:
        return int(self.web3_function().estimate_gas(transaction, block_identifier))

    def build_transaction(self, transaction: Any = None) -> Any:
        return self.web3_function().build_transaction(transaction)

    def __getattr__(self, name: str) -> Any:  # call(), transact() and the rest: web3's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.web3_function(), name)

    def __repr__(self) -> str:
        return f"<FunctionCall {self.fn_name}{self.args!r} at {self.address}>"


class _Functions:
    def __init__(self, contract: ContractHandle) -> None:
        self._contract = contract

    def __getattr__(self, name: str) -> Callable[..., FunctionCall]:
        abi = self._contract.function_abis.get(name)
        if abi is None:
            raise AttributeError(f"{self._contract.name} has no function {name}")
        return lambda *args: FunctionCall(self._contract, abi, args)


class EventHandle:
    """One event of a contract: its name, ABI and the contract's address (what the log reader
    needs). Called, it is web3's ContractEvent (imports web3), for decoding receipts."""

    def __init__(self, contract: ContractHandle, abi: dict[str, Any]) -> None:
        self.contract = contract
        self.address: ChecksumAddress = contract.address
        self.abi = abi
        self.event_name: str = abi["name"]

    def web3_event(self) -> Any:
        """web3's event class for this event (imports web3)."""
        return getattr(self.contract.web3.events, self.event_name)

    def __call__(self, *args: Any, **kwargs: Any) -> ContractEvent:
        return self.web3_event()(*args, **kwargs)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:  # process_receipt, get_logs and the rest: web3's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.web3_event(), name)

    def __repr__(self) -> str:
        return f"<EventHandle {self.event_name} at {self.address}>"


class _Events:
    def __init__(self, contract: ContractHandle) -> None:
        self._contract = contract

    def __getattr__(self, name: str) -> EventHandle:
        abi = self._contract.event_abis.get(name)
        if abi is None:
            raise AttributeError(f"{self._contract.name} has no event {name}")
        return EventHandle(self._contract, abi)

    def __getitem__(self, name: str) -> EventHandle:
        try:
            return getattr(self, name)  # type: ignore[no-any-return]
        except AttributeError:
            raise KeyError(name) from None


class ContractHandle:
    """One deployed contract: its name, address and ABI; its web3 Contract built on first use."""

    def __init__(self, node: Connection, name: str, address: ChecksumAddress, abi: tuple[dict[str, Any], ...]) -> None:
        self.node = node
        self.name = name
        self.address = address
        self.abi = abi
        self.function_abis = {item["name"]: item for item in abi if item.get("type") == "function"}
        self.event_abis = {item["name"]: item for item in abi if item.get("type") == "event"}
        self.functions = _Functions(self)
        self.events = _Events(self)

    @cached_property
    def web3(self) -> Contract:
        """web3's Contract at the same address with the same ABI (imports web3)."""
        return self.node.w3.eth.contract(address=self.address, abi=self.abi)

    def __getattr__(self, name: str) -> Any:  # anything else web3's Contract offers
        guarded = ("node", "name", "address", "abi", "function_abis", "event_abis", "functions", "events")
        if name.startswith("_") or name in guarded:
            raise AttributeError(name)
        return getattr(self.web3, name)


def contract_at(node: Connection, name: str, address: ChecksumAddress, abi: tuple[dict[str, Any], ...]) -> Contract:
    """A :class:`ContractHandle`, typed as the web3 Contract it stands in for: callers (views,
    reports) use it as one, and it gives what they ask for, its calls light, the rest web3's."""
    return cast("Contract", ContractHandle(node, name, address, abi))


__all__ = ["ContractHandle", "EventHandle", "FunctionCall", "contract_at"]
