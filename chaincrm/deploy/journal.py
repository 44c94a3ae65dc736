"""The journal of an unfinished deploy: ``<home>/deployments/<chainid>.partial.json``.

Written before anything is sent and after every change: for each step of the plan its nonce, the
address it creates or calls, and, once signed, the transaction's hash and raw bytes (written before
the transaction is broadcast, so a process killed between the two leaves nothing unknown), then the
block it was mined in. A rerun resumes from it after checking the chain; with the chain unreachable
it says exactly what was deployed. It is deleted when the deployment record is written. The RPC URL
is not kept (it may hold an API key); nor is anything secret (raw transactions are public once sent).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from chaincrm.deploy.plan import DeploySettings, Step
from chaincrm.errors import ConfigError

FORMAT = "chaincrm-deploy-journal/1"
PLANNED, SENT, MINED = "planned", "sent", "mined"


@dataclass(frozen=True)
class StepState:
    name: str
    contract: str
    nonce: int
    address: str
    status: str = PLANNED  # planned: not signed; sent: signed (maybe broadcast); mined: receipt seen
    tx_hash: str | None = None
    raw: str | None = None
    block_number: int | None = None

    @property
    def creates(self) -> bool:
        return self.name == self.contract

    def describe(self) -> str:
        what = f"{self.name} at {self.address}" if self.creates else f"{self.contract}.{self.name}"
        if self.status == MINED:
            return f"{what}: mined in block {self.block_number} (tx {self.tx_hash})"
        if self.status == SENT:
            return f"{what}: sent (tx {self.tx_hash}), not seen mined"
        return f"{what}: not sent"


@dataclass(frozen=True)
class Journal:
    path: Path
    chain_id: int
    deployer: str
    start_nonce: int
    settings: DeploySettings
    steps: tuple[StepState, ...]

    @classmethod
    def start(
        cls, path: Path, chain_id: int, deployer: str, steps: tuple[Step, ...], settings: DeploySettings
    ) -> Journal:
        states = tuple(StepState(s.name, s.contract, s.nonce, s.address) for s in steps)
        return cls(path, chain_id, to_checksum_address(deployer), steps[0].nonce, settings, states)

    @property
    def done(self) -> bool:
        return all(step.status == MINED for step in self.steps)

    def with_step(self, index: int, **changes: Any) -> Journal:
        """A copy with step `index` changed, written to disk first."""
        steps = list(self.steps)
        steps[index] = replace(steps[index], **changes)
        journal = replace(self, steps=tuple(steps))
        journal.save()
        return journal

    def save(self) -> None:
        data = {
            "format": FORMAT,
            "chain_id": self.chain_id,
            "deployer": self.deployer,
            "start_nonce": self.start_nonce,
            "settings": self.settings.as_dict(),
            "steps": [asdict(step) for step in self.steps],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = _scratch(self.path)  # one fixed name: a write cut short leaves at most this file
        with scratch.open("w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, self.path)

    def summary(self) -> str:
        """What the journal says was deployed, step by step, on one line."""
        return "; ".join(step.describe() for step in self.steps)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        _scratch(self.path).unlink(missing_ok=True)


def journal_path(home: Path, chain_id: int) -> Path:
    return home / "deployments" / f"{chain_id}.partial.json"


def _scratch(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def load_journal(path: Path) -> Journal | None:
    """The unfinished deploy recorded at `path`, or None when there is none."""
    _scratch(path).unlink(missing_ok=True)  # a write cut short: the journal itself is whole
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"the unfinished-deploy journal {path} cannot be read ({exc}): remove it to start afresh"
        ) from None
    try:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        return Journal(
            path=path,
            chain_id=int(data["chain_id"]),
            deployer=to_checksum_address(data["deployer"]),
            start_nonce=int(data["start_nonce"]),
            settings=DeploySettings(**data["settings"]),
            steps=tuple(StepState(**step) for step in data["steps"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"the unfinished-deploy journal {path} is malformed ({exc}): remove it to start afresh"
        ) from None


__all__ = ["FORMAT", "MINED", "PLANNED", "SENT", "Journal", "StepState", "journal_path", "load_journal"]
