// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Invoice escrow: invoices paid in ETH or an allow-listed ERC-20, held until delivery is confirmed
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
        Cancelled,
        /// @notice Settled outside the chain (bank transfer or card), recorded by a manager.
        PaidOffChain
    }

    /// @dev Packed so that a release reads one slot for amount, status and treasury: amount,
    /// dates, status, deal id and treasury epoch share the first; payer and customer id the second;
    /// the currency (address(0) for ETH, else an allow-listed ERC-20) the third. `amount` is in the
    /// currency's base units; once paid with loyalty points it is what was paid.
    struct Invoice {
        uint96 amount;
        uint40 dueAt;
        uint40 paidAt;
        InvoiceStatus status;
        uint64 dealId;
        uint8 treasuryEpoch;
        address payer;
        uint64 customerId;
        address currency;
    }

    event InvoiceIssued(
        uint256 indexed invoiceId,
        uint256 indexed dealId,
        uint256 indexed customerId,
        address payer,
        uint256 amount,
        uint64 dueAt,
        bytes32 paymentReference,
        address currency
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
    /// @notice A manager recorded a payment made outside the chain. `receiptHash` is the hash of the
    /// receipt document (which holds the bank or card reference), stored encrypted on IPFS under
    /// `cidDigest`; method 1 bank transfer, 2 card, 3 other.
    event InvoicePaidOffChain(
        uint256 indexed invoiceId, address indexed actor, uint8 method, bytes32 receiptHash, bytes32 cidDigest, uint64 at
    );
    event TokenAllowed(address indexed token, bool allowed, address indexed actor);
    event TokenRefundWithdrawn(address indexed token, address indexed payer, uint256 amount);
    event ForcedTokensSwept(address indexed token, address indexed treasury, uint256 amount, address indexed actor);
    event LoyaltyProgramSet(address indexed points, address indexed actor);
    event LoyaltyRatesChanged(address indexed currency, uint256 earnWad, uint256 redeemWad, address indexed actor);
    /// @notice `points` were burned from the payer for a `discount` (currency base units) on the invoice.
    event PointsRedeemed(uint256 indexed invoiceId, address indexed payer, uint256 points, uint256 discount);
    /// @notice `points` were minted to the payer when the invoice was released.
    event PointsAwarded(uint256 indexed invoiceId, address indexed payer, uint256 points);
    /// @notice A refunded invoice's redeemed points were minted back to its payer.
    event PointsRestored(uint256 indexed invoiceId, address indexed payer, uint256 points);

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
    error InvoiceCurrencyMismatch(uint256 invoiceId, address currency);
    error InvoiceSettledOffChain(uint256 invoiceId);
    error PaymentMethodInvalid(uint8 method);
    error ReceiptHashMissing();
    error TokenNotAllowed(address token);
    error TokenInvalid(address token);
    /// @notice The permit was refused and no allowance covers the amount due.
    error PermitInvalid(address token);
    error TokenTransferShort(address token, uint256 expected, uint256 received);
    error LoyaltyNotSet();
    error LoyaltyAlreadySet(address points);
    error LoyaltyMinterMismatch(address points, address minter);
    error PointsInsufficient(address account, uint256 held, uint256 wanted);
    error PointsDiscountTooLarge(uint256 invoiceId, uint256 discount, uint256 amount);
    error PointsNotRedeemable(address currency);
    error LoyaltyRateInvalid(uint256 earnWad, uint256 redeemWad);

    /// @notice Issue an invoice for a won deal. The issuer (the deal pipeline) only.
    /// `currency` is address(0) for ETH or an allow-listed ERC-20.
    function issueInvoice(uint256 dealId, uint256 customerId, address payer, uint256 amount, address currency)
        external
        returns (uint256 invoiceId);

    /// @notice Pay an open ETH invoice with exactly its amount, from its payer's wallet.
    function pay(uint256 invoiceId) external payable;

    /// @notice Pay an open ERC-20 invoice from its payer's wallet, after approving this contract
    /// for its amount. A token that delivers less than the amount (a fee on transfer) is refused.
    function payToken(uint256 invoiceId) external;

    /// @notice Pay an open ERC-20 invoice in one transaction with an EIP-2612 permit for the amount
    /// due (after `points`' discount), redeeming `points` (0 for none).
    function payTokenWithPermit(uint256 invoiceId, uint256 points, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// @notice Pay an open invoice (ETH or ERC-20) less the discount that `points` buy at the
    /// currency's redemption rate; the points are burned in this transaction. For ETH send the
    /// amount less the discount; for an ERC-20 approve it first and send no ETH.
    function payWithPoints(uint256 invoiceId, uint256 points) external payable;

    /// @notice Record an open invoice as paid outside the chain (bank transfer or card). Managers
    /// only; the invoice can then not be paid on-chain, and this cannot be recorded twice.
    function recordOffChainPayment(uint256 invoiceId, uint8 method, bytes32 receiptHash, bytes32 cidDigest) external;

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

    /// @notice Send tokens that reached this contract without an invoice to the treasury.
    function sweepToken(address token) external;

    /// @notice Withdraw the caller's credited refunds in `token`.
    function withdrawTokenRefund(address token) external;

    /// @notice Allow or refuse an ERC-20 for new deals and invoices. Admins only; invoices already
    /// issued in a token stay payable.
    function allowToken(address token, bool allowed) external;

    /// @notice Name the loyalty points token (its minter must be this contract). Admins only, once.
    function setLoyaltyProgram(address points) external;

    /// @notice Set a currency's loyalty rates, both scaled by 1e18: `earnWad` point base units
    /// minted per currency base unit released, `redeemWad` currency base units of discount per
    /// point base unit redeemed. Zero turns earning or redeeming off. Admins only.
    function setLoyaltyRates(address currency, uint256 earnWad, uint256 redeemWad) external;

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
    /// @notice What this contract owes in `token`: Paid and Disputed invoices plus unwithdrawn refunds.
    function tokenLiabilities(address token) external view returns (uint256);
    function tokenRefundOf(address token, address payer) external view returns (uint256);
    function isTokenAllowed(address token) external view returns (bool);
    function loyaltyProgram() external view returns (address);
    function loyaltyRatesOf(address currency) external view returns (uint256 earnWad, uint256 redeemWad);
    /// @notice Points redeemed on an invoice (restored to its payer if it is refunded).
    function pointsRedeemedOn(uint256 invoiceId) external view returns (uint256);
    /// @notice True when the invoice is open (unpaid) and its due date has passed.
    function isOverdue(uint256 invoiceId) external view returns (bool);
    /// @notice keccak256(chain id, this contract, invoice id): the reference a payment carries.
    function paymentReference(uint256 invoiceId) external view returns (bytes32);
}
