// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Invoice escrow: invoices paid in ETH, held until delivery is confirmed
/// @notice Only the deal pipeline, fixed at deployment, issues invoices. The payer's wallet pays
/// exactly the amount, once, while the invoice is open; the treasury it will go to is fixed at
/// that moment. Paid funds stay here until the payer confirms delivery or, after the dispute
/// window, the payer, the treasury or a manager releases them. A disputed invoice is resolved by
/// a manager before its resolution deadline, after which the payer can reclaim. Refunds are
/// credited and withdrawn by the payer (pull), so a payer that refuses ETH blocks nothing.
/// A treasury change is proposed by an admin and accepted by the new treasury after a delay
/// longer than the dispute window.
interface IInvoiceEscrow {
    enum InvoiceStatus {
        None,
        Open,
        Paid,
        Disputed,
        Released,
        Refunded,
        Cancelled
    }

    /// @dev Packed so that a release reads one slot for amount, status and treasury: amount,
    /// dates, status, deal id and treasury epoch share the first; payer and customer id the second.
    struct Invoice {
        uint96 amount;
        uint40 dueAt;
        uint40 paidAt;
        InvoiceStatus status;
        uint64 dealId;
        uint8 treasuryEpoch;
        address payer;
        uint64 customerId;
    }

    event InvoiceIssued(
        uint256 indexed invoiceId,
        uint256 indexed dealId,
        uint256 indexed customerId,
        address payer,
        uint256 amount,
        uint64 dueAt,
        bytes32 paymentReference
    );
    event InvoicePaid(uint256 indexed invoiceId, address indexed payer, address indexed treasury, uint256 amount, uint64 at);
    event InvoiceDisputed(uint256 indexed invoiceId, address indexed payer, uint64 at, uint64 resolveBy);
    event InvoiceReleased(uint256 indexed invoiceId, address indexed treasury, address indexed actor, uint256 amount);
    /// @notice The invoice's funds were credited to its payer, who withdraws them.
    event InvoiceRefunded(uint256 indexed invoiceId, address indexed payer, address indexed actor, uint256 amount);
    event InvoiceCancelled(uint256 indexed invoiceId, address indexed actor);
    event RefundWithdrawn(address indexed payer, uint256 amount);
    event TreasuryChangeProposed(address indexed proposed, uint64 effectiveAt, address indexed actor);
    event TreasuryChangeCancelled(address indexed proposed, address indexed actor);
    event TreasuryChanged(address indexed previousTreasury, address indexed newTreasury, uint8 epoch);
    event ForcedEtherSwept(address indexed treasury, uint256 amount, address indexed actor);

    error InvoiceUnknown(uint256 invoiceId);
    error InvoicePayerMismatch(uint256 invoiceId, address expected, address caller);
    error InvoiceAmountMismatch(uint256 invoiceId, uint256 expected, uint256 sent);
    error InvoiceAlreadyPaid(uint256 invoiceId);
    error InvoiceIsCancelled(uint256 invoiceId);
    error InvoiceNotOpen(uint256 invoiceId, InvoiceStatus status);
    error InvoiceNotInEscrow(uint256 invoiceId, InvoiceStatus status);
    error InvoiceNotDisputed(uint256 invoiceId, InvoiceStatus status);
    error InvoiceDisputedByPayer(uint256 invoiceId);
    error InvoiceAmountInvalid(uint256 amount);
    error InvoicePayerMissing(uint256 dealId);
    error CallerNotIssuer(address caller);
    error CallerCannotRelease(uint256 invoiceId, address caller);
    error DisputeWindowOpen(uint256 invoiceId, uint256 endsAt);
    error DisputeWindowClosed(uint256 invoiceId, uint256 endedAt);
    error DisputeResolutionOpen(uint256 invoiceId, uint256 resolveBy);
    error DisputeResolutionExpired(uint256 invoiceId, uint256 resolveBy);
    error EscrowSettingInvalid(uint256 disputeWindowSeconds, uint256 paymentTermSeconds);
    error TreasuryDelayInvalid(uint256 delaySeconds, uint256 disputeWindowSeconds);
    error TreasuryInvalid(address treasury);
    error TreasuryChangeNotProposed();
    error TreasuryChangeNotReady(uint256 effectiveAt);
    error TreasuryChangesExhausted(uint256 max);
    error NothingToWithdraw(address account);
    error NothingToSweep();
    error IdOutOfRange(uint256 id);
    error TransferFailed(address to, uint256 amount);

    /// @notice Issue an invoice for a won deal. The issuer (the deal pipeline) only.
    function issueInvoice(uint256 dealId, uint256 customerId, address payer, uint256 amount)
        external
        returns (uint256 invoiceId);

    /// @notice Pay an open invoice with exactly its amount, from its payer's wallet.
    function pay(uint256 invoiceId) external payable;

    /// @notice The payer confirms delivery: the funds go to the invoice's treasury.
    function confirmDelivery(uint256 invoiceId) external;

    /// @notice The payer disputes within the dispute window: a manager then resolves it before
    /// the resolution deadline, after which the payer may reclaim.
    function dispute(uint256 invoiceId) external;

    /// @notice Send a paid invoice's funds to the treasury fixed at payment: after the dispute
    /// window by the payer, that treasury or a manager; a disputed invoice by a manager before
    /// its resolution deadline.
    function release(uint256 invoiceId) external;

    /// @notice Credit a paid or disputed invoice's funds to its payer. Managers only.
    function refund(uint256 invoiceId) external;

    /// @notice The payer takes back a disputed invoice's funds once its resolution deadline passed.
    function reclaim(uint256 invoiceId) external;

    /// @notice Withdraw the caller's credited refunds.
    function withdrawRefund() external;

    /// @notice Cancel an unpaid invoice. Managers, or the issuer when re-issuing.
    function cancel(uint256 invoiceId) external;

    /// @notice Propose a new treasury. Admins only; it takes effect when the new treasury accepts,
    /// no earlier than `treasuryDelaySeconds` later.
    function proposeTreasury(address newTreasury) external;

    /// @notice Withdraw a pending treasury change. Admins only.
    function cancelTreasuryChange() external;

    /// @notice The proposed treasury accepts, once the delay has passed.
    function acceptTreasury() external;

    /// @notice Send ETH that reached this contract without an invoice (forced) to the treasury.
    function sweep() external;

    function issuer() external view returns (address);
    function invoiceCount() external view returns (uint256);
    function invoiceOf(uint256 invoiceId) external view returns (Invoice memory);
    /// @notice The treasury that invoices paid now are fixed to.
    function treasury() external view returns (address);
    /// @notice The treasury of `epoch` (the epoch an invoice records at payment).
    function treasuryOf(uint8 epoch) external view returns (address);
    function treasuryEpoch() external view returns (uint8);
    function pendingTreasury() external view returns (address proposed, uint64 effectiveAt);
    function disputeWindowSeconds() external view returns (uint256);
    function disputeResolutionSeconds() external view returns (uint256);
    function treasuryDelaySeconds() external view returns (uint256);
    function paymentTermSeconds() external view returns (uint256);
    function disputeDeadlineOf(uint256 invoiceId) external view returns (uint256);
    /// @notice Refunds credited to `payer` and not yet withdrawn.
    function refundOf(address payer) external view returns (uint256);
    /// @notice What this contract owes: funds of Paid and Disputed invoices plus unwithdrawn refunds.
    function liabilitiesWei() external view returns (uint256);
    /// @notice True when the invoice is open (unpaid) and its due date has passed.
    function isOverdue(uint256 invoiceId) external view returns (bool);
    /// @notice keccak256(chain id, this contract, invoice id): the reference a payment carries.
    function paymentReference(uint256 invoiceId) external view returns (bytes32);
}
