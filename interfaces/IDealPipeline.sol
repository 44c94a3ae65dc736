// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Deal pipeline: deals move through stages, every change recorded
/// @notice Lead -> Qualified -> Proposal -> Negotiation -> Contracting -> Won, one step forward or
/// one step back between open stages, Lost from any open stage; Won and Lost are final.
/// Reaching Won makes this contract, the escrow's only issuer, issue the deal's invoice in the
/// same transaction. A deal above the approval threshold reaches Won only by a manager.
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
    event ApprovalThresholdChanged(uint256 previousWei, uint256 newWei, address indexed actor);

    error DealUnknown(uint256 dealId);
    error DealIsFinal(uint256 dealId, Stage stage);
    error DealNotWon(uint256 dealId, Stage stage);
    error DealStageInvalid(uint8 stage);
    error DealStageTransitionInvalid(uint256 dealId, Stage from, Stage to);
    error DealValueInvalid(uint256 valueWei, uint256 maxWei);
    error DealOwnerNotAgent(address owner);
    error DealOwnerWithoutAccess(uint256 customerId, address owner);
    error DealNeedsApproval(uint256 dealId, uint256 valueWei, uint256 thresholdWei);
    error DealInvoiceSettled(uint256 dealId, uint256 invoiceId);
    error CallerNotDealOwnerOrManager(uint256 dealId, address caller);
    error CallerWithoutAccess(uint256 customerId, address caller);
    error CustomerWalletMissing(uint256 customerId);
    error DocumentHashMissing();
    error DocumentKindInvalid(uint8 documentKind);
    error LossReasonInvalid(uint8 reason);
    error IdOutOfRange(uint256 id);
    error EscrowIssuerMismatch(address escrow, address issuer);

    /// @notice Open a deal at Lead. A manager, or an agent with an active grant on the customer;
    /// `owner` must be an agent with an active grant.
    function openDeal(uint256 customerId, address owner, uint256 valueWei) external returns (uint256 dealId);

    /// @notice Move a deal to an adjacent open stage, or to Won from Contracting (issues the
    /// invoice). The deal's owner (while an agent with an active grant) or a manager; a manager
    /// only for Won above the threshold.
    /// @param to A `Stage` code; anything above Lost is refused with `DealStageInvalid`.
    function moveStage(uint256 dealId, uint8 to) external;

    /// @notice Close a deal as Lost from any open stage, with a reason code 1 to 5 (price,
    /// competitor, no budget, no decision, other). Owner or manager.
    function markLost(uint256 dealId, uint8 reason) external;

    /// @notice Give an open deal to another agent with an active grant. Managers only.
    function reassign(uint256 dealId, address newOwner) external;

    /// @notice Record the hashes of an encrypted document (kind 1 proposal, 2 contract, 3 meeting
    /// notes, 4 other) stored on IPFS for a deal. Owner or manager, while the customer is active.
    function attachDocument(uint256 dealId, uint8 documentKind, bytes32 contentHash, bytes32 cidDigest) external;

    /// @notice Cancel a won deal's unpaid invoice (if still open) and issue a new one to the
    /// customer's current wallet. Managers only.
    function reissueInvoice(uint256 dealId) external returns (uint256 invoiceId);

    /// @notice Deals above this value reach Won only by a manager; 0 means every deal. Admins only.
    function setApprovalThreshold(uint256 thresholdWei) external;

    function approvalThresholdWei() external view returns (uint256);
    function dealCount() external view returns (uint256);
    function dealOf(uint256 dealId) external view returns (Deal memory);
    /// @notice Every invoice issued for the deal, oldest first.
    function invoicesOf(uint256 dealId) external view returns (uint256[] memory);
    /// @notice Whether the stage machine allows `from` -> `to` (Lost is reached through markLost).
    function canMove(Stage from, Stage to) external pure returns (bool);
}
