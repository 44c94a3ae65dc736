// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Invoice escrow: invoices paid in ETH, held until delivery is confirmed
/// @notice Only the deal pipeline issues invoices. The payer's wallet pays exactly the amount,
/// once, while the invoice is open. Paid funds stay here until the payer confirms delivery or the
/// dispute window passes (then anyone may release them to the treasury); the payer may dispute
/// within the window, after which only a manager releases or refunds. Money leaves only through
/// `nonReentrant` functions that update state before they transfer.
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

    /// @dev Packed so that a timed release reads one slot: amount, dates, status and deal id
    /// share the first; payer and customer id the second.
    struct Invoice {
        uint96 amount;
        uint40 dueAt;
        uint40 paidAt;
        InvoiceStatus status;
        uint64 dealId;
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
    event InvoicePaid(uint256 indexed invoiceId, address indexed payer, uint256 amount, uint64 at);
    event InvoiceDisputed(uint256 indexed invoiceId, address indexed payer, uint64 at);
    event InvoiceReleased(uint256 indexed invoiceId, address indexed treasury, address indexed actor, uint256 amount);
    event InvoiceRefunded(uint256 indexed invoiceId, address indexed payer, address indexed actor, uint256 amount);
    event InvoiceCancelled(uint256 indexed invoiceId, address indexed actor);
    event TreasuryChanged(address indexed previousTreasury, address indexed newTreasury, address indexed actor);

    error InvoiceUnknown(uint256 invoiceId);
    error InvoicePayerMismatch(uint256 invoiceId, address expected, address caller);
    error InvoiceAmountMismatch(uint256 invoiceId, uint256 expected, uint256 sent);
    error InvoiceAlreadyPaid(uint256 invoiceId);
    error InvoiceIsCancelled(uint256 invoiceId);
    error InvoiceNotOpen(uint256 invoiceId, InvoiceStatus status);
    error InvoiceNotInEscrow(uint256 invoiceId, InvoiceStatus status);
    error InvoiceDisputedByPayer(uint256 invoiceId);
    error InvoiceAmountInvalid(uint256 amount);
    error InvoicePayerMissing(uint256 dealId);
    error DisputeWindowOpen(uint256 invoiceId, uint256 endsAt);
    error DisputeWindowClosed(uint256 invoiceId, uint256 endedAt);
    error EscrowSettingInvalid(uint256 disputeWindowSeconds, uint256 paymentTermSeconds);
    error TreasuryInvalid(address treasury);
    error TransferFailed(address to, uint256 amount);

    /// @notice Issue an invoice for a won deal. The invoice issuer (the deal pipeline) only.
    function issueInvoice(uint256 dealId, uint256 customerId, address payer, uint256 amount)
        external
        returns (uint256 invoiceId);

    /// @notice Pay an open invoice with exactly its amount, from its payer's wallet.
    function pay(uint256 invoiceId) external payable;

    /// @notice The payer confirms delivery: the funds go to the treasury.
    function confirmDelivery(uint256 invoiceId) external;

    /// @notice The payer disputes within the dispute window: release then needs a manager.
    function dispute(uint256 invoiceId) external;

    /// @notice Send a paid invoice's funds to the treasury: anyone once the dispute window has
    /// passed, or a manager for a disputed invoice.
    function release(uint256 invoiceId) external;

    /// @notice Return a paid or disputed invoice's funds to its payer. Managers only.
    function refund(uint256 invoiceId) external;

    /// @notice Cancel an unpaid invoice. Managers only.
    function cancel(uint256 invoiceId) external;

    /// @notice Change where released funds go. Admins only.
    function setTreasury(address newTreasury) external;

    function invoiceCount() external view returns (uint256);
    function invoiceOf(uint256 invoiceId) external view returns (Invoice memory);
    function treasury() external view returns (address);
    function disputeWindowSeconds() external view returns (uint256);
    function paymentTermSeconds() external view returns (uint256);
    /// @notice True when the invoice is open (unpaid) and its due date has passed.
    function isOverdue(uint256 invoiceId) external view returns (bool);
    /// @notice keccak256(chain id, this contract, invoice id): the reference a payment carries.
    function paymentReference(uint256 invoiceId) external view returns (bytes32);
}
