"""Turning raw ``eth_getLogs`` entries into index rows.

Each log is decoded against its event's ABI with eth_abi straight from the node's JSON
(:func:`decode_event`); a handler per event then turns the arguments into rows of the event tables
(``chaincrm.index.schema``). Batched interaction records (``InteractionsLogged``) are unpacked with
one ``struct`` call: they are a packed byte string, not ABI values.

Why not web3's decoder (``ContractEvent.process_log``), which the package's one-off reads use:
``chaincrm bench index`` (100,000 interactions in 100 batches plus 1,000 customers: 3,105 logs,
103,005 rows, SQLite, 2 cores) caught up in 6.5-6.8 s with web3's decoder, 2.7 s of it decoding,
and in 3.1-3.8 s with this one, 0.3-0.5 s decoding. Per log, web3 decodes ~1,300 a second (its
``map_abi_data`` normalisers dominate), this decoder 11,000-19,000: a deployment that logs
interactions one at a time would index fewer than the 5,000 records a second targeted.

Only the deployment's contracts are trusted: each event is accepted only from the address of the
contract that declares it (a registry event from the registry, an escrow event from the escrow); a
log with the same topic from anywhere else is counted (:attr:`Batch.foreign`) and ignored. Codes
are stored as emitted, whatever their value: the chain is the record, and a view decodes what it
does not know as ``unknown(N)``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic, to_checksum_address
from sqlalchemy import Table

from chaincrm.chain.artifacts import CONTRACT_NAMES, load_artifact
from chaincrm.contracts.branches import BRANCH_CONTRACT
from chaincrm.errors import ChainError
from chaincrm.index import schema as db
from chaincrm.index.branches import BRANCH_HANDLERS
from chaincrm.index.entities import Entity, touched_ids
from chaincrm.models import ZERO_ADDRESS, Deployment

PUBLIC_KEY_BYTES = 64  # a secp256k1 public key without its 0x04 prefix
RECORD = struct.Struct(">QBB32s")  # one packed interaction: customer id, kind, outcome, content hash


@dataclass(frozen=True)
class EventSpec:
    """One CRM event, as its ABI declares it."""

    contract: str  # the artifact that declares the event: only its deployed address may emit it
    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type) of the topics after the first
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]


@cache
def event_specs() -> dict[bytes, EventSpec]:
    """Topic -> the CRM event it identifies, for every non-anonymous event of the CRM's ABIs."""
    specs: dict[bytes, EventSpec] = {}
    for contract in dict.fromkeys((*CONTRACT_NAMES, BRANCH_CONTRACT)):
        for item in load_artifact(contract).abi:
            if item.get("type") != "event" or item.get("anonymous"):
                continue
            inputs = item["inputs"]
            specs[bytes(event_abi_to_log_topic(item))] = EventSpec(  # type: ignore[arg-type]
                contract=contract,
                name=item["name"],
                indexed=tuple((arg["name"], arg["type"]) for arg in inputs if arg["indexed"]),
                data_names=tuple(arg["name"] for arg in inputs if not arg["indexed"]),
                data_types=tuple(arg["type"] for arg in inputs if not arg["indexed"]),
            )
    return specs


def decode_event(spec: EventSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of a raw log of `spec`'s event, by name: addresses checksummed, ``bytesN``
    as 0x-prefixed lower-case hex, integers and dynamic ``bytes`` as they are."""
    topics = raw["topics"][1:]
    args = {name: _topic_value(kind, topic) for (name, kind), topic in zip(spec.indexed, topics, strict=True)}
    if spec.data_types:
        values = abi_decode(spec.data_types, bytes.fromhex(raw["data"][2:]))
        for name, kind, value in zip(spec.data_names, spec.data_types, values, strict=True):
            args[name] = _data_value(kind, value)
    return args


def _topic_value(kind: str, topic: str) -> Any:
    if kind == "address":
        return _checksum("0x" + topic[-40:])
    if kind.startswith(("uint", "int")) or kind == "bool":
        return int(topic, 16)
    return topic.lower()  # bytes32


def _data_value(kind: str, value: Any) -> Any:
    if kind == "address":
        return _checksum(value)
    if kind.startswith("bytes") and kind != "bytes":
        return "0x" + bytes(value).hex()
    return value


def emitters(deployment: Deployment) -> dict[str, str]:
    """Contract artifact name -> the lower-case address allowed to emit its events (the branch
    directory's only when the record names one)."""
    allowed = {
        "CrmRegistry": deployment.registry.lower(),
        "DealPipeline": deployment.pipeline.lower(),
        "InvoiceEscrow": deployment.escrow.lower(),
    }
    if deployment.branches:
        allowed[BRANCH_CONTRACT] = deployment.branches.lower()
    return allowed


@lru_cache(maxsize=8192)
def _checksum(address: str) -> ChecksumAddress:
    return to_checksum_address(address)


def _wallet(address: str | None) -> str | None:
    return None if address is None or address == ZERO_ADDRESS else address


@dataclass(frozen=True)
class _Log:
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    at: int  # the block's timestamp


@dataclass
class Batch:
    """Rows decoded from one range of logs, by table."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    foreign: int = 0  # logs with one of our topics from an address that may not emit it: ignored

    def add(self, table: Table, log: _Log, **values: Any) -> None:
        row = dict(_template(table.name))
        row.update(values)
        row["block_number"] = log.block_number
        row["tx_hash"] = log.tx_hash
        row["log_index"] = log.log_index
        self.rows.setdefault(table.name, []).append(row)

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    @property
    def touched(self) -> dict[Entity, set[int]]:
        """The customers, deals and invoices whose state rows these event rows change."""
        return touched_ids(self.rows)


@cache
def _template(table_name: str) -> dict[str, Any]:
    table = db.metadata.tables[table_name]
    return {column.name: None for column in table.columns if column.name != "id"}


_Handler = Callable[[Batch, _Log, dict[str, Any]], None]


def _customer_registered(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.customer_events, log, customer_id=a["customerId"], kind="registered", actor=a["registrar"], at=a["at"])


def _profile_updated(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.profile_versions, log, customer_id=a["customerId"], version=a["version"], actor=a["actor"],
          content_hash=a["contentHash"], cid_digest=a["cidDigest"], readers_hash=a["readersHash"],
          at=log.at)  # fmt: skip


def _wallet_proposed(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.customer_events, log, customer_id=a["customerId"], kind="wallet_proposed", wallet=_wallet(a["wallet"]),
          actor=a["proposer"], at=log.at)  # fmt: skip


def _wallet_accepted(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    key = bytes(a["publicKey"])
    b.add(db.customer_events, log, customer_id=a["customerId"], kind="wallet_accepted",
          wallet=_wallet(a["newWallet"]), previous_wallet=_wallet(a["previousWallet"]), actor=a["newWallet"],
          relayer=a["relayer"], public_key="0x" + key.hex() if len(key) == PUBLIC_KEY_BYTES else None,
          at=log.at)  # fmt: skip


def _customer_erased(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.customer_events, log, customer_id=a["customerId"], kind="erased", actor=a["actor"],
          receipt_hash=a["receiptHash"], at=a["at"])  # fmt: skip


def _access(granted: bool) -> _Handler:
    def handle(b: Batch, log: _Log, a: dict[str, Any]) -> None:
        b.add(db.access_events, log, customer_id=a["customerId"], staff=a["staff"], granted=granted,
              purpose=a["purpose"], actor=a["actor"], at=log.at)  # fmt: skip

    return handle


def _consent_changed(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.consent_events, log, customer_id=a["customerId"], purpose=a["purpose"], granted=bool(a["granted"]),
          relayer=a["relayer"], at=log.at)  # fmt: skip


def _interaction_logged(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.interactions, log, customer_id=a["customerId"], author=a["author"], kind=a["kind"],
          outcome=a["outcome"], content_hash=a["contentHash"], at=a["at"], position=0)  # fmt: skip


def _interactions_logged(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    records: bytes = a["records"]
    if len(records) % RECORD.size:
        raise ChainError(f"InteractionsLogged in tx {log.tx_hash} carries {len(records)} bytes of records")
    author, at = a["author"], a["at"]
    block_number, tx_hash, log_index = log.block_number, log.tx_hash, log.log_index
    b.rows.setdefault(db.interactions.name, []).extend(
        {
            "customer_id": customer_id,
            "author": author,
            "kind": kind,
            "outcome": outcome,
            "content_hash": "0x" + content_hash.hex(),
            "at": at,
            "block_number": block_number,
            "tx_hash": tx_hash,
            "log_index": log_index,
            "position": position,
            "batch_root": None,  # logged on-chain, not anchored in a batch
            "record_id": None,
        }
        for position, (customer_id, kind, outcome, content_hash) in enumerate(RECORD.iter_unpack(records))
    )


def _batch_anchored(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    """An anchored batch: its document is fetched and checked after the range is written
    (``chaincrm.index.batches``); until then it is pending."""
    b.add(db.interaction_batches, log, root=a["root"], author=a["author"], cid_digest=a["cidDigest"],
          record_count=a["count"], at=a["at"], status="pending", records=0, duplicates=0, refused=0)  # fmt: skip


def _staff(kind: str) -> _Handler:
    def handle(b: Batch, log: _Log, a: dict[str, Any]) -> None:
        values: dict[str, Any] = {"contract": log.address, "kind": kind, "at": log.at}
        if kind == "key_registered":
            values |= {"account": a["account"], "public_key": "0x" + a["x"][2:] + a["y"][2:], "actor": a["account"]}
        elif kind in ("role_granted", "role_revoked"):
            values |= {"account": a["account"], "role": a["role"], "actor": a["sender"]}
        elif kind == "admin_transfer_scheduled":
            values |= {"account": a["newAdmin"], "effective_at": a["acceptSchedule"]}
        elif kind == "treasury_change_proposed":
            values |= {"account": a["proposed"], "effective_at": a["effectiveAt"], "actor": a["actor"]}
        elif kind == "treasury_change_cancelled":
            values |= {"account": a["proposed"], "actor": a["actor"]}
        elif kind == "treasury_changed":
            values |= {"account": a["newTreasury"], "previous": _wallet(a["previousTreasury"]), "epoch": a["epoch"]}
        elif kind == "ether_swept":
            values |= {"account": a["treasury"], "amount_wei": a["amount"], "actor": a["actor"]}
        elif kind == "approval_threshold_changed":
            values |= {"amount_wei": a["newWei"], "previous_amount_wei": a["previousWei"], "actor": a["actor"]}
        elif kind == "branch_directory_set":
            values |= {"account": a["directory"]}
        b.add(db.staff_events, log, **values)

    return handle


def _deal_opened(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="opened", customer_id=a["customerId"], owner=a["owner"],
          value_wei=a["valueWei"], actor=a["actor"], at=log.at)  # fmt: skip


def _deal_currency(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="currency", currency=_wallet(a["currency"]), at=log.at)


def _offer_accepted(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.offer_events, log, kind="accepted", digest=a["digest"], customer_id=a["customerId"], deal_id=a["dealId"],
          issuer=a["issuer"], nonce=a["nonce"], discount_bps=a["discountBps"], uses=a["uses"], at=log.at)  # fmt: skip


def _offer_cancelled(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.offer_events, log, kind="cancelled", issuer=a["issuer"], nonce=a["nonce"], at=log.at)


def _deal_stage_changed(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.stage_changes, log, deal_id=a["dealId"], from_stage=a["from"], to_stage=a["to"], actor=a["actor"],
          at=a["at"])  # fmt: skip


def _deal_lost(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="lost", reason=a["reason"], actor=a["actor"], at=log.at)


def _deal_reassigned(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="reassigned", owner=a["newOwner"],
          previous_owner=a["previousOwner"], actor=a["actor"], at=log.at)  # fmt: skip


def _deal_document(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.documents, log, deal_id=a["dealId"], kind=a["documentKind"], actor=a["actor"],
          content_hash=a["contentHash"], cid_digest=a["cidDigest"], at=log.at)  # fmt: skip


def _deal_invoiced(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    """Each invoice of a deal (the first at Won, one more per re-issue)."""
    b.add(db.deal_events, log, deal_id=a["dealId"], kind="invoiced", invoice_id=a["invoiceId"], at=log.at)


def _invoice(kind: str) -> _Handler:
    def handle(b: Batch, log: _Log, a: dict[str, Any]) -> None:
        values: dict[str, Any] = {"invoice_id": a["invoiceId"], "kind": kind, "at": a.get("at", log.at)}
        if kind == "issued":
            values |= {"deal_id": a["dealId"], "customer_id": a["customerId"], "amount_wei": a["amount"],
                       "due_at": a["dueAt"], "payment_reference": a["paymentReference"],
                       "currency": _wallet(a["currency"])}  # fmt: skip
        if "payer" in a:
            values["payer"] = a["payer"]
        if "amount" in a:
            values["amount_wei"] = a["amount"]
        if "treasury" in a:
            values["treasury"] = a["treasury"]
        if "resolveBy" in a:
            values["resolve_by"] = a["resolveBy"]
        values["actor"] = a.get("actor") or (a["payer"] if kind in ("paid", "disputed") else None)
        b.add(db.invoice_events, log, **values)

    return handle


def _paid_off_chain(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.invoice_events, log, invoice_id=a["invoiceId"], kind="paid_off_chain", actor=a["actor"],
          method=a["method"], receipt_hash=a["receiptHash"], cid_digest=a["cidDigest"], at=a["at"])  # fmt: skip


def _points(kind: str) -> _Handler:
    def handle(b: Batch, log: _Log, a: dict[str, Any]) -> None:
        b.add(db.loyalty_events, log, invoice_id=a["invoiceId"], kind=kind, payer=a["payer"], points=a["points"],
              discount=a.get("discount"), at=log.at)  # fmt: skip

    return handle


def _refund_withdrawn(b: Batch, log: _Log, a: dict[str, Any]) -> None:
    b.add(db.refund_withdrawals, log, payer=a["payer"], amount_wei=a["amount"], token=_wallet(a.get("token")),
          at=log.at)  # fmt: skip


def _token(kind: str) -> _Handler:
    def handle(b: Batch, log: _Log, a: dict[str, Any]) -> None:
        values: dict[str, Any] = {"kind": kind, "actor": a["actor"], "at": log.at}
        if kind == "token_allowed":
            values |= {"token": a["token"], "allowed": bool(a["allowed"])}
        elif kind == "tokens_swept":
            values |= {"token": a["token"], "account": a["treasury"], "amount": a["amount"]}
        elif kind == "loyalty_program_set":
            values |= {"token": a["points"]}
        elif kind == "loyalty_rates_changed":
            values |= {"token": _wallet(a["currency"]), "earn_wad": a["earnWad"], "redeem_wad": a["redeemWad"]}
        b.add(db.token_events, log, **values)

    return handle


_HANDLERS: dict[str, _Handler] = {
    "CustomerRegistered": _customer_registered,
    "ProfileUpdated": _profile_updated,
    "WalletProposed": _wallet_proposed,
    "WalletAccepted": _wallet_accepted,
    "CustomerErased": _customer_erased,
    "AccessGranted": _access(True),
    "AccessRevoked": _access(False),
    "ConsentChanged": _consent_changed,
    "InteractionLogged": _interaction_logged,
    "InteractionsLogged": _interactions_logged,
    "InteractionBatchAnchored": _batch_anchored,
    "EncryptionKeyRegistered": _staff("key_registered"),
    "RoleGranted": _staff("role_granted"),
    "RoleRevoked": _staff("role_revoked"),
    "DefaultAdminTransferScheduled": _staff("admin_transfer_scheduled"),
    "DefaultAdminTransferCanceled": _staff("admin_transfer_cancelled"),
    "BranchDirectorySet": _staff("branch_directory_set"),
    "DealOpened": _deal_opened,
    "DealStageChanged": _deal_stage_changed,
    "DealLost": _deal_lost,
    "DealReassigned": _deal_reassigned,
    "DealDocumentAttached": _deal_document,
    "DealInvoiced": _deal_invoiced,
    "DealCurrency": _deal_currency,
    "OfferAccepted": _offer_accepted,
    "OfferCancelled": _offer_cancelled,
    "ApprovalThresholdChanged": _staff("approval_threshold_changed"),
    "InvoiceIssued": _invoice("issued"),
    "InvoicePaid": _invoice("paid"),
    "InvoiceDisputed": _invoice("disputed"),
    "InvoiceReleased": _invoice("released"),
    "InvoiceRefunded": _invoice("refunded"),
    "InvoiceCancelled": _invoice("cancelled"),
    "InvoicePaidOffChain": _paid_off_chain,
    "PointsRedeemed": _points("redeemed"),
    "PointsAwarded": _points("awarded"),
    "PointsRestored": _points("restored"),
    "RefundWithdrawn": _refund_withdrawn,
    "TokenRefundWithdrawn": _refund_withdrawn,
    "TokenAllowed": _token("token_allowed"),
    "ForcedTokensSwept": _token("tokens_swept"),
    "LoyaltyProgramSet": _token("loyalty_program_set"),
    "LoyaltyRatesChanged": _token("loyalty_rates_changed"),
    "TreasuryChangeProposed": _staff("treasury_change_proposed"),
    "TreasuryChangeCancelled": _staff("treasury_change_cancelled"),
    "TreasuryChanged": _staff("treasury_changed"),
    "ForcedEtherSwept": _staff("ether_swept"),
}
_HANDLERS.update(BRANCH_HANDLERS)
# Not indexed: RoleAdminChanged (roles' admins are fixed at deployment), EIP712DomainChanged and
# the admin-delay changes of AccessControlDefaultAdminRules (the delay is read from the contract).


def decode_logs(
    raw_logs: Iterable[dict[str, Any]], timestamps: Mapping[int, int], contracts: Mapping[str, str]
) -> Batch:
    """Rows for raw `eth_getLogs` entries; `timestamps` fills in blocks whose logs lack
    `blockTimestamp`.

    `contracts` maps each contract artifact name to the address allowed to emit its events
    (:func:`emitters`); a log with one of their topics from any other address is counted in
    :attr:`Batch.foreign` and otherwise ignored.
    """
    specs = event_specs()
    allowed = {name: address.lower() for name, address in contracts.items()}
    batch = Batch()
    for raw in raw_logs:
        topics = raw["topics"]
        if raw.get("removed") or not topics:
            continue
        spec = specs.get(bytes.fromhex(topics[0][2:]))
        if spec is None or spec.name not in _HANDLERS:
            continue
        if str(raw["address"]).lower() != allowed.get(spec.contract):
            batch.foreign += 1
            continue
        block_number = int(raw["blockNumber"], 16)
        stamp = raw.get("blockTimestamp")
        log = _Log(
            address=_checksum(raw["address"]),
            block_number=block_number,
            block_hash=raw["blockHash"],
            tx_hash=raw["transactionHash"],
            log_index=int(raw["logIndex"], 16),
            at=int(stamp, 16) if stamp else timestamps[block_number],
        )
        _HANDLERS[spec.name](batch, log, decode_event(spec, raw))
    return batch


__all__ = ["Batch", "EventSpec", "decode_event", "decode_logs", "emitters", "event_specs"]
