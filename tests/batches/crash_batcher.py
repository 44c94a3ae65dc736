"""A batcher process the tests kill: `python -m tests.batches.crash_batcher CONFIG`.

It flushes the queue CONFIG names and kills itself with SIGKILL (no clean-up of any kind) right
after the `crash_at`-th time a batch reaches the step `crash_at_step` ("formed", "stored",
"signed", "broadcast", "anchored"), or exits 0 when it never gets there.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from eth_account import Account

from chaincrm.batches import Batch, Batcher, InteractionQueue, QueueScope
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import load_record
from chaincrm.storage import KuboStore


def main(config_file: str) -> None:
    spec = json.loads(Path(config_file).read_text())
    agent = Account.from_key(bytes.fromhex(spec["key"]))
    crm = Crm.attach(connect(spec["rpc_url"]), load_record(Path(spec["deployment"])))
    scope = QueueScope(crm.chain.chain_id, crm.registry.address, agent.address)
    seen = 0

    def maybe_die(step: str, batch: Batch) -> None:
        nonlocal seen
        if step == spec["crash_at_step"]:
            seen += 1
            if seen == spec["crash_at"]:
                os.kill(os.getpid(), signal.SIGKILL)

    with InteractionQueue(Path(spec["queue"]), scope) as queue, KuboStore(spec["ipfs_api"]) as store:
        batcher = Batcher(
            queue, crm.registry, store, agent, every=spec["every"], from_block=crm.deployment.block_number,
            on_step=maybe_die,
        )  # fmt: skip
        batcher.flush()


if __name__ == "__main__":
    main(sys.argv[1])
