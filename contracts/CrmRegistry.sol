// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {IBranchDirectory} from "../interfaces/IBranchDirectory.sol";
import {ICrmRegistry} from "../interfaces/ICrmRegistry.sol";
import {IStaffDirectory} from "../interfaces/IStaffDirectory.sol";
import {ICustomerRegistry} from "../interfaces/ICustomerRegistry.sol";
import {IInteractionLog} from "../interfaces/IInteractionLog.sol";
import {CrmRoles} from "./libraries/CrmRoles.sol";

/// @title CrmRegistry
/// @notice Staff roles and encryption keys, customers, access, consent and the interaction log.
contract CrmRegistry is ICrmRegistry, AccessControlDefaultAdminRules, EIP712 {
    using EnumerableSet for EnumerableSet.AddressSet;

    bytes32 public constant override AGENT_ROLE = CrmRoles.AGENT;
    bytes32 public constant override MANAGER_ROLE = CrmRoles.MANAGER;
    bytes32 public constant override AUDITOR_ROLE = CrmRoles.AUDITOR;

    bytes32 private constant ACCEPT_WALLET_TYPEHASH =
        keccak256("AcceptWallet(uint256 customerId,address wallet,bytes publicKey,uint256 nonce,uint256 deadline)");
    bytes32 private constant SET_CONSENT_TYPEHASH =
        keccak256("SetConsent(uint256 customerId,uint8 purpose,bool granted,uint256 nonce,uint256 deadline)");
    bytes32 private constant REVOKE_ACCESS_TYPEHASH =
        keccak256("RevokeAccess(uint256 customerId,address staff,uint256 nonce,uint256 deadline)");

    /// @dev One interaction record in a batch: uint64 id + uint8 kind + uint8 outcome + bytes32 hash.
    uint256 private constant RECORD_BYTES = 42;
    uint256 private constant RECORD_HASH_OFFSET_BYTES = 10;
    uint256 private constant RECORD_ID_SHIFT_BITS = 192;
    uint256 private constant RECORD_KIND_SHIFT_BITS = 184;
    uint256 private constant RECORD_OUTCOME_SHIFT_BITS = 176;
    uint256 private constant MAX_BATCH_RECORDS = 1000;
    uint256 private constant PUBLIC_KEY_BYTES = 64;
    /// @dev secp256k1 field prime and curve constant b of y^2 = x^3 + 7.
    uint256 private constant SECP256K1_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;
    uint256 private constant SECP256K1_B = 7;

    uint8 private constant MAX_INTERACTION_KIND = 7; // reminder
    uint8 private constant MAX_OUTCOME = 5; // no answer
    uint8 private constant MAX_PURPOSE = 7; // third-party sharing
    /// @dev Purposes 4 (marketing), 6 (profiling) and 7 (third-party sharing) need consent.
    uint256 private constant CONSENT_PURPOSES_MASK = (1 << 4) | (1 << 6) | (1 << 7);
    /// @dev Purposes 3 (billing) and 5 (audit) rest on a legal obligation; 1 and 2 on the contract.
    uint256 private constant LEGAL_PURPOSES_MASK = (1 << 3) | (1 << 5);

    /// @dev Bounds that keep every loop over readers short: managers are standing readers of every
    /// customer, grantees are per customer.
    uint256 private constant MAX_MANAGERS = 8;
    uint256 private constant MAX_GRANTEES_PER_CUSTOMER = 16;
    /// @dev How long a manager's replacement of a bound (lost) wallet waits for the bound wallet
    /// to object by withdrawing it.
    uint256 private constant WALLET_RECOVERY_DELAY_SECONDS = 7 days;

    /// @dev Active grants are mirrored in a bitmap per staff member, 256 customers per word, so
    /// that logging (single or batched) pays one storage read per 256-customer range to check the
    /// author's access. An active grant implies an active customer: erasure clears every grant.
    uint256 private constant CUSTOMERS_PER_WORD_LOG2 = 8;
    uint256 private constant CUSTOMERS_PER_WORD_MASK = 255;

    /// @dev One slot: everything a signature or a consent check reads and writes. A bound wallet
    /// implies an active customer (only an active customer accepts one; erasure clears it), so
    /// the customer's own acts read the status only on their failure path (`_boundWallet`).
    struct CustomerRecord {
        address wallet;
        uint32 profileVersion;
        uint40 registeredAt;
        uint8 consentBits;
        uint16 nonce;
    }

    /// @dev One slot. An agent's proposal needs a manager's approval (a single agent could
    /// otherwise bind a wallet of his own); a manager's replacement of a bound wallet waits
    /// WALLET_RECOVERY_DELAY_SECONDS, during which the bound wallet can withdraw it.
    struct WalletProposal {
        address wallet;
        bool approved;
        uint40 acceptableAt;
    }

    struct PublicKey {
        bytes32 x;
        bytes32 y;
    }

    uint256 private _customerCount;
    EnumerableSet.AddressSet private _managers;
    mapping(uint256 word => uint256 bits) private _erasedWords;
    mapping(uint256 customerId => CustomerRecord) private _customers;
    mapping(uint256 customerId => WalletProposal) private _pendingWallets;
    mapping(uint256 customerId => mapping(uint32 version => ProfileVersion)) private _profiles;
    mapping(uint256 customerId => mapping(address staff => AccessGrant)) private _grants;
    mapping(uint256 customerId => EnumerableSet.AddressSet) private _grantees;
    mapping(address staff => mapping(uint256 word => uint256 bits)) private _grantWords;
    mapping(address account => PublicKey) private _encryptionKeys;
    /// @dev The BranchDirectory allowed to grant and revoke agents within branches (set once).
    address private _branchDirectory;

    /// @param adminTransferDelaySeconds The delay before a new default admin can accept the role.
    constructor(address admin, uint48 adminTransferDelaySeconds)
        AccessControlDefaultAdminRules(adminTransferDelaySeconds, admin)
        EIP712("chaincrm CrmRegistry", "2")
    {}

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
    function setBranchDirectory(address directory) external override onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_branchDirectory != address(0)) revert BranchDirectoryAlreadySet(_branchDirectory);
        // A directory bound to another registry (or no directory at all) would disable branches here for good.
        if (directory.code.length == 0 || !_boundToThis(directory)) revert NotBranchDirectory(directory);
        _branchDirectory = directory;
        emit BranchDirectorySet(directory);
    }

    /// @inheritdoc IStaffDirectory
    function branchDirectory() external view override returns (address) {
        return _branchDirectory;
    }

    /// @inheritdoc IStaffDirectory
    function grantAgentForBranch(address account) external override {
        if (msg.sender != _branchDirectory || msg.sender == address(0)) revert NotBranchDirectory(msg.sender);
        // The directory checks branch membership and emits its own event; a repeated grant is a no-op.
        // slither-disable-next-line unused-return
        _grantRole(AGENT_ROLE, account);
    }

    /// @inheritdoc IStaffDirectory
    function revokeAgentForBranch(address account) external override {
        if (msg.sender != _branchDirectory || msg.sender == address(0)) revert NotBranchDirectory(msg.sender);
        // slither-disable-next-line unused-return
        _revokeRole(AGENT_ROLE, account);
    }

    /// @inheritdoc IStaffDirectory
    function isStaff(address account) public view override returns (bool) {
        return hasRole(AGENT_ROLE, account) || hasRole(MANAGER_ROLE, account) || hasRole(AUDITOR_ROLE, account);
    }

    /// @inheritdoc IStaffDirectory
    function managers() external view override returns (address[] memory) {
        return _managers.values();
    }

    /// @inheritdoc IStaffDirectory
    function maxManagers() external pure override returns (uint256) {
        return MAX_MANAGERS;
    }

    // ---------------------------------------------------------------- customers

    /// @inheritdoc ICustomerRegistry
    function registerCustomer(
        bytes32 contentHash,
        bytes32 cidDigest,
        bytes32 readersHash,
        address proposedWallet,
        uint8 purpose
    ) external override onlyRole(AGENT_ROLE) returns (uint256 customerId) {
        _requirePurpose(purpose);
        customerId = ++_customerCount;
        if (lawfulBasisOf(purpose) == LawfulBasis.Consent) revert PurposeNeedsConsent(customerId, purpose);
        if (_hasNoKey(msg.sender)) revert GranteeWithoutEncryptionKey(msg.sender);
        // The same rule as proposeWallet: a staff account never becomes a customer's wallet.
        if (proposedWallet != address(0) && isStaff(proposedWallet)) revert WalletInvalid(customerId, proposedWallet);

        _customers[customerId] = CustomerRecord({
            wallet: address(0),
            profileVersion: 0,
            registeredAt: uint40(block.timestamp),
            consentBits: 0,
            nonce: 0
        });
        emit CustomerRegistered(customerId, msg.sender, uint64(block.timestamp));
        _grant(customerId, msg.sender, purpose);
        if (proposedWallet != address(0)) {
            _propose(customerId, proposedWallet, hasRole(MANAGER_ROLE, msg.sender), block.timestamp);
        }
        _recordVersion(customerId, contentHash, cidDigest, readersHash);
    }

    /// @inheritdoc ICustomerRegistry
    function updateProfile(uint256 customerId, bytes32 contentHash, bytes32 cidDigest, bytes32 readersHash)
        external
        override
        returns (uint32 version)
    {
        _requireActive(customerId);
        if (!_writesProfile(customerId, msg.sender)) revert CallerWithoutAccess(customerId, msg.sender);
        return _recordVersion(customerId, contentHash, cidDigest, readersHash);
    }

    /// @inheritdoc ICustomerRegistry
    function proposeWallet(uint256 customerId, address wallet) external override {
        _requireActive(customerId);
        address current = _customers[customerId].wallet;
        bool manager = hasRole(MANAGER_ROLE, msg.sender);
        bool self = current != address(0) && msg.sender == current;
        // Agents propose only for a customer without a wallet, and need a manager's approval.
        bool agent = current == address(0) && hasRole(AGENT_ROLE, msg.sender) && hasActiveGrant(customerId, msg.sender);
        if (!manager && !self && !agent) revert CallerWithoutAccess(customerId, msg.sender);
        // A wallet that is staff would carry a customer's powers beside its role's. The zero
        // address withdraws the proposal, with or without a bound wallet.
        if (wallet != address(0) && (wallet == current || isStaff(wallet))) revert WalletInvalid(customerId, wallet);

        // A manager replacing a bound wallet (recovery) waits, so the bound wallet can object.
        uint256 acceptableAt = (manager && !self && current != address(0))
            ? block.timestamp + WALLET_RECOVERY_DELAY_SECONDS
            : block.timestamp;
        _propose(customerId, wallet, manager || self, acceptableAt);
    }

    /// @inheritdoc ICustomerRegistry
    function approveWallet(uint256 customerId, address wallet) external override onlyRole(MANAGER_ROLE) {
        _requireActive(customerId);
        WalletProposal storage proposal = _pendingWallets[customerId];
        if (wallet == address(0) || proposal.wallet != wallet) revert WalletNotProposed(customerId, wallet);

        proposal.approved = true;
        emit WalletApproved(customerId, wallet, msg.sender);
    }

    /// @inheritdoc ICustomerRegistry
    function acceptWallet(uint256 customerId, bytes calldata publicKey) external override {
        _acceptWallet(customerId, msg.sender, publicKey);
    }

    /// @inheritdoc ICustomerRegistry
    function acceptWalletBySig(
        uint256 customerId,
        address wallet,
        bytes calldata publicKey,
        uint256 deadline,
        bytes calldata signature
    ) external override {
        _requireActive(customerId);
        CustomerRecord storage customer = _customers[customerId];
        bytes32 structHash = keccak256(
            abi.encode(ACCEPT_WALLET_TYPEHASH, customerId, wallet, keccak256(publicKey), customer.nonce, deadline)
        );
        _checkSignature(customer, customerId, wallet, structHash, deadline, signature);
        _acceptWallet(customerId, wallet, publicKey);
    }

    /// @inheritdoc ICustomerRegistry
    function grantAccess(
        uint256 customerId,
        address staff,
        uint8 purpose,
        bytes32 contentHash,
        bytes32 cidDigest,
        bytes32 readersHash
    ) external override {
        _requireManagerOrCustomer(customerId);
        _requirePurpose(purpose);
        if (lawfulBasisOf(purpose) == LawfulBasis.Consent && !hasConsent(customerId, purpose)) {
            revert PurposeNeedsConsent(customerId, purpose);
        }
        if (!isStaff(staff)) revert GranteeNotStaff(staff);
        if (_hasNoKey(staff)) revert GranteeWithoutEncryptionKey(staff);
        if (_grants[customerId][staff].active) revert AccessAlreadyGranted(customerId, staff);

        _grant(customerId, staff, purpose);
        _recordVersion(customerId, contentHash, cidDigest, readersHash);
    }

    /// @inheritdoc ICustomerRegistry
    function revokeAccess(
        uint256 customerId,
        address staff,
        bytes32 contentHash,
        bytes32 cidDigest,
        bytes32 readersHash
    ) external override {
        _requireManagerOrCustomer(customerId);
        if (!_grants[customerId][staff].active) revert AccessNotGranted(customerId, staff);

        _revoke(customerId, staff);
        _recordVersion(customerId, contentHash, cidDigest, readersHash);
    }

    /// @inheritdoc ICustomerRegistry
    function revokeAccessBySig(uint256 customerId, address staff, uint256 deadline, bytes calldata signature)
        external
        override
    {
        CustomerRecord storage customer = _customers[customerId];
        address wallet = _boundWallet(customer, customerId, address(0));
        AccessGrant storage grant = _grants[customerId][staff];
        if (!grant.active) revert AccessNotGranted(customerId, staff);
        bytes32 structHash = keccak256(abi.encode(REVOKE_ACCESS_TYPEHASH, customerId, staff, customer.nonce, deadline));
        _checkSignature(customer, customerId, wallet, structHash, deadline, signature);

        // No new profile version: like a consent withdrawal that ends a grant, the customer's
        // signature cannot carry a re-sealed version, so a reader re-seals afterwards.
        uint8 purpose = grant.purpose;
        _clearGrant(customerId, staff);
        emit AccessRevoked(customerId, staff, purpose, wallet);
    }

    /// @inheritdoc ICustomerRegistry
    function setConsent(uint256 customerId, uint8 purpose, bool granted) external override {
        CustomerRecord storage customer = _customers[customerId];
        address wallet = _boundWallet(customer, customerId, msg.sender);
        if (msg.sender != wallet) revert CallerNotCustomer(customerId, msg.sender);
        _setConsent(customer, customerId, wallet, purpose, granted);
    }

    /// @inheritdoc ICustomerRegistry
    function setConsentBySig(
        uint256 customerId,
        uint8 purpose,
        bool granted,
        uint256 deadline,
        bytes calldata signature
    ) external override {
        CustomerRecord storage customer = _customers[customerId];
        address wallet = _boundWallet(customer, customerId, address(0));
        bytes32 structHash =
            keccak256(abi.encode(SET_CONSENT_TYPEHASH, customerId, purpose, granted, customer.nonce, deadline));
        _checkSignature(customer, customerId, wallet, structHash, deadline, signature);
        _setConsent(customer, customerId, wallet, purpose, granted);
    }

    /// @inheritdoc ICustomerRegistry
    function eraseCustomer(uint256 customerId, bytes32 receiptHash) external override {
        _requireManagerOrCustomer(customerId);
        if (receiptHash == bytes32(0)) revert ErasureReceiptMissing(customerId);

        _erasedWords[customerId >> CUSTOMERS_PER_WORD_LOG2] |= 1 << (customerId & CUSTOMERS_PER_WORD_MASK);
        EnumerableSet.AddressSet storage grantees = _grantees[customerId];
        // Bounded by MAX_GRANTEES_PER_CUSTOMER. Removing from the end keeps the indices valid.
        for (uint256 i = grantees.length(); i > 0; --i) {
            address staff = grantees.at(i - 1);
            uint8 purpose = _grants[customerId][staff].purpose;
            _clearGrant(customerId, staff);
            emit AccessRevoked(customerId, staff, purpose, msg.sender);
        }
        CustomerRecord storage customer = _customers[customerId];
        customer.wallet = address(0);
        customer.consentBits = 0;
        delete _pendingWallets[customerId];
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
            pendingWallet: _pendingWallets[customerId].wallet,
            profileVersion: record.profileVersion,
            registeredAt: record.registeredAt,
            consentBits: record.consentBits,
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
    function pendingWalletOf(uint256 customerId) external view override returns (address) {
        return _pendingWallets[customerId].wallet;
    }

    /// @inheritdoc ICustomerRegistry
    function walletProposalOf(uint256 customerId)
        external
        view
        override
        returns (address wallet, bool approved, uint256 acceptableAt)
    {
        WalletProposal storage proposal = _pendingWallets[customerId];
        return (proposal.wallet, proposal.approved, proposal.acceptableAt);
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
    function hasActiveGrant(uint256 customerId, address account) public view override returns (bool) {
        uint256 word = _grantWords[account][customerId >> CUSTOMERS_PER_WORD_LOG2];
        return (word >> (customerId & CUSTOMERS_PER_WORD_MASK)) & 1 == 1;
    }

    /// @inheritdoc ICustomerRegistry
    function granteesOf(uint256 customerId) external view override returns (address[] memory) {
        return _grantees[customerId].values();
    }

    /// @inheritdoc ICustomerRegistry
    function hasConsent(uint256 customerId, uint8 purpose) public view override returns (bool) {
        if (purpose > MAX_PURPOSE) return false;
        // A bit test on the consent bits. Slither taints the whole record with block.timestamp
        // (registeredAt shares its slot) and so calls `== 1` a dangerous strict equality.
        // slither-disable-next-line incorrect-equality
        return (uint256(_customers[customerId].consentBits) >> purpose) & 1 == 1;
    }

    /// @inheritdoc ICustomerRegistry
    function readersOf(uint256 customerId) public view override returns (address[] memory readers) {
        EnumerableSet.AddressSet storage grantees = _grantees[customerId];
        uint256 managerCount = _managers.length();
        uint256 granteeCount = grantees.length();
        readers = new address[](1 + managerCount + granteeCount);
        uint256 count;
        address wallet = _customers[customerId].wallet;
        if (wallet != address(0)) readers[count++] = wallet;
        // Both loops are bounded: MAX_MANAGERS and MAX_GRANTEES_PER_CUSTOMER.
        for (uint256 i; i < managerCount; ++i) {
            address manager = _managers.at(i);
            if (!_hasNoKey(manager) && manager != wallet) readers[count++] = manager;
        }
        for (uint256 i; i < granteeCount; ++i) {
            address staff = grantees.at(i);
            if (hasRole(MANAGER_ROLE, staff) || staff == wallet) continue; // already counted
            if (isStaff(staff) && !_hasNoKey(staff)) readers[count++] = staff;
        }
        // Shrink to the readers found, then sort ascending so the hash is canonical.
        // slither-disable-next-line assembly
        assembly ("memory-safe") {
            mstore(readers, count)
        }
        _sort(readers);
    }

    /// @inheritdoc ICustomerRegistry
    function readersHashOf(uint256 customerId) public view override returns (bytes32) {
        return keccak256(abi.encodePacked(readersOf(customerId)));
    }

    /// @inheritdoc ICustomerRegistry
    function lawfulBasisOf(uint8 purpose) public pure override returns (LawfulBasis) {
        if (purpose == 0 || purpose > MAX_PURPOSE) return LawfulBasis.None;
        uint256 flag = 1 << purpose;
        if (CONSENT_PURPOSES_MASK & flag != 0) return LawfulBasis.Consent;
        if (LEGAL_PURPOSES_MASK & flag != 0) return LawfulBasis.LegalObligation;
        return LawfulBasis.Contract;
    }

    /// @inheritdoc ICustomerRegistry
    function nonces(uint256 customerId) external view override returns (uint256) {
        return _customers[customerId].nonce;
    }

    /// @notice The EIP-712 domain separator (chain id and this contract).
    // slither-disable-next-line naming-convention
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- interaction log

    /// @inheritdoc IInteractionLog
    function logInteraction(uint256 customerId, uint8 kind, uint8 outcome, bytes32 contentHash)
        external
        override
        onlyRole(AGENT_ROLE)
    {
        if (kind == 0 || kind > MAX_INTERACTION_KIND) revert InteractionKindInvalid(kind);
        if (outcome > MAX_OUTCOME) revert InteractionOutcomeInvalid(outcome);
        if (contentHash == bytes32(0)) revert ContentHashMissing();
        if (!hasActiveGrant(customerId, msg.sender)) _revertWithoutAccess(customerId);

        emit InteractionLogged(customerId, msg.sender, contentHash, kind, outcome, uint64(block.timestamp));
    }

    /// @inheritdoc IInteractionLog
    function logInteractions(bytes calldata records) external override onlyRole(AGENT_ROLE) {
        uint256 length = records.length;
        if (length == 0 || length % RECORD_BYTES != 0) revert InteractionBatchMalformed(length);
        uint256 count = length / RECORD_BYTES;
        if (count > MAX_BATCH_RECORDS) revert InteractionBatchTooLarge(count, MAX_BATCH_RECORDS);

        mapping(uint256 word => uint256 bits) storage grantWords = _grantWords[msg.sender];
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
                contentHash := calldataload(add(records.offset, add(offset, RECORD_HASH_OFFSET_BYTES)))
            }
            // The first 10 bytes of the record: customerId (8 bytes), kind, outcome.
            uint256 customerId = head >> RECORD_ID_SHIFT_BITS;
            uint8 kind = uint8(head >> RECORD_KIND_SHIFT_BITS);
            uint8 outcome = uint8(head >> RECORD_OUTCOME_SHIFT_BITS);
            if (kind == 0 || kind > MAX_INTERACTION_KIND) revert InteractionKindInvalid(kind);
            if (outcome > MAX_OUTCOME) revert InteractionOutcomeInvalid(outcome);
            if (contentHash == bytes32(0)) revert ContentHashMissing();

            uint256 wordIndex = customerId >> CUSTOMERS_PER_WORD_LOG2;
            if (wordIndex != cachedWordIndex) {
                cachedWordIndex = wordIndex;
                cachedWord = grantWords[wordIndex];
            }
            if ((cachedWord >> (customerId & CUSTOMERS_PER_WORD_MASK)) & 1 == 0) _revertWithoutAccess(customerId);
        }

        emit InteractionsLogged(msg.sender, uint64(block.timestamp), records);
    }

    /// @inheritdoc IInteractionLog
    function anchorInteractions(bytes32 root, bytes32 cidDigest, uint32 count) external override onlyRole(AGENT_ROLE) {
        if (root == bytes32(0)) revert BatchRootMissing();
        if (cidDigest == bytes32(0)) revert BatchDocumentMissing();
        if (count == 0) revert InteractionBatchEmpty();
        emit InteractionBatchAnchored(msg.sender, root, cidDigest, count, uint64(block.timestamp));
    }

    /// @inheritdoc IInteractionLog
    function verifyInteraction(bytes32 root, bytes32[] calldata proof, bytes32 leaf)
        external
        pure
        override
        returns (bool)
    {
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IInteractionLog
    function interactionLeaf(bytes32 recordId, uint256 customerId, uint8 kind, uint8 outcome, bytes32 contentHash)
        external
        pure
        override
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(recordId, customerId, kind, outcome, contentHash))));
    }

    // ---------------------------------------------------------------- roles

    /// @dev Keeps the bounded set of managers, the standing readers, in step with the role.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == MANAGER_ROLE) {
            // Always true: `granted` means the account did not hold the role, and the set mirrors it.
            // slither-disable-next-line unused-return
            _managers.add(account);
            if (_managers.length() > MAX_MANAGERS) revert ManagerLimitReached(MAX_MANAGERS);
        }
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        // Always true: `revoked` means the account held the role, and the set mirrors it.
        // slither-disable-next-line unused-return
        if (revoked && role == MANAGER_ROLE) _managers.remove(account);
    }

    // ---------------------------------------------------------------- internals

    function _boundToThis(address directory) private view returns (bool) {
        try IBranchDirectory(directory).registry() returns (address bound) {
            return bound == address(this);
        } catch {
            return false;
        }
    }

    function _recordVersion(uint256 customerId, bytes32 contentHash, bytes32 cidDigest, bytes32 readersHash)
        private
        returns (uint32 version)
    {
        if (contentHash == bytes32(0) || cidDigest == bytes32(0)) revert ProfileHashMissing();
        bytes32 expected = readersHashOf(customerId);
        if (readersHash != expected) revert ProfileReadersMismatch(customerId, expected, readersHash);

        CustomerRecord storage customer = _customers[customerId];
        version = customer.profileVersion + 1;
        customer.profileVersion = version;
        _profiles[customerId][version] = ProfileVersion(contentHash, cidDigest, readersHash);
        emit ProfileUpdated(customerId, version, msg.sender, contentHash, cidDigest, readersHash);
    }

    function _acceptWallet(uint256 customerId, address wallet, bytes calldata publicKey) private {
        _requireActive(customerId);
        WalletProposal memory proposal = _pendingWallets[customerId];
        if (wallet == address(0) || proposal.wallet != wallet) revert WalletNotProposed(customerId, wallet);
        if (!proposal.approved) revert WalletNotApproved(customerId, wallet);
        // Recovery delays are days long: a few seconds of timestamp drift do not matter.
        // slither-disable-next-line timestamp
        if (block.timestamp < proposal.acceptableAt) revert WalletNotYetAcceptable(customerId, proposal.acceptableAt);
        // The account may have been given a staff role since it was proposed.
        if (isStaff(wallet)) revert WalletInvalid(customerId, wallet);
        if (publicKey.length == 0) {
            if (_hasNoKey(wallet)) revert WalletWithoutEncryptionKey(wallet);
        } else {
            if (publicKey.length != PUBLIC_KEY_BYTES) revert EncryptionKeyLengthInvalid(publicKey.length);
            if (address(uint160(uint256(keccak256(publicKey)))) != wallet) revert WalletKeyMismatch(wallet);
        }

        CustomerRecord storage customer = _customers[customerId];
        address previous = customer.wallet;
        customer.wallet = wallet;
        delete _pendingWallets[customerId];
        emit WalletAccepted(customerId, previous, wallet, publicKey, msg.sender);
    }

    function _propose(uint256 customerId, address wallet, bool approved, uint256 acceptableAt) private {
        if (wallet == address(0)) {
            delete _pendingWallets[customerId];
        } else {
            // Fits: block timestamps and a 7-day delay stay far below 2**40 seconds.
            _pendingWallets[customerId] = WalletProposal(wallet, approved, uint40(acceptableAt));
        }
        emit WalletProposed(customerId, wallet, msg.sender);
        if (wallet != address(0) && approved) emit WalletApproved(customerId, wallet, msg.sender);
    }

    function _setConsent(
        CustomerRecord storage customer,
        uint256 customerId,
        address wallet,
        uint8 purpose,
        bool granted
    ) private {
        if (lawfulBasisOf(purpose) != LawfulBasis.Consent) revert PurposeInvalid(purpose);
        uint8 bits = customer.consentBits;
        uint8 flag = uint8(1 << purpose);
        if (((bits & flag) != 0) == granted) revert ConsentUnchanged(customerId, purpose, granted);

        customer.consentBits = granted ? bits | flag : bits & ~flag;
        emit ConsentChanged(customerId, purpose, granted, msg.sender);
        if (granted) return;
        EnumerableSet.AddressSet storage grantees = _grantees[customerId];
        // Bounded by MAX_GRANTEES_PER_CUSTOMER; walking backwards keeps indices valid on removal.
        for (uint256 i = grantees.length(); i > 0; --i) {
            address staff = grantees.at(i - 1);
            if (_grants[customerId][staff].purpose == purpose) {
                _clearGrant(customerId, staff);
                emit AccessRevoked(customerId, staff, purpose, wallet);
            }
        }
    }

    function _checkSignature(
        CustomerRecord storage customer,
        uint256 customerId,
        address signer,
        bytes32 structHash,
        uint256 deadline,
        bytes calldata signature
    ) private {
        // Signatures live for minutes to days: a few seconds of timestamp drift do not matter.
        // slither-disable-next-line timestamp
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (!SignatureChecker.isValidSignatureNow(signer, _hashTypedDataV4(structHash), signature)) {
            revert SignatureInvalid(signer);
        }
        if (customer.nonce == type(uint16).max) revert SignatureNoncesExhausted(customerId);
        // Cannot overflow: checked against type(uint16).max just above.
        unchecked {
            customer.nonce += 1;
        }
    }

    function _grant(uint256 customerId, address staff, uint8 purpose) private {
        EnumerableSet.AddressSet storage grantees = _grantees[customerId];
        if (grantees.length() >= MAX_GRANTEES_PER_CUSTOMER) {
            revert GranteeLimitReached(customerId, MAX_GRANTEES_PER_CUSTOMER);
        }
        // Always true: the set mirrors the active grants, and every caller grants only a staff
        // member without one (a new customer's registrar, or grantAccess after AccessAlreadyGranted).
        // slither-disable-next-line unused-return
        grantees.add(staff);
        _grants[customerId][staff] = AccessGrant({purpose: purpose, active: true, since: uint40(block.timestamp)});
        _grantWords[staff][customerId >> CUSTOMERS_PER_WORD_LOG2] |= 1 << (customerId & CUSTOMERS_PER_WORD_MASK);
        emit AccessGranted(customerId, staff, purpose, msg.sender);
    }

    function _revoke(uint256 customerId, address staff) private {
        uint8 purpose = _grants[customerId][staff].purpose;
        _clearGrant(customerId, staff);
        emit AccessRevoked(customerId, staff, purpose, msg.sender);
    }

    function _clearGrant(uint256 customerId, address staff) private {
        // Always true: every caller clears an active grant (revokeAccess checks it; erasure and a
        // consent withdrawal walk the set itself), and the set mirrors the active grants.
        // slither-disable-next-line unused-return
        _grantees[customerId].remove(staff);
        AccessGrant storage grant = _grants[customerId][staff];
        grant.active = false;
        grant.since = uint40(block.timestamp);
        _grantWords[staff][customerId >> CUSTOMERS_PER_WORD_LOG2] &= ~(1 << (customerId & CUSTOMERS_PER_WORD_MASK));
    }

    function _requirePurpose(uint8 purpose) private pure {
        if (purpose == 0 || purpose > MAX_PURPOSE) revert PurposeInvalid(purpose);
    }

    function _requireActive(uint256 customerId) private view {
        CustomerStatus status = statusOf(customerId);
        if (status == CustomerStatus.Erased) revert CustomerIsErased(customerId);
        if (status != CustomerStatus.Active) revert CustomerUnknown(customerId);
    }

    /// @dev The customer's bound wallet, whose presence alone proves the customer active (see
    /// CustomerRecord). Without one, the precise reason, computed only on this failure path:
    /// `CustomerUnknown`, `CustomerIsErased`, else `CallerNotCustomer(customerId, caller)`.
    function _boundWallet(CustomerRecord storage customer, uint256 customerId, address caller)
        private
        view
        returns (address wallet)
    {
        wallet = customer.wallet;
        if (wallet == address(0)) {
            _requireActive(customerId);
            revert CallerNotCustomer(customerId, caller);
        }
    }

    function _requireManagerOrCustomer(uint256 customerId) private view {
        _requireActive(customerId);
        address wallet = _customers[customerId].wallet;
        if ((wallet == address(0) || msg.sender != wallet) && !hasRole(MANAGER_ROLE, msg.sender)) {
            revert CallerNotManagerOrCustomer(customerId, msg.sender);
        }
    }

    /// @dev The customer's wallet, a manager, or an agent with an active grant: auditors, who are
    /// staff too, only read.
    function _writesProfile(uint256 customerId, address account) private view returns (bool) {
        address wallet = _customers[customerId].wallet;
        if (wallet != address(0) && account == wallet) return true;
        if (hasRole(MANAGER_ROLE, account)) return true;
        return hasRole(AGENT_ROLE, account) && hasActiveGrant(customerId, account);
    }

    /// @dev The precise reason a write was refused, computed only on the failure path.
    function _revertWithoutAccess(uint256 customerId) private view {
        _requireActive(customerId);
        revert CallerWithoutAccess(customerId, msg.sender);
    }

    function _hasNoKey(address account) private view returns (bool) {
        return _encryptionKeys[account].x == bytes32(0);
    }

    /// @dev Insertion sort: at most 1 + MAX_MANAGERS + MAX_GRANTEES_PER_CUSTOMER entries.
    function _sort(address[] memory list) private pure {
        for (uint256 i = 1; i < list.length; ++i) {
            address item = list[i];
            uint256 j = i;
            while (j > 0 && list[j - 1] > item) {
                list[j] = list[j - 1];
                --j;
            }
            list[j] = item;
        }
    }

    function _onCurve(uint256 x, uint256 y) private pure returns (bool) {
        if (x == 0 || x >= SECP256K1_P || y >= SECP256K1_P) return false;
        uint256 rhs = addmod(mulmod(mulmod(x, x, SECP256K1_P), x, SECP256K1_P), SECP256K1_B, SECP256K1_P);
        return mulmod(y, y, SECP256K1_P) == rhs;
    }
}
