// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Deal pipeline: deals move through stages, every change recorded
/// @notice Lead -> Qualified -> Proposal -> Negotiation -> Contracting -> Won, one step forward or
/// one step back between open stages, Lost from any open stage; Won and Lost are final.
/// Reaching Won makes this contract, the escrow's only issuer, issue the deal's invoice in the
/// same transaction. A deal above the approval threshold, or in an ERC-20, reaches Won only by a
/// manager. A manager's signed offer (EIP-712) lets the customer's own wallet open a deal at
/// Proposal, or discount an open deal; the discount applies to the invoice the deal issues.
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

    /// @dev `valueWei` is in the deal's currency's base units (wei for ETH). `discountBps` is an
    /// accepted offer's discount (0 for none); `currency` is address(0) for ETH, else an ERC-20
    /// the escrow allow-lists.
    struct Deal {
        address owner;
        uint64 customerId;
        uint16 discountBps;
        Stage stage;
        uint128 valueWei;
        uint64 invoiceId;
        uint40 openedAt;
        address currency;
    }

    /// @notice A manager's offer to a customer, signed as EIP-712 typed data
    /// `Offer(uint256 customerId,uint16 discountBps,uint64 expiry,uint32 maxUses,uint256 nonce)`.
    struct Offer {
        uint256 customerId;
        uint16 discountBps;
        uint64 expiry;
        uint32 maxUses;
        uint256 nonce;
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
    /// @notice The customer's wallet accepted an offer: `dealId` is the deal it opened or discounted,
    /// `uses` the offer's uses so far, this one included.
    event OfferAccepted(
        bytes32 indexed digest,
        uint256 indexed customerId,
        uint256 indexed dealId,
        address issuer,
        uint256 nonce,
        uint16 discountBps,
        uint32 uses
    );
    event OfferCancelled(address indexed issuer, uint256 indexed nonce);
    /// @notice A deal opened in an ERC-20 (`DealOpened` gives its value in the token's base units).
    event DealCurrency(uint256 indexed dealId, address indexed currency);

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
    error TokenNotAllowed(address token);
    error OfferExpired(uint256 expiry);
    error OfferSignatureInvalid(address issuer);
    error OfferIssuerNotManager(address issuer);
    error OfferUsedUp(bytes32 digest, uint32 maxUses);
    error OfferIsCancelled(address issuer, uint256 nonce);
    error OfferNotForCaller(uint256 customerId, address caller);
    error OfferDiscountInvalid(uint16 discountBps);
    error OfferTermsUnexpected(uint256 dealId);
    error DealAlreadyDiscounted(uint256 dealId);
    error DealNotOfCustomer(uint256 dealId, uint256 customerId);

    /// @notice Open a deal at Lead. A manager, or an agent with an active grant on the customer;
    /// `owner` must be an agent with an active grant.
    function openDeal(uint256 customerId, address owner, uint256 valueWei) external returns (uint256 dealId);

    /// @notice Open a deal at Lead in an ERC-20 the escrow allow-lists (`value` in its base units),
    /// or in ETH when `currency` is address(0). As `openDeal` otherwise.
    function openDealIn(uint256 customerId, address owner, uint256 value, address currency)
        external
        returns (uint256 dealId);

    /// @notice Accept a manager's signed offer from the customer's bound wallet. With `dealId` 0 it
    /// opens a deal at Proposal for `value` in `currency`, owned by the issuer; otherwise it
    /// discounts that open deal of the customer (`value` and `currency` must then be 0). An offer
    /// is refused after its expiry, past its maximum uses, once cancelled, from another wallet, or
    /// when its issuer is no longer a manager.
    function acceptOffer(
        Offer calldata offer,
        address issuer,
        bytes calldata signature,
        uint256 dealId,
        uint256 value,
        address currency
    ) external returns (uint256 acceptedDealId);

    /// @notice Withdraw every offer the caller signed with `nonce`.
    function cancelOffer(uint256 nonce) external;

    /// @notice The EIP-712 digest a manager signs for `offer`.
    function offerDigest(Offer calldata offer) external view returns (bytes32);
    /// @notice How many times the offer with this digest was accepted.
    function offerUses(bytes32 digest) external view returns (uint32);
    function offerCancelled(address issuer, uint256 nonce) external view returns (bool);

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
