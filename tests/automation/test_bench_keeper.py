"""`chaincrm bench keeper` at a small size, through its command: its own Anvil, IPFS node and SMTP
server, 50 invoices over 5 customers, two keeper passes. Timings are reported, never asserted."""

from __future__ import annotations

import functools
from pathlib import Path

from chaincrm_tools.bench import keeper as keeper_bench
from chaincrm_tools.bench.keeper_cli import keeper_bench_command
from tests.tools.bench_command import run_bench_command

INVOICES = 50
CUSTOMERS = 5


def test_bench_keeper_records_and_mails_every_reminder_and_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "keeper.json"
    small = functools.partial(keeper_bench.run_keeper_bench, customers=CUSTOMERS)
    figures, output = run_bench_command(
        keeper_bench_command, keeper_bench, "run_keeper_bench", small, {"--invoices": INVOICES}, out, tmp_path / "home"
    )
    first, second = figures["first_pass"], figures["second_pass_traced"]
    assert (first["reminders_recorded"], first["batches"], first["emails_sent"]) == (INVOICES, 1, INVOICES)
    assert first["reminders_per_second"] > 0 and first["emails_per_second"] > 0
    assert (second["reminders_recorded"], second["emails_sent"]) == (INVOICES, INVOICES)
    assert second["peak_traced_mib"] > 0 and figures["process_peak_rss_mib"] > 0
    assert figures["smtp_messages_accepted"] == 2 * INVOICES
    assert figures["world"]["invoices"] == INVOICES
    assert "reminders decided and recorded at" in output
