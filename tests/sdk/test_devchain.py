"""The local chain process: started, reachable, stopped, and a busy port reported at once."""

from __future__ import annotations

import os
import socket

import pytest
import requests

from chaincrm.devchain import AnvilOptions, anvil, free_port, start_anvil
from chaincrm.errors import NodeError


def test_anvil_is_stopped_when_its_block_ends() -> None:
    with anvil() as node:
        pid = node.pid
        assert requests.post(
            node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=5
        ).ok

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_anvil_is_stopped_when_its_block_fails() -> None:
    with pytest.raises(RuntimeError), anvil() as node:
        pid = node.pid
        raise RuntimeError("boom")

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_port_in_use_is_a_node_error_not_a_hang() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        with pytest.raises(NodeError) as raised:
            start_anvil(AnvilOptions(port=port))

    assert f"port {port} is already in use" in str(raised.value)


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
