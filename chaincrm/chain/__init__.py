"""Chain access: the connection, signers, fees, nonces, sending and receipts (``transactions``),
contract artifacts (``artifacts``), revert decoding (``reverts``), addresses (``addresses``) and
keystores (``keystores``)."""

from __future__ import annotations

from chaincrm.chain.transactions import (
    BASE_FEE_HEADROOM,
    DEFAULT_PRIORITY_FEE_WEI,
    FEE_CACHE_SECONDS,
    GAS_MARGIN_DENOMINATOR,
    GAS_MARGIN_NUMERATOR,
    PLAIN_TRANSFER_GAS,
    RPC_BATCH_SIZE,
    Chain,
    MinedTx,
    NodeAccount,
    NonceManager,
    RawLog,
    Sender,
    T,
    Transactable,
    calldata,
    emitted_by,
    event_topic,
    node_account,
)

__all__ = [
    "BASE_FEE_HEADROOM",
    "Chain",
    "DEFAULT_PRIORITY_FEE_WEI",
    "FEE_CACHE_SECONDS",
    "GAS_MARGIN_DENOMINATOR",
    "GAS_MARGIN_NUMERATOR",
    "MinedTx",
    "NodeAccount",
    "NonceManager",
    "PLAIN_TRANSFER_GAS",
    "RPC_BATCH_SIZE",
    "RawLog",
    "Sender",
    "T",
    "Transactable",
    "calldata",
    "emitted_by",
    "event_topic",
    "node_account",
]
