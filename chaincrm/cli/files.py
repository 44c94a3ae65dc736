"""Reading and writing the files users point commands at, with one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chaincrm.errors import ConfigError

MAX_JSON_BYTES = 1024 * 1024


def read_bytes(path: Path, what: str, limit: int | None = None) -> bytes:
    """The file's bytes; missing, unreadable, a folder, or larger than `limit` (default: the largest
    document the store takes) is a ConfigError.

    The size is checked before reading, so an oversized file is refused without loading it.
    """
    if limit is None:
        from chaincrm.storage import MAX_DOCUMENT_BYTES

        limit = MAX_DOCUMENT_BYTES
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ConfigError(f"{what} {path} is a folder, not a file")
        if size > limit:
            raise ConfigError(f"{what} {path} is {size:,} bytes; the limit is {limit:,}")
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"{what} {path} cannot be read (permission denied)") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror})") from None


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    raw = read_bytes(path, what, MAX_JSON_BYTES)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a JSON object")
    return data


def check_writable(path: Path, what: str, *, create_folder: bool = False) -> Path:
    """`path` if a file can be written there; a ConfigError naming it otherwise. Checked before the
    work that produces the file, so a report or a benchmark is not run for nothing.

    The folder is created when `create_folder` (an output folder such as bench-results/), and must
    exist otherwise."""
    folder = path.parent
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder, not a file")
    if not folder.exists():
        if not create_folder:
            raise ConfigError(f"{what} {path}: the folder {folder} does not exist")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the folder {folder} for {what} ({exc.strerror})") from None
    if not folder.is_dir():
        raise ConfigError(f"{what} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"cannot write {what} {path} (permission denied)")
    return path


def check_writable_folder(folder: Path, what: str) -> Path:
    """`folder` if files can be written into it (created when missing); a ConfigError naming it otherwise."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{what} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {what} {folder} ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into {what} {folder} (permission denied)")
    return folder
