// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceEscrow} from "../../interfaces/IInvoiceEscrow.sol";
import {EscrowWallet} from "./EscrowWallet.sol";

/// @title RevertingPayee
/// @notice Test only. A payer wallet or treasury that refuses every ETH transfer to it, to show
/// that a refusing payee cannot block the settlement of funds that belong elsewhere.
contract RevertingPayee is EscrowWallet {
    error PaymentRefused();

    constructor(IInvoiceEscrow escrow_) EscrowWallet(escrow_) {}

    receive() external payable {
        revert PaymentRefused();
    }
}
