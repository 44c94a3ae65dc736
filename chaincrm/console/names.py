"""Customers' names as the staff member may read them: decrypted with the staff key, kept in memory.

A customer's profile is decrypted only when the staff member is among its readers: a manager
reads every customer; an agent the customers on which their latest access event (in the index) is
a grant. Each name is kept for the process's life, per profile version (a new version, e.g. after
a re-seal, is decrypted again); a version sealed without this staff member is remembered as
unreadable. Names are never logged, written to disk or sent anywhere but the staff member's own
pages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from eth_account.signers.local import LocalAccount

from chaincrm.contracts.client import Crm
from chaincrm.errors import ChainCrmError, PrivacyError
from chaincrm.privacy import CustomerProfile
from chaincrm.privacy.customers import CustomerData
from chaincrm.storage import KuboStore

log = logging.getLogger("chaincrm.console.names")

Wanted = tuple[int, int]  # (customer id, profile version)


class NameBook:
    """Decrypted names by customer id, for one staff member."""

    def __init__(self, crm: Crm, ipfs_api: str, staff: LocalAccount) -> None:
        self.crm = crm
        self.ipfs_api = ipfs_api
        self.staff = staff
        self._names: dict[int, tuple[int, str | None]] = {}  # id -> (version, name; None: not a reader)
        self._lock = threading.Lock()

    def cached(self, wanted: Iterable[Wanted]) -> dict[int, str]:
        """The names already decrypted for these (id, version) pairs."""
        found = {}
        for customer_id, version in wanted:
            known = self._names.get(customer_id)
            if known is not None and known[0] == version and known[1] is not None:
                found[customer_id] = known[1]
        return found

    def names(self, wanted: Iterable[Wanted]) -> dict[int, str]:
        """Names for these (id, version) pairs, decrypting those not known yet (blocking: IPFS and
        the node). A customer whose profile cannot be read now is left out."""
        wanted = list(wanted)
        with self._lock:
            missing = [
                (customer_id, version)
                for customer_id, version in wanted
                if self._names.get(customer_id, (None, None))[0] != version
            ]
            if missing:
                self._decrypt(missing)
        return self.cached(wanted)

    def profile(self, customer_id: int) -> CustomerProfile | None:
        """The customer's current profile, or None when this staff member cannot read it."""
        try:
            with KuboStore(self.ipfs_api) as store:
                return CustomerData(self.crm, store).read(customer_id, self.staff)
        except PrivacyError:
            return None

    def _decrypt(self, missing: list[Wanted]) -> None:
        try:
            with KuboStore(self.ipfs_api) as store:
                data = CustomerData(self.crm, store)
                for customer_id, version in missing:
                    try:
                        name: str | None = data.read(customer_id, self.staff, version).name
                    except PrivacyError:
                        name = None  # sealed without this staff member: remembered for this version
                    except ChainCrmError as exc:  # IPFS or the node: try again next time
                        log.warning("cannot decrypt a customer's profile now: %s", type(exc).__name__)
                        continue
                    self._names[customer_id] = (version, name)
        except ChainCrmError as exc:
            log.warning("cannot reach the IPFS API to decrypt profiles: %s", type(exc).__name__)


__all__ = ["NameBook"]
