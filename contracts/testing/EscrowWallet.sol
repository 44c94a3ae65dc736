// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceEscrow} from "../../interfaces/IInvoiceEscrow.sol";

/// @title EscrowWallet
/// @notice Test only. A contract wallet that acts on the escrow as a payer or a treasury would:
/// the hostile mocks inherit it and differ only in what they do when the escrow sends them ETH.
/// Every forwarding function is open to anyone: the tests drive the wallet from any account.
abstract contract EscrowWallet {
    IInvoiceEscrow public immutable escrow;

    constructor(IInvoiceEscrow escrow_) {
        escrow = escrow_;
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

    function release(uint256 invoiceId) external {
        escrow.release(invoiceId);
    }

    function reclaim(uint256 invoiceId) external {
        escrow.reclaim(invoiceId);
    }

    function withdrawRefund() external {
        escrow.withdrawRefund();
    }

    /// @notice Accept a treasury change proposed for this wallet.
    function acceptTreasury() external {
        escrow.acceptTreasury();
    }
}
