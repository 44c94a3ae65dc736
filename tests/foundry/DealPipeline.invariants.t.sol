// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IDealPipeline} from "../../interfaces/IDealPipeline.sol";
import {IInvoiceEscrow} from "../../interfaces/IInvoiceEscrow.sol";
import {PipelineHandler} from "./handlers/PipelineHandler.sol";
import {Crm, CrmDeployment} from "./utils/CrmDeployment.sol";
import {InvariantTest} from "./utils/InvariantTest.sol";

/// @title Invariants of DealPipeline
/// @notice forge calls PipelineHandler's actions at random (open, raw-code moves, steps, lost,
/// reassign, re-issue, threshold, erasure) and checks every `invariant_*` function after each call.
contract DealPipelineInvariants is InvariantTest, CrmDeployment {
    uint256 private constant STAGE_COUNT = 8;

    IDealPipeline private _pipeline;
    IInvoiceEscrow private _escrow;
    PipelineHandler private _handler;

    function setUp() public {
        Crm memory crm = _deployCrm();
        _pipeline = crm.pipeline;
        _escrow = crm.escrow;
        _handler = new PipelineHandler(crm, APPROVAL_THRESHOLD_WEI);
        _target(address(_handler), _handler.actions());
    }

    /// @notice Only the stage machine's transitions occur, in state and in events: None -> Lead
    /// (opening), one step forward or back between open stages, Contracting -> Won, any open stage
    /// -> Lost. Won and Lost never move again.
    function invariant_onlyStageMachineTransitionsOccur() public view {
        for (uint256 from; from < STAGE_COUNT; ++from) {
            for (uint256 to; to < STAGE_COUNT; ++to) {
                bool seen = _handler.stateTransitions(from, to) != 0 || _handler.eventTransitions(from, to) != 0;
                if (!seen) continue;
                _check(!_isFinal(from), "a closed deal moved");
                _check(_stageMayMove(from, to), "a stage transition outside the machine");
            }
        }
    }

    /// @notice Every stage change has its DealStageChanged event (and every event its change), and
    /// every loss its DealLost reason.
    function invariant_everyStageChangeHasItsEvent() public view {
        _checkEq(_handler.ghostEventlessChanges(), 0, "a stage changed without its event");
        _checkEq(_handler.ghostChangelessEvents(), 0, "an event reported a change that did not happen");
        _checkEq(_handler.ghostLostWithoutReason(), 0, "a deal was lost without a DealLost reason");
    }

    /// @notice A deal has an invoice exactly when it is Won, and the invoice is the deal's.
    function invariant_wonDealsCarryTheirInvoice() public view {
        uint256 count = _pipeline.dealCount();
        for (uint256 dealId = 1; dealId <= count; ++dealId) {
            IDealPipeline.Deal memory deal = _pipeline.dealOf(dealId);
            bool won = deal.stage == IDealPipeline.Stage.Won;
            _check(won == (deal.invoiceId != 0), "invoiced exactly when Won");
            if (!won) continue;
            IInvoiceEscrow.Invoice memory invoice = _escrow.invoiceOf(deal.invoiceId);
            _checkEq(invoice.dealId, dealId, "the invoice names another deal");
            _checkEq(invoice.amount, deal.valueWei, "the invoice is not for the deal's value");
            uint256[] memory invoices = _pipeline.invoicesOf(dealId);
            _checkEq(invoices[invoices.length - 1], deal.invoiceId, "the deal's current invoice is not its last");
        }
    }

    /// @notice Every call the pipeline accepted was one its rules allow: owner or manager moves, a
    /// manager for Won above the threshold, Lost only through markLost with a valid reason.
    function invariant_onlyAllowedCallsSucceed() public view {
        _checkEq(_handler.ghostSpecViolations(), 0, _handler.ghostFirstSpecViolation());
    }

    function _isFinal(uint256 stage) private pure returns (bool) {
        return stage == uint8(IDealPipeline.Stage.Won) || stage == uint8(IDealPipeline.Stage.Lost);
    }

    /// @dev The stage machine, written out independently of the contract's canMove.
    function _stageMayMove(uint256 from, uint256 to) private pure returns (bool) {
        uint256 lead = uint8(IDealPipeline.Stage.Lead);
        uint256 contracting = uint8(IDealPipeline.Stage.Contracting);
        if (from == uint8(IDealPipeline.Stage.None)) return to == lead;
        if (from < lead || from > contracting) return false; // Won, Lost: final
        if (to == uint8(IDealPipeline.Stage.Lost)) return true;
        if (to == uint8(IDealPipeline.Stage.Won)) return from == contracting;
        if (to < lead || to > contracting) return false;
        return to == from + 1 || to + 1 == from;
    }
}
