// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceEscrow} from "../../interfaces/IInvoiceEscrow.sol";

/// @title ReentrantPayer
/// @notice Test only. A payer wallet that, whenever the escrow sends it ETH, calls back into the
/// escrow and records how that call ended. Against a guarded escrow every call back fails; the
/// failure is caught so the outer transfer still succeeds and the test can read what happened.
contract ReentrantPayer {
    enum Attack {
        None,
        Refund,
        Release,
        ConfirmDelivery
    }

    IInvoiceEscrow public immutable escrow;
    Attack public attack;
    uint256 public targetInvoiceId;
    uint256 public reentryAttempts;
    uint256 public reentrySuccesses;
    bytes public lastReentryError;

    constructor(IInvoiceEscrow escrow_) {
        escrow = escrow_;
    }

    function setAttack(Attack attack_, uint256 invoiceId) external {
        attack = attack_;
        targetInvoiceId = invoiceId;
    }

    function pay(uint256 invoiceId) external payable {
        escrow.pay{value: msg.value}(invoiceId);
    }

    function confirmDelivery(uint256 invoiceId) external {
        escrow.confirmDelivery(invoiceId);
    }

    function dispute(uint256 invoiceId) external {
        escrow.dispute(invoiceId);
    }

    /// @dev The attack stays armed: were a call back to succeed, the escrow would pay again and
    /// this would try again, as a draining attacker would.
    receive() external payable {
        Attack current = attack;
        if (current == Attack.None) return;
        reentryAttempts += 1;
        uint256 invoiceId = targetInvoiceId;
        if (current == Attack.Refund) {
            try escrow.refund(invoiceId) {
                reentrySuccesses += 1;
            } catch (bytes memory reason) {
                lastReentryError = reason;
            }
        } else if (current == Attack.Release) {
            try escrow.release(invoiceId) {
                reentrySuccesses += 1;
            } catch (bytes memory reason) {
                lastReentryError = reason;
            }
        } else {
            try escrow.confirmDelivery(invoiceId) {
                reentrySuccesses += 1;
            } catch (bytes memory reason) {
                lastReentryError = reason;
            }
        }
    }
}
