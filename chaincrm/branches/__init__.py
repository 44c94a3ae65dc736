"""Branch nodes: each branch's IPFS node in the organisation's private swarm, and replication.

===============  ============================================================================
``swarm``        swarm keys, starting a branch node, joining branch peers, listing peers
``replication``  pinning every document the chain still points to, from whichever branch has it
===============  ============================================================================

The node side (the settings file, Kubo's configuration, the RPC commands) lives in
:mod:`chaincrm.storage.node`; the chain the branches share is described in docs/consortium/.
Names are imported on first use (replication loads SQLAlchemy; `chaincrm node status` must not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaincrm._lazy import lazy_getattr

if TYPE_CHECKING:
    from chaincrm.branches.replication import DocumentPlan, ReplicationPass, documents_on_chain, replicate
    from chaincrm.branches.swarm import (
        BranchNodeClient,
        JoinResult,
        PeerState,
        configure_branch,
        create_swarm_key,
        join_peers,
        list_peers,
        redial_listed_peers,
        start_branch_node,
    )

__all__ = [
    "BranchNodeClient",
    "DocumentPlan",
    "JoinResult",
    "PeerState",
    "ReplicationPass",
    "configure_branch",
    "create_swarm_key",
    "documents_on_chain",
    "join_peers",
    "list_peers",
    "redial_listed_peers",
    "replicate",
    "start_branch_node",
]

__getattr__ = lazy_getattr(
    __name__,
    {
        **dict.fromkeys(("DocumentPlan", "ReplicationPass", "documents_on_chain", "replicate"), "replication"),
        **dict.fromkeys(
            (
                "BranchNodeClient",
                "JoinResult",
                "PeerState",
                "configure_branch",
                "create_swarm_key",
                "join_peers",
                "list_peers",
                "redial_listed_peers",
                "start_branch_node",
            ),
            "swarm",
        ),
    },
)
