// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title Loyalty points: an ERC-20 minted at invoice release and burned at redemption
/// @notice Points do not move between holders: they are a promise of the business to the customer
/// whose purchases earned them, not a currency. Only the minter (the invoice escrow) mints and burns.
interface ILoyaltyPoints is IERC20 {
    error PointsNotTransferable();
    error CallerNotMinter(address caller);
    error MinterInvalid(address minter);

    function minter() external view returns (address);

    /// @notice Mint `amount` to `to`. The minter only.
    function mint(address to, uint256 amount) external;

    /// @notice Burn `amount` from `from`. The minter only (the escrow burns what its payer redeems).
    function burn(address from, uint256 amount) external;
}
