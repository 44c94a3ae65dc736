"""Glue between Brownie's network and the chaincrm SDK for the scripts in this folder."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from brownie import accounts, network, web3
from eth_account import Account

from chaincrm.chain import NodeAccount, Sender
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.errors import ChainCrmError

T = TypeVar("T")
DEV_CHAIN_IDS = (31337, 1337)


def brownie_sender(index: int = 0) -> Sender:
    """Brownie's account as an SDK sender: node-unlocked on development networks, local key otherwise."""
    account = accounts[index]
    private_key = getattr(account, "private_key", None)
    if private_key:
        return Account.from_key(private_key)
    return NodeAccount(account.address)


def crm(settings: Settings) -> Crm:
    return Crm.from_settings(settings, w3=web3)


def record_settings() -> Settings:
    return Settings.from_env()


def run(action: Callable[[], T]) -> T:
    """Run a script body; a user's mistake prints one line and exits non-zero, changing nothing."""
    try:
        return action()
    except ChainCrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def network_name() -> str:
    return str(network.show_active())
