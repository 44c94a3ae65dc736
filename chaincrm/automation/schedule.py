"""The reminder schedule: follow-up levels and SMTP settings, read from a TOML file.

In the manner of Odoo's follow-up levels, each ``[[level]]`` fires a number of days before or after
an open invoice's due date (``days_before_due`` or ``days_after_due``, exactly one of them)::

    [smtp]
    host = "smtp.example.org"
    port = 587
    security = "starttls"          # starttls | tls | none
    user = "billing@example.org"   # optional; the password comes from the environment only
    password_env = "CHAINCRM_SMTP_PASSWORD"
    sender = "billing@example.org"

    [[level]]
    name = "due-soon"
    days_before_due = 3
    channels = ["email", "webhook"]
    subject = "Invoice {invoice_id} is due on {due_date}"

A file that cannot be used is refused with one line naming the file, the line and the key: a TOML
syntax error (the line from tomllib), an unknown key, a value of the wrong type or out of range.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaincrm.errors import ConfigError

SECONDS_PER_DAY = 86_400
MAX_DAYS = 3650
MAX_NAME_LENGTH = 64
MAX_RETRIES = 10
CHANNELS = ("email", "webhook")
SECURITY_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_PASSWORD_ENV = "CHAINCRM_SMTP_PASSWORD"
PLACEHOLDERS = ("invoice_id", "customer_id", "name", "amount", "amount_base_units", "due_date", "level")
DEFAULT_SUBJECT = "Payment reminder: invoice {invoice_id}"
DEFAULT_BODY = (
    "Dear {name},\n\nthis is a reminder that invoice {invoice_id} for {amount} is due on {due_date}.\n"
    "If you have already paid, please disregard this message.\n"
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_TOP_KEYS = ("smtp", "level")
_SMTP_KEYS = (
    "host",
    "port",
    "security",
    "user",
    "password_env",
    "sender",
    "timeout_seconds",
    "retries",
    "retry_seconds",
)
_LEVEL_KEYS = ("name", "days_before_due", "days_after_due", "channels", "subject", "body")


@dataclass(frozen=True)
class Level:
    """One follow-up level: when it fires relative to the due date, and how it reaches the customer."""

    name: str
    offset_seconds: int  # from the due date: negative before it, 0 on it, positive after it
    channels: tuple[str, ...]
    subject: str = DEFAULT_SUBJECT
    body: str = DEFAULT_BODY

    @property
    def emails(self) -> bool:
        return "email" in self.channels

    @property
    def webhooks(self) -> bool:
        return "webhook" in self.channels


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mails go. The password is never in the file: it is read from `password_env` when sending."""

    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password_env: str = DEFAULT_PASSWORD_ENV
    timeout_seconds: float = 10.0
    retries: int = 4
    retry_seconds: float = 1.0


@dataclass(frozen=True)
class Schedule:
    """The levels, in the order they fire, and the SMTP settings (None when no level sends e-mail)."""

    levels: tuple[Level, ...]
    smtp: SmtpSettings | None

    def level(self, name: str) -> Level:
        for level in self.levels:
            if level.name == name:
                return level
        raise ConfigError(f"the schedule has no level {name!r}")


def load_schedule(path: Path) -> Schedule:
    """The schedule in `path`; ConfigError, one line naming the line and key, if it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"the schedule file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the schedule file {path} cannot be read: {type(exc).__name__}") from None
    return parse_schedule(text, str(path))


def parse_schedule(text: str, where: str = "schedule") -> Schedule:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_error(text, where, exc)) from None
    return _Checker(text, where).schedule(raw)


# ---------------------------------------------------------------------- checking


class _Checker:
    def __init__(self, text: str, where: str) -> None:
        self.lines = text.splitlines()
        self.where = where

    def fail(self, message: str, table: str | None, index: int | None, key: str | None) -> ConfigError:
        line = _line_of(self.lines, table, index, key)
        shown = ".".join(part for part in (f"{table}[{index + 1}]" if index is not None else table, key) if part)
        at = f" line {line}" if line else ""
        return ConfigError(f"{self.where}{at}: {shown}: {message}")

    def schedule(self, raw: Mapping[str, Any]) -> Schedule:
        for key in raw:
            if key not in _TOP_KEYS:
                raise self.fail(f"unknown key (allowed: {', '.join(_TOP_KEYS)})", None, None, key)
        levels_raw = raw.get("level")
        if not isinstance(levels_raw, list) or not levels_raw:
            raise self.fail("at least one [[level]] is needed", None, None, "level")
        levels = [self.level(item, i) for i, item in enumerate(levels_raw)]
        names: set[str] = set()
        offsets: dict[int, str] = {}
        for i, level in enumerate(levels):
            if level.name in names:
                raise self.fail(f"the name {level.name!r} is used twice", "level", i, "name")
            if level.offset_seconds in offsets:
                raise self.fail(f"fires at the same time as level {offsets[level.offset_seconds]!r}", "level", i, None)
            names.add(level.name)
            offsets[level.offset_seconds] = level.name
        smtp = None
        if "smtp" in raw:
            smtp = self.smtp(raw["smtp"])
        elif any(level.emails for level in levels):
            first = next(i for i, level in enumerate(levels) if level.emails)
            raise self.fail("this level sends e-mail but the file has no [smtp] table", "level", first, "channels")
        return Schedule(tuple(sorted(levels, key=lambda level: level.offset_seconds)), smtp)

    def level(self, raw: Any, i: int) -> Level:
        if not isinstance(raw, dict):
            raise self.fail("must be a table", "level", i, None)
        for key in raw:
            if key not in _LEVEL_KEYS:
                raise self.fail(f"unknown key (allowed: {', '.join(_LEVEL_KEYS)})", "level", i, key)
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            problem = "is missing" if name is None else "must be letters, digits, spaces, '.', '_' or '-'"
            raise self.fail(f"{problem} (at most {MAX_NAME_LENGTH} characters)", "level", i, "name")
        given = [key for key in ("days_before_due", "days_after_due") if key in raw]
        if len(given) != 1:
            shown = given[-1] if given else None
            raise self.fail("give exactly one of days_before_due and days_after_due", "level", i, shown)
        days = raw[given[0]]
        if isinstance(days, bool) or not isinstance(days, int):
            raise self.fail("must be a whole number of days", "level", i, given[0])
        if not 0 <= days <= MAX_DAYS:
            raise self.fail(f"must be from 0 to {MAX_DAYS} days", "level", i, given[0])
        offset = days * SECONDS_PER_DAY * (-1 if given[0] == "days_before_due" else 1)
        channels = raw.get("channels", ["email"])
        if (
            not isinstance(channels, list)
            or not channels
            or any(channel not in CHANNELS for channel in channels)
            or len(set(channels)) != len(channels)
        ):
            raise self.fail(f"must be a list of one or both of {', '.join(CHANNELS)}", "level", i, "channels")
        subject = self.template(raw, "subject", DEFAULT_SUBJECT, i)
        if "\n" in subject or "\r" in subject:
            raise self.fail("must be one line", "level", i, "subject")
        body = self.template(raw, "body", DEFAULT_BODY, i)
        return Level(name, offset, tuple(channels), subject, body)

    def template(self, raw: Mapping[str, Any], key: str, default: str, i: int) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail("must be non-empty text", "level", i, key)
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
        except ValueError:
            raise self.fail("has an unbalanced { or } (write {{ and }} for braces)", "level", i, key) from None
        for field in fields:
            if field not in PLACEHOLDERS:
                raise self.fail(
                    f"unknown placeholder {{{field}}} (known: {', '.join(PLACEHOLDERS)})", "level", i, key
                ) from None
        return value

    def smtp(self, raw: Any) -> SmtpSettings:
        if not isinstance(raw, dict):
            raise self.fail("must be a table", None, None, "smtp")
        if "password" in raw:
            raise self.fail(
                "never in the file: set password_env, the variable it is read from", "smtp", None, key="password"
            )
        for key in raw:
            if key not in _SMTP_KEYS:
                raise self.fail(f"unknown key (allowed: {', '.join(_SMTP_KEYS)})", "smtp", None, key)
        host = raw.get("host")
        if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host):
            problem = "must be a host name or address" if host is not None else "is missing"
            raise self.fail(problem, "smtp", None, "host")
        security = raw.get("security", "starttls")
        if security not in SECURITY_MODES:
            raise self.fail(f"must be one of {', '.join(SECURITY_MODES)}", "smtp", None, "security")
        port = raw.get("port", DEFAULT_PORTS[security])
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise self.fail("must be a port from 1 to 65535", "smtp", None, "port")
        sender = raw.get("sender")
        if not isinstance(sender, str) or not _ADDRESS.search(sender) or "\n" in sender:
            raise self.fail("must be an e-mail address" if sender is not None else "is missing", "smtp", None, "sender")
        user = raw.get("user")
        if user is not None and (not isinstance(user, str) or not user):
            raise self.fail("must be non-empty text", "smtp", None, "user")
        password_env = raw.get("password_env", DEFAULT_PASSWORD_ENV)
        if not isinstance(password_env, str) or not _ENV_NAME.fullmatch(password_env):
            raise self.fail("must be the name of an environment variable", "smtp", None, "password_env")
        timeout = raw.get("timeout_seconds", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
            raise self.fail("must be a number of seconds from 0 to 600", "smtp", None, "timeout_seconds")
        retries = raw.get("retries", 4)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
            raise self.fail(f"must be a whole number from 0 to {MAX_RETRIES}", "smtp", None, "retries")
        retry_seconds = raw.get("retry_seconds", 1.0)
        if (
            isinstance(retry_seconds, bool)
            or not isinstance(retry_seconds, int | float)
            or not 0 <= retry_seconds <= 60
        ):  # noqa: E501
            raise self.fail("must be a number of seconds from 0 to 60", "smtp", None, "retry_seconds")
        return SmtpSettings(
            host=host,
            port=port,
            security=security,
            sender=sender,
            user=user,
            password_env=password_env,
            timeout_seconds=float(timeout),
            retries=retries,
            retry_seconds=float(retry_seconds),
        )


_HEADER = re.compile(r"^\s*\[(\[)?\s*([A-Za-z0-9_.\-\" ]+?)\s*\]")
_KEY = re.compile(r"^\s*\"?([A-Za-z0-9_\-]+)\"?\s*=")


def _line_of(lines: list[str], table: str | None, index: int | None, key: str | None) -> int | None:
    """The line (from 1) where `key` is set in `table` (its `index`-th instance for an array of
    tables), or the table's header when `key` is None or not found; None if neither is found."""
    current: str | None = None
    seen: dict[str, int] = {}
    header_line: int | None = None
    for number, line in enumerate(lines, start=1):
        header = _HEADER.match(line)
        if header is not None:
            name = header.group(2).strip().strip('"')
            seen[name] = seen.get(name, 0) + 1
            current = name if (index is None or seen[name] - 1 == index) else f"{name}#other"
            if current == table and header_line is None:
                header_line = number
                if key is None:
                    return number
            continue
        found = _KEY.match(line)
        if found is not None and current == table and found.group(1) == key:
            return number
    return header_line


def _syntax_error(text: str, where: str, exc: tomllib.TOMLDecodeError) -> str:
    """One line for a TOML syntax error: the line, the key set on it (if one can be seen), the reason."""
    message = str(exc)
    found = re.search(r"\(at line (\d+), column \d+\)", message)
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message).strip()
    if found is None:
        return f"{where}: not valid TOML: {reason}"
    line = int(found.group(1))
    lines = text.splitlines()
    key = _KEY.match(lines[line - 1]) if 0 < line <= len(lines) else None
    named = f"{key.group(1)}: " if key is not None else ""
    return f"{where} line {line}: {named}not valid TOML: {reason}"


__all__ = [
    "CHANNELS",
    "PLACEHOLDERS",
    "SECONDS_PER_DAY",
    "Level",
    "Schedule",
    "SmtpSettings",
    "load_schedule",
    "parse_schedule",
]
