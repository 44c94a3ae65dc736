"""ERC-20 tokens through the SDK: balances, allowances, approvals and EIP-2612 permits, for the
currencies the escrow allows.

What a currency is, its symbol and decimals (read once per connection and token) and amounts in its
units are :mod:`chaincrm.currency`'s: :meth:`Tokens.info` is its :func:`~chaincrm.currency.erc20_info`.
The ERC-20 calls use the test stablecoin's ABI (OpenZeppelin ERC20 + ERC20Permit), which holds the
standard functions (`approve`, `nonces`, `eip712Domain`, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.chain import Chain, Sender
from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.chain.artifacts import load_artifact
from chaincrm.chain.contract import contract_at
from chaincrm.contracts.typed_data import EIP712_DOMAIN_TYPE
from chaincrm.currency import TokenInfo, erc20_info
from chaincrm.errors import ChainCrmError, ConfigError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.contract import Contract
    from web3.types import TxReceipt


def erc20_abi() -> tuple[dict[str, Any], ...]:
    return load_artifact("TestStablecoin").abi


class Tokens:
    """ERC-20 reads and writes for one chain."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def contract(self, token: str) -> Contract:
        return contract_at(self.chain, "ERC20", to_checksum_address(token), erc20_abi())

    def info(self, token: str | None) -> TokenInfo:
        """Symbol and decimals read from the token (ETH for None or the zero address), cached."""
        return erc20_info(self.chain, token)

    def balance_of(self, token: str, account: str) -> int:
        return int(self.chain.call(self.contract(token).functions.balanceOf(to_checksum_address(account))))

    def allowance(self, token: str, owner: str, spender: str) -> int:
        fn = self.contract(token).functions.allowance(to_checksum_address(owner), to_checksum_address(spender))
        return int(self.chain.call(fn))

    def approve(self, token: str, spender: str, amount: int, sender: Sender) -> TxReceipt:
        fn = self.contract(token).functions.approve(to_checksum_address(spender), amount)
        return self.chain.transact(fn, sender)

    def sign_permit(
        self, token: str, owner: LocalAccount, spender: str, amount: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        """An EIP-2612 permit for `spender` to pull `amount` of `owner`'s tokens until `deadline`,
        signed over the token's own EIP-712 domain (read from `eip712Domain()` when the token has
        it, else its `name()` and version "1"): (v, r, s)."""
        functions = self.contract(token).functions
        address = to_checksum_address(token)
        name, version, chain_id, verifying = self._domain(address)
        nonce = int(self.chain.call(functions.nonces(owner.address)))
        typed = {
            "types": {
                "EIP712Domain": EIP712_DOMAIN_TYPE,
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Permit",
            "domain": {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying},
            "message": {
                "owner": owner.address,
                "spender": to_checksum_address(spender),
                "value": amount,
                "nonce": nonce,
                "deadline": deadline,
            },
        }
        signed = owner.sign_typed_data(full_message=typed)
        return int(signed.v), int(signed.r).to_bytes(32, "big"), int(signed.s).to_bytes(32, "big")

    def _domain(self, address: ChecksumAddress) -> tuple[str, str, int, ChecksumAddress]:
        functions = self.contract(address).functions
        try:
            _, name, version, chain_id, verifying, _, _ = self.chain.call(functions.eip712Domain())
            return str(name), str(version), int(chain_id), to_checksum_address(verifying)
        except ChainCrmError:  # an older permit token without ERC-5267
            return str(self.chain.call(functions.name())), "1", self.chain.chain_id, address


def token_address(text: str) -> ChecksumAddress:
    try:
        return parse_address(text)
    except AddressProblem as exc:
        raise ConfigError(f"not a token address: {text!r} ({exc})") from None
