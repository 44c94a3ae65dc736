"""Fees for a deploy: EIP-1559 from ``eth_feeHistory`` under the user's cap, and the L1 data fee of
OP-stack chains from the GasPriceOracle predeploy.

The base fee is the pending block's: ``eth_feeHistory`` returns one more base fee than blocks
asked, the base fee of the block after the newest, which is the block a transaction sent now
lands in first. The priority fee is the median, over the last blocks, of a percentile of the tips
each block paid (``eth_maxPriorityFeePerGas`` when those blocks paid none). A transaction offers
``maxFeePerGas = 2 x base fee + tip`` (room for six full blocks of base-fee rises), lowered to the
cap when that is less; a cap below what the next block needs (base fee + tip) refuses the deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from eth_utils import keccak

from chaincrm.chain import Connection
from chaincrm.errors import ChainError, ConfigError

FEE_HISTORY_BLOCKS = 10
DEFAULT_PRIORITY_PERCENTILE = 50
BASE_FEE_HEADROOM = 2
GWEI = 10**9
GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
"""OP-stack predeploy: getL1Fee(bytes) is the L1 data fee of a transaction (unsigned, RLP)."""
GET_L1_FEE_SELECTOR = keccak(text="getL1Fee(bytes)")[:4]


@dataclass(frozen=True)
class FeeQuote:
    base_fee: int  # wei per gas, the pending block's
    priority_fee: int  # wei per gas, the tip offered
    max_fee: int  # wei per gas: maxFeePerGas sent

    @property
    def needed(self) -> int:
        """What a gas unit costs in the next block: base fee + tip (the estimate's price)."""
        return self.base_fee + self.priority_fee


def gwei(wei: int) -> str:
    """Wei per gas in gwei, as people read fees ("12.5", "0.001")."""
    return f"{wei / GWEI:.9f}".rstrip("0").rstrip(".") or "0"


def quote_fees(
    node: Connection, *, cap_wei: int | None = None, percentile: int = DEFAULT_PRIORITY_PERCENTILE
) -> FeeQuote:
    """The fees to offer now; a ConfigError (nothing sent) when the next block needs more than the cap."""
    history = node.request("eth_feeHistory", [hex(FEE_HISTORY_BLOCKS), "latest", [percentile]])
    base_fees = [int(fee, 16) for fee in history.get("baseFeePerGas") or []]
    if not base_fees:
        raise ChainError(f"the chain at {node.endpoint} gives no base fee: it does not take EIP-1559 transactions")
    base_fee = base_fees[-1]
    tips = [int(reward[0], 16) for reward in history.get("reward") or [] if reward]
    tip = int(median(tips)) if tips else 0
    if tip == 0:
        try:
            tip = int(node.request("eth_maxPriorityFeePerGas", []), 16)
        except ChainError:
            tip = 0
    needed = base_fee + tip
    if cap_wei is not None and needed > cap_wei:
        raise ConfigError(
            f"the next block needs {gwei(needed)} gwei per gas (base fee {gwei(base_fee)} + tip {gwei(tip)}), "
            f"above --max-fee {gwei(cap_wei)} gwei: nothing was sent"
        )
    max_fee = base_fee * BASE_FEE_HEADROOM + tip
    if cap_wei is not None:
        max_fee = min(max_fee, cap_wei)
    return FeeQuote(base_fee=base_fee, priority_fee=tip, max_fee=max_fee)


def has_gas_price_oracle(node: Connection) -> bool:
    """Whether the chain has code at the OP-stack GasPriceOracle predeploy."""
    (code,) = node.codes([GAS_PRICE_ORACLE])
    return len(code) > 0


def l1_fee(node: Connection, unsigned_tx: bytes) -> int:
    """The L1 data fee (wei) the GasPriceOracle predeploy charges for a transaction."""
    from eth_abi import encode

    data = GET_L1_FEE_SELECTOR + encode(["bytes"], [unsigned_tx])
    result = node.request("eth_call", [{"to": GAS_PRICE_ORACLE, "data": "0x" + data.hex()}, "latest"])
    return int(result, 16) if result not in (None, "0x") else 0


def unsigned_eip1559(
    *, chain_id: int, nonce: int, gas: int, fees: FeeQuote, to: str | None, data: bytes, value: int = 0
) -> bytes:
    """The unsigned EIP-1559 transaction, ``0x02 || rlp([...])``: what getL1Fee takes."""
    import rlp

    to_bytes = bytes.fromhex(to[2:]) if to else b""
    fields = [chain_id, nonce, fees.priority_fee, fees.max_fee, gas, to_bytes, value, data, []]
    return b"\x02" + rlp.encode(fields)


__all__ = [
    "DEFAULT_PRIORITY_PERCENTILE",
    "FEE_HISTORY_BLOCKS",
    "GAS_PRICE_ORACLE",
    "GWEI",
    "FeeQuote",
    "gwei",
    "has_gas_price_oracle",
    "l1_fee",
    "quote_fees",
    "unsigned_eip1559",
]
