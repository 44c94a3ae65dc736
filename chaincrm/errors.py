"""The one exception tree of the chaincrm package.

Every error the package raises on purpose derives from :class:`ChainCrmError`, so a caller (the
CLI above all) can catch one class and print one line::

    ChainCrmError
    ├── ConfigError              bad or missing configuration, deployment record, arguments
    ├── KeystoreError            keystore missing, wrong password, no signer
    ├── ChainError               the RPC endpoint: unreachable, wrong chain, unknown contract
    │   └── TransactionError     a transaction failed without a decodable reason (out of gas, dropped)
    │       ├── TransactionPending    not mined in time, may still land (tracked in the journal)
    │       ├── TransactionCancelled  given up and cancelled: final, nothing landed
    │       ├── TransactionReplaced   another transaction took the nonce: final, nothing landed
    │       └── PartiallyLanded       some of many landed: which did, which did not
    ├── ContractRevert           a call reverted with a custom error, decoded by name and arguments
    │   (one subclass per Solidity error, generated from the ABIs: InvoiceAlreadyPaid, ...)
    ├── StorageError             the IPFS service: unreachable, unknown CID, oversized document
    │   └── IntegrityError       bytes read back do not match the hash the chain holds
    ├── PrivacyError             a data key cannot be unwrapped, a ciphertext fails authentication
    ├── BatchError               the local interaction queue: unknown record, batch not anchorable
    │   └── BatchMismatch        a batch document or proof does not match its root, count or chain
    └── NodeError                starting or stopping local services (port in use, binary missing)
"""

from __future__ import annotations

from typing import Any


class ChainCrmError(Exception):
    """Root of every error chaincrm raises on purpose."""


class ConfigError(ChainCrmError):
    """Configuration, a deployment record or an argument is missing or invalid."""


class KeystoreError(ChainCrmError):
    """A keystore is missing, unreadable, or its password is wrong."""


class ChainError(ChainCrmError):
    """The chain cannot be used: endpoint down, wrong chain id, no code at a contract address."""


class TransactionError(ChainError):
    """A transaction failed and the node gave no decodable reason."""


class TransactionPending(TransactionError):
    """Not final yet: the transaction was not mined in the time given but may still land. It stays
    in the writer's journal and is tracked (re-sent, replaced) on the next write or wait."""

    def __init__(self, message: str, *, tx_hash: str, nonce: int) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash
        self.nonce = nonce


class TransactionCancelled(TransactionError):
    """Final: the caller gave up and a cancelling self-transfer took the nonce; nothing landed."""

    def __init__(self, message: str, *, tx_hash: str, nonce: int) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash
        self.nonce = nonce


class TransactionReplaced(TransactionError):
    """Final: another transaction (not one of ours) took the nonce; this one can never land."""

    def __init__(self, message: str, *, tx_hash: str, nonce: int) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash
        self.nonce = nonce


class PartiallyLanded(TransactionError):
    """Some transactions of a call landed and some did not: `landed` are the receipts (MinedTx) of
    those that landed, in call order, with their positions in `landed_at`; `not_landed` maps each
    position that did not land to its error. Retry only the positions in `not_landed`."""

    def __init__(
        self, message: str, *, landed: list[Any], landed_at: list[int], not_landed: dict[int, Exception]
    ) -> None:
        super().__init__(message)
        self.landed = landed
        self.landed_at = landed_at
        self.not_landed = not_landed


class ContractRevert(ChainCrmError):
    """A contract call reverted with a custom error.

    ``name`` is the Solidity error's name and ``args`` its arguments by name, so that the message
    reads ``InvoiceAlreadyPaid(invoiceId=7)``.
    """

    def __init__(self, name: str, args: dict[str, Any] | None = None, *, shown: dict[str, str] | None = None) -> None:
        self.name = name
        self.args_by_name: dict[str, Any] = dict(args or {})
        display = {key: _render(value) for key, value in self.args_by_name.items()} | dict(shown or {})
        super().__init__(f"{name}({', '.join(f'{key}={value}' for key, value in display.items())})")


class StorageError(ChainCrmError):
    """The document store cannot be used or refused a document."""


class IntegrityError(StorageError):
    """A document read back does not match the hash recorded for it."""


class PrivacyError(ChainCrmError):
    """Encrypted data cannot be opened: no key for this reader, or the ciphertext was altered."""


class BatchError(ChainCrmError):
    """The local interaction queue cannot do what was asked: an unknown record, a batch that
    cannot be anchored."""


class BatchMismatch(BatchError):
    """A batch document, a tree or a proof does not match what it claims: its root, its count, its
    chain, registry or author."""


class NodeError(ChainCrmError):
    """A local service (Anvil, the IPFS node) cannot be started, reached or stopped."""


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
