// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title Staff directory: the roles of the CRM and the keys data is wrapped to
/// @notice Roles are OpenZeppelin AccessControl roles held by the registry contract, so every
/// contract of the CRM asks one place who may do what. The default admin role changes hands in
/// two steps with a delay (AccessControlDefaultAdminRules). Any account can publish one secp256k1
/// public key; the privacy layer wraps customers' keys to it.
interface IStaffDirectory is IAccessControl {
    /// @notice `account` published the secp256k1 public key (x, y) that data keys are wrapped to.
    event EncryptionKeyRegistered(address indexed account, bytes32 x, bytes32 y);

    /// @notice The point (x, y) is not on the secp256k1 curve, or x or y is not a field element.
    error EncryptionKeyInvalid(bytes32 x, bytes32 y);
    /// @notice The key is not 64 bytes long.
    error EncryptionKeyLengthInvalid(uint256 length);
    /// @notice Managers are standing readers of every customer; their number is bounded.
    error ManagerLimitReached(uint256 max);

    /// @notice The branch directory, which may grant and revoke the agent role within branches.
    event BranchDirectorySet(address indexed directory);

    /// @notice The branch directory is set once.
    error BranchDirectoryAlreadySet(address directory);
    /// @notice Only the branch directory grants or revokes agents for a branch.
    error NotBranchDirectory(address caller);

    /// @notice Staff who run deals, log interactions and onboard customers.
    // slither-disable-next-line naming-convention
    function AGENT_ROLE() external view returns (bytes32);
    /// @notice Staff who grant access, approve large deals, refund, cancel and reassign. Managers
    /// are standing readers of every customer's data (see the README's trust model).
    // slither-disable-next-line naming-convention
    function MANAGER_ROLE() external view returns (bytes32);
    /// @notice Staff who may be granted read access to customer data for audits; no writes.
    // slither-disable-next-line naming-convention
    function AUDITOR_ROLE() external view returns (bytes32);

    /// @notice Publish the caller's 64-byte uncompressed secp256k1 public key (no 0x04 prefix).
    /// @dev Replaces an earlier key; the point is checked to lie on the curve.
    function registerEncryptionKey(bytes calldata publicKey) external;

    /// @notice The key `account` published, or empty bytes if none.
    function encryptionKeyOf(address account) external view returns (bytes memory publicKey);

    /// @notice True when `account` holds the agent, manager or auditor role.
    function isStaff(address account) external view returns (bool);

    /// @notice Every current manager, in no particular order (at most `maxManagers()`).
    function managers() external view returns (address[] memory);

    /// @notice The bound on the number of managers.
    function maxManagers() external pure returns (uint256);

    /// @notice Name the branch directory (a `BranchDirectory` bound to this registry). Default
    /// admin only, once: from then on branch managers grant and revoke agents of their branch
    /// through it, and through nothing else.
    function setBranchDirectory(address directory) external;

    /// @notice The branch directory, or the zero address before it is set.
    function branchDirectory() external view returns (address);

    /// @notice Grant the agent role to `account`. The branch directory only (it checks the
    /// caller's branch); emits RoleGranted with the directory as sender.
    function grantAgentForBranch(address account) external;

    /// @notice Revoke the agent role from `account`. The branch directory only.
    function revokeAgentForBranch(address account) external;
}
