// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IDealPipeline} from "../../../interfaces/IDealPipeline.sol";
import {IInvoiceEscrow} from "../../../interfaces/IInvoiceEscrow.sol";
import {ForceSender} from "../../../contracts/testing/ForceSender.sol";
import {TestStablecoin} from "../../../contracts/testing/TestStablecoin.sol";
import {Crm} from "../utils/CrmDeployment.sol";
import {Vm, VM} from "../utils/Vm.sol";

/// @title EscrowHandler
/// @notice Drives the escrow the way its users do: the manager wins deals (the pipeline issues the
/// invoices), payers pay, confirm, dispute and reclaim, the manager releases, refunds and cancels,
/// the admin and treasuries change the treasury, anyone sweeps forced ETH, and time passes. One
/// call in `STRANGER_ODDS` goes to a random actor instead of the expected role.
///
/// Every call to the system runs through `_observe`, which keeps the ghost variables: money in and
/// out by kind, payments and payouts per invoice, each invoice status change seen, and a count of
/// movements no event explains (an ETH balance or a refund credit that changed by other than the
/// sum of the escrow's events). Each action also checks its own pre-conditions (who may call,
/// when, from which status) against an independent model and counts any success the model refuses.
/// A refused call reverts the handler, so forge's metrics count refusals as reverts.
///
/// Invoices come in two currencies, ETH and one allow-listed TestStablecoin (6 decimals): every
/// ghost total exists once per currency, token movements are reconciled with the events like ETH
/// ones (the payers', treasuries' and escrow's token balances, the token refund credits), and
/// tokens also reach the escrow by plain transfer (to be swept) and invoices are settled off-chain.
contract EscrowHandler {
    uint256 private constant STATUS_COUNT = 8; // IInvoiceEscrow.InvoiceStatus has eight members
    uint256 private constant MAX_INVOICE_WEI = 1_000 ether;
    uint256 private constant MAX_FORCED_WEI = 10 ether;
    /// @dev A million units of the 6-decimal stablecoin.
    uint256 private constant MAX_INVOICE_TOKENS = 1e12;
    uint256 private constant MAX_SENT_TOKENS = 1e10;
    uint256 private constant STARTING_TOKENS = 1e30;
    /// @dev One invoice issued in this many is in the token, the others in ETH.
    uint256 private constant CURRENCIES = 2;
    uint8 private constant MAX_PAYMENT_METHOD = 3;
    /// @dev Every actor's (and this handler's) ETH, dealt once at construction: no balance is set by
    /// cheatcode during a run, so every change of a tracked balance is the system's doing.
    uint256 private constant STARTING_BALANCE_WEI = 1e9 ether;
    uint256 private constant MIN_WARP_SECONDS = 1 hours;
    uint256 private constant MAX_WARP_SECONDS = 10 days;
    uint256 private constant STRANGER_ODDS = 4;
    uint256 private constant WRONG_AMOUNT_ODDS = 8;
    uint256 private constant RELEASERS = 3; // payer, treasury at payment, manager
    /// @dev Time-bound actions wait for their moment (end of a window, a delay, a deadline) in one
    /// call of this many, so that the late paths are reached as often as the early ones.
    uint256 private constant WAIT_ODDS = 2;
    /// @dev Actions pick an invoice in a status they apply to, except one pick in this many.
    uint256 private constant ANY_INVOICE_ODDS = 8;
    /// @dev An action that needs something first (a refund owed, a proposed treasury, forced ETH)
    /// arranges it, except in one call of this many, which meets the refusal instead.
    uint256 private constant ARRANGE_ODDS = 4;
    uint256 private constant OPEN = 1 << uint8(IInvoiceEscrow.InvoiceStatus.Open);
    uint256 private constant PAID = 1 << uint8(IInvoiceEscrow.InvoiceStatus.Paid);
    uint256 private constant DISPUTED = 1 << uint8(IInvoiceEscrow.InvoiceStatus.Disputed);
    uint256 private constant CANCELLED = 1 << uint8(IInvoiceEscrow.InvoiceStatus.Cancelled);
    /// @dev Where ghost totals per currency keep ETH (the token's are keyed by its address).
    address private constant ETH = address(0);

    IInvoiceEscrow public immutable escrow;
    IDealPipeline public immutable pipeline;
    address public immutable admin;
    address public immutable manager;
    address public immutable agent;
    uint256 public immutable disputeWindowSeconds;
    uint256 public immutable disputeResolutionSeconds;
    uint256 public immutable treasuryDelaySeconds;
    ForceSender private immutable _forceSender;
    TestStablecoin public immutable token;

    address[] private _payers;
    uint256[] private _customerIds;
    address[] private _treasuries;
    address[] private _actors;
    /// @dev Accounts whose ETH balance is reconciled with the events: the escrow, payers, treasuries.
    address[] private _tracked;
    uint256[] private _wonDeals;

    uint256 public currentTime;

    // ---------------------------------------------------------------- ghost variables
    uint256 public ghostPaidInWei;
    uint256 public ghostReleasedWei;
    uint256 public ghostRefundCreditedWei;
    uint256 public ghostRefundWithdrawnWei;
    uint256 public ghostForcedInWei;
    uint256 public ghostSweptWei;
    /// @dev The same totals in the token's base units.
    uint256 public ghostTokenPaidIn;
    uint256 public ghostTokenReleased;
    uint256 public ghostTokenRefundCredited;
    uint256 public ghostTokenRefundWithdrawn;
    uint256 public ghostTokenSentIn;
    uint256 public ghostTokenSwept;
    mapping(address payer => uint256 amount) public ghostTokenRefundOwed;
    /// @dev InvoicePaid events per invoice, and InvoiceReleased plus InvoiceRefunded events.
    mapping(uint256 invoiceId => uint256 count) public ghostPayments;
    mapping(uint256 invoiceId => uint256 count) public ghostPayouts;
    /// @dev The model: refunds owed per payer, treasury changes, payment and dispute times.
    mapping(address payer => uint256 amountWei) public ghostRefundOwedWei;
    mapping(uint256 invoiceId => address treasury) public ghostTreasuryAtPayment;
    mapping(uint256 invoiceId => uint256 at) public ghostPaidAt;
    mapping(uint256 invoiceId => uint256 at) public ghostResolveBy;
    address public ghostTreasury;
    address public ghostProposedTreasury;
    uint256 public ghostTreasuryEffectiveAt;
    /// @dev Invoice status changes seen, [from][to]: None -> Open is an issue.
    uint256[STATUS_COUNT][STATUS_COUNT] private _statusChanges;
    uint256 public ghostUnexplainedMovements;
    string public ghostFirstUnexplained;
    uint256 public ghostSpecViolations;
    string public ghostFirstSpecViolation;
    uint256 public ghostMaxPayoutsPerInvoice;

    constructor(Crm memory crm) {
        escrow = crm.escrow;
        pipeline = crm.pipeline;
        admin = crm.admin;
        manager = crm.manager;
        agent = crm.agents[0];
        disputeWindowSeconds = crm.escrow.disputeWindowSeconds();
        disputeResolutionSeconds = crm.escrow.disputeResolutionSeconds();
        treasuryDelaySeconds = crm.escrow.treasuryDelaySeconds();
        ghostTreasury = crm.escrow.treasury();
        currentTime = block.timestamp;

        _tracked.push(address(crm.escrow));
        for (uint256 i; i < crm.payers.length; ++i) {
            _payers.push(crm.payers[i]);
            _customerIds.push(crm.customerIds[i]);
            _tracked.push(crm.payers[i]);
            _actors.push(crm.payers[i]);
        }
        for (uint256 i; i < crm.treasuries.length; ++i) {
            _treasuries.push(crm.treasuries[i]);
            _tracked.push(crm.treasuries[i]);
            _actors.push(crm.treasuries[i]);
        }
        _actors.push(crm.admin);
        _actors.push(crm.manager);
        _actors.push(crm.agents[0]);
        _actors.push(crm.stranger);
        for (uint256 i; i < _actors.length; ++i) {
            VM.deal(_actors[i], STARTING_BALANCE_WEI);
        }
        VM.deal(address(this), STARTING_BALANCE_WEI);
        _forceSender = new ForceSender();

        token = new TestStablecoin("Test Dollar", "TUSD");
        VM.label(address(token), "TestStablecoin");
        VM.prank(admin);
        crm.escrow.allowToken(address(token), true);
        token.mint(address(this), STARTING_TOKENS);
        for (uint256 i; i < _payers.length; ++i) {
            token.mint(_payers[i], STARTING_TOKENS);
            VM.prank(_payers[i]);
            token.approve(address(crm.escrow), type(uint256).max);
        }
    }

    /// @notice The functions forge should call.
    function actions() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](20);
        selectors[0] = this.issueInvoice.selector;
        selectors[1] = this.reissueInvoice.selector;
        selectors[2] = this.cancel.selector;
        selectors[3] = this.pay.selector;
        selectors[4] = this.confirmDelivery.selector;
        selectors[5] = this.dispute.selector;
        selectors[6] = this.release.selector;
        selectors[7] = this.refund.selector;
        selectors[8] = this.reclaim.selector;
        selectors[9] = this.withdrawRefund.selector;
        selectors[10] = this.proposeTreasury.selector;
        selectors[11] = this.cancelTreasuryChange.selector;
        selectors[12] = this.acceptTreasury.selector;
        selectors[13] = this.forceEther.selector;
        selectors[14] = this.sweep.selector;
        selectors[15] = this.warp.selector;
        selectors[16] = this.withdrawTokenRefund.selector;
        selectors[17] = this.sendTokens.selector;
        selectors[18] = this.sweepToken.selector;
        selectors[19] = this.recordOffChainPayment.selector;
    }

    modifier timed() {
        VM.warp(currentTime);
        _;
    }

    // ---------------------------------------------------------------- actions

    /// @notice The manager opens a deal for a customer with a wallet and takes it to Won: the
    /// pipeline issues the invoice.
    function issueInvoice(uint256 customerSeed, uint256 valueSeed) external timed {
        _issue(customerSeed, valueSeed);
    }

    /// @notice A manager cancels a won deal's open invoice (if any) and issues a new one.
    function reissueInvoice(uint256 dealSeed, uint256 actorSeed) external timed {
        uint256 dealId = _reissuableDeal(dealSeed);
        address actor = _actorOr(manager, actorSeed);
        IInvoiceEscrow.InvoiceStatus status = escrow.invoiceOf(pipeline.dealOf(dealId).invoiceId).status;

        _observe(address(pipeline), actor, abi.encodeCall(IDealPipeline.reissueInvoice, (dealId)), 0);

        if (actor != manager) _violation("reissueInvoice by a non-manager");
        if (status != IInvoiceEscrow.InvoiceStatus.Open && status != IInvoiceEscrow.InvoiceStatus.Cancelled) {
            _violation("reissueInvoice over a settled invoice");
        }
    }

    function cancel(uint256 invoiceSeed, uint256 actorSeed) external timed {
        uint256 invoiceId = _invoiceIn(OPEN, invoiceSeed);
        IInvoiceEscrow.InvoiceStatus status = escrow.invoiceOf(invoiceId).status;
        address actor = _actorOr(manager, actorSeed);

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.cancel, (invoiceId)), 0);

        if (actor != manager) _violation("cancel by a non-manager");
        if (status != IInvoiceEscrow.InvoiceStatus.Open) _violation("cancel of an invoice that is not open");
    }

    /// @notice The payer pays: `pay` with ETH for an ETH invoice, `payToken` (allowance given at
    /// construction) for a token invoice. One call in WRONG_AMOUNT_ODDS sends the wrong ETH amount,
    /// or pays a token invoice with ETH or an ETH invoice with payToken.
    function pay(uint256 invoiceSeed, uint256 actorSeed, uint256 amountSeed) external timed {
        uint256 invoiceId = _invoiceIn(OPEN, invoiceSeed);
        IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(invoiceId);
        address actor = _actorOr(invoice.payer, actorSeed);
        bool wrong = _roll(amountSeed, WRONG_AMOUNT_ODDS) == 0;
        if (wrong && (invoice.currency != ETH || amountSeed % 3 == 0)) {
            _payInOtherCurrency(invoiceId, invoice, actor);
            return;
        }
        uint256 amount = invoice.currency == ETH ? invoice.amount : 0;
        if (wrong) amount = amountSeed % 2 == 0 ? amount - 1 : amount + 1;
        _pay(invoiceId, invoice, actor, amount);
    }

    /// @notice A manager records an open invoice as paid outside the chain.
    function recordOffChainPayment(uint256 invoiceSeed, uint256 actorSeed, uint8 method) external timed {
        uint256 invoiceId = _invoiceIn(OPEN, invoiceSeed);
        IInvoiceEscrow.InvoiceStatus status = escrow.invoiceOf(invoiceId).status;
        address actor = _actorOr(manager, actorSeed);
        method = uint8(_bound(method, 0, MAX_PAYMENT_METHOD + 1));

        _observe(
            address(escrow),
            actor,
            abi.encodeCall(
                IInvoiceEscrow.recordOffChainPayment, (invoiceId, method, keccak256("receipt"), keccak256("cid"))
            ),
            0
        );

        if (actor != manager) _violation("recordOffChainPayment by a non-manager");
        if (method == 0 || method > MAX_PAYMENT_METHOD) _violation("recordOffChainPayment with an invalid method");
        if (status != IInvoiceEscrow.InvoiceStatus.Open) _violation("recordOffChainPayment of an invoice not open");
    }

    function confirmDelivery(uint256 invoiceSeed, uint256 actorSeed) external timed {
        uint256 invoiceId = _invoiceIn(PAID, invoiceSeed);
        IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(invoiceId);
        address actor = _actorOr(invoice.payer, actorSeed);

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.confirmDelivery, (invoiceId)), 0);

        if (actor != invoice.payer) _violation("confirmDelivery by someone other than the payer");
        if (invoice.status != IInvoiceEscrow.InvoiceStatus.Paid) _violation("confirmDelivery of an invoice not Paid");
    }

    function dispute(uint256 invoiceSeed, uint256 actorSeed) external timed {
        uint256 invoiceId = _invoiceIn(PAID, invoiceSeed);
        IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(invoiceId);
        _dispute(invoiceId, invoice, _actorOr(invoice.payer, actorSeed));
    }

    function release(uint256 invoiceSeed, uint256 actorSeed, uint256 waitSeed) external timed {
        uint256 invoiceId = _invoiceIn(PAID | DISPUTED, invoiceSeed);
        IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(invoiceId);
        if (invoice.status == IInvoiceEscrow.InvoiceStatus.Paid) {
            _waitUntil(ghostPaidAt[invoiceId] + disputeWindowSeconds, waitSeed);
        }
        address treasuryAtPayment = ghostTreasuryAtPayment[invoiceId];
        uint256 pick = actorSeed % RELEASERS;
        address actor = _actorOr(pick == 0 ? invoice.payer : pick == 1 ? treasuryAtPayment : manager, actorSeed);

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.release, (invoiceId)), 0);

        if (invoice.status == IInvoiceEscrow.InvoiceStatus.Disputed) {
            if (actor != manager) _violation("release of a disputed invoice by a non-manager");
            if (block.timestamp >= ghostResolveBy[invoiceId]) _violation("release of a dispute after its deadline");
        } else if (invoice.status == IInvoiceEscrow.InvoiceStatus.Paid) {
            if (actor != invoice.payer && actor != treasuryAtPayment && actor != manager) {
                _violation("release by someone other than payer, treasury or manager");
            }
            if (block.timestamp < ghostPaidAt[invoiceId] + disputeWindowSeconds) _violation("release inside the window");
        } else {
            _violation("release of an invoice neither Paid nor Disputed");
        }
    }

    function refund(uint256 invoiceSeed, uint256 actorSeed) external timed {
        uint256 invoiceId = _invoiceIn(PAID | DISPUTED, invoiceSeed);
        _refund(invoiceId, escrow.invoiceOf(invoiceId), _actorOr(manager, actorSeed));
    }

    function reclaim(uint256 invoiceSeed, uint256 actorSeed, uint256 waitSeed) external timed {
        uint256 invoiceId = _invoiceIn(DISPUTED, invoiceSeed);
        IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(invoiceId);
        if (invoice.status == IInvoiceEscrow.InvoiceStatus.Disputed) _waitUntil(ghostResolveBy[invoiceId], waitSeed);
        address actor = _actorOr(invoice.payer, actorSeed);

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.reclaim, (invoiceId)), 0);

        if (actor != invoice.payer) _violation("reclaim by someone other than the payer");
        if (invoice.status != IInvoiceEscrow.InvoiceStatus.Disputed) _violation("reclaim of an undisputed invoice");
        if (block.timestamp < ghostResolveBy[invoiceId]) _violation("reclaim before the resolution deadline");
        _owe(invoice);
    }

    function withdrawRefund(uint256 actorSeed) external timed {
        address payer = _creditedPayer(actorSeed);
        if (ghostRefundOwedWei[payer] == 0 && _roll(actorSeed, ARRANGE_ODDS) != 0) {
            // Arrange: nobody is owed anything, so a manager refunds a paid invoice first.
            uint256 invoiceId = _invoiceIn(PAID | DISPUTED, actorSeed);
            IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(invoiceId);
            _refund(invoiceId, invoice, manager);
            payer = invoice.payer;
        }
        address actor = _actorOr(payer, actorSeed);
        uint256 owed = ghostRefundOwedWei[actor];

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.withdrawRefund, ()), 0);

        if (owed == 0) _violation("withdrawRefund with nothing owed");
        ghostRefundOwedWei[actor] = 0;
    }

    function proposeTreasury(uint256 treasurySeed, uint256 actorSeed) external timed {
        _proposeTreasury(_treasuries[treasurySeed % _treasuries.length], _actorOr(admin, actorSeed));
    }

    function cancelTreasuryChange(uint256 actorSeed) external timed {
        if (ghostProposedTreasury == address(0) && _roll(actorSeed, ARRANGE_ODDS) != 0) {
            _proposeTreasury(_treasuries[actorSeed % _treasuries.length], admin);
        }
        address actor = _actorOr(admin, actorSeed);
        address proposed = ghostProposedTreasury;

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.cancelTreasuryChange, ()), 0);

        if (actor != admin) _violation("cancelTreasuryChange by a non-admin");
        if (proposed == address(0)) _violation("cancelTreasuryChange with nothing proposed");
        ghostProposedTreasury = address(0);
    }

    function acceptTreasury(uint256 actorSeed, uint256 waitSeed) external timed {
        if (ghostProposedTreasury == address(0) && _roll(actorSeed, ARRANGE_ODDS) != 0) {
            _proposeTreasury(_treasuries[actorSeed % _treasuries.length], admin);
        }
        address proposed = ghostProposedTreasury;
        if (proposed != address(0)) _waitUntil(ghostTreasuryEffectiveAt, waitSeed);
        address actor = _actorOr(proposed, actorSeed);

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.acceptTreasury, ()), 0);

        if (proposed == address(0) || actor != proposed) _violation("acceptTreasury by other than the proposed");
        if (block.timestamp < ghostTreasuryEffectiveAt) _violation("acceptTreasury before the delay");
        ghostTreasury = actor;
        ghostProposedTreasury = address(0);
    }

    /// @notice ETH reaches the escrow without an invoice (here by SELFDESTRUCT): no event, by design.
    function forceEther(uint256 amountSeed) external timed {
        _forceEther(amountSeed);
    }

    function sweep(uint256 actorSeed) external timed {
        if (ghostForcedInWei == ghostSweptWei && _roll(actorSeed, ARRANGE_ODDS) != 0) _forceEther(actorSeed);
        address actor = _actors[actorSeed % _actors.length];
        uint256 unswept = ghostForcedInWei - ghostSweptWei;
        uint256 sweptBefore = ghostSweptWei;

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.sweep, ()), 0);

        if (ghostSweptWei - sweptBefore != unswept) _violation("sweep took other than the forced ETH");
    }

    /// @notice A payer withdraws token refunds credited to it (a manager refunds a token invoice
    /// first when nobody is owed any, except in one call of ARRANGE_ODDS).
    function withdrawTokenRefund(uint256 actorSeed) external timed {
        address payer = _tokenCreditedPayer(actorSeed);
        if (ghostTokenRefundOwed[payer] == 0 && _roll(actorSeed, ARRANGE_ODDS) != 0) {
            uint256 invoiceId = _findIn(PAID | DISPUTED, actorSeed, address(token));
            if (invoiceId == 0) {
                invoiceId = _issueIn(actorSeed, actorSeed, address(token));
                _pay(invoiceId, escrow.invoiceOf(invoiceId), escrow.invoiceOf(invoiceId).payer, 0);
            }
            IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(invoiceId);
            _refund(invoiceId, invoice, manager);
            payer = invoice.payer;
        }
        address actor = _actorOr(payer, actorSeed);
        uint256 owed = ghostTokenRefundOwed[actor];

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.withdrawTokenRefund, (address(token))), 0);

        if (owed == 0) _violation("withdrawTokenRefund with nothing owed");
        ghostTokenRefundOwed[actor] = 0;
    }

    /// @notice Tokens reach the escrow by a plain transfer, without an invoice: no escrow event.
    function sendTokens(uint256 amountSeed) external timed {
        _sendTokens(amountSeed);
    }

    function sweepToken(uint256 actorSeed) external timed {
        if (ghostTokenSentIn == ghostTokenSwept && _roll(actorSeed, ARRANGE_ODDS) != 0) _sendTokens(actorSeed);
        address actor = _actors[actorSeed % _actors.length];
        uint256 unswept = ghostTokenSentIn - ghostTokenSwept;
        uint256 sweptBefore = ghostTokenSwept;

        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.sweepToken, (address(token))), 0);

        if (ghostTokenSwept - sweptBefore != unswept) _violation("sweepToken took other than the tokens sent in");
    }

    function warp(uint256 secondsSeed) external {
        currentTime += _bound(secondsSeed, MIN_WARP_SECONDS, MAX_WARP_SECONDS);
        VM.warp(currentTime);
    }

    // ---------------------------------------------------------------- steps shared by actions

    function _issue(uint256 customerSeed, uint256 valueSeed) private returns (uint256 invoiceId) {
        // Both seeds decide: callers that arrange an invoice pass the same seed twice.
        address currency = _roll(uint256(keccak256(abi.encode(customerSeed, valueSeed))), CURRENCIES) == 0
            ? address(token)
            : ETH;
        return _issueIn(customerSeed, valueSeed, currency);
    }

    function _issueIn(uint256 customerSeed, uint256 valueSeed, address currency) private returns (uint256 invoiceId) {
        uint256 customerId = _customerIds[customerSeed % _customerIds.length];
        uint256 value = _bound(valueSeed, 1, currency == ETH ? MAX_INVOICE_WEI : MAX_INVOICE_TOKENS);
        VM.startPrank(manager);
        uint256 dealId = pipeline.openDealIn(customerId, agent, value, currency);
        for (uint8 stage = uint8(IDealPipeline.Stage.Qualified); stage < uint8(IDealPipeline.Stage.Won); ++stage) {
            pipeline.moveStage(dealId, stage);
        }
        VM.stopPrank();
        _observe(
            address(pipeline), manager, abi.encodeCall(IDealPipeline.moveStage, (dealId, uint8(IDealPipeline.Stage.Won))), 0
        );
        _wonDeals.push(dealId);
        invoiceId = pipeline.dealOf(dealId).invoiceId;
    }

    /// @dev `amount` is the ETH sent: the invoice's amount for ETH, none for a token invoice.
    function _pay(uint256 invoiceId, IInvoiceEscrow.Invoice memory invoice, address actor, uint256 amount) private {
        if (invoice.currency == ETH) {
            _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.pay, (invoiceId)), amount);
            if (amount != invoice.amount) _violation("pay with the wrong amount");
        } else {
            _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.payToken, (invoiceId)), amount);
            if (amount != 0) _violation("payToken with ETH attached");
        }

        if (actor != invoice.payer) _violation("pay by someone other than the payer");
        if (invoice.status != IInvoiceEscrow.InvoiceStatus.Open) _violation("pay of an invoice that is not open");
        ghostTreasuryAtPayment[invoiceId] = ghostTreasury;
        ghostPaidAt[invoiceId] = block.timestamp;
    }

    function _dispute(uint256 invoiceId, IInvoiceEscrow.Invoice memory invoice, address actor) private {
        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.dispute, (invoiceId)), 0);

        if (actor != invoice.payer) _violation("dispute by someone other than the payer");
        if (invoice.status != IInvoiceEscrow.InvoiceStatus.Paid) _violation("dispute of an invoice not Paid");
        if (block.timestamp >= ghostPaidAt[invoiceId] + disputeWindowSeconds) _violation("dispute after the window");
        ghostResolveBy[invoiceId] = block.timestamp + disputeResolutionSeconds;
    }

    function _refund(uint256 invoiceId, IInvoiceEscrow.Invoice memory invoice, address actor) private {
        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.refund, (invoiceId)), 0);

        if (actor != manager) _violation("refund by a non-manager");
        if (invoice.status != IInvoiceEscrow.InvoiceStatus.Paid && invoice.status != IInvoiceEscrow.InvoiceStatus.Disputed) {
            _violation("refund of an invoice neither Paid nor Disputed");
        }
        _owe(invoice);
    }

    /// @dev The model credits the invoice's amount to its payer, in the invoice's currency.
    function _owe(IInvoiceEscrow.Invoice memory invoice) private {
        if (invoice.currency == ETH) ghostRefundOwedWei[invoice.payer] += invoice.amount;
        else ghostTokenRefundOwed[invoice.payer] += invoice.amount;
    }

    /// @dev A token invoice paid with ETH, or an ETH invoice with payToken: always refused.
    function _payInOtherCurrency(uint256 invoiceId, IInvoiceEscrow.Invoice memory invoice, address actor) private {
        if (invoice.currency == ETH) {
            _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.payToken, (invoiceId)), 0);
        } else {
            _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.pay, (invoiceId)), invoice.amount);
        }
        _violation("an invoice paid in the other currency");
    }

    function _sendTokens(uint256 amountSeed) private {
        uint256 amount = _bound(amountSeed, 1, MAX_SENT_TOKENS);
        uint256 balanceBefore = token.balanceOf(address(escrow));
        token.transfer(address(escrow), amount);
        if (token.balanceOf(address(escrow)) != balanceBefore + amount) _unexplained("sent tokens did not arrive");
        ghostTokenSentIn += amount;
    }

    function _proposeTreasury(address candidate, address actor) private {
        _observe(address(escrow), actor, abi.encodeCall(IInvoiceEscrow.proposeTreasury, (candidate)), 0);

        if (actor != admin) _violation("proposeTreasury by a non-admin");
        ghostProposedTreasury = candidate;
        ghostTreasuryEffectiveAt = block.timestamp + treasuryDelaySeconds;
    }

    function _forceEther(uint256 amountSeed) private {
        uint256 amount = _bound(amountSeed, 1, MAX_FORCED_WEI);
        uint256 balanceBefore = address(escrow).balance;
        _forceSender.force{value: amount}(payable(address(escrow)));
        if (address(escrow).balance != balanceBefore + amount) _unexplained("forced ETH did not arrive");
        ghostForcedInWei += amount;
    }

    /// @dev An invoice whose status is in `wanted` (a bit per status), searching from `seed`. When
    /// there is none, the invoice's life is walked up to such a status first (issued, paid by its
    /// payer, disputed), through the same checked calls. One pick in ANY_INVOICE_ODDS takes any
    /// existing invoice instead, so that the refusals for a wrong status are exercised too.
    function _invoiceIn(uint256 wanted, uint256 seed) private returns (uint256 invoiceId) {
        uint256 count = escrow.invoiceCount();
        if (count != 0 && _roll(seed, ANY_INVOICE_ODDS) == 0) return 1 + seed % count;
        invoiceId = _find(wanted, seed);
        if (invoiceId != 0) return invoiceId;

        invoiceId = _find(OPEN, seed);
        if (invoiceId == 0) invoiceId = _issue(seed, seed);
        if (wanted & OPEN != 0) return invoiceId;
        IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(invoiceId);
        _pay(invoiceId, invoice, invoice.payer, invoice.amount);
        if (wanted & PAID != 0) return invoiceId;
        _dispute(invoiceId, escrow.invoiceOf(invoiceId), invoice.payer);
    }

    /// @dev A won deal whose invoice is open or cancelled (one is won first if there is none),
    /// except one pick in ANY_INVOICE_ODDS: any won deal.
    function _reissuableDeal(uint256 seed) private returns (uint256) {
        uint256 count = _wonDeals.length;
        if (count != 0 && _roll(seed, ANY_INVOICE_ODDS) == 0) return _wonDeals[seed % count];
        for (uint256 i; i < count; ++i) {
            uint256 dealId = _wonDeals[(seed + i) % count];
            uint256 status = uint8(escrow.invoiceOf(pipeline.dealOf(dealId).invoiceId).status);
            if ((OPEN | CANCELLED) & (1 << status) != 0) return dealId;
        }
        _issue(seed, seed);
        return _wonDeals[count];
    }

    /// @dev The first invoice in `currency` from `seed` on whose status is in `wanted`, or 0.
    function _findIn(uint256 wanted, uint256 seed, address currency) private view returns (uint256) {
        uint256 count = escrow.invoiceCount();
        for (uint256 i; i < count; ++i) {
            uint256 id = 1 + (seed + i) % count;
            IInvoiceEscrow.Invoice memory invoice = escrow.invoiceOf(id);
            if (invoice.currency == currency && wanted & (1 << uint8(invoice.status)) != 0) return id;
        }
        return 0;
    }

    /// @dev The first invoice from `seed` on whose status is in `wanted`, or 0.
    function _find(uint256 wanted, uint256 seed) private view returns (uint256) {
        uint256 count = escrow.invoiceCount();
        for (uint256 i; i < count; ++i) {
            uint256 id = 1 + (seed + i) % count;
            if (wanted & (1 << uint8(escrow.invoiceOf(id).status)) != 0) return id;
        }
        return 0;
    }

    // ---------------------------------------------------------------- views for the invariants

    function payers() external view returns (address[] memory) {
        return _payers;
    }

    function statusChanges(uint256 from, uint256 to) external view returns (uint256) {
        return _statusChanges[from][to];
    }

    // ---------------------------------------------------------------- bookkeeping

    /// @dev Call `target` as `actor`, bubble a refusal up, and reconcile what moved with the events.
    function _observe(address target, address actor, bytes memory data, uint256 value) private {
        uint8[] memory statusesBefore = _statuses();
        uint256[] memory balancesBefore = _balances();
        uint256[] memory refundsBefore = _refunds();
        uint256[] memory tokenBalancesBefore = _tokenBalances();
        uint256[] memory tokenRefundsBefore = _tokenRefunds();

        VM.recordLogs();
        VM.prank(actor);
        (bool ok, bytes memory returned) = target.call{value: value}(data);
        Vm.Log[] memory logs = VM.getRecordedLogs();
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(returned, 0x20), mload(returned))
            }
        }

        _reconcile(logs, balancesBefore, refundsBefore);
        _reconcileTokens(logs, tokenBalancesBefore, tokenRefundsBefore);
        _recordStatusChanges(statusesBefore);
    }

    function _reconcile(Vm.Log[] memory logs, uint256[] memory balancesBefore, uint256[] memory refundsBefore) private {
        int256[] memory expectedBalance = new int256[](_tracked.length);
        int256[] memory expectedRefund = new int256[](_payers.length);
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(escrow)) continue;
            bytes32 topic = log.topics[0];
            if (_isTokenInvoiceEvent(log)) continue;
            if (topic == IInvoiceEscrow.InvoicePaid.selector) {
                (uint256 amount,) = abi.decode(log.data, (uint256, uint64));
                uint256 invoiceId = uint256(log.topics[1]);
                _move(expectedBalance, _address(log.topics[2]), address(escrow), amount);
                ghostPaidInWei += amount;
                ++ghostPayments[invoiceId];
            } else if (topic == IInvoiceEscrow.InvoiceReleased.selector) {
                uint256 amount = abi.decode(log.data, (uint256));
                uint256 invoiceId = uint256(log.topics[1]);
                address to = _address(log.topics[2]);
                _move(expectedBalance, address(escrow), to, amount);
                if (to != ghostTreasuryAtPayment[invoiceId]) _violation("release to other than the treasury at payment");
                ghostReleasedWei += amount;
                _payout(invoiceId);
            } else if (topic == IInvoiceEscrow.InvoiceRefunded.selector) {
                uint256 amount = abi.decode(log.data, (uint256));
                uint256 payerIndex = _payerIndex(_address(log.topics[2]));
                if (payerIndex == type(uint256).max) _unexplained("a refund credited to an unknown account");
                else expectedRefund[payerIndex] += int256(amount);
                ghostRefundCreditedWei += amount;
                _payout(uint256(log.topics[1]));
            } else if (topic == IInvoiceEscrow.RefundWithdrawn.selector) {
                uint256 amount = abi.decode(log.data, (uint256));
                address payer = _address(log.topics[1]);
                _move(expectedBalance, address(escrow), payer, amount);
                uint256 payerIndex = _payerIndex(payer);
                if (payerIndex == type(uint256).max) _unexplained("a refund withdrawn by an unknown account");
                else expectedRefund[payerIndex] -= int256(amount);
                ghostRefundWithdrawnWei += amount;
            } else if (topic == IInvoiceEscrow.ForcedEtherSwept.selector) {
                uint256 amount = abi.decode(log.data, (uint256));
                address to = _address(log.topics[1]);
                _move(expectedBalance, address(escrow), to, amount);
                if (to != ghostTreasury) _violation("sweep to other than the current treasury");
                ghostSweptWei += amount;
            }
        }
        for (uint256 i; i < _tracked.length; ++i) {
            if (int256(_tracked[i].balance) - int256(balancesBefore[i]) != expectedBalance[i]) {
                _unexplained("an ETH balance changed by other than its events");
            }
        }
        for (uint256 i; i < _payers.length; ++i) {
            if (int256(escrow.refundOf(_payers[i])) - int256(refundsBefore[i]) != expectedRefund[i]) {
                _unexplained("a refund credit changed by other than its events");
            }
        }
    }

    /// @dev InvoicePaid, InvoiceReleased and InvoiceRefunded of an invoice in the token.
    function _isTokenInvoiceEvent(Vm.Log memory log) private view returns (bool) {
        bytes32 topic = log.topics[0];
        if (
            topic != IInvoiceEscrow.InvoicePaid.selector && topic != IInvoiceEscrow.InvoiceReleased.selector
                && topic != IInvoiceEscrow.InvoiceRefunded.selector
        ) return false;
        return escrow.invoiceOf(uint256(log.topics[1])).currency != ETH;
    }

    /// @dev The token's side of `_reconcile`: every token balance (escrow, payers, treasuries) and
    /// token refund credit changed exactly as the escrow's events say.
    function _reconcileTokens(Vm.Log[] memory logs, uint256[] memory balancesBefore, uint256[] memory refundsBefore)
        private
    {
        int256[] memory expectedBalance = new int256[](_tracked.length);
        int256[] memory expectedRefund = new int256[](_payers.length);
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(escrow)) continue;
            bytes32 topic = log.topics[0];
            if (_isTokenInvoiceEvent(log)) {
                uint256 invoiceId = uint256(log.topics[1]);
                if (escrow.invoiceOf(invoiceId).currency != address(token)) _unexplained("an invoice in an unknown token");
                if (topic == IInvoiceEscrow.InvoicePaid.selector) {
                    (uint256 amount,) = abi.decode(log.data, (uint256, uint64));
                    _move(expectedBalance, _address(log.topics[2]), address(escrow), amount);
                    ghostTokenPaidIn += amount;
                    ++ghostPayments[invoiceId];
                } else if (topic == IInvoiceEscrow.InvoiceReleased.selector) {
                    uint256 amount = abi.decode(log.data, (uint256));
                    address to = _address(log.topics[2]);
                    _move(expectedBalance, address(escrow), to, amount);
                    if (to != ghostTreasuryAtPayment[invoiceId]) _violation("release to other than the treasury at payment");
                    ghostTokenReleased += amount;
                    _payout(invoiceId);
                } else {
                    uint256 amount = abi.decode(log.data, (uint256));
                    uint256 payerIndex = _payerIndex(_address(log.topics[2]));
                    if (payerIndex == type(uint256).max) _unexplained("a token refund credited to an unknown account");
                    else expectedRefund[payerIndex] += int256(amount);
                    ghostTokenRefundCredited += amount;
                    _payout(invoiceId);
                }
            } else if (topic == IInvoiceEscrow.TokenRefundWithdrawn.selector) {
                uint256 amount = abi.decode(log.data, (uint256));
                address payer = _address(log.topics[2]);
                if (_address(log.topics[1]) != address(token)) _unexplained("a refund withdrawn in an unknown token");
                _move(expectedBalance, address(escrow), payer, amount);
                uint256 payerIndex = _payerIndex(payer);
                if (payerIndex == type(uint256).max) _unexplained("a token refund withdrawn by an unknown account");
                else expectedRefund[payerIndex] -= int256(amount);
                ghostTokenRefundWithdrawn += amount;
            } else if (topic == IInvoiceEscrow.ForcedTokensSwept.selector) {
                uint256 amount = abi.decode(log.data, (uint256));
                address to = _address(log.topics[2]);
                if (_address(log.topics[1]) != address(token)) _unexplained("an unknown token swept");
                _move(expectedBalance, address(escrow), to, amount);
                if (to != ghostTreasury) _violation("sweepToken to other than the current treasury");
                ghostTokenSwept += amount;
            }
        }
        for (uint256 i; i < _tracked.length; ++i) {
            if (int256(token.balanceOf(_tracked[i])) - int256(balancesBefore[i]) != expectedBalance[i]) {
                _unexplained("a token balance changed by other than its events");
            }
        }
        for (uint256 i; i < _payers.length; ++i) {
            if (int256(escrow.tokenRefundOf(address(token), _payers[i])) - int256(refundsBefore[i]) != expectedRefund[i]) {
                _unexplained("a token refund credit changed by other than its events");
            }
        }
    }

    function _move(int256[] memory expected, address from, address to, uint256 amount) private {
        uint256 fromIndex = _trackedIndex(from);
        uint256 toIndex = _trackedIndex(to);
        if (fromIndex == type(uint256).max || toIndex == type(uint256).max) {
            _unexplained("an event moved ETH to or from an unknown account");
            return;
        }
        expected[fromIndex] -= int256(amount);
        expected[toIndex] += int256(amount);
    }

    function _payout(uint256 invoiceId) private {
        uint256 count = ++ghostPayouts[invoiceId];
        if (count > ghostMaxPayoutsPerInvoice) ghostMaxPayoutsPerInvoice = count;
    }

    function _recordStatusChanges(uint8[] memory before) private {
        uint256 count = escrow.invoiceCount();
        for (uint256 id = 1; id <= count; ++id) {
            uint8 from = id <= before.length ? before[id - 1] : uint8(IInvoiceEscrow.InvoiceStatus.None);
            uint8 to = uint8(escrow.invoiceOf(id).status);
            if (from != to) ++_statusChanges[from][to];
        }
    }

    function _statuses() private view returns (uint8[] memory statuses) {
        statuses = new uint8[](escrow.invoiceCount());
        for (uint256 i; i < statuses.length; ++i) {
            statuses[i] = uint8(escrow.invoiceOf(i + 1).status);
        }
    }

    function _balances() private view returns (uint256[] memory balances) {
        balances = new uint256[](_tracked.length);
        for (uint256 i; i < balances.length; ++i) {
            balances[i] = _tracked[i].balance;
        }
    }

    function _refunds() private view returns (uint256[] memory refunds) {
        refunds = new uint256[](_payers.length);
        for (uint256 i; i < refunds.length; ++i) {
            refunds[i] = escrow.refundOf(_payers[i]);
        }
    }

    function _tokenBalances() private view returns (uint256[] memory balances) {
        balances = new uint256[](_tracked.length);
        for (uint256 i; i < balances.length; ++i) {
            balances[i] = token.balanceOf(_tracked[i]);
        }
    }

    function _tokenRefunds() private view returns (uint256[] memory refunds) {
        refunds = new uint256[](_payers.length);
        for (uint256 i; i < refunds.length; ++i) {
            refunds[i] = escrow.tokenRefundOf(address(token), _payers[i]);
        }
    }

    function _trackedIndex(address account) private view returns (uint256) {
        for (uint256 i; i < _tracked.length; ++i) {
            if (_tracked[i] == account) return i;
        }
        return type(uint256).max;
    }

    function _payerIndex(address account) private view returns (uint256) {
        for (uint256 i; i < _payers.length; ++i) {
            if (_payers[i] == account) return i;
        }
        return type(uint256).max;
    }

    function _unexplained(string memory what) private {
        if (ghostUnexplainedMovements++ == 0) ghostFirstUnexplained = what;
    }

    function _violation(string memory what) private {
        if (ghostSpecViolations++ == 0) ghostFirstSpecViolation = what;
    }

    /// @dev Jump forward to `at` (if it lies ahead) in one call of WAIT_ODDS.
    function _waitUntil(uint256 at, uint256 waitSeed) private {
        if (_roll(waitSeed, WAIT_ODDS) == 0 && at > currentTime) {
            currentTime = at;
            VM.warp(at);
        }
    }

    /// @dev A payer the model says is owed a token refund, starting the search at `seed`; else any payer.
    function _tokenCreditedPayer(uint256 seed) private view returns (address) {
        for (uint256 i; i < _payers.length; ++i) {
            address payer = _payers[(seed + i) % _payers.length];
            if (ghostTokenRefundOwed[payer] != 0) return payer;
        }
        return _payers[seed % _payers.length];
    }

    /// @dev A payer the model says is owed a refund, starting the search at `seed`; else any payer.
    function _creditedPayer(uint256 seed) private view returns (address) {
        for (uint256 i; i < _payers.length; ++i) {
            address payer = _payers[(seed + i) % _payers.length];
            if (ghostRefundOwedWei[payer] != 0) return payer;
        }
        return _payers[seed % _payers.length];
    }

    /// @dev `preferred` most of the time; one call in STRANGER_ODDS, anyone.
    function _actorOr(address preferred, uint256 seed) private view returns (address) {
        if (_roll(seed, STRANGER_ODDS) != 0 && preferred != address(0)) return preferred;
        return _actors[seed % _actors.length];
    }

    /// @dev A die with `sides` faces thrown from `seed`: hashed, because the fuzzer favours small
    /// and edge values, whose residues would otherwise decide every roll the same way.
    function _roll(uint256 seed, uint256 sides) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed))) % sides;
    }

    function _address(bytes32 topic) private pure returns (address) {
        return address(uint160(uint256(topic)));
    }

    function _bound(uint256 value, uint256 min, uint256 max) private pure returns (uint256) {
        return min + value % (max - min + 1);
    }
}
