// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceEscrow} from "../../interfaces/IInvoiceEscrow.sol";

/// @title RevertingPayee
/// @notice Test only. A payer wallet or treasury that refuses every ETH transfer to it, to show
/// that a refusing payee cannot lock funds that belong elsewhere.
contract RevertingPayee {
    error PaymentRefused();

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

    receive() external payable {
        revert PaymentRefused();
    }
}
