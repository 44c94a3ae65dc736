"""A customer's profile as the record's own wallet sees it: decrypted once a reader re-sealed it
for the wallet, or why it cannot be read; an erased record shows its erasure receipt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.errors import PrivacyError, StorageError
from chaincrm.models import Customer, CustomerStatus
from chaincrm.privacy import CustomerProfile, EncryptedDocument
from chaincrm.privacy.customers import CustomerData
from chaincrm.views.logs import DeploymentLogs

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


@dataclass(frozen=True)
class OwnProfile:
    """A customer record as its owner sees it; `profile` is None when it cannot be read (`why`)."""

    customer: Customer
    profile: CustomerProfile | None
    readers: tuple[ChecksumAddress, ...]  # who can decrypt the current profile version
    erasure_receipt_hash: bytes | None
    erased_at: int | None
    sealed_for_owner: bool  # False: the current version is not sealed for the wallet (yet)
    why: str | None = None  # why `profile` is None while the record is active


def sealed_for(data: CustomerData, customer_id: int) -> tuple[int, tuple[ChecksumAddress, ...]] | str:
    """(current version, the readers it is sealed for), or why the document cannot be had."""
    try:
        version, document = data.document(customer_id)
    except (PrivacyError, StorageError) as problem:
        return str(problem)
    return version, tuple(to_checksum_address(r) for r in EncryptedDocument.from_bytes(document).readers)


def own_profile(data: CustomerData, logs: DeploymentLogs, customer_id: int, owner: LocalAccount) -> OwnProfile:
    """The profile of one of `owner`'s records, never refused: what cannot be read says why."""
    registry = data.crm.registry
    customer = registry.customer(customer_id)
    if customer.status is CustomerStatus.ERASED:
        erased = logs.of(registry, "CustomerErased", customerId=customer_id)
        receipt_hash = bytes(erased[-1]["args"]["receiptHash"]) if erased else None
        erased_at = int(erased[-1]["args"]["at"]) if erased else None
        return OwnProfile(customer, None, (), receipt_hash, erased_at, sealed_for_owner=True)
    sealed = sealed_for(data, customer_id)
    if isinstance(sealed, str):
        return OwnProfile(customer, None, (), None, None, sealed_for_owner=False, why=sealed)
    version, readers = sealed
    wallet = to_checksum_address(owner.address)
    if wallet not in readers:
        why = (
            f"customer {customer_id}'s profile is not sealed for {wallet} yet (readers: "
            f"{', '.join(readers)}): your wallet was accepted after version {version}; a reader re-seals "
            f"it for you (`chaincrm customer reseal {customer_id}`)"
        )
        return OwnProfile(customer, None, readers, None, None, sealed_for_owner=False, why=why)
    profile = data.read(customer_id, owner, version)
    return OwnProfile(customer, profile, readers, None, None, sealed_for_owner=True)
