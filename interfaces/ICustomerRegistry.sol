// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Customer registry: identities, encrypted-profile pointers, access, consent, erasure
/// @notice Nothing personal is stored or emitted: a customer is a sequential id, the hash and the
/// IPFS CID digest of an encrypted profile document, and an optional wallet.
interface ICustomerRegistry {
    enum CustomerStatus {
        None,
        Active,
        Erased
    }

    struct Customer {
        address wallet;
        uint32 profileVersion;
        uint40 registeredAt;
        CustomerStatus status;
    }

    /// @notice One version of the encrypted profile: keccak256 of the document and the sha2-256
    /// digest of its CIDv0.
    struct ProfileVersion {
        bytes32 contentHash;
        bytes32 cidDigest;
    }

    struct AccessGrant {
        uint8 purpose;
        bool active;
        uint40 since;
    }

    event CustomerRegistered(
        uint256 indexed customerId, address indexed registrar, address indexed wallet, uint64 at
    );
    event ProfileUpdated(
        uint256 indexed customerId,
        uint32 indexed version,
        address indexed actor,
        bytes32 contentHash,
        bytes32 cidDigest
    );
    event CustomerWalletChanged(
        uint256 indexed customerId, address indexed previousWallet, address indexed newWallet, address actor
    );
    event AccessGranted(uint256 indexed customerId, address indexed staff, uint8 indexed purpose, address actor);
    event AccessRevoked(uint256 indexed customerId, address indexed staff, uint8 indexed purpose, address actor);
    event ConsentChanged(uint256 indexed customerId, uint8 indexed purpose, bool granted);
    event CustomerErased(uint256 indexed customerId, address indexed actor, bytes32 receiptHash, uint64 at);

    error CustomerUnknown(uint256 customerId);
    error CustomerIsErased(uint256 customerId);
    error ProfileHashMissing();
    error PurposeInvalid(uint8 purpose);
    error CallerNotCustomer(uint256 customerId, address caller);
    error CallerNotManagerOrCustomer(uint256 customerId, address caller);
    error CallerWithoutAccess(uint256 customerId, address caller);
    error GranteeNotStaff(address account);
    error GranteeWithoutEncryptionKey(address account);
    error AccessAlreadyGranted(uint256 customerId, address staff);
    error AccessNotGranted(uint256 customerId, address staff);
    error ConsentUnchanged(uint256 customerId, uint8 purpose, bool granted);
    error ErasureReceiptMissing(uint256 customerId);

    /// @notice Register a customer; the caller (an agent) is granted access for `purpose`.
    /// @param wallet The customer's own wallet, or the zero address if they have none yet.
    function registerCustomer(bytes32 contentHash, bytes32 cidDigest, address wallet, uint8 purpose)
        external
        returns (uint256 customerId);

    /// @notice Record a new version of the encrypted profile. Staff with active access, or the
    /// customer's wallet.
    function updateProfile(uint256 customerId, bytes32 contentHash, bytes32 cidDigest)
        external
        returns (uint32 version);

    /// @notice Set the customer's wallet. A manager, or the customer's current wallet.
    function setCustomerWallet(uint256 customerId, address wallet) external;

    /// @notice Grant `staff` access to the customer's data for `purpose`. A manager or the customer.
    function grantAccess(uint256 customerId, address staff, uint8 purpose) external;

    /// @notice Revoke `staff`'s access. A manager or the customer.
    function revokeAccess(uint256 customerId, address staff) external;

    /// @notice Give or withdraw consent for a purpose. The customer's wallet only.
    function setConsent(uint256 customerId, uint8 purpose, bool granted) external;

    /// @notice Mark the customer erased after their keys were destroyed; refuses all later writes.
    /// @param receiptHash keccak256 of the off-chain erasure receipt. A manager or the customer.
    function eraseCustomer(uint256 customerId, bytes32 receiptHash) external;

    function customerCount() external view returns (uint256);
    function customerOf(uint256 customerId) external view returns (Customer memory);
    function statusOf(uint256 customerId) external view returns (CustomerStatus);
    function walletOf(uint256 customerId) external view returns (address);
    function profileOf(uint256 customerId, uint32 version) external view returns (ProfileVersion memory);
    function accessOf(uint256 customerId, address staff) external view returns (AccessGrant memory);
    function hasConsent(uint256 customerId, uint8 purpose) external view returns (bool);
}
