"""What the portal builds once at start and shares for its lifetime: the CRM client, the escrow's
terms, one database engine, the clock, nonces, sessions, the relayer, rate limits, the follower.

Reads on SQLite run on the event loop: in WAL mode a reader never waits for the indexer, and a
primary-key lookup takes well under a millisecond, less than a hop to a worker thread costs.
PostgreSQL reads (a network round trip) and everything that talks to the node run in the thread
pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError
from chaincrm.index.database import database_errors, describe_database, open_database, read_state
from chaincrm.portal.auth import NonceBook, Sessions
from chaincrm.portal.config import PortalConfig
from chaincrm.portal.follower import Clock, Follower
from chaincrm.portal.reads import EscrowTerms, as_of_block
from chaincrm.portal.relayer import Relayer
from chaincrm.portal.security import RateLimiter
from chaincrm.portal.tokens import Tokens
from chaincrm.webhooks.dispatcher import Dispatcher, DispatchOptions, open_dispatcher

T = TypeVar("T")


@dataclass
class Portal:
    config: PortalConfig
    crm: Crm
    terms: EscrowTerms
    engine: Engine
    base_config: dict[str, Any]
    clock: Clock = field(default_factory=Clock)
    follower: Follower | None = None
    webhooks: Dispatcher | None = None  # the webhook dispatcher's thread (config.webhooks)
    unexpected_errors: int = 0  # answers the last-resort 500 handler gave (tests assert 0)
    # closed with the portal, last opened first: what mounted apps opened (the REST API's integration
    # database and IPFS clients), since Starlette does not run a mounted app's lifespan
    closers: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nonces = NonceBook(self.config.nonce_seconds)
        self.sessions = Sessions(self.config.session_secret, self.config.session_seconds)
        self.relayer = Relayer(self.crm, self.config.relayer)
        self.limiter = RateLimiter(self.config.rate_limits.parsed())
        self.tokens = Tokens(self.crm.chain, self.base_config.get("loyalty"))
        self._inline = self.engine.url.get_backend_name() == "sqlite"

    @classmethod
    def open(cls, config: PortalConfig) -> Portal:
        """Connect to the node (checking the deployment record), read the escrow's terms, open the
        index; an index of another deployment is refused here."""
        crm = Crm.from_settings(config.settings)
        deployment = crm.deployment
        escrow = crm.escrow.contract.functions
        terms = EscrowTerms(
            chain_id=deployment.chain_id,
            address=crm.escrow.address,
            dispute_window_seconds=int(crm.chain.call(escrow.disputeWindowSeconds())),
            dispute_resolution_seconds=int(crm.chain.call(escrow.disputeResolutionSeconds())),
        )
        engine = open_database(config.database, home=config.settings.home)
        state = read_state(engine)
        if state is not None:
            followed = (state.chain_id, state.registry, state.pipeline, state.escrow)
            if followed != (deployment.chain_id, deployment.registry, deployment.pipeline, deployment.escrow):
                engine.dispose()
                raise ConfigError(
                    f"the index at {describe_database(engine)} follows another deployment (chain {state.chain_id}, "
                    f"registry {state.registry}): pass --database for this one"
                )
        base = {
            "chain_id": deployment.chain_id,
            "chain_name": config.name_of_chain(deployment.chain_id),
            "wallet_rpc_url": config.wallet_rpc_url or config.settings.rpc_url,
            "registry": deployment.registry,
            "escrow": deployment.escrow,
            "pipeline": deployment.pipeline,
            "loyalty": deployment.loyalty,
        }
        portal = cls(config=config, crm=crm, terms=terms, engine=engine, base_config=base)
        if config.follow:
            portal.follower = Follower(
                config.settings,
                None if config.database is None else str(config.database),
                poll_seconds=config.poll_seconds,
                confirmations=config.confirmations,
                reads=engine,
                clock=portal.clock,
            )
        if config.webhooks:
            options = DispatchOptions(confirmations=config.webhook_confirmations, poll_seconds=config.poll_seconds)
            where = config.integration_database
            portal.webhooks = open_dispatcher(where, config.settings.home, engine, crm.chain.block_number, options)
        return portal

    def api_config(self, as_of_block: int | None) -> dict[str, Any]:
        return {**self.base_config, "as_of_block": as_of_block}

    async def as_of_block(self) -> int | None:
        """The index's last block; None before the follower made the index (or when unreadable)."""
        try:
            return await self.read(as_of_block)
        except ConfigError:
            return None

    async def read(self, query: Callable[[Connection], T]) -> T:
        """Run `query` on a connection of the app's engine (see the module docstring for where)."""
        if self._inline:
            return self._read(query)
        return await run_in_threadpool(self._read, query)

    def _read(self, query: Callable[[Connection], T]) -> T:
        with database_errors(self.engine), self.engine.connect() as conn:
            return query(conn)

    def start(self) -> None:
        if self.follower is not None:
            self.follower.start()
        if self.webhooks is not None:
            self.webhooks.start()

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        if self.webhooks is not None:
            self.webhooks.stop()
        while self.closers:
            self.closers.pop()()
        self.engine.dispose()


__all__ = ["Portal"]
