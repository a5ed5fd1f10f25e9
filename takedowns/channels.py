"""Delivery channels: one small class each, one method, `DeliveryError(permanent=…)`.

Only email and API channels deliver by themselves. Most platforms take only web
forms or in-app reports: for those the "delivery" is the caseworker's, guided by
the web-form pack and in-app steps (takedowns.selectors) and recorded with
`services.record_submission`.

Every delivery carries the notice's delivery key — the email's Message-ID, the
API's Idempotency-Key — so a repeat after a crash is recognisable as the same notice.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
import smtplib
import urllib.error
import urllib.request
from email.utils import formatdate

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, sanitize_address

from .models import Channel, Notice


class DeliveryError(Exception):
    """A failed delivery. Permanent errors are not retried (a refused address);
    the others (a server down, a timeout) are, with the same delivery key."""

    def __init__(self, code: str, *, permanent: bool):
        super().__init__(code)
        self.code = code
        self.permanent = permanent


class Transport:
    """Deliver one notice; return the platform's reference if it gives one."""

    def deliver(self, notice: Notice) -> str:  # pragma: no cover - interface
        raise NotImplementedError


_LINES = re.compile(r"\r\n|\r|\n")
# Bytes of text per RFC 2047 encoded word: 52 base64 characters, a 64-character word.
_WORD_BYTES = 39


@functools.lru_cache(maxsize=1024)
def _address(address: str) -> str:
    # A notice batch goes to a few abuse addresses from one sender: parse each once.
    return sanitize_address(address, settings.DEFAULT_CHARSET)


def _encoded_words(text: str) -> str:
    """A header value as RFC 2047 base64 words, split between characters, folded.

    What Django's Header().encode() makes of a non-ASCII subject, without the
    email package's search for the shortest encoding, which costs more than the send.
    """
    words, chunk, size = [], [], 0
    for char in text:
        width = len(char.encode())
        if size + width > _WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(char)
        size += width
    words.append("".join(chunk))
    return "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(word.encode()).decode('ascii')}?=" for word in words
    )


def _header(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise DeliveryError("bad-header", permanent=True)  # never a header injection
    if value.isascii() and len(value) <= 76:
        return value
    return _encoded_words(value)


class EmailTransport(Transport):
    """Through Django's mail backend. Plain text, no attachment: never an image."""

    def reply_to(self, notice: Notice) -> list[str]:
        inbox = getattr(notice.organisation, "takedown_settings", None)
        return [inbox.inbox_email] if inbox and inbox.inbox_email else []

    def message(self, notice: Notice, connection) -> EmailMessage:
        reply_to = self.reply_to(notice)
        return EmailMessage(
            subject=notice.subject,
            body=notice.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notice.recipient],
            reply_to=reply_to,
            headers={"Message-ID": notice.message_id, "X-Amparo-Notice": notice.delivery_key},
            connection=connection,
        )

    def message_bytes(self, notice: Notice) -> bytes | None:
        """The message as it goes on the wire: what `message()` becomes in Django's SMTP
        backend (the same headers, the same 8bit UTF-8 text, CRLF line ends), built
        directly. Building it through the email package cost more than the SMTP
        exchange itself (its header encoder tries every split of the subject).
        None when the body has a line too long for 8bit: then Django's way (quoted-
        printable) is used. tests/takedowns/test_dispatch.py checks the two agree.
        """
        lines = _LINES.split(notice.body)
        try:
            encoded = [line.encode() for line in lines]
        except UnicodeEncodeError:
            return None
        if any(len(line) > RFC5322_EMAIL_LINE_LENGTH_LIMIT for line in encoded):
            return None
        head = [
            'Content-Type: text/plain; charset="utf-8"',
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: 8bit",
            f"Subject: {_header(notice.subject)}",
            f"From: {_address(settings.DEFAULT_FROM_EMAIL)}",
            f"To: {_address(notice.recipient)}",
        ]
        reply_to = self.reply_to(notice)
        if reply_to:
            head.append(f"Reply-To: {', '.join(_address(a) for a in reply_to)}")
        head += [
            f"Date: {formatdate(localtime=settings.EMAIL_USE_LOCALTIME)}",
            f"Message-ID: {notice.message_id}",
            f"X-Amparo-Notice: {_header(notice.delivery_key)}",
        ]
        return "\r\n".join(head).encode("ascii") + b"\r\n\r\n" + b"\r\n".join(encoded)

    def send_on(self, connection, notice: Notice) -> None:
        """Send one notice over an open connection (a batch shares one SMTP session)."""
        if not notice.recipient:
            raise DeliveryError("no-recipient", permanent=True)
        raw = None
        if isinstance(connection, SmtpBackend) and connection.connection is not None:
            raw = self.message_bytes(notice)
        try:
            if raw is None:  # another backend (tests, the development folder), long lines
                sent = connection.send_messages([self.message(notice, connection)])
            else:
                # What SmtpBackend.send_messages does with the message, minus building it.
                connection.connection.sendmail(
                    _address(settings.DEFAULT_FROM_EMAIL), [_address(notice.recipient)], raw
                )
                sent = 1
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError("recipient-refused", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(type(exc).__name__, permanent=False) from exc
        except ValueError as exc:  # an address Django's sanitize_address refuses
            raise DeliveryError("bad-address", permanent=True) from exc
        if not sent:
            raise DeliveryError("not-sent", permanent=False)

    def deliver(self, notice: Notice) -> str:
        if not notice.recipient:
            raise DeliveryError("no-recipient", permanent=True)
        connection = open_connection()
        try:
            self.send_on(connection, notice)
        finally:
            close_connection(connection)
        return ""


def open_connection():
    """An open SMTP connection. Opened here, so send_messages leaves closing to us: a
    failure on QUIT, after the server accepted the message, must not count as a
    failed send (it would be sent again)."""
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(type(exc).__name__, permanent=False) from exc
    return connection


def close_connection(connection) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        connection.close()


class ApiAdapter:
    """One platform's reporting API. Subclasses say how a notice becomes a request."""

    name = ""

    def payload(self, notice: Notice) -> dict:
        return {
            "subject": notice.subject,
            "body": notice.body,
            "urls": (notice.elements or {}).get("urls", "").splitlines(),
            "basis": notice.basis,
        }


class JsonReportAdapter(ApiAdapter):
    """A JSON POST with an Idempotency-Key header, answered by `{"ticket": …}`."""

    name = "json_report"


ADAPTERS: dict[str, type[ApiAdapter]] = {JsonReportAdapter.name: JsonReportAdapter}


class ApiTransport(Transport):
    """POST to the adapter's endpoint (settings.TAKEDOWN_API_ENDPOINTS[name])."""

    timeout = 10

    def deliver(self, notice: Notice) -> str:
        name = notice.route.api_adapter
        adapter_class = ADAPTERS.get(name)
        endpoint = getattr(settings, "TAKEDOWN_API_ENDPOINTS", {}).get(name)
        if adapter_class is None or not endpoint:
            raise DeliveryError("no-adapter", permanent=True)
        if not endpoint.startswith(("https://", "http://")):
            raise DeliveryError("bad-endpoint", permanent=True)
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            endpoint,
            data=json.dumps(adapter_class().payload(notice)).encode(),
            headers={"Content-Type": "application/json", "Idempotency-Key": notice.delivery_key},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = json.loads(response.read(64 * 1024) or b"{}")
        except urllib.error.HTTPError as exc:
            # 4xx: the platform refused this notice; 5xx and 429: try again later.
            permanent = 400 <= exc.code < 500 and exc.code != 429
            raise DeliveryError(f"http-{exc.code}", permanent=permanent) from exc
        except (TimeoutError, urllib.error.URLError, OSError, ValueError) as exc:
            raise DeliveryError(type(exc).__name__, permanent=False) from exc
        return str(answer.get("ticket", ""))[:200] if isinstance(answer, dict) else ""


TRANSPORTS: dict[str, type[Transport]] = {
    Channel.EMAIL: EmailTransport,
    Channel.API: ApiTransport,
}
# Channels the caseworker carries out by hand (web-form pack, in-app guidance).
MANUAL_CHANNELS = frozenset({Channel.WEB_FORM, Channel.IN_APP})


def transport_for(channel: str) -> Transport:
    try:
        return TRANSPORTS[channel]()
    except KeyError:
        raise DeliveryError("manual-channel", permanent=True) from None
