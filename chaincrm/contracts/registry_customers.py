"""CrmRegistry's customers: registration, profile versions, wallets and erasure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from chaincrm.chain import emitted_by, event_topic
from chaincrm.contracts.registry_base import RegistryBase
from chaincrm.models import ZERO_ADDRESS, Customer, CustomerStatus, ProfileVersion, Purpose

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3.types import TxReceipt

    from chaincrm.chain import Sender
    from chaincrm.contracts.signatures import WalletAcceptance


@dataclass(frozen=True)
class SealedVersion:
    """A profile version ready for the chain: its hashes and the readers hash it was sealed for."""

    content_hash: bytes
    cid_digest: bytes
    readers_hash: bytes

    @property
    def hashes(self) -> tuple[bytes, bytes, bytes]:
        return self.content_hash, self.cid_digest, self.readers_hash


class CustomerMixin(RegistryBase):
    """A customer's record: registering it, its profile versions, its wallet, its erasure."""

    if TYPE_CHECKING:  # provided by StaffMixin in the composed Registry

        def encryption_key_of(self, account: str) -> bytes | None: ...

    # ------------------------------------------------------------------ registration and profile

    def register_customer(
        self,
        content_hash: bytes,
        cid_digest: bytes,
        readers_hash: bytes,
        proposed_wallet: str | None,
        purpose: Purpose,
        sender: Sender,
    ) -> int:
        from web3.logs import DISCARD  # web3 sent the transaction: it is loaded already

        receipt = self.chain.transact(
            self._register_fn(content_hash, cid_digest, readers_hash, proposed_wallet, purpose), sender
        )
        (event,) = emitted_by(
            self.address, self.contract.events.CustomerRegistered().process_receipt(receipt, errors=DISCARD)
        )
        return int(event["args"]["customerId"])

    def register_customers(
        self,
        profiles: Sequence[tuple[bytes, bytes, bytes, str | None]],
        purpose: Purpose,
        sender: LocalAccount,
        on_progress: Callable[[int], None] | None = None,
        after_batch: Callable[[], None] | None = None,
    ) -> list[int]:
        """Register many customers from one signer without waiting for each receipt.

        Each entry is (content hash, CID digest, readers hash, proposed wallet or None).
        """
        calls = [
            (self._register_fn(content, cid, readers, wallet, purpose), 0) for content, cid, readers, wallet in profiles
        ]
        if not calls:
            return []
        gas = self.chain.gas_limit(calls[0][0], sender)
        mined = self.chain.send_many(calls, sender, gas=gas, on_progress=on_progress, after_batch=after_batch)
        topic = event_topic(self.contract, "CustomerRegistered")
        # customerId is the first indexed argument of CustomerRegistered.
        return [
            int.from_bytes(log.topics[1], "big")
            for tx in mined
            for log in tx.logs
            if log.topics[0] == topic and log.address == self.address
        ]

    def _register_fn(
        self, content_hash: bytes, cid_digest: bytes, readers_hash: bytes, wallet: str | None, purpose: Purpose
    ) -> Any:
        return self.contract.functions.registerCustomer(
            content_hash,
            cid_digest,
            readers_hash,
            to_checksum_address(wallet) if wallet else ZERO_ADDRESS,
            int(purpose),
        )

    def update_profile(
        self, customer_id: int, content_hash: bytes, cid_digest: bytes, readers_hash: bytes, sender: Sender
    ) -> int:
        from web3.logs import DISCARD  # web3 sends the transaction: loading it here costs nothing more

        fn = self.contract.functions.updateProfile(customer_id, content_hash, cid_digest, readers_hash)
        receipt = self.chain.transact(fn, sender)
        (event,) = emitted_by(
            self.address, self.contract.events.ProfileUpdated().process_receipt(receipt, errors=DISCARD)
        )
        return int(event["args"]["version"])

    def erase_customer(self, customer_id: int, receipt_hash: bytes, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.eraseCustomer(customer_id, receipt_hash), sender)

    # ------------------------------------------------------------------ wallet

    def propose_wallet(self, customer_id: int, wallet: str | None, sender: Sender) -> TxReceipt:
        address = to_checksum_address(wallet) if wallet else ZERO_ADDRESS
        return self.chain.transact(self.contract.functions.proposeWallet(customer_id, address), sender)

    def approve_wallet(self, customer_id: int, wallet: str, sender: Sender) -> TxReceipt:
        """A manager approves an agent's wallet proposal, so that the wallet can accept."""
        return self.chain.transact(
            self.contract.functions.approveWallet(customer_id, to_checksum_address(wallet)), sender
        )

    def wallet_proposal(self, customer_id: int) -> tuple[str | None, bool, int]:
        """(proposed wallet or None, approved, acceptable from) for the customer's pending proposal."""
        wallet, approved, acceptable_at = self.chain.call(self.contract.functions.walletProposalOf(customer_id))
        return (None if int(wallet, 16) == 0 else to_checksum_address(wallet)), bool(approved), int(acceptable_at)

    def accept_wallet(self, customer_id: int, public_key64: bytes, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.acceptWallet(customer_id, public_key64), sender)

    def accept_wallet_by_sig(self, acceptance: WalletAcceptance, sender: Sender) -> TxReceipt:
        fn = self.contract.functions.acceptWalletBySig(
            acceptance.customer_id, acceptance.wallet, acceptance.public_key, acceptance.deadline, acceptance.signature
        )
        return self.chain.transact(fn, sender)

    def wallet_public_key(self, customer_id: int, wallet: str, from_block: int = 0) -> bytes | None:
        """The key data is wrapped to for the customer's wallet: the one its acceptance carried,
        or the one it published in the directory."""
        wallet = to_checksum_address(wallet)
        logs = self.chain.logs.events(
            self.contract.events.WalletAccepted,
            from_block=from_block,
            argument_filters={"customerId": customer_id, "newWallet": wallet},
        )
        for log in reversed(logs):
            key = bytes(log["args"]["publicKey"])
            if key:
                return key
        return self.encryption_key_of(wallet)

    # ------------------------------------------------------------------ reads

    def customer_count(self) -> int:
        return int(self.chain.call(self.contract.functions.customerCount()))

    def customer(self, customer_id: int) -> Customer:
        return Customer.from_chain(customer_id, self.chain.call(self.contract.functions.customerOf(customer_id)))

    def status_of(self, customer_id: int) -> CustomerStatus:
        return CustomerStatus(self.chain.call(self.contract.functions.statusOf(customer_id)))

    def profile(self, customer_id: int, version: int) -> ProfileVersion:
        content_hash, cid_digest, readers_hash = self.chain.call(
            self.contract.functions.profileOf(customer_id, version)
        )
        return ProfileVersion(version, bytes(content_hash), bytes(cid_digest), bytes(readers_hash))

    def nonce_of(self, customer_id: int) -> int:
        return int(self.chain.call(self.contract.functions.nonces(customer_id)))
