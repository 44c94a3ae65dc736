"""What the console builds once, beside the portal it is mounted in: the staff member's account,
the token's sessions, the name cache, the mover and the report cache."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from starlette.templating import Jinja2Templates

from chaincrm.console.auth import StaffAuth
from chaincrm.console.moves import Mover
from chaincrm.console.names import NameBook
from chaincrm.console.report import ReportBook
from chaincrm.models import Role
from chaincrm.portal.state import Portal

ROLES_SECONDS = 30.0  # how long the staff member's on-chain roles are trusted before reading them again


@dataclass
class StaffRoles:
    """The staff member's roles on chain, read again after ROLES_SECONDS."""

    portal: Portal
    address: str
    _read: tuple[float, tuple[Role, ...]] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def now(self) -> tuple[Role, ...]:
        """Blocking (one call to the node when stale)."""
        with self._lock:
            if self._read is None or time.monotonic() - self._read[0] > ROLES_SECONDS:
                self._read = (time.monotonic(), tuple(self.portal.crm.registry.roles_of(self.address)))
            return self._read[1]


@dataclass
class Console:
    portal: Portal
    staff: LocalAccount
    auth: StaffAuth
    names: NameBook
    mover: Mover
    reports: ReportBook
    roles: StaffRoles
    templates: Jinja2Templates

    def base_context(self, as_of_block: int | None) -> dict[str, Any]:
        return {**self.portal.api_config(as_of_block), "staff": self.staff.address}


__all__ = ["Console", "StaffRoles"]
