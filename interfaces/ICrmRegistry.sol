// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IStaffDirectory} from "./IStaffDirectory.sol";
import {ICustomerRegistry} from "./ICustomerRegistry.sol";
import {IInteractionLog} from "./IInteractionLog.sol";

/// @title The CRM registry: staff directory, customer registry and interaction log in one contract
/// @notice One contract so that logging an interaction checks the author's role and the customer's
/// status with two storage reads and no external call (gas is the product of the log).
interface ICrmRegistry is IStaffDirectory, ICustomerRegistry, IInteractionLog {}
