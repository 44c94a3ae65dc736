"""What each writer meant to log: one JSON line per record, written (and flushed to disk) before the
record is sent or queued, so the checker knows every record that should be on-chain whatever
happened to the writer afterwards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SINGLE = "single"
BATCH = "batch"
MODES = (SINGLE, BATCH)


@dataclass(frozen=True)
class Intent:
    """One record a writer means to log: its identity, what it says, and its document's digest."""

    record_id: bytes
    writer: str
    mode: str
    customer_id: int
    kind: int
    outcome: int
    content_hash: bytes
    """The sha2-256 digest of its encrypted document's CIDv0: what the chain records."""

    def to_json(self) -> dict[str, object]:
        return {
            "recordId": "0x" + self.record_id.hex(),
            "writer": self.writer,
            "mode": self.mode,
            "customerId": self.customer_id,
            "kind": self.kind,
            "outcome": self.outcome,
            "contentHash": "0x" + self.content_hash.hex(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> Intent:
        return cls(
            record_id=bytes.fromhex(str(raw["recordId"])[2:]),
            writer=str(raw["writer"]),
            mode=str(raw["mode"]),
            customer_id=int(str(raw["customerId"])),
            kind=int(str(raw["kind"])),
            outcome=int(str(raw["outcome"])),
            content_hash=bytes.fromhex(str(raw["contentHash"])[2:]),
        )


class IntentLog:
    """A writer's append-only file of intents."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def append(self, intent: Intent) -> None:
        self.extend([intent])

    def extend(self, intents: Iterable[Intent]) -> None:
        """Write the intents and flush them to disk (one fsync) before any of them is sent."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write("".join(json.dumps(intent.to_json()) + "\n" for intent in intents))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_intents(folder: Path) -> list[Intent]:
    """Every intent in the `*.intents.jsonl` files of `folder` (a torn last line is skipped: its
    record was never sent)."""
    return [intent for path in sorted(folder.glob("*.intents.jsonl")) for intent in _read(path)]


def _read(path: Path) -> Iterator[Intent]:
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield Intent.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue


__all__ = ["BATCH", "MODES", "SINGLE", "Intent", "IntentLog", "read_intents"]
