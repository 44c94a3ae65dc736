// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceEscrow} from "../../interfaces/IInvoiceEscrow.sol";
import {EscrowWallet} from "./EscrowWallet.sol";

/// @title ReentrantPayer
/// @notice Test only. A payer wallet that, when the escrow pays out its refund withdrawal, calls
/// back into the escrow and records how that call ended. The failure is caught so the outer
/// withdrawal still succeeds and the test can read what the escrow answered.
contract ReentrantPayer is EscrowWallet {
    enum Attack {
        None,
        WithdrawRefund,
        Release,
        ConfirmDelivery,
        Reclaim
    }

    Attack public attack;
    uint256 public targetInvoiceId;
    uint256 public reentryAttempts;
    uint256 public reentrySuccesses;
    bytes public lastReentryError;

    constructor(IInvoiceEscrow escrow_) EscrowWallet(escrow_) {}

    function setAttack(Attack attack_, uint256 invoiceId) external {
        attack = attack_;
        targetInvoiceId = invoiceId;
    }

    /// @dev The attack stays armed: were a call back to pay out again, this would try again, as a
    /// draining attacker would (bounded by the gas the escrow forwards).
    receive() external payable {
        Attack current = attack;
        if (current == Attack.None) return;
        reentryAttempts += 1;
        uint256 invoiceId = targetInvoiceId;
        bool ok;
        bytes memory reason;
        if (current == Attack.WithdrawRefund) {
            (ok, reason) = address(escrow).call(abi.encodeCall(IInvoiceEscrow.withdrawRefund, ()));
        } else if (current == Attack.Release) {
            (ok, reason) = address(escrow).call(abi.encodeCall(IInvoiceEscrow.release, (invoiceId)));
        } else if (current == Attack.ConfirmDelivery) {
            (ok, reason) = address(escrow).call(abi.encodeCall(IInvoiceEscrow.confirmDelivery, (invoiceId)));
        } else {
            (ok, reason) = address(escrow).call(abi.encodeCall(IInvoiceEscrow.reclaim, (invoiceId)));
        }
        if (ok) reentrySuccesses += 1;
        else lastReentryError = reason;
    }
}
