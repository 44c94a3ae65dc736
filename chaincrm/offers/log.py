"""The local log of offers issued: one JSON line per offer that `chaincrm offer issue` signed.

An offer is an off-chain signature: the chain learns of it only when the customer accepts it
(``OfferAccepted``) or its issuer cancels it (``OfferCancelled``). So "offers sent" is counted
from this log, kept by default next to the deployment record (``<home>/offers-issued.jsonl``).
A line holds the offer's terms, digest, issuer and the rule it came from; no personal data (the
customer is their id) and no signature (the log is not a way to hand offers out again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaincrm.contracts.offers import Offer
from chaincrm.errors import ConfigError

LOG_FILE = "offers-issued.jsonl"


@dataclass(frozen=True)
class IssuedOffer:
    digest: bytes
    chain_id: int
    pipeline: str
    customer_id: int
    discount_bps: int
    expiry: int
    max_uses: int
    nonce: int
    issuer: str
    issued_at: int  # wall-clock Unix seconds at signing
    rule: str | None = None


def default_log(home: Path) -> Path:
    return home / LOG_FILE


def append_issued(path: Path, offer: Offer, *, rule: str | None = None, issued_at: int | None = None) -> IssuedOffer:
    entry = IssuedOffer(
        digest=offer.digest,
        chain_id=offer.chain_id,
        pipeline=offer.pipeline,
        customer_id=offer.customer_id,
        discount_bps=offer.discount_bps,
        expiry=offer.expiry,
        max_uses=offer.max_uses,
        nonce=offer.nonce,
        issuer=offer.issuer,
        issued_at=int(time.time()) if issued_at is None else issued_at,
        rule=rule,
    )
    line = {
        **entry.__dict__,
        "digest": "0x" + entry.digest.hex(),
        "nonce": str(entry.nonce),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, sort_keys=True) + "\n")
    return entry


def read_issued(path: Path, *, chain_id: int | None = None, pipeline: str | None = None) -> list[IssuedOffer]:
    """Every offer in the log (none when there is no log), of one deployment when given."""
    return [
        entry
        for entry in _entries(path)
        if (chain_id is None or entry.chain_id == chain_id)
        and (pipeline is None or entry.pipeline.lower() == pipeline.lower())
    ]


def _entries(path: Path) -> Iterator[IssuedOffer]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            yield IssuedOffer(
                digest=bytes.fromhex(fields["digest"].removeprefix("0x")),
                chain_id=int(fields["chain_id"]),
                pipeline=str(fields["pipeline"]),
                customer_id=int(fields["customer_id"]),
                discount_bps=int(fields["discount_bps"]),
                expiry=int(fields["expiry"]),
                max_uses=int(fields["max_uses"]),
                nonce=int(fields["nonce"]),
                issuer=str(fields["issuer"]),
                issued_at=int(fields["issued_at"]),
                rule=fields.get("rule"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"issued-offers log {path} line {number}: not an offer entry") from None


__all__ = ["LOG_FILE", "IssuedOffer", "append_issued", "default_log", "read_issued"]
