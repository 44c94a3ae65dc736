// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title MerkleReference
/// @notice Testing only: the reference for an on-chain proof check, OpenZeppelin's MerkleProof
/// against a root kept in storage, as a Merkle airdrop checks a claim. `chaincrm bench gas`
/// measures it beside `verifyInteraction`.
contract MerkleReference {
    bytes32 public root;

    constructor(bytes32 root_) {
        root = root_;
    }

    function check(bytes32[] calldata proof, bytes32 leaf) external view returns (bool) {
        return MerkleProof.verify(proof, root, leaf);
    }
}
