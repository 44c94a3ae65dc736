// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IBranchDirectory} from "../interfaces/IBranchDirectory.sol";
import {ICrmRegistry} from "../interfaces/ICrmRegistry.sol";
import {ICustomerRegistry} from "../interfaces/ICustomerRegistry.sol";
import {CrmRoles} from "./libraries/CrmRoles.sol";

/// @title BranchDirectory
/// @notice Branches, their managers, staff and customers. It holds no role of its own but the
/// registry's trust (`setBranchDirectory`) to grant and revoke the agent role, which it uses only
/// for staff it places in a branch.
contract BranchDirectory is IBranchDirectory {
    struct Branch {
        bytes32 name;
        address manager;
    }

    ICrmRegistry private immutable _registry;

    uint32 private _branchCount;
    mapping(uint32 branchId => Branch) private _branches;
    mapping(bytes32 name => uint32 branchId) private _branchByName;
    mapping(address account => uint32 branchId) private _staffBranch;
    mapping(uint256 customerId => uint32 branchId) private _customerBranch;

    constructor(address registry_) {
        if (registry_ == address(0)) revert ZeroAddress();
        _registry = ICrmRegistry(registry_);
    }

    modifier onlyRegistryManager() {
        if (!_isRegistryManager(msg.sender)) revert NotRegistryManager(msg.sender);
        _;
    }

    /// @inheritdoc IBranchDirectory
    function createBranch(bytes32 name) external override onlyRegistryManager returns (uint32 branchId) {
        if (name == bytes32(0)) revert BranchNameMissing();
        if (_branchByName[name] != 0) revert BranchNameTaken(name);
        branchId = ++_branchCount;
        _branches[branchId].name = name;
        _branchByName[name] = branchId;
        emit BranchCreated(branchId, name, msg.sender);
    }

    /// @inheritdoc IBranchDirectory
    function setBranchManager(uint32 branchId, address manager) external override onlyRegistryManager {
        _requireBranch(branchId);
        _branches[branchId].manager = manager;
        emit BranchManagerSet(branchId, manager, msg.sender);
    }

    /// @inheritdoc IBranchDirectory
    function addStaff(uint32 branchId, address account) external override {
        bool registryManager = _authorize(branchId);
        if (account == address(0)) revert ZeroAddress();
        uint32 current = _staffBranch[account];
        if (current == branchId) return;
        if (current != 0) revert StaffInOtherBranch(account, current);
        // A branch manager brings in newcomers only: an agent granted elsewhere is not theirs to
        // take, and a manager or an auditor does not become an agent on a branch manager's word.
        if (!registryManager && _registry.isStaff(account)) revert StaffAlreadyAgent(account);

        _staffBranch[account] = branchId;
        emit StaffJoinedBranch(branchId, account, msg.sender);
        _registry.grantAgentForBranch(account);
    }

    /// @inheritdoc IBranchDirectory
    function removeStaff(uint32 branchId, address account) external override {
        _authorize(branchId);
        if (_staffBranch[account] != branchId) revert StaffNotInBranch(account, branchId);

        delete _staffBranch[account];
        emit StaffLeftBranch(branchId, account, msg.sender);
        _registry.revokeAgentForBranch(account);
    }

    /// @inheritdoc IBranchDirectory
    function assignCustomer(uint32 branchId, uint256 customerId) external override {
        bool registryManager = _authorize(branchId);
        if (_registry.statusOf(customerId) == ICustomerRegistry.CustomerStatus.None) {
            revert CustomerUnknown(customerId);
        }
        uint32 current = _customerBranch[customerId];
        if (current == branchId) return;
        if (current != 0 && !registryManager) revert CustomerInOtherBranch(customerId, current);

        _customerBranch[customerId] = branchId;
        emit CustomerAssignedToBranch(branchId, customerId, msg.sender);
    }

    /// @inheritdoc IBranchDirectory
    function branchCount() external view override returns (uint32) {
        return _branchCount;
    }

    /// @inheritdoc IBranchDirectory
    function branchOf(address account) external view override returns (uint32) {
        return _staffBranch[account];
    }

    /// @inheritdoc IBranchDirectory
    function branchInfo(uint32 branchId) external view override returns (bytes32 name, address manager) {
        _requireBranch(branchId);
        Branch storage branch = _branches[branchId];
        return (branch.name, branch.manager);
    }

    /// @inheritdoc IBranchDirectory
    function branchIdOf(bytes32 name) external view override returns (uint32) {
        return _branchByName[name];
    }

    /// @inheritdoc IBranchDirectory
    function customerBranchOf(uint256 customerId) external view override returns (uint32) {
        return _customerBranch[customerId];
    }

    /// @inheritdoc IBranchDirectory
    function registry() external view override returns (address) {
        return address(_registry);
    }

    /// @dev Refuses anyone but a registry manager or the branch's manager; true for a registry manager.
    function _authorize(uint32 branchId) private view returns (bool registryManager) {
        _requireBranch(branchId);
        registryManager = _isRegistryManager(msg.sender);
        if (!registryManager && _branches[branchId].manager != msg.sender) {
            revert NotBranchManager(branchId, msg.sender);
        }
    }

    function _requireBranch(uint32 branchId) private view {
        if (branchId == 0 || branchId > _branchCount) revert BranchUnknown(branchId);
    }

    function _isRegistryManager(address account) private view returns (bool) {
        return _registry.hasRole(CrmRoles.MANAGER, account);
    }
}
