"""What a customer's wallet does: accept being bound to a record, give or withdraw consent, and
revoke a staff member's grant by signature.

A wallet is bound only by its own acceptance: by its own transaction, or by an EIP-712 signature
that staff relay (so the customer needs no ETH). Consent is the wallet's too, sent or signed the
same way, and so is a signed revocation (a revocation by transaction re-seals in the same
transaction: :meth:`~chaincrm.privacy.versions.ProfileVersions.revoke`). Each can change who the
chain lets read the record, so each is followed by a re-seal when whoever sent it can make one
(:meth:`~chaincrm.privacy.versions.ProfileVersions.reseal_if_reader`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from eth_utils import to_checksum_address

from chaincrm.errors import ConfigError
from chaincrm.models import Purpose

if TYPE_CHECKING:  # signing imports eth-account: loaded by the methods that sign
    from eth_account.signers.local import LocalAccount

    from chaincrm.contracts.client import Crm
    from chaincrm.contracts.signatures import AccessRevocation, ConsentChange, WalletAcceptance
    from chaincrm.privacy.versions import ProfileRef, ProfileVersions

DEFAULT_SIGNATURE_LIFETIME_SECONDS = 7 * 24 * 3600


def public_key64(account: LocalAccount) -> bytes:
    """The account's secp256k1 public key, the form the on-chain directory stores."""
    from eth_keys import keys as eth_keys

    return eth_keys.PrivateKey(bytes(account.key)).public_key.to_bytes()


class CustomerWallets:
    """Wallet binding, the wallet's consent and its signed revocations, for one deployment;
    `versions` re-seals after."""

    def __init__(self, crm: Crm, versions: ProfileVersions) -> None:
        self.crm = crm
        self.versions = versions

    # ------------------------------------------------------------------ wallet binding

    def propose_wallet(self, customer_id: int, wallet: str | None, proposer: LocalAccount) -> None:
        """Propose a wallet: the bound wallet moving itself, a manager, or (for a customer without
        a wallet) an agent with a grant, whose proposal a manager must approve."""
        self.crm.registry.propose_wallet(customer_id, wallet, proposer)

    def approve_wallet(self, customer_id: int, wallet: str, manager: LocalAccount) -> None:
        """A manager approves an agent's proposal: one agent alone cannot bind a wallet."""
        self.crm.registry.approve_wallet(customer_id, wallet, manager)

    def accept_wallet(self, customer_id: int, wallet: LocalAccount) -> None:
        """The proposed wallet accepts by its own transaction (it pays the gas)."""
        self.crm.registry.accept_wallet(customer_id, public_key64(wallet), wallet)

    def sign_wallet_acceptance(
        self, customer_id: int, wallet: LocalAccount, lifetime_seconds: int = DEFAULT_SIGNATURE_LIFETIME_SECONDS
    ) -> WalletAcceptance:
        """The wallet's EIP-712 acceptance, for staff to relay (the customer needs no ETH)."""
        pending = self.crm.registry.customer(customer_id).pending_wallet
        if pending != wallet.address:
            raise ConfigError(f"{wallet.address} is not the wallet proposed for customer {customer_id}")
        from chaincrm.contracts.signatures import sign_wallet_acceptance

        return sign_wallet_acceptance(
            wallet,
            chain_id=self.crm.chain.chain_id,
            registry=self.crm.registry.address,
            customer_id=customer_id,
            public_key=public_key64(wallet),
            nonce=self.crm.registry.nonce_of(customer_id),
            deadline=self._deadline(lifetime_seconds),
        )

    def relay_wallet_acceptance(self, acceptance: WalletAcceptance, relayer: LocalAccount) -> ProfileRef | None:
        """Send a signed acceptance, then re-seal so that the customer can read their data."""
        self._check_domain(acceptance.chain_id, acceptance.registry)
        self.crm.registry.accept_wallet_by_sig(acceptance, relayer)
        return self.versions.reseal_if_reader(acceptance.customer_id, relayer)

    # ------------------------------------------------------------------ consent

    def set_consent(self, customer_id: int, purpose: Purpose, granted: bool, wallet: LocalAccount) -> ProfileRef | None:
        """The customer's own consent change; a withdrawal that removed readers re-seals without them."""
        self.crm.registry.set_consent(customer_id, purpose, granted, wallet)
        return self.versions.reseal_if_reader(customer_id, wallet)

    def sign_consent_change(
        self,
        customer_id: int,
        purpose: Purpose,
        granted: bool,
        wallet: LocalAccount,
        lifetime_seconds: int = DEFAULT_SIGNATURE_LIFETIME_SECONDS,
    ) -> ConsentChange:
        """The wallet's EIP-712 consent change, for staff to relay."""
        if self.crm.registry.customer(customer_id).wallet != wallet.address:
            raise ConfigError(f"{wallet.address} is not customer {customer_id}'s wallet")
        from chaincrm.contracts.signatures import sign_consent_change

        return sign_consent_change(
            wallet,
            chain_id=self.crm.chain.chain_id,
            registry=self.crm.registry.address,
            customer_id=customer_id,
            purpose=purpose,
            granted=granted,
            nonce=self.crm.registry.nonce_of(customer_id),
            deadline=self._deadline(lifetime_seconds),
        )

    def relay_consent_change(self, change: ConsentChange, relayer: LocalAccount) -> ProfileRef | None:
        """Send a signed consent change, then re-seal if it changed the readers."""
        self._check_domain(change.chain_id, change.registry)
        self.crm.registry.set_consent_by_sig(change, relayer)
        return self.versions.reseal_if_reader(change.customer_id, relayer)

    # ------------------------------------------------------------------ revocation by signature

    def sign_access_revocation(
        self,
        customer_id: int,
        staff: str,
        wallet: LocalAccount,
        lifetime_seconds: int = DEFAULT_SIGNATURE_LIFETIME_SECONDS,
    ) -> AccessRevocation:
        """The wallet's EIP-712 revocation of `staff`'s grant, for staff (or a relayer) to send."""
        registry = self.crm.registry
        if registry.customer(customer_id).wallet != wallet.address:
            raise ConfigError(f"{wallet.address} is not customer {customer_id}'s wallet")
        if not registry.has_active_grant(customer_id, staff):
            raise ConfigError(f"{to_checksum_address(staff)} has no active grant on customer {customer_id}")
        from chaincrm.contracts.signatures import sign_access_revocation

        return sign_access_revocation(
            wallet,
            chain_id=self.crm.chain.chain_id,
            registry=registry.address,
            customer_id=customer_id,
            staff=staff,
            nonce=registry.nonce_of(customer_id),
            deadline=self._deadline(lifetime_seconds),
        )

    def relay_access_revocation(self, revocation: AccessRevocation, relayer: LocalAccount) -> ProfileRef | None:
        """Send a signed revocation, then re-seal without the revoked staff member when the relayer
        can (the signature carries no version; otherwise a reader runs `customer reseal`)."""
        self._check_domain(revocation.chain_id, revocation.registry)
        self.crm.registry.revoke_access_by_sig(revocation, relayer)
        return self.versions.reseal_if_reader(revocation.customer_id, relayer)

    # ------------------------------------------------------------------ internals

    def _deadline(self, lifetime_seconds: int) -> int:
        """A signature deadline in chain time: a development chain's clock may run ahead of the wall's."""
        latest = self.crm.chain.rpc(lambda: self.crm.chain.w3.eth.get_block("latest"))
        return max(int(latest["timestamp"]), int(time.time())) + lifetime_seconds

    def _check_domain(self, chain_id: int, registry: str) -> None:
        if chain_id != self.crm.chain.chain_id or to_checksum_address(registry) != self.crm.registry.address:
            raise ConfigError("the signed message is for another chain or registry")
