"""Local service processes: Anvil started, reachable and stopped; the supervisor under them."""

from __future__ import annotations

import contextlib
import socket
import sys
import time

import psutil
import pytest
import requests

from chaincrm.errors import NodeError
from chaincrm.services import supervisor
from chaincrm.services.anvil import AnvilOptions, anvil, free_port, start_anvil

SLEEP_SECONDS = 60


def _chain_id_answers(url: str) -> bool:
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    return requests.post(url, json=call, timeout=5).ok


# --- Anvil ------------------------------------------------------------------------------------


def test_anvil_is_stopped_when_its_block_ends() -> None:
    with anvil() as node:
        pid = node.pid
        answered = _chain_id_answers(node.url)

    assert answered
    assert not psutil.pid_exists(pid)


def test_anvil_is_stopped_when_its_block_fails() -> None:
    with pytest.raises(RuntimeError), anvil() as node:
        pid = node.pid
        raise RuntimeError("boom")

    assert not psutil.pid_exists(pid)


def test_a_port_in_use_is_a_node_error_not_a_hang() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        with pytest.raises(NodeError) as raised:
            start_anvil(AnvilOptions(port=port))

    assert f"port {port} on 127.0.0.1 is already in use" in str(raised.value)


def test_state_persists_across_a_restart(tmp_path) -> None:
    state = tmp_path / "anvil.json"
    options = AnvilOptions(port=free_port(), state_file=state)
    call = {"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []}
    with anvil(options) as node:
        for _ in range(3):
            requests.post(node.url, json=call, timeout=5)

    with anvil(options) as node:
        reply = requests.post(
            node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}, timeout=5
        )

    assert int(reply.json()["result"], 16) == 3


# --- The supervisor ---------------------------------------------------------------------------


def _python(code: str, *, detach: bool) -> psutil.Process:
    """A Python child running ``code``, once it runs it (before exec it shows our command line)."""
    process = psutil.Process(supervisor.spawn([sys.executable, "-c", code], detach=detach).pid)
    deadline = time.monotonic() + 10
    with contextlib.suppress(psutil.Error):  # a child that has already finished
        while code not in process.cmdline() and time.monotonic() < deadline:
            time.sleep(0.01)
    return process


def _wait_for_children(parent: psutil.Process, count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 10
    while len(parent.children()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return parent.children()


def test_stopping_a_detached_service_stops_what_it_left_behind() -> None:
    # A wrapper that starts a worker and exits at once on SIGTERM, as npm's anvil wrapper does.
    wrapper = _python(
        "import signal, subprocess, sys, os\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep({SLEEP_SECONDS})'])\n"
        "signal.signal(signal.SIGTERM, lambda *_: os._exit(0))\n"
        f"signal.pause()\n",
        detach=True,
    )
    (worker,) = _wait_for_children(wrapper, 1)

    stopped = supervisor.stop(wrapper.pid, timeout_seconds=2)

    assert stopped
    assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    stubborn = _python(
        f"import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep({SLEEP_SECONDS})",
        detach=False,
    )
    time.sleep(0.5)  # let it install its handler

    started = time.monotonic()
    stopped = supervisor.stop(stubborn.pid, timeout_seconds=0.5)

    assert stopped and not stubborn.is_running()
    assert time.monotonic() - started < SLEEP_SECONDS / 2


def test_stopping_a_process_that_is_gone_reports_nothing_to_stop() -> None:
    done = _python("pass", detach=False)
    done.wait(10)

    assert supervisor.stop(done.pid) is False


def test_a_process_without_the_marker_is_not_ours() -> None:
    sleeper = _python(f"import time; time.sleep({SLEEP_SECONDS})", detach=False)
    try:
        found_with_marker = supervisor.find(sleeper.pid, ("time.sleep",))
        found_without = supervisor.find(sleeper.pid, ("anvil",))
        found_other_start = supervisor.find(sleeper.pid, ("time.sleep",), created=sleeper.create_time() - 3600)
    finally:
        supervisor.stop(sleeper.pid)

    assert found_with_marker is not None and found_with_marker.pid == sleeper.pid
    assert found_without is None and found_other_start is None
