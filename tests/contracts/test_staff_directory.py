"""CrmRegistry as a staff directory: roles, the two-step default admin, managers, encryption keys.

Refusals are checked by simulating the transaction (eth_call): the same code path without mining a
block, which keeps the suite fast and clear of Brownie's receipt polling.
"""

from __future__ import annotations

import os

import pytest
from brownie import web3
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from eth_utils.crypto import keccak

from tests.contracts.helpers import (
    ADMIN_TRANSFER_DELAY_SECONDS,
    PURPOSE_SALES,
    ZERO_ADDRESS,
    new_public_key,
    random_hash,
    readers_hash,
    reverts_with,
)

# secp256k1's field prime; a public key's coordinates must lie below it.
SECP256K1_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
DEFAULT_ADMIN_ROLE = b"\x00" * 32
ROLE_NAMES = ("AGENT_ROLE", "MANAGER_ROLE", "AUDITOR_ROLE")
MAX_MANAGERS = 8
# ERC-165 interface ids.
IACCESS_CONTROL_ID = "0x7965db0b"
IERC165_ID = "0x01ffc9a7"
INVALID_INTERFACE_ID = "0xffffffff"
# The functions IAccessControlDefaultAdminRules declares itself: its ERC-165 id is their XOR.
DEFAULT_ADMIN_RULES_FUNCTIONS = (
    "defaultAdmin()",
    "pendingDefaultAdmin()",
    "defaultAdminDelay()",
    "pendingDefaultAdminDelay()",
    "beginDefaultAdminTransfer(address)",
    "cancelDefaultAdminTransfer()",
    "acceptDefaultAdminTransfer()",
    "changeDefaultAdminDelay(uint48)",
    "rollbackDefaultAdminDelay()",
    "defaultAdminDelayIncreaseWait()",
)


def point(x: int, y: int) -> bytes:
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def coordinates(public_key: bytes) -> tuple[int, int]:
    return int.from_bytes(public_key[:32], "big"), int.from_bytes(public_key[32:], "big")


def role(registry, name: str) -> bytes:
    return bytes(getattr(registry, name)())


def interface_id(signatures) -> str:
    value = 0
    for signature in signatures:
        value ^= int.from_bytes(function_signature_to_4byte_selector(signature), "big")
    return "0x" + value.to_bytes(4, "big").hex()


def random_address() -> str:
    return to_checksum_address(os.urandom(20))


def set_next_block_timestamp(timestamp: int) -> None:
    web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


@pytest.fixture
def transfer_scheduled(registry, admin, stranger) -> int:
    """The admin has begun handing the default admin role to `stranger`; returns the accept schedule."""
    tx = registry.beginDefaultAdminTransfer(stranger, {"from": admin})
    return tx.events["DefaultAdminTransferScheduled"]["acceptSchedule"]


# ---------------------------------------------------------------- role constants


def test_each_role_constant_is_the_keccak_of_its_name(registry):
    values = {name: role(registry, name) for name in ROLE_NAMES}

    assert values == {name: keccak(text=name) for name in ROLE_NAMES}


def test_the_default_admin_role_is_zero(registry):
    value = bytes(registry.DEFAULT_ADMIN_ROLE())

    assert value == DEFAULT_ADMIN_ROLE


def test_each_role_is_administered_by_the_default_admin_role(registry):
    admin_roles = {name: bytes(registry.getRoleAdmin(role(registry, name))) for name in ROLE_NAMES}

    assert admin_roles == dict.fromkeys(ROLE_NAMES, DEFAULT_ADMIN_ROLE)


# ---------------------------------------------------------------- deployment and ERC-165


def test_the_constructor_makes_the_given_account_admin_and_not_the_deployer(CrmRegistry, admin, stranger):
    fresh = CrmRegistry.deploy(stranger, ADMIN_TRANSFER_DELAY_SECONDS, {"from": admin})

    assert fresh.hasRole(DEFAULT_ADMIN_ROLE, stranger)
    assert not fresh.hasRole(DEFAULT_ADMIN_ROLE, admin)
    assert fresh.defaultAdmin() == stranger


def test_the_constructor_sets_the_admin_transfer_delay(registry):
    delay = registry.defaultAdminDelay()

    assert delay == ADMIN_TRANSFER_DELAY_SECONDS


def test_the_registry_reports_support_for_its_access_control_interfaces(registry):
    interfaces = {
        "IAccessControl": IACCESS_CONTROL_ID,
        "IERC165": IERC165_ID,
        "IAccessControlDefaultAdminRules": interface_id(DEFAULT_ADMIN_RULES_FUNCTIONS),
    }

    supported = {name: registry.supportsInterface(interface) for name, interface in interfaces.items()}

    assert supported == dict.fromkeys(interfaces, True)


def test_the_registry_reports_no_support_for_the_invalid_interface_id(registry):
    supported = registry.supportsInterface(INVALID_INTERFACE_ID)

    assert supported is False


# ---------------------------------------------------------------- isStaff


def test_an_agent_manager_or_auditor_is_staff(registry, agent, agent2, manager, auditor):
    staff = [registry.isStaff(account) for account in (agent, agent2, manager, auditor)]

    assert staff == [True, True, True, True]


def test_an_account_without_a_staff_role_is_not_staff(registry, admin, customer, stranger):
    staff = [registry.isStaff(account) for account in (admin, customer, stranger)]

    assert staff == [False, False, False]


# ---------------------------------------------------------------- grantRole / revokeRole / renounceRole


def test_the_admin_grants_a_role_and_the_grantee_becomes_staff(registry, admin, stranger):
    agent_role = role(registry, "AGENT_ROLE")

    tx = registry.grantRole(agent_role, stranger, {"from": admin})

    assert registry.hasRole(agent_role, stranger)
    assert registry.isStaff(stranger)
    event = tx.events["RoleGranted"]
    assert bytes(event["role"]) == agent_role
    assert event["account"] == stranger
    assert event["sender"] == admin


def test_granting_a_role_already_held_emits_no_event(registry, admin, agent):
    tx = registry.grantRole(registry.AGENT_ROLE(), agent, {"from": admin})

    assert "RoleGranted" not in tx.events
    assert registry.hasRole(registry.AGENT_ROLE(), agent)


def test_granting_a_role_is_refused_for_anyone_but_the_admin(registry, agent, manager, auditor, customer, stranger):
    for account in (agent, manager, auditor, customer, stranger):
        with reverts_with("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
            registry.grantRole.call(registry.MANAGER_ROLE(), stranger, {"from": account})


def test_granting_the_default_admin_role_directly_is_refused_even_for_the_admin(registry, admin, stranger):
    with reverts_with("AccessControlEnforcedDefaultAdminRules"):
        registry.grantRole.call(DEFAULT_ADMIN_ROLE, stranger, {"from": admin})


def test_revoking_the_default_admin_role_directly_is_refused(registry, admin):
    with reverts_with("AccessControlEnforcedDefaultAdminRules"):
        registry.revokeRole.call(DEFAULT_ADMIN_ROLE, admin, {"from": admin})


def test_the_admin_revokes_a_role_and_the_account_is_no_longer_staff(registry, admin, auditor):
    auditor_role = role(registry, "AUDITOR_ROLE")

    tx = registry.revokeRole(auditor_role, auditor, {"from": admin})

    assert not registry.hasRole(auditor_role, auditor)
    assert registry.isStaff(auditor) is False
    event = tx.events["RoleRevoked"]
    assert bytes(event["role"]) == auditor_role
    assert event["account"] == auditor
    assert event["sender"] == admin


def test_an_agent_whose_role_was_revoked_can_no_longer_register_customers(registry, admin, agent, manager):
    agent_role = role(registry, "AGENT_ROLE")
    registry.revokeRole(agent_role, agent, {"from": admin})

    with reverts_with("AccessControlUnauthorizedAccount", agent, agent_role):
        registry.registerCustomer.call(
            random_hash(), random_hash(), readers_hash(agent, manager), ZERO_ADDRESS, PURPOSE_SALES, {"from": agent}
        )


def test_revoking_a_role_is_refused_for_anyone_but_the_admin(registry, agent, manager, auditor, stranger, agent2):
    for account in (agent, manager, auditor, stranger):
        with reverts_with("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
            registry.revokeRole.call(registry.AGENT_ROLE(), agent2, {"from": account})


def test_an_account_renounces_its_own_role(registry, manager):
    manager_role = role(registry, "MANAGER_ROLE")

    tx = registry.renounceRole(manager_role, manager, {"from": manager})

    assert not registry.hasRole(manager_role, manager)
    event = tx.events["RoleRevoked"]
    assert bytes(event["role"]) == manager_role
    assert event["account"] == manager
    assert event["sender"] == manager


def test_renouncing_a_role_for_another_account_reverts(registry, manager, stranger):
    with reverts_with("AccessControlBadConfirmation"):
        registry.renounceRole.call(registry.MANAGER_ROLE(), manager, {"from": stranger})


# ---------------------------------------------------------------- the two-step default admin


def test_the_admin_schedules_a_transfer_after_the_delay(registry, admin, stranger):
    tx = registry.beginDefaultAdminTransfer(stranger, {"from": admin})

    schedule = tx.timestamp + ADMIN_TRANSFER_DELAY_SECONDS
    assert tuple(registry.pendingDefaultAdmin()) == (stranger.address, schedule)
    event = tx.events["DefaultAdminTransferScheduled"]
    assert event["newAdmin"] == stranger
    assert event["acceptSchedule"] == schedule


def test_a_scheduled_transfer_changes_nothing_before_it_is_accepted(registry, admin, stranger, transfer_scheduled):
    admin_now = registry.defaultAdmin()

    assert admin_now == admin
    assert registry.hasRole(DEFAULT_ADMIN_ROLE, admin)
    assert not registry.hasRole(DEFAULT_ADMIN_ROLE, stranger)


def test_beginning_an_admin_transfer_is_refused_for_anyone_but_the_admin(registry, agent, manager, stranger):
    for account in (agent, manager, stranger):
        with reverts_with("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
            registry.beginDefaultAdminTransfer.call(stranger, {"from": account})


def test_accepting_the_admin_role_before_the_delay_reverts(registry, stranger, transfer_scheduled):
    with reverts_with("AccessControlEnforcedDefaultAdminDelay", transfer_scheduled):
        registry.acceptDefaultAdminTransfer({"from": stranger})


def test_accepting_the_admin_role_in_the_second_of_the_schedule_reverts(registry, stranger, transfer_scheduled):
    set_next_block_timestamp(transfer_scheduled)

    with reverts_with("AccessControlEnforcedDefaultAdminDelay", transfer_scheduled):
        registry.acceptDefaultAdminTransfer({"from": stranger})


def test_the_new_admin_accepts_once_the_delay_has_passed(registry, admin, stranger, transfer_scheduled):
    set_next_block_timestamp(transfer_scheduled + 1)

    tx = registry.acceptDefaultAdminTransfer({"from": stranger})

    assert registry.defaultAdmin() == stranger
    assert registry.hasRole(DEFAULT_ADMIN_ROLE, stranger)
    assert not registry.hasRole(DEFAULT_ADMIN_ROLE, admin)
    assert tuple(registry.pendingDefaultAdmin()) == (ZERO_ADDRESS, 0)
    revoked, granted = tx.events["RoleRevoked"], tx.events["RoleGranted"]
    assert (bytes(revoked["role"]), revoked["account"]) == (DEFAULT_ADMIN_ROLE, admin)
    assert (bytes(granted["role"]), granted["account"]) == (DEFAULT_ADMIN_ROLE, stranger)


def test_only_the_pending_admin_may_accept(registry, admin, manager, customer, transfer_scheduled):
    set_next_block_timestamp(transfer_scheduled + 1)

    for account in (admin, manager, customer):
        with reverts_with("AccessControlInvalidDefaultAdmin", account):
            registry.acceptDefaultAdminTransfer({"from": account})


def test_after_the_transfer_only_the_new_admin_grants_roles(registry, admin, stranger, customer, transfer_scheduled):
    set_next_block_timestamp(transfer_scheduled + 1)
    registry.acceptDefaultAdminTransfer({"from": stranger})

    registry.grantRole(registry.AUDITOR_ROLE(), customer, {"from": stranger})

    assert registry.hasRole(registry.AUDITOR_ROLE(), customer)
    with reverts_with("AccessControlUnauthorizedAccount", admin, DEFAULT_ADMIN_ROLE):
        registry.grantRole.call(registry.AUDITOR_ROLE(), customer, {"from": admin})


def test_the_admin_cancels_a_scheduled_transfer(registry, admin, stranger, transfer_scheduled):
    tx = registry.cancelDefaultAdminTransfer({"from": admin})

    assert "DefaultAdminTransferCanceled" in tx.events
    set_next_block_timestamp(transfer_scheduled + 1)
    with reverts_with("AccessControlInvalidDefaultAdmin", stranger):
        registry.acceptDefaultAdminTransfer({"from": stranger})


# ---------------------------------------------------------------- managers, bounded


def test_max_managers_is_eight(registry):
    bound = registry.maxManagers()

    assert bound == MAX_MANAGERS


def test_the_managers_view_follows_the_manager_role(registry, admin, manager, stranger):
    registry.grantRole(registry.MANAGER_ROLE(), stranger, {"from": admin})
    registry.revokeRole(registry.MANAGER_ROLE(), manager, {"from": admin})

    current = registry.managers()

    assert current == (stranger.address,)


def test_the_admin_appoints_managers_up_to_the_bound(registry, admin):
    appointed = [random_address() for _ in range(MAX_MANAGERS - len(registry.managers()))]

    for account in appointed:
        registry.grantRole(registry.MANAGER_ROLE(), account, {"from": admin})

    assert len(registry.managers()) == MAX_MANAGERS


def test_appointing_a_manager_beyond_the_bound_reverts(registry, admin):
    for _ in range(MAX_MANAGERS - len(registry.managers())):
        registry.grantRole(registry.MANAGER_ROLE(), random_address(), {"from": admin})

    with reverts_with("ManagerLimitReached", MAX_MANAGERS):
        registry.grantRole.call(registry.MANAGER_ROLE(), random_address(), {"from": admin})


def test_regranting_the_role_to_a_manager_at_the_bound_is_a_no_op(registry, admin, manager):
    for _ in range(MAX_MANAGERS - len(registry.managers())):
        registry.grantRole(registry.MANAGER_ROLE(), random_address(), {"from": admin})

    tx = registry.grantRole(registry.MANAGER_ROLE(), manager, {"from": admin})

    assert "RoleGranted" not in tx.events
    assert len(registry.managers()) == MAX_MANAGERS


def test_revoking_a_manager_frees_a_place_below_the_bound(registry, admin, manager, stranger):
    for _ in range(MAX_MANAGERS - len(registry.managers())):
        registry.grantRole(registry.MANAGER_ROLE(), random_address(), {"from": admin})
    registry.revokeRole(registry.MANAGER_ROLE(), manager, {"from": admin})

    registry.grantRole(registry.MANAGER_ROLE(), stranger, {"from": admin})

    assert stranger.address in registry.managers()
    assert manager.address not in registry.managers()


# ---------------------------------------------------------------- registerEncryptionKey


def test_a_staff_member_registers_a_valid_encryption_key(registry, agent):
    public_key = new_public_key()

    tx = registry.registerEncryptionKey(public_key, {"from": agent})

    event = tx.events["EncryptionKeyRegistered"]
    assert event["account"] == agent
    assert bytes(event["x"]) == public_key[:32]
    assert bytes(event["y"]) == public_key[32:]


def test_encryption_key_of_is_empty_before_any_registration(registry, stranger):
    public_key = registry.encryptionKeyOf(stranger)

    assert bytes(public_key) == b""


def test_encryption_key_of_returns_the_registered_key(registry, agent):
    public_key = new_public_key()
    registry.registerEncryptionKey(public_key, {"from": agent})

    stored = registry.encryptionKeyOf(agent)

    assert bytes(stored) == public_key


def test_a_customer_wallet_may_register_an_encryption_key(registry, customer):
    public_key = new_public_key()

    registry.registerEncryptionKey(public_key, {"from": customer})

    assert bytes(registry.encryptionKeyOf(customer)) == public_key


def test_registering_a_second_key_replaces_the_first(registry, agent):
    registry.registerEncryptionKey(new_public_key(), {"from": agent})
    replacement = new_public_key()

    registry.registerEncryptionKey(replacement, {"from": agent})

    assert bytes(registry.encryptionKeyOf(agent)) == replacement


def test_a_key_registered_by_one_account_is_not_visible_for_another(registry, customer, stranger):
    registry.registerEncryptionKey(new_public_key(), {"from": customer})

    other = registry.encryptionKeyOf(stranger)

    assert bytes(other) == b""


def test_registering_a_key_of_the_wrong_length_reverts(registry, agent):
    wrong_lengths = [
        b"",
        new_public_key()[:33],
        new_public_key()[:63],
        b"\x04" + new_public_key(),  # uncompressed with its SEC1 prefix
        new_public_key() + b"\x00",
    ]

    for public_key in wrong_lengths:
        with reverts_with("EncryptionKeyLengthInvalid", len(public_key)):
            registry.registerEncryptionKey.call(public_key, {"from": agent})


def test_registering_a_point_not_on_the_curve_reverts(registry, agent):
    x, y = coordinates(new_public_key())
    off_curve = point(x, (y + 1) % SECP256K1_P)

    with reverts_with("EncryptionKeyInvalid", off_curve[:32], off_curve[32:]):
        registry.registerEncryptionKey.call(off_curve, {"from": agent})


def test_registering_a_key_with_a_zero_x_coordinate_reverts(registry, agent):
    _, y = coordinates(new_public_key())
    zero_x = point(0, y)

    with reverts_with("EncryptionKeyInvalid", zero_x[:32], zero_x[32:]):
        registry.registerEncryptionKey.call(zero_x, {"from": agent})


def test_registering_a_key_whose_x_is_not_reduced_below_the_field_prime_reverts(registry, agent):
    # (1, y) is on the curve, so (1 + p, y) satisfies the curve equation modulo p; only the range
    # check refuses it. 1 + p still fits in 32 bytes because p < 2**256 - 2**32.
    y = pow(1 + 7, (SECP256K1_P + 1) // 4, SECP256K1_P)
    assert (y * y - 8) % SECP256K1_P == 0
    unreduced = point(1 + SECP256K1_P, y)

    with reverts_with("EncryptionKeyInvalid", unreduced[:32], unreduced[32:]):
        registry.registerEncryptionKey.call(unreduced, {"from": agent})


def test_the_reduced_form_of_that_point_is_accepted(registry, agent):
    y = pow(1 + 7, (SECP256K1_P + 1) // 4, SECP256K1_P)

    registry.registerEncryptionKey(point(1, y), {"from": agent})

    assert bytes(registry.encryptionKeyOf(agent)) == point(1, y)
