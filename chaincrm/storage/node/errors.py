"""Errors the node's RPC API answers in Kubo's shape: ``{"Message", "Code", "Type": "error"}``."""

from __future__ import annotations

from http import HTTPStatus

__all__ = ["ApiError", "not_found_message"]


class ApiError(Exception):
    """A request the node refuses, answered as Kubo answers it.

    Command failures are HTTP 500 with Code 0; malformed requests (``client``) HTTP 400 with Code 1.
    """

    def __init__(self, message: str, *, client: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = 1 if client else 0
        self.status = status or (HTTPStatus.BAD_REQUEST if client else HTTPStatus.INTERNAL_SERVER_ERROR)


def not_found_message(cid_text: str) -> str:
    # Kubo's own wording for a block missing in offline mode, which clients match on.
    return f"block was not found locally (offline): ipld: could not find {cid_text}"
