"""`chaincrm deploy`'s engine: propose (plan, estimates, fees, cost), then execute with a journal.

:meth:`DeployRun.propose` sends nothing new and writes nothing: it plans the deploy (or reads the
journal of an unfinished one and settles it against the chain), simulates the remaining steps on a
fork for their gas, quotes EIP-1559 fees under the cap, and, on OP-stack chains, the L1 data fee of
each step. :meth:`DeployRun.execute` then sends the steps one by one, each signed with an explicit
nonce and written to the journal before it is broadcast, waits for the confirmations, checks the
runtime code at every address, and writes the chain's deployment record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import keccak, to_checksum_address

from chaincrm.chain import Connection
from chaincrm.chain.artifacts import checkout_build_dir, load_artifact, read_json
from chaincrm.contracts.deployment import record_of, record_path, save_record
from chaincrm.deploy.code import CANCUN_PROBE, matches_runtime
from chaincrm.deploy.estimate import estimate_steps
from chaincrm.deploy.fees import FeeQuote, has_gas_price_oracle, l1_fee, quote_fees, unsigned_eip1559
from chaincrm.deploy.journal import MINED, PLANNED, SENT, Journal, StepState, journal_path, load_journal
from chaincrm.deploy.plan import DeploySettings, Step, plan
from chaincrm.errors import ChainError, ConfigError, TransactionError
from chaincrm.models import Deployment

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

GAS_MARGIN_NUMERATOR, GAS_MARGIN_DENOMINATOR = 6, 5  # limit = estimate x 6/5, as chaincrm.chain.sending
REPLACEMENT_BUMP = (9, 8)  # a replacement offers at least 12.5% more than the transaction it replaces
DEV_CHAIN_IDS = (31337, 1337)
"""Chain ids of local development chains (Anvil, Hardhat, Ganache): no question asked there."""
DEFAULT_RECEIPT_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class StepEstimate:
    index: int
    name: str
    contract: str
    address: str
    creates: bool
    gas: int | None  # None: the step could not be estimated (without a fork, it needs an earlier one)
    l1_fee_wei: int | None  # OP-stack chains only


@dataclass(frozen=True)
class Proposal:
    chain_id: int
    journal: Journal
    resumed: bool
    estimates: tuple[StepEstimate, ...]  # the steps still to send
    fees: FeeQuote
    op_stack: bool
    oracle: bool  # the GasPriceOracle predeploy answers (OP-stack chains)
    balance_wei: int

    @property
    def total_gas(self) -> int | None:
        gases = [estimate.gas for estimate in self.estimates]
        return None if None in gases else sum(gas for gas in gases if gas is not None)

    @property
    def l1_fee_wei(self) -> int:
        return sum(estimate.l1_fee_wei or 0 for estimate in self.estimates)

    @property
    def cost_wei(self) -> int | None:
        """Estimated: gas at base fee + tip, plus the L1 data fee."""
        total = self.total_gas
        return None if total is None else total * self.fees.needed + self.l1_fee_wei

    @property
    def max_cost_wei(self) -> int | None:
        """At most: every gas limit at maxFeePerGas, plus the L1 data fee."""
        total = self.total_gas
        return None if total is None else _limit(total) * self.fees.max_fee + self.l1_fee_wei

    @property
    def done(self) -> tuple[StepState, ...]:
        return tuple(step for step in self.journal.steps if step.status == MINED)


@dataclass(frozen=True)
class DeployResult:
    deployment: Deployment
    record: Path
    resumed: bool
    code_checked: bool
    tx_hashes: dict[str, str]


class DeployRun:
    """One deploy of the CRM to the chain behind `node`, signed by `signer`, recorded in `home`."""

    def __init__(
        self,
        node: Connection,
        rpc_url: str,
        home: Path,
        signer: LocalAccount,
        *,
        cap_wei: int | None = None,
        confirmations: int = 1,
        op_stack: bool = False,
        receipt_timeout: float = DEFAULT_RECEIPT_TIMEOUT_SECONDS,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.node = node
        self.rpc_url = rpc_url
        self.home = home
        self.signer = signer
        self.address = to_checksum_address(signer.address)
        self.cap_wei = cap_wei
        self.confirmations = max(1, confirmations)
        self.op_stack = op_stack
        self.receipt_timeout = receipt_timeout
        self.say = on_progress or (lambda _: None)

    # ------------------------------------------------------------------ propose

    def propose(self, settings: DeploySettings) -> Proposal:
        """Plan (or settle an unfinished deploy), estimate and price the steps still to send."""
        chain_id = self.node.chain_id
        journal = load_journal(journal_path(self.home, chain_id))
        resumed = journal is not None
        if journal is None:
            start = int(self.node.request("eth_getTransactionCount", [self.address, "pending"]), 16)
            journal = Journal.start(
                journal_path(self.home, chain_id), chain_id, self.address, plan(self.address, start, settings), settings
            )
        else:
            self._check_resumable(journal, settings)
            journal = self._settle(journal)
        steps = self._steps(journal)
        remaining = [i for i, step in enumerate(journal.steps) if step.status == PLANNED]
        if remaining:
            self._check_evm(chain_id)
        if remaining:
            self._check_next_nonce(journal, journal.steps[remaining[0]].nonce)
        fees = quote_fees(self.node, cap_wei=self.cap_wei)
        gases = estimate_steps(self.node, self.rpc_url, self.address, tuple(steps[i] for i in remaining))
        oracle = bool(remaining) and has_gas_price_oracle(self.node)
        estimates = []
        for i, gas in zip(remaining, gases, strict=True):
            step = steps[i]
            fee_l1 = None
            if oracle:
                tx = unsigned_eip1559(
                    chain_id=chain_id,
                    nonce=step.nonce,
                    gas=_limit(gas or 0),
                    fees=fees,
                    to=None if step.creates else step.address,
                    data=step.data,
                )
                fee_l1 = l1_fee(self.node, tx)
            estimates.append(StepEstimate(i, step.name, step.contract, step.address, step.creates, gas, fee_l1))
        proposal = Proposal(
            chain_id=chain_id,
            journal=journal,
            resumed=resumed,
            estimates=tuple(estimates),
            fees=fees,
            op_stack=self.op_stack or oracle,
            oracle=oracle,
            balance_wei=self.node.balance(self.address),
        )
        worst = proposal.max_cost_wei
        if worst is not None and worst > proposal.balance_wei:
            raise ConfigError(
                f"the deployer {self.address} holds {proposal.balance_wei / 10**18:.6f} ETH on chain {chain_id}; "
                f"the deploy may cost up to {worst / 10**18:.6f} ETH: fund it first (nothing was sent)"
            )
        return proposal

    def _steps(self, journal: Journal) -> tuple[Step, ...]:
        steps = plan(journal.deployer, journal.start_nonce, journal.settings)
        recorded = [(s.name, s.nonce, s.address) for s in journal.steps]
        if [(s.name, s.nonce, s.address) for s in steps] != recorded:
            raise ConfigError(
                f"the unfinished deploy in {journal.path} was planned with other contracts than these: "
                "remove it to start afresh"
            )
        return steps

    def _check_resumable(self, journal: Journal, settings: DeploySettings) -> None:
        if journal.deployer != self.address:
            raise ConfigError(
                f"the unfinished deploy in {journal.path} is from {journal.deployer}, not {self.address}: "
                "sign with that keystore to resume it, or remove the file to start afresh"
            )
        if journal.settings != settings:
            differ = [key for key, value in journal.settings.as_dict().items() if settings.as_dict()[key] != value]
            raise ConfigError(
                f"the unfinished deploy in {journal.path} used other settings ({', '.join(differ)}): rerun with "
                "the same options to resume it, or remove the file to start afresh"
            )

    def _settle(self, journal: Journal) -> Journal:
        """Bring each step the journal says was sent up to date with the chain: mined (its receipt
        is there), or sent again (its signed bytes, the same transaction), then waited for."""
        for i, step in enumerate(journal.steps):
            if step.status == PLANNED:
                break
            assert step.tx_hash is not None
            receipt = self._receipt(step.tx_hash)
            if receipt is None and self._nonce("latest") > step.nonce:
                journal = self._landed_without_receipt(journal, i)
                continue
            if receipt is None:
                self.say(f"{_what(step)}: tx {step.tx_hash} is not on the chain; sending it again")
                journal = self._resend(journal, i)
                receipt = self._wait_receipt(journal, i)
            journal = self._mined(journal, i, receipt)
        return journal

    def _nonce(self, block: str) -> int:
        return int(self.node.request("eth_getTransactionCount", [self.address, block]), 16)

    def _landed_without_receipt(self, journal: Journal, index: int) -> Journal:
        """The step's nonce is used but the node knows no receipt for its transaction (a node
        restarted from saved state keeps the state, not always the receipts): it counts as done
        when its effect is on the chain (the contract's code, or the address the call set)."""
        step = journal.steps[index]
        steps = self._steps(journal)
        if not self._landed(steps[index]):
            raise ChainError(
                f"{_what(step)}: its nonce {step.nonce} was used by another transaction of {journal.deployer} "
                f"and its effect is not on the chain; deployed so far: {journal.summary()} (journal {journal.path})"
            )
        block = step.block_number if step.block_number is not None else self.node.block_number()
        return journal.with_step(index, status=MINED, block_number=block)

    def _landed(self, step: Step) -> bool:
        if step.creates:
            return bool(self.node.codes([step.address])[0])
        getter = {"setLoyaltyProgram": "loyaltyProgram()", "setBranchDirectory": "branchDirectory()"}[step.name]
        call = {"to": step.address, "data": "0x" + keccak(text=getter)[:4].hex()}
        answer = str(self.node.request("eth_call", [call, "latest"]))
        return len(answer) >= 66 and to_checksum_address("0x" + answer[-40:]) == to_checksum_address(step.args[0])

    def _check_evm(self, chain_id: int) -> None:
        """The chain runs the opcodes the contracts use (PUSH0, TLOAD/TSTORE, MCOPY): else nothing is sent."""
        probe = {"from": self.address, "data": "0x" + CANCUN_PROBE.hex()}
        try:
            self.node.request("eth_call", [probe, "latest"])
        except ChainError as exc:
            if "not reachable" in str(exc):
                raise
            raise ConfigError(
                f"chain {chain_id} does not run the opcodes the contracts use (PUSH0 from Shanghai; TLOAD, TSTORE "
                f"and MCOPY from Cancun): {str(exc).split(': ', 1)[-1]}; nothing was sent"
            ) from None

    def _check_next_nonce(self, journal: Journal, nonce: int) -> None:
        pending = self._nonce("pending")
        if pending != nonce:
            raise ChainError(
                f"the deployer {self.address} is at nonce {pending} on chain {journal.chain_id}, the deploy's next "
                f"step needs nonce {nonce}: another transaction used the deployer, so the planned addresses no "
                f"longer hold; deployed so far: {journal.summary()} (journal {journal.path})"
            )

    # ------------------------------------------------------------------ execute

    def execute(self, proposal: Proposal) -> DeployResult:
        """Send the remaining steps, wait for the confirmations, check the code, write the record.
        The chain going away midway says what the journal (always up to date on disk) holds."""
        try:
            return self._execute(proposal)
        except ChainError as exc:
            saved = load_journal(proposal.journal.path)
            if "is not reachable (" not in str(exc) or saved is None:
                raise
            raise self._unreachable(saved) from None

    def _execute(self, proposal: Proposal) -> DeployResult:
        journal = proposal.journal
        if not proposal.resumed:
            journal.save()
        steps = self._steps(journal)
        gases = {estimate.index: estimate.gas for estimate in proposal.estimates}
        for i in sorted(gases):
            step = steps[i]
            fees = quote_fees(self.node, cap_wei=self.cap_wei)
            live = int(self.node.request("eth_estimateGas", [_call_params(self.address, step)]), 16)
            gas = max(live, gases[i] or 0)  # now, on the state the earlier steps left
            journal = self._send(journal, i, step, gas=_limit(gas), fees=fees)
            receipt = self._wait_receipt(journal, i)
            journal = self._mined(journal, i, receipt)
            self.say(f"{_what(journal.steps[i])}: mined in block {journal.steps[i].block_number}")
        journal = self._confirm(journal)
        code_checked = self._check_code(journal, steps)
        # The record starts at the first step's block (the registry's constructor emits events too),
        # so that reading from the record's block misses nothing even where the node keeps no
        # history to find the contracts' first blocks (Anvil restarted from --state).
        first_block = min(s.block_number for s in journal.steps if s.block_number is not None)
        deployment = record_of(journal.chain_id, journal.deployer, steps, journal.settings, first_block, self.node)
        record = record_path(self.home, journal.chain_id)
        save_record(deployment, record, force=True)
        journal.remove()
        hashes = {s.name: s.tx_hash for s in journal.steps if s.tx_hash}
        return DeployResult(deployment, record, proposal.resumed, code_checked, hashes)

    def _send(self, journal: Journal, index: int, step: Step, *, gas: int, fees: FeeQuote) -> Journal:
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": journal.chain_id,
            "nonce": step.nonce,
            "gas": gas,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.priority_fee,
            "value": 0,
            "data": step.data,
        }
        if not step.creates:
            tx["to"] = step.address
        signed = self.signer.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        raw = "0x" + bytes(signed.raw_transaction).hex()
        journal = journal.with_step(index, status=SENT, tx_hash=tx_hash, raw=raw)  # before it leaves
        try:
            self.node.request("eth_sendRawTransaction", [raw])
        except ChainError as exc:
            if "not reachable" in str(exc):
                raise self._unreachable(journal) from None
            if "already known" not in str(exc).lower():
                journal = journal.with_step(index, status=PLANNED, tx_hash=None, raw=None)
                raise TransactionError(f"{exc}; deployed so far: {journal.summary()}") from None
        return journal

    def _resend(self, journal: Journal, index: int) -> Journal:
        """Broadcast a step's signed transaction again; re-sign it (same nonce, current fees, at least
        12.5% more than before) when the node no longer takes it as it was."""
        step = journal.steps[index]
        assert step.raw is not None
        try:
            self.node.request("eth_sendRawTransaction", [step.raw])
            return journal
        except ChainError as exc:
            message = str(exc).lower()
            if "not reachable" in message:
                raise self._unreachable(journal) from None
            if "already known" in message:
                return journal
            if "nonce too low" in message:
                raise ChainError(
                    f"{_what(step)}: its nonce {step.nonce} was used by another transaction of {journal.deployer} "
                    f"and tx {step.tx_hash} is not on the chain; deployed so far: {journal.summary()}"
                ) from None
        old = _decoded_fees(step.raw)
        fees = quote_fees(self.node, cap_wei=self.cap_wei)
        bump = replace(
            fees,
            max_fee=max(fees.max_fee, old[0] * REPLACEMENT_BUMP[0] // REPLACEMENT_BUMP[1] + 1),
            priority_fee=max(fees.priority_fee, old[1] * REPLACEMENT_BUMP[0] // REPLACEMENT_BUMP[1] + 1),
        )
        if self.cap_wei is not None and bump.max_fee > self.cap_wei:
            raise ConfigError(
                f"re-sending {_what(step)} needs a max fee of {bump.max_fee} wei, above --max-fee: nothing was sent"
            )
        steps = self._steps(journal)
        return self._send(journal, index, steps[index], gas=old[2], fees=bump)

    def _mined(self, journal: Journal, index: int, receipt: dict[str, Any]) -> Journal:
        step = journal.steps[index]
        if int(receipt["status"], 16) != 1:
            raise TransactionError(
                f"{_what(step)} failed on-chain (tx {step.tx_hash}); the later steps' addresses no longer hold, "
                f"remove {journal.path} and deploy afresh; deployed so far: {journal.summary()}"
            )
        if step.creates and to_checksum_address(receipt.get("contractAddress") or "0x" + "00" * 20) != step.address:
            raise ChainError(f"{step.name} landed at {receipt.get('contractAddress')}, not at {step.address}")
        return journal.with_step(index, status=MINED, block_number=int(receipt["blockNumber"], 16))

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            receipt: dict[str, Any] | None = self.node.request("eth_getTransactionReceipt", [tx_hash])
        except ChainError as exc:
            if "not reachable" in str(exc):
                journal = load_journal(journal_path(self.home, self.node.chain_id))
                if journal is not None:
                    raise self._unreachable(journal) from None
            raise
        return receipt

    def _wait_receipt(self, journal: Journal, index: int) -> dict[str, Any]:
        step = journal.steps[index]
        assert step.tx_hash is not None
        deadline = time.monotonic() + self.receipt_timeout
        pause = 0.02
        while True:
            receipt = self._receipt(step.tx_hash)
            if receipt is not None and receipt.get("blockNumber"):
                return receipt
            if time.monotonic() > deadline:
                raise ChainError(
                    f"{_what(step)}: tx {step.tx_hash} not mined within {self.receipt_timeout:g} s; rerun "
                    f"`chaincrm deploy` with the same options to resume (journal {journal.path})"
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _confirm(self, journal: Journal) -> Journal:
        """Wait until the last step has the confirmations, then read every receipt again (a
        reorganisation that dropped one shows here)."""
        last = max(step.block_number or 0 for step in journal.steps)
        target = last + self.confirmations - 1
        deadline = time.monotonic() + self.receipt_timeout
        if self.confirmations > 1:
            self.say(f"waiting for {self.confirmations} confirmations (block {target})")
        while self.node.block_number() < target:
            if time.monotonic() > deadline:
                raise ChainError(
                    f"the deploy did not reach {self.confirmations} confirmations within {self.receipt_timeout:g} s; "
                    f"rerun `chaincrm deploy` to resume (journal {journal.path})"
                )
            time.sleep(1.0)
        for i, step in enumerate(journal.steps):
            assert step.tx_hash is not None
            receipt = self._receipt(step.tx_hash)
            if receipt is None and self._nonce("latest") > step.nonce and self._landed(self._steps(journal)[i]):
                continue  # on the chain, its receipt not kept (see _landed_without_receipt)
            if receipt is None:
                raise ChainError(
                    f"{_what(step)}: tx {step.tx_hash} left the chain (a reorganisation); rerun `chaincrm deploy` "
                    f"to resume (journal {journal.path})"
                )
            journal = self._mined(journal, i, receipt)
        return journal

    def _check_code(self, journal: Journal, steps: tuple[Step, ...]) -> bool:
        """The code at each created address is the compiled runtime code (immutables masked); False
        when the artifacts carry no runtime code to compare with."""
        created = [step for step in steps if step.creates]
        expected = [_runtime_code(step.contract) for step in created]
        if not all(expected):
            self.say("the code was not checked: the contract artifacts carry no deployedBytecode")
            return False
        codes = self.node.codes([step.address for step in created])
        for step, want, got in zip(created, expected, codes, strict=True):
            if not matches_runtime(want, got):
                raise ChainError(
                    f"the code at {step.address} is not the compiled {step.contract} runtime code "
                    f"({len(got)} bytes, expected {len(want)}): the deployment record was not written "
                    f"(journal {journal.path})"
                )
        return True

    def _unreachable(self, journal: Journal) -> ChainError:
        return unreachable(self.node.endpoint, journal)


def unreachable(endpoint: str, journal: Journal) -> ChainError:
    """The chain went away mid-deploy: say exactly what the journal knows was deployed."""
    return ChainError(
        f"the chain at {endpoint} is not reachable; the unfinished deploy on chain {journal.chain_id} "
        f"(journal {journal.path}): {journal.summary()}; rerun `chaincrm deploy` with the same options to resume"
    )


def unfinished_deploys(home: Path) -> list[Journal]:
    """Every unfinished deploy a home holds (for when the chain cannot say which one is its)."""
    folder = home / "deployments"
    journals = [load_journal(path) for path in sorted(folder.glob("*.partial.json"))] if folder.is_dir() else []
    return [journal for journal in journals if journal is not None]


def is_dev_chain(chain_id: int) -> bool:
    return chain_id in DEV_CHAIN_IDS


def _limit(gas: int) -> int:
    return gas * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR


def _what(step: StepState | Step) -> str:
    return f"deploying {step.name}" if step.creates else f"{step.contract}.{step.name}"


def _call_params(deployer: str, step: Step) -> dict[str, str]:
    params = {"from": deployer, "data": "0x" + step.data.hex()}
    if not step.creates:
        params["to"] = step.address
    return params


def _decoded_fees(raw: str) -> tuple[int, int, int]:
    """(maxFeePerGas, maxPriorityFeePerGas, gas) of a signed EIP-1559 transaction."""
    import rlp

    fields = rlp.decode(bytes.fromhex(raw[2:])[1:])
    return int.from_bytes(fields[3], "big"), int.from_bytes(fields[2], "big"), int.from_bytes(fields[4], "big")


def _runtime_code(name: str) -> bytes:
    """The artifact's runtime code; from Brownie's build in a checkout when the exported one lacks it."""
    code = load_artifact(name).deployed_bytecode
    build = checkout_build_dir()
    if not code and build is not None and (build / f"{name}.json").is_file():
        data = read_json(build / f"{name}.json", what="build artifact", missing="")
        code = data.get("deployedBytecode", "") if data.get("bytecode") == load_artifact(name).bytecode else ""
    return bytes.fromhex(code.removeprefix("0x"))


__all__ = [
    "DEV_CHAIN_IDS",
    "DeployResult",
    "DeployRun",
    "Proposal",
    "StepEstimate",
    "is_dev_chain",
    "unfinished_deploys",
    "unreachable",
]
