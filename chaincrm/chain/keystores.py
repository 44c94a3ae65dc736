"""Keys for staff and customers: encrypted keystores, passwords, and the signer built from them.

A key lives on disk only as an eth-account (Web3 Secret Storage v3) keystore encrypted with
scrypt, one file per address named ``<checksummed address>.json``, mode 0600, in a folder that
defaults to ``~/.chaincrm/keystores`` (created 0700). Passwords come from an argument, an
environment variable (``CHAINCRM_PASSWORD`` by default) or an interactive prompt, never from
argv or a plaintext file written by this module.

One key, two uses. A :class:`LocalSigner`'s account key signs transactions *and* is the ECIES
key that unwraps profile data keys (:mod:`chaincrm.privacy`); its 64-byte public key is what the
on-chain directory stores. Why:

* one secret to create, back up and protect per person, and no second keystore to lose;
* the directory can check on-chain that a registered public key hashes to ``msg.sender``, and
  :mod:`chaincrm.privacy` checks the same binding before wrapping a key, so a directory entry
  cannot silently point a customer's data at somebody else's key.

The costs, accepted for now:

* the same secp256k1 scalar serves ECDSA and ECDH. No practical cross-protocol attack on that
  pairing is known, but it is a reuse textbooks advise against;
* whoever steals the signing key can also read every document ever sealed to that address, and
  rotating the encryption key means moving to a new address;
* a hardware wallet, which never releases its key, cannot be a reader. A separate encryption key
  registered in the directory would lift that; privacy's address check is the part to change.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError as EthKeysValidationError

from chaincrm.chain.addresses import AddressProblem, parse_address
from chaincrm.errors import KeystoreError

DEFAULT_KEYSTORE_DIR = Path("~/.chaincrm/keystores")
DEFAULT_PASSWORD_ENV = "CHAINCRM_PASSWORD"
KEYSTORE_FILE_MODE = 0o600
KEYSTORE_DIR_MODE = 0o700
PRIVATE_KEY_BYTES = 32

_KDF: Final = "scrypt"
_ADDRESS = re.compile(r"(0x)?[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class LocalSigner:
    """An unlocked key: it signs with ``account`` and unwraps data keys with the same key."""

    address: str
    account: LocalAccount = field(repr=False, compare=False)
    public_key64: bytes = field(repr=False)

    @classmethod
    def from_account(cls, account: LocalAccount) -> LocalSigner:
        """A signer for ``account``, its address and public key derived rather than passed in."""
        public_key64 = PrivateKey(bytes(account.key)).public_key.to_bytes()
        return cls(
            address=to_checksum_address(account.address),
            account=account,
            public_key64=public_key64,
        )

    @property
    def encryption_private_key(self) -> bytes:
        """The 32-byte secp256k1 key for ECIES unwrapping: the account key itself."""
        return bytes(self.account.key)


def keystore_folder(folder: Path | str | None = None) -> Path:
    """``folder``, or the default ``~/.chaincrm/keystores``, with ``~`` expanded."""
    return Path(DEFAULT_KEYSTORE_DIR if folder is None else folder).expanduser()


def keystore_path(address: str, folder: Path | str | None = None) -> Path:
    """Where the keystore for ``address`` lives in ``folder``."""
    return keystore_folder(folder) / f"{_checksum(address)}.json"


def create_keystore(
    folder: Path | str | None,
    password: str,
    *,
    private_key: bytes | None = None,
    scrypt_n: int | None = None,
) -> Path:
    """Encrypt a new (or the given) private key into ``folder`` and return the file's path.

    ``scrypt_n`` lowers scrypt's cost parameter for tests only; None keeps eth-account's
    default (2**18). An existing keystore for the same address is never overwritten.
    """
    if not password:
        raise KeystoreError("keystore password must not be empty")
    if scrypt_n is not None and (scrypt_n < 2 or scrypt_n & (scrypt_n - 1)):
        raise KeystoreError("scrypt_n must be a power of two of at least 2")
    account = Account.create() if private_key is None else _account_from_key(private_key)
    directory = keystore_folder(folder)
    path = keystore_path(account.address, directory)
    if path.exists():
        raise KeystoreError(f"keystore {path} already exists")

    keystore = Account.encrypt(account.key, password, kdf=_KDF, iterations=scrypt_n)
    _ensure_private_directory(directory)
    _write_new_private_file(path, json.dumps(keystore).encode())
    return path


def load_signer(
    path_or_address: Path | str,
    *,
    password: str | None = None,
    password_env: str | None = DEFAULT_PASSWORD_ENV,
    prompt: bool = True,
    folder: Path | str | None = None,
) -> LocalSigner:
    """Unlock a keystore, given as a file path or as an address looked up in ``folder``.

    The password is ``password`` if given, else the ``password_env`` environment variable if set,
    else a ``getpass`` prompt when ``prompt`` is true and stdin is a terminal.
    """
    path = _resolve_keystore(path_or_address, folder)
    keystore = _read_keystore(path)
    recorded = _recorded_address(keystore)
    label = str(path) if recorded is None else recorded
    secret = _password_for(label, password, password_env, prompt)
    try:
        private_key = Account.decrypt(keystore, secret)
    except ValueError as error:
        if "MAC mismatch" in str(error):
            raise KeystoreError(f"wrong password for keystore {label}") from None
        raise KeystoreError(f"keystore {path} is malformed") from None
    except (KeyError, TypeError, NotImplementedError):
        raise KeystoreError(f"keystore {path} is malformed") from None
    signer = LocalSigner.from_account(Account.from_key(private_key))
    if recorded is not None and signer.address != recorded:
        raise KeystoreError(f"keystore {path} decrypts to {signer.address}, not {recorded}")
    return signer


def _account_from_key(private_key: bytes) -> LocalAccount:
    if not isinstance(private_key, bytes) or len(private_key) != PRIVATE_KEY_BYTES:
        raise KeystoreError("private key must be 32 bytes")
    try:
        account: LocalAccount = Account.from_key(private_key)
    except (EthKeysValidationError, ValueError):
        raise KeystoreError("private key is not a valid secp256k1 key") from None
    return account


def _ensure_private_directory(directory: Path) -> None:
    if directory.exists():
        if not directory.is_dir():
            raise KeystoreError(f"keystore folder {directory} is not a directory")
        return
    try:
        directory.mkdir(mode=KEYSTORE_DIR_MODE, parents=True)
        directory.chmod(KEYSTORE_DIR_MODE)
    except OSError as error:
        raise KeystoreError(f"cannot create keystore folder {directory}: {error.strerror}") from None


def _write_new_private_file(path: Path, content: bytes) -> None:
    """Create ``path`` 0600 from the first byte, refusing to replace an existing file."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEYSTORE_FILE_MODE)
    except FileExistsError:
        raise KeystoreError(f"keystore {path} already exists") from None
    except OSError as error:
        raise KeystoreError(f"cannot create keystore {path}: {error.strerror}") from None
    try:
        os.fchmod(descriptor, KEYSTORE_FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _resolve_keystore(path_or_address: Path | str, folder: Path | str | None) -> Path:
    if isinstance(path_or_address, str) and _ADDRESS.fullmatch(path_or_address):
        path = keystore_path(path_or_address, folder)
        if not path.is_file():
            raise KeystoreError(f"no keystore for {_checksum(path_or_address)} in {path.parent}")
        return path
    path = Path(path_or_address).expanduser()
    if not path.is_file():
        raise KeystoreError(f"keystore file {path} not found")
    return path


def _read_keystore(path: Path) -> dict[str, Any]:
    try:
        keystore = json.loads(path.read_bytes())
    except OSError as error:
        raise KeystoreError(f"cannot read keystore {path}: {error.strerror}") from None
    except ValueError:
        raise KeystoreError(f"keystore {path} is not JSON") from None
    if not isinstance(keystore, dict) or ("crypto" not in keystore and "Crypto" not in keystore):
        raise KeystoreError(f"keystore {path} is not an Ethereum keystore")
    return keystore


def _recorded_address(keystore: dict[str, Any]) -> str | None:
    """The address a keystore records about itself (optional in the format), checksummed."""
    recorded = keystore.get("address")
    if isinstance(recorded, str) and _ADDRESS.fullmatch(recorded):
        return _checksum(recorded)
    return None


def _password_for(label: str, password: str | None, password_env: str | None, prompt: bool) -> str:
    if password is not None:
        return password
    if password_env is not None:
        from_env = os.environ.get(password_env)
        if from_env is not None:
            return from_env
    if prompt and sys.stdin is not None and sys.stdin.isatty():
        try:
            return getpass.getpass(f"Password for keystore {label}: ")
        except EOFError:
            raise KeystoreError(f"no password entered for keystore {label}") from None
    how = f"set {password_env} or " if password_env else ""
    raise KeystoreError(f"no password for keystore {label}: {how}run in a terminal to be prompted")


def _checksum(address: str) -> str:
    """The checksummed form; a mixed-case address must already carry a valid checksum."""
    try:
        return parse_address(address, prefix_optional=True)
    except AddressProblem as problem:
        if problem.kind == "checksum":
            raise KeystoreError(f"address 0x{address[-40:]} has an invalid checksum") from None
        raise KeystoreError("address is not a 20-byte hex address") from None
