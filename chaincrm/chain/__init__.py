"""Chain access, one job per module:

- ``connection``: the Web3 connection, view calls (one or batched) and EIP-1559 fees;
- ``nonces``: nonces handed out locally;
- ``sending``: building, signing and sending transactions, one or many in batches;
- ``receipts``: waiting for receipts and confirmations, decoding on-chain failures;
- ``logs``: reading logs in block ranges a node accepts;
- ``batching``: the one JSON-RPC batch helper;
- ``codec``: call data, results and event topics from the ABIs;
- ``chain``: :class:`Chain`, which puts them together;
- ``artifacts``, ``reverts``, ``addresses``, ``keystores``: contract artifacts, revert decoding,
  addresses and keystores.
"""

from __future__ import annotations

from chaincrm.chain.batching import RPC_BATCH_SIZE, batch_request
from chaincrm.chain.chain import Chain
from chaincrm.chain.codec import calldata, decode_result, event_topic
from chaincrm.chain.connection import BASE_FEE_HEADROOM, DEFAULT_PRIORITY_FEE_WEI, FEE_CACHE_SECONDS, Connection, T
from chaincrm.chain.logs import LOG_RANGE_BLOCKS, LogReader, emitted_by
from chaincrm.chain.nonces import NonceManager
from chaincrm.chain.receipts import MinedTx, RawLog, Receipts
from chaincrm.chain.sending import (
    GAS_MARGIN_DENOMINATOR,
    GAS_MARGIN_NUMERATOR,
    PLAIN_TRANSFER_GAS,
    NodeAccount,
    Sender,
    Sending,
    Transactable,
    node_account,
)

__all__ = [
    "BASE_FEE_HEADROOM",
    "Chain",
    "Connection",
    "DEFAULT_PRIORITY_FEE_WEI",
    "FEE_CACHE_SECONDS",
    "GAS_MARGIN_DENOMINATOR",
    "GAS_MARGIN_NUMERATOR",
    "LOG_RANGE_BLOCKS",
    "LogReader",
    "MinedTx",
    "NodeAccount",
    "NonceManager",
    "PLAIN_TRANSFER_GAS",
    "RPC_BATCH_SIZE",
    "RawLog",
    "Receipts",
    "Sender",
    "Sending",
    "T",
    "Transactable",
    "batch_request",
    "calldata",
    "decode_result",
    "emitted_by",
    "event_topic",
    "node_account",
]
