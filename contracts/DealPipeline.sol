// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IDealPipeline} from "../interfaces/IDealPipeline.sol";
import {ICrmRegistry} from "../interfaces/ICrmRegistry.sol";
import {ICustomerRegistry} from "../interfaces/ICustomerRegistry.sol";
import {IInvoiceEscrow} from "../interfaces/IInvoiceEscrow.sol";
import {CrmRoles} from "./libraries/CrmRoles.sol";

/// @title DealPipeline
/// @notice Deals and their stages. Roles and customers are read from the CRM registry.
contract DealPipeline is IDealPipeline {
    /// @dev The escrow stores amounts as uint96; a larger deal could not be invoiced.
    uint256 private constant MAX_DEAL_VALUE_WEI = type(uint96).max;

    ICrmRegistry public immutable registry;
    IInvoiceEscrow public immutable escrow;

    uint256 private _dealCount;
    mapping(uint256 dealId => Deal) private _deals;

    constructor(ICrmRegistry registry_, IInvoiceEscrow escrow_) {
        registry = registry_;
        escrow = escrow_;
    }

    /// @inheritdoc IDealPipeline
    function openDeal(uint256 customerId, address owner, uint256 valueWei)
        external
        override
        returns (uint256 dealId)
    {
        if (!registry.hasRole(CrmRoles.AGENT, msg.sender) && !registry.hasRole(CrmRoles.MANAGER, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, CrmRoles.AGENT);
        }
        _requireActiveCustomer(customerId);
        if (!registry.hasRole(CrmRoles.AGENT, owner)) revert DealOwnerNotAgent(owner);
        if (valueWei == 0 || valueWei > MAX_DEAL_VALUE_WEI) revert DealValueInvalid(valueWei, MAX_DEAL_VALUE_WEI);

        dealId = ++_dealCount;
        _deals[dealId] = Deal({
            owner: owner,
            // customerId is below 2**64: the registry counts customers one by one.
            customerId: uint64(customerId),
            stage: Stage.Lead,
            valueWei: uint128(valueWei),
            invoiceId: 0,
            openedAt: uint40(block.timestamp)
        });

        emit DealOpened(dealId, customerId, owner, valueWei, msg.sender);
        emit DealStageChanged(dealId, Stage.None, Stage.Lead, msg.sender, uint64(block.timestamp));
    }

    /// @inheritdoc IDealPipeline
    function moveStage(uint256 dealId, Stage to) external override {
        Deal storage deal = _requireOpenDeal(dealId);
        _requireOwnerOrManager(dealId, deal.owner);
        Stage from = deal.stage;
        if (!canMove(from, to)) revert DealStageTransitionInvalid(dealId, from, to);
        _requireActiveCustomer(deal.customerId);

        deal.stage = to;
        emit DealStageChanged(dealId, from, to, msg.sender, uint64(block.timestamp));

        if (to == Stage.Won) _issueInvoice(dealId, deal);
    }

    /// @inheritdoc IDealPipeline
    function markLost(uint256 dealId, uint8 reason) external override {
        Deal storage deal = _requireOpenDeal(dealId);
        _requireOwnerOrManager(dealId, deal.owner);

        Stage from = deal.stage;
        deal.stage = Stage.Lost;
        emit DealStageChanged(dealId, from, Stage.Lost, msg.sender, uint64(block.timestamp));
        emit DealLost(dealId, reason, msg.sender);
    }

    /// @inheritdoc IDealPipeline
    function reassign(uint256 dealId, address newOwner) external override {
        if (!registry.hasRole(CrmRoles.MANAGER, msg.sender)) {
            revert IAccessControl.AccessControlUnauthorizedAccount(msg.sender, CrmRoles.MANAGER);
        }
        Deal storage deal = _requireOpenDeal(dealId);
        if (!registry.hasRole(CrmRoles.AGENT, newOwner)) revert DealOwnerNotAgent(newOwner);

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
        _requireOwnerOrManager(dealId, deal.owner);
        if (documentKind == 0) revert DocumentKindInvalid(documentKind);
        if (contentHash == bytes32(0) || cidDigest == bytes32(0)) revert DocumentHashMissing();

        emit DealDocumentAttached(dealId, documentKind, msg.sender, contentHash, cidDigest);
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
    function canMove(Stage from, Stage to) public pure override returns (bool) {
        if (from == Stage.None || from >= Stage.Won) return false;
        if (to == Stage.Won) return from == Stage.Contracting;
        if (to == Stage.None || to == Stage.Lost) return false;
        // Open stages are consecutive enum values: one step forward, or one step back.
        return uint8(to) == uint8(from) + 1 || uint8(to) + 1 == uint8(from);
    }

    function _issueInvoice(uint256 dealId, Deal storage deal) private {
        uint256 customerId = deal.customerId;
        address payer = registry.walletOf(customerId);
        if (payer == address(0)) revert CustomerWalletMissing(customerId);

        uint256 invoiceId = escrow.issueInvoice(dealId, customerId, payer, deal.valueWei);
        // invoiceId is below 2**64: the escrow counts invoices one by one.
        deal.invoiceId = uint64(invoiceId);
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

    function _requireOwnerOrManager(uint256 dealId, address owner) private view {
        if (msg.sender == owner && registry.hasRole(CrmRoles.AGENT, msg.sender)) return;
        if (registry.hasRole(CrmRoles.MANAGER, msg.sender)) return;
        revert CallerNotDealOwnerOrManager(dealId, msg.sender);
    }

    function _requireActiveCustomer(uint256 customerId) private view {
        ICustomerRegistry.CustomerStatus status = registry.statusOf(customerId);
        if (status == ICustomerRegistry.CustomerStatus.Erased) revert ICustomerRegistry.CustomerIsErased(customerId);
        if (status != ICustomerRegistry.CustomerStatus.Active) revert ICustomerRegistry.CustomerUnknown(customerId);
    }
}
