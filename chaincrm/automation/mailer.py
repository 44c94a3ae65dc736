"""Reminder e-mails over SMTP: STARTTLS, implicit TLS or plain, with bounded retries and backoff.

The password is read from the environment variable the schedule names (``password_env``), when a
session opens; it never appears in argv, the file, or a message. Each reminder's Message-ID is
derived from its content hash, so a receiving system can drop a copy it already has.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from types import TracebackType

from chaincrm.automation.schedule import Level, SmtpSettings
from chaincrm.errors import ChainCrmError

MAX_BACKOFF_SECONDS = 30.0


class SmtpUnavailable(ChainCrmError):
    """The SMTP server could not be reached or refused the session after every retry."""


@dataclass(frozen=True)
class Letter:
    """One reminder e-mail: what the template needs and where it goes."""

    content_hash: bytes
    to: str
    name: str
    invoice_id: int
    customer_id: int
    amount: int  # in the invoice's currency's base units (wei for ETH)
    amount_text: str  # the amount in the currency's own units, with its symbol: `1250 dUSD`, `0.51 ETH`
    due_at: int
    level: Level


def message_id(content_hash: bytes, sender: str) -> str:
    """The Message-ID of a reminder: the same for every attempt and every keeper."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "chaincrm.invalid"
    return f"<reminder.{content_hash.hex()}@{domain}>"


def compose(letter: Letter, settings: SmtpSettings) -> EmailMessage:
    fields = {
        "invoice_id": letter.invoice_id,
        "customer_id": letter.customer_id,
        "name": letter.name,
        "amount": letter.amount_text,
        "amount_base_units": letter.amount,
        "due_date": time.strftime("%Y-%m-%d", time.gmtime(letter.due_at)),
        "level": letter.level.name,
    }
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = letter.to
    message["Subject"] = letter.level.subject.format_map(fields)
    message["Message-ID"] = message_id(letter.content_hash, settings.sender)
    message["Date"] = formatdate(usegmt=True)
    message["X-Chaincrm-Reminder"] = "0x" + letter.content_hash.hex()
    message.set_content(letter.level.body.format_map(fields))
    return message


class Mailer:
    """One SMTP session at a time, opened on first use and reopened after a failure.

    :meth:`send` retries a message `settings.retries` times with exponential backoff (reconnecting
    each time); then it raises :class:`SmtpUnavailable`. A recipient the server refuses for good
    (5xx) is not retried.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.environ = environ if environ is not None else dict(os.environ)
        self._session: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._session is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._session.quit()
            self._session = None

    def send(self, message: EmailMessage) -> None:
        last: Exception | None = None
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.sleep(min(MAX_BACKOFF_SECONDS, self.settings.retry_seconds * 2 ** (attempt - 1)))
            try:
                self._open().send_message(message)
                return
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                if codes and all(500 <= code < 600 for code in codes):
                    raise SmtpUnavailable(f"the SMTP server refused the recipient ({codes[0]})") from None
                last = exc
            except (smtplib.SMTPException, OSError) as exc:
                last = exc
            self._drop()
        raise SmtpUnavailable(
            f"SMTP {self.settings.host}:{self.settings.port} failed after {self.settings.retries + 1} attempt(s): "
            f"{_reason(last)}"
        )

    def _open(self) -> smtplib.SMTP:
        if self._session is not None:
            return self._session
        s = self.settings
        session: smtplib.SMTP
        if s.security == "tls":
            session = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=ssl.create_default_context())
        else:
            session = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            if s.security == "starttls":
                session.starttls(context=ssl.create_default_context())
        if s.user:
            password = self.environ.get(s.password_env)
            if password is None:
                session.close()
                raise SmtpUnavailable(f"no SMTP password: set the environment variable {s.password_env}")
            session.login(s.user, password)
        self._session = session
        return session

    def _drop(self) -> None:
        if self._session is not None:
            with contextlib.suppress(OSError):
                self._session.close()
            self._session = None


def _reason(exc: Exception | None) -> str:
    if exc is None:
        return "unknown"
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {text[:120]}"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


__all__ = ["Letter", "Mailer", "SmtpUnavailable", "compose", "message_id"]
