"""Who may read a customer's record and why, who could before, every grant and revocation with its
purpose and lawful basis, and the customer's consents with every change and who sent it."""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.models import CONSENT_PURPOSES, AccessGrant, CustomerStatus, LawfulBasis, Purpose
from chaincrm.privacy.customers import CustomerData
from chaincrm.views.invoice_events import optional_address
from chaincrm.views.logs import DeploymentLogs
from chaincrm.views.own_profile import sealed_for


@dataclass(frozen=True)
class AccessEvent:
    """A grant (`granted`) or a revocation of a staff member's access, with its purpose."""

    customer_id: int
    staff: ChecksumAddress
    purpose: Purpose
    granted: bool
    actor: ChecksumAddress
    at: int
    block_number: int
    tx_hash: str
    by_consent_withdrawal: bool = False  # the customer withdrew the consent the grant rested on

    @property
    def basis(self) -> LawfulBasis:
        return self.purpose.basis


@dataclass(frozen=True)
class Reader:
    """Someone the chain lets read the record now, and why: the customer's `wallet`, a `manager`
    (a standing reader of every customer) or staff with a `grant` for `purpose`."""

    address: ChecksumAddress
    why: str
    purpose: Purpose | None = None


@dataclass(frozen=True)
class AccessHistory:
    """Who may read the record now, who could before, and every grant and revocation."""

    customer_id: int
    events: tuple[AccessEvent, ...]
    active: tuple[AccessGrant, ...]  # staff whose on-chain grant is active now
    former: tuple[ChecksumAddress, ...]  # staff who were granted access and no longer have it
    readers: tuple[ChecksumAddress, ...]  # the keys the current profile version is sealed to
    readers_now: tuple[Reader, ...] = ()  # the chain's readers (`readersOf`), with the reason for each


@dataclass(frozen=True)
class ConsentChange:
    customer_id: int
    purpose: Purpose
    granted: bool
    at: int
    block_number: int
    tx_hash: str
    relayer: ChecksumAddress | None = None  # who sent it: the wallet, or whoever relayed its signature


@dataclass(frozen=True)
class ConsentState:
    purpose: Purpose
    given: bool
    since: int | None  # when it was last given or withdrawn; None: never asked


@dataclass(frozen=True)
class Consents:
    customer_id: int
    given: tuple[Purpose, ...]  # what the customer consents to now
    changes: tuple[ConsentChange, ...]
    states: tuple[ConsentState, ...] = ()  # each purpose that needs consent, given or not


def access_history(data: CustomerData, logs: DeploymentLogs, customer_id: int, wallet: str) -> AccessHistory:
    """Every grant and revocation of the customer's record, in chain order, and who reads it now
    (`wallet` is the record's own)."""
    registry = data.crm.registry
    withdrawals = {
        (log["transactionHash"].to_0x_hex(), int(log["args"]["purpose"]))
        for log in logs.of(registry, "ConsentChanged", customerId=customer_id)
        if not log["args"]["granted"]
    }
    found: list[tuple[int, AccessEvent]] = []
    for event_name, granted in (("AccessGranted", True), ("AccessRevoked", False)):
        for log in logs.of(registry, event_name, customerId=customer_id):
            args = log["args"]
            tx_hash = log["transactionHash"].to_0x_hex()
            event = AccessEvent(
                customer_id=customer_id,
                staff=to_checksum_address(args["staff"]),
                purpose=Purpose(args["purpose"]),
                granted=granted,
                actor=to_checksum_address(args["actor"]),
                at=logs.timestamp(int(log["blockNumber"])),
                block_number=int(log["blockNumber"]),
                tx_hash=tx_hash,
                by_consent_withdrawal=not granted and (tx_hash, int(args["purpose"])) in withdrawals,
            )
            found.append((int(log["logIndex"]), event))
    ordered = sorted(found, key=lambda pair: (pair[1].block_number, pair[0]))
    history = tuple(event for _, event in ordered)
    staff = list(dict.fromkeys(event.staff for event in history))
    grants = [registry.access_of(customer_id, account) for account in staff]
    sealed_to: tuple[ChecksumAddress, ...] = ()
    readers_now: tuple[Reader, ...] = ()
    if registry.status_of(customer_id) is CustomerStatus.ACTIVE:
        sealed = sealed_for(data, customer_id)
        sealed_to = () if isinstance(sealed, str) else sealed[1]
        readers_now = _readers_now(data, customer_id, grants, to_checksum_address(wallet))
    return AccessHistory(
        customer_id=customer_id,
        events=history,
        active=tuple(grant for grant in grants if grant.active),
        former=tuple(grant.staff for grant in grants if not grant.active),
        readers=sealed_to,
        readers_now=readers_now,
    )


def consents_of(logs: DeploymentLogs, customer_id: int) -> Consents:
    """The customer's consent now, per purpose, and every change with who sent it."""
    registry = logs.crm.registry
    changes = tuple(
        ConsentChange(
            customer_id=customer_id,
            purpose=Purpose(log["args"]["purpose"]),
            granted=bool(log["args"]["granted"]),
            at=logs.timestamp(int(log["blockNumber"])),
            block_number=int(log["blockNumber"]),
            tx_hash=log["transactionHash"].to_0x_hex(),
            relayer=optional_address(log["args"]["relayer"]),
        )
        for log in logs.of(registry, "ConsentChanged", customerId=customer_id)
    )
    customer = registry.customer(customer_id)
    last = {int(change.purpose): change.at for change in changes}
    states = tuple(
        ConsentState(purpose, customer.consents_to(purpose), last.get(int(purpose))) for purpose in CONSENT_PURPOSES
    )
    return Consents(customer_id, customer.consents, changes, states)


def _readers_now(
    data: CustomerData, customer_id: int, grants: list[AccessGrant], wallet: ChecksumAddress
) -> tuple[Reader, ...]:
    registry = data.crm.registry
    managers = set(registry.managers())
    purposes = {grant.staff: grant.purpose for grant in grants if grant.active}
    readers = []
    for reader in registry.readers_of(customer_id):
        address = to_checksum_address(reader)
        if address == wallet:
            readers.append(Reader(address, "wallet"))
        elif address in managers:
            readers.append(Reader(address, "manager"))
        else:
            readers.append(Reader(address, "grant", purposes.get(address)))
    return tuple(readers)
