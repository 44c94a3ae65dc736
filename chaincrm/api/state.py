"""What the REST API builds once: the key and idempotency stores on the integration database (with
the cache of verified keys), the unlocked signers with one lock each, and a document store per
signer (for interaction notes). The portal closes it with itself.

The portal (:class:`chaincrm.portal.state.Portal`) gives the CRM client, the index's engine and
its reads, the clock and the unexpected-error count.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from chaincrm.api.database import open_integration
from chaincrm.api.idempotency import IdempotencyRecords
from chaincrm.api.idempotency import metadata as idempotency_metadata
from chaincrm.api.key_cache import VerifiedKeys
from chaincrm.api.keys import ApiKeys
from chaincrm.api.keys import metadata as keys_metadata
from chaincrm.portal.state import Portal
from chaincrm.storage import KuboStore

T = TypeVar("T")


@dataclass
class ApiState:
    portal: Portal
    engine: Engine
    keys: ApiKeys
    idempotency: IdempotencyRecords
    signers: dict[str, LocalAccount]
    verified: VerifiedKeys
    locks: dict[str, threading.Lock] = field(default_factory=dict)
    _stores: dict[str, KuboStore] = field(default_factory=dict)

    @classmethod
    def open(cls, portal: Portal) -> ApiState:
        config = portal.config
        engine = open_integration(
            config.integration_database, config.settings.home, keys_metadata, idempotency_metadata
        )
        signers = {str(account.address): account for account in config.signers}
        keys = ApiKeys(engine)
        return cls(
            portal=portal,
            engine=engine,
            keys=keys,
            verified=VerifiedKeys(keys),
            idempotency=IdempotencyRecords(engine),
            signers=signers,
            locks={address: threading.Lock() for address in signers},
        )

    @property
    def inline(self) -> bool:
        """SQLite answers faster than a hop to a worker thread (as the portal's reads)."""
        return self.engine.url.get_backend_name() == "sqlite"

    async def integration(self, work: Callable[[], T]) -> T:
        """Run `work` on the integration database: inline on SQLite, in the thread pool otherwise."""
        if self.inline:
            return work()
        return await run_in_threadpool(work)

    def store_for(self, address: str) -> KuboStore:
        """The signer's own IPFS client (called under the signer's lock)."""
        if address not in self._stores:
            self._stores[address] = KuboStore(self.portal.config.settings.ipfs_api)
        return self._stores[address]

    def close(self) -> None:
        """Close the IPFS clients and the integration database (the portal calls this from its
        close: Starlette does not run a mounted app's lifespan)."""
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        self.verified.close()
        self.engine.dispose()


__all__ = ["ApiState"]
