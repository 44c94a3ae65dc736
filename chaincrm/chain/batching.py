"""JSON-RPC batching: many requests to the node in one HTTP round trip.

The one place that speaks batches. It goes through the Web3 provider's `make_batch_request`
(web3.py formats nothing, so callers read the node's raw JSON), falls back to one request at a
time for a provider without batches, and hands every answer back in the order asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from chaincrm.errors import ChainError

RPC_BATCH_SIZE = 100  # requests per batch: nodes cap a batch's size (often at 100 to 1,000)

Call = tuple[str, list[Any]]
Runner = Callable[[Callable[[], Any]], Any]


def _direct(action: Callable[[], Any]) -> Any:
    return action()


def batch_request(
    provider: Any,
    calls: Sequence[Call],
    *,
    run: Runner = _direct,
    size: int = RPC_BATCH_SIZE,
    what: str = "requests",
) -> list[dict[str, Any]]:
    """The node's answers to `calls` ((method, params) pairs), in the order asked.

    Each answer is the raw JSON-RPC response: a dict with "result", or with "error" when the node
    refused that one call (the caller decides what a refused call means). The calls go out in
    batches of `size`; `run` runs each HTTP request (``Chain.rpc`` turns transport failures into
    a ChainError; the indexer retries them). A batch the node refuses as a whole, or answers
    with the wrong number of responses, raises ChainError naming `what` was asked for.
    """
    answers: list[dict[str, Any]] = []
    batched = hasattr(provider, "make_batch_request")
    for start in range(0, len(calls), size):
        chunk = list(calls[start : start + size])
        if not batched:  # a provider without batches: one request at a time
            answers += [run(partial(provider.make_request, method, params)) for method, params in chunk]
            continue
        responses = run(partial(provider.make_batch_request, chunk))
        if isinstance(responses, dict):  # the node refused the whole batch with one error
            raise ChainError(f"the node refused a batch of {what}: {_message(responses.get('error'))}")
        if len(responses) != len(chunk):
            raise ChainError(f"the node answered {len(responses)} of a batch of {len(chunk)} {what}")
        answers += sorted(responses, key=_response_id)
    return answers


def refusal(response: dict[str, Any]) -> str | None:
    """The node's message when it refused this call, else None."""
    error = response.get("error")
    return None if error is None else _message(error)


def _response_id(response: dict[str, Any]) -> int:
    identifier = response.get("id")
    return int(identifier) if isinstance(identifier, int | str) and str(identifier).isdigit() else 0


def _message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(error)


__all__ = ["RPC_BATCH_SIZE", "batch_request", "refusal"]
