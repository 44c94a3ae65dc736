// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceEscrow} from "../../interfaces/IInvoiceEscrow.sol";
import {EscrowWallet} from "./EscrowWallet.sol";

/// @title ReentrantTreasury
/// @notice Test only. A treasury that, whenever the escrow sends it ETH, calls `release` again
/// and records how that call ended. The failure is caught so the outer release still succeeds.
contract ReentrantTreasury is EscrowWallet {
    bool public armed;
    uint256 public targetInvoiceId;
    uint256 public reentryAttempts;
    uint256 public reentrySuccesses;
    bytes public lastReentryError;

    constructor(IInvoiceEscrow escrow_) EscrowWallet(escrow_) {}

    function setTarget(uint256 invoiceId) external {
        armed = true;
        targetInvoiceId = invoiceId;
    }

    receive() external payable {
        if (!armed) return;
        reentryAttempts += 1;
        try escrow.release(targetInvoiceId) {
            reentrySuccesses += 1;
        } catch (bytes memory reason) {
            lastReentryError = reason;
        }
    }
}
