"""What every command shares: the settings, the CRM and document store built from them, signers,
and the parameter types that turn bad input into a click usage error before anything is sent."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import click

from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.chain.keystores import LocalSigner, load_signer
from chaincrm.config import Settings
from chaincrm.contracts.client import Crm
from chaincrm.errors import KeystoreError
from chaincrm.privacy.customers import CustomerData
from chaincrm.storage import KuboStore

if TYPE_CHECKING:
    from chaincrm.privacy.notes import CustomerNotes

KEYSTORE_ENV = "CHAINCRM_KEYSTORE"
WEI_PER_UNIT = {"wei": 1, "gwei": 10**9, "eth": 10**18, "ether": 10**18}

F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E", bound=enum.Enum)


@dataclass
class App:
    """Per-invocation state: built from the group's options, everything else on first use."""

    settings: Settings

    @cached_property
    def crm(self) -> Crm:
        return Crm.from_settings(self.settings)

    @cached_property
    def store(self) -> KuboStore:
        return KuboStore(self.settings.ipfs_api)

    @cached_property
    def customers(self) -> CustomerData:
        return CustomerData(self.crm, self.store)

    @cached_property
    def notes(self) -> CustomerNotes:
        from chaincrm.privacy.notes import CustomerNotes

        return CustomerNotes(self.crm, self.store)

    def signer(self, keystore: str | None) -> LocalSigner:
        """Unlock the keystore named by --keystore or CHAINCRM_KEYSTORE (password: env or prompt)."""
        if not keystore:
            raise KeystoreError(f"no signer: pass --keystore ADDRESS|PATH or set {KEYSTORE_ENV}")
        return load_signer(keystore, folder=self.settings.keystore_dir)


pass_app = click.make_pass_decorator(App)


# ------------------------------------------------------------------ shared options


def keystore_option(func: F) -> F:
    return click.option(
        "--keystore",
        envvar=KEYSTORE_ENV,
        metavar="ADDRESS|PATH",
        help=f"Keystore that signs: an address in <home>/keystores or a file [env {KEYSTORE_ENV}]. "
        "Its password comes from CHAINCRM_PASSWORD or a prompt.",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text.")(func)


# ------------------------------------------------------------------ parameter types


class AddressType(click.ParamType):
    """A 20-byte hex address; mixed case must carry a valid EIP-55 checksum."""

    name = "address"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        try:
            return str(parse_address(text))
        except AddressProblem as problem:
            if problem.kind == "checksum":
                self.fail(f"{text!r} has an invalid checksum (mistyped?)", param, ctx)
            self.fail(f"{text!r} is not an address (0x and 40 hex digits)", param, ctx)


class EthAmountType(click.ParamType):
    """An amount of ether: `1.5` or `1.5eth` (ether), `20gwei`, `100wei`; converted to wei."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace(" ", "")
        unit = next((u for u in sorted(WEI_PER_UNIT, key=len, reverse=True) if text.endswith(u)), "eth")
        number = text[: -len(unit)] if text.endswith(unit) else text
        try:
            amount = Decimal(number) * WEI_PER_UNIT[unit]
        except InvalidOperation:
            self.fail(f"{value!r} is not an amount (e.g. 1.5, 1.5eth, 20gwei, 100wei)", param, ctx)
        if not amount.is_finite() or amount < 0:
            self.fail(f"{value!r} is not a positive amount", param, ctx)
        if amount != amount.to_integral_value():
            self.fail(f"{value!r} is not a whole number of wei", param, ctx)
        return int(amount)


class EnumChoice(click.Choice):  # type: ignore[type-arg]
    """A choice among an IntEnum's members, written in lower case with dashes (`follow-up`)."""

    def __init__(self, enum_type: type[E], exclude: tuple[E, ...] = ()) -> None:
        self.enum_type = enum_type
        self.by_name = {member.name.lower().replace("_", "-"): member for member in enum_type if member not in exclude}
        super().__init__(list(self.by_name), case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.enum_type):
            return value
        name = super().convert(str(value).replace("_", "-"), param, ctx)
        return self.by_name[name]


ADDRESS = AddressType()
ETH_AMOUNT = EthAmountType()
ID = click.IntRange(min=1)


def enum_name(member: enum.Enum) -> str:
    """How an enum member is written on the command line and in JSON: `follow-up`."""
    return member.name.lower().replace("_", "-")
