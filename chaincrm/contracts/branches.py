"""The BranchDirectory contract: branches (offices, departments), their managers, staff and customers.

A branch is created by a registry manager under a short ASCII name (1-32 bytes, stored
right-padded in a ``bytes32``), gets at most one branch manager, and holds staff (the directory
grants them the registry's agent role when they join and revokes it when they leave) and customers.
A branch manager reaches nothing outside the branch: the contract refuses with named errors
(``NotBranchManager``, ``StaffAlreadyAgent``, ``StaffInOtherBranch``, ``StaffNotInBranch``), which the
chain layer decodes.

:class:`BranchRoster` is who was in which branch when, read from the directory's events (here
from the chain; :mod:`chaincrm.index.branches` reads the same from the index): reports by branch
are computed from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from chaincrm.chain import Chain, Sender, emitted_by
from chaincrm.chain.artifacts import load_artifact
from chaincrm.chain.contract import contract_at
from chaincrm.errors import ConfigError
from chaincrm.models import ZERO_ADDRESS, Deployment

if TYPE_CHECKING:
    from web3.contract import Contract
    from web3.types import TxReceipt

BRANCH_CONTRACT = "BranchDirectory"
BRANCH_NAME_BYTES = 32
UINT32_MAX = 2**32 - 1
_PRINTABLE = range(0x21, 0x7F)  # visible ASCII: no spaces, no control characters


# ------------------------------------------------------------------ names


def encode_branch_name(name: str) -> bytes:
    """`name` as the contract stores it: ASCII, right-padded with zero bytes to 32. A name that is
    empty, longer than 32 bytes, not visible ASCII, or only digits (digits name a branch by id)
    is refused with one line."""
    text = name.strip()
    if not text:
        raise ConfigError("a branch name cannot be empty")
    if not all(ord(char) in _PRINTABLE for char in text):
        raise ConfigError(f"branch name {text!r} must be visible ASCII without spaces (e.g. lisbon, sales-north)")
    if len(text) > BRANCH_NAME_BYTES:
        raise ConfigError(f"branch name {text!r} is {len(text)} bytes long; at most {BRANCH_NAME_BYTES}")
    if text.isdigit():
        raise ConfigError(f"branch name {text!r} cannot be only digits (a number names a branch by its id)")
    return text.encode("ascii").ljust(BRANCH_NAME_BYTES, b"\0")


def decode_branch_name(raw: bytes | str) -> str:
    """The label of a stored name (bytes32, or its 0x hex); a name that is not a padded ASCII
    label (written around this SDK) is shown as its hex."""
    data = bytes.fromhex(raw[2:]) if isinstance(raw, str) else bytes(raw)
    label = data.rstrip(b"\0")
    if label and b"\0" not in label and all(byte in _PRINTABLE for byte in label):
        return label.decode("ascii")
    return "0x" + data.hex()


# ------------------------------------------------------------------ domain objects


@dataclass(frozen=True)
class Branch:
    """A branch: its id (from 1), its name and its manager (None: no branch manager)."""

    branch_id: int
    name: str
    manager: ChecksumAddress | None

    @classmethod
    def from_chain(cls, branch_id: int, info: Sequence[Any]) -> Branch:
        name, manager = info
        return cls(branch_id, decode_branch_name(bytes(name)), _manager(manager))


@dataclass(frozen=True)
class StaffPeriod:
    """One stay of an account in a branch: from the block (and time) it joined to the block it
    left, None while it is still there."""

    branch_id: int
    account: ChecksumAddress
    joined_block: int
    joined_at: int
    left_block: int | None = None
    left_at: int | None = None

    def overlaps(self, since: int | None, until: int | None) -> bool:
        """Whether the account was in the branch at some moment of the window (bounds inclusive, None: open)."""
        starts_in_time = until is None or self.joined_at <= until
        ends_in_time = self.left_at is None or since is None or self.left_at >= since
        return starts_in_time and ends_in_time


@dataclass(frozen=True)
class BranchRoster:
    """Every branch and every stay of staff in one, as of one block."""

    branches: tuple[Branch, ...]
    periods: tuple[StaffPeriod, ...]

    def find(self, text: str) -> Branch:
        """The branch named `text`, or with id `text` (digits); ConfigError listing the names otherwise."""
        wanted = text.strip()
        for branch in self.branches:
            if branch.name == wanted or (wanted.isdigit() and int(wanted) == branch.branch_id):
                return branch
        raise ConfigError(f"unknown branch {wanted!r} ({self.known()})")

    def known(self) -> str:
        if not self.branches:
            return "no branch on chain yet: a manager creates one with `chaincrm branch create NAME`"
        return "branches: " + ", ".join(sorted(branch.name for branch in self.branches))

    def members(self, branch_id: int, since: int | None = None, until: int | None = None) -> frozenset[str]:
        """The accounts that were staff of the branch at some moment of the window."""
        return frozenset(
            period.account for period in self.periods if period.branch_id == branch_id and period.overlaps(since, until)
        )


def fold_periods(events: Iterable[tuple[str, int, str, int, int]]) -> list[StaffPeriod]:
    """Stays from (kind "joined"/"left", branch id, account, block, time) in chain order."""
    open_stays: dict[tuple[int, str], int] = {}
    periods: list[StaffPeriod] = []
    for kind, branch_id, account, block, at in events:
        key = (branch_id, account)
        if kind == "joined":
            open_stays[key] = len(periods)
            periods.append(StaffPeriod(branch_id, to_checksum_address(account), block, at))
        elif key in open_stays:
            index = open_stays.pop(key)
            stay = periods[index]
            periods[index] = StaffPeriod(stay.branch_id, stay.account, stay.joined_block, stay.joined_at, block, at)
    return periods


def _manager(address: str) -> ChecksumAddress | None:
    return None if int(address, 16) == 0 else to_checksum_address(address)


def _branch_id(branch_id: int) -> int:
    if not 1 <= branch_id <= UINT32_MAX:
        raise ConfigError(f"branch id {branch_id} is out of range (1 to {UINT32_MAX})")
    return branch_id


def branches_address(deployment: Deployment) -> ChecksumAddress:
    """The deployment's BranchDirectory; one ConfigError line for a record without one."""
    address = getattr(deployment, "branches", None)
    if not address or int(address, 16) == 0:
        raise ConfigError(
            "this deployment has no branch directory (the record predates branches): deploy again to use branches"
        )
    return to_checksum_address(address)


# ------------------------------------------------------------------ the wrapper


class BranchDirectory:
    """Typed access to one deployed BranchDirectory."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract: Contract = contract_at(chain, BRANCH_CONTRACT, self.address, load_artifact(BRANCH_CONTRACT).abi)

    # -------------------------------------------------------------- writes

    def create_branch(self, name: str, sender: Sender) -> int:
        """Create a branch (a registry manager); returns its id."""
        from web3.logs import DISCARD  # web3 sent the transaction: it is loaded already

        receipt = self.chain.transact(self.contract.functions.createBranch(encode_branch_name(name)), sender)
        (event,) = emitted_by(
            self.address, self.contract.events.BranchCreated().process_receipt(receipt, errors=DISCARD)
        )
        return int(event["args"]["branchId"])

    def set_branch_manager(self, branch_id: int, manager: str | None, sender: Sender) -> TxReceipt:
        """Make `manager` the branch's manager; None removes it (a registry manager)."""
        account = to_checksum_address(manager) if manager else ZERO_ADDRESS
        return self.chain.transact(self.contract.functions.setBranchManager(_branch_id(branch_id), account), sender)

    def add_staff(self, branch_id: int, account: str, sender: Sender) -> TxReceipt:
        """Bring `account` into the branch; the directory grants it the agent role."""
        fn = self.contract.functions.addStaff(_branch_id(branch_id), to_checksum_address(account))
        return self.chain.transact(fn, sender)

    def remove_staff(self, branch_id: int, account: str, sender: Sender) -> TxReceipt:
        """Take `account` out of the branch; the directory revokes its agent role."""
        fn = self.contract.functions.removeStaff(_branch_id(branch_id), to_checksum_address(account))
        return self.chain.transact(fn, sender)

    def assign_customer(self, branch_id: int, customer_id: int, sender: Sender) -> TxReceipt:
        fn = self.contract.functions.assignCustomer(_branch_id(branch_id), customer_id)
        return self.chain.transact(fn, sender)

    # -------------------------------------------------------------- reads

    def branch_count(self) -> int:
        return int(self.chain.call(self.contract.functions.branchCount()))

    def branch(self, branch_id: int) -> Branch:
        return Branch.from_chain(branch_id, self.chain.call(self.contract.functions.branchInfo(_branch_id(branch_id))))

    def branches(self) -> list[Branch]:
        """Every branch, in id order, read in JSON-RPC batches at one block."""
        block = self.chain.block_number()
        count = int(self.chain.call(self.contract.functions.branchCount(), block=block))
        calls = [self.contract.functions.branchInfo(branch_id) for branch_id in range(1, count + 1)]
        infos = self.chain.call_many(calls, block=block) if calls else []
        return [Branch.from_chain(branch_id, info) for branch_id, info in enumerate(infos, start=1)]

    def branch_id_of(self, name: str) -> int | None:
        found = int(self.chain.call(self.contract.functions.branchIdOf(encode_branch_name(name))))
        return found or None

    def branch_of(self, account: str) -> int | None:
        """The branch `account` works in; None for none."""
        return int(self.chain.call(self.contract.functions.branchOf(to_checksum_address(account)))) or None

    def customer_branch_of(self, customer_id: int) -> int | None:
        """The branch the customer is assigned to; None for none."""
        return int(self.chain.call(self.contract.functions.customerBranchOf(customer_id))) or None

    def resolve(self, text: str) -> Branch:
        """The branch named `text`, or with id `text` (digits): one ConfigError line listing the
        known names otherwise."""
        wanted = text.strip()
        if wanted.isdigit() and 1 <= int(wanted) <= self.branch_count():
            return self.branch(int(wanted))
        if _is_label(wanted):
            found = self.branch_id_of(wanted)
            if found is not None:
                return self.branch(found)
        return BranchRoster(tuple(self.branches()), ()).find(wanted)

    def roster(self, from_block: int, to_block: int | str = "latest") -> BranchRoster:
        """Every branch and every stay of staff in one, from the directory's events up to `to_block`."""
        end = self.chain.block_number(to_block)
        events = self.contract.events
        logs = self.chain.logs
        created = logs.events(events.BranchCreated, from_block=from_block, to_block=end)
        managers = logs.events(events.BranchManagerSet, from_block=from_block, to_block=end)
        joined = logs.events(events.StaffJoinedBranch, from_block=from_block, to_block=end)
        left = logs.events(events.StaffLeftBranch, from_block=from_block, to_block=end)
        moves = sorted([*joined, *left], key=lambda log: (log["blockNumber"], log["logIndex"]))
        times = self._timestamps({int(log["blockNumber"]) for log in moves})
        branches: dict[int, Branch] = {}
        for log in sorted([*created, *managers], key=lambda log: (log["blockNumber"], log["logIndex"])):
            args = log["args"]
            branch_id = int(args["branchId"])
            if log["event"] == "BranchCreated":
                branches[branch_id] = Branch(branch_id, decode_branch_name(bytes(args["name"])), None)
            elif branch_id in branches:
                old = branches[branch_id]
                branches[branch_id] = Branch(branch_id, old.name, _manager(args["manager"]))
        periods = fold_periods(
            (
                "joined" if log["event"] == "StaffJoinedBranch" else "left",
                int(log["args"]["branchId"]),
                str(log["args"]["account"]),
                int(log["blockNumber"]),
                times[int(log["blockNumber"])],
            )
            for log in moves
        )
        return BranchRoster(tuple(branches[key] for key in sorted(branches)), tuple(periods))

    def _timestamps(self, blocks: Iterable[int]) -> dict[int, int]:
        wanted = sorted(set(blocks))
        if not wanted:
            return {}
        found = self.chain.results([("eth_getBlockByNumber", [hex(number), False]) for number in wanted])
        return {number: int(block["timestamp"], 16) for number, block in zip(wanted, found, strict=True)}


def _is_label(text: str) -> bool:
    """Whether `text` is a name :func:`encode_branch_name` accepts."""
    return 0 < len(text) <= BRANCH_NAME_BYTES and all(ord(char) in _PRINTABLE for char in text) and not text.isdigit()


__all__ = [
    "BRANCH_CONTRACT",
    "BRANCH_NAME_BYTES",
    "Branch",
    "BranchDirectory",
    "BranchRoster",
    "StaffPeriod",
    "branches_address",
    "decode_branch_name",
    "encode_branch_name",
    "fold_periods",
]
