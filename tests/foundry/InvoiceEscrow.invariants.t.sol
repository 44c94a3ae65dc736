// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IInvoiceEscrow} from "../../interfaces/IInvoiceEscrow.sol";
import {EscrowHandler} from "./handlers/EscrowHandler.sol";
import {Crm, CrmDeployment} from "./utils/CrmDeployment.sol";
import {InvariantTest} from "./utils/InvariantTest.sol";

/// @title Invariants of InvoiceEscrow
/// @notice forge calls EscrowHandler's actions at random (pay, confirm, dispute, release, refund,
/// reclaim, withdraw, cancel, reissue, treasury changes, forced ETH, sweep, time; the same in a
/// TestStablecoin: payToken, token refunds, tokens sent in and swept; off-chain payments) and checks
/// every `invariant_*` function after each call. The money invariants hold per currency.
contract InvoiceEscrowInvariants is InvariantTest, CrmDeployment {
    IInvoiceEscrow private _escrow;
    EscrowHandler private _handler;

    function setUp() public {
        Crm memory crm = _deployCrm();
        _escrow = crm.escrow;
        _handler = new EscrowHandler(crm);
        _target(address(_handler), _handler.actions());
    }

    /// @notice The escrow's balance covers the invoices it holds (Paid and Disputed) and the refunds
    /// it owes; anything above is forced ETH not yet swept, to the wei.
    function invariant_balanceCoversTheInvoicesItHolds() public view {
        (uint256 heldWei,) = _held(address(0));
        uint256 owedWei = _refundsOwed();
        uint256 balance = address(_escrow).balance;

        _checkAtMost(heldWei + owedWei, balance, "held invoices plus refunds owed exceed the balance");
        _checkEq(
            balance,
            heldWei + owedWei + _handler.ghostForcedInWei() - _handler.ghostSweptWei(),
            "balance != held + owed + unswept forced ETH"
        );
        _checkEq(_escrow.liabilitiesWei(), heldWei + owedWei, "liabilitiesWei() != held + owed");
    }

    /// @notice The same per token: the escrow's token balance covers the token invoices it holds and
    /// the token refunds it owes (`tokenLiabilities`); anything above was sent in and not yet swept.
    function invariant_tokenBalanceCoversTheTokenInvoicesItHolds() public view {
        address token = address(_handler.token());
        (uint256 held,) = _held(token);
        uint256 owed = _tokenRefundsOwed(token);
        uint256 balance = _handler.token().balanceOf(address(_escrow));

        _checkAtMost(_escrow.tokenLiabilities(token), balance, "tokenLiabilities exceed the token balance");
        _checkEq(_escrow.tokenLiabilities(token), held + owed, "tokenLiabilities() != held + owed");
        _checkEq(
            balance, held + owed + _handler.ghostTokenSentIn() - _handler.ghostTokenSwept(), "token balance != held + owed + unswept"
        );
        _checkEq(
            balance + _handler.ghostTokenReleased() + _handler.ghostTokenRefundWithdrawn() + _handler.ghostTokenSwept(),
            _handler.ghostTokenPaidIn() + _handler.ghostTokenSentIn(),
            "token balance != paid in + sent in - released - withdrawn - swept"
        );
        _checkAtMost(
            _handler.ghostTokenReleased() + _handler.ghostTokenRefundCredited(), _handler.ghostTokenPaidIn(), "more tokens paid out than paid in"
        );
        address[] memory payers = _handler.payers();
        for (uint256 i; i < payers.length; ++i) {
            _checkEq(
                _escrow.tokenRefundOf(token, payers[i]), _handler.ghostTokenRefundOwed(payers[i]), "tokenRefundOf != the model's credit"
            );
        }
    }

    /// @notice No invoice is released or refunded more than once, and no more leaves than came in.
    function invariant_noInvoicePaysOutTwice() public view {
        _checkAtMost(_handler.ghostMaxPayoutsPerInvoice(), 1, "an invoice paid out twice");
        uint256 count = _escrow.invoiceCount();
        for (uint256 id = 1; id <= count; ++id) {
            _checkAtMost(_handler.ghostPayouts(id), _handler.ghostPayments(id), "an invoice paid out more than paid in");
            _checkAtMost(_handler.ghostPayments(id), 1, "an invoice paid twice");
        }
        for (uint256 to; to < uint256(type(IInvoiceEscrow.InvoiceStatus).max) + 1; ++to) {
            _checkEq(_handler.statusChanges(uint8(IInvoiceEscrow.InvoiceStatus.Released), to), 0, "a released invoice changed");
            _checkEq(_handler.statusChanges(uint8(IInvoiceEscrow.InvoiceStatus.Refunded), to), 0, "a refunded invoice changed");
        }
        _checkAtMost(
            _handler.ghostReleasedWei() + _handler.ghostRefundCreditedWei(), _handler.ghostPaidInWei(), "more paid out than paid in"
        );
    }

    /// @notice An invoice holds funds (paid and not yet paid out) exactly when it is Paid or Disputed,
    /// and only the escrow's own transitions occur: Open -> Paid | Cancelled, Paid -> Disputed |
    /// Released | Refunded, Disputed -> Released | Refunded, and None -> Open at issue.
    function invariant_onlyPaidOrDisputedInvoicesHoldFunds() public view {
        uint256 count = _escrow.invoiceCount();
        for (uint256 id = 1; id <= count; ++id) {
            IInvoiceEscrow.InvoiceStatus status = _escrow.invoiceOf(id).status;
            bool holdsFunds = _handler.ghostPayments(id) > _handler.ghostPayouts(id);
            bool inEscrow = status == IInvoiceEscrow.InvoiceStatus.Paid || status == IInvoiceEscrow.InvoiceStatus.Disputed;
            _check(holdsFunds == inEscrow, "funds held by an invoice neither Paid nor Disputed (or not held by one)");
        }
        uint256 states = uint256(type(IInvoiceEscrow.InvoiceStatus).max) + 1;
        for (uint256 from; from < states; ++from) {
            for (uint256 to; to < states; ++to) {
                if (_handler.statusChanges(from, to) != 0) _check(_invoiceMayMove(from, to), "an invoice status change outside the machine");
            }
        }
    }

    /// @notice Every movement of money has its event: each reconciled call moved ETH and refund
    /// credits exactly as its events said, and the event totals add up to the balance.
    function invariant_everyMovementOfMoneyHasItsEvent() public view {
        _checkEq(_handler.ghostUnexplainedMovements(), 0, _handler.ghostFirstUnexplained());
        _checkEq(
            address(_escrow).balance + _handler.ghostReleasedWei() + _handler.ghostRefundWithdrawnWei()
                + _handler.ghostSweptWei(),
            _handler.ghostPaidInWei() + _handler.ghostForcedInWei(),
            "balance != paid in + forced in - released - withdrawn - swept"
        );
        address[] memory payers = _handler.payers();
        for (uint256 i; i < payers.length; ++i) {
            _checkEq(_escrow.refundOf(payers[i]), _handler.ghostRefundOwedWei(payers[i]), "refundOf != the model's credit");
        }
    }

    /// @notice Every call the escrow accepted was one its rules allow: the right caller, the right
    /// status, the right time, the treasury fixed at payment.
    function invariant_onlyAllowedCallsSucceed() public view {
        _checkEq(_handler.ghostSpecViolations(), 0, _handler.ghostFirstSpecViolation());
    }

    /// @dev What the Paid and Disputed invoices in `currency` (address(0): ETH) hold.
    function _held(address currency) private view returns (uint256 heldWei, uint256 heldCount) {
        uint256 count = _escrow.invoiceCount();
        for (uint256 id = 1; id <= count; ++id) {
            IInvoiceEscrow.Invoice memory invoice = _escrow.invoiceOf(id);
            if (invoice.currency != currency) continue;
            if (invoice.status == IInvoiceEscrow.InvoiceStatus.Paid || invoice.status == IInvoiceEscrow.InvoiceStatus.Disputed) {
                heldWei += invoice.amount;
                ++heldCount;
            }
        }
    }

    function _refundsOwed() private view returns (uint256 owedWei) {
        address[] memory payers = _handler.payers();
        for (uint256 i; i < payers.length; ++i) {
            owedWei += _escrow.refundOf(payers[i]);
        }
    }

    function _tokenRefundsOwed(address token) private view returns (uint256 owed) {
        address[] memory payers = _handler.payers();
        for (uint256 i; i < payers.length; ++i) {
            owed += _escrow.tokenRefundOf(token, payers[i]);
        }
    }

    /// @dev The invoice status machine, written out independently of the contract.
    function _invoiceMayMove(uint256 from, uint256 to) private pure returns (bool) {
        IInvoiceEscrow.InvoiceStatus f = IInvoiceEscrow.InvoiceStatus(from);
        IInvoiceEscrow.InvoiceStatus t = IInvoiceEscrow.InvoiceStatus(to);
        if (f == IInvoiceEscrow.InvoiceStatus.None) return t == IInvoiceEscrow.InvoiceStatus.Open;
        if (f == IInvoiceEscrow.InvoiceStatus.Open) {
            return t == IInvoiceEscrow.InvoiceStatus.Paid || t == IInvoiceEscrow.InvoiceStatus.Cancelled
                || t == IInvoiceEscrow.InvoiceStatus.PaidOffChain;
        }
        if (f == IInvoiceEscrow.InvoiceStatus.Paid) {
            return t == IInvoiceEscrow.InvoiceStatus.Disputed || t == IInvoiceEscrow.InvoiceStatus.Released
                || t == IInvoiceEscrow.InvoiceStatus.Refunded;
        }
        if (f == IInvoiceEscrow.InvoiceStatus.Disputed) {
            return t == IInvoiceEscrow.InvoiceStatus.Released || t == IInvoiceEscrow.InvoiceStatus.Refunded;
        }
        return false; // Released, Refunded, Cancelled and PaidOffChain are final
    }
}
