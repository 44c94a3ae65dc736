// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Interaction log: a tamper-evident trace of every contact with a customer
/// @notice Only the hash of an interaction's content is recorded, with its kind, outcome, author
/// and time; the content itself stays off-chain. Records live in events, not storage: nobody
/// reads them on-chain, and an event costs a fraction of a storage write.
interface IInteractionLog {
    /// @notice One interaction logged in its own transaction.
    event InteractionLogged(
        uint256 indexed customerId, address indexed author, bytes32 contentHash, uint8 kind, uint8 outcome, uint64 at
    );

    /// @notice Many interactions logged in one transaction by `author` at `at`.
    /// @param records The packed records exactly as sent (see `logInteractions`).
    event InteractionsLogged(address indexed author, uint64 at, bytes records);

    error InteractionKindInvalid(uint8 kind);
    error ContentHashMissing();
    error InteractionBatchMalformed(uint256 length);
    error InteractionBatchTooLarge(uint256 count, uint256 max);

    /// @notice Log one interaction. Agents only; the customer must be active.
    /// @param kind Channel code, non-zero (1 call, 2 e-mail, 3 meeting, ...: see the SDK).
    /// @param outcome Result code (0 none, 1 positive, ...: see the SDK).
    function logInteraction(uint256 customerId, uint8 kind, uint8 outcome, bytes32 contentHash) external;

    /// @notice Log many interactions at once. Agents only; every customer must be active.
    /// @param records Concatenated 42-byte records, each
    /// `customerId (uint64, big-endian) | kind (uint8) | outcome (uint8) | contentHash (bytes32)`.
    /// Packed rather than ABI-encoded because calldata is most of a batch's cost: a packed record
    /// is 42 bytes where an ABI tuple is 128.
    function logInteractions(bytes calldata records) external;
}
