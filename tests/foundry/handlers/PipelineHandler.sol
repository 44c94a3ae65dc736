// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ICrmRegistry} from "../../../interfaces/ICrmRegistry.sol";
import {IDealPipeline} from "../../../interfaces/IDealPipeline.sol";
import {Crm} from "../utils/CrmDeployment.sol";
import {Vm, VM} from "../utils/Vm.sol";

/// @title PipelineHandler
/// @notice Drives the deal pipeline through its real roles: agents and the manager open deals,
/// move them with arbitrary raw stage codes (and, so that deals get deep, one step forward or
/// back), mark them lost with arbitrary reason codes, reassign them and re-issue invoices; the
/// admin changes the approval threshold; a manager erases a customer. Callers are usually the
/// deal's owner or the manager, sometimes anyone.
///
/// Every call runs through `_observe`, which reads every deal's stage before and after and the
/// DealStageChanged events it emitted, and records each (from, to) pair seen in state and in
/// events, plus any change without its event or event without its change.
contract PipelineHandler {
    uint256 private constant STAGE_COUNT = 8; // IDealPipeline.Stage has eight members
    uint256 private constant MAX_DEAL_WEI = 20 ether;
    uint256 private constant UNKNOWN_CUSTOMER_ID = 1_000;
    /// @dev One caller (or customer, or owner) in this many is anyone instead of the expected one.
    uint256 private constant STRANGER_ODDS = 4;
    uint256 private constant MANAGER_ODDS = 3;
    /// @dev The customer a manager may erase: the third (it has a wallet and agent1's grant).
    uint256 private constant ERASABLE_INDEX = 2;
    /// @dev Actions pick a deal in a stage they apply to, except one pick in this many.
    uint256 private constant ANY_DEAL_ODDS = 8;
    uint256 private constant MAX_STEPS = 5; // Lead to Won
    /// @dev Lead to Contracting, a bit per stage.
    uint256 private constant OPEN_STAGES =
        (1 << uint8(IDealPipeline.Stage.Won)) - (1 << uint8(IDealPipeline.Stage.Lead));

    IDealPipeline public immutable pipeline;
    ICrmRegistry public immutable registry;
    address public immutable admin;
    address public immutable manager;

    address[] private _agents;
    address[] private _actors;
    uint256[] private _customerIds;

    // ---------------------------------------------------------------- ghost variables
    /// @dev (from, to) pairs seen as stage changes in state, and in DealStageChanged events.
    uint256[STAGE_COUNT][STAGE_COUNT] private _stateTransitions;
    uint256[STAGE_COUNT][STAGE_COUNT] private _eventTransitions;
    uint256 public ghostEventlessChanges;
    uint256 public ghostChangelessEvents;
    uint256 public ghostLostWithoutReason;
    uint256 public ghostThresholdWei;
    uint256 public ghostSpecViolations;
    string public ghostFirstSpecViolation;

    constructor(Crm memory crm, uint256 approvalThresholdWei) {
        pipeline = crm.pipeline;
        registry = crm.registry;
        admin = crm.admin;
        manager = crm.manager;
        ghostThresholdWei = approvalThresholdWei;
        for (uint256 i; i < crm.agents.length; ++i) {
            _agents.push(crm.agents[i]);
            _actors.push(crm.agents[i]);
        }
        for (uint256 i; i < crm.customerIds.length; ++i) {
            _customerIds.push(crm.customerIds[i]);
        }
        _actors.push(crm.manager);
        _actors.push(crm.admin);
        _actors.push(crm.stranger);
        _actors.push(crm.payers[0]);
    }

    /// @notice The functions forge should call.
    function actions() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](9);
        selectors[0] = this.openDeal.selector;
        selectors[1] = this.moveStage.selector;
        selectors[2] = this.advance.selector;
        selectors[3] = this.stepBack.selector;
        selectors[4] = this.markLost.selector;
        selectors[5] = this.reassign.selector;
        selectors[6] = this.reissueInvoice.selector;
        selectors[7] = this.setApprovalThreshold.selector;
        selectors[8] = this.eraseCustomer.selector;
    }

    // ---------------------------------------------------------------- actions

    function openDeal(uint256 customerSeed, uint256 ownerSeed, uint256 callerSeed, uint256 valueSeed) external {
        uint256 customerId = _roll(customerSeed, STRANGER_ODDS) == 0
            ? (customerSeed % 2 == 0 ? 0 : UNKNOWN_CUSTOMER_ID)
            : _customerIds[customerSeed % _customerIds.length];
        address owner = _roll(ownerSeed, STRANGER_ODDS) == 0 ? _actors[ownerSeed % _actors.length] : _grantee(customerId, ownerSeed);
        address caller = _roll(callerSeed, MANAGER_ODDS) == 0 ? manager : _actorOr(owner, callerSeed);
        uint256 value = valueSeed % (MAX_DEAL_WEI + 1);

        _observe(caller, abi.encodeCall(IDealPipeline.openDeal, (customerId, owner, value)));
    }

    /// @notice Any raw stage code, 0 to 255: the pipeline must refuse all but its machine's moves.
    function moveStage(uint256 dealSeed, uint8 code, uint256 callerSeed) external {
        _move(_deal(dealSeed, OPEN_STAGES), code, callerSeed, true);
    }

    /// @notice One to five steps forward by the same caller (Contracting -> Won issues the invoice),
    /// usually for the open deal furthest along, so that runs reach Won. The first step's refusal
    /// is the action's; a later refusal ends the walk.
    function advance(uint256 dealSeed, uint256 callerSeed, uint256 stepsSeed) external {
        uint256 dealId = _roll(dealSeed, STRANGER_ODDS) != 0 ? _furthestOpenDeal(dealSeed) : _deal(dealSeed, OPEN_STAGES);
        uint256 steps = 1 + _roll(stepsSeed, MAX_STEPS);
        for (uint256 i; i < steps; ++i) {
            uint8 stage = uint8(pipeline.dealOf(dealId).stage);
            if (!_move(dealId, stage + 1, callerSeed, i == 0)) break;
        }
    }

    function stepBack(uint256 dealSeed, uint256 callerSeed) external {
        uint256 dealId = _deal(dealSeed, OPEN_STAGES & ~(1 << uint8(IDealPipeline.Stage.Lead)));
        uint8 stage = uint8(pipeline.dealOf(dealId).stage);
        _move(dealId, stage == 0 ? 0 : stage - 1, callerSeed, true);
    }

    /// @notice A raw reason code, 0 to 255, half the time (only 1 to 5 are reasons); a valid one
    /// the other half.
    function markLost(uint256 dealSeed, uint8 code, uint256 callerSeed) external {
        uint256 dealId = _deal(dealSeed, OPEN_STAGES);
        uint8 reason = _roll(code, 2) == 0 ? code : uint8(1 + code % uint8(type(LossReason).max));
        IDealPipeline.Deal memory deal = pipeline.dealOf(dealId);
        address caller = _caller(deal.owner, callerSeed);

        _observe(caller, abi.encodeCall(IDealPipeline.markLost, (dealId, reason)));

        _requireOwnerOrManager(caller, deal.owner, "markLost");
        if (reason == 0 || reason > uint8(type(LossReason).max)) _violation("markLost with an invalid reason");
    }

    function reassign(uint256 dealSeed, uint256 ownerSeed, uint256 callerSeed) external {
        uint256 dealId = _deal(dealSeed, OPEN_STAGES);
        address newOwner = _grantee(pipeline.dealOf(dealId).customerId, ownerSeed);
        address caller = _actorOr(manager, callerSeed);

        _observe(caller, abi.encodeCall(IDealPipeline.reassign, (dealId, newOwner)));

        if (caller != manager) _violation("reassign by a non-manager");
    }

    function reissueInvoice(uint256 dealSeed, uint256 callerSeed) external {
        uint256 dealId = _deal(dealSeed, 1 << uint8(IDealPipeline.Stage.Won));
        address caller = _actorOr(manager, callerSeed);

        _observe(caller, abi.encodeCall(IDealPipeline.reissueInvoice, (dealId)));

        if (caller != manager) _violation("reissueInvoice by a non-manager");
    }

    function setApprovalThreshold(uint256 valueSeed, uint256 callerSeed) external {
        uint256 threshold = valueSeed % (MAX_DEAL_WEI + 1);
        address caller = _actorOr(admin, callerSeed);

        _observe(caller, abi.encodeCall(IDealPipeline.setApprovalThreshold, (threshold)));

        if (caller != admin) _violation("setApprovalThreshold by a non-admin");
        ghostThresholdWei = threshold;
    }

    /// @notice A manager erases customer 3: its open deals must stop moving. (Once erased, the
    /// call is refused: CustomerIsErased.)
    function eraseCustomer() external {
        uint256 customerId = _customerIds[ERASABLE_INDEX];
        VM.prank(manager);
        registry.eraseCustomer(customerId, keccak256(abi.encode("erasure receipt", customerId)));
    }

    // ---------------------------------------------------------------- views for the invariants

    function stateTransitions(uint256 from, uint256 to) external view returns (uint256) {
        return _stateTransitions[from][to];
    }

    function eventTransitions(uint256 from, uint256 to) external view returns (uint256) {
        return _eventTransitions[from][to];
    }

    // ---------------------------------------------------------------- bookkeeping

    /// @dev The loss reasons the interface documents, 1 to 5; 0 is not a reason.
    enum LossReason {
        None,
        Price,
        Competitor,
        NoBudget,
        NoDecision,
        Other
    }

    /// @return moved False when the pipeline refused and `bubble` was false.
    function _move(uint256 dealId, uint8 code, uint256 callerSeed, bool bubble) private returns (bool moved) {
        IDealPipeline.Deal memory deal = pipeline.dealOf(dealId);
        address caller = _caller(deal.owner, callerSeed);
        bool callerIsManager = registry.hasRole(registry.MANAGER_ROLE(), caller);

        if (!_tryObserve(caller, abi.encodeCall(IDealPipeline.moveStage, (dealId, code)), bubble)) return false;
        moved = true;

        _requireOwnerOrManager(caller, deal.owner, "moveStage");
        if (code == uint8(IDealPipeline.Stage.Won) && !callerIsManager && deal.valueWei > ghostThresholdWei) {
            _violation("Won above the threshold by a non-manager");
        }
        if (code == uint8(IDealPipeline.Stage.Lost)) _violation("moveStage reached Lost (markLost's only)");
    }

    /// @dev Call the pipeline as `caller`, bubble a refusal up, and record what moved.
    function _observe(address caller, bytes memory data) private {
        _tryObserve(caller, data, true);
    }

    /// @return ok False when the pipeline refused and `bubble` was false (nothing changed then).
    function _tryObserve(address caller, bytes memory data, bool bubble) private returns (bool ok) {
        uint8[] memory before = _stages();

        VM.recordLogs();
        VM.prank(caller);
        bytes memory returned;
        (ok, returned) = address(pipeline).call(data);
        Vm.Log[] memory logs = VM.getRecordedLogs();
        if (!ok) {
            if (!bubble) return false;
            assembly ("memory-safe") {
                revert(add(returned, 0x20), mload(returned))
            }
        }

        uint8[] memory afterwards = _stages();
        // The stage each deal's events leave it in, starting from its stage before the call.
        uint8[] memory evented = new uint8[](afterwards.length);
        for (uint256 i; i < afterwards.length; ++i) {
            evented[i] = i < before.length ? before[i] : uint8(IDealPipeline.Stage.None);
        }
        bool lostEvent;
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(pipeline)) continue;
            if (log.topics[0] == IDealPipeline.DealLost.selector) lostEvent = true;
            if (log.topics[0] != IDealPipeline.DealStageChanged.selector) continue;
            uint256 dealId = uint256(log.topics[1]);
            (IDealPipeline.Stage from, IDealPipeline.Stage to,) =
                abi.decode(log.data, (IDealPipeline.Stage, IDealPipeline.Stage, uint64));
            ++_eventTransitions[uint8(from)][uint8(to)];
            if (dealId == 0 || dealId > evented.length || evented[dealId - 1] != uint8(from)) {
                ++ghostChangelessEvents; // the event's "from" is not the stage the deal was in
                continue;
            }
            evented[dealId - 1] = uint8(to);
        }
        for (uint256 i; i < afterwards.length; ++i) {
            uint8 from = i < before.length ? before[i] : uint8(IDealPipeline.Stage.None);
            uint8 to = afterwards[i];
            if (from != to) ++_stateTransitions[from][to];
            if (evented[i] != to) {
                if (from != to) ++ghostEventlessChanges;
                else ++ghostChangelessEvents;
            }
            if (to == uint8(IDealPipeline.Stage.Lost) && from != to && !lostEvent) ++ghostLostWithoutReason;
        }
    }

    function _stages() private view returns (uint8[] memory stages) {
        stages = new uint8[](pipeline.dealCount());
        for (uint256 i; i < stages.length; ++i) {
            stages[i] = uint8(pipeline.dealOf(i + 1).stage);
        }
    }

    function _requireOwnerOrManager(address caller, address owner, string memory what) private {
        if (caller != owner && !registry.hasRole(registry.MANAGER_ROLE(), caller)) {
            _violation(string.concat(what, " by neither the owner nor a manager"));
        }
    }

    function _violation(string memory what) private {
        if (ghostSpecViolations++ == 0) ghostFirstSpecViolation = what;
    }

    /// @dev A deal whose stage is in `wanted` (a bit per stage), searching from `seed`; one pick in
    /// ANY_DEAL_ODDS, or when none is in such a stage, any deal. One is opened (by the manager,
    /// for a customer with a wallet) when there is none yet.
    function _deal(uint256 seed, uint256 wanted) private returns (uint256) {
        uint256 count = pipeline.dealCount();
        if (count != 0) {
            uint256 start = seed % count;
            if (_roll(seed, ANY_DEAL_ODDS) != 0) {
                for (uint256 i; i < count; ++i) {
                    uint256 dealId = 1 + (start + i) % count;
                    if (wanted & (1 << uint8(pipeline.dealOf(dealId).stage)) != 0) return dealId;
                }
            }
            return 1 + start;
        }
        _observe(manager, abi.encodeCall(IDealPipeline.openDeal, (_customerIds[0], _agents[0], 1 + seed % MAX_DEAL_WEI)));
        return pipeline.dealCount();
    }

    /// @dev The open deal with the latest stage, searching from `seed` (ties go to the first found).
    function _furthestOpenDeal(uint256 seed) private returns (uint256 best) {
        uint256 count = pipeline.dealCount();
        uint8 bestStage;
        for (uint256 i; i < count; ++i) {
            uint256 dealId = 1 + (seed + i) % count;
            uint8 stage = uint8(pipeline.dealOf(dealId).stage);
            if (OPEN_STAGES & (1 << stage) != 0 && stage > bestStage) {
                best = dealId;
                bestStage = stage;
            }
        }
        if (best == 0) best = _deal(seed, OPEN_STAGES);
    }

    /// @dev An agent with an active grant on the customer, if there is one; else any agent.
    function _grantee(uint256 customerId, uint256 seed) private view returns (address) {
        for (uint256 i; i < _agents.length; ++i) {
            address agent = _agents[(seed + i) % _agents.length];
            if (registry.hasActiveGrant(customerId, agent)) return agent;
        }
        return _agents[seed % _agents.length];
    }

    /// @dev The owner most of the time, the manager one time in MANAGER_ODDS, anyone one in STRANGER_ODDS.
    function _caller(address owner, uint256 seed) private view returns (address) {
        if (_roll(seed, MANAGER_ODDS) == 0) return manager;
        return _actorOr(owner, seed);
    }

    function _actorOr(address preferred, uint256 seed) private view returns (address) {
        if (_roll(seed >> 1, STRANGER_ODDS) != 0) return preferred;
        return _actors[seed % _actors.length];
    }

    /// @dev A die with `sides` faces thrown from `seed`, hashed: the fuzzer favours small and edge
    /// values, whose residues would otherwise decide every roll the same way.
    function _roll(uint256 seed, uint256 sides) private pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed))) % sides;
    }
}
