"""The one exception tree of the chaincrm package.

Every error the package raises on purpose derives from :class:`ChainCrmError`, so a caller (the
CLI above all) can catch one class and print one line::

    ChainCrmError
    ├── ConfigError              bad or missing configuration, deployment record, arguments
    ├── KeystoreError            keystore missing, wrong password, no signer
    ├── ChainError               the RPC endpoint: unreachable, wrong chain, unknown contract
    │   └── TransactionError     a transaction failed without a decodable reason (out of gas, dropped)
    ├── ContractRevert           a call reverted with a custom error, decoded by name and arguments
    │   (one subclass per Solidity error, generated from the ABIs: InvoiceAlreadyPaid, ...)
    ├── StorageError             the IPFS service: unreachable, unknown CID, oversized document
    │   └── IntegrityError       bytes read back do not match the hash the chain holds
    ├── PrivacyError             a data key cannot be unwrapped, a ciphertext fails authentication
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


class NodeError(ChainCrmError):
    """A local service (Anvil, the IPFS node) cannot be started, reached or stopped."""


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
