// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ILoyaltyPoints} from "../interfaces/ILoyaltyPoints.sol";

/// @title LoyaltyPoints
/// @notice The CRM's loyalty points (18 decimals). The escrow mints them to a payer when an invoice
/// is released and burns them when the payer redeems them against a later invoice.
/// @dev Not transferable between holders, by choice: points are earned by one customer's history
/// and are the business's liability to that customer. A market in them would let anyone buy
/// discounts; an approval phished from a customer could not drain them either. Transfers,
/// approvals and transferFrom all revert; wallets still show the balance (wallet_watchAsset).
contract LoyaltyPoints is ERC20, ILoyaltyPoints {
    address public immutable override minter;

    constructor(address minter_) ERC20("chaincrm Loyalty Points", "CRMP") {
        if (minter_ == address(0)) revert MinterInvalid(minter_);
        minter = minter_;
    }

    /// @inheritdoc ILoyaltyPoints
    function mint(address to, uint256 amount) external override {
        if (msg.sender != minter) revert CallerNotMinter(msg.sender);
        _mint(to, amount);
    }

    /// @inheritdoc ILoyaltyPoints
    function burn(address from, uint256 amount) external override {
        if (msg.sender != minter) revert CallerNotMinter(msg.sender);
        _burn(from, amount);
    }

    /// @dev Points are never approved: no one may spend another's points.
    function approve(address, uint256) public pure override(ERC20, IERC20) returns (bool) {
        revert PointsNotTransferable();
    }

    /// @dev Refused before any allowance is read: every allowance is zero, and the reason is that
    /// points do not move, not that none was approved.
    function transferFrom(address, address, uint256) public pure override(ERC20, IERC20) returns (bool) {
        revert PointsNotTransferable();
    }

    /// @dev Only mints (from zero) and burns (to zero) move points.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) revert PointsNotTransferable();
        super._update(from, to, value);
    }
}
