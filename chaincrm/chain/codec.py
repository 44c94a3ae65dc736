"""ABI encoding of contract calls and decoding of their results and events, with eth_abi directly.

web3's own encoder and decoder normalise and validate every value on each call. With the
selector and types cached this is several times faster, which matters for pipelined sending and
for batched reads; results come back as web3's ``fn.call()`` returns them (addresses checksummed,
one output unwrapped), and an event's arguments as web3's event decoding gives them
(:class:`EventCodec`), so a read needs no web3.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.grammar import ABIType, TupleType, parse
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector, to_checksum_address


@functools.lru_cache(maxsize=256)
def _function_codec(signature_abi: str) -> tuple[bytes, tuple[str, ...], tuple[str, ...]]:
    abi = json.loads(signature_abi)
    inputs = tuple(_abi_type(arg) for arg in abi.get("inputs", []))
    outputs = tuple(_abi_type(arg) for arg in abi.get("outputs", []))
    selector = function_signature_to_4byte_selector(f"{abi['name']}({','.join(inputs)})")
    return selector, inputs, outputs


def _codec_of(fn: Any) -> tuple[bytes, tuple[str, ...], tuple[str, ...]]:
    return _function_codec(json.dumps(fn.abi, sort_keys=True))


def _abi_type(arg: dict[str, Any]) -> str:
    kind = str(arg["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(component) for component in arg["components"]) + ")" + kind[len("tuple") :]
    return kind


def calldata(fn: Any) -> bytes:
    """The call data of a web3 contract function call (selector and encoded arguments)."""
    selector, inputs, _ = _codec_of(fn)
    return selector + abi_encode(list(inputs), list(fn.args))


def decode_result(fn: Any, data: bytes) -> Any:
    """What the call `fn` returned, as web3's ``fn.call()`` gives it: addresses checksummed, a
    single output unwrapped, several as a tuple."""
    _, _, outputs = _codec_of(fn)
    values = tuple(
        _checksummed(parse(kind), value) for kind, value in zip(outputs, abi_decode(outputs, data), strict=True)
    )
    return values[0] if len(values) == 1 else values


def _checksummed(kind: ABIType, value: Any) -> Any:
    if kind.is_array:
        return [_checksummed(kind.item_type, item) for item in value]
    if isinstance(kind, TupleType):
        return tuple(_checksummed(component, item) for component, item in zip(kind.components, value, strict=True))
    if kind.to_type_str() == "address":
        return to_checksum_address(value)
    return value


@dataclass(frozen=True)
class EventCodec:
    """One event of an ABI: its topic, and how its topics and data decode.

    Arguments decode as web3's event decoding gives them: addresses checksummed, integers,
    ``bytesN`` and ``bytes`` as bytes. An indexed argument of a dynamic type is only its hash in
    the topic, and decodes as those 32 bytes.
    """

    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]  # (name, type) of the topics after the first
    data: tuple[tuple[str, str], ...]  # (name, type) of the values in the log's data

    def topic_filter(self, argument_filters: Mapping[str, Any]) -> list[Any]:
        """The ``topics`` of an eth_getLogs filter for this event: each indexed argument given in
        `argument_filters` (a list matches any of its values), the others unconstrained."""
        indexed = dict(self.indexed)
        unknown = sorted(set(argument_filters) - set(indexed))
        if unknown:
            raise ValueError(f"{self.name} filters only on its indexed arguments, not on {', '.join(unknown)}")
        topics: list[Any] = ["0x" + self.topic.hex()]
        for name, kind in self.indexed:
            wanted = argument_filters.get(name)
            if wanted is None:
                topics.append(None)
                continue
            options = wanted if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
            topics.append(["0x" + abi_encode([_topic_type(kind)], [option]).hex() for option in options])
        while topics[-1] is None:
            topics.pop()
        return topics

    def matches(self, topics: Sequence[bytes]) -> bool:
        """Whether a log with these topics is this event (its topic, and one topic per indexed argument)."""
        return len(topics) == 1 + len(self.indexed) and topics[0] == self.topic

    def decode(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        """The arguments of a log of this event, by name (indexed arguments first, as web3 orders them)."""
        args = {
            name: _checksummed(parse(_topic_type(kind)), abi_decode([_topic_type(kind)], topic)[0])
            for (name, kind), topic in zip(self.indexed, topics[1:], strict=True)
        }
        if self.data:
            kinds = [kind for _, kind in self.data]
            for (name, kind), value in zip(self.data, abi_decode(kinds, data), strict=True):
                args[name] = _checksummed(parse(kind), value)
        return args


def event_codec(abi: Mapping[str, Any]) -> EventCodec:
    """The :class:`EventCodec` of an event's ABI entry (cached)."""
    return _event_codec(json.dumps(abi, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _event_codec(event_abi: str) -> EventCodec:
    abi = json.loads(event_abi)
    inputs = abi.get("inputs", [])
    return EventCodec(
        name=abi["name"],
        topic=bytes(event_abi_to_log_topic(abi)),
        indexed=tuple((arg["name"], _abi_type(arg)) for arg in inputs if arg.get("indexed")),
        data=tuple((arg["name"], _abi_type(arg)) for arg in inputs if not arg.get("indexed")),
    )


def _topic_type(kind: str) -> str:
    """What an indexed argument's topic holds: the value for a static type, the hash otherwise."""
    dynamic = kind in ("bytes", "string") or kind.endswith("]") or kind.startswith("(")
    return "bytes32" if dynamic else kind


def event_topic(contract: Any, name: str) -> bytes:
    """topic0 of event `name` in `contract`'s ABI."""
    (abi,) = [item for item in contract.abi if item.get("type") == "event" and item["name"] == name]
    return bytes(event_abi_to_log_topic(abi))


__all__ = ["EventCodec", "calldata", "decode_result", "event_codec", "event_topic"]
