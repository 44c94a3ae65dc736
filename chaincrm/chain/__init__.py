"""Chain access, one job per module:

- ``connection``: the connection to a node, view calls (one or batched) and EIP-1559 fees;
- ``transport``: raw JSON-RPC over HTTP for reads, without web3;
- ``contract``: a deployed contract's calls, with web3's Contract built only when needed;
- ``journal``: every transaction signed, durable under the home's state dir, until final;
- ``nonces``: nonces from the journal, shared by processes using the same key and home;
- ``senders``: who sends (a local signer or a node account);
- ``sending``: building, signing and sending transactions, one or many in batches;
- ``receipts``: waiting for receipts and confirmations, decoding on-chain failures;
- ``tracking``: following journaled transactions until final (re-send, fee bump, cancel);
- ``logs``: reading and decoding logs in block ranges a node accepts, without web3;
- ``batching``: the one JSON-RPC batch helper;
- ``codec``: call data, results and event topics from the ABIs;
- ``chain``: :class:`Chain`, which puts them together;
- ``artifacts``, ``reverts``, ``addresses``, ``keystores``: contract artifacts, revert decoding,
  addresses and keystores.

``sending`` and ``receipts`` import web3 and eth-account (about half a second): their names are
loaded from here on first use, so a command that only reads never imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaincrm._lazy import lazy_getattr
from chaincrm.chain.batching import RPC_BATCH_SIZE, batch_request
from chaincrm.chain.chain import Chain
from chaincrm.chain.codec import calldata, decode_result, event_topic
from chaincrm.chain.connection import BASE_FEE_HEADROOM, DEFAULT_PRIORITY_FEE_WEI, FEE_CACHE_SECONDS, Connection, T
from chaincrm.chain.journal import Journal, JournalEntry, TxState
from chaincrm.chain.logs import LOG_RANGE_BLOCKS, LogFields, LogReader, emitted_by
from chaincrm.chain.nonces import NonceManager
from chaincrm.chain.senders import NodeAccount, Sender, Transactable, node_account

if TYPE_CHECKING:
    from chaincrm.chain.receipts import MinedTx, RawLog, Receipts
    from chaincrm.chain.sending import GAS_MARGIN_DENOMINATOR, GAS_MARGIN_NUMERATOR, PLAIN_TRANSFER_GAS, Sending
    from chaincrm.chain.tracking import Tracker

_LAZY = {
    "MinedTx": "receipts",
    "RawLog": "receipts",
    "Receipts": "receipts",
    "GAS_MARGIN_DENOMINATOR": "sending",
    "GAS_MARGIN_NUMERATOR": "sending",
    "PLAIN_TRANSFER_GAS": "sending",
    "Sending": "sending",
    "Tracker": "tracking",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "BASE_FEE_HEADROOM",
    "Chain",
    "Connection",
    "DEFAULT_PRIORITY_FEE_WEI",
    "FEE_CACHE_SECONDS",
    "Journal",
    "JournalEntry",
    "GAS_MARGIN_DENOMINATOR",
    "GAS_MARGIN_NUMERATOR",
    "LOG_RANGE_BLOCKS",
    "LogFields",
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
    "Tracker",
    "Transactable",
    "TxState",
    "batch_request",
    "calldata",
    "decode_result",
    "emitted_by",
    "event_topic",
    "node_account",
]
