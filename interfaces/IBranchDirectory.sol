// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Branch directory: offices and departments, their managers, staff and customers
/// @notice Branches are created by the registry's managers. Each branch has at most one branch
/// manager, who can bring staff into the branch (granting them the registry's agent role) and
/// take them out (revoking it), and nothing outside the branch: a branch manager cannot reach
/// staff of another branch nor take over an agent granted elsewhere. Customers are assigned to a
/// branch, whose nodes pin their documents. Reports by branch are computed from these events.
interface IBranchDirectory {
    event BranchCreated(uint32 indexed branchId, bytes32 name, address indexed by);
    /// @param manager The new branch manager; the zero address when the branch has none.
    event BranchManagerSet(uint32 indexed branchId, address indexed manager, address indexed by);
    event StaffJoinedBranch(uint32 indexed branchId, address indexed account, address indexed by);
    event StaffLeftBranch(uint32 indexed branchId, address indexed account, address indexed by);
    event CustomerAssignedToBranch(uint32 indexed branchId, uint256 indexed customerId, address indexed by);

    error BranchNameMissing();
    error BranchNameTaken(bytes32 name);
    error BranchUnknown(uint32 branchId);
    error NotBranchManager(uint32 branchId, address caller);
    error NotRegistryManager(address caller);
    error StaffInOtherBranch(address account, uint32 branchId);
    error StaffNotInBranch(address account, uint32 branchId);
    error StaffAlreadyAgent(address account);
    error CustomerUnknown(uint256 customerId);
    error CustomerInOtherBranch(uint256 customerId, uint32 branchId);
    error ZeroAddress();

    /// @notice Create a branch named `name` (a short label, unique). Registry managers only.
    /// @return branchId The new branch's id, counting from 1.
    function createBranch(bytes32 name) external returns (uint32 branchId);

    /// @notice Make `manager` the branch's manager (the zero address removes it). Registry managers only.
    function setBranchManager(uint32 branchId, address manager) external;

    /// @notice Bring `account` into the branch and grant it the agent role. The branch's manager
    /// (for an account in no branch that holds no staff role yet: StaffAlreadyAgent) or a registry
    /// manager.
    function addStaff(uint32 branchId, address account) external;

    /// @notice Take `account` out of the branch and revoke its agent role. The branch's manager or
    /// a registry manager.
    function removeStaff(uint32 branchId, address account) external;

    /// @notice Assign a customer to the branch. A registry manager, or the branch's manager for a
    /// customer in no branch yet.
    function assignCustomer(uint32 branchId, uint256 customerId) external;

    function branchCount() external view returns (uint32);
    /// @notice The branch `account` works in; 0 for none.
    function branchOf(address account) external view returns (uint32);
    function branchInfo(uint32 branchId) external view returns (bytes32 name, address manager);
    /// @notice The branch named `name`; 0 for none.
    function branchIdOf(bytes32 name) external view returns (uint32);
    /// @notice The branch the customer is assigned to; 0 for none.
    function customerBranchOf(uint256 customerId) external view returns (uint32);
    function registry() external view returns (address);
}
