// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title CrmRoles
/// @notice The role identifiers of the CRM, shared by every contract that checks them.
library CrmRoles {
    bytes32 internal constant ADMIN = 0x00; // AccessControl's DEFAULT_ADMIN_ROLE
    bytes32 internal constant AGENT = keccak256("AGENT_ROLE");
    bytes32 internal constant MANAGER = keccak256("MANAGER_ROLE");
    bytes32 internal constant AUDITOR = keccak256("AUDITOR_ROLE");
}
