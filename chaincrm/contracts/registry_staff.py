"""CrmRegistry's staff: roles and the encryption-key directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.contracts.registry_base import RegistryBase
from chaincrm.models import Role

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chaincrm.chain import Sender


class StaffMixin(RegistryBase):
    """Who holds which role, and the public keys documents are sealed to."""

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

    def managers(self) -> tuple[str, ...]:
        return tuple(to_checksum_address(a) for a in self.chain.call(self.contract.functions.managers()))

    def register_encryption_key(self, public_key64: bytes, sender: Sender) -> TxReceipt:
        return self.chain.transact(self.contract.functions.registerEncryptionKey(public_key64), sender)

    def encryption_key_of(self, account: str) -> bytes | None:
        key = bytes(self.chain.call(self.contract.functions.encryptionKeyOf(to_checksum_address(account))))
        return key or None
