// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IInvoiceEscrow} from "../interfaces/IInvoiceEscrow.sol";
import {ICrmRegistry} from "../interfaces/ICrmRegistry.sol";
import {CrmRoles} from "./libraries/CrmRoles.sol";

/// @title InvoiceEscrow
/// @notice Invoices issued by the deal pipeline, paid in ETH and held until released or refunded.
/// @dev Invariant: this contract's balance is at least `liabilitiesWei()`, the amounts of Paid and
/// Disputed invoices plus credited, unwithdrawn refunds; anything above was forced in and can be
/// swept. Every function that moves ETH out is nonReentrant and settles state before the transfer.
contract InvoiceEscrow is IInvoiceEscrow, ReentrancyGuardTransient {
    /// @dev Bounds on the constructor's settings: a window, term or delay beyond a year is a
    /// mistake, not a policy.
    uint256 private constant MAX_SETTING_SECONDS = 365 days;
    /// @dev The treasury epoch is a uint8 packed into the invoice's first slot; epoch 0 is unused.
    uint256 private constant MAX_TREASURY_EPOCHS = type(uint8).max;

    /// @dev One slot: who receives an epoch's releases and how much of it is still held.
    struct TreasuryEntry {
        address account;
        uint96 heldWei;
    }

    struct PendingTreasury {
        address account;
        uint64 effectiveAt;
    }

    ICrmRegistry public immutable registry;
    address public immutable override issuer;
    uint256 public immutable override disputeWindowSeconds;
    uint256 public immutable override paymentTermSeconds;
    uint256 public immutable override disputeResolutionSeconds;
    uint256 public immutable override treasuryDelaySeconds;

    uint8 private _treasuryEpoch;
    PendingTreasury private _pendingTreasury;
    uint256 private _invoiceCount;
    uint256 private _refundsOwedWei;
    mapping(uint8 epoch => TreasuryEntry) private _treasuries;
    mapping(uint256 invoiceId => Invoice) private _invoices;
    mapping(uint256 invoiceId => uint256 resolveBy) private _disputeDeadlines;
    mapping(address payer => uint256 amountWei) private _refunds;

    constructor(
        ICrmRegistry registry_,
        address issuer_,
        address treasury_,
        uint256 disputeWindowSeconds_,
        uint256 paymentTermSeconds_,
        uint256 disputeResolutionSeconds_,
        uint256 treasuryDelaySeconds_
    ) {
        if (treasury_ == address(0)) revert TreasuryInvalid(treasury_);
        if (
            disputeWindowSeconds_ == 0 || disputeWindowSeconds_ > MAX_SETTING_SECONDS || paymentTermSeconds_ == 0
                || paymentTermSeconds_ > MAX_SETTING_SECONDS || disputeResolutionSeconds_ == 0
                || disputeResolutionSeconds_ > MAX_SETTING_SECONDS
        ) revert EscrowSettingInvalid(disputeWindowSeconds_, paymentTermSeconds_);
        if (treasuryDelaySeconds_ <= disputeWindowSeconds_ || treasuryDelaySeconds_ > MAX_SETTING_SECONDS) {
            revert TreasuryDelayInvalid(treasuryDelaySeconds_, disputeWindowSeconds_);
        }
        registry = registry_;
        issuer = issuer_;
        disputeWindowSeconds = disputeWindowSeconds_;
        paymentTermSeconds = paymentTermSeconds_;
        disputeResolutionSeconds = disputeResolutionSeconds_;
        treasuryDelaySeconds = treasuryDelaySeconds_;
        _treasuryEpoch = 1;
        _treasuries[1] = TreasuryEntry(treasury_, 0);
        emit TreasuryChanged(address(0), treasury_, 1);
    }

    /// @inheritdoc IInvoiceEscrow
    function issueInvoice(uint256 dealId, uint256 customerId, address payer, uint256 amount)
        external
        override
        returns (uint256 invoiceId)
    {
        if (msg.sender != issuer) revert CallerNotIssuer(msg.sender);
        if (payer == address(0)) revert InvoicePayerMissing(dealId);
        if (amount == 0 || amount > type(uint96).max) revert InvoiceAmountInvalid(amount);
        if (dealId > type(uint64).max) revert IdOutOfRange(dealId);
        if (customerId > type(uint64).max) revert IdOutOfRange(customerId);
        invoiceId = ++_invoiceCount;
        if (invoiceId > type(uint64).max) revert IdOutOfRange(invoiceId);

        uint40 dueAt = uint40(block.timestamp + paymentTermSeconds);
        _invoices[invoiceId] = Invoice({
            amount: uint96(amount),
            dueAt: dueAt,
            paidAt: 0,
            status: InvoiceStatus.Open,
            dealId: uint64(dealId),
            treasuryEpoch: 0,
            payer: payer,
            customerId: uint64(customerId)
        });
        emit InvoiceIssued(invoiceId, dealId, customerId, payer, amount, dueAt, paymentReference(invoiceId));
    }

    /// @inheritdoc IInvoiceEscrow
    function pay(uint256 invoiceId) external payable override nonReentrant {
        Invoice storage invoice = _invoices[invoiceId];
        InvoiceStatus status = invoice.status;
        if (status != InvoiceStatus.Open) _revertNotPayable(invoiceId, status);
        if (msg.sender != invoice.payer) revert InvoicePayerMismatch(invoiceId, invoice.payer, msg.sender);
        if (msg.value != invoice.amount) revert InvoiceAmountMismatch(invoiceId, invoice.amount, msg.value);

        uint8 epoch = _treasuryEpoch;
        TreasuryEntry storage entry = _treasuries[epoch];
        invoice.status = InvoiceStatus.Paid;
        invoice.paidAt = uint40(block.timestamp);
        invoice.treasuryEpoch = epoch;
        // Cannot overflow in practice: the sum of held amounts is bounded by the ETH in existence.
        entry.heldWei += uint96(msg.value);
        emit InvoicePaid(invoiceId, msg.sender, entry.account, msg.value, uint64(block.timestamp));
    }

    /// @inheritdoc IInvoiceEscrow
    function confirmDelivery(uint256 invoiceId) external override nonReentrant {
        Invoice storage invoice = _requireInEscrow(invoiceId);
        if (msg.sender != invoice.payer) revert InvoicePayerMismatch(invoiceId, invoice.payer, msg.sender);
        if (invoice.status == InvoiceStatus.Disputed) revert InvoiceDisputedByPayer(invoiceId);

        _release(invoiceId, invoice);
    }

    /// @inheritdoc IInvoiceEscrow
    function dispute(uint256 invoiceId) external override {
        Invoice storage invoice = _requireInEscrow(invoiceId);
        if (msg.sender != invoice.payer) revert InvoicePayerMismatch(invoiceId, invoice.payer, msg.sender);
        if (invoice.status == InvoiceStatus.Disputed) revert InvoiceDisputedByPayer(invoiceId);
        uint256 endsAt = invoice.paidAt + disputeWindowSeconds;
        // Day-scale windows: a validator's few seconds of timestamp drift do not matter.
        // slither-disable-next-line timestamp
        if (block.timestamp >= endsAt) revert DisputeWindowClosed(invoiceId, endsAt);

        uint256 resolveBy = block.timestamp + disputeResolutionSeconds;
        invoice.status = InvoiceStatus.Disputed;
        _disputeDeadlines[invoiceId] = resolveBy;
        emit InvoiceDisputed(invoiceId, msg.sender, uint64(block.timestamp), uint64(resolveBy));
    }

    /// @inheritdoc IInvoiceEscrow
    function release(uint256 invoiceId) external override nonReentrant {
        Invoice storage invoice = _requireInEscrow(invoiceId);
        if (invoice.status == InvoiceStatus.Disputed) {
            _requireRole(CrmRoles.MANAGER);
            uint256 resolveBy = _disputeDeadlines[invoiceId];
            // slither-disable-next-line timestamp
            if (block.timestamp >= resolveBy) revert DisputeResolutionExpired(invoiceId, resolveBy);
        } else {
            uint256 endsAt = invoice.paidAt + disputeWindowSeconds;
            // slither-disable-next-line timestamp
            if (block.timestamp < endsAt) revert DisputeWindowOpen(invoiceId, endsAt);
            // The treasury is checked first: it is read for the transfer anyway.
            if (
                msg.sender != _treasuries[invoice.treasuryEpoch].account && msg.sender != invoice.payer
                    && !registry.hasRole(CrmRoles.MANAGER, msg.sender)
            ) revert CallerCannotRelease(invoiceId, msg.sender);
        }

        _release(invoiceId, invoice);
    }

    /// @inheritdoc IInvoiceEscrow
    function refund(uint256 invoiceId) external override {
        _requireRole(CrmRoles.MANAGER);
        Invoice storage invoice = _requireInEscrow(invoiceId);

        _creditRefund(invoiceId, invoice);
    }

    /// @inheritdoc IInvoiceEscrow
    function reclaim(uint256 invoiceId) external override {
        Invoice storage invoice = _invoices[invoiceId];
        InvoiceStatus status = invoice.status;
        if (status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        if (status != InvoiceStatus.Disputed) revert InvoiceNotDisputed(invoiceId, status);
        if (msg.sender != invoice.payer) revert InvoicePayerMismatch(invoiceId, invoice.payer, msg.sender);
        uint256 resolveBy = _disputeDeadlines[invoiceId];
        // slither-disable-next-line timestamp
        if (block.timestamp < resolveBy) revert DisputeResolutionOpen(invoiceId, resolveBy);

        _creditRefund(invoiceId, invoice);
    }

    /// @inheritdoc IInvoiceEscrow
    function withdrawRefund() external override nonReentrant {
        uint256 amount = _refunds[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);

        delete _refunds[msg.sender];
        _refundsOwedWei -= amount;
        emit RefundWithdrawn(msg.sender, amount);
        _transfer(msg.sender, amount);
    }

    /// @inheritdoc IInvoiceEscrow
    function cancel(uint256 invoiceId) external override {
        if (msg.sender != issuer) _requireRole(CrmRoles.MANAGER);
        Invoice storage invoice = _invoices[invoiceId];
        InvoiceStatus status = invoice.status;
        if (status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        if (status != InvoiceStatus.Open) revert InvoiceNotOpen(invoiceId, status);

        invoice.status = InvoiceStatus.Cancelled;
        emit InvoiceCancelled(invoiceId, msg.sender);
    }

    /// @inheritdoc IInvoiceEscrow
    function proposeTreasury(address newTreasury) external override {
        _requireRole(CrmRoles.ADMIN);
        if (newTreasury == address(0) || newTreasury == address(this)) revert TreasuryInvalid(newTreasury);
        if (_treasuryEpoch == MAX_TREASURY_EPOCHS) revert TreasuryChangesExhausted(MAX_TREASURY_EPOCHS);

        uint64 effectiveAt = uint64(block.timestamp + treasuryDelaySeconds);
        _pendingTreasury = PendingTreasury(newTreasury, effectiveAt);
        emit TreasuryChangeProposed(newTreasury, effectiveAt, msg.sender);
    }

    /// @inheritdoc IInvoiceEscrow
    function cancelTreasuryChange() external override {
        _requireRole(CrmRoles.ADMIN);
        address proposed = _pendingTreasury.account;
        if (proposed == address(0)) revert TreasuryChangeNotProposed();

        delete _pendingTreasury;
        emit TreasuryChangeCancelled(proposed, msg.sender);
    }

    /// @inheritdoc IInvoiceEscrow
    function acceptTreasury() external override {
        PendingTreasury memory pending = _pendingTreasury;
        if (pending.account == address(0) || msg.sender != pending.account) revert TreasuryChangeNotProposed();
        // slither-disable-next-line timestamp
        if (block.timestamp < pending.effectiveAt) revert TreasuryChangeNotReady(pending.effectiveAt);

        address previous = _treasuries[_treasuryEpoch].account;
        // Cannot overflow: proposeTreasury refuses a change at MAX_TREASURY_EPOCHS.
        uint8 epoch = _treasuryEpoch + 1;
        _treasuryEpoch = epoch;
        _treasuries[epoch] = TreasuryEntry(pending.account, 0);
        delete _pendingTreasury;
        emit TreasuryChanged(previous, pending.account, epoch);
    }

    /// @inheritdoc IInvoiceEscrow
    function sweep() external override nonReentrant {
        uint256 liabilities = liabilitiesWei();
        uint256 balance = address(this).balance;
        if (balance <= liabilities) revert NothingToSweep();

        address to = _treasuries[_treasuryEpoch].account;
        uint256 amount = balance - liabilities;
        emit ForcedEtherSwept(to, amount, msg.sender);
        _transfer(to, amount);
    }

    /// @inheritdoc IInvoiceEscrow
    function invoiceCount() external view override returns (uint256) {
        return _invoiceCount;
    }

    /// @inheritdoc IInvoiceEscrow
    function invoiceOf(uint256 invoiceId) external view override returns (Invoice memory) {
        Invoice storage invoice = _invoices[invoiceId];
        if (invoice.status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        return invoice;
    }

    /// @inheritdoc IInvoiceEscrow
    function treasury() external view override returns (address) {
        return _treasuries[_treasuryEpoch].account;
    }

    /// @inheritdoc IInvoiceEscrow
    function treasuryOf(uint8 epoch) external view override returns (address) {
        return _treasuries[epoch].account;
    }

    /// @inheritdoc IInvoiceEscrow
    function treasuryEpoch() external view override returns (uint8) {
        return _treasuryEpoch;
    }

    /// @inheritdoc IInvoiceEscrow
    function pendingTreasury() external view override returns (address proposed, uint64 effectiveAt) {
        PendingTreasury memory pending = _pendingTreasury;
        return (pending.account, pending.effectiveAt);
    }

    /// @inheritdoc IInvoiceEscrow
    function disputeDeadlineOf(uint256 invoiceId) external view override returns (uint256) {
        return _disputeDeadlines[invoiceId];
    }

    /// @inheritdoc IInvoiceEscrow
    function refundOf(address payer) external view override returns (uint256) {
        return _refunds[payer];
    }

    /// @inheritdoc IInvoiceEscrow
    function liabilitiesWei() public view override returns (uint256 total) {
        total = _refundsOwedWei;
        uint256 epochs = _treasuryEpoch;
        // Bounded by MAX_TREASURY_EPOCHS (255). The counter is wider than an epoch: a uint8 one
        // would overflow stepping past the last epoch, and revert once the treasury reached it.
        for (uint256 epoch = 1; epoch <= epochs; ++epoch) {
            total += _treasuries[uint8(epoch)].heldWei;
        }
    }

    /// @inheritdoc IInvoiceEscrow
    function isOverdue(uint256 invoiceId) external view override returns (bool) {
        Invoice storage invoice = _invoices[invoiceId];
        if (invoice.status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        // slither-disable-next-line timestamp
        return invoice.status == InvoiceStatus.Open && block.timestamp > invoice.dueAt;
    }

    /// @inheritdoc IInvoiceEscrow
    function paymentReference(uint256 invoiceId) public view override returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), invoiceId));
    }

    function _release(uint256 invoiceId, Invoice storage invoice) private {
        TreasuryEntry storage entry = _treasuries[invoice.treasuryEpoch];
        address to = entry.account;
        uint96 amount = invoice.amount;
        invoice.status = InvoiceStatus.Released;
        entry.heldWei -= amount;
        emit InvoiceReleased(invoiceId, to, msg.sender, amount);
        _transfer(to, amount);
    }

    function _creditRefund(uint256 invoiceId, Invoice storage invoice) private {
        address payer = invoice.payer;
        uint96 amount = invoice.amount;
        invoice.status = InvoiceStatus.Refunded;
        _treasuries[invoice.treasuryEpoch].heldWei -= amount;
        _refunds[payer] += amount;
        _refundsOwedWei += amount;
        emit InvoiceRefunded(invoiceId, payer, msg.sender, amount);
    }

    function _transfer(address to, uint256 amount) private {
        // `to` is the treasury fixed at payment (set through the delayed two-step change) or the
        // caller withdrawing its own refund. No return data is copied.
        bool ok;
        // slither-disable-next-line assembly,arbitrary-send-eth,low-level-calls
        assembly ("memory-safe") {
            ok := call(gas(), to, amount, 0, 0, 0, 0)
        }
        if (!ok) revert TransferFailed(to, amount);
    }

    function _requireInEscrow(uint256 invoiceId) private view returns (Invoice storage invoice) {
        invoice = _invoices[invoiceId];
        InvoiceStatus status = invoice.status;
        if (status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        if (status != InvoiceStatus.Paid && status != InvoiceStatus.Disputed) revert InvoiceNotInEscrow(invoiceId, status);
    }

    function _revertNotPayable(uint256 invoiceId, InvoiceStatus status) private pure {
        if (status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        if (status == InvoiceStatus.Cancelled) revert InvoiceIsCancelled(invoiceId);
        revert InvoiceAlreadyPaid(invoiceId);
    }

    function _requireRole(bytes32 role) private view {
        if (!registry.hasRole(role, msg.sender)) revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, role);
    }
}
