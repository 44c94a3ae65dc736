// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title ForceSender
/// @notice Test only. Forces ETH into a contract that refuses transfers (no receive, no payable
/// fallback): SELFDESTRUCT credits the beneficiary without calling it. Since EIP-6780 the opcode
/// only moves the balance (this contract stays), which is all the tests need.
contract ForceSender {
    function force(address payable target) external payable {
        selfdestruct(target);
    }
}
