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

    /// @notice A batch of interactions anchored by the Merkle root of its records. The batch (its
    /// records and tree) is a document on IPFS whose CIDv0 sha2-256 digest is `cidDigest`. Only
    /// the event records the anchor: nothing is stored, so a record costs a share of one event.
    /// @param root The root of an OpenZeppelin StandardMerkleTree over the batch's records (see
    /// `interactionLeaf` for the leaf).
    event InteractionBatchAnchored(
        address indexed author, bytes32 indexed root, bytes32 cidDigest, uint32 count, uint64 at
    );

    error BatchRootMissing();
    error BatchDocumentMissing();
    error InteractionBatchEmpty();

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

    /// @notice Anchor a batch of interactions by its Merkle root. Agents only. The records are not
    /// on-chain, so their access is checked by whoever reads the batch (the indexer keeps a record
    /// only if its author held an active grant on the customer at the anchor's block).
    /// @param root The batch's Merkle root (nonzero).
    /// @param cidDigest The sha2-256 digest of the CIDv0 of the batch document on IPFS (nonzero).
    /// @param count The number of records in the batch (nonzero).
    function anchorInteractions(bytes32 root, bytes32 cidDigest, uint32 count) external;

    /// @notice True when `proof` proves `leaf` is in the tree of `root` (OpenZeppelin MerkleProof,
    /// sorted pairs). Whether `root` was anchored, by whom and when is read from its
    /// `InteractionBatchAnchored` event (one log query on the indexed root).
    function verifyInteraction(bytes32 root, bytes32[] calldata proof, bytes32 leaf) external pure returns (bool);

    /// @notice The leaf of one record: OpenZeppelin StandardMerkleTree's double keccak of the ABI
    /// encoding of (recordId, customerId, kind, outcome, contentHash).
    /// @param recordId 32 random bytes that identify the record (a retry carries the same id).
    function interactionLeaf(bytes32 recordId, uint256 customerId, uint8 kind, uint8 outcome, bytes32 contentHash)
        external
        pure
        returns (bytes32);
}
