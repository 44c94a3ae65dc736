"""The off-chain index's relational schema (SQLAlchemy Core), for SQLite and PostgreSQL.

The chain is the record of truth; these tables are a copy that the indexer (``chaincrm.index.indexer``)
keeps in step with the contracts' events, for queries the chain cannot answer cheaply (a
customer's timeline, deals by stage, overdue invoices).

Three kinds of table:

- bookkeeping: ``sync_state`` (one row: chain id, contract addresses, the last final block) and
  ``blocks`` (number, hash, timestamp of the blocks not yet final, plus the last final one, to
  detect reorgs);
- event tables, one row per event (per record for batched interactions), each with the
  ``(block_number, tx_hash, log_index)`` of its log and a unique constraint on
  ``(block_number, log_index[, position])`` (a log index is unique within its block), so reading
  a range again never duplicates a row: ``customer_events``, ``profile_versions``,
  ``access_events``, ``consent_events``, ``interactions``, ``deal_events``, ``stage_changes``,
  ``documents``, ``offer_events``, ``invoice_events``, ``loyalty_events``, ``refund_withdrawals``,
  ``token_events``, ``staff_events``, ``branch_events``, ``interaction_batches`` and
  ``refused_batch_records`` (an anchored batch's records are rows of ``interactions``);
- state tables derived from the event tables (the current state of each entity): ``customers``,
  ``deals``, ``invoices``; ``branches``, ``branch_staff`` (each stay of an account in a branch:
  joined and left at block and time) and ``branch_customers`` (each customer's branch). The
  indexer rebuilds an entity's rows from its events whenever one of them arrives or is rolled back.

Every row comes from a log emitted by the contract that declares its event (the registry, the
pipeline or the escrow of the deployment followed): a log with the same topic from any other
address is never indexed.

Conventions:

- addresses are checksummed strings (42 chars); hashes and digests are ``0x``-prefixed lower-case
  hex strings (66 chars); times are unix seconds (``at``, from the event or its block).
- enum columns hold the integer codes the chain emitted, as emitted (``chaincrm.models``'
  ``Stage``, ``InvoiceStatus``, ``CustomerStatus``, ``Purpose``, ``InteractionKind``, ``Outcome``,
  ``DocumentKind``, ``LossReason``). A code this version does not know is stored as it came and
  reads back as ``unknown(N)``; nothing is refused or mapped. ``kind`` columns of the generic event
  tables hold the short names listed in the ``*_KINDS`` constants below.
- currencies: an invoice or deal in ETH has a NULL ``currency``; one in an ERC-20 holds the token's
  address. Amounts (``*_wei`` columns included, named before ERC-20 invoices) are in the base units
  of their row's currency: wei for ETH, the token's smallest unit otherwise. Never add amounts of
  different currencies.
- wei amounts use :class:`Wei`: NUMERIC(78, 0) on PostgreSQL; on SQLite (whose NUMERIC would turn
  big values into floats) a zero-padded 78-digit string, so ``=``, ``<`` and ``ORDER BY`` are
  still exact. Python always sees ``int``. Sum wei in Python (or on PostgreSQL), not with SQLite's
  ``SUM``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

# 2: trust model v2 (accepted wallets, readers hashes, pull refunds, treasury epochs)
# 3: ERC-20 invoices and deals (currency), loyalty points, off-chain payments, signed offers
# 4: Merkle-anchored interaction batches (interaction_batches, refused_batch_records, the batch
#    source of interactions), on-chain branches
SCHEMA_VERSION = 4
WEI_DIGITS = 78  # 2**256 - 1 has 78 decimal digits
ADDRESS_LENGTH = 42
HASH_LENGTH = 66

PUBLIC_KEY_LENGTH = 2 + 128  # 0x + x ‖ y

CUSTOMER_EVENT_KINDS = ("registered", "wallet_proposed", "wallet_accepted", "erased")
DEAL_EVENT_KINDS = ("opened", "currency", "reassigned", "lost", "invoiced")
INVOICE_EVENT_KINDS = ("issued", "paid", "paid_off_chain", "disputed", "released", "refunded", "cancelled")
LOYALTY_EVENT_KINDS = ("redeemed", "awarded", "restored")  # PointsRedeemed, PointsAwarded, PointsRestored
OFFER_EVENT_KINDS = ("accepted", "cancelled")
TOKEN_EVENT_KINDS = ("token_allowed", "tokens_swept", "loyalty_program_set", "loyalty_rates_changed")
BRANCH_EVENT_KINDS = ("created", "manager_set", "staff_joined", "staff_left", "customer_assigned")
BATCH_STATUSES = ("pending", "ok", "refused-records", "mismatch", "unavailable")  # pending: not checked yet
BATCH_RECORD_REFUSALS = ("no_grant", "invalid", "duplicate")
BATCH_REASON_LENGTH = 240
STAFF_EVENT_KINDS = (
    "role_granted",
    "role_revoked",
    "key_registered",
    "admin_transfer_scheduled",
    "admin_transfer_cancelled",
    "treasury_change_proposed",
    "treasury_change_cancelled",
    "treasury_changed",
    "ether_swept",
    "approval_threshold_changed",
    "branch_directory_set",
)


class Wei(TypeDecorator[int]):
    """An unsigned 256-bit integer, exact on every backend (see the module docstring)."""

    impl = Numeric(WEI_DIGITS, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(WEI_DIGITS))
        return dialect.type_descriptor(Numeric(WEI_DIGITS, 0, asdecimal=True))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = int(value)
        if number < 0:
            raise ValueError(f"a wei amount cannot be negative: {number}")
        if dialect.name == "sqlite":
            return str(number).zfill(WEI_DIGITS)
        return Decimal(number)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int(value)


def _address(name: str, *, nullable: bool = True, index: bool = False) -> Column[str]:
    return Column(name, String(ADDRESS_LENGTH), nullable=nullable, index=index)


def _hash(name: str, *, nullable: bool = True) -> Column[str]:
    return Column(name, String(HASH_LENGTH), nullable=nullable)


def _log_columns() -> list[Column[Any]]:
    """Where an event row came from: its block, transaction and log."""
    return [
        Column("block_number", BigInteger, nullable=False),
        _hash("tx_hash", nullable=False),
        Column("log_index", Integer, nullable=False),
    ]


def _event_table(metadata: MetaData, name: str, *columns: Any, position: bool = False) -> Table:
    key = ["block_number", "log_index", "position"] if position else ["block_number", "log_index"]
    extra = [Column("position", Integer, nullable=False, default=0)] if position else []
    own_columns = [item for item in columns if isinstance(item, Column)]
    constraints = [item for item in columns if not isinstance(item, Column)]  # indexes name columns added here
    return Table(
        name,
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        *own_columns,
        *_log_columns(),
        *extra,
        UniqueConstraint(*key, name=f"uq_{name}_log"),
        *constraints,
    )


metadata = MetaData()

# ---------------------------------------------------------------------- bookkeeping

sync_state = Table(
    "sync_state",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one index per database
    Column("schema_version", Integer, nullable=False),
    Column("chain_id", BigInteger, nullable=False),
    _address("registry", nullable=False),
    _address("pipeline", nullable=False),
    _address("escrow", nullable=False),
    Column("start_block", BigInteger, nullable=False),  # the deployment block: nothing before it
    Column("last_final_block", BigInteger, nullable=False),  # start_block - 1 before the first pass
    Column("last_block", BigInteger, nullable=False),  # highest block read, final or provisional
    Column("confirmations", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

blocks = Table(
    "blocks",
    metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    _hash("hash", nullable=False),
    _hash("parent_hash"),
    Column("timestamp", BigInteger, nullable=False),
    Column("final", Boolean, nullable=False, default=False),
)

# ---------------------------------------------------------------------- customers (CrmRegistry)

customer_events = _event_table(
    metadata,
    "customer_events",
    Column("customer_id", BigInteger, nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # CUSTOMER_EVENT_KINDS
    _address("wallet"),  # wallet_proposed: the proposal (None withdraws it); wallet_accepted: the new wallet
    _address("previous_wallet"),  # wallet_accepted
    _address("actor"),  # registered: the registrar; wallet_proposed: the proposer; erased: who erased
    _address("relayer"),  # wallet_accepted: who sent the wallet's acceptance (the wallet itself, or a relayer)
    Column("public_key", String(PUBLIC_KEY_LENGTH)),  # wallet_accepted: the key it carried (None: the directory's)
    _hash("receipt_hash"),  # erased
    Column("at", BigInteger, nullable=False),
)

profile_versions = _event_table(
    metadata,
    "profile_versions",
    Column("customer_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    _address("actor"),
    _hash("content_hash", nullable=False),
    _hash("cid_digest", nullable=False),
    _hash("readers_hash", nullable=False),  # keccak256 of the sorted readers the version is sealed for
    Column("at", BigInteger, nullable=False),
    Index("ix_profile_versions_customer", "customer_id", "version"),
)

access_events = _event_table(
    metadata,
    "access_events",
    Column("customer_id", BigInteger, nullable=False),
    _address("staff", nullable=False),
    Column("granted", Boolean, nullable=False),  # True: AccessGranted, False: AccessRevoked
    Column("purpose", SmallInteger, nullable=False),  # models.Purpose (its lawful basis: Purpose.basis)
    _address("actor"),  # a manager, the customer's wallet (also for a revocation by consent withdrawal)
    Column("at", BigInteger, nullable=False),
    Index("ix_access_events_customer", "customer_id", "staff"),
    Index("ix_access_events_staff", "staff"),
)

consent_events = _event_table(
    metadata,
    "consent_events",
    Column("customer_id", BigInteger, nullable=False),
    Column("purpose", SmallInteger, nullable=False),  # models.Purpose, one of CONSENT_PURPOSES
    Column("granted", Boolean, nullable=False),
    _address("relayer"),  # who sent it: the wallet, or whoever relayed the wallet's signature
    Column("at", BigInteger, nullable=False),
    Index("ix_consent_events_customer", "customer_id", "purpose"),
)

interactions = _event_table(
    metadata,
    "interactions",
    Column("customer_id", BigInteger, nullable=False),
    _address("author", nullable=False),
    Column("kind", SmallInteger, nullable=False),  # models.InteractionKind
    Column("outcome", SmallInteger, nullable=False),  # models.Outcome
    _hash("content_hash", nullable=False),
    Column("at", BigInteger, nullable=False),  # an anchored batch's record: the anchor's block time
    # An anchored batch's record (chaincrm.index.batches): its batch's root and its recordId; the
    # log is the InteractionBatchAnchored one and `position` its place in the document's values.
    # None for a record logged on-chain.
    _hash("batch_root"),
    _hash("record_id"),
    Index("ix_interactions_customer_at", "customer_id", "at", "block_number", "log_index", "position"),
    Index("ix_interactions_author_at", "author", "at"),
    Index("ix_interactions_at", "at"),
    Index("ix_interactions_record", "record_id"),
    position=True,  # index of the record inside an InteractionsLogged batch or a batch document; 0 for a single one
)

# One row per InteractionBatchAnchored: the anchor and what checking its document on IPFS found.
interaction_batches = _event_table(
    metadata,
    "interaction_batches",
    _hash("root", nullable=False),
    _address("author", nullable=False),
    _hash("cid_digest", nullable=False),  # the document's CIDv0 digest
    Column("record_count", BigInteger, nullable=False),  # as anchored (a uint32)
    Column("at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # BATCH_STATUSES
    Column("reason", String(BATCH_REASON_LENGTH)),  # one line: why mismatch / unavailable / refused-records
    Column("records", Integer, nullable=False, default=0),  # counted as interactions from this batch
    Column("duplicates", Integer, nullable=False, default=0),  # counted already from an earlier anchor
    Column("refused", Integer, nullable=False, default=0),  # in refused_batch_records, not counted
    Index("ix_interaction_batches_root", "root"),
    Index("ix_interaction_batches_status", "status"),
)

# The records of valid batch documents that are not counted as interactions: without an active
# grant of their author on the customer at the anchor, invalid as logInteraction would refuse them,
# or a duplicate of a recordId counted from an earlier anchor (counted_in_*: that anchor's log).
refused_batch_records = _event_table(
    metadata,
    "refused_batch_records",
    _hash("batch_root", nullable=False),
    _hash("record_id", nullable=False),
    Column("customer_id", Wei(), nullable=False),  # a leaf's uint256, as it came
    _address("author", nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("outcome", SmallInteger, nullable=False),
    _hash("content_hash", nullable=False),
    Column("reason", String(16), nullable=False),  # BATCH_RECORD_REFUSALS
    Column("counted_in_block", BigInteger),  # duplicate
    Column("counted_in_log", Integer),  # duplicate
    Column("at", BigInteger, nullable=False),
    Index("ix_refused_batch_records_record", "record_id"),
    position=True,  # the record's place in the document's values
)

customers = Table(
    "customers",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    _address("wallet"),  # the accepted wallet; None before an acceptance and after erasure
    _address("pending_wallet"),  # proposed, not yet accepted
    _address("registrar"),
    Column("registered_at", BigInteger, nullable=False),
    Column("profile_version", Integer, nullable=False),
    Column("consent_bits", Integer, nullable=False),  # bit p set: consents to purpose p (as Customer.consent_bits)
    Column("status", SmallInteger, nullable=False),  # models.CustomerStatus
    Column("erased_at", BigInteger),
    _hash("receipt_hash"),
    Column("block_number", BigInteger, nullable=False),  # of the registration
    Index("ix_customers_wallet", "wallet"),
    Index("ix_customers_status", "status"),
)

# ---------------------------------------------------------------------- deals (DealPipeline)

deal_events = _event_table(
    metadata,
    "deal_events",
    Column("deal_id", BigInteger, nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # DEAL_EVENT_KINDS
    Column("customer_id", BigInteger),  # opened
    _address("owner"),  # opened: the owner; reassigned: the new owner
    _address("previous_owner"),  # reassigned
    Column("value_wei", Wei()),  # opened: in the deal's currency (a `currency` row follows for an ERC-20)
    _address("currency"),  # currency (DealCurrency): the ERC-20 the deal is valued in
    Column("reason", SmallInteger),  # lost: models.LossReason
    Column("invoice_id", BigInteger),  # invoiced
    _address("actor"),
    Column("at", BigInteger, nullable=False),
)

stage_changes = _event_table(
    metadata,
    "stage_changes",
    Column("deal_id", BigInteger, nullable=False),
    Column("from_stage", SmallInteger, nullable=False),  # models.Stage
    Column("to_stage", SmallInteger, nullable=False),
    _address("actor"),
    Column("at", BigInteger, nullable=False),
    Index("ix_stage_changes_deal", "deal_id", "at"),
    Index("ix_stage_changes_at", "at"),
)

documents = _event_table(
    metadata,
    "documents",
    Column("deal_id", BigInteger, nullable=False, index=True),
    Column("kind", SmallInteger, nullable=False),  # models.DocumentKind
    _address("actor"),
    _hash("content_hash", nullable=False),
    _hash("cid_digest", nullable=False),
    Column("at", BigInteger, nullable=False),
)

deals = Table(
    "deals",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_id", BigInteger, nullable=False),
    _address("owner", nullable=False),
    Column("value_wei", Wei(), nullable=False),  # in `currency`'s base units
    _address("currency"),  # None: ETH
    Column("discount_bps", Integer, nullable=False, default=0),  # an accepted offer's discount (0: none)
    Column("stage", SmallInteger, nullable=False),  # models.Stage
    Column("opened_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger),  # when it reached Won or Lost
    Column("lost_reason", SmallInteger),
    Column("invoice_id", BigInteger),  # the newest of its invoices (a re-issue cancels and replaces one)
    Column("invoices", Integer, nullable=False, default=0),  # how many were issued for it
    Column("block_number", BigInteger, nullable=False),  # of the opening
    Index("ix_deals_customer", "customer_id"),
    Index("ix_deals_owner_stage", "owner", "stage"),
    Index("ix_deals_stage", "stage"),
)

offer_events = _event_table(
    metadata,
    "offer_events",
    Column("kind", String(16), nullable=False),  # OFFER_EVENT_KINDS
    _hash("digest"),  # accepted: the EIP-712 digest the manager signed
    Column("customer_id", BigInteger),  # accepted
    Column("deal_id", BigInteger),  # accepted: the deal it opened or discounted
    _address("issuer", nullable=False),  # the manager who signed (cancelled: who withdrew it)
    Column("nonce", Wei(), nullable=False),
    Column("discount_bps", Integer),  # accepted
    Column("uses", BigInteger),  # accepted: the offer's uses so far, this one included
    Column("at", BigInteger, nullable=False),
    Index("ix_offer_events_customer", "customer_id"),
    Index("ix_offer_events_deal", "deal_id"),
)

# ---------------------------------------------------------------------- invoices (InvoiceEscrow)

invoice_events = _event_table(
    metadata,
    "invoice_events",
    Column("invoice_id", BigInteger, nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # INVOICE_EVENT_KINDS
    Column("deal_id", BigInteger),  # issued
    Column("customer_id", BigInteger),  # issued
    _address("payer"),  # issued, paid, disputed, refunded (credited to them: see refund_withdrawals)
    Column("amount_wei", Wei()),  # issued, paid, released, refunded: in the invoice's currency
    Column("due_at", BigInteger),  # issued
    _hash("payment_reference"),  # issued
    _address("currency"),  # issued: the ERC-20 it is payable in; None for ETH
    Column("method", SmallInteger),  # paid_off_chain: 1 bank transfer, 2 card, 3 other (as emitted)
    _hash("receipt_hash"),  # paid_off_chain: keccak256 of the receipt document
    _hash("cid_digest"),  # paid_off_chain: the receipt's CIDv0 digest on IPFS
    _address("treasury"),  # paid: the treasury fixed for it; released: where it went
    Column("resolve_by", BigInteger),  # disputed: a manager resolves before it, then the payer may reclaim
    _address("actor"),
    Column("at", BigInteger, nullable=False),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("deal_id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    _address("payer", nullable=False),
    Column("amount_wei", Wei(), nullable=False),  # as the escrow holds it: what was paid, after a points discount
    Column("amount_issued", Wei(), nullable=False),  # as issued
    _address("currency"),  # None: ETH
    Column("due_at", BigInteger, nullable=False),
    _hash("payment_reference"),
    Column("status", SmallInteger, nullable=False),  # models.InvoiceStatus
    _address("treasury"),  # fixed when paid
    Column("issued_at", BigInteger, nullable=False),
    Column("paid_at", BigInteger),  # on-chain or recorded off-chain
    Column("off_chain_method", SmallInteger),  # paid off-chain: the method code, as emitted
    _hash("receipt_hash"),  # paid off-chain
    _hash("receipt_cid_digest"),  # paid off-chain
    Column("points_redeemed", Wei(), nullable=False, default=0),
    Column("points_discount", Wei(), nullable=False, default=0),  # in the invoice's currency
    Column("points_awarded", Wei(), nullable=False, default=0),
    Column("points_restored", Wei(), nullable=False, default=0),
    Column("disputed_at", BigInteger),
    Column("resolve_by", BigInteger),
    Column("released_at", BigInteger),
    Column("refunded_at", BigInteger),
    Column("cancelled_at", BigInteger),
    Column("block_number", BigInteger, nullable=False),  # of the issue
    Index("ix_invoices_customer", "customer_id"),
    Index("ix_invoices_deal", "deal_id"),
    Index("ix_invoices_status_due", "status", "due_at"),
)

loyalty_events = _event_table(
    metadata,
    "loyalty_events",
    Column("invoice_id", BigInteger, nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # LOYALTY_EVENT_KINDS
    _address("payer", nullable=False, index=True),  # a customer's points history (portal, `me`)
    Column("points", Wei(), nullable=False),  # point base units burned (redeemed) or minted
    Column("discount", Wei()),  # redeemed: what the points took off, in the invoice's currency
    Column("at", BigInteger, nullable=False),
)

refund_withdrawals = _event_table(
    metadata,
    "refund_withdrawals",
    _address("payer", nullable=False),  # refunds are credited per invoice and withdrawn per payer
    Column("amount_wei", Wei(), nullable=False),  # in `token`'s base units
    _address("token"),  # None: RefundWithdrawn (ETH); else TokenRefundWithdrawn
    Column("at", BigInteger, nullable=False),
    Index("ix_refund_withdrawals_payer", "payer"),
)

token_events = _event_table(
    metadata,
    "token_events",
    Column("kind", String(32), nullable=False),  # TOKEN_EVENT_KINDS
    # token_allowed, tokens_swept: the token; loyalty_program_set: the points token;
    # loyalty_rates_changed: the currency (None: ETH)
    _address("token"),
    Column("allowed", Boolean),  # token_allowed
    _address("account"),  # tokens_swept: the treasury it went to
    Column("amount", Wei()),  # tokens_swept
    Column("earn_wad", Wei()),  # loyalty_rates_changed: point base units per currency base unit, x 1e18
    Column("redeem_wad", Wei()),  # loyalty_rates_changed: currency base units per point base unit, x 1e18
    _address("actor"),
    Column("at", BigInteger, nullable=False),
)

# ---------------------------------------------------------------------- staff and admin

staff_events = _event_table(
    metadata,
    "staff_events",
    _address("contract", nullable=False),
    Column("kind", String(32), nullable=False),  # STAFF_EVENT_KINDS
    # role_*: the account; key_registered: the key owner; admin_transfer_scheduled: the new admin;
    # treasury_*: the (proposed) new treasury; ether_swept: the treasury it went to;
    # branch_directory_set: the BranchDirectory the registry lets grant and revoke agents
    _address("account"),
    _hash("role"),  # role_*: the role id (0x00..00 is admin)
    _address("previous"),  # treasury_changed
    _address("actor"),
    Column("public_key", String(PUBLIC_KEY_LENGTH)),  # key_registered: 0x + x ‖ y
    Column("amount_wei", Wei()),  # ether_swept: the amount; approval_threshold_changed: the new threshold
    Column("previous_amount_wei", Wei()),  # approval_threshold_changed: the old threshold
    Column("epoch", SmallInteger),  # treasury_changed: the treasury epoch invoices paid from now keep
    Column("effective_at", BigInteger),  # treasury_change_proposed, admin_transfer_scheduled: from when
    Column("at", BigInteger, nullable=False),
    Index("ix_staff_events_account", "account"),
)

# ---------------------------------------------------------------------- branches (BranchDirectory)

branch_events = _event_table(
    metadata,
    "branch_events",
    Column("branch_id", BigInteger, nullable=False, index=True),
    Column("kind", String(24), nullable=False),  # BRANCH_EVENT_KINDS
    _hash("name"),  # created: the bytes32 name as emitted (an ASCII label, right-padded)
    _address("account"),  # manager_set: the manager (None: removed); staff_*: the staff member
    Column("customer_id", BigInteger),  # customer_assigned
    _address("actor", nullable=False),  # `by`: a registry manager or the branch's manager
    Column("at", BigInteger, nullable=False),  # the block's time
    Index("ix_branch_events_account", "account"),
    Index("ix_branch_events_customer", "customer_id"),
)

branches = Table(
    "branches",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    _hash("name", nullable=False),
    _address("manager"),  # None: no branch manager
    _address("creator", nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("block_number", BigInteger, nullable=False),  # of the creation
)

branch_staff = Table(  # one row per stay of an account in a branch
    "branch_staff",
    metadata,
    Column("branch_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account", String(ADDRESS_LENGTH), primary_key=True),
    Column("joined_block", BigInteger, primary_key=True, autoincrement=False),
    Column("joined_log_index", Integer, primary_key=True, autoincrement=False),
    Column("joined_at", BigInteger, nullable=False),
    _address("added_by"),
    Column("left_block", BigInteger),  # None while the account is still in the branch
    Column("left_at", BigInteger),
    _address("removed_by"),
    Index("ix_branch_staff_account", "account", "joined_at"),
)

branch_customers = Table(  # each customer's current branch
    "branch_customers",
    metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("branch_id", BigInteger, nullable=False, index=True),
    _address("assigned_by"),
    Column("assigned_at", BigInteger, nullable=False),
    Column("block_number", BigInteger, nullable=False),  # of the last assignment
)

EVENT_TABLES: tuple[Table, ...] = (
    customer_events,
    profile_versions,
    access_events,
    consent_events,
    interactions,
    interaction_batches,
    refused_batch_records,
    deal_events,
    stage_changes,
    documents,
    offer_events,
    invoice_events,
    loyalty_events,
    refund_withdrawals,
    token_events,
    staff_events,
    branch_events,
)
STATE_TABLES: tuple[Table, ...] = (customers, deals, invoices, branches, branch_staff, branch_customers)

__all__ = [
    "BATCH_RECORD_REFUSALS",
    "BATCH_REASON_LENGTH",
    "BATCH_STATUSES",
    "BRANCH_EVENT_KINDS",
    "CUSTOMER_EVENT_KINDS",
    "DEAL_EVENT_KINDS",
    "EVENT_TABLES",
    "INVOICE_EVENT_KINDS",
    "LOYALTY_EVENT_KINDS",
    "OFFER_EVENT_KINDS",
    "SCHEMA_VERSION",
    "STAFF_EVENT_KINDS",
    "STATE_TABLES",
    "TOKEN_EVENT_KINDS",
    "Wei",
    "access_events",
    "blocks",
    "branch_customers",
    "branch_events",
    "branch_staff",
    "branches",
    "consent_events",
    "customer_events",
    "customers",
    "deal_events",
    "deals",
    "documents",
    "interaction_batches",
    "interaction_timeline_order",
    "interactions",
    "invoice_events",
    "invoices",
    "loyalty_events",
    "metadata",
    "offer_events",
    "profile_versions",
    "refund_withdrawals",
    "refused_batch_records",
    "stage_changes",
    "staff_events",
    "sync_state",
    "token_events",
]


def interaction_timeline_order() -> tuple[Any, ...]:
    """The order of a timeline: newest first, ties in reverse chain order."""
    return (
        interactions.c.at.desc(),
        interactions.c.block_number.desc(),
        interactions.c.log_index.desc(),
        interactions.c.position.desc(),
    )
