"""CrmRegistry as a staff directory: roles, encryption keys, and the AccessControl surface."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from tests.contracts.helpers import PURPOSE_SALES, new_public_key, random_hash, reverts_with

# secp256k1's field prime; a public key's coordinates must lie below it.
SECP256K1_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
PUBLIC_KEY_BYTES = 64
DEFAULT_ADMIN_ROLE = b"\x00" * 32
ROLE_NAMES = ("AGENT_ROLE", "MANAGER_ROLE", "AUDITOR_ROLE", "INVOICE_ISSUER_ROLE")
# ERC-165 interface ids.
IACCESS_CONTROL_ID = "0x7965db0b"
IERC165_ID = "0x01ffc9a7"
INVALID_INTERFACE_ID = "0xffffffff"


def point(x: int, y: int) -> bytes:
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def coordinates(public_key: bytes) -> tuple[int, int]:
    return int.from_bytes(public_key[:32], "big"), int.from_bytes(public_key[32:], "big")


def role(registry, name: str) -> bytes:
    return bytes(getattr(registry, name)())


# ---------------------------------------------------------------- role constants


@pytest.mark.parametrize("name", ROLE_NAMES)
def test_each_role_constant_is_the_keccak_of_its_name(registry, name):
    expected = keccak(text=name)

    value = role(registry, name)

    assert value == expected


def test_the_default_admin_role_is_zero(registry):
    value = bytes(registry.DEFAULT_ADMIN_ROLE())

    assert value == DEFAULT_ADMIN_ROLE


@pytest.mark.parametrize("name", ROLE_NAMES)
def test_each_role_is_administered_by_the_default_admin_role(registry, name):
    admin_role = bytes(registry.getRoleAdmin(role(registry, name)))

    assert admin_role == DEFAULT_ADMIN_ROLE


# ---------------------------------------------------------------- deployment and ERC-165


def test_the_constructor_makes_the_given_account_admin_and_not_the_deployer(CrmRegistry, admin, stranger):
    fresh = CrmRegistry.deploy(stranger, {"from": admin})

    assert fresh.hasRole(DEFAULT_ADMIN_ROLE, stranger)
    assert not fresh.hasRole(DEFAULT_ADMIN_ROLE, admin)


@pytest.mark.parametrize("interface_id", [IACCESS_CONTROL_ID, IERC165_ID])
def test_the_registry_reports_support_for_access_control_and_erc165(registry, interface_id):
    supported = registry.supportsInterface(interface_id)

    assert supported is True


def test_the_registry_reports_no_support_for_the_invalid_interface_id(registry):
    supported = registry.supportsInterface(INVALID_INTERFACE_ID)

    assert supported is False


# ---------------------------------------------------------------- isStaff


@pytest.mark.parametrize("holder", ["agent", "agent2", "manager", "auditor"])
def test_an_agent_manager_or_auditor_is_staff(registry, request, holder):
    account = request.getfixturevalue(holder)

    staff = registry.isStaff(account)

    assert staff is True


@pytest.mark.parametrize("outsider", ["admin", "customer", "stranger"])
def test_an_account_without_a_staff_role_is_not_staff(registry, request, outsider):
    account = request.getfixturevalue(outsider)

    staff = registry.isStaff(account)

    assert staff is False


def test_holding_only_the_invoice_issuer_role_does_not_make_an_account_staff(registry, admin, stranger):
    registry.grantRole(registry.INVOICE_ISSUER_ROLE(), stranger, {"from": admin})

    staff = registry.isStaff(stranger)

    assert staff is False


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


@pytest.mark.parametrize("caller", ["agent", "manager", "auditor", "stranger"])
def test_granting_a_role_is_refused_for_anyone_but_the_admin(registry, request, caller, stranger):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
        registry.grantRole(registry.MANAGER_ROLE(), stranger, {"from": account})


def test_the_admin_revokes_a_role_and_the_account_is_no_longer_staff(registry, admin, auditor):
    auditor_role = role(registry, "AUDITOR_ROLE")

    tx = registry.revokeRole(auditor_role, auditor, {"from": admin})

    assert not registry.hasRole(auditor_role, auditor)
    assert registry.isStaff(auditor) is False
    event = tx.events["RoleRevoked"]
    assert bytes(event["role"]) == auditor_role
    assert event["account"] == auditor
    assert event["sender"] == admin


def test_an_agent_whose_role_was_revoked_can_no_longer_register_customers(registry, admin, agent):
    agent_role = role(registry, "AGENT_ROLE")
    registry.revokeRole(agent_role, agent, {"from": admin})

    with reverts_with("AccessControlUnauthorizedAccount", agent, agent_role):
        registry.registerCustomer(random_hash(), random_hash(), agent, PURPOSE_SALES, {"from": agent})


@pytest.mark.parametrize("caller", ["agent", "manager", "auditor", "stranger"])
def test_revoking_a_role_is_refused_for_anyone_but_the_admin(registry, request, caller, agent2):
    account = request.getfixturevalue(caller)

    with reverts_with("AccessControlUnauthorizedAccount", account, DEFAULT_ADMIN_ROLE):
        registry.revokeRole(registry.AGENT_ROLE(), agent2, {"from": account})


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
        registry.renounceRole(registry.MANAGER_ROLE(), manager, {"from": stranger})


# ---------------------------------------------------------------- registerEncryptionKey


def test_a_staff_member_registers_a_valid_encryption_key(registry, agent):
    public_key = new_public_key()

    tx = registry.registerEncryptionKey(public_key, {"from": agent})

    event = tx.events["EncryptionKeyRegistered"]
    assert event["account"] == agent
    assert bytes(event["x"]) == public_key[:32]
    assert bytes(event["y"]) == public_key[32:]


def test_encryption_key_of_is_empty_before_any_registration(registry, agent):
    public_key = registry.encryptionKeyOf(agent)

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


def test_a_key_registered_by_one_account_is_not_visible_for_another(registry, agent, agent2):
    registry.registerEncryptionKey(new_public_key(), {"from": agent})

    other = registry.encryptionKeyOf(agent2)

    assert bytes(other) == b""


@pytest.mark.parametrize(
    "public_key",
    [
        b"",
        new_public_key()[:33],
        new_public_key()[:63],
        b"\x04" + new_public_key(),  # uncompressed with its SEC1 prefix
        new_public_key() + b"\x00",
    ],
    ids=["empty", "33-bytes", "63-bytes", "65-bytes-with-0x04-prefix", "65-bytes-trailing-zero"],
)
def test_registering_a_key_of_the_wrong_length_reverts(registry, agent, public_key):
    with reverts_with("EncryptionKeyLengthInvalid", len(public_key)):
        registry.registerEncryptionKey(public_key, {"from": agent})


def test_registering_a_point_not_on_the_curve_reverts(registry, agent):
    x, y = coordinates(new_public_key())
    off_curve = point(x, (y + 1) % SECP256K1_P)

    with reverts_with("EncryptionKeyInvalid", off_curve[:32], off_curve[32:]):
        registry.registerEncryptionKey(off_curve, {"from": agent})


def test_registering_a_key_with_a_zero_x_coordinate_reverts(registry, agent):
    _, y = coordinates(new_public_key())
    zero_x = point(0, y)

    with reverts_with("EncryptionKeyInvalid", zero_x[:32], zero_x[32:]):
        registry.registerEncryptionKey(zero_x, {"from": agent})


def test_registering_a_key_whose_x_is_not_reduced_below_the_field_prime_reverts(registry, agent):
    # (1, y) is on the curve, so (1 + p, y) satisfies the curve equation modulo p; only the range
    # check refuses it. 1 + p still fits in 32 bytes because p < 2**256 - 2**32.
    y = pow(1 + 7, (SECP256K1_P + 1) // 4, SECP256K1_P)
    assert (y * y - 8) % SECP256K1_P == 0
    unreduced = point(1 + SECP256K1_P, y)

    with reverts_with("EncryptionKeyInvalid", unreduced[:32], unreduced[32:]):
        registry.registerEncryptionKey(unreduced, {"from": agent})


def test_the_reduced_form_of_that_point_is_accepted(registry, agent):
    y = pow(1 + 7, (SECP256K1_P + 1) // 4, SECP256K1_P)

    registry.registerEncryptionKey(point(1, y), {"from": agent})

    assert bytes(registry.encryptionKeyOf(agent)) == point(1, y)


def test_a_refused_key_leaves_the_earlier_key_in_place(registry, agent):
    earlier = new_public_key()
    registry.registerEncryptionKey(earlier, {"from": agent})
    x, y = coordinates(new_public_key())
    off_curve = point(x, (y + 1) % SECP256K1_P)

    with reverts_with("EncryptionKeyInvalid", off_curve[:32], off_curve[32:]):
        registry.registerEncryptionKey(off_curve, {"from": agent})

    assert bytes(registry.encryptionKeyOf(agent)) == earlier
