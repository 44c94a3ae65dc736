// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Deal pipeline: deals move through stages, every change recorded
/// @notice Lead -> Qualified -> Proposal -> Negotiation -> Contracting -> Won, one step forward or
/// one step back between open stages, Lost from any open stage; Won and Lost are final.
/// Reaching Won makes this contract issue the deal's invoice in the escrow, in the same
/// transaction. Won rather than Contracting because Won is final: an invoice issued at
/// Contracting could belong to a deal that is later lost, and would then need undoing.
interface IDealPipeline {
    enum Stage {
        None,
        Lead,
        Qualified,
        Proposal,
        Negotiation,
        Contracting,
        Won,
        Lost
    }

    struct Deal {
        address owner;
        uint64 customerId;
        Stage stage;
        uint128 valueWei;
        uint64 invoiceId;
        uint40 openedAt;
    }

    event DealOpened(
        uint256 indexed dealId, uint256 indexed customerId, address indexed owner, uint256 valueWei, address actor
    );
    event DealStageChanged(uint256 indexed dealId, Stage from, Stage to, address indexed actor, uint64 at);
    event DealLost(uint256 indexed dealId, uint8 indexed reason, address indexed actor);
    event DealReassigned(
        uint256 indexed dealId, address indexed previousOwner, address indexed newOwner, address actor
    );
    event DealDocumentAttached(
        uint256 indexed dealId, uint8 indexed documentKind, address indexed actor, bytes32 contentHash, bytes32 cidDigest
    );
    event DealInvoiced(uint256 indexed dealId, uint256 indexed invoiceId);

    error DealUnknown(uint256 dealId);
    error DealIsFinal(uint256 dealId, Stage stage);
    error DealStageTransitionInvalid(uint256 dealId, Stage from, Stage to);
    error DealValueInvalid(uint256 valueWei, uint256 maxWei);
    error DealOwnerNotAgent(address owner);
    error CallerNotDealOwnerOrManager(uint256 dealId, address caller);
    error CustomerWalletMissing(uint256 customerId);
    error DocumentHashMissing();
    error DocumentKindInvalid(uint8 documentKind);

    /// @notice Open a deal at Lead. Agents or managers; `owner` must be an agent.
    function openDeal(uint256 customerId, address owner, uint256 valueWei) external returns (uint256 dealId);

    /// @notice Move a deal to an adjacent open stage, or to Won from Contracting (issues the invoice).
    /// The deal's owner or a manager.
    function moveStage(uint256 dealId, Stage to) external;

    /// @notice Close a deal as Lost from any open stage, with a reason code. Owner or manager.
    function markLost(uint256 dealId, uint8 reason) external;

    /// @notice Give an open deal to another agent. Managers only.
    function reassign(uint256 dealId, address newOwner) external;

    /// @notice Record the hash of a document (proposal, contract, ...) stored on IPFS for a deal.
    function attachDocument(uint256 dealId, uint8 documentKind, bytes32 contentHash, bytes32 cidDigest) external;

    function dealCount() external view returns (uint256);
    function dealOf(uint256 dealId) external view returns (Deal memory);
    /// @notice Whether the stage machine allows `from` -> `to` (Lost is reached through markLost).
    function canMove(Stage from, Stage to) external pure returns (bool);
}
