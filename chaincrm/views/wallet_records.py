"""Which customer records belong to a wallet (trust model v2), and the scope that keeps a
wallet's views to them.

A wallet is bound to a customer only by its own acceptance (``WalletAccepted``, by its transaction
or its relayed signature), so a wallet's records are those whose current wallet it is, found from
the registry's ``WalletAccepted`` events and checked against ``customerOf``; an erased record
stays visible, as erased, to the wallet it had when it was erased. A wallet that was only
*proposed* sees nothing: it must accept first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.contracts.client import Crm
from chaincrm.errors import ConfigError
from chaincrm.models import CustomerStatus
from chaincrm.views.logs import DeploymentLogs


@dataclass(frozen=True)
class WalletRecords:
    """The records a wallet holds (`owned`) and the ones it was proposed for but has not accepted."""

    owned: tuple[int, ...]
    pending: tuple[int, ...]


def records_of(crm: Crm, wallet: str, from_block: int | None = None) -> WalletRecords:
    """The wallet's customer records, from the registry's events, checked against the chain."""
    wallet = to_checksum_address(wallet)
    registry = crm.registry
    reader = DeploymentLogs(crm, from_block)

    def logs(event: str, **filters: Any) -> list[Any]:
        return reader.of(registry, event, **filters)

    accepted = {int(log["args"]["customerId"]) for log in logs("WalletAccepted", newWallet=wallet)}
    proposed = {int(log["args"]["customerId"]) for log in logs("WalletProposed", wallet=wallet)}
    owned: list[int] = []
    for customer_id in sorted(accepted):
        customer = registry.customer(customer_id)
        if customer.status is CustomerStatus.ERASED:
            # Erasure clears the wallet: the record stays the wallet's if it held it then.
            history = logs("WalletAccepted", customerId=customer_id)
            if history and to_checksum_address(history[-1]["args"]["newWallet"]) == wallet:
                owned.append(customer_id)
        elif customer.wallet == wallet:
            owned.append(customer_id)
    pending = [
        customer_id
        for customer_id in sorted(proposed - set(owned))
        if registry.customer(customer_id).pending_wallet == wallet
    ]
    return WalletRecords(tuple(owned), tuple(pending))


def customer_ids_of(crm: Crm, wallet: str, from_block: int | None = None) -> tuple[int, ...]:
    """The ids of every customer record the wallet holds (it accepted, and was not replaced)."""
    return records_of(crm, wallet, from_block).owned


class RecordScope:
    """The records one wallet may see; asking for another customer's id is refused before
    anything is read."""

    def __init__(self, crm: Crm, wallet: ChecksumAddress) -> None:
        self.crm = crm
        self.wallet = wallet
        self._records: WalletRecords | None = None

    def records(self) -> WalletRecords:
        if self._records is None:
            self._records = records_of(self.crm, self.wallet)
        return self._records

    def customer_ids(self) -> tuple[int, ...]:
        """The wallet's customer records. None is one ConfigError line; so is a wallet that was
        proposed but has not accepted, which sees nothing until it does."""
        records = self.records()
        if records.owned:
            return records.owned
        if records.pending:
            first = records.pending[0]
            which = ", ".join(map(str, records.pending))
            raise ConfigError(
                f"wallet {self.wallet} was proposed for customer {which} but has not accepted: it sees nothing "
                f"until it does (`chaincrm customer accept-wallet {first} --keystore {self.wallet}`, or sign an "
                f"acceptance for staff to relay: `chaincrm customer sign-wallet-acceptance {first}`)"
            )
        raise ConfigError(
            f"wallet {self.wallet} has no customer record in the CRM at {self.crm.registry.address} "
            f"on chain {self.crm.chain.chain_id}"
        )

    def require_own(self, customer_id: int) -> None:
        """Refuse a customer id that is not one of the wallet's records."""
        if customer_id not in self.customer_ids():
            raise ConfigError(f"customer {customer_id} is not a record of wallet {self.wallet}")

    def selected(self, customer_id: int | None) -> tuple[int, ...]:
        """`customer_id` if it is the wallet's, or all of the wallet's records."""
        if customer_id is None:
            return self.customer_ids()
        self.require_own(customer_id)
        return (customer_id,)
