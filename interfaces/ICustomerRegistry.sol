// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Customer registry: identities, encrypted-profile pointers, wallets, access, consent, erasure
/// @notice Nothing personal is stored or emitted: a customer is a sequential id, the hashes of
/// encrypted profile versions, an optional wallet that the wallet itself accepted, grants to staff
/// by purpose, and consent bits.
///
/// Readers. The readers of a customer's data are computed here, never copied: the accepted wallet,
/// every manager with a published key, and every staff member with an active grant, a current
/// staff role and a published key (`readersOf`). Every profile version records the hash of the
/// reader set it was sealed for (`readersHash`, checked against the chain when it is written), so a
/// client can refuse a version sealed for anyone else.
///
/// Purposes. 1 sales, 2 support (performing the contract), 3 billing, 5 audit (legal obligation)
/// need no consent; 4 marketing, 6 profiling/analytics, 7 sharing with third parties need the
/// customer's consent: they can be granted only while the customer consents, and withdrawing the
/// consent deactivates their grants.
interface ICustomerRegistry {
    enum CustomerStatus {
        None,
        Active,
        Erased
    }

    enum LawfulBasis {
        None,
        Contract,
        LegalObligation,
        Consent
    }

    struct Customer {
        address wallet;
        address pendingWallet;
        uint32 profileVersion;
        uint40 registeredAt;
        uint8 consentBits;
        CustomerStatus status;
    }

    /// @notice One version of the encrypted profile: keccak256 of the document, the sha2-256
    /// digest of its CIDv0, and keccak256 of the sorted reader addresses it was sealed for
    /// (`abi.encodePacked(address[])`, each address left-padded to 32 bytes).
    struct ProfileVersion {
        bytes32 contentHash;
        bytes32 cidDigest;
        bytes32 readersHash;
    }

    struct AccessGrant {
        uint8 purpose;
        bool active;
        uint40 since;
    }

    event CustomerRegistered(uint256 indexed customerId, address indexed registrar, uint64 at);
    event ProfileUpdated(
        uint256 indexed customerId,
        uint32 indexed version,
        address indexed actor,
        bytes32 contentHash,
        bytes32 cidDigest,
        bytes32 readersHash
    );
    /// @notice Staff or the current wallet proposed `wallet`; the zero address withdraws a proposal.
    event WalletProposed(uint256 indexed customerId, address indexed wallet, address indexed proposer);
    /// @notice `approver` (a manager, or the proposer when a manager or the bound wallet) let
    /// `wallet` accept. An agent's proposal needs a manager's approval.
    event WalletApproved(uint256 indexed customerId, address indexed wallet, address indexed approver);
    /// @notice `newWallet` accepted the binding itself (by transaction or signature relayed by
    /// `relayer`). `publicKey` is its secp256k1 key, which data is wrapped to (empty for a wallet
    /// that published its key in the directory).
    event WalletAccepted(
        uint256 indexed customerId,
        address indexed previousWallet,
        address indexed newWallet,
        bytes publicKey,
        address relayer
    );
    event AccessGranted(uint256 indexed customerId, address indexed staff, uint8 indexed purpose, address actor);
    event AccessRevoked(uint256 indexed customerId, address indexed staff, uint8 indexed purpose, address actor);
    event ConsentChanged(uint256 indexed customerId, uint8 indexed purpose, bool granted, address relayer);
    event CustomerErased(uint256 indexed customerId, address indexed actor, bytes32 receiptHash, uint64 at);

    error CustomerUnknown(uint256 customerId);
    error CustomerIsErased(uint256 customerId);
    error ProfileHashMissing();
    error ProfileReadersMismatch(uint256 customerId, bytes32 expected, bytes32 given);
    error PurposeInvalid(uint8 purpose);
    error PurposeNeedsConsent(uint256 customerId, uint8 purpose);
    error CallerNotCustomer(uint256 customerId, address caller);
    error CallerNotManagerOrCustomer(uint256 customerId, address caller);
    error CallerWithoutAccess(uint256 customerId, address caller);
    error GranteeNotStaff(address account);
    error GranteeWithoutEncryptionKey(address account);
    error GranteeLimitReached(uint256 customerId, uint256 max);
    error AccessAlreadyGranted(uint256 customerId, address staff);
    error AccessNotGranted(uint256 customerId, address staff);
    error ConsentUnchanged(uint256 customerId, uint8 purpose, bool granted);
    error ErasureReceiptMissing(uint256 customerId);
    error WalletInvalid(uint256 customerId, address wallet);
    error WalletNotProposed(uint256 customerId, address wallet);
    error WalletNotApproved(uint256 customerId, address wallet);
    error WalletNotYetAcceptable(uint256 customerId, uint256 acceptableAt);
    error WalletKeyMismatch(address wallet);
    error WalletWithoutEncryptionKey(address wallet);
    error SignatureExpired(uint256 deadline);
    error SignatureInvalid(address signer);
    error SignatureNoncesExhausted(uint256 customerId);

    /// @notice Register a customer; the caller (an agent with a published key) is granted access
    /// for `purpose`, which must not need consent. `proposedWallet` (or zero; never a staff
    /// account) is only proposed: it has no power until it accepts.
    function registerCustomer(
        bytes32 contentHash,
        bytes32 cidDigest,
        bytes32 readersHash,
        address proposedWallet,
        uint8 purpose
    ) external returns (uint256 customerId);

    /// @notice Record a new version of the encrypted profile, sealed for `readersHash`, which must
    /// equal `readersHashOf(customerId)`. The customer's wallet, a manager, or an agent with an
    /// active grant.
    function updateProfile(uint256 customerId, bytes32 contentHash, bytes32 cidDigest, bytes32 readersHash)
        external
        returns (uint32 version);

    /// @notice Propose `wallet` (never a staff account) as the customer's; it must accept. The
    /// current wallet (moving itself), a manager, or, while the customer has no wallet, an agent
    /// with an active grant, whose proposal a manager must approve. A manager replacing a bound
    /// wallet (recovery) makes it acceptable only after a 7-day delay, during which the bound
    /// wallet can withdraw it. The zero address withdraws the proposal.
    function proposeWallet(uint256 customerId, address wallet) external;

    /// @notice Approve an agent's wallet proposal, so that the wallet can accept. Managers only:
    /// one agent alone cannot bind a wallet (of his own) to a customer.
    function approveWallet(uint256 customerId, address wallet) external;

    /// @notice The proposed wallet accepts, by its own transaction. `publicKey` must hash to the
    /// caller, or be empty when the caller published a key in the directory. A wallet that has
    /// become staff since it was proposed is refused.
    function acceptWallet(uint256 customerId, bytes calldata publicKey) external;

    /// @notice The proposed wallet accepts by an EIP-712 `AcceptWallet` signature (EOA or ERC-1271),
    /// relayed by anyone, so that the customer needs no ETH.
    function acceptWalletBySig(
        uint256 customerId,
        address wallet,
        bytes calldata publicKey,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Grant `staff` access for `purpose` and record the version re-sealed for the new
    /// reader set, in one transaction. A manager or the customer.
    function grantAccess(
        uint256 customerId,
        address staff,
        uint8 purpose,
        bytes32 contentHash,
        bytes32 cidDigest,
        bytes32 readersHash
    ) external;

    /// @notice Revoke `staff`'s access and record the version re-sealed without them, in one
    /// transaction. A manager or the customer.
    function revokeAccess(
        uint256 customerId,
        address staff,
        bytes32 contentHash,
        bytes32 cidDigest,
        bytes32 readersHash
    ) external;

    /// @notice Revoke `staff`'s access by the customer's EIP-712 `RevokeAccess` signature (EOA or
    /// ERC-1271), relayed by anyone, so that the customer needs no ETH. It uses the nonce shared
    /// with `SetConsent`. Unlike `revokeAccess` it records no new profile version (a signature
    /// cannot carry one): as after a consent withdrawal, a reader re-seals the profile without
    /// `staff` afterwards. `AccessRevoked` names the customer's wallet as its actor.
    function revokeAccessBySig(uint256 customerId, address staff, uint256 deadline, bytes calldata signature) external;

    /// @notice Give or withdraw consent for a purpose. The customer's wallet only. Withdrawing
    /// deactivates every grant for that purpose.
    function setConsent(uint256 customerId, uint8 purpose, bool granted) external;

    /// @notice The same, by the wallet's EIP-712 `SetConsent` signature, relayed by anyone.
    function setConsentBySig(
        uint256 customerId,
        uint8 purpose,
        bool granted,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Mark the customer erased after their documents and keys were destroyed; clears the
    /// wallet, the grants and the consents, and refuses all later writes.
    /// @param receiptHash keccak256 of the off-chain erasure receipt. A manager or the customer.
    function eraseCustomer(uint256 customerId, bytes32 receiptHash) external;

    function customerCount() external view returns (uint256);
    function customerOf(uint256 customerId) external view returns (Customer memory);
    function statusOf(uint256 customerId) external view returns (CustomerStatus);
    function walletOf(uint256 customerId) external view returns (address);
    function pendingWalletOf(uint256 customerId) external view returns (address);
    /// @notice The pending proposal: the wallet, whether it may accept, and from when.
    function walletProposalOf(uint256 customerId)
        external
        view
        returns (address wallet, bool approved, uint256 acceptableAt);
    function profileOf(uint256 customerId, uint32 version) external view returns (ProfileVersion memory);
    function accessOf(uint256 customerId, address staff) external view returns (AccessGrant memory);
    /// @notice True when `account` holds an active grant on the customer (any purpose).
    function hasActiveGrant(uint256 customerId, address account) external view returns (bool);
    /// @notice Staff with an active grant on the customer.
    function granteesOf(uint256 customerId) external view returns (address[] memory);
    function hasConsent(uint256 customerId, uint8 purpose) external view returns (bool);
    /// @notice The customer's readers now, sorted ascending (see the contract's notice).
    function readersOf(uint256 customerId) external view returns (address[] memory);
    /// @notice keccak256 of `abi.encodePacked(readersOf(customerId))`.
    function readersHashOf(uint256 customerId) external view returns (bytes32);
    /// @notice The lawful basis of a purpose; `Consent` means it needs the customer's consent.
    function lawfulBasisOf(uint8 purpose) external pure returns (LawfulBasis);
    /// @notice The customer's next signature nonce (shared by AcceptWallet, SetConsent and RevokeAccess).
    function nonces(uint256 customerId) external view returns (uint256);
}
