// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IDealPipeline} from "../interfaces/IDealPipeline.sol";
import {ICrmRegistry} from "../interfaces/ICrmRegistry.sol";
import {ICustomerRegistry} from "../interfaces/ICustomerRegistry.sol";
import {IInvoiceEscrow} from "../interfaces/IInvoiceEscrow.sol";
import {CrmRoles} from "./libraries/CrmRoles.sol";

/// @title DealPipeline
/// @notice Deals and their stages. Roles, grants and customers are read from the CRM registry;
/// offers are EIP-712 signatures of managers, accepted by the customer's own wallet.
contract DealPipeline is IDealPipeline, EIP712 {
    /// @dev The escrow stores amounts as uint96; a larger deal could not be invoiced.
    uint256 private constant MAX_DEAL_VALUE_WEI = type(uint96).max;
    uint8 private constant MAX_DOCUMENT_KIND = 4; // other
    uint8 private constant MAX_LOSS_REASON = 5; // other
    uint16 private constant BPS = 10_000;
    bytes32 private constant OFFER_TYPEHASH =
        keccak256("Offer(uint256 customerId,uint16 discountBps,uint64 expiry,uint32 maxUses,uint256 nonce)");

    ICrmRegistry public immutable registry;
    IInvoiceEscrow public immutable escrow;

    uint256 private _dealCount;
    uint256 private _approvalThresholdWei;
    mapping(uint256 dealId => Deal) private _deals;
    mapping(uint256 dealId => uint256[] invoiceIds) private _invoices;
    mapping(bytes32 digest => uint32 uses) private _offerUses;
    mapping(address issuer => mapping(uint256 nonce => bool)) private _offersCancelled;

    /// @param escrow_ An escrow whose issuer is this contract (deploy it first, naming this
    /// contract's address, which the deployer knows from its nonce).
    constructor(ICrmRegistry registry_, IInvoiceEscrow escrow_, uint256 approvalThresholdWei_)
        EIP712("chaincrm DealPipeline", "1")
    {
        if (escrow_.issuer() != address(this)) revert EscrowIssuerMismatch(address(escrow_), escrow_.issuer());
        registry = registry_;
        escrow = escrow_;
        _approvalThresholdWei = approvalThresholdWei_;
        emit ApprovalThresholdChanged(0, approvalThresholdWei_, msg.sender);
    }

    /// @inheritdoc IDealPipeline
    function openDeal(uint256 customerId, address owner, uint256 valueWei)
        external
        override
        returns (uint256 dealId)
    {
        return _openAsStaff(customerId, owner, valueWei, address(0));
    }

    /// @inheritdoc IDealPipeline
    function openDealIn(uint256 customerId, address owner, uint256 value, address currency)
        external
        override
        returns (uint256 dealId)
    {
        return _openAsStaff(customerId, owner, value, currency);
    }

    /// @inheritdoc IDealPipeline
    function acceptOffer(
        Offer calldata offer,
        address issuer,
        bytes calldata signature,
        uint256 dealId,
        uint256 value,
        address currency
    ) external override returns (uint256 acceptedDealId) {
        bytes32 digest = _checkOffer(offer, issuer, signature);
        if (dealId == 0) {
            acceptedDealId = _open(offer.customerId, issuer, value, currency, Stage.Proposal, offer.discountBps);
        } else {
            if (value != 0 || currency != address(0)) revert OfferTermsUnexpected(dealId);
            _discount(dealId, offer.customerId, offer.discountBps);
            acceptedDealId = dealId;
        }
        _countUse(digest, offer, issuer, acceptedDealId);
    }

    /// @inheritdoc IDealPipeline
    function cancelOffer(uint256 nonce) external override {
        _offersCancelled[msg.sender][nonce] = true;
        emit OfferCancelled(msg.sender, nonce);
    }

    /// @inheritdoc IDealPipeline
    function offerDigest(Offer calldata offer) public view override returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    OFFER_TYPEHASH, offer.customerId, offer.discountBps, offer.expiry, offer.maxUses, offer.nonce
                )
            )
        );
    }

    /// @inheritdoc IDealPipeline
    function offerUses(bytes32 digest) external view override returns (uint32) {
        return _offerUses[digest];
    }

    /// @inheritdoc IDealPipeline
    function offerCancelled(address issuer, uint256 nonce) external view override returns (bool) {
        return _offersCancelled[issuer][nonce];
    }

    /// @notice The EIP-712 domain separator (chain id and this contract).
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev Every check of an offer and of its acceptance by the caller.
    function _checkOffer(Offer calldata offer, address issuer, bytes calldata signature)
        private
        view
        returns (bytes32 digest)
    {
        uint256 customerId = offer.customerId;
        uint16 discountBps = offer.discountBps;
        if (discountBps == 0 || discountBps >= BPS) revert OfferDiscountInvalid(discountBps);
        // Offers last days: a validator's few seconds of timestamp drift do not matter.
        // slither-disable-next-line timestamp
        if (block.timestamp > offer.expiry) revert OfferExpired(offer.expiry);
        if (_offersCancelled[issuer][offer.nonce]) revert OfferIsCancelled(issuer, offer.nonce);
        _requireActiveCustomer(customerId);
        if (msg.sender != registry.walletOf(customerId)) revert OfferNotForCaller(customerId, msg.sender);
        digest = offerDigest(offer);
        if (!SignatureChecker.isValidSignatureNow(issuer, digest, signature)) revert OfferSignatureInvalid(issuer);
        if (!registry.hasRole(CrmRoles.MANAGER, issuer)) revert OfferIssuerNotManager(issuer);
        if (_offerUses[digest] >= offer.maxUses) revert OfferUsedUp(digest, offer.maxUses);
    }

    function _discount(uint256 dealId, uint256 customerId, uint16 discountBps) private {
        Deal storage deal = _requireOpenDeal(dealId);
        if (deal.customerId != customerId) revert DealNotOfCustomer(dealId, customerId);
        if (deal.discountBps != 0) revert DealAlreadyDiscounted(dealId);
        deal.discountBps = discountBps;
    }

    function _countUse(bytes32 digest, Offer calldata offer, address issuer, uint256 dealId) private {
        // Cannot overflow: _checkOffer refused a count at maxUses.
        uint32 uses = _offerUses[digest] + 1;
        _offerUses[digest] = uses;
        emit OfferAccepted(digest, offer.customerId, dealId, issuer, offer.nonce, offer.discountBps, uses);
    }

    function _openAsStaff(uint256 customerId, address owner, uint256 value, address currency)
        private
        returns (uint256 dealId)
    {
        bool manager = registry.hasRole(CrmRoles.MANAGER, msg.sender);
        if (!manager && !registry.hasRole(CrmRoles.AGENT, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, CrmRoles.AGENT);
        }
        _requireActiveCustomer(customerId);
        if (!manager && !registry.hasActiveGrant(customerId, msg.sender)) {
            revert CallerWithoutAccess(customerId, msg.sender);
        }
        _requireOwner(customerId, owner);
        dealId = _open(customerId, owner, value, currency, Stage.Lead, 0);
    }

    function _open(
        uint256 customerId,
        address owner,
        uint256 value,
        address currency,
        Stage stage,
        uint16 discountBps
    ) private returns (uint256 dealId) {
        if (customerId > type(uint64).max) revert IdOutOfRange(customerId);
        if (value == 0 || value > MAX_DEAL_VALUE_WEI) revert DealValueInvalid(value, MAX_DEAL_VALUE_WEI);
        if (currency != address(0) && !escrow.isTokenAllowed(currency)) revert TokenNotAllowed(currency);

        dealId = ++_dealCount;
        _deals[dealId] = Deal({
            owner: owner,
            // Fits: checked above.
            customerId: uint64(customerId),
            discountBps: discountBps,
            stage: stage,
            valueWei: uint128(value),
            invoiceId: 0,
            openedAt: uint40(block.timestamp),
            currency: currency
        });

        emit DealOpened(dealId, customerId, owner, value, msg.sender);
        if (currency != address(0)) emit DealCurrency(dealId, currency);
        emit DealStageChanged(dealId, Stage.None, stage, msg.sender, uint64(block.timestamp));
    }

    /// @inheritdoc IDealPipeline
    function moveStage(uint256 dealId, uint8 to) external override {
        if (to > uint8(Stage.Lost)) revert DealStageInvalid(to);
        Deal storage deal = _requireOpenDeal(dealId);
        bool manager = _requireOwnerOrManager(dealId, deal);
        Stage from = deal.stage;
        Stage target = Stage(to);
        if (!canMove(from, target)) revert DealStageTransitionInvalid(dealId, from, target);
        _requireActiveCustomer(deal.customerId);
        uint256 threshold = _approvalThresholdWei;
        // The threshold is in wei: a deal in a token always reaches Won by a manager.
        if (target == Stage.Won && !manager && (deal.valueWei > threshold || deal.currency != address(0))) {
            revert DealNeedsApproval(dealId, deal.valueWei, threshold);
        }

        deal.stage = target;
        emit DealStageChanged(dealId, from, target, msg.sender, uint64(block.timestamp));

        if (target == Stage.Won) _issueInvoice(dealId, deal);
    }

    /// @inheritdoc IDealPipeline
    function markLost(uint256 dealId, uint8 reason) external override {
        if (reason == 0 || reason > MAX_LOSS_REASON) revert LossReasonInvalid(reason);
        Deal storage deal = _requireOpenDeal(dealId);
        _requireOwnerOrManager(dealId, deal);

        Stage from = deal.stage;
        deal.stage = Stage.Lost;
        emit DealStageChanged(dealId, from, Stage.Lost, msg.sender, uint64(block.timestamp));
        emit DealLost(dealId, reason, msg.sender);
    }

    /// @inheritdoc IDealPipeline
    function reassign(uint256 dealId, address newOwner) external override {
        _requireManager();
        Deal storage deal = _requireOpenDeal(dealId);
        _requireOwner(deal.customerId, newOwner);

        address previous = deal.owner;
        deal.owner = newOwner;
        emit DealReassigned(dealId, previous, newOwner, msg.sender);
    }

    /// @inheritdoc IDealPipeline
    function attachDocument(uint256 dealId, uint8 documentKind, bytes32 contentHash, bytes32 cidDigest)
        external
        override
    {
        Deal storage deal = _deals[dealId];
        if (deal.stage == Stage.None) revert DealUnknown(dealId);
        _requireOwnerOrManager(dealId, deal);
        if (documentKind == 0 || documentKind > MAX_DOCUMENT_KIND) revert DocumentKindInvalid(documentKind);
        if (contentHash == bytes32(0) || cidDigest == bytes32(0)) revert DocumentHashMissing();
        _requireActiveCustomer(deal.customerId);

        emit DealDocumentAttached(dealId, documentKind, msg.sender, contentHash, cidDigest);
    }

    /// @inheritdoc IDealPipeline
    function reissueInvoice(uint256 dealId) external override returns (uint256 invoiceId) {
        _requireManager();
        Deal storage deal = _deals[dealId];
        Stage stage = deal.stage;
        if (stage == Stage.None) revert DealUnknown(dealId);
        if (stage != Stage.Won) revert DealNotWon(dealId, stage);
        _requireActiveCustomer(deal.customerId);
        uint256 current = deal.invoiceId;
        IInvoiceEscrow.InvoiceStatus status = escrow.invoiceOf(current).status;
        if (status != IInvoiceEscrow.InvoiceStatus.Open && status != IInvoiceEscrow.InvoiceStatus.Cancelled) {
            revert DealInvoiceSettled(dealId, current);
        }

        // The escrow is immutable and trusted (its issuer is this contract).
        // slither-disable-next-line reentrancy-no-eth
        if (status == IInvoiceEscrow.InvoiceStatus.Open) escrow.cancel(current);
        invoiceId = _issueInvoice(dealId, deal);
    }

    /// @inheritdoc IDealPipeline
    function setApprovalThreshold(uint256 thresholdWei) external override {
        if (!registry.hasRole(CrmRoles.ADMIN, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, CrmRoles.ADMIN);
        }
        uint256 previous = _approvalThresholdWei;
        _approvalThresholdWei = thresholdWei;
        emit ApprovalThresholdChanged(previous, thresholdWei, msg.sender);
    }

    /// @inheritdoc IDealPipeline
    function approvalThresholdWei() external view override returns (uint256) {
        return _approvalThresholdWei;
    }

    /// @inheritdoc IDealPipeline
    function dealCount() external view override returns (uint256) {
        return _dealCount;
    }

    /// @inheritdoc IDealPipeline
    function dealOf(uint256 dealId) external view override returns (Deal memory) {
        Deal storage deal = _deals[dealId];
        if (deal.stage == Stage.None) revert DealUnknown(dealId);
        return deal;
    }

    /// @inheritdoc IDealPipeline
    function invoicesOf(uint256 dealId) external view override returns (uint256[] memory) {
        // An enum comparison. Slither taints the whole deal with block.timestamp (openedAt shares
        // its slot) and so calls it a dangerous strict equality.
        // slither-disable-next-line incorrect-equality
        if (_deals[dealId].stage == Stage.None) revert DealUnknown(dealId);
        return _invoices[dealId];
    }

    /// @inheritdoc IDealPipeline
    function canMove(Stage from, Stage to) public pure override returns (bool) {
        if (from == Stage.None || from >= Stage.Won) return false;
        if (to == Stage.Won) return from == Stage.Contracting;
        if (to == Stage.None || to == Stage.Lost) return false;
        // Open stages are consecutive enum values: one step forward, or one step back.
        return uint8(to) == uint8(from) + 1 || uint8(to) + 1 == uint8(from);
    }

    function _issueInvoice(uint256 dealId, Deal storage deal) private returns (uint256 invoiceId) {
        uint256 customerId = deal.customerId;
        address payer = registry.walletOf(customerId);
        if (payer == address(0)) revert CustomerWalletMissing(customerId);

        uint256 value = deal.valueWei;
        uint256 amount = value - value * deal.discountBps / BPS;
        // The escrow is immutable and trusted (its issuer is this contract) and issueInvoice calls
        // nothing: no re-entry can see the deal before its invoice id is written.
        // slither-disable-next-line reentrancy-no-eth
        invoiceId = escrow.issueInvoice(dealId, customerId, payer, amount, deal.currency);
        // Fits: the escrow refuses to count invoices past 2**64.
        deal.invoiceId = uint64(invoiceId);
        _invoices[dealId].push(invoiceId);
        // The escrow is immutable and trusted, and the id exists only after the call.
        // slither-disable-next-line reentrancy-events
        emit DealInvoiced(dealId, invoiceId);
    }

    function _requireOpenDeal(uint256 dealId) private view returns (Deal storage deal) {
        deal = _deals[dealId];
        Stage stage = deal.stage;
        if (stage == Stage.None) revert DealUnknown(dealId);
        if (stage == Stage.Won || stage == Stage.Lost) revert DealIsFinal(dealId, stage);
    }

    /// @return manager Whether the caller passed as a manager.
    /// @dev An owner acts only while an agent with an active grant on the customer: a revoked
    /// grant or role ends their hold on the deal (a manager can reassign it).
    function _requireOwnerOrManager(uint256 dealId, Deal storage deal) private view returns (bool manager) {
        if (registry.hasRole(CrmRoles.MANAGER, msg.sender)) return true;
        if (msg.sender == deal.owner && registry.hasRole(CrmRoles.AGENT, msg.sender)) {
            if (registry.hasActiveGrant(deal.customerId, msg.sender)) return false;
            // Erasure clears every grant: name the erasure rather than the lost grant.
            _requireActiveCustomer(deal.customerId);
        }
        revert CallerNotDealOwnerOrManager(dealId, msg.sender);
    }

    function _requireManager() private view {
        if (!registry.hasRole(CrmRoles.MANAGER, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, CrmRoles.MANAGER);
        }
    }

    function _requireOwner(uint256 customerId, address owner) private view {
        if (customerId > type(uint64).max) revert IdOutOfRange(customerId);
        if (!registry.hasRole(CrmRoles.AGENT, owner)) revert DealOwnerNotAgent(owner);
        if (!registry.hasActiveGrant(customerId, owner)) revert DealOwnerWithoutAccess(customerId, owner);
    }

    function _requireActiveCustomer(uint256 customerId) private view {
        ICustomerRegistry.CustomerStatus status = registry.statusOf(customerId);
        if (status == ICustomerRegistry.CustomerStatus.Erased) revert ICustomerRegistry.CustomerIsErased(customerId);
        if (status != ICustomerRegistry.CustomerStatus.Active) revert ICustomerRegistry.CustomerUnknown(customerId);
    }
}
