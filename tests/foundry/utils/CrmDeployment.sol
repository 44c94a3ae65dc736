// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {CrmRegistry} from "../../../contracts/CrmRegistry.sol";
import {DealPipeline} from "../../../contracts/DealPipeline.sol";
import {InvoiceEscrow} from "../../../contracts/InvoiceEscrow.sol";
import {ICrmRegistry} from "../../../interfaces/ICrmRegistry.sol";
import {IDealPipeline} from "../../../interfaces/IDealPipeline.sol";
import {IInvoiceEscrow} from "../../../interfaces/IInvoiceEscrow.sol";
import {VM} from "./Vm.sol";

/// @notice The deployed CRM and the people who use it, as the handlers receive them.
struct Crm {
    ICrmRegistry registry;
    IInvoiceEscrow escrow;
    IDealPipeline pipeline;
    address admin;
    address manager;
    /// @dev Agents: [0] holds a grant on every customer, [1] on customers 2 and 4 only.
    address[] agents;
    address stranger;
    /// @dev Customers 1-3 have accepted wallets (`payers`, same order); customer 4 has none.
    uint256[] customerIds;
    address[] payers;
    /// @dev [0] is the escrow's first treasury; the others can be proposed later.
    address[] treasuries;
}

/// @title CrmDeployment
/// @notice Deploys the registry, the escrow and the pipeline as production does (the escrow names
/// the pipeline's future address as its issuer), with staff, keys, customers and accepted wallets.
abstract contract CrmDeployment {
    uint48 internal constant ADMIN_TRANSFER_DELAY_SECONDS = 3 days;
    uint256 internal constant DISPUTE_WINDOW_SECONDS = 7 days;
    uint256 internal constant PAYMENT_TERM_SECONDS = 30 days;
    uint256 internal constant DISPUTE_RESOLUTION_SECONDS = 14 days;
    uint256 internal constant TREASURY_DELAY_SECONDS = 8 days; // longer than the dispute window
    uint256 internal constant APPROVAL_THRESHOLD_WEI = 10 ether;
    uint256 internal constant START_TIMESTAMP = 1_750_000_000;
    uint8 internal constant PURPOSE_SALES = 1;
    uint8 internal constant PURPOSE_SUPPORT = 2;
    uint256 internal constant PAYER_COUNT = 3;
    uint256 internal constant TREASURY_COUNT = 3;
    /// @dev The secp256k1 generator point: on the curve, so the directory accepts it as anyone's
    /// key. The tests wrap nothing to it; they only need staff and wallets to have published one.
    bytes internal constant DIRECTORY_KEY =
        hex"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        hex"483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
    /// @dev RLP prefixes of [deployer (20 bytes), nonce (one byte)]: a list of 22 bytes, a string of 20.
    bytes1 private constant RLP_LIST_22_BYTES = 0xd6;
    bytes1 private constant RLP_STRING_20_BYTES = 0x94;
    uint256 private constant RLP_SINGLE_BYTE_LIMIT = 0x80;
    uint8 private constant ASCII_ZERO = 0x30;

    error CreateAddressNonceUnsupported(uint256 nonce);
    error IssuerPredictionWrong(address predicted, address deployed);

    function _deployCrm() internal returns (Crm memory crm) {
        VM.warp(START_TIMESTAMP);
        crm.admin = _person(1, "admin");
        crm.manager = _person(2, "manager");
        crm.agents = new address[](2);
        crm.agents[0] = _person(3, "agent1");
        crm.agents[1] = _person(4, "agent2");
        crm.stranger = _person(5, "stranger");
        crm.payers = new address[](PAYER_COUNT);
        for (uint256 i; i < PAYER_COUNT; ++i) {
            crm.payers[i] = _person(10 + i, string.concat("payer", _digit(i + 1)));
        }
        crm.treasuries = new address[](TREASURY_COUNT);
        for (uint256 i; i < TREASURY_COUNT; ++i) {
            crm.treasuries[i] = _person(20 + i, string.concat("treasury", _digit(i + 1)));
        }

        CrmRegistry registry = new CrmRegistry(crm.admin, ADMIN_TRANSFER_DELAY_SECONDS);
        crm.registry = registry;
        // The escrow is created at this contract's next nonce, the pipeline at the one after.
        address predictedPipeline = _createAddress(address(this), VM.getNonce(address(this)) + 1);
        crm.escrow = new InvoiceEscrow(
            registry,
            predictedPipeline,
            crm.treasuries[0],
            DISPUTE_WINDOW_SECONDS,
            PAYMENT_TERM_SECONDS,
            DISPUTE_RESOLUTION_SECONDS,
            TREASURY_DELAY_SECONDS
        );
        crm.pipeline = new DealPipeline(registry, crm.escrow, APPROVAL_THRESHOLD_WEI);
        if (address(crm.pipeline) != predictedPipeline) {
            revert IssuerPredictionWrong(predictedPipeline, address(crm.pipeline));
        }
        VM.label(address(registry), "CrmRegistry");
        VM.label(address(crm.escrow), "InvoiceEscrow");
        VM.label(address(crm.pipeline), "DealPipeline");

        VM.startPrank(crm.admin);
        registry.grantRole(registry.MANAGER_ROLE(), crm.manager);
        registry.grantRole(registry.AGENT_ROLE(), crm.agents[0]);
        registry.grantRole(registry.AGENT_ROLE(), crm.agents[1]);
        VM.stopPrank();
        _publishKey(registry, crm.manager);
        _publishKey(registry, crm.agents[0]);
        _publishKey(registry, crm.agents[1]);

        crm.customerIds = new uint256[](PAYER_COUNT + 1);
        for (uint256 i; i < PAYER_COUNT; ++i) {
            // Readers at registration: the registrar (granted in the same call) and the manager.
            crm.customerIds[i] = _register(registry, crm.agents[0], _pair(crm.agents[0], crm.manager), crm.payers[i]);
            _publishKey(registry, crm.payers[i]);
            // One agent alone cannot bind a wallet: the manager approves the agent's proposal.
            VM.prank(crm.manager);
            registry.approveWallet(crm.customerIds[i], crm.payers[i]);
            VM.prank(crm.payers[i]);
            registry.acceptWallet(crm.customerIds[i], "");
        }
        crm.customerIds[PAYER_COUNT] = _register(registry, crm.agents[1], _pair(crm.agents[1], crm.manager), address(0));

        // agent2 also serves customer 2: the grant re-seals for wallet, manager, agent1 and agent2.
        address[] memory readers = new address[](4);
        readers[0] = crm.payers[1];
        readers[1] = crm.manager;
        readers[2] = crm.agents[0];
        readers[3] = crm.agents[1];
        VM.prank(crm.manager);
        registry.grantAccess(
            crm.customerIds[1], crm.agents[1], PURPOSE_SUPPORT, keccak256("v2"), keccak256("cid v2"), _readersHash(readers)
        );
    }

    function _register(ICrmRegistry registry, address registrar, address[] memory readers, address wallet)
        private
        returns (uint256 customerId)
    {
        VM.prank(registrar);
        customerId = registry.registerCustomer(
            keccak256(abi.encode("profile", wallet)), keccak256(abi.encode("cid", wallet)), _readersHash(readers), wallet, PURPOSE_SALES
        );
    }

    function _publishKey(ICrmRegistry registry, address account) private {
        VM.prank(account);
        registry.registerEncryptionKey(DIRECTORY_KEY);
    }

    function _person(uint256 privateKey, string memory name) private returns (address account) {
        account = VM.addr(privateKey);
        VM.label(account, name);
    }

    /// @dev The registry's readers hash: keccak256 of the ascending addresses, each padded to 32 bytes.
    function _readersHash(address[] memory readers) internal pure returns (bytes32) {
        for (uint256 i = 1; i < readers.length; ++i) {
            address item = readers[i];
            uint256 j = i;
            while (j > 0 && readers[j - 1] > item) {
                readers[j] = readers[j - 1];
                --j;
            }
            readers[j] = item;
        }
        return keccak256(abi.encodePacked(readers));
    }

    function _pair(address a, address b) private pure returns (address[] memory pair) {
        pair = new address[](2);
        pair[0] = a;
        pair[1] = b;
    }

    /// @dev The address CREATE gives `deployer` at `nonce`: keccak256(rlp([deployer, nonce]))[12:].
    /// A nonce from 1 to 0x7f is RLP-encoded as its own single byte.
    function _createAddress(address deployer, uint256 nonce) internal pure returns (address) {
        if (nonce == 0 || nonce >= RLP_SINGLE_BYTE_LIMIT) revert CreateAddressNonceUnsupported(nonce);
        return address(
            uint160(uint256(keccak256(abi.encodePacked(RLP_LIST_22_BYTES, RLP_STRING_20_BYTES, deployer, uint8(nonce)))))
        );
    }

    function _digit(uint256 value) private pure returns (string memory) {
        return string(abi.encodePacked(bytes1(ASCII_ZERO + uint8(value))));
    }
}
