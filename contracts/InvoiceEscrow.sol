// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IInvoiceEscrow} from "../interfaces/IInvoiceEscrow.sol";
import {ICrmRegistry} from "../interfaces/ICrmRegistry.sol";
import {ILoyaltyPoints} from "../interfaces/ILoyaltyPoints.sol";
import {CrmRoles} from "./libraries/CrmRoles.sol";

/// @title InvoiceEscrow
/// @notice Invoices issued by the deal pipeline, paid in ETH or an allow-listed ERC-20 and held
/// until released or refunded; loyalty points minted at release and redeemed at payment; payments
/// made outside the chain recorded by a manager.
/// @dev Invariants, per currency: this contract's balance (ETH, or each token's) is at least its
/// liabilities (`liabilitiesWei()`, `tokenLiabilities(token)`): the amounts of Paid and Disputed
/// invoices plus credited, unwithdrawn refunds; anything above was forced or sent in and can be
/// swept. Every function that moves value in or out is nonReentrant; those that move it out settle
/// state before the transfer. A token payment counts what arrived, not what was asked for.
contract InvoiceEscrow is IInvoiceEscrow, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev Bounds on the constructor's settings: a window, term or delay beyond a year is a
    /// mistake, not a policy.
    uint256 private constant MAX_SETTING_SECONDS = 365 days;
    /// @dev The treasury epoch is a uint8 packed into the invoice's first slot; epoch 0 is unused.
    uint256 private constant MAX_TREASURY_EPOCHS = type(uint8).max;
    uint256 private constant WAD = 1e18;
    uint8 private constant MAX_PAYMENT_METHOD = 3; // other

    /// @dev One slot: who receives an epoch's releases and how much of it is still held.
    struct TreasuryEntry {
        address account;
        uint96 heldWei;
    }

    struct PendingTreasury {
        address account;
        uint64 effectiveAt;
    }

    /// @dev One slot per token: whether new invoices may be issued in it, and how much of it the
    /// Paid and Disputed invoices hold.
    struct TokenAccount {
        bool allowed;
        uint128 held;
    }

    struct LoyaltyRates {
        uint128 earnWad;
        uint128 redeemWad;
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
    mapping(address token => TokenAccount) private _tokens;
    mapping(address token => uint256 amount) private _tokenRefundsOwed;
    mapping(address token => mapping(address payer => uint256 amount)) private _tokenRefunds;
    ILoyaltyPoints private _loyalty;
    mapping(address currency => LoyaltyRates) private _rates;
    mapping(uint256 invoiceId => uint256 points) private _redeemed;

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
    function issueInvoice(uint256 dealId, uint256 customerId, address payer, uint256 amount, address currency)
        external
        override
        returns (uint256 invoiceId)
    {
        if (msg.sender != issuer) revert CallerNotIssuer(msg.sender);
        if (currency != address(0) && !_tokens[currency].allowed) revert TokenNotAllowed(currency);
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
            customerId: uint64(customerId),
            currency: currency
        });
        emit InvoiceIssued(
            invoiceId, dealId, customerId, payer, amount, dueAt, paymentReference(invoiceId), currency
        );
    }

    /// @inheritdoc IInvoiceEscrow
    function pay(uint256 invoiceId) external payable override nonReentrant {
        Invoice storage invoice = _requirePayable(invoiceId);
        address currency = invoice.currency;
        if (currency != address(0)) revert InvoiceCurrencyMismatch(invoiceId, currency);

        _payEther(invoiceId, invoice, invoice.amount);
    }

    /// @inheritdoc IInvoiceEscrow
    function payToken(uint256 invoiceId) external override nonReentrant {
        Invoice storage invoice = _requirePayable(invoiceId);
        address currency = invoice.currency;
        if (currency == address(0)) revert InvoiceCurrencyMismatch(invoiceId, currency);

        _payToken(invoiceId, invoice, currency, invoice.amount);
    }

    /// @inheritdoc IInvoiceEscrow
    function payTokenWithPermit(uint256 invoiceId, uint256 points, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        override
        nonReentrant
    {
        Invoice storage invoice = _requirePayable(invoiceId);
        address currency = invoice.currency;
        if (currency == address(0)) revert InvoiceCurrencyMismatch(invoiceId, currency);
        uint256 due = points == 0 ? invoice.amount : _redeem(invoiceId, invoice, currency, points);

        // A permit already used (someone copied it from the mempool and sent it first) reverts;
        // the payment still goes through when the allowance it granted is there. `due` is the
        // amount owed after the discount, not a balance: Slither's reentrancy-balance reads the
        // points balance checked in _redeem into it, but those points are burned already.
        // slither-disable-next-line unused-return,reentrancy-balance
        try IERC20Permit(currency).permit(msg.sender, address(this), due, deadline, v, r, s) {}
        catch {
            // slither-disable-next-line reentrancy-balance
            if (IERC20(currency).allowance(msg.sender, address(this)) < due) revert PermitInvalid(currency);
        }
        _payToken(invoiceId, invoice, currency, due);
    }

    /// @inheritdoc IInvoiceEscrow
    function payWithPoints(uint256 invoiceId, uint256 points) external payable override nonReentrant {
        Invoice storage invoice = _requirePayable(invoiceId);
        address currency = invoice.currency;
        if (currency != address(0) && msg.value != 0) revert InvoiceCurrencyMismatch(invoiceId, currency);
        uint256 due = points == 0 ? invoice.amount : _redeem(invoiceId, invoice, currency, points);

        if (currency == address(0)) _payEther(invoiceId, invoice, due);
        else _payToken(invoiceId, invoice, currency, due);
    }

    /// @inheritdoc IInvoiceEscrow
    function recordOffChainPayment(uint256 invoiceId, uint8 method, bytes32 receiptHash, bytes32 cidDigest)
        external
        override
    {
        _requireRole(CrmRoles.MANAGER);
        if (method == 0 || method > MAX_PAYMENT_METHOD) revert PaymentMethodInvalid(method);
        if (receiptHash == bytes32(0) || cidDigest == bytes32(0)) revert ReceiptHashMissing();
        Invoice storage invoice = _invoices[invoiceId];
        InvoiceStatus status = invoice.status;
        if (status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        if (status != InvoiceStatus.Open) revert InvoiceNotOpen(invoiceId, status);

        invoice.status = InvoiceStatus.PaidOffChain;
        invoice.paidAt = uint40(block.timestamp);
        emit InvoicePaidOffChain(invoiceId, msg.sender, method, receiptHash, cidDigest, uint64(block.timestamp));
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
    function withdrawTokenRefund(address token) external override nonReentrant {
        uint256 amount = _tokenRefunds[token][msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);

        delete _tokenRefunds[token][msg.sender];
        _tokenRefundsOwed[token] -= amount;
        emit TokenRefundWithdrawn(token, msg.sender, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
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
    function sweepToken(address token) external override nonReentrant {
        if (token == address(0)) revert TokenInvalid(token);
        uint256 liabilities = tokenLiabilities(token);
        uint256 balance = IERC20(token).balanceOf(address(this));
        if (balance <= liabilities) revert NothingToSweep();

        address to = _treasuries[_treasuryEpoch].account;
        uint256 amount = balance - liabilities;
        emit ForcedTokensSwept(token, to, amount, msg.sender);
        IERC20(token).safeTransfer(to, amount);
    }

    /// @inheritdoc IInvoiceEscrow
    function allowToken(address token, bool allowed) external override {
        _requireRole(CrmRoles.ADMIN);
        if (token == address(0) || token.code.length == 0 || token == address(_loyalty)) revert TokenInvalid(token);

        _tokens[token].allowed = allowed;
        emit TokenAllowed(token, allowed, msg.sender);
    }

    /// @inheritdoc IInvoiceEscrow
    function setLoyaltyProgram(address points) external override {
        _requireRole(CrmRoles.ADMIN);
        address current = address(_loyalty);
        if (current != address(0)) revert LoyaltyAlreadySet(current);
        if (points.code.length == 0) revert LoyaltyMinterMismatch(points, address(0));
        address minter = ILoyaltyPoints(points).minter();
        if (minter != address(this)) revert LoyaltyMinterMismatch(points, minter);
        if (_tokens[points].allowed) revert TokenInvalid(points);

        _loyalty = ILoyaltyPoints(points);
        emit LoyaltyProgramSet(points, msg.sender);
    }

    /// @inheritdoc IInvoiceEscrow
    function setLoyaltyRates(address currency, uint256 earnWad, uint256 redeemWad) external override {
        _requireRole(CrmRoles.ADMIN);
        if (earnWad > type(uint128).max || redeemWad > type(uint128).max) revert LoyaltyRateInvalid(earnWad, redeemWad);

        _rates[currency] = LoyaltyRates(uint128(earnWad), uint128(redeemWad));
        emit LoyaltyRatesChanged(currency, earnWad, redeemWad, msg.sender);
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
    function tokenLiabilities(address token) public view override returns (uint256) {
        return _tokens[token].held + _tokenRefundsOwed[token];
    }

    /// @inheritdoc IInvoiceEscrow
    function tokenRefundOf(address token, address payer) external view override returns (uint256) {
        return _tokenRefunds[token][payer];
    }

    /// @inheritdoc IInvoiceEscrow
    function isTokenAllowed(address token) external view override returns (bool) {
        return _tokens[token].allowed;
    }

    /// @inheritdoc IInvoiceEscrow
    function loyaltyProgram() external view override returns (address) {
        return address(_loyalty);
    }

    /// @inheritdoc IInvoiceEscrow
    function loyaltyRatesOf(address currency) external view override returns (uint256 earnWad, uint256 redeemWad) {
        LoyaltyRates memory rates = _rates[currency];
        return (rates.earnWad, rates.redeemWad);
    }

    /// @inheritdoc IInvoiceEscrow
    function pointsRedeemedOn(uint256 invoiceId) external view override returns (uint256) {
        return _redeemed[invoiceId];
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

    /// @dev Checks-effects-interactions: the invoice is Paid and the funds counted before the
    /// tokens are pulled; the payment then reverts unless exactly `due` arrived.
    function _payToken(uint256 invoiceId, Invoice storage invoice, address currency, uint256 due) private {
        TokenAccount storage account = _tokens[currency];
        address treasury_ = _markPaid(invoice);
        // Cannot overflow in practice: a uint96 amount per invoice, 2**32 of them before it would.
        account.held += uint128(due);
        emit InvoicePaid(invoiceId, msg.sender, treasury_, due, uint64(block.timestamp));

        IERC20 token = IERC20(currency);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), due);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != due) revert TokenTransferShort(currency, due, received);
    }

    function _payEther(uint256 invoiceId, Invoice storage invoice, uint256 due) private {
        if (msg.value != due) revert InvoiceAmountMismatch(invoiceId, due, msg.value);
        uint8 epoch = _treasuryEpoch;
        TreasuryEntry storage entry = _treasuries[epoch];
        invoice.status = InvoiceStatus.Paid;
        invoice.paidAt = uint40(block.timestamp);
        invoice.treasuryEpoch = epoch;
        // Cannot overflow in practice: the sum of held amounts is bounded by the ETH in existence.
        entry.heldWei += uint96(due);
        emit InvoicePaid(invoiceId, msg.sender, entry.account, due, uint64(block.timestamp));
    }

    /// @return treasury_ The treasury the invoice is now fixed to.
    function _markPaid(Invoice storage invoice) private returns (address treasury_) {
        uint8 epoch = _treasuryEpoch;
        invoice.status = InvoiceStatus.Paid;
        invoice.paidAt = uint40(block.timestamp);
        invoice.treasuryEpoch = epoch;
        treasury_ = _treasuries[epoch].account;
    }

    /// @dev Burns the payer's points and lowers the invoice's amount by what they buy.
    /// @return due What the payer still pays.
    function _redeem(uint256 invoiceId, Invoice storage invoice, address currency, uint256 points)
        private
        returns (uint256 due)
    {
        ILoyaltyPoints loyalty = _loyalty;
        if (address(loyalty) == address(0)) revert LoyaltyNotSet();
        uint256 redeemWad = _rates[currency].redeemWad;
        if (redeemWad == 0) revert PointsNotRedeemable(currency);
        uint256 held = loyalty.balanceOf(msg.sender);
        if (held < points) revert PointsInsufficient(msg.sender, held, points);
        uint256 amount = invoice.amount;
        uint256 discount = points * redeemWad / WAD;
        if (discount >= amount) revert PointsDiscountTooLarge(invoiceId, discount, amount);

        due = amount - discount;
        // Fits: less than the uint96 amount.
        invoice.amount = uint96(due);
        _redeemed[invoiceId] = points;
        emit PointsRedeemed(invoiceId, msg.sender, points, discount);
        // The loyalty token is fixed by an admin and mints only for this contract.
        loyalty.burn(msg.sender, points);
    }

    function _release(uint256 invoiceId, Invoice storage invoice) private {
        address currency = invoice.currency;
        uint96 amount = invoice.amount;
        invoice.status = InvoiceStatus.Released;
        address to;
        if (currency == address(0)) {
            TreasuryEntry storage entry = _treasuries[invoice.treasuryEpoch];
            to = entry.account;
            entry.heldWei -= amount;
        } else {
            to = _treasuries[invoice.treasuryEpoch].account;
            _tokens[currency].held -= amount;
        }
        emit InvoiceReleased(invoiceId, to, msg.sender, amount);
        _award(invoiceId, invoice, currency, amount);
        if (currency == address(0)) _transfer(to, amount);
        else IERC20(currency).safeTransfer(to, amount);
    }

    /// @dev Points are minted at release, never at payment: a refunded invoice earns none.
    /// The payer's slot is read only when points are minted.
    function _award(uint256 invoiceId, Invoice storage invoice, address currency, uint256 amount) private {
        // Rates are zero until an admin sets them, and setting them needs no loyalty program: the
        // rate is read first, the program only when there are points to mint.
        uint256 points = amount * _rates[currency].earnWad / WAD;
        if (points == 0) return;
        ILoyaltyPoints loyalty = _loyalty;
        if (address(loyalty) == address(0)) return;
        address payer = invoice.payer;
        emit PointsAwarded(invoiceId, payer, points);
        loyalty.mint(payer, points);
    }

    function _creditRefund(uint256 invoiceId, Invoice storage invoice) private {
        address payer = invoice.payer;
        address currency = invoice.currency;
        uint96 amount = invoice.amount;
        invoice.status = InvoiceStatus.Refunded;
        if (currency == address(0)) {
            _treasuries[invoice.treasuryEpoch].heldWei -= amount;
            _refunds[payer] += amount;
            _refundsOwedWei += amount;
        } else {
            _tokens[currency].held -= amount;
            _tokenRefunds[currency][payer] += amount;
            _tokenRefundsOwed[currency] += amount;
        }
        emit InvoiceRefunded(invoiceId, payer, msg.sender, amount);
        uint256 points = _redeemed[invoiceId];
        if (points != 0) {
            delete _redeemed[invoiceId];
            emit PointsRestored(invoiceId, payer, points);
            // The loyalty token is fixed by an admin and mints only for this contract.
            // slither-disable-next-line reentrancy-events
            _loyalty.mint(payer, points);
        }
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

    /// @dev An open invoice, paid by its payer.
    function _requirePayable(uint256 invoiceId) private view returns (Invoice storage invoice) {
        invoice = _invoices[invoiceId];
        InvoiceStatus status = invoice.status;
        if (status != InvoiceStatus.Open) _revertNotPayable(invoiceId, status);
        if (msg.sender != invoice.payer) revert InvoicePayerMismatch(invoiceId, invoice.payer, msg.sender);
    }

    function _revertNotPayable(uint256 invoiceId, InvoiceStatus status) private pure {
        if (status == InvoiceStatus.None) revert InvoiceUnknown(invoiceId);
        if (status == InvoiceStatus.Cancelled) revert InvoiceIsCancelled(invoiceId);
        if (status == InvoiceStatus.PaidOffChain) revert InvoiceSettledOffChain(invoiceId);
        revert InvoiceAlreadyPaid(invoiceId);
    }

    function _requireRole(bytes32 role) private view {
        if (!registry.hasRole(role, msg.sender)) revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, role);
    }
}
