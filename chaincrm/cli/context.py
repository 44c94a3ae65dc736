"""What every command shares: the settings, the CRM and document store built from them, signers,
and the parameter types that turn bad input into a click usage error before anything is sent."""

from __future__ import annotations

import enum
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import click

from chaincrm.config import Settings
from chaincrm.errors import KeystoreError
from chaincrm.units import WEI_PER_ETH

if TYPE_CHECKING:  # imported where used: start-up stays fast (web3, eth-account, storage)
    from chaincrm.chain.keystores import LocalSigner
    from chaincrm.contracts.client import Crm
    from chaincrm.privacy.customers import CustomerData
    from chaincrm.privacy.notes import CustomerNotes
    from chaincrm.storage import KuboStore

KEYSTORE_ENV = "CHAINCRM_KEYSTORE"
DATABASE_ENV = "CHAINCRM_INDEX_DATABASE"  # the event index, for `index` and `report`
WEI_PER_UNIT = {"wei": 1, "gwei": 10**9, "eth": WEI_PER_ETH, "ether": WEI_PER_ETH}
UINT64_MAX = 2**64 - 1
UINT96_MAX = 2**96 - 1
UINT256_MAX = 2**256 - 1

INTEGRATION_DATABASE_ENV = "CHAINCRM_INTEGRATION_DATABASE"  # as chaincrm.api.database (not imported: start-up)
F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E", bound=enum.Enum)


class App:
    """Per-invocation state: the group's options, and everything built from them on first use, so a
    bad setting stops only the commands that need it (and `--help` never)."""

    def __init__(self, settings: Settings | None = None, **overrides: object) -> None:
        self._settings = settings
        self.overrides = overrides

    @cached_property
    def settings(self) -> Settings:
        return self._settings if self._settings is not None else Settings.from_env(**self.overrides)

    @cached_property
    def crm(self) -> Crm:
        from chaincrm.contracts.client import Crm

        return Crm.from_settings(self.settings)

    @cached_property
    def store(self) -> KuboStore:
        from chaincrm.storage import KuboStore

        return KuboStore(self.settings.ipfs_api)

    @cached_property
    def customers(self) -> CustomerData:
        from chaincrm.privacy.customers import CustomerData

        return CustomerData(self.crm, self.store)

    @cached_property
    def notes(self) -> CustomerNotes:
        from chaincrm.privacy.notes import CustomerNotes

        return CustomerNotes(self.crm, self.store)

    def signer(self, keystore: str | None) -> LocalSigner:
        """Unlock the keystore named by --keystore or CHAINCRM_KEYSTORE (password: env or prompt)."""
        from chaincrm.chain.keystores import load_signer

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


def index_source_options(func: F) -> F:
    """--database and --from-chain for a read that takes the event index when it follows this
    deployment and the chain otherwise."""
    func = click.option("--from-chain", is_flag=True, help="Read the chain even when an index is there.")(func)
    return click.option(
        "--database",
        envvar=DATABASE_ENV,
        metavar="URL|PATH",
        help=f"The event index to read when it follows this deployment [env {DATABASE_ENV}; default "
        "<home>/index.sqlite]. Without one, the chain is read.",
    )(func)


def integration_database_option(kept: str) -> Callable[[F], F]:
    """``--integration-database URL|PATH``, passed as `database`: where `chaincrm serve` keeps `kept`."""
    return click.option(
        "--integration-database",
        "database",
        envvar=INTEGRATION_DATABASE_ENV,
        metavar="URL|PATH",
        help=f"Where {kept} are kept: SQLite file or SQLAlchemy URL, the one `chaincrm serve` uses "
        f"[env {INTEGRATION_DATABASE_ENV}; default <home>/integration.sqlite].",
    )


def check_database_folder(database: str | None, option: str) -> None:
    """A SQLite file named by `option` goes into a folder that exists: a typo is refused, not
    created (a default under <home> is created with its home)."""
    from pathlib import Path

    from chaincrm.errors import ConfigError
    from chaincrm.index.database import database_url

    if not database:
        return
    url = database_url(database)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    folder = Path(str(url.database)).expanduser().parent
    if not folder.is_dir():
        raise ConfigError(f"{option} {database}: the folder {folder} does not exist (create it first)")


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text.")(func)


# ------------------------------------------------------------------ parameter types


class AddressType(click.ParamType):
    """A 20-byte hex address; mixed case must carry a valid EIP-55 checksum."""

    name = "address"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from chaincrm.chain.addresses import AddressProblem, parse_address

        text = str(value).strip()
        try:
            return str(parse_address(text))
        except AddressProblem as problem:
            if problem.kind == "checksum":
                self.fail(f"{text!r} has an invalid checksum (mistyped?)", param, ctx)
            self.fail(f"{text!r} is not an address (0x and 40 hex digits)", param, ctx)


class EthAmountType(click.ParamType):
    """An amount of ether: `1.5` or `1.5eth` (ether), `20gwei`, `100wei`; converted to wei, at most
    `max_wei` (what the contract's field holds), so that a huge value is refused before anything is sent."""

    name = "amount"

    def __init__(self, max_wei: int = UINT256_MAX, limit_name: str = "uint256") -> None:
        self.max_wei = max_wei
        self.limit_name = limit_name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            amount = Decimal(value)
        else:
            text = str(value).strip().lower().replace(" ", "")
            unit = next((u for u in sorted(WEI_PER_UNIT, key=len, reverse=True) if text.endswith(u)), "eth")
            number = text[: -len(unit)] if text.endswith(unit) else text
            try:
                amount = Decimal(number) * WEI_PER_UNIT[unit]
            except InvalidOperation:
                self.fail(f"{value!r} is not an amount (e.g. 1.5, 1.5eth, 20gwei, 100wei)", param, ctx)
        if not amount.is_finite() or amount < 0:
            self.fail(f"{value!r} is not a positive amount", param, ctx)
        if amount > self.max_wei:
            most = format(Decimal(self.max_wei) / WEI_PER_ETH, "f").rstrip("0").rstrip(".")
            self.fail(f"{value!r} is more than the contract holds ({self.limit_name}: at most {most} ETH)", param, ctx)
        if amount != amount.to_integral_value():
            self.fail(f"{value!r} is not a whole number of wei", param, ctx)
        return int(amount)


class IdType(click.IntRange):
    """A record id: a whole number from 1 to the largest the contracts store (uint64)."""

    name = "id"

    def __init__(self) -> None:
        super().__init__(min=1, max=UINT64_MAX)

    def _describe_range(self) -> str:
        return "1 to 2^64-1 (ids are uint64 on chain)"


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
DEAL_VALUE = EthAmountType(UINT96_MAX, "uint96")  # the escrow stores invoice amounts as uint96
ID = IdType()


def enum_name(member: enum.Enum) -> str:
    """How an enum member is written on the command line and in JSON: `follow-up`."""
    return member.name.lower().replace("_", "-")
