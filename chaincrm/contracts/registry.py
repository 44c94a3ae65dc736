"""The CrmRegistry contract: staff roles and keys, customers, access, consent, interactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from chaincrm.chain import Chain, MinedTx, Sender, emitted_by, event_topic
from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.signatures import ConsentChange, WalletAcceptance
from chaincrm.errors import ConfigError
from chaincrm.models import (
    ZERO_ADDRESS,
    AccessGrant,
    Customer,
    CustomerStatus,
    Interaction,
    InteractionKind,
    Outcome,
    ProfileVersion,
    Purpose,
    Role,
)

RECORD_BYTES = 42
MAX_BATCH_RECORDS = 1000
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class InteractionEntry:
    """One interaction to log: the content itself never leaves the caller, only its hash."""

    customer_id: int
    kind: InteractionKind
    outcome: Outcome
    content_hash: bytes

    def packed(self) -> bytes:
        if not 0 < self.customer_id <= _UINT64_MAX:
            raise ConfigError(f"customer id {self.customer_id} is out of range")
        if len(self.content_hash) != 32:
            raise ConfigError("an interaction's content hash must be 32 bytes")
        return self.customer_id.to_bytes(8, "big") + bytes([int(self.kind), int(self.outcome)]) + self.content_hash


def pack_records(entries: Iterable[InteractionEntry]) -> bytes:
    """The packed form `logInteractions` takes: 42 bytes per record."""
    return b"".join(entry.packed() for entry in entries)


def unpack_records(records: bytes) -> list[InteractionEntry]:
    if len(records) % RECORD_BYTES:
        raise ConfigError(f"packed interaction records are {len(records)} bytes, not a multiple of {RECORD_BYTES}")
    return [
        InteractionEntry(
            customer_id=int.from_bytes(records[i : i + 8], "big"),
            kind=InteractionKind(records[i + 8]),
            outcome=Outcome(records[i + 9]),
            content_hash=bytes(records[i + 10 : i + RECORD_BYTES]),
        )
        for i in range(0, len(records), RECORD_BYTES)
    ]


@dataclass(frozen=True)
class SealedVersion:
    """A profile version ready for the chain: its hashes and the readers hash it was sealed for."""

    content_hash: bytes
    cid_digest: bytes
    readers_hash: bytes

    @property
    def hashes(self) -> tuple[bytes, bytes, bytes]:
        return self.content_hash, self.cid_digest, self.readers_hash


class Registry:
    """Typed access to one deployed CrmRegistry."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract: Contract = chain.w3.eth.contract(address=self.address, abi=load_artifact("CrmRegistry").abi)

    # ------------------------------------------------------------------ staff

    def grant_role(self, role: Role, account: str, sender: Sender) -> TxReceipt:
        return self.chain.transact(
            self.contract.functions.grantRole(role.role_id, to_checksum_address(account)), sender
        )

    def revoke_role(self, role: Role, account: str, sender: Sender) -> TxReceipt:
        return self.chain.transact(
            self.contract.functions.revokeRole(role.role_id, to_checksum_address(account)), sender
        )

    def has_role(self, role: Role, account: str) -> bool:
        return bool(self.chain.call(self.contract.functions.hasRole(role.role_id, to_checksum_address(account))))

    def roles_of(self, account: str) -> list[Role]:
        """The roles `account` holds, asked for in one JSON-RPC batch."""
        roles = list(Role)
        fns = [self.contract.functions.hasRole(role.role_id, to_checksum_address(account)) for role in roles]
        return [role for role, held in zip(roles, self.chain.call_many(fns), strict=True) if held]

    def register_encryption_key(self, public_key64: bytes, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.registerEncryptionKey(public_key64), sender)

    def encryption_key_of(self, account: str) -> bytes | None:
        key = bytes(self.chain.call(self.contract.functions.encryptionKeyOf(to_checksum_address(account))))
        return key or None

    # ------------------------------------------------------------------ customers

    def register_customer(
        self,
        content_hash: bytes,
        cid_digest: bytes,
        readers_hash: bytes,
        proposed_wallet: str | None,
        purpose: Purpose,
        sender: Sender,
    ) -> int:
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
        fn = self.contract.functions.updateProfile(customer_id, content_hash, cid_digest, readers_hash)
        receipt = self.chain.transact(fn, sender)
        (event,) = emitted_by(
            self.address, self.contract.events.ProfileUpdated().process_receipt(receipt, errors=DISCARD)
        )
        return int(event["args"]["version"])

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

    def grant_access(
        self, customer_id: int, staff: str, purpose: Purpose, version: SealedVersion, sender: Sender
    ) -> TxReceipt:
        fn = self.contract.functions.grantAccess(customer_id, to_checksum_address(staff), int(purpose), *version.hashes)
        return self.chain.transact(fn, sender)

    def revoke_access(self, customer_id: int, staff: str, version: SealedVersion, sender: Sender) -> TxReceipt:
        fn = self.contract.functions.revokeAccess(customer_id, to_checksum_address(staff), *version.hashes)
        return self.chain.transact(fn, sender)

    def set_consent(self, customer_id: int, purpose: Purpose, granted: bool, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.setConsent(customer_id, int(purpose), granted), sender)

    def set_consent_by_sig(self, consent: ConsentChange, sender: Sender) -> TxReceipt:
        fn = self.contract.functions.setConsentBySig(
            consent.customer_id, int(consent.purpose), consent.granted, consent.deadline, consent.signature
        )
        return self.chain.transact(fn, sender)

    def erase_customer(self, customer_id: int, receipt_hash: bytes, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.eraseCustomer(customer_id, receipt_hash), sender)

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

    def access_of(self, customer_id: int, staff: str) -> AccessGrant:
        raw = self.chain.call(self.contract.functions.accessOf(customer_id, to_checksum_address(staff)))
        return AccessGrant.from_chain(customer_id, staff, raw)

    def has_active_grant(self, customer_id: int, account: str) -> bool:
        fn = self.contract.functions.hasActiveGrant(customer_id, to_checksum_address(account))
        return bool(self.chain.call(fn))

    def grantees_of(self, customer_id: int) -> list[str]:
        """Staff with an active grant on the customer now."""
        return [to_checksum_address(a) for a in self.chain.call(self.contract.functions.granteesOf(customer_id))]

    def readers_of(self, customer_id: int) -> tuple[str, ...]:
        """Who the next version must be sealed for, as the chain computes it (sorted)."""
        return tuple(to_checksum_address(a) for a in self.chain.call(self.contract.functions.readersOf(customer_id)))

    def readers_hash_of(self, customer_id: int) -> bytes:
        return bytes(self.chain.call(self.contract.functions.readersHashOf(customer_id)))

    def managers(self) -> tuple[str, ...]:
        return tuple(to_checksum_address(a) for a in self.chain.call(self.contract.functions.managers()))

    def nonce_of(self, customer_id: int) -> int:
        return int(self.chain.call(self.contract.functions.nonces(customer_id)))

    def has_consent(self, customer_id: int, purpose: Purpose) -> bool:
        return bool(self.chain.call(self.contract.functions.hasConsent(customer_id, int(purpose))))

    def grants_of(self, customer_id: int, from_block: int = 0) -> list[AccessGrant]:
        """Every staff member ever granted access to the customer, with the grant's current state."""
        granted = self.chain.logs.events(
            self.contract.events.AccessGranted, from_block=from_block, argument_filters={"customerId": customer_id}
        )
        staff = dict.fromkeys(log["args"]["staff"] for log in granted)
        return [self.access_of(customer_id, account) for account in staff]

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

    # ------------------------------------------------------------------ interactions

    def log_interaction(self, entry: InteractionEntry, sender: Sender) -> TxReceipt:
        fn = self.contract.functions.logInteraction(
            entry.customer_id, int(entry.kind), int(entry.outcome), entry.content_hash
        )
        return self.chain.transact(fn, sender)

    def log_interactions(self, entries: Sequence[InteractionEntry], sender: Sender) -> TxReceipt:
        """Log up to 1,000 interactions in one transaction."""
        if not entries:
            raise ConfigError("no interactions to log")
        if len(entries) > MAX_BATCH_RECORDS:
            raise ConfigError(f"{len(entries)} interactions in one batch; the limit is {MAX_BATCH_RECORDS}")
        return self.chain.transact(self.contract.functions.logInteractions(pack_records(entries)), sender)

    def log_interactions_pipelined(
        self,
        entries: Sequence[InteractionEntry],
        sender: LocalAccount,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[MinedTx]:
        """Log each interaction in its own transaction, sending them all before reading receipts."""
        calls = [
            (self.contract.functions.logInteraction(e.customer_id, int(e.kind), int(e.outcome), e.content_hash), 0)
            for e in entries
        ]
        if not calls:
            return []
        gas = self.chain.gas_limit(calls[0][0], sender)
        return self.chain.send_many(calls, sender, gas=gas, on_progress=on_progress)

    def interactions(
        self, customer_id: int | None = None, from_block: int = 0, to_block: int | str = "latest"
    ) -> list[Interaction]:
        """Interactions read from the chain's logs, single and batched, in chain order (in block
        ranges the node accepts; a log from another address is dropped)."""
        single_filters = {"customerId": customer_id} if customer_id is not None else {}
        events, logs = self.contract.events, self.chain.logs
        to_block = self.chain.block_number(to_block)  # both events up to the same block
        found_logs = [
            *logs.events(
                events.InteractionLogged, from_block=from_block, to_block=to_block, argument_filters=single_filters
            ),
            *logs.events(events.InteractionsLogged, from_block=from_block, to_block=to_block),
        ]
        found = [
            interaction
            for log in found_logs
            for interaction in interactions_of_log(log["event"], log["args"], log)
            if customer_id is None or interaction.customer_id == customer_id
        ]
        found.sort(key=lambda i: (i.block_number, i.log_index, i.position))
        return found


def interactions_of_log(event: str, args: Any, log: Any) -> list[Interaction]:
    """The interactions one decoded `InteractionLogged` or `InteractionsLogged` log records.

    `log` supplies blockNumber, transactionHash and logIndex; a batch yields one Interaction per
    packed record, with its position in the batch.
    """
    author = to_checksum_address(args["author"])
    at = int(args["at"])
    block_number = int(log["blockNumber"])
    tx_hash = HexBytes(log["transactionHash"]).to_0x_hex()
    log_index = int(log["logIndex"])
    if event == "InteractionLogged":
        return [
            Interaction(
                customer_id=int(args["customerId"]),
                kind=InteractionKind(args["kind"]),
                outcome=Outcome(args["outcome"]),
                content_hash=bytes(args["contentHash"]),
                at=at,
                author=author,
                block_number=block_number,
                tx_hash=tx_hash,
                log_index=log_index,
            )
        ]
    return [
        Interaction(
            customer_id=entry.customer_id,
            kind=entry.kind,
            outcome=entry.outcome,
            content_hash=entry.content_hash,
            position=position,
            at=at,
            author=author,
            block_number=block_number,
            tx_hash=tx_hash,
            log_index=log_index,
        )
        for position, entry in enumerate(unpack_records(bytes(args["records"])))
    ]
