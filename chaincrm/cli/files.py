"""Reading the files users point commands at, with one-line errors instead of tracebacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaincrm.errors import ConfigError
from chaincrm.storage import MAX_DOCUMENT_BYTES

MAX_JSON_BYTES = 1024 * 1024


def read_bytes(path: Path, what: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The file's bytes; missing, unreadable, a folder, or larger than `limit` is a ConfigError.

    The size is checked before reading, so an oversized file is refused without loading it.
    """
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
