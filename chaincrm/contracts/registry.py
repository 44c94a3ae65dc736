"""The CrmRegistry contract: staff roles and keys, customers, access, consent, interactions.

:class:`Registry` is the one object callers use; each concern lives in its own part:

* :mod:`~chaincrm.contracts.registry_staff`: roles and the encryption-key directory;
* :mod:`~chaincrm.contracts.registry_customers`: registration, profile versions, wallets, erasure;
* :mod:`~chaincrm.contracts.registry_access`: staff grants, readers and consent;
* :mod:`~chaincrm.contracts.interactions`: the interaction log and its packed records;
* :mod:`~chaincrm.contracts.anchors`: interaction batches anchored by their Merkle root.
"""

from __future__ import annotations

from chaincrm.contracts.anchors import Anchor, AnchorMixin
from chaincrm.contracts.interactions import (
    MAX_BATCH_RECORDS,
    RECORD_BYTES,
    InteractionEntry,
    InteractionMixin,
    interactions_of_log,
    pack_records,
    unpack_records,
)
from chaincrm.contracts.registry_access import AccessMixin
from chaincrm.contracts.registry_customers import CustomerMixin, SealedVersion
from chaincrm.contracts.registry_staff import StaffMixin


class Registry(StaffMixin, CustomerMixin, AccessMixin, InteractionMixin, AnchorMixin):
    """Typed access to one deployed CrmRegistry: ``Registry(chain, address)``."""


__all__ = [
    "MAX_BATCH_RECORDS",
    "Anchor",
    "RECORD_BYTES",
    "InteractionEntry",
    "Registry",
    "SealedVersion",
    "interactions_of_log",
    "pack_records",
    "unpack_records",
]
