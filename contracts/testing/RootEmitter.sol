// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title RootEmitter
/// @notice Testing only: the floor of anchoring a batch, one event carrying one root and nothing
/// else (no role check, no storage). `chaincrm bench gas` measures it beside `anchorInteractions`.
contract RootEmitter {
    event Root(bytes32 root);

    function emitRoot(bytes32 root) external {
        emit Root(root);
    }
}
