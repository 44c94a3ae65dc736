// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ICrmRegistry} from "../interfaces/ICrmRegistry.sol";
import {IStaffDirectory} from "../interfaces/IStaffDirectory.sol";
import {ICustomerRegistry} from "../interfaces/ICustomerRegistry.sol";
import {IInteractionLog} from "../interfaces/IInteractionLog.sol";
import {CrmRoles} from "./libraries/CrmRoles.sol";

/// @title CrmRegistry
/// @notice Staff roles and encryption keys, customers, and the interaction log of the CRM.
contract CrmRegistry is ICrmRegistry, AccessControl {
    bytes32 public constant override AGENT_ROLE = CrmRoles.AGENT;
    bytes32 public constant override MANAGER_ROLE = CrmRoles.MANAGER;
    bytes32 public constant override AUDITOR_ROLE = CrmRoles.AUDITOR;
    bytes32 public constant override INVOICE_ISSUER_ROLE = CrmRoles.INVOICE_ISSUER;

    /// @dev One interaction record in a batch: uint64 id + uint8 kind + uint8 outcome + bytes32 hash.
    uint256 private constant RECORD_BYTES = 42;
    uint256 private constant MAX_BATCH_RECORDS = 1000;
    uint256 private constant PUBLIC_KEY_BYTES = 64;
    /// @dev secp256k1 field prime and curve constant b of y^2 = x^3 + 7.
    uint256 private constant SECP256K1_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;
    uint256 private constant SECP256K1_B = 7;

    /// @dev A customer exists when 0 < id <= _customerCount and is erased when its bit is set in
    /// a bitmap of 256 customers per word. Logging checks both with two storage reads, and a
    /// batch pays one cold read per 256-customer word it touches, not one per customer: that
    /// keeps a batch's cost per record flat as the customer base grows.
    uint256 private constant CUSTOMERS_PER_WORD_LOG2 = 8;
    uint256 private constant CUSTOMERS_PER_WORD_MASK = 255;

    struct CustomerRecord {
        address wallet;
        uint32 profileVersion;
        uint40 registeredAt;
    }

    struct PublicKey {
        bytes32 x;
        bytes32 y;
    }

    uint256 private _customerCount;
    mapping(uint256 word => uint256 bits) private _erasedWords;
    mapping(uint256 customerId => CustomerRecord) private _customers;
    mapping(uint256 customerId => mapping(uint32 version => ProfileVersion)) private _profiles;
    mapping(uint256 customerId => mapping(address staff => AccessGrant)) private _grants;
    mapping(uint256 customerId => uint256 purposeBits) private _consents;
    mapping(address account => PublicKey) private _encryptionKeys;

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- staff directory

    /// @inheritdoc IStaffDirectory
    function registerEncryptionKey(bytes calldata publicKey) external override {
        if (publicKey.length != PUBLIC_KEY_BYTES) revert EncryptionKeyLengthInvalid(publicKey.length);
        bytes32 x = bytes32(publicKey[:32]);
        bytes32 y = bytes32(publicKey[32:]);
        if (!_onCurve(uint256(x), uint256(y))) revert EncryptionKeyInvalid(x, y);

        _encryptionKeys[msg.sender] = PublicKey(x, y);
        emit EncryptionKeyRegistered(msg.sender, x, y);
    }

    /// @inheritdoc IStaffDirectory
    function encryptionKeyOf(address account) public view override returns (bytes memory publicKey) {
        PublicKey storage key = _encryptionKeys[account];
        if (key.x == bytes32(0)) return "";
        return abi.encodePacked(key.x, key.y);
    }

    /// @inheritdoc IStaffDirectory
    function isStaff(address account) public view override returns (bool) {
        return hasRole(AGENT_ROLE, account) || hasRole(MANAGER_ROLE, account) || hasRole(AUDITOR_ROLE, account);
    }

    // ---------------------------------------------------------------- customers

    /// @inheritdoc ICustomerRegistry
    function registerCustomer(bytes32 contentHash, bytes32 cidDigest, address wallet, uint8 purpose)
        external
        override
        onlyRole(AGENT_ROLE)
        returns (uint256 customerId)
    {
        if (contentHash == bytes32(0) || cidDigest == bytes32(0)) revert ProfileHashMissing();
        if (purpose == 0) revert PurposeInvalid(purpose);

        customerId = ++_customerCount;
        _customers[customerId] = CustomerRecord({wallet: wallet, profileVersion: 1, registeredAt: uint40(block.timestamp)});
        _profiles[customerId][1] = ProfileVersion(contentHash, cidDigest);
        _grants[customerId][msg.sender] = AccessGrant({purpose: purpose, active: true, since: uint40(block.timestamp)});

        emit CustomerRegistered(customerId, msg.sender, wallet, uint64(block.timestamp));
        emit ProfileUpdated(customerId, 1, msg.sender, contentHash, cidDigest);
        emit AccessGranted(customerId, msg.sender, purpose, msg.sender);
    }

    /// @inheritdoc ICustomerRegistry
    function updateProfile(uint256 customerId, bytes32 contentHash, bytes32 cidDigest)
        external
        override
        returns (uint32 version)
    {
        _requireActive(customerId);
        CustomerRecord storage customer = _customers[customerId];
        // Staff need an active grant and a role that writes still: a grant outlives a revoked role,
        // and an auditor's grant is for reading only.
        if (msg.sender != customer.wallet && !(_grants[customerId][msg.sender].active && _writesProfiles(msg.sender))) {
            revert CallerWithoutAccess(customerId, msg.sender);
        }
        if (contentHash == bytes32(0) || cidDigest == bytes32(0)) revert ProfileHashMissing();

        version = customer.profileVersion + 1;
        customer.profileVersion = version;
        _profiles[customerId][version] = ProfileVersion(contentHash, cidDigest);
        emit ProfileUpdated(customerId, version, msg.sender, contentHash, cidDigest);
    }

    /// @inheritdoc ICustomerRegistry
    function setCustomerWallet(uint256 customerId, address wallet) external override {
        _requireActive(customerId);
        CustomerRecord storage customer = _customers[customerId];
        address previous = customer.wallet;
        if (msg.sender != previous && !hasRole(MANAGER_ROLE, msg.sender)) {
            revert CallerNotManagerOrCustomer(customerId, msg.sender);
        }

        customer.wallet = wallet;
        emit CustomerWalletChanged(customerId, previous, wallet, msg.sender);
    }

    /// @inheritdoc ICustomerRegistry
    function grantAccess(uint256 customerId, address staff, uint8 purpose) external override {
        _requireManagerOrCustomer(customerId);
        if (purpose == 0) revert PurposeInvalid(purpose);
        if (!isStaff(staff)) revert GranteeNotStaff(staff);
        if (_encryptionKeys[staff].x == bytes32(0)) revert GranteeWithoutEncryptionKey(staff);
        AccessGrant storage grant = _grants[customerId][staff];
        if (grant.active) revert AccessAlreadyGranted(customerId, staff);

        _grants[customerId][staff] = AccessGrant({purpose: purpose, active: true, since: uint40(block.timestamp)});
        emit AccessGranted(customerId, staff, purpose, msg.sender);
    }

    /// @inheritdoc ICustomerRegistry
    function revokeAccess(uint256 customerId, address staff) external override {
        _requireManagerOrCustomer(customerId);
        AccessGrant storage grant = _grants[customerId][staff];
        if (!grant.active) revert AccessNotGranted(customerId, staff);

        grant.active = false;
        grant.since = uint40(block.timestamp);
        emit AccessRevoked(customerId, staff, grant.purpose, msg.sender);
    }

    /// @inheritdoc ICustomerRegistry
    function setConsent(uint256 customerId, uint8 purpose, bool granted) external override {
        _requireActive(customerId);
        if (msg.sender != _customers[customerId].wallet) revert CallerNotCustomer(customerId, msg.sender);
        if (purpose == 0) revert PurposeInvalid(purpose);
        uint256 bits = _consents[customerId];
        uint256 flag = 1 << purpose;
        if (((bits & flag) != 0) == granted) revert ConsentUnchanged(customerId, purpose, granted);

        _consents[customerId] = granted ? bits | flag : bits & ~flag;
        emit ConsentChanged(customerId, purpose, granted);
    }

    /// @inheritdoc ICustomerRegistry
    function eraseCustomer(uint256 customerId, bytes32 receiptHash) external override {
        _requireManagerOrCustomer(customerId);
        if (receiptHash == bytes32(0)) revert ErasureReceiptMissing(customerId);

        _erasedWords[customerId >> CUSTOMERS_PER_WORD_LOG2] |= 1 << (customerId & CUSTOMERS_PER_WORD_MASK);
        delete _consents[customerId];
        emit CustomerErased(customerId, msg.sender, receiptHash, uint64(block.timestamp));
    }

    /// @inheritdoc ICustomerRegistry
    function customerCount() external view override returns (uint256) {
        return _customerCount;
    }

    /// @inheritdoc ICustomerRegistry
    function customerOf(uint256 customerId) external view override returns (Customer memory) {
        CustomerStatus status = statusOf(customerId);
        if (status == CustomerStatus.None) revert CustomerUnknown(customerId);
        CustomerRecord storage record = _customers[customerId];
        return Customer({
            wallet: record.wallet,
            profileVersion: record.profileVersion,
            registeredAt: record.registeredAt,
            status: status
        });
    }

    /// @inheritdoc ICustomerRegistry
    function statusOf(uint256 customerId) public view override returns (CustomerStatus) {
        if (customerId == 0 || customerId > _customerCount) return CustomerStatus.None;
        uint256 word = _erasedWords[customerId >> CUSTOMERS_PER_WORD_LOG2];
        return (word >> (customerId & CUSTOMERS_PER_WORD_MASK)) & 1 == 1 ? CustomerStatus.Erased : CustomerStatus.Active;
    }

    /// @inheritdoc ICustomerRegistry
    function walletOf(uint256 customerId) external view override returns (address) {
        return _customers[customerId].wallet;
    }

    /// @inheritdoc ICustomerRegistry
    function profileOf(uint256 customerId, uint32 version) external view override returns (ProfileVersion memory) {
        return _profiles[customerId][version];
    }

    /// @inheritdoc ICustomerRegistry
    function accessOf(uint256 customerId, address staff) external view override returns (AccessGrant memory) {
        return _grants[customerId][staff];
    }

    /// @inheritdoc ICustomerRegistry
    function hasConsent(uint256 customerId, uint8 purpose) external view override returns (bool) {
        return (_consents[customerId] >> purpose) & 1 == 1;
    }

    // ---------------------------------------------------------------- interaction log

    /// @inheritdoc IInteractionLog
    function logInteraction(uint256 customerId, uint8 kind, uint8 outcome, bytes32 contentHash)
        external
        override
        onlyRole(AGENT_ROLE)
    {
        _requireActive(customerId);
        if (kind == 0) revert InteractionKindInvalid(kind);
        if (contentHash == bytes32(0)) revert ContentHashMissing();

        emit InteractionLogged(customerId, msg.sender, contentHash, kind, outcome, uint64(block.timestamp));
    }

    /// @inheritdoc IInteractionLog
    function logInteractions(bytes calldata records) external override onlyRole(AGENT_ROLE) {
        uint256 length = records.length;
        if (length == 0 || length % RECORD_BYTES != 0) revert InteractionBatchMalformed(length);
        uint256 count = length / RECORD_BYTES;
        if (count > MAX_BATCH_RECORDS) revert InteractionBatchTooLarge(count, MAX_BATCH_RECORDS);

        uint256 customerCount = _customerCount;
        uint256 cachedWordIndex = type(uint256).max;
        uint256 cachedWord;
        for (uint256 offset; offset < length; offset += RECORD_BYTES) {
            uint256 head;
            bytes32 contentHash;
            // Both reads stay inside the record: the length is a multiple of 42 and the hash
            // read ends at offset + 42.
            // slither-disable-next-line assembly
            assembly ("memory-safe") {
                head := calldataload(add(records.offset, offset))
                contentHash := calldataload(add(records.offset, add(offset, 10)))
            }
            // The first 10 bytes of the record: customerId (8 bytes), kind, outcome.
            uint256 customerId = head >> 192;
            uint8 kind = uint8(head >> 184);
            if (kind == 0) revert InteractionKindInvalid(kind);
            if (contentHash == bytes32(0)) revert ContentHashMissing();

            if (customerId == 0 || customerId > customerCount) revert CustomerUnknown(customerId);
            uint256 wordIndex = customerId >> CUSTOMERS_PER_WORD_LOG2;
            if (wordIndex != cachedWordIndex) {
                cachedWordIndex = wordIndex;
                cachedWord = _erasedWords[wordIndex];
            }
            if ((cachedWord >> (customerId & CUSTOMERS_PER_WORD_MASK)) & 1 == 1) revert CustomerIsErased(customerId);
        }

        emit InteractionsLogged(msg.sender, uint64(block.timestamp), records);
    }

    // ---------------------------------------------------------------- internals

    function _requireActive(uint256 customerId) private view {
        CustomerStatus status = statusOf(customerId);
        if (status == CustomerStatus.Erased) revert CustomerIsErased(customerId);
        if (status != CustomerStatus.Active) revert CustomerUnknown(customerId);
    }

    function _requireManagerOrCustomer(uint256 customerId) private view {
        _requireActive(customerId);
        if (msg.sender != _customers[customerId].wallet && !hasRole(MANAGER_ROLE, msg.sender)) {
            revert CallerNotManagerOrCustomer(customerId, msg.sender);
        }
    }

    /// @dev Agents and managers write customer data; auditors, who are staff too, only read it.
    function _writesProfiles(address account) private view returns (bool) {
        return hasRole(AGENT_ROLE, account) || hasRole(MANAGER_ROLE, account);
    }

    function _onCurve(uint256 x, uint256 y) private pure returns (bool) {
        if (x == 0 || x >= SECP256K1_P || y >= SECP256K1_P) return false;
        uint256 rhs = addmod(mulmod(mulmod(x, x, SECP256K1_P), x, SECP256K1_P), SECP256K1_B, SECP256K1_P);
        return mulmod(y, y, SECP256K1_P) == rhs;
    }
}
