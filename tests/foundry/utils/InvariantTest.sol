// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title InvariantTest
/// @notice What forge-std's StdInvariant gives an invariant test, reduced to what we use. forge
/// asks the test contract for its targets by calling these functions by selector
/// (`targetContracts()`, `targetSelectors()`), so their names and return types are fixed.
/// An invariant fails when its `invariant_*` function reverts: `_check` reverts with a custom
/// error that forge decodes from this contract's ABI.
abstract contract InvariantTest {
    /// @dev The tuple forge decodes from `targetSelectors()`: a contract and the functions to call.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    /// @dev `expected` is the value `actual` should equal (or, from `_checkAtMost`, not exceed); a
    /// plain condition reports (0, 1).
    error InvariantBroken(string what, uint256 actual, uint256 expected);

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    /// @notice The contracts forge calls at random: only the handlers.
    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    /// @notice The handler functions forge calls (the handlers' views and ghost getters are left out).
    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function _target(address handler, bytes4[] memory selectors) internal {
        _targetedContracts.push(handler);
        FuzzSelector storage entry = _targetedSelectors.push();
        entry.addr = handler;
        for (uint256 i; i < selectors.length; ++i) {
            entry.selectors.push(selectors[i]);
        }
    }

    function _check(bool holds, string memory what) internal pure {
        if (!holds) revert InvariantBroken(what, 0, 1);
    }

    function _checkEq(uint256 actual, uint256 expected, string memory what) internal pure {
        if (actual != expected) revert InvariantBroken(what, actual, expected);
    }

    function _checkAtMost(uint256 actual, uint256 bound, string memory what) internal pure {
        if (actual > bound) revert InvariantBroken(what, actual, bound);
    }
}
