// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IInvoiceEscrow} from "../interfaces/IInvoiceEscrow.sol";
import {ICrmRegistry} from "../interfaces/ICrmRegistry.sol";
import {CrmRoles} from "./libraries/CrmRoles.sol";

/// @title InvoiceEscrow
/// @notice Invoices issued by the deal pipeline, paid in ETH and held until released or refunded.
/// @dev Invariant: this contract's balance equals the sum of the amounts of Paid and Disputed
/// invoices. Every function that moves ETH out is nonReentrant and changes the invoice's status
/// before the transfer, so a re-entering payee finds the invoice already settled.
contract InvoiceEscrow is IInvoiceEscrow, ReentrancyGuardTransient {
    /// @dev Bounds on the constructor's settings: a dispute window or payment term beyond a year
    /// is a mistake, not a policy.
    uint256 private constant MAX_SETTING_SECONDS = 365 days;

    ICrmRegistry public immutable registry;
    uint256 public immutable override disputeWindowSeconds;
    uint256 public immutable override paymentTermSeconds;

    address private _treasury;
    uint256 private _invoiceCount;
    mapping(uint256 invoiceId => Invoice) private _invoices;

    constructor(ICrmRegistry registry_, address treasury_, uint256 disputeWindowSeconds_, uint256 paymentTermSeconds_) {
        if (treasury_ == address(0)) revert TreasuryInvalid(treasury_);
        if (
            disputeWindowSeconds_ == 0 || disputeWindowSeconds_ > MAX_SETTING_SECONDS || paymentTermSeconds_ == 0
                || paymentTermSeconds_ > MAX_SETTING_SECONDS
        ) revert EscrowSettingInvalid(disputeWindowSeconds_, paymentTermSeconds_);
        registry = registry_;
        _treasury = treasury_;
        disputeWindowSeconds = disputeWindowSeconds_;
        paymentTermSeconds = paymentTermSeconds_;
        emit TreasuryChanged(address(0), treasury_, msg.sender);
    }

    /// @inheritdoc IInvoiceEscrow
    function issueInvoice(uint256 dealId, uint256 customerId, address payer, uint256 amount)
        external
        override
        returns (uint256 invoiceId)
    {
        _requireRole(CrmRoles.INVOICE_ISSUER);
        if (payer == address(0)) revert InvoicePayerMissing(dealId);
        if (amount == 0 || amount > type(uint96).max) revert InvoiceAmountInvalid(amount);

        invoiceId = ++_invoiceCount;
        uint40 dueAt = uint40(block.timestamp + paymentTermSeconds);
        _invoices[invoiceId] = Invoice({
            amount: uint96(amount),
            dueAt: dueAt,
            paidAt: 0,
            status: InvoiceStatus.Open,
            // Ids below 2**64: the pipeline and the registry count one by one.
            dealId: uint64(dealId),
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

        invoice.status = InvoiceStatus.Paid;
        invoice.paidAt = uint40(block.timestamp);
        emit InvoicePaid(invoiceId, msg.sender, msg.value, uint64(block.timestamp));
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

        invoice.status = InvoiceStatus.Disputed;
        emit InvoiceDisputed(invoiceId, msg.sender, uint64(block.timestamp));
    }

    /// @inheritdoc IInvoiceEscrow
    function release(uint256 invoiceId) external override nonReentrant {
        Invoice storage invoice = _requireInEscrow(invoiceId);
        if (invoice.status == InvoiceStatus.Disputed) {
            _requireRole(CrmRoles.MANAGER);
        } else {
            uint256 endsAt = invoice.paidAt + disputeWindowSeconds;
            // slither-disable-next-line timestamp
            if (block.timestamp < endsAt) revert DisputeWindowOpen(invoiceId, endsAt);
        }

        _release(invoiceId, invoice);
    }

    /// @inheritdoc IInvoiceEscrow
    function refund(uint256 invoiceId) external override nonReentrant {
        _requireRole(CrmRoles.MANAGER);
        Invoice storage invoice = _requireInEscrow(invoiceId);

        address payer = invoice.payer;
        uint256 amount = invoice.amount;
        invoice.status = InvoiceStatus.Refunded;
        emit InvoiceRefunded(invoiceId, payer, msg.sender, amount);
        _transfer(payer, amount);
    }

    /// @inheritdoc IInvoiceEscrow
    function cancel(uint256 invoiceId) external override {
        _requireRole(CrmRoles.MANAGER);
        Invoice storage invoice = _invoices[invoiceId];
        InvoiceStatus status = invoice.status;
        if (status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        if (status != InvoiceStatus.Open) revert InvoiceNotOpen(invoiceId, status);

        invoice.status = InvoiceStatus.Cancelled;
        emit InvoiceCancelled(invoiceId, msg.sender);
    }

    /// @inheritdoc IInvoiceEscrow
    function setTreasury(address newTreasury) external override {
        _requireRole(CrmRoles.ADMIN);
        if (newTreasury == address(0)) revert TreasuryInvalid(newTreasury);

        address previous = _treasury;
        _treasury = newTreasury;
        emit TreasuryChanged(previous, newTreasury, msg.sender);
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
        return _treasury;
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
        address to = _treasury;
        uint256 amount = invoice.amount;
        invoice.status = InvoiceStatus.Released;
        emit InvoiceReleased(invoiceId, to, msg.sender, amount);
        _transfer(to, amount);
    }

    function _transfer(address to, uint256 amount) private {
        // `to` is the treasury (set by an admin) or the invoice's payer (refund, manager only);
        // Slither cannot see role checks made through the registry.
        // slither-disable-next-line arbitrary-send-eth,low-level-calls
        (bool ok,) = to.call{value: amount}("");
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
