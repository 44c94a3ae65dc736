// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title Staff directory: the roles of the CRM and the keys data is wrapped to
/// @notice Roles are OpenZeppelin AccessControl roles held by the registry contract, so every
/// contract of the CRM asks one place who may do what. Any account (staff or customer wallet) can
/// publish one secp256k1 public key; the privacy layer wraps customers' data keys to it.
interface IStaffDirectory is IAccessControl {
    /// @notice `account` published the secp256k1 public key (x, y) that data keys are wrapped to.
    event EncryptionKeyRegistered(address indexed account, bytes32 x, bytes32 y);

    /// @notice The point (x, y) is not on the secp256k1 curve, or x or y is not a field element.
    error EncryptionKeyInvalid(bytes32 x, bytes32 y);
    /// @notice The key is not 64 bytes long.
    error EncryptionKeyLengthInvalid(uint256 length);

    /// @notice Staff who run deals, log interactions and onboard customers.
    // slither-disable-next-line naming-convention
    function AGENT_ROLE() external view returns (bytes32);
    /// @notice Staff who grant access, refund, cancel and reassign.
    // slither-disable-next-line naming-convention
    function MANAGER_ROLE() external view returns (bytes32);
    /// @notice Staff who may be granted read access to customer data for audits; no writes.
    // slither-disable-next-line naming-convention
    function AUDITOR_ROLE() external view returns (bytes32);
    /// @notice Held by the deal pipeline contract: the only issuer of invoices.
    // slither-disable-next-line naming-convention
    function INVOICE_ISSUER_ROLE() external view returns (bytes32);

    /// @notice Publish the caller's 64-byte uncompressed secp256k1 public key (no 0x04 prefix).
    /// @dev Replaces an earlier key; the point is checked to lie on the curve.
    function registerEncryptionKey(bytes calldata publicKey) external;

    /// @notice The key `account` published, or empty bytes if none.
    function encryptionKeyOf(address account) external view returns (bytes memory publicKey);

    /// @notice True when `account` holds the agent, manager or auditor role.
    function isStaff(address account) external view returns (bool);
}
