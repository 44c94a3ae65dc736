// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Interaction log: a tamper-evident trace of every contact with a customer
/// @notice Only the sha2-256 digest of the CIDv0 of the interaction's encrypted document is
/// recorded, with its kind, outcome, author and time. The document (note and attachments) is
/// encrypted under a per-customer key before it reaches IPFS, so the digest is a hash of ciphertext
/// and can never be recomputed from the plaintext. Records live in events, not storage.
interface IInteractionLog {
    /// @notice One interaction logged in its own transaction.
    event InteractionLogged(
        uint256 indexed customerId, address indexed author, bytes32 contentHash, uint8 kind, uint8 outcome, uint64 at
    );

    /// @notice Many interactions logged in one transaction by `author` at `at`.
    /// @param records The packed records exactly as sent (see `logInteractions`).
    event InteractionsLogged(address indexed author, uint64 at, bytes records);

    error InteractionKindInvalid(uint8 kind);
    error InteractionOutcomeInvalid(uint8 outcome);
    error ContentHashMissing();
    error InteractionBatchMalformed(uint256 length);
    error InteractionBatchTooLarge(uint256 count, uint256 max);

    /// @notice Log one interaction. Agents with an active grant on the customer only.
    /// @param kind Channel code, 1 to 7 (call, e-mail, meeting, chat, visit, note, reminder).
    /// @param outcome Result code, 0 to 5 (none, positive, neutral, negative, follow-up, no answer).
    /// @param contentHash The CIDv0 sha2-256 digest of the encrypted interaction document.
    function logInteraction(uint256 customerId, uint8 kind, uint8 outcome, bytes32 contentHash) external;

    /// @notice Log many interactions at once. Agents with an active grant on every customer only.
    /// @param records Concatenated 42-byte records, each
    /// `customerId (uint64, big-endian) | kind (uint8) | outcome (uint8) | contentHash (bytes32)`.
    /// Packed rather than ABI-encoded because calldata is most of a batch's cost.
    function logInteractions(bytes calldata records) external;
}
