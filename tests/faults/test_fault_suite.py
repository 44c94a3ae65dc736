"""The fault suite, short version: ten writer processes (eight keys, plus two processes sharing one
key through the nonce journal) log a few hundred interaction records while Anvil mines 1-second
blocks and is killed between two state dumps, the IPFS node is killed mid-upload, the Merkle
queue's process is killed with SIGKILL, and pending transactions are dropped from the mempool.
The full version is `chaincrm bench faults`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from chaincrm_tools.faults.harness import FAILED_WRITE_BYTES, FaultOptions, FaultReport, run_fault_suite

SHORT = FaultOptions(records=250, pace_seconds=20.0, group=5)
"""Log calls paced over 20 s so that every fault strikes while records are still being logged."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultReport, Path]]:
    folder = tmp_path_factory.mktemp("faults")
    yield run_fault_suite(SHORT, folder), folder


def test_every_record_is_on_chain_exactly_once(run: tuple[FaultReport, Path]) -> None:
    report, _ = run

    verdict = report.verdict

    assert verdict.intended == SHORT.records
    assert verdict.lost == ()
    assert verdict.duplicated == 0 and verdict.unexpected == 0
    assert verdict.once == SHORT.records
    assert verdict.intended_single > 0 and verdict.intended_batched > 0


def test_every_anchored_batch_matches_its_root_and_no_root_is_anchored_twice(run: tuple[FaultReport, Path]) -> None:
    report, _ = run

    assert report.verdict.batches > 0
    assert report.verdict.batch_problems == ()
    assert report.verdict.roots_anchored_twice == 0
    assert report.verdict.wrong_content == ()


def test_every_document_can_be_fetched(run: tuple[FaultReport, Path]) -> None:
    report, _ = run

    assert report.verdict.documents_checked >= SHORT.records
    assert report.verdict.unfetchable == ()


def test_no_document_is_pinned_that_nothing_on_chain_points_to(run: tuple[FaultReport, Path]) -> None:
    report, _ = run

    assert report.verdict.orphan_pins_after_sweep == 0
    assert report.verdict.referenced_not_pinned == 0


def test_the_documents_of_failed_writes_are_swept(run: tuple[FaultReport, Path]) -> None:
    report, _ = run

    assert report.verdict.orphans_swept >= len(FAILED_WRITE_BYTES)


def test_the_index_kept_during_the_run_equals_a_fresh_rebuild(run: tuple[FaultReport, Path]) -> None:
    report, _ = run

    assert report.verdict.index_equal is True, report.verdict.index_difference


def test_every_fault_struck(run: tuple[FaultReport, Path]) -> None:
    report, _ = run

    faults = report.faults

    assert faults["anvil_kills"] == 1 and faults["anvil_blocks_lost"] >= 1
    assert faults["ipfs_kills"] == 1
    assert faults["queue_process_kills"] == 1
    assert faults["transactions_dropped"] >= 1


def test_no_process_of_the_run_is_left_running(run: tuple[FaultReport, Path]) -> None:
    _, folder = run

    left = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if str(folder) in command:
            left.append(f"{process.info['pid']}: {command}")

    assert left == []
