"""chaincrm.chain.keystores: keystores on disk, password sources, and the signer they unlock."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from chaincrm.chain.keystores import LocalSigner, create_keystore, keystore_folder, load_signer
from chaincrm.errors import KeystoreError
from chaincrm.privacy import CustomerProfile, KeyRing, ProfileContext, open_profile, seal_profile

# scrypt's cost parameter lowered so a test decrypts in milliseconds; production keeps 2**18.
SCRYPT_N_FOR_TESTS = 2**4
PASSWORD = "correct horse battery staple"
PRIVATE_KEY = keccak(text="chaincrm test keystore key")
ADDRESS = Account.from_key(PRIVATE_KEY).address


class _Terminal(io.StringIO):
    """A stdin that claims to be a terminal, so load_signer decides to prompt."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAINCRM_PASSWORD", raising=False)


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO())


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    return create_keystore(tmp_path / "keystores", PASSWORD, private_key=PRIVATE_KEY, scrypt_n=SCRYPT_N_FOR_TESTS)


def test_a_keystore_round_trips_its_private_key(keystore: Path) -> None:
    signer = load_signer(keystore, password=PASSWORD)

    assert signer.encryption_private_key == PRIVATE_KEY
    assert signer.address == ADDRESS


def test_a_keystore_created_without_a_key_holds_a_new_random_one(tmp_path: Path) -> None:
    first = create_keystore(tmp_path, PASSWORD, scrypt_n=SCRYPT_N_FOR_TESTS)
    second = create_keystore(tmp_path, PASSWORD, scrypt_n=SCRYPT_N_FOR_TESTS)

    assert load_signer(first, password=PASSWORD).address != (load_signer(second, password=PASSWORD).address)


def test_a_keystore_is_named_by_its_checksummed_address(keystore: Path) -> None:
    assert keystore.name == f"{ADDRESS}.json"


def test_a_signer_is_found_by_address_in_its_folder(keystore: Path) -> None:
    signer = load_signer(ADDRESS.lower(), password=PASSWORD, folder=keystore.parent)

    assert signer.address == ADDRESS


def test_a_keystore_file_is_readable_only_by_its_owner(keystore: Path) -> None:
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600


def test_a_new_keystore_folder_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "keystores"

    create_keystore(folder, PASSWORD, scrypt_n=SCRYPT_N_FOR_TESTS)

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_keystore_uses_scrypt_and_holds_no_plaintext_key(keystore: Path) -> None:
    content = keystore.read_text()

    assert json.loads(content)["crypto"]["kdf"] == "scrypt"
    assert PRIVATE_KEY.hex() not in content.lower()


def test_an_existing_keystore_is_never_overwritten(keystore: Path) -> None:
    with pytest.raises(KeystoreError) as raised:
        create_keystore(keystore.parent, "another password", private_key=PRIVATE_KEY)

    assert str(raised.value) == f"keystore {keystore} already exists"


def test_an_empty_password_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError) as raised:
        create_keystore(tmp_path, "", scrypt_n=SCRYPT_N_FOR_TESTS)

    assert str(raised.value) == "keystore password must not be empty"


def test_a_wrong_password_raises_a_one_line_keystore_error(keystore: Path) -> None:
    with pytest.raises(KeystoreError) as raised:
        load_signer(keystore, password="wrong horse")

    assert str(raised.value) == f"wrong password for keystore {ADDRESS}"


def test_the_password_is_read_from_the_environment(
    keystore: Path, monkeypatch: pytest.MonkeyPatch, no_terminal: None
) -> None:
    monkeypatch.setenv("CHAINCRM_PASSWORD", PASSWORD)

    signer = load_signer(keystore)

    assert signer.address == ADDRESS


def test_the_password_environment_variable_can_be_renamed(
    keystore: Path, monkeypatch: pytest.MonkeyPatch, no_password_env: None, no_terminal: None
) -> None:
    monkeypatch.setenv("AGENT_KEY_PASSWORD", PASSWORD)

    signer = load_signer(keystore, password_env="AGENT_KEY_PASSWORD")

    assert signer.address == ADDRESS


def test_without_a_terminal_or_password_loading_raises_keystore_error(
    keystore: Path, no_password_env: None, no_terminal: None
) -> None:
    with pytest.raises(KeystoreError) as raised:
        load_signer(keystore)

    assert str(raised.value) == (
        f"no password for keystore {ADDRESS}: set CHAINCRM_PASSWORD or run in a terminal to be prompted"
    )


def test_a_terminal_user_is_prompted_for_the_password(
    keystore: Path, monkeypatch: pytest.MonkeyPatch, no_password_env: None
) -> None:
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("getpass.getpass", answer)

    signer = load_signer(keystore)

    assert signer.address == ADDRESS
    assert prompts == [f"Password for keystore {ADDRESS}: "]


def test_prompting_can_be_turned_off_even_at_a_terminal(
    keystore: Path, monkeypatch: pytest.MonkeyPatch, no_password_env: None
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal())

    with pytest.raises(KeystoreError) as raised:
        load_signer(keystore, prompt=False)

    assert str(raised.value).startswith(f"no password for keystore {ADDRESS}:")


def test_a_missing_keystore_raises_keystore_error(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError) as raised:
        load_signer(ADDRESS, password=PASSWORD, folder=tmp_path)

    assert str(raised.value) == f"no keystore for {ADDRESS} in {tmp_path}"


def test_the_default_folder_is_under_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    assert keystore_folder() == tmp_path / ".chaincrm" / "keystores"


def test_a_signer_public_key_hashes_to_its_address(keystore: Path) -> None:
    signer = load_signer(keystore, password=PASSWORD)

    assert len(signer.public_key64) == 64
    assert Account.from_key(signer.encryption_private_key).address == signer.address
    assert keccak(signer.public_key64)[-20:] == bytes.fromhex(signer.address[2:])


def test_a_signer_from_a_keystore_opens_a_profile_sealed_to_its_public_key(
    keystore: Path,
) -> None:
    signer = load_signer(keystore, password=PASSWORD)
    context = ProfileContext(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3", 1, 1)
    profile = CustomerProfile(name="Ada Lovelace")
    document, _ = seal_profile(
        profile, readers={signer.address: signer.public_key64}, context=context, keyring=KeyRing.fresh()
    )

    opened = open_profile(
        document,
        reader_address=signer.address,
        reader_private_key=signer.encryption_private_key,
        context=context,
    )

    assert opened == profile


def test_a_signer_repr_shows_no_key_material() -> None:
    signer = LocalSigner.from_account(Account.from_key(PRIVATE_KEY))

    assert repr(signer) == f"LocalSigner(address='{ADDRESS}')"
